#pragma once
// Ahead-of-time compilation: an ir::Function to an ELF object file plus a C header.
//
// The object holds the same optimised code the JIT runs (codegen/Lowering.h's
// optimizeModule), with loom_main made internal, a constant descriptor of the signature
// (runtime/Aot.h: loom_aot_model), the weights when they are embedded, and the public C
// functions <name>_create / _destroy / _run / _run_arrays / _output_shape /
// _sizes_from_shapes / _error_message, thin wrappers over runtime/Aot.cpp. The header
// declares those and documents the shapes. See docs/aot.md.
// LLVM stays inside codegen/*.cpp: this header is LLVM-free except Error.
#include "ir/IR.h"
#include "runtime/Tensor.h"

#include "llvm/Support/Error.h"

#include <string>
#include <vector>

namespace loom::codegen {

struct AotOptions {
  std::string name;                 // prefix of every C identifier; a valid C identifier
  bool embedWeights = true;         // false: the weights come from an .npz at create time
  std::string targetCpu = "native"; // a target name (codegen/Target.h): native, x86-64-v3/v4
  unsigned optLevel = 3;
  /// Extensions recorded as required besides the target's: tests name one no CPU has to
  /// see <name>_create refuse the CPU.
  std::vector<std::string> extraIsa;
};

struct AotResult {
  std::string object; // ELF x86-64 relocatable object (PIC)
  std::string header; // C header
};

/// Why `name` cannot prefix C identifiers (not [A-Za-z_][A-Za-z0-9_]*, a C or C++
/// keyword, or a name reserved by the C standard), or success.
llvm::Error checkCName(const std::string &name);

/// The default prefix for a model: its name made into a C identifier.
std::string defaultCName(const std::string &modelName);

/// Compiles `f` (lowered: no rnn ops). With opts.embedWeights, `weights` are its weights
/// in parameter order, already matched and shape-checked (see checkWeightShapes);
/// otherwise `weights` is ignored. Nothing is written: the caller writes both files.
llvm::Expected<AotResult> compileAOT(const ir::Function &f, const std::vector<rt::Tensor> &weights,
                                     const AotOptions &opts);

/// Checks that `weights` (parameter order) have the dtypes and static shapes of f's
/// params; errors name the weight, `what` (the file) and both shapes.
llvm::Error checkWeightShapes(const ir::Function &f, const std::vector<rt::Tensor> &weights,
                              const std::string &what);

/// The C header for `f` compiled with `opts` (part of compileAOT, exposed for tests).
std::string aotHeader(const ir::Function &f, const AotOptions &opts);

} // namespace loom::codegen
