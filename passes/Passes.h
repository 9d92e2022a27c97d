#pragma once
// Every pass is a free function from a module to "did it change anything".
#include "ir/IR.h"

#include "llvm/Support/Error.h"

namespace loom::passes {

#define PASS(Name, Fn, Description) llvm::Expected<bool> Fn(ir::Module &m);
#include "passes/Passes.def"

/// The first step of `hoist` on its own: ops of loop bodies (inner loops first) that read
/// nothing from inside their loop move before it. Autodiff runs it first, so that the
/// gradient of such an op (a bias row sliced in the body) is taken once after the adjoint
/// loop, not at every step. Returns whether anything moved.
bool moveLoopInvariantOps(ir::Block &block);

} // namespace loom::passes
