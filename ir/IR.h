#pragma once
// The graph IR: SSA values, ops with optional regions, functions and modules.
//
// Structure follows MLIR's generic form: an Op has operands, results, attributes and
// regions (each a Block with arguments). Region bodies may use values defined outside
// them (implicit capture). Every function and region body ends with a terminator
// (`return` or `yield`).
//
// `fused` (made by passes/Fuse): operands are the kernel's inputs, its body's arguments
// mirror them (same types), the body is elementwise ops whose results all have one shape
// (plus scalar fills), and it yields the kernel's outputs, which are its results.
//
// Loop semantics (`loop`, the only op that iterates):
//   operands: [carry inits (attr carries)..., sequences (attr slices)...]
//   attrs:    carries: i64, slices: i64, steps: Dim (trip count), reverse: bool; optional
//             unroll: i64 (partial unrolling: codegen emits the body that many times per
//             iteration)
//   body args: [carries..., slices...]; a slice is sequence[:, t] (axis 1 removed)
//   body terminator: yield [new carries..., per-step values to stack...]
//   results:  [final carries..., stacked values (steps inserted at axis 1)...]
//   t runs 0..steps-1, or steps-1..0 when reverse; slices are read and stacks
//   written at index t either way.
//   With the optional bool attr `until` (generation loops), the yield ends with one more
//   operand, a scalar stop flag (f32[], nonzero: stop after this step), and the results
//   with one more, i32[]: the number of steps run. `steps` is then the maximum; stack
//   entries at steps not run are zeros. Such a loop runs forwards and has no gradient.
// The layer-level `rnn` op (operands [x, initial states..., mask if attr masked], body args
// [x_t, states...], yield [new states...], attrs return_sequences / return_state /
// go_backwards / masked / zero_output_for_mask) is lowered to `loop` by passes/LowerRnn.
// The mask is f32[B, T, 1], 1 for a step that counts: at a masked step the states are
// carried unchanged and the output is the previous output (zeros before any), or zeros
// with zero_output_for_mask (Keras semantics).
#include "ir/Type.h"

#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <cassert>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

namespace loom::ir {

enum class OpKind {
#define OP(Enum, Mnemonic, NumOperands, NumResults, Kind) Enum,
#include "ir/Ops.def"
};
enum class FusionKind { Elementwise, Contraction, Source, Layout, Reduction, Control };

struct OpInfo {
  const char *mnemonic;
  int numOperands; // -1: variadic
  int numResults;  // -1: variadic
  FusionKind kind;
};
const OpInfo &opInfo(OpKind k);
const char *opName(OpKind k);
std::optional<OpKind> parseOpName(const std::string &s);

/// A source location in a .loom file (for diagnostics from passes). line 0: unknown.
struct Loc {
  std::string file;
  int line = 0, col = 0;
};

using Attr = std::variant<int64_t, double, bool, std::string, Dim>;

class Op;
class Block;

class Value {
public:
  Type type;
  std::string name;       // printing hint; may be empty
  Op *def = nullptr;      // defining op, or null for a block argument
  Block *owner = nullptr; // the block whose argument this is (if def is null)
  unsigned index = 0;     // result index in def, or argument index in owner
};

class Block {
public:
  std::vector<std::unique_ptr<Value>> args;
  std::vector<std::unique_ptr<Op>> ops;
  Op *parent = nullptr; // op owning this region; null for a function body

  Value *addArg(Type t, std::string name = "");
  Op *terminator() const { return ops.empty() ? nullptr : ops.back().get(); }
};

class Op {
public:
  OpKind kind;
  std::vector<Value *> operands;
  std::vector<std::unique_ptr<Value>> results;
  std::map<std::string, Attr> attrs;
  std::vector<std::unique_ptr<Block>> regions;
  Block *parent = nullptr;
  Loc loc;

  explicit Op(OpKind k) : kind(k) {}
  Value *result(unsigned i = 0) const { return results[i].get(); }
  Value *addResult(Type t, std::string name = "");
  Block *addRegion();

