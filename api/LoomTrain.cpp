// loom::Trainer (loom/loom.h) over api::Trainer, the driver `loom train` uses, and the
// dataset checks of api/TrainData.h. Batches are borrowed views, checked as a whole dataset
// is; errors become loom::Error with the code of what was wrong (Compile, IO, Weights,
// Input, Runtime), and no exception leaves a public function.
#include "api/LoomInternal.h"

#include "api/Train.h"
#include "api/TrainData.h"
#include "runtime/Npy.h"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>

namespace loom {

struct Trainer::Impl {
  std::unique_ptr<frontend::SourceManager> sm; // the buffers its messages point into
  std::unique_ptr<api::Trainer> trainer;
  std::vector<TensorInfo> inputs, targets, weights;
  std::string optimizer;

  /// Named views as the driver's batch: borrowed, in slot order, checked as a dataset.
  Result<api::Dataset> batch(const std::vector<NamedView> &views, const std::string &what) const {
    rt::NamedTensors arrays;
    for (const NamedView &nv : views) {
      auto t = borrowToRt(nv.view, "array '" + nv.name + "'");
      if (!t)
        return t.error();
      for (auto &[name, other] : arrays)
        if (name == nv.name)
          return Error(ErrorCode::Input, fmt::format("{}: array '{}' given twice", what, nv.name));
      arrays.emplace_back(nv.name, *t);
    }
    auto d = api::makeDataset(what, arrays, trainer->slots());
    if (!d)
      return fromLLVM(d.takeError(), ErrorCode::Input);
    return std::move(*d);
  }
};

namespace {

BatchResult publicResult(const api::BatchResult &r) { return {r.loss, r.metrics}; }

Result<Trainer> create(const std::string &path, const TrainOptions &opts,
                       std::optional<std::string> source,
                       const std::function<Trainer(std::unique_ptr<Trainer::Impl>)> &make) {
  api::TrainerOptions o;
  o.modelName = opts.model;
  o.epochs = opts.epochs;
  o.batchSize = opts.batchSize;
  o.learningRate = opts.learningRate;
  o.bptt = opts.bptt;
  o.stateful = opts.stateful;
  o.seed = opts.seed;
  o.source = std::move(source);
  if (opts.epochs && *opts.epochs < 1)
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("epochs is {}; it must be at least 1", *opts.epochs));
  if (opts.batchSize && *opts.batchSize < 1)
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("batch size is {}; it must be at least 1", *opts.batchSize));
  if (opts.learningRate && !(*opts.learningRate > 0 && std::isfinite(*opts.learningRate)))
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("learning rate is {}; it must be positive", *opts.learningRate));
  auto impl = std::make_unique<Trainer::Impl>();
  impl->sm = std::make_unique<frontend::SourceManager>();
  auto t = api::Trainer::create(*impl->sm, path, o);
  if (!t)
    return fromLLVM(t.takeError(), ErrorCode::Compile);
  impl->trainer = std::move(*t);
  for (const api::DataSlot &s : impl->trainer->slots())
    (s.target ? impl->targets : impl->inputs).push_back(infoOf(s.name, s.type));
  for (auto &[key, value] : impl->trainer->weights()) {
    TensorInfo info;
    info.name = key;
    info.dtype = value.dtype() == rt::DType::F32 ? DType::F32 : DType::I32;
    for (int64_t d : value.shape())
      info.shape.push_back(Dim{d, ""});
    impl->weights.push_back(info);
  }
  impl->optimizer = impl->trainer->config().optimizer.kind;
  return make(std::move(impl));
}

} // namespace

Result<Trainer> Trainer::fromFile(const std::string &path, const TrainOptions &opts) {
  return guard<Trainer>([&]() -> Result<Trainer> {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
      return Error(ErrorCode::IO, fmt::format("cannot read '{}': it is a directory", path));
    if (!std::ifstream(path, std::ios::binary))
      return Error(ErrorCode::IO, fmt::format("cannot read '{}'", path));
    return create(path, opts, std::nullopt,
                  [](std::unique_ptr<Impl> impl) { return Trainer(std::move(impl)); });
  });
}

Result<Trainer> Trainer::fromSource(const std::string &source, const TrainOptions &opts,
                                    const std::string &sourceName) {
  return guard<Trainer>([&]() -> Result<Trainer> {
    return create(sourceName, opts, source,
                  [](std::unique_ptr<Impl> impl) { return Trainer(std::move(impl)); });
  });
}

