#include "passes/PassManager.h"

#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "passes/Passes.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>

namespace loom::passes {

const std::vector<PassInfo> &allPasses() {
  static const std::vector<PassInfo> passes = {
#define PASS(Name, Fn, Description) {Name, Description, &Fn},
#include "passes/Passes.def"
  };
  return passes;
}

const PassInfo *lookupPass(const std::string &name) {
  for (auto &p : allPasses())
    if (name == p.name)
      return &p;
  return nullptr;
}

std::vector<std::string> defaultPipeline(bool unroll) {
  if (unroll)
    return {"lower-rnn", "shape-inference", "cse", "hoist", "unroll", "cse", "dce", "fuse"};
  return {"lower-rnn", "shape-inference", "cse", "hoist", "dce", "fuse"};
}

std::vector<std::string> defaultPipeline(const ir::Module &m) {
  bool unroll = false;
  if (const ir::Function *f = m.main()) {
    auto hint = f->hints.find("unroll");
    unroll = hint != f->hints.end() && hint->second != "none" && hint->second != "1";
    // A recurrence over one step (a generation step's layer) is unrolled whatever the hint:
    // the unroll pass turns it into its body alone.
    ir::walkConst(f->body, [&](const ir::Op &op) {
      if (op.kind == ir::OpKind::Rnn && !op.operands.empty() && op.operands[0]->type.rank() >= 2 &&
          op.operands[0]->type.shape[1] == ir::Dim::constant(1))
        unroll = true;
    });
  }
  return defaultPipeline(unroll);
}

llvm::Error runPipeline(ir::Module &m, const std::vector<std::string> &pipeline,
                        const PipelineOptions &opts) {
  for (auto &name : pipeline)
    if (!lookupPass(name)) {
      std::string known;
      for (auto &p : allPasses())
        known += fmt::format("{}{}", known.empty() ? "" : ", ", p.name);
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "unknown pass '%s' (known: %s)", name.c_str(), known.c_str());
    }
  std::vector<std::pair<std::string, double>> times;
  for (auto &name : pipeline) {
    const PassInfo *p = lookupPass(name);
    auto start = std::chrono::steady_clock::now();
    auto changed = p->run(m);
    if (!changed)
      return llvm::createStringError(llvm::inconvertibleErrorCode(), "pass %s: %s", p->name,
                                     llvm::toString(changed.takeError()).c_str());
    times.emplace_back(
        name, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (opts.verifyEach)
      if (auto e = ir::verify(m))
        return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                       "internal error: IR invalid after pass %s: %s\n%s", p->name,
                                       llvm::toString(std::move(e)).c_str(), ir::print(m).c_str());
    if (opts.afterPass)
      opts.afterPass(name, m);
    if (name == opts.stopAfter)
      break;
  }
  if (opts.timePasses) {
    double total = 0;
    for (auto &[n, t] : times)
      total += t;
    fmt::print(stderr, "pass timing (total {:.3f} ms):\n", total * 1e3);
    for (auto &[n, t] : times)
      fmt::print(stderr, "  {:8.3f} ms  {}\n", t * 1e3, n);
  }
  return llvm::Error::success();
}

} // namespace loom::passes
