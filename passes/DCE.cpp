// dce: removes ops none of whose results are used (terminators stay), and shrinks loops:
// a stacked output nobody reads is no longer stacked, and a carry is dropped when its final
// value is unused and nothing that is kept depends on it.
#include "passes/Passes.h"

#include <unordered_map>
#include <unordered_set>

namespace loom::passes {

namespace {

using Uses = std::unordered_map<const ir::Value *, int>;

void countUses(ir::Block &b, Uses &uses) {
  ir::walk(b, [&](ir::Op &op) {
    for (auto *v : op.operands)
      ++uses[v];
  });
}

bool isTerminator(const ir::Op &op) {
  return op.kind == ir::OpKind::Yield || op.kind == ir::OpKind::Return;
}

/// Values in `body` that some kept result depends on, following carries around the loop.
/// Returns which carries are live.
std::vector<bool> liveCarries(ir::Op &loop, const Uses &uses) {
  size_t nc = (size_t)loop.intAttr("carries");
  ir::Block &body = *loop.regions[0];
  ir::Op &yield = *body.terminator();
  std::unordered_map<const ir::Value *, ir::Op *> defs;
  ir::walk(body, [&](ir::Op &op) {
    for (auto &r : op.results)
      defs[r.get()] = &op;
  });
  std::vector<bool> live(nc, false);
  std::unordered_set<const ir::Value *> seen;
  std::vector<const ir::Value *> work;
  auto use = [&](const ir::Value *v) {
    if (seen.insert(v).second)
      work.push_back(v);
  };
  for (size_t i = 0; i < nc; ++i)
    if (uses.count(loop.result(i)))
      live[i] = true, use(yield.operands[i]);
  for (size_t i = nc; i < yield.operands.size(); ++i)
    use(yield.operands[i]);
  while (!work.empty()) {
    const ir::Value *v = work.back();
    work.pop_back();
    if (v->owner == &body && v->index < nc && !live[v->index]) {
      live[v->index] = true;
      use(yield.operands[v->index]);
    }
    auto it = defs.find(v);
    if (it == defs.end())
      continue;
    for (auto *o : it->second->operands)
      use(o);
    for (auto &r : it->second->regions)
      ir::walk(*r, [&](ir::Op &inner) {
        for (auto *o : inner.operands)
          use(o);
      });
  }
  return live;
}

/// Drops unused stacked outputs and dead carries of `loop`. Returns whether it changed.
bool shrinkLoop(ir::Op &loop, const Uses &uses) {
  size_t nc = (size_t)loop.intAttr("carries");
  ir::Block &body = *loop.regions[0];
  ir::Op &yield = *body.terminator();
  bool changed = false;
  // Stacked outputs, from the back so indices stay valid (an until loop's stop flag and
  // step count stay: the flag decides when it ends).
  for (size_t r = nc + ir::loopStacks(loop); r-- > nc;)
    if (!uses.count(loop.result(r))) {
      loop.results.erase(loop.results.begin() + r);
      yield.operands.erase(yield.operands.begin() + r);
      changed = true;
    }
  std::vector<bool> live = liveCarries(loop, uses);
  for (size_t i = nc; i-- > 0;)
    if (!live[i]) {
      loop.operands.erase(loop.operands.begin() + i);
      body.args.erase(body.args.begin() + i);
      yield.operands.erase(yield.operands.begin() + i);
      loop.results.erase(loop.results.begin() + i);
      --nc;
      changed = true;
    }
  // Slices the body no longer reads.
  Uses inBody;
  countUses(body, inBody);
  for (size_t i = body.args.size(); i-- > nc;)
    if (!inBody.count(body.args[i].get())) {
      loop.operands.erase(loop.operands.begin() + i);
      body.args.erase(body.args.begin() + i);
      loop.attrs["slices"] = loop.intAttr("slices") - 1;
      changed = true;
    }
  loop.attrs["carries"] = (int64_t)nc;
  for (unsigned i = 0; i < body.args.size(); ++i)
    body.args[i]->index = i;
  for (unsigned i = 0; i < loop.results.size(); ++i)
    loop.result(i)->index = i;
  return changed;
}

bool dceBlock(ir::Block &block, const Uses &uses) {
  bool changed = false;
  std::vector<std::unique_ptr<ir::Op>> kept;
  // Backwards, so an op whose only users were just removed goes in the same sweep.
  Uses local = uses;
  for (size_t i = block.ops.size(); i-- > 0;) {
    auto &op = block.ops[i];
    bool used = isTerminator(*op);
    for (auto &r : op->results)
      used |= local.count(r.get()) && local.at(r.get()) > 0;
    if (!used) {
      for (auto *v : op->operands)
        --local[v];
      for (auto &reg : op->regions)
        ir::walk(*reg, [&](ir::Op &inner) {
          for (auto *v : inner.operands)
            --local[v];
        });
      changed = true;
      continue;
    }
    kept.push_back(std::move(op));
  }
  std::reverse(kept.begin(), kept.end());
  block.ops = std::move(kept);
  return changed;
}

} // namespace

llvm::Expected<bool> eliminateDeadCode(ir::Module &m) {
  bool changed = false;
  for (auto &f : m.functions) {
    for (bool again = true; again;) {
      again = false;
      Uses uses;
      countUses(f->body, uses);
      ir::walk(f->body, [&](ir::Op &op) {
        if (op.kind == ir::OpKind::Loop)
          again |= shrinkLoop(op, uses);
      });
      uses.clear();
      countUses(f->body, uses);
      std::vector<ir::Block *> blocks{&f->body};
      ir::walk(f->body, [&](ir::Op &op) {
        for (auto &r : op.regions)
          blocks.push_back(r.get());
      });
      // Innermost first: removing an op frees the blocks of its regions.
      for (auto it = blocks.rbegin(); it != blocks.rend(); ++it)
        again |= dceBlock(**it, uses);
      changed |= again;
    }
  }
  return changed;
}

} // namespace loom::passes