  bool hasAttr(const std::string &k) const { return attrs.count(k) != 0; }
  int64_t intAttr(const std::string &k) const { return std::get<int64_t>(attrs.at(k)); }
  double floatAttr(const std::string &k) const { return std::get<double>(attrs.at(k)); }
  bool boolAttr(const std::string &k, bool dflt = false) const {
    auto it = attrs.find(k);
    return it == attrs.end() ? dflt : std::get<bool>(it->second);
  }
  const std::string &strAttr(const std::string &k) const {
    return std::get<std::string>(attrs.at(k));
  }
  const Dim &dimAttr(const std::string &k) const { return std::get<Dim>(attrs.at(k)); }
};

/// Whether `op` is a `loop` that stops early (attr until).
inline bool loopUntil(const Op &op) { return op.kind == OpKind::Loop && op.boolAttr("until"); }
/// The number of values a `loop` stacks over its steps (its results minus the carries and
/// an until-loop's step count).
inline size_t loopStacks(const Op &op) {
  return op.results.size() - (size_t)std::get<int64_t>(op.attrs.at("carries")) -
         (loopUntil(op) ? 1 : 0);
}

/// Number of states of an `rnn` op (its operands minus the input and the optional mask).
inline size_t rnnNumStates(const Op &op) {
  return op.operands.size() - 1 - (op.boolAttr("masked") ? 1 : 0);
}

/// A trainable parameter: a function argument after the inputs.
struct ParamInfo {
  std::string key;       // npz key, "<binding>/<param>", e.g. "y/kernel"
  std::string init;      // "glorot_uniform" | "orthogonal" | "zeros" | "ones" | ...
  bool trainable = true; // false: the optimizer leaves it (batch_norm's moving statistics)
};

class Function {
public:
  std::string name;
  Block body; // args: inputs, then params
  unsigned numInputs = 0;
  std::vector<ParamInfo> params;        // one per body arg after the inputs
  std::vector<std::string> outputNames; // one per operand of the return terminator
  /// Compilation hints from the model file (`unroll(full)` gives {"unroll": "full"}); read by
  /// the driver before the passes run, not part of the IR's meaning or its text form.
  std::map<std::string, std::string> hints;

  Value *input(unsigned i) const { return body.args[i].get(); }
  /// Adds an input of type `t` at input position `at` (default: after the others), before
  /// the params; the arguments after it are renumbered.
  Value *insertInput(Type t, std::string name, unsigned at = ~0u);
  Value *param(unsigned i) const { return body.args[numInputs + i].get(); }
  /// Whether `v` is one of the function's parameters (weights), not an input or a result.
  bool isParam(const Value *v) const {
    return !v->def && v->owner == &body && v->index >= numInputs;
  }
  Op *returnOp() const { return body.terminator(); }
};

class Module {
public:
  std::vector<std::unique_ptr<Function>> functions;
  Function *lookup(const std::string &name) const;
  Function *main() const { return functions.empty() ? nullptr : functions.front().get(); }
};

/// An error about the user's model found after the front end (by a pass, or the training
/// driver), with where in the model file it is. A driver that holds the sources turns it
/// into a diagnostic with the source line and a caret (frontend::errorAt); printed without
/// them it reads "file:line:col: message".
class LocatedError : public llvm::ErrorInfo<LocatedError> {
public:
  static char ID;
  LocatedError(Loc loc, std::string msg) : loc(std::move(loc)), msg(std::move(msg)) {}
  void log(llvm::raw_ostream &os) const override;
  std::error_code convertToErrorCode() const override { return llvm::inconvertibleErrorCode(); }
  Loc loc;
  std::string msg;
};

/// Visits every op in `b` and nested regions, pre-order.
template <typename F> void walk(Block &b, F &&f) {
  for (auto &op : b.ops) {
    f(*op);
    for (auto &r : op->regions)
      walk(*r, f);
  }
}

/// The same over a block that is only read.
template <typename F> void walkConst(const Block &b, F &&f) {
  for (auto &op : b.ops) {
    f(static_cast<const Op &>(*op));
    for (auto &r : op->regions)
      walkConst(*r, f);
  }
}

/// Replaces every use of `from` by `to` in `b` (nested regions included).
void replaceAllUses(Block &b, Value *from, Value *to);
/// The same in b.ops[begin...] and their regions: a value defined in `b` is only used after
/// its definition.
void replaceUsesFrom(Block &b, size_t begin, Value *from, Value *to);
/// Replaces the op at b.ops[idx] by the ops of `with` (moved, in order); returns how many.
size_t replaceOpWith(Block &b, size_t idx, Block &with);
/// Deep copy of a module (values renumbered, names kept).
std::unique_ptr<Module> cloneModule(const Module &m);

/// Appends a deep copy of `op` (regions included) to `dst`, reading its operands through
/// `map` (values not in it are used as they are) and recording its results' copies there.
using ValueMap = std::unordered_map<const Value *, Value *>;
Op *cloneOpInto(const Op &op, Block &dst, ValueMap &map);

} // namespace loom::ir
