// The C++ embedding API (loom/loom.h) over the driver, the JIT and the runtime.
// llvm::Error and rt::Status become loom::Error here, each with the code of the stage that
// failed; no exception leaves a public function (each body runs under guard()).
#include "api/LoomInternal.h"

#include "api/Compiler.h"
#include "api/Init.h"
#include "api/Weights.h"
#include "codegen/JIT.h"
#include "frontend/Elaborate.h"
#include "ir/Bind.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>

namespace loom {

TensorInfo infoOf(const std::string &name, const ir::Type &t) {
  TensorInfo info;
  info.name = name;
  info.dtype = t.dtype == ir::DType::F32 ? DType::F32 : DType::I32;
  for (const ir::Dim &d : t.shape) {
    Dim dim;
    if (d.isStatic())
      dim.size = d.value();
    else
      dim.symbol = d.str();
    info.shape.push_back(dim);
  }
  return info;
}

namespace {

frontend::GenerateSettings generateSettings(const GenerateOptions &g) {
  frontend::GenerateSettings s;
  s.maxLength = g.maxLength;
  s.sample = g.sample;
  s.temperature = g.temperature;
  s.topP = g.topP;
  s.repetitionPenalty = g.repetitionPenalty;
  s.topK = g.topK;
  s.endToken = g.endToken;
  s.beams = g.beams;
  s.lengthPenalty = g.lengthPenalty;
  return s;
}

/// Source text through the front end and the pass pipeline, as api::compile does for a file.
Result<std::unique_ptr<ir::Module>> compileText(const std::string &name, std::string text,
                                                const CompileOptions &opts) {
  frontend::SourceManager sm;
  frontend::GenerateSettings gen = generateSettings(opts.generate);
  auto m = frontend::compileSource(sm, name, std::move(text), opts.model, nullptr,
                                   gen.any() ? &gen : nullptr);
  if (!m)
    return fromLLVM(m.takeError(), ErrorCode::Compile);
  if (auto e = ir::verify(**m))
    return fromLLVM(std::move(e), ErrorCode::Compile, name + ": ");
  // The default honours the model's unroll(full) / unroll(N) statement, as `loom` does.
  std::vector<std::string> pipeline =
      opts.passes.empty() ? passes::defaultPipeline(**m) : opts.passes;
  if (auto e = passes::runPipeline(**m, pipeline, passes::PipelineOptions()))
    return fromLLVM(std::move(e), ErrorCode::Compile);
  return std::move(*m);
}

/// The weight `key` of type `want` against a tensor given for it; the message is the one
/// ir::bindSymbols gives for an input.
Error checkWeight(const std::string &key, const ir::Type &want, const rt::Tensor &got,
                  const std::string &where) {
  std::string why;
  if (got.dtype() != want.dtype)
    why = fmt::format("element type is {}", rt::dtypeName(got.dtype()));
  else if (got.rank() != want.rank())
    why = fmt::format("rank is {}, expected {}", got.rank(), want.rank());
  for (int64_t i = 0; why.empty() && i < want.rank(); ++i)
    if (want.shape[i].isStatic() && want.shape[i].value() != got.shape()[i])
      why = fmt::format("dim {} is {}, expected {}", i, got.shape()[i], want.shape[i].value());
  if (why.empty())
    return Error::success();
  return Error(ErrorCode::Weights, fmt::format("{}weight '{}': expected {}, got {} ({})", where,
                                               key, want.str(), got.describe(), why));
}

} // namespace

struct Model::Impl {
  std::unique_ptr<ir::Module> module;
  const ir::Function *fn = nullptr;
  std::unique_ptr<codegen::CompiledFunction> compiled;
  int64_t maxMemory = 0; // CompileOptions::maxMemory
  std::vector<TensorInfo> inputs, outputs, weights;
  std::vector<std::string> symbols;

  // Runs take a reference to the current set under the mutex and use it unlocked, so a
  // new set can be installed while calls are in flight.
  struct WeightSet {
    std::vector<rt::Tensor> values;
    std::vector<bool> given;
    /// The layouts the compiled code made from these values (padded, packed), kept for
    /// every later call with them. A copy starts without: it is made to be changed.
    std::unique_ptr<rt::PreparedWeights> prepared = std::make_unique<rt::PreparedWeights>();
    WeightSet() = default;
    WeightSet(const WeightSet &o) : values(o.values), given(o.given) {}
  };
  mutable std::mutex weightsMutex;
  std::shared_ptr<const WeightSet> current;

  std::shared_ptr<const WeightSet> weightSet() const {
    std::lock_guard<std::mutex> lock(weightsMutex);
    return current;
  }
  void install(std::shared_ptr<const WeightSet> s) {
    std::lock_guard<std::mutex> lock(weightsMutex);
    current = std::move(s);
  }

