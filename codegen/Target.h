#pragma once
// The CPU generated code is compiled for: the JIT's, the AOT objects', the tests'.
//
// A target is named as on the command line: "native" (the host, with every feature it
// has; "host" is the same), "x86-64-v3" (portable AVX2 + FMA) or "x86-64-v4" (portable
// AVX-512 F/BW/DQ/VL/CD). The JIT's default is $LOOM_TARGET_CPU when set, else native, so
// a test run can pin the whole process to one ISA. Code can only run on a CPU that has
// every feature in requiredIsa(): the JIT refuses to compile for a target the host cannot
// run, and an AOT object records the list so that <name>_create refuses such a CPU too.
// LLVM stays inside codegen/*.cpp: this header is LLVM-free except Error.
#include "llvm/Support/Error.h"

#include <string>
#include <vector>

namespace loom::codegen {

/// The target names `--target-cpu` accepts, for messages: "native, x86-64-v3 or x86-64-v4".
const char *targetNames();

/// $LOOM_TARGET_CPU, or "native".
std::string defaultTarget();

/// A resolved target: LLVM's CPU name and feature string.
struct TargetSpec {
  std::string name;     // as asked for ("native", "x86-64-v4", ...)
  std::string cpu;      // LLVM's CPU name ("znver5", "x86-64-v4")
  std::string features; // LLVM's feature string ("+avx2,+fma,..."; empty for a named level)
  /// The ISA extensions the code may use that a CPU can lack ("avx2", "fma", "avx512f", ...),
  /// in the spelling of GCC's and Clang's __builtin_cpu_supports.
  std::vector<std::string> requiredIsa;
  /// The vector width the code generator is told to prefer (bits), or 0 for the CPU's own
  /// tuning. LLVM's x86-64-v4 prefers 256 (for the Skylake servers whose clock dropped on
  /// 512-bit code); loom's x86-64-v4 is the AVX-512 path and asks for 512.
  unsigned preferVectorBits = 0;
  /// The widest vectors the vectoriser then uses: 256 or 512 (bits).
  unsigned vectorBits = 256;
};

/// Resolves a target name; an unknown name is an error that lists the valid ones. An empty
/// name is defaultTarget().
llvm::Expected<TargetSpec> resolveTarget(const std::string &name);

/// Whether this host has every extension in `isa`; the first one it lacks otherwise.
llvm::Error checkHostRuns(const TargetSpec &t);

} // namespace loom::codegen
