// shape-inference: recomputes every result type (and every region argument type) from the
// function's input and parameter types, in program order. Used after passes that rebuild
// ops and on IR text whose result types were left out.
#include "ir/TypeInference.h"
#include "passes/Passes.h"

#include <fmt/format.h>

namespace loom::passes {

namespace {

llvm::Expected<bool> inferBlock(ir::Block &block) {
  bool changed = false;
  auto setType = [&](ir::Value *v, const ir::Type &t) {
    if (v->type != t) {
      v->type = t;
      changed = true;
    }
  };
  for (auto &op : block.ops) {
    if (!op->regions.empty()) {
      ir::Block &body = *op->regions[0];
      if (op->kind == ir::OpKind::Loop && op->hasAttr("carries")) {
        size_t nc = (size_t)op->intAttr("carries");
        for (size_t i = 0; i < body.args.size() && i < op->operands.size(); ++i)
          setType(body.args[i].get(),
                  i < nc ? op->operands[i]->type : ir::sliceType(op->operands[i]->type));
      } else if (op->kind == ir::OpKind::Fused) {
        for (size_t i = 0; i < body.args.size() && i < op->operands.size(); ++i)
          setType(body.args[i].get(), op->operands[i]->type);
      } else if (op->kind == ir::OpKind::Rnn && !op->operands.empty() && !body.args.empty()) {
        setType(body.args[0].get(), ir::sliceType(op->operands[0]->type));
        for (size_t i = 1; i < body.args.size() && i < op->operands.size(); ++i)
          setType(body.args[i].get(), op->operands[i]->type);
      }
      for (auto &r : op->regions) {
        auto c = inferBlock(*r);
        if (!c)
          return c.takeError();
        changed |= *c;
      }
    }
    auto types = ir::inferTypes(*op);
    if (!types)
      return llvm::createStringError(llvm::inconvertibleErrorCode(), "%s: %s", ir::opName(op->kind),
                                     llvm::toString(types.takeError()).c_str());
    if (types->size() != op->results.size())
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "%s: has %zu results, its operands give %zu",
                                     ir::opName(op->kind), op->results.size(), types->size());
    for (size_t i = 0; i < types->size(); ++i)
      setType(op->result(i), (*types)[i]);
  }
  return changed;
}

} // namespace

llvm::Expected<bool> inferShapes(ir::Module &m) {
  bool changed = false;
  for (auto &f : m.functions) {
    auto c = inferBlock(f->body);
    if (!c)
      return c.takeError();
    changed |= *c;
  }
  return changed;
}

} // namespace loom::passes