  /// Every weight of the model from `values` (matched to parameters already), checked.
  Error installAll(std::vector<rt::Tensor> values, const std::string &where) {
    for (size_t i = 0; i < values.size(); ++i)
      if (Error e = checkWeight(fn->params[i].key, fn->param(i)->type, values[i], where))
        return e;
    auto s = std::make_shared<WeightSet>();
    s->values = std::move(values);
    s->given.assign(s->values.size(), true);
    install(std::move(s));
    return Error::success();
  }
};

namespace {

Result<std::unique_ptr<Model::Impl>> makeModel(std::unique_ptr<ir::Module> m,
                                               const CompileOptions &opts) {
  auto impl = std::make_unique<Model::Impl>();
  impl->fn = m->main();
  if (!impl->fn)
    return Error(ErrorCode::Compile, "the file defines no model");
  const ir::Function &f = *impl->fn;
  if (opts.optLevel > 3)
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("optLevel is {}; it must be 0 to 3", opts.optLevel));
  codegen::Options cg;
  cg.optLevel = opts.optLevel;
  cg.targetCpu = opts.targetCpu;
  auto compiled = codegen::CompiledFunction::compile(f, cg);
  if (!compiled)
    return fromLLVM(compiled.takeError(), ErrorCode::Compile);
  impl->compiled = std::move(*compiled);
  if (opts.maxMemory < 0)
    return Error(
        ErrorCode::InvalidArgument,
        fmt::format("maxMemory is {}; it must be 0 (no limit of its own) or more", opts.maxMemory));
  impl->maxMemory = opts.maxMemory;
  impl->compiled->setMemoryLimit(opts.maxMemory);
  for (unsigned i = 0; i < f.numInputs; ++i)
    impl->inputs.push_back(infoOf(f.input(i)->name, f.input(i)->type));
  for (size_t i = 0; i < f.outputNames.size(); ++i)
    impl->outputs.push_back(infoOf(f.outputNames[i], f.returnOp()->operands[i]->type));
  for (unsigned i = 0; i < f.params.size(); ++i)
    impl->weights.push_back(infoOf(f.params[i].key, f.param(i)->type));
  impl->symbols = ir::symbolOrder(f);
  auto none = std::make_shared<Model::Impl::WeightSet>();
  none->values.resize(f.params.size());
  none->given.assign(f.params.size(), false);
  impl->current = std::move(none);
  impl->module = std::move(m);
  return impl;
}

} // namespace

Result<Model> Model::fromFile(const std::string &path, const CompileOptions &opts) {
  return guard<Model>([&]() -> Result<Model> {
    // The driver reports an unreadable file too, but as a compile error; this is IO.
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
      return Error(ErrorCode::IO, fmt::format("cannot read '{}': it is a directory", path));
    if (!std::ifstream(path, std::ios::binary))
      return Error(ErrorCode::IO, fmt::format("cannot read '{}'", path));
    // The tool's path: a .loom file, or IR text (.lir).
    api::CompileOptions co;
    co.modelName = opts.model;
    co.pipeline = opts.passes;
    co.generate = generateSettings(opts.generate);
    frontend::SourceManager sm;
    auto m = api::compile(sm, path, co);
    if (!m)
      return fromLLVM(m.takeError(), ErrorCode::Compile);
    auto impl = makeModel(std::move(*m), opts);
    if (!impl)
      return impl.error();
    return Model(std::move(*impl));
  });
}

Result<Model> Model::fromSource(const std::string &source, const CompileOptions &opts,
                                const std::string &sourceName) {
  return guard<Model>([&]() -> Result<Model> {
    auto m = compileText(sourceName, source, opts);
    if (!m)
      return m.error();
    auto impl = makeModel(std::move(*m), opts);
    if (!impl)
      return impl.error();
    return Model(std::move(*impl));
  });
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model &&) noexcept = default;
Model &Model::operator=(Model &&) noexcept = default;
Model::~Model() = default;

const std::string &Model::name() const { return impl_->fn->name; }
const std::vector<TensorInfo> &Model::inputs() const { return impl_->inputs; }
const std::vector<TensorInfo> &Model::outputs() const { return impl_->outputs; }
const std::vector<TensorInfo> &Model::weights() const { return impl_->weights; }
const std::vector<std::string> &Model::symbols() const { return impl_->symbols; }
double Model::compileSeconds() const { return impl_->compiled->compileSeconds(); }

Result<std::string> Model::graphDot() const {
  return guard<std::string>([&]() -> Result<std::string> { return ir::printDot(*impl_->module); });
}

Error Model::loadWeights(const std::string &npzPath) {
  return guardError([&]() -> Error {
    rt::NamedTensors stored;
    if (rt::Status s = rt::readNpz(npzPath, stored))
      return Error(ErrorCode::IO, s.message());
    auto matched = api::matchWeights(*impl_->fn, stored, npzPath);
    if (!matched)
      return fromLLVM(matched.takeError(), ErrorCode::Weights);
    return impl_->installAll(std::move(*matched), npzPath + ": ");
  });
}

Error Model::setWeights(const std::vector<NamedView> &weights) {
  return guardError([&]() -> Error {
    rt::NamedTensors given;
    for (const NamedView &w : weights) {
      auto t = copyToRt(w.view, "weight '" + w.name + "'");
      if (!t)
        return t.error();
      given.emplace_back(w.name, *t);
    }
    auto matched = api::matchWeights(*impl_->fn, given, "weights");
    if (!matched)
      return fromLLVM(matched.takeError(), ErrorCode::Weights);
    return impl_->installAll(std::move(*matched), "");
  });
}

