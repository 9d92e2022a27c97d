#pragma once
#include "ir/IR.h"

#include "llvm/Support/Error.h"

namespace loom::ir {

/// Checks structure (operand/result counts from the op table, terminators, values defined
/// before use and visible from their use, back-pointers) and types (inferTypes agrees with
/// the recorded result types). Returns an error describing the first problem.
llvm::Error verify(const Module &m);
llvm::Error verify(const Function &f);

} // namespace loom::ir
