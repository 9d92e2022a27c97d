// fuse: groups elementwise ops whose results have one shape into a `fused` op, which
// codegen turns into a single loop nest: each element is loaded once, the whole chain
// runs in registers, and only values used outside the group are stored. In a recurrent
// step this is the gate activations, the state update and the masking after the
// recurrent matmul, read once.
//
// Grouping, per block: a group starts at an elementwise op and takes every later
// elementwise op of the same result shape that does not depend on a non-member that
// depends on the group (that would be a cycle). The fused op goes where the group's last
// member was; non-members that depend on the group and stood before that point move to
// just after it, in their order. Operands from outside the group become the fused op's
// operands (they may broadcast); values used outside become its results.
//
// Before grouping, an elementwise op whose result is only ever sliced (the recurrent
// step's x_t·W + h·U, cut into its gates) is split into one op per slice, over slices of
// its operands: the pieces then join the kernels that read the slices, instead of the sum
// being stored whole and read back.
#include "ir/Builder.h"
#include "passes/Passes.h"

#include <optional>
#include <unordered_map>
#include <unordered_set>

namespace loom::passes {

namespace {

using namespace ir;

bool fusible(const Op &op) {
  return op.regions.empty() && op.results.size() == 1 &&
         opInfo(op.kind).kind == FusionKind::Elementwise;
}

/// Whether `op` (or an op in its regions) reads one of `vals`.
bool reads(Op &op, const std::unordered_set<const Value *> &vals) {
  bool hit = false;
  for (auto *v : op.operands)
    hit |= vals.count(v) != 0;
  for (auto &r : op.regions)
    walk(*r, [&](Op &inner) {
      for (auto *v : inner.operands)
        hit |= vals.count(v) != 0;
    });
  return hit;
}

/// Forms one group starting at block.ops[start]; returns whether it fused anything.
/// `allowed`, when given, limits the members to those ops.
bool fuseFrom(Block &block, size_t start, const std::unordered_set<size_t> *allowed = nullptr) {
  Op &first = *block.ops[start];
  const std::vector<Dim> shape = first.result()->type.shape;
  std::vector<size_t> members{start};
  std::unordered_set<const Value *> groupVals{first.result()}, dependent;
  std::vector<size_t> deferred;
  for (size_t j = start + 1; j < block.ops.size(); ++j) {
    Op &op = *block.ops[j];
    if (op.kind == OpKind::Yield || op.kind == OpKind::Return)
      break;
    if (fusible(op) && op.result()->type.shape == shape && !reads(op, dependent) &&
        (!allowed || allowed->count(j))) {
      members.push_back(j);
      groupVals.insert(op.result());
      continue;
    }
    if (reads(op, groupVals) || reads(op, dependent)) {
      for (auto &r : op.results)
        dependent.insert(r.get());
      deferred.push_back(j);
    }
  }
  if (members.size() < 2)
    return false;
  if (!allowed) {
    // Keep the members connected to the first one through their results: ops that merely
    // do not depend on the group (in a fully unrolled loop, every later step's bias add)
    // would otherwise make one kernel of hundreds of unrelated outputs instead of joining
    // the kernels that read them.
    std::unordered_map<const Value *, size_t> defOf;
    for (size_t m : members)
      defOf[block.ops[m]->result()] = m;
    std::unordered_map<size_t, std::vector<size_t>> edges;
    for (size_t m : members)
      for (Value *v : block.ops[m]->operands)
        if (auto it = defOf.find(v); it != defOf.end()) {
          edges[m].push_back(it->second);
          edges[it->second].push_back(m);
        }
    std::unordered_set<size_t> component{start};
    std::vector<size_t> work{start};
    while (!work.empty()) {
      size_t m = work.back();
      work.pop_back();
      for (size_t n : edges[m])
        if (component.insert(n).second)
          work.push_back(n);
    }
    if (component.size() < members.size())
      return component.size() >= 2 && fuseFrom(block, start, &component);
  }
  size_t last = members.back();

  // Inputs: operands defined outside the group, in order of first use.
  std::vector<Value *> inputs;
  std::unordered_map<const Value *, size_t> inputIndex;
  for (size_t m : members)
    for (Value *v : block.ops[m]->operands)
      if (!groupVals.count(v) && inputIndex.emplace(v, inputs.size()).second)
        inputs.push_back(v);
  // Outputs: members' results read by anything else in the block.
  std::unordered_set<size_t> memberSet(members.begin(), members.end());
  std::vector<Value *> outputs;
  for (size_t m : members) {
    Value *r = block.ops[m]->result();
    bool used = false;
    for (size_t j = 0; j < block.ops.size() && !used; ++j)
      if (!memberSet.count(j))
        used = reads(*block.ops[j], {r});
    if (used)
      outputs.push_back(r);
  }

  auto fused = std::make_unique<Op>(OpKind::Fused);
  fused->parent = &block;
  fused->loc = first.loc;
  fused->operands = inputs;
  Block *body = fused->addRegion();
  for (Value *v : inputs)
    body->addArg(v->type, v->name);
  for (size_t m : members) {
    std::unique_ptr<Op> op = std::move(block.ops[m]);
    for (auto &v : op->operands)
      if (auto it = inputIndex.find(v); it != inputIndex.end())
        v = body->args[it->second].get();
    op->parent = body;
    body->ops.push_back(std::move(op));
  }
  auto y = std::make_unique<Op>(OpKind::Yield);
  y->parent = body;
  y->operands = outputs;
  body->ops.push_back(std::move(y));
  for (Value *v : outputs)
    fused->addResult(v->type, v->name);

  // The new order: the fused op where its last member was, the deferred ops after it.
  std::unordered_set<size_t> deferredBefore;
  for (size_t d : deferred)
    if (d < last)
      deferredBefore.insert(d);
  std::vector<std::unique_ptr<Op>> order;
  Op *fusedOp = fused.get();
  for (size_t j = 0; j < block.ops.size(); ++j) {
    if (memberSet.count(j) && j != last)
      continue;
    if (j == last) {
      order.push_back(std::move(fused));
      for (size_t d : deferred)
        if (deferredBefore.count(d))
          order.push_back(std::move(block.ops[d]));
      continue;
    }
    if (deferredBefore.count(j))
      continue;
    order.push_back(std::move(block.ops[j]));
  }
  block.ops = std::move(order);
  // Uses outside the group now read the fused op's results.
  bool after = false;
  for (auto &op : block.ops) {
    if (op.get() == fusedOp) {
      after = true;
      continue;
    }
    if (!after)
      continue;
    for (size_t i = 0; i < outputs.size(); ++i) {
      for (auto &v : op->operands)
        if (v == outputs[i])
          v = fusedOp->result(i);
      for (auto &r : op->regions)
        replaceAllUses(*r, outputs[i], fusedOp->result(i));
    }
  }
  return true;
}

/// The users of `v` anywhere under `root`.
std::vector<Op *> usersOf(Block &root, const Value *v) {
  std::vector<Op *> users;
  walk(root, [&](Op &op) {
    for (const Value *o : op.operands)
      if (o == v) {
        users.push_back(&op);
        break;
      }
  });
  return users;
}

/// How an operand of type `ot` of an elementwise op of type `t` (numpy broadcasting: `ot`
/// aligned to the right) is cut for the slice `u` of the op's result: whole when the slice
/// does not cut its dims (a missing leading dim, a broadcast dim of 1), else sliced along
/// its own axis to `type`; nullopt for anything else.
struct OperandCut {
  bool whole;
  int64_t axis;
  Type type;
};
std::optional<OperandCut> cutFor(const Type &ot, const Type &t, const Op &u) {
  int64_t axis = u.intAttr("axis") - ((int64_t)t.rank() - (int64_t)ot.rank());
  if (ot.rank() > t.rank())
    return std::nullopt;
  if (axis < 0)
    return OperandCut{true, 0, ot};
  const Dim &d = ot.shape[(size_t)axis];
  if (d.isStatic() && d.value() == 1 && !(t.shape[(size_t)u.intAttr("axis")] == d))
    return OperandCut{true, 0, ot};
  if (!(d == t.shape[(size_t)u.intAttr("axis")]))
    return std::nullopt;
  Type st = ot;
  st.shape[(size_t)axis] = u.result()->type.shape[(size_t)u.intAttr("axis")];
  return OperandCut{false, axis, st};
}

/// Splits elementwise ops of `block` (not nested blocks) that are only sliced, each slice
/// becoming the op over slices of its operands. `root` is the function body (for uses).
bool sinkIntoSlices(Block &root, Block &block) {
  bool changed = false;
  // Last to first: an op sunk into its slices leaves its operands sliced, so the op that
  // made one of them (a bias add before the gate sum) may be sunk next.
  for (size_t i = block.ops.size(); i-- > 0;) {
    Op &op = *block.ops[i];
    if (!fusible(op) || op.operands.empty())
      continue;
    const Type &t = op.result()->type;
    std::vector<Op *> users = usersOf(root, op.result());
    bool allSlices = !users.empty();
    for (Op *u : users)
      allSlices &= u->kind == OpKind::Slice && u->parent == &block && [&] {
        for (const Value *o : op.operands)
          if (!cutFor(o->type, t, *u))
            return false;
        return true;
      }();
    if (!allSlices)
      continue;
    for (Op *u : users) {
      size_t idx = 0;
      while (block.ops[idx].get() != u)
        ++idx;
      Block scratch;
      Builder b(&scratch);
      b.setLoc(u->loc);
      std::vector<Value *> pieces;
      for (Value *o : op.operands) {
        OperandCut c = *cutFor(o->type, t, *u);
        if (c.whole) {
          pieces.push_back(o);
          continue;
        }
        auto attrs = u->attrs;
        attrs["axis"] = c.axis;
        pieces.push_back(b.create(OpKind::Slice, {o}, {c.type}, attrs)->result());
      }
      Value *piece = b.create(op.kind, pieces, {u->result()->type}, op.attrs)->result();
      Value *old = u->result();
      size_t n = replaceOpWith(block, idx, scratch);
      replaceUsesFrom(block, idx + n, old, piece);
    }
    block.ops.erase(block.ops.begin() + (ptrdiff_t)i);
    changed = true;
  }
  return changed;
}

bool sinkAll(Block &root, Block &block) {
  bool changed = false;
  for (auto &op : block.ops)
    for (auto &r : op->regions)
      if (op->kind != OpKind::Fused)
        changed |= sinkAll(root, *r);
  return sinkIntoSlices(root, block) || changed;
}

bool fuseBlock(Block &block) {
  bool changed = false;
  for (auto &op : block.ops)
    for (auto &r : op->regions)
      if (op->kind != OpKind::Fused)
        changed |= fuseBlock(*r);
  for (size_t i = 0; i < block.ops.size(); ++i)
    if (fusible(*block.ops[i]) && fuseFrom(block, i))
      changed = true;
  return changed;
}

} // namespace

llvm::Expected<bool> fuseElementwise(ir::Module &m) {
  bool changed = false;
  for (auto &f : m.functions) {
    changed |= sinkAll(f->body, f->body);
    changed |= fuseBlock(f->body);
  }
  return changed;
}

} // namespace loom::passes
