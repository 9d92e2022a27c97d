#pragma once
// Running passes in order, with verification and printing between them.
#include "ir/IR.h"

#include "llvm/Support/Error.h"

#include <functional>
#include <string>
#include <vector>

namespace loom::passes {

struct PassInfo {
  const char *name;
  const char *description;
  llvm::Expected<bool> (*run)(ir::Module &);
};

const std::vector<PassInfo> &allPasses();
const PassInfo *lookupPass(const std::string &name);
/// lower-rnn, shape-inference, cse, hoist, dce, fuse; with `unroll`, loops with a static
/// step count are unrolled after hoisting (then cse again).
/// The default pipeline; with `unroll` it has the unroll pass (full or partial unrolling,
/// as the function's "unroll" hint says).
std::vector<std::string> defaultPipeline(bool unroll = false);
/// The default pipeline for `m`: with the unroll pass when its main function's "unroll"
/// hint (the model's unroll(...) statement, or --unroll) asks for full or partial unrolling.
std::vector<std::string> defaultPipeline(const ir::Module &m);

struct PipelineOptions {
  bool verifyEach = true;
  bool timePasses = false;
  /// Called after each pass that ran (changed or not) with its name, when set.
  std::function<void(const std::string &pass, const ir::Module &)> afterPass;
  /// Stop after this pass (empty: run all).
  std::string stopAfter;
};

/// Runs `pipeline` on `m`. Unknown pass names and verifier failures are errors naming the
/// pass. With timePasses, a table of per-pass times goes to stderr.
llvm::Error runPipeline(ir::Module &m, const std::vector<std::string> &pipeline,
                        const PipelineOptions &opts);

} // namespace loom::passes
