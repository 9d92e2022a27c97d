// loom bench: compile time and per-call time of a compiled model, on random inputs and
// weights drawn with loom init's initialisers.
#include "tools/Commands.h"

#include "api/Compiler.h"
#include "api/Init.h"
#include "api/Train.h"
#include "codegen/JIT.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

using namespace loom;

namespace {

struct BenchOptions {
  std::string file, model, passes, unroll, targetCpu;
  int64_t batch = 32, time = 12;
  int threads = 1, iters = 50, warmup = 5;
  bool json = false, train = false;
};

/// A random tensor of `type` with B and T set: f32 in [-1, 1); i32 ids 0 and 1 (they fit
/// every vocabulary), lengths T, labels below `classes` when given.
llvm::Expected<rt::Tensor> randomInput(const std::string &name, const ir::Type &type,
                                       const BenchOptions &o, uint64_t &state,
                                       int64_t classes = 0) {
  std::vector<int64_t> shape;
  for (auto &d : type.shape) {
    if (d.isStatic())
      shape.push_back(d.value());
    else if (d.isSymbol() && d.symbol() == "B")
      shape.push_back(o.batch);
    else if (d.isSymbol() && d.symbol() == "T")
      shape.push_back(o.time);
    else
      return llvm::createStringError(
          llvm::inconvertibleErrorCode(),
          fmt::format("input '{}': bench sets only the symbols B and T, not {}", name, d.str()));
  }
  rt::Tensor t(type.dtype, shape);
  for (int64_t j = 0; j < t.numel(); ++j) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    double u = (double)(state >> 11) * 0x1.0p-53;
    if (t.dtype() == rt::DType::F32)
      t.f32()[j] = (float)(2 * u - 1);
    else if (name == "lengths")
      t.i32()[j] = (int32_t)o.time;
    else
      t.i32()[j] = (int32_t)(u * (classes > 0 ? (double)classes : 2.0));
  }
  return t;
}

void printTimes(const BenchOptions &o, const std::string &name, double compileMs,
                std::vector<double> &ms, int64_t scratch) {
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) {
    return ms[std::min(ms.size() - 1, (size_t)(p * (ms.size() - 1) + 0.5))];
  };
  const char *what = o.train ? "step" : "call";
  if (o.json)
    fmt::print("{{\"compile_ms\": {:.3f}, \"median_ms\": {:.4f}, \"p10_ms\": {:.4f}, "
               "\"p90_ms\": {:.4f}, \"scratch_bytes\": {}}}\n",
               compileMs, pct(0.5), pct(0.1), pct(0.9), scratch);
  else
    fmt::print("{}{}: B={} T={} threads={}\n  compile  {:.1f} ms\n  per {} median {:.3f} ms "
               "(p10 {:.3f}, p90 {:.3f}) over {} {}s\n  scratch  {:.2f} MiB per {}\n",
               name, o.train ? " (training step)" : "", o.batch, o.time, o.threads, compileMs, what,
               pct(0.5), pct(0.1), pct(0.9), o.iters, what, (double)scratch / (1 << 20), what);
}

