// unroll: a loop whose step count is known when compiling becomes its steps one after
// the other. A slice of a sequence at step t is `slice` + `reshape` of the sequence; the
// stacked outputs are one `concat` of the steps' values along axis 1. Loops whose step
// count is a symbol (T) stay rolled: one compiled model still serves every length.
//
// Partial unrolling (the function's "unroll" hint is a number N, from `--unroll=N` or the
// model's `unroll(N)`): every loop, static or symbolic, stays one loop and gets the
// attribute unroll = N; codegen emits its body N times per iteration (with a remainder
// for step counts that N does not divide), so the compile time stays independent of T.
#include "ir/Builder.h"
#include "ir/TypeInference.h"
#include "passes/Passes.h"

namespace loom::passes {

namespace {

using namespace ir;

/// Unrolls block.ops[idx]; returns how many ops replaced it.
size_t unrollOne(Block &block, size_t idx) {
  Op &loop = *block.ops[idx];
  int64_t steps = loop.dimAttr("steps").value();
  size_t nc = (size_t)loop.intAttr("carries");
  bool reverse = loop.boolAttr("reverse");
  Block &body = *loop.regions[0];
  const Op &yield = *body.terminator();
  size_t nStacks = yield.operands.size() - nc;

  Block scratch;
  Builder b(&scratch);
  b.setLoc(loop.loc);
  std::vector<Value *> carries(loop.operands.begin(), loop.operands.begin() + nc);
  std::vector<std::vector<Value *>> stacked(nStacks, std::vector<Value *>(steps));
  for (int64_t p = 0; p < steps; ++p) {
    int64_t t = reverse ? steps - 1 - p : p;
    ValueMap map;
    for (size_t i = 0; i < nc; ++i)
      map[body.args[i].get()] = carries[i];
    for (size_t i = nc; i < body.args.size(); ++i) {
      Value *seq = loop.operands[i];
      Type one = seq->type;
      one.shape[1] = Dim::constant(1);
      Value *s = b.create(OpKind::Slice, {seq}, {one},
                          {{"axis", (int64_t)1}, {"start", t}, {"size", (int64_t)1}})
                     ->result();
      map[body.args[i].get()] = b.create(OpKind::Reshape, {s}, {sliceType(seq->type)})->result();
    }
    for (auto &op : body.ops)
      if (op.get() != &yield)
        cloneOpInto(*op, scratch, map);
    auto mapped = [&](Value *v) {
      auto it = map.find(v);
      return it == map.end() ? v : it->second;
    };
    for (size_t i = 0; i < nc; ++i)
      carries[i] = mapped(yield.operands[i]);
    for (size_t k = 0; k < nStacks; ++k)
      stacked[k][t] = mapped(yield.operands[nc + k]);
  }
  for (size_t i = 0; i < nc; ++i)
    replaceUsesFrom(block, idx + 1, loop.result(i), carries[i]);
  for (size_t k = 0; k < nStacks; ++k) {
    const Type &full = loop.result(nc + k)->type;
    Value *out;
    if (steps == 0) {
      out = b.fill(0.0, full);
    } else {
      std::vector<Value *> pieces;
      for (Value *v : stacked[k]) {
        Type one = full;
        one.shape[1] = Dim::constant(1);
        pieces.push_back(b.create(OpKind::Reshape, {v}, {one})->result());
      }
      out = steps == 1 ? pieces[0]
                       : b.create(OpKind::Concat, pieces, {full}, {{"axis", (int64_t)1}})->result();
    }
    replaceUsesFrom(block, idx + 1, loop.result(nc + k), out);
  }
  return replaceOpWith(block, idx, scratch);
}

/// Unrolls the loops of `block` whose step count is known (only those of one step when
/// `singleOnly`).
bool unrollIn(Block &block, bool singleOnly = false) {
  bool changed = false;
  for (size_t i = 0; i < block.ops.size();) {
    Op &op = *block.ops[i];
    for (auto &r : op.regions)
      changed |= unrollIn(*r, singleOnly);
    const Dim *steps = op.kind == OpKind::Loop ? &op.dimAttr("steps") : nullptr;
    if (steps && steps->isStatic() && !loopUntil(op) && (!singleOnly || steps->value() == 1)) {
      i += unrollOne(block, i);
      changed = true;
    } else {
      ++i;
    }
  }
  return changed;
}

} // namespace

llvm::Expected<bool> unrollLoops(ir::Module &m) {
  bool changed = false;
  for (auto &f : m.functions) {
    // The function's "unroll" hint: absent or "full" unrolls, "none" or 1 keeps the loops,
    // N >= 2 marks them.
    auto hint = f->hints.find("unroll");
    if (hint == f->hints.end() || hint->second == "full") {
      changed |= unrollIn(f->body);
      continue;
    }
    // A loop of one step is its body without the loop, whatever the hint (a recurrent
    // layer over one token in a generation step).
    changed |= unrollIn(f->body, /*singleOnly=*/true);
    if (hint->second == "none")
      continue;
    int64_t factor = 0;
    if (llvm::StringRef(hint->second).getAsInteger(10, factor) || factor < 1)
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "unroll: '%s' is not full, none or a step count (1 or more)",
                                     hint->second.c_str());
    if (factor >= 2)
      walk(f->body, [&](Op &op) {
        if (op.kind == OpKind::Loop && !loopUntil(op)) { // one exit test per step
          op.attrs["unroll"] = factor;
          changed = true;
        }
      });
  }
  return changed;
}

} // namespace loom::passes
