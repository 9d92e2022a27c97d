#include "ir/Builder.h"

#include "ir/TypeInference.h"

namespace loom::ir {

Op *Builder::create(OpKind k, std::vector<Value *> operands, std::vector<Type> resultTypes,
                    std::map<std::string, Attr> attrs) {
  auto op = std::make_unique<Op>(k);
  op->operands = std::move(operands);
  op->attrs = std::move(attrs);
  op->loc = loc_;
  op->parent = block_;
  for (auto &t : resultTypes)
    op->addResult(t);
  block_->ops.push_back(std::move(op));
  return block_->ops.back().get();
}

llvm::Expected<Op *> Builder::build(OpKind k, std::vector<Value *> operands,
                                    std::map<std::string, Attr> attrs) {
  Op probe(k);
  probe.operands = operands;
  probe.attrs = attrs;
  auto types = inferTypes(probe);
  if (!types)
    return types.takeError();
  return create(k, std::move(operands), std::move(*types), std::move(attrs));
}

llvm::Expected<Value *> Builder::value(OpKind k, std::vector<Value *> operands,
                                       std::map<std::string, Attr> attrs) {
  auto op = build(k, std::move(operands), std::move(attrs));
  if (!op)
    return op.takeError();
  return (*op)->result(0);
}

Value *Builder::fill(double v, Type t) {
  return create(OpKind::Fill, {}, {std::move(t)}, {{"value", v}})->result(0);
}

} // namespace loom::ir
