// cse: an op without regions that repeats an earlier visible op (same kind, operands,
// attributes and result types) is replaced by it. Ops in a region may reuse ops of the
// enclosing blocks, never the other way round.
#include "passes/Passes.h"

#include <unordered_map>

namespace loom::passes {

namespace {

struct Key {
  ir::OpKind kind;
  std::vector<ir::Value *> operands;
  bool operator==(const Key &o) const { return kind == o.kind && operands == o.operands; }
};
struct KeyHash {
  size_t operator()(const Key &k) const {
    size_t h = std::hash<int>()((int)k.kind);
    for (auto *v : k.operands)
      h = h * 1000003u ^ std::hash<const void *>()(v);
    return h;
  }
};
using Table = std::unordered_multimap<Key, ir::Op *, KeyHash>;

bool sameOp(const ir::Op &a, const ir::Op &b) {
  if (a.attrs != b.attrs || a.results.size() != b.results.size())
    return false;
  for (size_t i = 0; i < a.results.size(); ++i)
    if (a.result(i)->type != b.result(i)->type)
      return false;
  return true;
}

bool cseBlock(ir::Block &block, Table table) {
  bool changed = false;
  std::vector<std::unique_ptr<ir::Op>> kept;
  for (size_t i = 0; i < block.ops.size(); ++i) {
    auto &op = block.ops[i];
    for (auto &r : op->regions)
      changed |= cseBlock(*r, table);
    bool pure = op->regions.empty() && !op->results.empty();
    if (pure) {
      Key key{op->kind, op->operands};
      ir::Op *prev = nullptr;
      auto [lo, hi] = table.equal_range(key);
      for (auto it = lo; it != hi && !prev; ++it)
        if (sameOp(*it->second, *op))
          prev = it->second;
      if (prev) {
        for (size_t r = 0; r < op->results.size(); ++r)
          for (size_t j = i + 1; j < block.ops.size(); ++j) {
            ir::Op &user = *block.ops[j];
            for (auto &v : user.operands)
              if (v == op->result(r))
                v = prev->result(r);
            for (auto &reg : user.regions)
              ir::replaceAllUses(*reg, op->result(r), prev->result(r));
          }
        changed = true;
        continue;
      }
      table.emplace(key, op.get());
    }
    kept.push_back(std::move(op));
  }
  block.ops = std::move(kept);
  return changed;
}

} // namespace

llvm::Expected<bool> eliminateCommonSubexpressions(ir::Module &m) {
  bool changed = false;
  for (auto &f : m.functions)
    changed |= cseBlock(f->body, Table());
  return changed;
}

} // namespace loom::passes
