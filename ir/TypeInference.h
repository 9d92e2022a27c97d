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
/// Where a conv1d / max_pool1d window op reads: its output length and zero (or, for max,
/// never-winning) padding on each side, for a sequence of `steps`. Keras's padding modes:
/// valid (none), causal (span - 1 on the left), same (TensorFlow's split, extra on the
/// right, output ceil(steps / stride)). Also for the gradient ops (conv1d_grad_input,
/// conv1d_grad_kernel, max_pool1d_grad), with `steps` the forward input's length.
struct WindowGeometry {
  int64_t span, stride, padLeft, padRight, outSteps;
};
WindowGeometry windowGeometry(const Op &op, int64_t steps);

/// Per-step type of a sequence: axis 1 removed.
Type sliceType(const Type &seq);
/// Stacked type of a per-step value: `steps` inserted at axis 1.
Type stackType(const Type &step, const Dim &steps);

} // namespace loom::ir