Trainer::Trainer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Trainer::Trainer(Trainer &&) noexcept = default;
Trainer &Trainer::operator=(Trainer &&) noexcept = default;
Trainer::~Trainer() = default;

const std::vector<TensorInfo> &Trainer::inputs() const { return impl_->inputs; }
const std::vector<TensorInfo> &Trainer::targets() const { return impl_->targets; }
const std::vector<TensorInfo> &Trainer::weights() const { return impl_->weights; }
const std::string &Trainer::lossName() const { return impl_->trainer->config().loss; }
const std::vector<std::string> &Trainer::metricNames() const {
  return impl_->trainer->config().metrics;
}
const std::string &Trainer::optimizerName() const { return impl_->optimizer; }
int64_t Trainer::epochs() const { return impl_->trainer->config().epochs; }
int64_t Trainer::batchSize() const { return impl_->trainer->config().batchSize; }
int64_t Trainer::iterations() const { return impl_->trainer->iterations(); }
double Trainer::learningRate() const { return impl_->trainer->learningRate(); }

Error Trainer::setLearningRate(double lr) {
  if (!(lr > 0 && std::isfinite(lr)))
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("learning rate is {}; it must be positive and finite", lr));
  impl_->trainer->setLearningRate(lr);
  return Error::success();
}

void Trainer::setSeed(uint64_t seed) { impl_->trainer->setSeed(seed); }

Error Trainer::initWeights(uint64_t seed) {
  return guardError([&]() -> Error {
    if (auto e = impl_->trainer->initWeights(seed))
      return fromLLVM(std::move(e), ErrorCode::Weights);
    return Error::success();
  });
}

Error Trainer::loadWeights(const std::string &npzPath) {
  return guardError([&]() -> Error {
    rt::NamedTensors stored;
    if (rt::Status s = rt::readNpz(npzPath, stored))
      return Error(ErrorCode::IO, s.message());
    if (auto e = impl_->trainer->setWeights(stored, npzPath))
      return fromLLVM(std::move(e), ErrorCode::Weights);
    return Error::success();
  });
}

Error Trainer::setWeights(const std::vector<NamedView> &weights) {
  return guardError([&]() -> Error {
    rt::NamedTensors given;
    for (const NamedView &w : weights) {
      auto t = copyToRt(w.view, "weight '" + w.name + "'");
      if (!t)
        return t.error();
      given.emplace_back(w.name, *t);
    }
    if (auto e = impl_->trainer->setWeights(given, "weights"))
      return fromLLVM(std::move(e), ErrorCode::Weights);
    return Error::success();
  });
}

Result<std::vector<NamedTensor>> Trainer::weightValues() const {
  return guard<std::vector<NamedTensor>>([&]() -> Result<std::vector<NamedTensor>> {
    std::vector<NamedTensor> out;
    for (auto &[key, value] : impl_->trainer->weights())
      out.push_back({key, TensorAccess::wrap(value.clone())});
    return out;
  });
}

Result<int64_t> Trainer::checkData(const std::vector<NamedView> &data,
                                   const std::string &what) const {
  return guard<int64_t>([&]() -> Result<int64_t> {
    auto d = impl_->batch(data, what);
    if (!d)
      return d.error();
    return d->rows;
  });
}

Result<BatchResult> Trainer::trainBatch(const std::vector<NamedView> &batch) {
  return guard<BatchResult>([&]() -> Result<BatchResult> {
    auto d = impl_->batch(batch, "batch");
    if (!d)
      return d.error();
    auto r = impl_->trainer->step(d->arrays);
    if (!r)
      return fromLLVM(r.takeError(), ErrorCode::Runtime);
    return publicResult(*r);
  });
}

Result<BatchResult> Trainer::evaluateBatch(const std::vector<NamedView> &batch) const {
  return guard<BatchResult>([&]() -> Result<BatchResult> {
    auto d = impl_->batch(batch, "batch");
    if (!d)
      return d.error();
    auto r = impl_->trainer->evaluate(d->arrays);
    if (!r)
      return fromLLVM(r.takeError(), ErrorCode::Runtime);
    return publicResult(*r);
  });
}

void Trainer::resetStates() { impl_->trainer->resetStates(); }

std::vector<int64_t> epochOrder(int64_t rows, bool shuffle, uint64_t seed, int64_t epoch) {
  return api::epochOrder(std::max<int64_t>(rows, 0), shuffle, seed, epoch);
}

} // namespace loom
