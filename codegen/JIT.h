#pragma once
// Compiling an IR function to native code with LLVM ORC and running it.
//
// The generated function has the C signature
//   void loom_main(loom_rt_ctx *ctx, const int64_t *syms, void *const *inputs,
//                  void *const *params, void *const *outputs);
// syms holds the values of ir::symbolOrder(f) (B, T, ...); inputs, params and outputs are
// dense row-major buffers in the function's order. Output buffers are allocated by the
// caller with the shapes of the return operands under syms. Scratch memory comes from
// loom_rt_alloc (runtime/Kernels.h); errors are reported through loom_rt_fail.
// The LLVM headers stay inside codegen/*.cpp: this header is LLVM-free except Error.
#include "ir/IR.h"
#include "runtime/Kernels.h"
#include "runtime/Tensor.h"

#include "llvm/Support/Error.h"

#include <memory>
#include <string>
#include <vector>

namespace loom::codegen {

struct Options {
  unsigned optLevel = 3;
  /// A target name (codegen/Target.h); empty is the default ($LOOM_TARGET_CPU or native).
  /// Compiling for a target this host cannot run is an error.
  std::string targetCpu;
};

class CompiledFunction {
public:
  /// Compiles `f` (which must contain no `rnn` ops: run the lowering passes first).
  static llvm::Expected<std::unique_ptr<CompiledFunction>> compile(const ir::Function &f,
                                                                   const Options &opts = {});
  ~CompiledFunction();

  /// Checks inputs and params against the signature (ir::bindSymbols), allocates the
  /// outputs and calls the compiled code. Safe to call from several threads at once.
  /// `prepared`, when given, keeps the weights' prepared layouts (padded, packed) across
  /// calls: it must belong to these `params` values (a new one when they change). Layouts
  /// are found again by the weight's address and shape, not its contents: weights changed
  /// in place, or freed and reallocated at the same address, need a new store.
  llvm::Expected<std::vector<rt::Tensor>> run(const std::vector<rt::Tensor> &inputs,
                                              const std::vector<rt::Tensor> &params,
                                              rt::PreparedWeights *prepared = nullptr) const;
  double compileSeconds() const;
  /// The most one call may allocate (outputs and scratch), in bytes; 0 (the default): the
  /// process-wide limit of runtime/Limits.h at the time of the call.
  void setMemoryLimit(int64_t bytes);
  /// Scratch bytes (the arena: buffers planned by liveness, prepared weights made for the
  /// call) that the last call to finish used; 0 before any. Layouts kept in a
  /// PreparedWeights are not counted (PreparedWeights::bytes).
  int64_t scratchBytes() const;

  struct Impl;

private:
  explicit CompiledFunction(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// The LLVM IR generated for `f` as text, before (optimized=false) or after the O3 pipeline
/// for `targetCpu` (empty: the default target; any target, whether or not this host runs it).
llvm::Expected<std::string> emitLLVMIR(const ir::Function &f, bool optimized,
                                       const std::string &targetCpu = "");

} // namespace loom::codegen
