// hoist: work in a loop body that depends only on the step's slices and on values from
// outside the loop is done once for all steps before the loop, and the loop reads its
// result as a new slice. For any cell, this turns each step's input projection x_t @ W
// into one matmul over all T * B rows, leaving only the recurrent product inside the loop.
//
//   loop ..., %x (%h, %xt) { %a = matmul %xt, %W; %b = add %a, %bias; ... uses %b ... }
// becomes
//   %A = matmul %x, %W : [B,T,N]
//   loop ..., %x, %A (%h, %xt, %at) { %b = add %at, %bias; ... uses %b ... }
//
// An op is hoisted when it has no regions, is elementwise or a matmul with an invariant
// right-hand side, reads at least one slice (or hoisted value) of the same rank as its
// result, and its other operands come from outside the loop with a lower rank (weights,
// biases, scalars: they broadcast the same over the stacked time axis), and it is worth it:
// a matmul, or what a hoisted matmul reads. Elementwise work after the product (the bias
// add) and a chain over the slices alone stay in the loop, where they fuse into the step's
// kernel instead of writing and reading a whole-sequence temporary (for S4's LSTM, 26 MB
// each way per call). A stacked output that is just a
// slice is the sliced sequence itself, so the loop stops stacking it.
#include "ir/TypeInference.h"
#include "passes/Passes.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace loom::passes {

