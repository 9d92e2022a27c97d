#pragma once
// The compiler driver: source file to optimised IR, the one path every tool takes.
#include "frontend/Diagnostics.h"
#include "frontend/GenerateSettings.h"
#include "ir/IR.h"
#include "passes/PassManager.h"
#include "runtime/Tensor.h"

#include "llvm/Support/Error.h"

#include <memory>
#include <string>
#include <vector>

namespace loom::api {

struct CompileOptions {
  std::string modelName;             // empty: the file's only model
  std::vector<std::string> pipeline; // empty: passes::defaultPipeline(module)
  /// "full": unroll loops whose step count is static; "none": keep every loop; a number N
  /// (as text): keep loops but emit each body N times per iteration. Empty: what the
  /// model file says (`unroll(...)` in its body), else none.
  std::string unroll;
  passes::PipelineOptions passOptions;
  /// Settings replacing those of the model's generate(...) calls (loom generate's flags).
  frontend::GenerateSettings generate;
};

/// A .loom file through the front end and the pass pipeline. A .lir file (IR text) is
/// parsed instead and goes through `pipeline` only (no passes when it is empty).
llvm::Expected<std::unique_ptr<ir::Module>>
compile(frontend::SourceManager &sm, const std::string &path, const CompileOptions &opts);

/// passOptions.afterPass is also called with "input" before any pass, and stopAfter ==
/// "input" runs no pass.
///
/// True when `path` names IR text rather than a model file.
bool isIRFile(const std::string &path);

/// Trims each generated sequence output of `f` ([B, N, ...], with its hint
/// "trim:<output>" = "<lengths output>") to [B, L, ...], L the longest of its rows'
/// lengths (the steps the generation loop ran), in place.
void trimGenerated(const ir::Function &f, std::vector<rt::Tensor> &outs);

} // namespace loom::api
