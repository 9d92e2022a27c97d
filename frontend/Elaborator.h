#pragma once
// The elaborator's internals, shared by Elaborate.cpp (statements, expressions, calls) and
// Builtins.cpp (the functions implemented in C++). Not part of the frontend's interface.
#include "frontend/Diagnostics.h"
#include "frontend/GenerateSettings.h"
#include "frontend/TrainSpec.h"
#include "frontend/Value.h"
#include "ir/Builder.h"

#include "llvm/Support/Error.h"

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace loom::frontend {

class Elaborator;

/// " (did you mean 'x'?)" for the candidate closest to `name` (edit distance under 3), or
/// "" when none is close.
std::string didYouMean(const std::string &name, const std::vector<std::string> &candidates);

/// The name the prelude's buffer is registered under.
inline const char *const kPreludeName = "<prelude>";

inline bool isTensorParam(const ast::Param &p) {
  return p.type && p.type->kind == ast::TypeExpr::Kind::Tensor;
}

/// Arguments of a call after binding to parameter names.
struct BoundArgs {
  std::map<std::string, Val> values;
  std::map<std::string, ir::Loc> locs; // where each argument was written (or the call)
  ir::Loc callLoc;
  const Val &operator[](const std::string &k) const { return values.at(k); }
};

/// One argument as written at a call: positional when keyword is empty.
struct CallArg {
  std::string keyword;
  Val value;
  ir::Loc loc;
};

struct BuiltinParam {
  std::string name;
  bool required = true;
  Val dflt;
};

struct Builtin {
  std::string name;
  std::vector<BuiltinParam> params;
  std::function<llvm::Expected<Val>(Elaborator &, const BoundArgs &)> fn;
  bool activation = false; // usable as activation=<name> or activation="<name>"
  bool layer = false;      // without its input `x`, a call gives a layer value
};

const std::map<std::string, Builtin> &builtins();
/// zeros, ones, glorot_uniform, orthogonal, ...: names usable as param(init=...).
bool isInitializerName(const std::string &name);
/// Keras's string options that may be written bare: padding=causal, merge_mode=sum.
bool isOptionName(const std::string &name);
/// Names accepted as activation="..." (builtins and prelude defs).
bool isActivationName(const std::string &name);

/// One activation of a model, def or cell body.
struct Frame {
  std::map<std::string, Val> vars;
  const ast::Decl *decl = nullptr;
  bool perExample = false;              // a cell body: declared tensor types omit the batch dim
  const ast::Expr *assignRhs = nullptr; // RHS of the assignment being evaluated
  std::string assignTarget;
};

class Elaborator {
public:
  Elaborator(const SourceManager &sm, const ast::File &user, const ast::File &prelude);

  /// With `train`, the model's train block is elaborated too: its targets become inputs
  /// after the model's, its loss and metrics the function's outputs, its settings `train`.
  llvm::Expected<std::unique_ptr<ir::Module>> run(const std::string &modelName,
                                                  TrainSpec *train = nullptr);

  // Used by builtins.
  llvm::Error fail(const ir::Loc &loc, const std::string &msg) const;
  ir::Builder &builder() { return *builder_; }
  Frame &frame() { return frames_.back(); }
  /// Applies a tensor op, reporting a type error at `loc` with `what` as context.
  llvm::Expected<Val> tensorOp(ir::OpKind k, std::vector<ir::Value *> operands, const ir::Loc &loc,
                               const std::string &what, std::map<std::string, ir::Attr> attrs = {});
  /// `x` reduced with `kind` (reduce_sum, reduce_mean, ...) over its leading axes until
  /// `keepRank` axes remain: 0 gives a scalar (losses, penalties), 1 a per-channel vector.
  llvm::Expected<Val> reduceLeading(ir::Value *x, ir::OpKind kind, const ir::Loc &loc,
                                    int64_t keepRank = 0);
  /// A scalar constant as a rank-0 tensor of `dtype`.
  ir::Value *scalar(double v, ir::DType dtype);
  /// Creates a weight named `<binding>/<name>`.
  llvm::Expected<ir::Value *> createParam(const std::string &name, ir::Type type,
                                          const std::string &init, const ir::Loc &loc);
  llvm::Expected<Val> callValue(const Val &callee, const std::vector<CallArg> &args,
                                const ir::Loc &loc);
  llvm::Expected<Val> driveCell(const Val &cell, const Val &x, bool returnSequences,
                                bool returnState, bool goBackwards, const Val &initialState,
                                ir::Value *mask, const ir::Loc &loc);
  const std::string &binding() const { return binding_; }
  /// Whether the statement being elaborated is directly in the model's body.
  bool atModelLevel() const { return callStack_.empty(); }
  ir::Function &function() { return *func_; }
  /// Records that `labels` are class ids in [0, classes) (for checking training data).
  void noteLabels(const ir::Value *labels, int64_t classes) { labelClasses_[labels] = classes; }
  /// Records a weight's regularization penalty (added to the loss when training).
  void noteRegularizer(ir::Value *w, double l1, double l2) {
    for (auto &r : regularizers_)
      if (r.w == w)
        return;
    regularizers_.push_back({w, l1, l2});
  }
  /// Whether layers are elaborated in training mode (training(), random_uniform, assign).
  bool training() const { return training_; }
  /// The `rng_key` input i32[2], created on first use after the inputs so far (model() moves
  /// it after the train block's targets).
  ir::Value *rngKey();
  /// A new stream number for a random_uniform op: each call site elaborated gets its own.
  int64_t nextStream() { return nextStream_++; }
  /// assign(weight, value): the training function gets `value` as output update/<key>.
  llvm::Error recordUpdate(ir::Value *weight, ir::Value *value, const ir::Loc &loc);
  const ir::Loc &userLoc(const ir::Loc &loc) const;
  /// Weights created while `f` runs are named <binding>/<sub>/<param>.
  template <typename F> auto withSubBinding(const std::string &sub, F &&f) {
    std::string saved = subBinding_;
    subBinding_ = saved.empty() ? sub : saved + "/" + sub;
    auto r = f();
    subBinding_ = saved;
    return r;
  }
  /// Calls a step function of generate/scan: the assignments of its own body name the
  /// weights they create as a model's statements do (`<target>/<param>`), so that a model
  /// that trains the same layers shares their weights, and a weight created again with the
  /// same name and type is the same weight (the step is elaborated more than once).
  llvm::Expected<Val> callStep(const Val &step, const std::vector<CallArg> &args,
                               const ir::Loc &loc);
  /// The `seed` input i32[] of a model that samples, created on first use.
  ir::Value *seedInput();
  /// Records that model output candidate `seq` (a generate result [B, L, ...]) has per-row
  /// lengths `lengths`: when both are outputs, callers trim `seq` to its longest row.
  void noteGenerated(ir::Value *seq, ir::Value *lengths) { generated_[seq] = lengths; }
  /// Settings given outside the model file for its generate(...) calls, or null.
  const GenerateSettings *generateSettings = nullptr;
  /// Keras's zero_output_for_mask for recurrent layers elaborated now (Bidirectional sets
  /// it to return_sequences).
  bool zeroOutputForMask = false;
  /// Builds the model's function body block ops into `body` while `f` runs.
  template <typename F> auto inBlock(ir::Block *body, F &&f) {
    ir::Block *saved = builder_->block();
    builder_->setBlock(body);
    auto r = f();
    builder_->setBlock(saved);
    return r;
  }

private:
  const SourceManager &sm_;
  const ast::File &user_;
  const ast::File &prelude_;
  std::map<std::string, const ast::Decl *> decls_;
  std::unique_ptr<ir::Module> module_;
  ir::Function *func_ = nullptr;
  std::unique_ptr<ir::Builder> builder_;
  std::vector<Frame> frames_;
  std::vector<ir::Loc> callStack_; // call sites of the defs/cells being elaborated
  std::string binding_;            // model-level binding whose weights are being created
  std::string subBinding_;         // e.g. "forward" inside bidirectional
  std::set<std::string> paramKeys_;
  size_t bindDepth_ = 0;      // statements at this call depth name weights (0: the model's)
  bool shareWeights_ = false; // in a step function: a weight created again is reused
  ir::Value *seed_ = nullptr;
  std::map<const ir::Value *, ir::Value *> generated_;

  llvm::Expected<std::optional<Val>> exec(const std::vector<ast::Stmt> &body);
  llvm::Expected<Val> eval(const ast::Expr &e);
  llvm::Expected<Val> evalBinary(const ast::Expr &e);
  llvm::Expected<Val> evalCall(const ast::Expr &e);
  llvm::Expected<Val> lookup(const std::string &name, const ir::Loc &loc);
  llvm::Expected<BoundArgs> bindArgs(const std::string &callee,
                                     const std::vector<std::string> &names,
                                     const std::vector<CallArg> &args, const ir::Loc &loc);
  llvm::Expected<Val> callDecl(const ast::Decl &d, const std::vector<CallArg> &args,
                               const ir::Loc &loc);
  llvm::Error bindParams(const ast::Decl &d, Frame &fr, const BoundArgs &args,
                         const std::vector<const ast::Param *> &params);
  llvm::Error matchType(const ast::TypeExpr &te, const Val &v, Frame &fr, const std::string &what,
                        const ir::Loc &loc);
  llvm::Expected<ir::Type> typeFromExpr(const ast::TypeExpr &te, Frame &fr,
                                        const std::string &what);
  llvm::Expected<std::unique_ptr<ir::Module>>
  model(const ast::Decl &d, const ast::Decl *train = nullptr, TrainSpec *spec = nullptr);

  // Training mode: the rng_key input, random streams handed out, assigned weights.
  bool training_ = false;
  ir::Value *rngKey_ = nullptr;
  int64_t nextStream_ = 0;
  std::vector<std::pair<ir::Value *, ir::Value *>> updates_; // (weight, new value)

  // The train block (ElaborateTrain.cpp).
  std::map<const ir::Value *, std::string> targets_;
  std::map<const ir::Value *, int64_t> labelClasses_;
  struct Regularizer {
    ir::Value *w;
    double l1, l2;
  };
  std::vector<Regularizer> regularizers_;
  llvm::Expected<std::vector<ir::Value *>> trainBlock(const ast::Decl &t, TrainSpec &spec,
                                                      std::vector<std::string> &names);
  llvm::Error optimizerSpec(const ast::Expr &e, OptimizerSpec &opt);
  llvm::Error scheduleSpec(const ast::Expr &e, Schedule &s);
  llvm::Expected<std::pair<ir::Value *, std::string>>
  metric(const ast::Expr &m, const ast::Expr &lossExpr, const TrainSpec &spec);
};

} // namespace loom::frontend
