#pragma once
// The reference interpreter: slow, simple, obviously correct. The oracle that compiled code
// is compared against.
#include "ir/IR.h"
#include "runtime/Tensor.h"

#include "llvm/Support/Error.h"

#include <vector>

namespace loom::ir {

/// Runs `f`. `inputs` and `params` are in the function's order; they are checked with
/// bindSymbols() first. Returns one tensor per output.
llvm::Expected<std::vector<rt::Tensor>> interpret(const Function &f,
                                                  const std::vector<rt::Tensor> &inputs,
                                                  const std::vector<rt::Tensor> &params);

} // namespace loom::ir
