#pragma once
// Per-op type rules: the result types an op has given its operands, attributes and (for
// ops with regions) its body's terminator. The verifier and shape-inference pass use it.
#include "ir/IR.h"

#include "llvm/Support/Error.h"

namespace loom::ir {

llvm::Expected<std::vector<Type>> inferTypes(const Op &op);
/// numpy broadcasting of two shapes; error if incompatible.
llvm::Expected<std::vector<Dim>> broadcastShapes(const std::vector<Dim> &a,
                                                 const std::vector<Dim> &b);
/// Per-step type of a sequence: axis 1 removed.
Type sliceType(const Type &seq);
/// Stacked type of a per-step value: `steps` inserted at axis 1.
Type stackType(const Type &step, const Dim &steps);

} // namespace loom::ir
