#pragma once
// Private to codegen/: transcendental functions emitted as straight-line LLVM IR.
//
// Each function takes an f32 (or <N x f32>) value and returns the result of the same type.
// The code has no calls and no branches (selects only), so the loop vectoriser widens it.
// Methods and measured accuracy: docs/vector-math.md.
#include "llvm/IR/IRBuilder.h"

namespace loom::codegen {

llvm::Value *emitExp(llvm::IRBuilder<> &b, llvm::Value *x);
llvm::Value *emitLog(llvm::IRBuilder<> &b, llvm::Value *x);
llvm::Value *emitTanh(llvm::IRBuilder<> &b, llvm::Value *x);
llvm::Value *emitSigmoid(llvm::IRBuilder<> &b, llvm::Value *x);
llvm::Value *emitErf(llvm::IRBuilder<> &b, llvm::Value *x);

} // namespace loom::codegen
