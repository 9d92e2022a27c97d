#pragma once
// Reverse-mode differentiation of an IR function (see passes/Autodiff.cpp).
#include "ir/IR.h"

#include "llvm/Support/Error.h"

namespace loom::passes {

/// Appends to f's outputs the gradient of output `lossIndex` (a scalar f32[]) with respect
/// to each parameter, in parameter order, named "grad/<key>". `rnn` ops must have been
/// lowered; fused ops must not exist yet. An op that cannot be differentiated on the path
/// from a parameter to the loss is an ir::LocatedError at its source location.
llvm::Error differentiate(ir::Function &f, unsigned lossIndex = 0);

} // namespace loom::passes
