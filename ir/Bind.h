#pragma once
// Matching concrete tensors against a function's signature.
#include "ir/IR.h"
#include "runtime/Tensor.h"

#include "llvm/Support/Error.h"

#include <vector>

namespace loom::ir {

/// The function's symbols (B, T, ...) in order of first appearance in the input types.
std::vector<std::string> symbolOrder(const Function &f);

/// Checks dtypes, ranks and static dims of inputs and params, and binds every symbol.
/// Errors name the tensor and give both shapes, e.g.
///   input 'x': expected f32[B,T,5], got f32 (2, 4, 6) (dim 2 is 6, expected 5)
///   input 'x': dim 0 is 3 but B is 2 (from input 'h0')
llvm::Expected<SymbolMap> bindSymbols(const Function &f, const std::vector<rt::Tensor> &inputs,
                                      const std::vector<rt::Tensor> &params);

} // namespace loom::ir
