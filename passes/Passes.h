#pragma once
// Every pass is a free function from a module to "did it change anything".
#include "ir/IR.h"

#include "llvm/Support/Error.h"

namespace loom::passes {

#define PASS(Name, Fn, Description) llvm::Expected<bool> Fn(ir::Module &m);
#include "passes/Passes.def"

} // namespace loom::passes