namespace {

using namespace ir;

bool hoistable(const Op &op) {
  if (!op.regions.empty() || op.results.size() != 1)
    return false;
  FusionKind k = opInfo(op.kind).kind;
  // A transpose_lhs matmul sums over its rows (all steps at once): not a per-step op.
  return k == FusionKind::Elementwise ||
         (op.kind == OpKind::MatMul && !op.boolAttr("transpose_lhs"));
}

/// The values a loop body defines: its arguments and every result of its ops, nested ones
/// included.
std::unordered_set<const Value *> valuesOf(Block &body) {
  std::unordered_set<const Value *> inside;
  for (auto &a : body.args)
    inside.insert(a.get());
  walk(body, [&](Op &op) {
    for (auto &r : op.results)
      inside.insert(r.get());
  });
  return inside;
}

/// Moves the ops of the loop at parent.ops[idx] that read nothing from inside the loop
/// (weights' slices, constants) before it, in their order; what read them may then be
/// invariant too. Returns how many moved.
size_t moveInvariantOps(Block &parent, size_t idx) {
  Op &loop = *parent.ops[idx];
  Block &body = *loop.regions[0];
  std::unordered_set<const Value *> inside = valuesOf(body);
  std::vector<std::unique_ptr<Op>> out;
  for (auto &opPtr : body.ops) {
    Op &op = *opPtr;
    if (!op.regions.empty() || op.results.empty() || opInfo(op.kind).kind == FusionKind::Control)
      continue;
    if (std::any_of(op.operands.begin(), op.operands.end(),
                    [&](const Value *v) { return inside.count(v) != 0; }))
      continue;
    for (auto &r : op.results)
      inside.erase(r.get());
    op.parent = &parent;
    out.push_back(std::move(opPtr));
  }
  body.ops.erase(std::remove(body.ops.begin(), body.ops.end(), nullptr), body.ops.end());
  size_t n = out.size();
  parent.ops.insert(parent.ops.begin() + idx, std::make_move_iterator(out.begin()),
                    std::make_move_iterator(out.end()));
  return n;
}

/// Hoists out of the loop at parent.ops[idx]; returns the number of ops inserted before it.
size_t hoistLoop(Block &parent, size_t idx, bool &changed) {
  const size_t invariant = moveInvariantOps(parent, idx);
  idx += invariant;
  changed |= invariant != 0;
  Op &loop = *parent.ops[idx];
  size_t nc = (size_t)loop.intAttr("carries");
  Block &body = *loop.regions[0];
  const Dim steps = loop.dimAttr("steps");

  std::unordered_set<const Value *> inside = valuesOf(body);
  std::unordered_map<const Value *, Value *> full; // per-step value -> its whole sequence
  for (size_t i = nc; i < body.args.size(); ++i)
    full[body.args[i].get()] = loop.operands[i];

  std::vector<std::unique_ptr<Op>> before;
  std::unordered_set<const Op *> moved;
  // Which ops could be computed for all steps at once, in order (each may read earlier ones).
  auto canHoist = [&](const Op &op, auto isFull) {
    if (moved.count(&op) || !hoistable(op))
      return false;
    int64_t rank = op.result()->type.rank();
    bool readsSlice = false, ok = true;
    for (size_t i = 0; i < op.operands.size() && ok; ++i) {
      Value *v = op.operands[i];
      if (isFull(v)) {
        readsSlice = true;
        ok = v->type.rank() == rank && !(op.kind == OpKind::MatMul && i == 1);
      } else {
        ok = !inside.count(v) && (op.kind == OpKind::MatMul ? i == 1 : v->type.rank() < rank);
      }
    }
    return ok && readsSlice;
  };
  std::unordered_set<const Value *> candFull;
  for (auto &[v, _] : full)
    candFull.insert(v);
  std::vector<const Op *> cands;
  for (auto &opPtr : body.ops)
    if (canHoist(*opPtr, [&](const Value *v) { return candFull.count(v) != 0; })) {
      cands.push_back(opPtr.get());
      candFull.insert(opPtr->result());
    }
  // Worth hoisting: the matmuls (one GEMM over all steps instead of one per step) and what
  // they read. What reads their results (a bias add) and an elementwise chain over the
  // slices alone stay in the loop, where they fuse into the step's kernel instead of
  // writing and reading a whole-sequence temporary (the adjoint loop's derivative factors).
  std::unordered_set<const Op *> worth;
  for (const Op *op : cands)
    if (op->kind == OpKind::MatMul)
      worth.insert(op);
  std::unordered_map<const Value *, const Op *> candOf;
  for (const Op *op : cands)
    candOf[op->result()] = op;
  // Consumers before producers (cands is in program order): one pass reaches everything a
  // worthwhile op reads.
  for (auto it = cands.rbegin(); it != cands.rend(); ++it)
    if (worth.count(*it))
      for (Value *v : (*it)->operands)
        if (auto c = candOf.find(v); c != candOf.end())
          worth.insert(c->second);
  for (auto &opPtr : body.ops) {
    Op &op = *opPtr;
    if (!worth.count(&op) || !canHoist(op, [&](const Value *v) { return full.count(v) != 0; }))
      continue;
    auto h = std::make_unique<Op>(op.kind);
    h->attrs = op.attrs;
    h->loc = op.loc;
    h->parent = &parent;
    for (Value *v : op.operands)
      h->operands.push_back(full.count(v) ? full[v] : v);
    h->addResult(stackType(op.result()->type, steps), op.result()->name);
    full[op.result()] = h->result();
    moved.insert(&op);
    before.push_back(std::move(h));
  }
  if (moved.empty())
    return invariant;
  changed = true;

  // Values still read inside the loop become new slices.
  std::unordered_map<const Value *, Value *> sliceArg;
  auto argFor = [&](Value *v) {
    auto it = sliceArg.find(v);
    if (it != sliceArg.end())
      return it->second;
    Value *a = body.addArg(v->type, v->name);
    loop.operands.push_back(full[v]);
    loop.attrs["slices"] = loop.intAttr("slices") + 1;
    return sliceArg[v] = a;
  };
  for (auto &opPtr : body.ops) {
    if (!opPtr || moved.count(opPtr.get()))
      continue;
    // Hoisted per-step values are read through new slices.
    auto perStep = [&](const Value *v) { return v->def && moved.count(v->def); };
    for (auto &v : opPtr->operands)
      if (perStep(v))
        v = argFor(v);
    for (auto &r : opPtr->regions)
      walk(*r, [&](Op &inner) {
        for (auto &v : inner.operands)
          if (perStep(v))
            v = argFor(v);
      });
  }
  body.ops.erase(
      std::remove_if(body.ops.begin(), body.ops.end(),
                     [&](const std::unique_ptr<Op> &o) { return !o || moved.count(o.get()); }),
      body.ops.end());
  size_t n = before.size();
  parent.ops.insert(parent.ops.begin() + idx, std::make_move_iterator(before.begin()),
                    std::make_move_iterator(before.end()));
  return invariant + n;
}

/// A stacked output that yields a slice argument unchanged is that slice's sequence.
void forwardSlicedStacks(Block &parent, size_t idx) {
  Op &loop = *parent.ops[idx];
  size_t nc = (size_t)loop.intAttr("carries");
  Block &body = *loop.regions[0];
  Op &yield = *body.terminator();
  for (size_t r = yield.operands.size(); r-- > nc;) {
    Value *v = yield.operands[r];
    if (v->owner != &body || v->index < nc)
      continue;
    replaceUsesFrom(parent, idx + 1, loop.result(r), loop.operands[v->index]);
    // The stack is now unused; dce removes it.
  }
}

bool hoistIn(Block &block) {
  bool changed = false;
  for (size_t i = 0; i < block.ops.size(); ++i) {
    Op &op = *block.ops[i];
    for (auto &r : op.regions)
      changed |= hoistIn(*r); // inner loops first
    if (op.kind != OpKind::Loop)
      continue;
    if (loopUntil(op)) { // steps it may never run: only what does not change moves out
      size_t invariant = moveInvariantOps(block, i);
      changed |= invariant != 0;
      i += invariant;
      continue;
    }
    size_t inserted = hoistLoop(block, i, changed);
    i += inserted;
    forwardSlicedStacks(block, i);
  }
  return changed;
}

} // namespace

bool moveLoopInvariantOps(ir::Block &block) {
  bool changed = false;
  for (size_t i = 0; i < block.ops.size(); ++i) {
    for (auto &r : block.ops[i]->regions)
      changed |= moveLoopInvariantOps(*r); // inner loops first
    if (block.ops[i]->kind != ir::OpKind::Loop)
      continue;
    size_t n = moveInvariantOps(block, i);
    changed |= n != 0;
    i += n;
  }
  return changed;
}

llvm::Expected<bool> hoistLoopInvariants(ir::Module &m) {
  bool changed = false;
  for (auto &f : m.functions)
    changed |= hoistIn(f->body);
  return changed;
}

} // namespace loom::passes
