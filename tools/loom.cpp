// The loom command line: a thin client of api/.
#include "api/Compiler.h"
#include "api/Init.h"
#include "api/Train.h"
#include "api/Weights.h"
#include "codegen/JIT.h"
#include "ir/Interpreter.h"
#include "ir/Printer.h"
#include "runtime/Limits.h"
#include "runtime/Npy.h"
#include "tools/Commands.h"
#include "tools/CompileCommand.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <omp.h>

#include <cstdio>
#include <cstdlib>

using namespace loom;

int report(llvm::Error e) {
  std::string msg = llvm::toString(std::move(e));
  // Located errors already start with "file:line:col: error:"; others get a prefix.
  if (msg.find("error:") == std::string::npos)
    msg = "loom: error: " + msg;
  while (!msg.empty() && msg.back() == '\n')
    msg.pop_back();
  fmt::print(stderr, "{}\n", msg);
  return 1;
}

void setThreads(int n) {
  // OpenMP may have started already (oneDNN starts it when the tool loads), so setting
  // OMP_NUM_THREADS here would be too late.
  omp_set_num_threads(n);
}

int reportError(const std::string &msg) {
  return report(llvm::createStringError(llvm::inconvertibleErrorCode(), msg));
}

llvm::Expected<std::vector<rt::Tensor>> weightsFlag(const ir::Function &f,
                                                    const std::string &path) {
  if (f.params.empty() && path.empty())
    return std::vector<rt::Tensor>{};
  if (path.empty())
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "model %s has %zu weight(s): pass --weights FILE.npz (loom init makes one)", f.name.c_str(),
        f.params.size());
  return api::loadWeights(f, path);
}

llvm::Expected<rt::NamedTensors>
inputFlags(const std::string &npz, const std::vector<std::string> &specs, std::string &what) {
  rt::NamedTensors given;
  what = "--input";
  if (!npz.empty()) {
    if (auto s = rt::readNpz(npz, given))
      return llvm::createStringError(llvm::inconvertibleErrorCode(), s.message());
    what = npz;
  }
  for (auto &spec : specs) {
    auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0)
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "--input takes NAME=FILE.npy, got '%s'", spec.c_str());
    rt::Tensor t;
    if (auto s = rt::readNpy(spec.substr(eq + 1), t))
      return llvm::createStringError(llvm::inconvertibleErrorCode(), s.message());
    given.emplace_back(spec.substr(0, eq), t);
  }
  return given;
}

llvm::Expected<std::vector<rt::Tensor>> runFunction(const ir::Function &f,
                                                    const std::vector<rt::Tensor> &inputs,
                                                    const std::vector<rt::Tensor> &params,
                                                    bool interpret, const std::string &targetCpu) {
  llvm::Expected<std::vector<rt::Tensor>> outs = std::vector<rt::Tensor>{};
  if (interpret) {
    outs = ir::interpret(f, inputs, params);
  } else {
    codegen::Options cg;
    cg.targetCpu = targetCpu;
    auto compiled = codegen::CompiledFunction::compile(f, cg);
    if (!compiled)
      return compiled.takeError();
    outs = (*compiled)->run(inputs, params);
  }
  if (outs)
    api::trimGenerated(f, *outs);
  return outs;
}

namespace {

int reportStatus(const rt::Status &s) { return reportError(s.message()); }

struct Common {
  std::string file;
  std::string model;
  std::string unroll; // empty: the model's own unroll(...) statement, else none
};

} // namespace

CLI::Validator positiveCount() {
  return CLI::Validator(
      [](std::string &v) -> std::string {
        int64_t n = 0;
        if (!llvm::StringRef(v).getAsInteger(10, n) && n >= 1)
          return "";
        return "must be a whole number of 1 or more, got '" + v + "'";
      },
      "N >= 1");
}

CLI::Validator unrollValidator() {
  return CLI::Validator(
      [](std::string &v) -> std::string {
        if (v == "none" || v == "full")
          return "";
        int64_t n = 0;
        if (!llvm::StringRef(v).getAsInteger(10, n) && n >= 1) {
          if (n == 1)
            v = "none";
          return "";
        }
        return "'" + v + "' is not none, full or a step count (1 or more)";
      },
      "none|full|N");
}