/// --train: the model's train block compiled into its step function (forward, loss,
/// backpropagation through time, update), timed step by step on one random batch. The
/// compile time includes building both the step and the evaluation function.
int runTrain(const BenchOptions &o) {
  frontend::SourceManager sm;
  api::TrainerOptions topts;
  topts.modelName = o.model;
  auto start = std::chrono::steady_clock::now();
  auto trainer = api::Trainer::create(sm, o.file, topts);
  if (!trainer)
    return report(trainer.takeError());
  double compileMs =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (auto e = (*trainer)->initWeights(1))
    return report(std::move(e));
  uint64_t state = 12345;
  std::vector<rt::Tensor> batch;
  for (auto &slot : (*trainer)->slots()) {
    auto t = randomInput(slot.name, slot.type, o, state, slot.classes);
    if (!t)
      return report(t.takeError());
    batch.push_back(std::move(*t));
  }
  std::vector<double> ms;
  for (int i = 0; i < o.warmup + o.iters; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = (*trainer)->step(batch);
    auto t1 = std::chrono::steady_clock::now();
    if (!r)
      return report(r.takeError());
    if (i >= o.warmup)
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  printTimes(o, (*trainer)->stepModule().main()->name, compileMs, ms,
             (*trainer)->stepScratchBytes());
  return 0;
}

int run(const BenchOptions &o) {
  setThreads(o.threads);
  if (o.train)
    return runTrain(o);
  frontend::SourceManager sm;
  api::CompileOptions copts;
  copts.modelName = o.model;
  copts.unroll = o.unroll;
  for (size_t pos = 0; pos < o.passes.size();) {
    size_t comma = o.passes.find(',', pos);
    if (comma == std::string::npos)
      comma = o.passes.size();
    if (comma > pos)
      copts.pipeline.push_back(o.passes.substr(pos, comma - pos));
    pos = comma + 1;
  }
  auto m = api::compile(sm, o.file, copts);
  if (!m)
    return report(m.takeError());
  const ir::Function &f = *(*m)->main();
  auto named = api::initWeights(f, 1);
  if (!named)
    return report(named.takeError());
  std::vector<rt::Tensor> weights;
  for (auto &[k, t] : *named)
    weights.push_back(t);

  std::vector<rt::Tensor> inputs;
  uint64_t state = 12345;
  for (unsigned i = 0; i < f.numInputs; ++i) {
    auto t = randomInput(f.input(i)->name, f.input(i)->type, o, state);
    if (!t)
      return report(t.takeError());
    inputs.push_back(std::move(*t));
  }

  auto start = std::chrono::steady_clock::now();
  codegen::Options cg;
  cg.targetCpu = o.targetCpu;
  auto compiled = codegen::CompiledFunction::compile(f, cg);
  if (!compiled)
    return report(compiled.takeError());
  double compileMs =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

  std::vector<double> ms;
  // As a loaded model does (loom::Model, AOT contexts): the weights' prepared layouts are
  // made by the first call and kept.
  rt::PreparedWeights prepared;
  for (int i = 0; i < o.warmup + o.iters; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto out = (*compiled)->run(inputs, weights, &prepared);
    auto t1 = std::chrono::steady_clock::now();
    if (!out)
      return report(out.takeError());
    if (i >= o.warmup)
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  printTimes(o, f.name, compileMs, ms, (*compiled)->scratchBytes());
  return 0;
}

} // namespace

std::function<int()> addBenchCommand(CLI::App &app) {
  auto o = std::make_shared<BenchOptions>();
  auto *cmd = app.add_subcommand("bench", "time a compiled model: compile time and per-call "
                                          "median, p10, p90");
  cmd->add_option("file", o->file, "model file (.loom)")->required();
  cmd->add_option("--model", o->model, "which model of the file");
  cmd->add_option("--batch", o->batch, "batch size B (default 32)")->check(positiveCount());
  cmd->add_option("--time", o->time, "sequence length T (default 12)")->check(positiveCount());
  cmd->add_option("--threads", o->threads, "threads for oneDNN (default 1)")
      ->check(positiveCount());
  cmd->add_option("--iters", o->iters, "timed calls (default 50)")->check(positiveCount());
  cmd->add_option("--warmup", o->warmup, "untimed calls first (default 5)");
  cmd->add_option("--target-cpu", o->targetCpu,
                  "native (default, or $LOOM_TARGET_CPU), x86-64-v3 or x86-64-v4");
  cmd->add_flag("--json", o->json, "one line of JSON");
  cmd->add_option("--unroll", o->unroll, kUnrollHelp)->check(unrollValidator());
  cmd->add_option("--passes", o->passes,
                  "comma-separated pass pipeline instead of the default (to compare passes)");
  cmd->add_flag("--train", o->train,
                "time a training step (the model's train block: forward, loss, backpropagation "
                "through time and the update in one compiled function)");
  return [cmd, o]() { return *cmd ? run(*o) : -1; };
}
