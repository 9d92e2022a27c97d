#pragma once
// The reference interpreter: slow, simple, obviously correct. The oracle that compiled code
// is compared against.
#include "ir/IR.h"
#include "runtime/Tensor.h"

#include "llvm/Support/Error.h"

#include <vector>

namespace loom::ir {

/// Runs `f`. `inputs` and `params` are in the function's order; they are checked with
/// bindSymbols() first. Returns one tensor per output. The values the call defines (every
/// op result and region argument, kept until it returns) may take at most `memoryLimit`
/// bytes (0: the process-wide limit, runtime/Limits.h); beyond it the call is an error
/// before the op that would exceed it allocates.
llvm::Expected<std::vector<rt::Tensor>> interpret(const Function &f,
                                                  const std::vector<rt::Tensor> &inputs,
                                                  const std::vector<rt::Tensor> &params,
                                                  int64_t memoryLimit = 0);

} // namespace loom::ir