Error Model::setWeight(const std::string &key, const TensorView &value) {
  return guardError([&]() -> Error {
    const ir::Function &f = *impl_->fn;
    size_t i = 0;
    while (i < f.params.size() && f.params[i].key != key)
      ++i;
    if (i == f.params.size())
      return Error(ErrorCode::Weights,
                   fmt::format("'{}' is not a weight of model {}", key, f.name));
    auto t = copyToRt(value, "weight '" + key + "'");
    if (!t)
      return t.error();
    if (Error e = checkWeight(key, f.param(i)->type, *t, ""))
      return e;
    // Copy-on-write: calls in flight keep the set they started with.
    std::lock_guard<std::mutex> lock(impl_->weightsMutex);
    auto next = std::make_shared<Impl::WeightSet>(*impl_->current);
    next->values[i] = *t;
    next->given[i] = true;
    impl_->current = std::move(next);
    return Error::success();
  });
}

Error Model::initWeights(uint64_t seed) {
  return guardError([&]() -> Error {
    auto named = api::initWeights(*impl_->fn, seed, impl_->maxMemory);
    if (!named)
      return fromLLVM(named.takeError(), ErrorCode::Weights);
    auto matched = api::matchWeights(*impl_->fn, *named, "initialised weights");
    if (!matched)
      return fromLLVM(matched.takeError(), ErrorCode::Internal);
    return impl_->installAll(std::move(*matched), "");
  });
}

bool Model::hasWeights() const {
  auto s = impl_->weightSet();
  for (bool g : s->given)
    if (!g)
      return false;
  return true;
}

Result<std::vector<NamedTensor>> Model::weightValues() const {
  return guard<std::vector<NamedTensor>>([&]() -> Result<std::vector<NamedTensor>> {
    auto s = impl_->weightSet();
    std::vector<NamedTensor> out;
    for (size_t i = 0; i < s->values.size(); ++i) {
      if (!s->given[i])
        return Error(ErrorCode::Weights,
                     fmt::format("weight '{}' has no value yet", impl_->fn->params[i].key));
      out.push_back({impl_->fn->params[i].key, TensorAccess::wrap(s->values[i].clone())});
    }
    return out;
  });
}

Result<std::vector<NamedTensor>> Model::run(const std::vector<NamedView> &inputs) const {
  return guard<std::vector<NamedTensor>>([&]() -> Result<std::vector<NamedTensor>> {
    const ir::Function &f = *impl_->fn;
    std::vector<rt::Tensor> in(f.numInputs);
    std::vector<bool> seen(f.numInputs, false);
    for (const NamedView &nv : inputs) {
      unsigned i = 0;
      while (i < f.numInputs && f.input(i)->name != nv.name)
        ++i;
      if (i == f.numInputs)
        return Error(ErrorCode::Input,
                     fmt::format("'{}' is not an input of model {} (its inputs: {})", nv.name,
                                 f.name, signatureList(impl_->inputs)));
      if (seen[i])
        return Error(ErrorCode::Input, fmt::format("input '{}' given twice", nv.name));
      auto t = borrowToRt(nv.view, "input '" + nv.name + "'");
      if (!t)
        return t.error();
      in[i] = *t;
      seen[i] = true;
    }
    for (unsigned i = 0; i < f.numInputs; ++i)
      if (!seen[i])
        return Error(ErrorCode::Input, fmt::format("missing input '{}' ({})", f.input(i)->name,
                                                   f.input(i)->type.str()));
    auto weights = impl_->weightSet();
    for (size_t i = 0; i < weights->given.size(); ++i)
      if (!weights->given[i])
        return Error(ErrorCode::Weights,
                     fmt::format("weight '{}' has no value: load the weights first "
                                 "(loadWeights, setWeights or initWeights)",
                                 f.params[i].key));
    // Shapes are checked here (and again by the JIT) so that their errors get Input's code.
    auto bound = ir::bindSymbols(f, in, weights->values);
    if (!bound)
      return fromLLVM(bound.takeError(), ErrorCode::Input);
    for (size_t i = 0; i < f.outputNames.size(); ++i)
      for (const ir::Dim &d : f.returnOp()->operands[i]->type.shape) {
        std::optional<int64_t> n = ir::evalDim(d, *bound);
        if (!n || *n < 0)
          return Error(ErrorCode::Input,
                       fmt::format("output '{}' ({}) has no valid size for these inputs ({} is "
                                   "{})",
                                   f.outputNames[i], f.returnOp()->operands[i]->type.str(), d.str(),
                                   n ? std::to_string(*n) : "undefined"));
      }
    auto outs = impl_->compiled->run(in, weights->values, weights->prepared.get());
    if (!outs)
      return fromLLVM(outs.takeError(), ErrorCode::Runtime);
    api::trimGenerated(f, *outs);
    std::vector<NamedTensor> named;
    for (size_t i = 0; i < outs->size(); ++i)
      named.push_back({f.outputNames[i], TensorAccess::wrap((*outs)[i])});
    return named;
  });
}

} // namespace loom