namespace {

void addCommon(CLI::App *cmd, Common &c) {
  cmd->add_option("file", c.file, "model file (.loom) or IR text (.lir)")->required();
  cmd->add_option("--model", c.model, "which model of the file (default: its only model)");
  cmd->add_option("--unroll", c.unroll, kUnrollHelp)->check(unrollValidator());
}

llvm::Expected<std::unique_ptr<ir::Module>> compileModel(frontend::SourceManager &sm,
                                                         const Common &c) {
  api::CompileOptions opts;
  opts.modelName = c.model;
  opts.unroll = c.unroll;
  return api::compile(sm, c.file, opts);
}

int cmdCheck(const Common &c) {
  frontend::SourceManager sm;
  auto m = compileModel(sm, c);
  if (!m)
    return report(m.takeError());
  const ir::Function &f = *(*m)->main();
  fmt::print("OK: model {}\n", f.name);
  for (unsigned i = 0; i < f.numInputs; ++i)
    fmt::print("  input  {}: {}\n", f.input(i)->name, f.input(i)->type.str());
  for (size_t i = 0; i < f.outputNames.size(); ++i)
    fmt::print("  output {}: {}\n", f.outputNames[i], f.returnOp()->operands[i]->type.str());
  int64_t count = 0;
  for (unsigned i = 0; i < f.params.size(); ++i) {
    int64_t n = 1;
    for (auto &d : f.param(i)->type.shape)
      n *= d.value();
    count += n;
  }
  fmt::print("  {} weight tensor(s), {} parameter(s)\n", f.params.size(), count);
  return 0;
}

int cmdIr(const Common &c, const std::string &after, bool printAfterAll, bool timePasses,
          const std::string &passList, const std::string &format, const std::string &emit,
          const std::string &stage) {
  if (format != "text" && format != "dot")
    return report(
        llvm::createStringError(llvm::inconvertibleErrorCode(), "--format must be text or dot"));
  frontend::SourceManager sm;
  if (stage == "train") {
    // The training step: forward, loss, backpropagation, clipping and the update, optimised.
    if (!after.empty() || printAfterAll || !passList.empty() || !emit.empty())
      return reportError("--stage=train prints the optimised training step; it cannot be "
                         "combined with --after, --print-after-all, --passes or --emit");
    api::TrainerOptions topts;
    topts.modelName = c.model;
    topts.compile = false;
    auto t = api::Trainer::create(sm, c.file, topts);
    if (!t)
      return report(t.takeError());
    const ir::Module &m = (*t)->stepModule();
    fmt::print("{}", format == "dot" ? ir::printDot(m) : ir::print(m));
    return 0;
  }
  api::CompileOptions opts;
  opts.modelName = c.model;
  opts.unroll = c.unroll;
  opts.passOptions.timePasses = timePasses;
  if (!passList.empty()) {
    std::string cur;
    for (char ch : passList + ",") {
      if (ch == ',') {
        if (!cur.empty())
          opts.pipeline.push_back(cur);
        cur.clear();
      } else {
        cur += ch;
      }
    }
  }
  if (!after.empty()) {
    if (!passes::lookupPass(after) && after != "input")
      return report(llvm::createStringError(llvm::inconvertibleErrorCode(), "unknown pass '%s'",
                                            after.c_str()));
    opts.passOptions.stopAfter = after;
  }
  auto show = [&](const ir::Module &m) {
    std::string text = format == "dot" ? ir::printDot(m) : ir::print(m);
    fmt::print("{}", text);
  };
  bool shown = false;
  opts.passOptions.afterPass = [&](const std::string &pass, const ir::Module &m) {
    if (printAfterAll) {
      fmt::print("// ----- IR after {} -----\n", pass);
      show(m);
    } else if (pass == after) {
      show(m);
      shown = true;
    }
  };
  auto m = api::compile(sm, c.file, opts);
  if (!m)
    return report(m.takeError());
  if (!emit.empty()) {
    if (emit != "llvm" && emit != "llvm-opt")
      return report(llvm::createStringError(llvm::inconvertibleErrorCode(),
                                            "--emit must be llvm or llvm-opt"));
    auto text = codegen::emitLLVMIR(*(*m)->main(), emit == "llvm-opt");
    if (!text)
      return report(text.takeError());
    fmt::print("{}", *text);
    return 0;
  }
  if (!printAfterAll && !shown)
    show(**m);
  return 0;
}

int cmdInit(const Common &c, const std::string &out, uint64_t seed) {
  frontend::SourceManager sm;
  auto m = compileModel(sm, c);
  if (!m)
    return report(m.takeError());
  auto weights = api::initWeights(*(*m)->main(), seed);
  if (!weights)
    return report(weights.takeError());
  if (auto s = rt::writeNpz(out, *weights))
    return reportStatus(s);
  for (auto &[k, t] : *weights)
    fmt::print("{}: {}\n", k, t.describe());
  return 0;
}

int cmdRun(const Common &c, const std::string &weightsPath, const std::vector<std::string> &inputs,
           const std::string &inputsNpz, const std::string &out, bool interpret,
           const std::string &targetCpu) {
  frontend::SourceManager sm;
  auto m = compileModel(sm, c);
  if (!m)
    return report(m.takeError());
  const ir::Function &f = *(*m)->main();

  auto params = weightsFlag(f, weightsPath);
  if (!params)
    return report(params.takeError());
  std::string what;
  auto given = inputFlags(inputsNpz, inputs, what);
  if (!given)
    return report(given.takeError());
  auto in = api::matchInputs(f, *given, what);
  if (!in)
    return report(in.takeError());
  auto outs = runFunction(f, *in, *params, interpret, targetCpu);
  if (!outs)
    return report(outs.takeError());
  rt::NamedTensors named;
  for (size_t i = 0; i < outs->size(); ++i) {
    named.emplace_back(f.outputNames[i], (*outs)[i]);
    fmt::print("{}: {}\n", f.outputNames[i], (*outs)[i].describe());
  }
  if (auto s = rt::writeNpz(out, named))
    return reportStatus(s);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"loom: a compiler for sequence models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "loom 0.1");
  // Before or after the subcommand: `loom run ... --max-memory 4G`.
  app.fallthrough();
  std::string maxMemory;
  app.add_option("--max-memory", maxMemory,
                 "the most memory one call, file or set of weights may take: bytes, or with "
                 "K, M, G or T (powers of 1024), e.g. 4G (default: the machine's memory)")
      ->check(CLI::Validator(
          [](std::string &s) -> std::string {
            int64_t b;
            return rt::parseBytes(s, b) ? "" : "'" + s + "' is not a size like 4G, 512M or 1000000";
          },
          "SIZE"));

  Common check, ir, init, run;
  auto *cCheck = app.add_subcommand("check", "parse and type/shape-check a model; prints OK or "
                                             "diagnostics");
  addCommon(cCheck, check);

  auto *cIr = app.add_subcommand("ir", "print the IR of a model (or of IR text)");
  addCommon(cIr, ir);
  std::string after, passList, format = "text", emit;
  bool printAfterAll = false, timePasses = false;
  cIr->add_option("--after", after,
                  "print the IR after this pass and stop ('input': before "
                  "any pass)");
  cIr->add_flag("--print-after-all", printAfterAll, "print the IR after every pass");
  cIr->add_flag("--time-passes", timePasses, "print how long each pass took (to stderr)");
  cIr->add_option("--passes", passList,
                  "comma-separated pass pipeline (for .lir input: "
                  "default none; for .loom: default pipeline)");
  cIr->add_option("--format", format, "text or dot (Graphviz)");
  cIr->add_option("--emit", emit, "llvm or llvm-opt: print the generated LLVM IR instead");
  std::string stage = "inference";
  cIr->add_option("--stage", stage,
                  "inference (the model) or train (its train block's training step)")
      ->check(CLI::IsMember({"inference", "train"}));

  auto *cInit = app.add_subcommand("init", "write Keras-initialised weights to an .npz");
  addCommon(cInit, init);
  std::string initOut;
  uint64_t seed = 0;
  cInit->add_option("-o,--output", initOut, "weights file to write (.npz)")->required();
  cInit->add_option("--seed", seed, "random seed (same seed, same weights)");

  auto *cRun = app.add_subcommand("run", "JIT-compile a model and run it on .npy inputs");
  addCommon(cRun, run);
  std::string weights, runOut;
  std::vector<std::string> inputs;
  bool interpret = false;
  cRun->add_option("--weights", weights, "weights (.npz, keys <binding>/<param>)");
  std::string inputsNpz;
  cRun->add_option("--input", inputs, "NAME=FILE.npy, once per model input");
  cRun->add_option("--inputs", inputsNpz, "an .npz holding one array per model input, by name");
  cRun->add_option("-o,--output", runOut, "where to write the outputs (.npz)")->required();
  cRun->add_flag("--interpret", interpret, "use the reference interpreter instead of the JIT");
  std::string targetCpu;
  cRun->add_option("--target-cpu", targetCpu,
                   "the CPU to compile for: native (default, or $LOOM_TARGET_CPU), x86-64-v3 "
                   "(AVX2) or x86-64-v4 (AVX-512); the host must run it");
  int threads = 0;
  cRun->add_option("--threads", threads,
                   "threads for oneDNN's matrix products (default: "
                   "OMP_NUM_THREADS, else all cores)")
      ->check(positiveCount());

  auto bench = addBenchCommand(app);
  auto compile = addCompileCommand(app);
  auto train = addTrainCommands(app);
  auto python = addPythonCommands(app);
  auto generate = addGenerateCommand(app);

  // CLI11 reports `loom frobnicate` as "A subcommand is required"; name the word instead.
  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    std::string names;
    for (const CLI::App *c : app.get_subcommands({})) {
      known |= c->get_name() == argv[1];
      names += (names.empty() ? "" : ", ") + c->get_name();
    }
    if (!known)
      return reportError(fmt::format("unknown command '{}' (the commands: {})", argv[1], names));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    return app.exit(e);
  }
  if (!maxMemory.empty()) {
    int64_t bytes = 0;
    rt::parseBytes(maxMemory, bytes);
    rt::setMemoryLimit(bytes);
  }
  if (*cCheck)
    return cmdCheck(check);
  if (*cIr)
    return cmdIr(ir, after, printAfterAll, timePasses, passList, format, emit, stage);
  if (*cInit)
    return cmdInit(init, initOut, seed);
  if (*cRun && threads > 0)
    setThreads(threads);
  if (*cRun)
    return cmdRun(run, weights, inputs, inputsNpz, runOut, interpret, targetCpu);
  if (int rc = bench(); rc >= 0)
    return rc;
  if (int rc = compile(); rc >= 0)
    return rc;
  if (int rc = train(); rc >= 0)
    return rc;
  if (int rc = python(); rc >= 0)
    return rc;
  if (int rc = generate(); rc >= 0)
    return rc;
  return 0;
}
