// loom compile: a model to an object file with its C header, for linking into any program
// with libloom_runtime and oneDNN (no LLVM at run time). See docs/aot.md.
#include "tools/CompileCommand.h"

#include "api/Compiler.h"
#include "api/Weights.h"
#include "codegen/AOT.h"
#include "codegen/Target.h"
#include "runtime/FileIO.h"
#include "tools/Commands.h"

#include <fmt/format.h>

#include <cstdio>
#include <memory>

using namespace loom;

namespace {

struct CompileOptions {
  std::string file, model, weights, output, header, name, targetCpu = "native";
  bool embedWeights = false, weightsFile = false, trainStep = false;
};

/// "dir/model.o" -> "dir/model.h"
std::string headerFor(const std::string &object) {
  size_t slash = object.find_last_of('/');
  size_t dot = object.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash))
    return object + ".h";
  return object.substr(0, dot) + ".h";
}

/// Writes both files or neither: both are written and flushed under temporary names
/// first, then renamed into place one after the other. A failure leaves neither; only a
/// kill between the two renames (microseconds) could leave the new header beside the old
/// object.
int writeBoth(const std::string &object, const std::string &objectBytes, const std::string &header,
              const std::string &headerText) {
  if (object == header)
    return reportError("-o and --header name the same file '" + object + "'");
  std::string objectTmp, headerTmp;
  if (auto s = rt::stageFile(object, objectBytes.data(), objectBytes.size(), objectTmp))
    return reportError(s.message());
  if (auto s = rt::stageFile(header, headerText.data(), headerText.size(), headerTmp)) {
    rt::discardFile(objectTmp);
    return reportError(s.message());
  }
  if (auto s = rt::commitFile(headerTmp, header)) {
    rt::discardFile(objectTmp);
    return reportError(s.message());
  }
  if (auto s = rt::commitFile(objectTmp, object)) {
    std::remove(header.c_str());
    return reportError(s.message());
  }
  return 0;
}

int run(const CompileOptions &o) {
  if (o.trainStep)
    return reportError("--train-step needs training support, which is not implemented yet");
  if (auto t = codegen::resolveTarget(o.targetCpu); !t)
    return report(t.takeError());
  if (!o.name.empty())
    if (auto e = codegen::checkCName(o.name))
      return report(std::move(e));

  frontend::SourceManager sm;
  api::CompileOptions copts;
  copts.modelName = o.model;
  auto m = api::compile(sm, o.file, copts);
  if (!m)
    return report(m.takeError());
  const ir::Function &f = *(*m)->main();

  codegen::AotOptions aot;
  aot.name = o.name.empty() ? codegen::defaultCName(f.name) : o.name;
  aot.embedWeights = !o.weightsFile;
  aot.targetCpu = o.targetCpu;
  std::vector<rt::Tensor> weights;
  if (aot.embedWeights && !f.params.empty() && o.weights.empty())
    return reportError(fmt::format("model {} has {} weight(s) to embed: pass --weights FILE.npz "
                                   "(loom init makes one), or --weights-file to read them from "
                                   "an .npz at run time",
                                   f.name, f.params.size()));
  if (!o.weights.empty()) { // checked in --weights-file mode too: a mismatch shows now
    auto w = api::loadWeights(f, o.weights);
    if (!w)
      return report(w.takeError());
    if (auto e = codegen::checkWeightShapes(f, *w, o.weights))
      return report(std::move(e));
    weights = std::move(*w);
  }
  auto result = codegen::compileAOT(f, weights, aot);
  if (!result)
    return report(result.takeError());
  std::string header = o.header.empty() ? headerFor(o.output) : o.header;
  if (int rc = writeBoth(o.output, result->object, header, result->header))
    return rc;
  std::printf("%s: model %s as %s_*, weights %s, target-cpu %s\n%s: its C interface\n",
              o.output.c_str(), f.name.c_str(), aot.name.c_str(),
              aot.embedWeights ? "embedded" : "read from an .npz by create", o.targetCpu.c_str(),
              header.c_str());
  return 0;
}

} // namespace

std::function<int()> addCompileCommand(CLI::App &app) {
  auto o = std::make_shared<CompileOptions>();
  auto *cmd = app.add_subcommand("compile", "compile a model ahead of time to an object file "
                                            "and a C header");
  cmd->add_option("file", o->file, "model file (.loom) or IR text (.lir)")->required();
  cmd->add_option("--model", o->model, "which model of the file (default: its only model)");
  cmd->add_option("--weights", o->weights,
                  "weights to embed (.npz); with --weights-file, "
                  "checked against the model only");
  cmd->add_option("-o,--output", o->output, "object file to write (.o)")->required();
  cmd->add_option("--header", o->header, "C header to write (default: the object's name with .h)");
  cmd->add_option("--name", o->name, "prefix of the C identifiers (default: the model's name)");
  auto *embed = cmd->add_flag("--embed-weights", o->embedWeights,
                              "put the weights into the object's read-only data (default)");
  cmd->add_flag("--weights-file", o->weightsFile,
                "read the weights from an .npz when a context is created")
      ->excludes(embed);
  cmd->add_flag("--train-step", o->trainStep, "also compile a training step (needs training)");
  cmd->add_option("--target-cpu", o->targetCpu,
                  "native (the host, as the JIT; default), x86-64-v3 (portable AVX2) or "
                  "x86-64-v4 (portable AVX-512)");
  return [cmd, o]() { return *cmd ? run(*o) : -1; };
}
