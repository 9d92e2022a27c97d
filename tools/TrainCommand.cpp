// loom train and loom eval: fit a model's train block to arrays in .npz files, batch by
// batch and epoch by epoch (Keras's fit), and evaluate trained weights on a dataset.
//
// Everything that decides the weights is a function of the flags: the initial weights of
// the seed, the batch order of (seed, epoch) through a generator written here. So a run
// repeats bit for bit (same flags, same threads), and a run resumed from a checkpoint
// (weights, optimizer state, epochs completed) ends with the same weights as one that was
// never interrupted. Timing is only ever printed.
#include "api/TrainData.h"
#include "tools/Commands.h"

#include "api/Train.h"
#include "ir/Type.h"
#include "runtime/FileIO.h"
#include "runtime/Npy.h"

#include "llvm/ADT/StringExtras.h"

#include <fmt/format.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <set>

using namespace loom;
using api::Dataset;
using api::epochOrder;
using api::evaluateAll;
using api::gather;
using api::loadData;
using api::Totals;

namespace {

llvm::Error fail(const std::string &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), llvm::Twine(msg));
}

/// Keras's progress-bar number format.
std::string num(double v) {
  return std::fabs(v) > 1e-3 ? fmt::format("{:.4f}", v) : fmt::format("{:.4e}", v);
}

// ----- Files --------------------------------------------------------------------------

/// The directory `path` would be written into must exist (checked before training).
llvm::Error checkWritable(const std::string &path, const char *flag) {
  size_t slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return fail(fmt::format("{} {}: directory '{}' does not exist", flag, path, dir));
  if (::access(dir.c_str(), W_OK) != 0)
    return fail(fmt::format("{} {}: directory '{}' is not writable", flag, path, dir));
  return llvm::Error::success();
}

/// "trained.npz" -> "trained.ckpt.npz"
std::string checkpointFor(const std::string &output) {
  size_t slash = output.find_last_of('/');
  bool npz = output.size() > 4 && output.compare(output.size() - 4, 4, ".npz") == 0 &&
             (slash == std::string::npos || slash + 4 < output.size() - 1);
  return (npz ? output.substr(0, output.size() - 4) : output) + ".ckpt.npz";
}

/// One row of the history: epoch (from 1), loss, metrics, then the validation columns.
/// Values are kept as f32, which is also how checkpoints store them, so a resumed run
/// writes the same history as an uninterrupted one.
using HistoryRow = std::vector<float>;

std::vector<std::string> historyColumns(const api::TrainConfig &cfg, bool val) {
  std::vector<std::string> cols{"epoch", "loss"};
  for (auto &m : cfg.metrics)
    cols.push_back(m);
  if (val) {
    cols.push_back("val_loss");
    for (auto &m : cfg.metrics)
      cols.push_back("val_" + m);
  }
  return cols;
}

rt::Status writeHistory(const std::string &path, const std::vector<std::string> &cols,
                        const std::vector<HistoryRow> &rows) {
  std::string text = llvm::join(cols, ",") + "\n";
  for (auto &row : rows) {
    text += fmt::format("{}", (int64_t)row[0]);
    for (size_t i = 1; i < row.size(); ++i)
      text += fmt::format(",{}", row[i]);
    text += "\n";
  }
  return rt::writeFileAtomic(path, text.data(), text.size());
}

// ----- Progress -----------------------------------------------------------------------

/// Keras-style progress on stderr: redrawn in place after each batch on a terminal,
/// one line per epoch otherwise.
class Progress {
public:
  Progress(const std::vector<std::string> &metrics)
      : metrics_(metrics), tty_(::isatty(::fileno(stderr)) != 0) {}

  void beginEpoch(int64_t epoch, int64_t epochs, int64_t batches) {
    fmt::print(stderr, "Epoch {}/{}\n", epoch + 1, epochs);
    batches_ = batches;
    start_ = lastDraw_ = std::chrono::steady_clock::now();
    width_ = 0;
  }

  void batchDone(int64_t done, int64_t rows, const api::BatchResult &mean) {
    if (!tty_ || done == batches_)
      return;
    auto now = std::chrono::steady_clock::now();
    if (now - lastDraw_ < std::chrono::milliseconds(50))
      return;
    lastDraw_ = now;
    draw(line(done, rows, mean, nullptr));
  }

  void endEpoch(int64_t rows, const api::BatchResult &mean, const api::BatchResult *val) {
    std::string text = line(batches_, rows, mean, val);
    if (tty_)
      draw(text);
    else
      fmt::print(stderr, "{}", text);
    fmt::print(stderr, "\n");
    width_ = 0;
  }

  /// Ends a line redrawn in place, before an error is printed.
  void interrupt() {
    if (width_)
      fmt::print(stderr, "\n");
    width_ = 0;
  }

private:
  std::string line(int64_t done, int64_t rows, const api::BatchResult &mean,
                   const api::BatchResult *val) const {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    constexpr int kBar = 30;
    int filled = (int)(kBar * done / std::max<int64_t>(batches_, 1));
    std::string bar(filled, '=');
    if (done < batches_) {
      if (filled > 0)
        bar.back() = '>';
      bar += std::string(kBar - filled, '.');
    }
    int digits = (int)std::to_string(batches_).size();
    std::string s = fmt::format("{:>{}}/{} [{}] - {:.1f}s - loss: {}", done, digits, batches_, bar,
                                secs, num(mean.loss));
    for (size_t i = 0; i < metrics_.size() && i < mean.metrics.size(); ++i)
      s += fmt::format(" - {}: {}", metrics_[i], num(mean.metrics[i]));
    s += fmt::format(" - {:.0f} samples/s", secs > 0 ? (double)rows / secs : 0.0);
    if (val) {
      s += fmt::format(" - val_loss: {}", num(val->loss));
      for (size_t i = 0; i < metrics_.size() && i < val->metrics.size(); ++i)
        s += fmt::format(" - val_{}: {}", metrics_[i], num(val->metrics[i]));
    }
    return s;
  }

  void draw(const std::string &text) {
    size_t pad = width_ > text.size() ? width_ - text.size() : 0;
    fmt::print(stderr, "\r{}{}", text, std::string(pad, ' '));
    width_ = text.size();
  }

  std::vector<std::string> metrics_;
  bool tty_;
  int64_t batches_ = 0;
  size_t width_ = 0;
  std::chrono::steady_clock::time_point start_, lastDraw_;
};

// ----- loom train ---------------------------------------------------------------------

struct TrainOptions {
  std::string file, model, data, val, weights, output, history, resume, checkpoint;
  int64_t epochs = 0, batchSize = 0, checkpointEvery = 0, bptt = 0;
  double learningRate = 0;
  uint64_t seed = 1;
  int threads = 0;
  bool shuffle = false, interpret = false, stateful = false;
  CLI::Option *epochsOpt = nullptr, *batchOpt = nullptr, *lrOpt = nullptr, *bpttOpt = nullptr;
  // Keras's EarlyStopping and ReduceLROnPlateau on one monitored column.
  std::string monitor = "val_loss";
  int64_t earlyStopping = 0, plateau = 0;
  double minDelta = 0, lrFactor = 0.1, minLr = 0;
  bool restoreBest = false;
};

/// Keras's EarlyStopping and ReduceLROnPlateau (their rules, as loom.callbacks has them):
/// told each epoch's value of the monitored column, says when to stop and sets the rate.
class Plateaus {
public:
  Plateaus(const TrainOptions &o, bool maximize) : o_(o), max_(maximize) {}

  /// After an epoch: updates both rules; true when training should stop.
  bool epochEnd(int64_t epoch, double value, api::Trainer &trainer) {
    if (o_.plateau > 0) {
      if (!plateauBest_ || better(value, *plateauBest_, 1e-4)) {
        plateauBest_ = value;
        plateauWait_ = 0;
      } else if (++plateauWait_ >= o_.plateau) {
        double lr = trainer.learningRate();
        if (lr > (double)(float)o_.minLr) {
          double next = std::max(lr * o_.lrFactor, o_.minLr);
          trainer.setLearningRate(next);
          fmt::print(stderr, "Epoch {}: reducing the learning rate to {}\n", epoch + 1, next);
        }
        plateauWait_ = 0;
      }
    }
    if (o_.earlyStopping <= 0)
      return false;
    if (o_.restoreBest && best_.empty())
      best_ = snapshot(trainer);
    ++wait_;
    if (!stopBest_ || better(value, *stopBest_, o_.minDelta)) {
      stopBest_ = value;
      bestEpoch_ = epoch;
      if (o_.restoreBest)
        best_ = snapshot(trainer);
      wait_ = 0;
      return false;
    }
    if (wait_ >= o_.earlyStopping && epoch > 0) {
      fmt::print(stderr, "Epoch {}: early stopping ({} has not improved since epoch {})\n",
                 epoch + 1, o_.monitor, bestEpoch_ + 1);
      return true;
    }
    return false;
  }

  /// The weights to write: the best epoch's with --restore-best-weights.
  llvm::Error restore(api::Trainer &trainer) {
    if (!o_.restoreBest || best_.empty())
      return llvm::Error::success();
    fmt::print(stderr, "restoring the weights of epoch {}\n", bestEpoch_ + 1);
    return trainer.setWeights(best_, "the best epoch's weights");
  }

private:
  bool better(double v, double ref, double delta) const {
    return max_ ? v - std::fabs(delta) > ref : v + std::fabs(delta) < ref;
  }
  static rt::NamedTensors snapshot(const api::Trainer &t) {
    rt::NamedTensors w = t.weights();
    for (auto &[k, v] : w)
      v = v.clone();
    return w;
  }

  const TrainOptions &o_;
  bool max_;
  std::optional<double> stopBest_, plateauBest_;
  int64_t wait_ = 0, plateauWait_ = 0, bestEpoch_ = 0;
  rt::NamedTensors best_;
};

/// The part of a checkpoint that is not weights or optimizer state.
struct Resumed {
  int64_t epochs = 0; // completed
  std::vector<HistoryRow> history;
};

llvm::Expected<Resumed> resume(api::Trainer &trainer, const std::string &path, size_t columns) {
  rt::NamedTensors ckpt;
  if (auto s = rt::readNpz(path, ckpt))
    return fail(s.message());
  std::set<std::string> weightKeys;
  for (auto &[k, t] : trainer.weights())
    weightKeys.insert(k);
  rt::NamedTensors weights, state;
  const rt::Tensor *epoch = nullptr, *history = nullptr;
  for (auto &[k, t] : ckpt) {
    if (k == "train/epoch")
      epoch = &t;
    else if (k == "train/history")
      history = &t;
    else if (weightKeys.count(k) || k.rfind("opt/", 0) != 0)
      weights.emplace_back(k, t);
    else
      state.emplace_back(k, t);
  }
  if (!epoch)
    return fail(fmt::format("{}: not a training checkpoint: it has no 'train/epoch' (loom train "
                            "--checkpoint-every N writes checkpoints)",
                            path));
  if (epoch->dtype() != rt::DType::I32 || epoch->numel() != 1 || epoch->i32()[0] < 0)
    return fail(fmt::format("{}: 'train/epoch' must be one non-negative integer, got {}", path,
                            epoch->describe()));
  if (state.empty())
    return fail(
        fmt::format("{}: not a training checkpoint: it has no optimizer state ('opt/...')", path));
  Resumed r;
  r.epochs = epoch->i32()[0];
  if (auto e = trainer.setWeights(weights, path))
    return llvm::Expected<Resumed>(std::move(e));
  if (auto e = trainer.setState(state, path))
    return llvm::Expected<Resumed>(std::move(e));
  if (history) {
    if (history->dtype() != rt::DType::F32 || history->rank() != 2 ||
        history->shape()[0] != r.epochs)
      return fail(fmt::format("{}: 'train/history' should be f32 ({}, {}), got {}", path, r.epochs,
                              columns, history->describe()));
    if (history->shape()[1] != (int64_t)columns)
      return fail(fmt::format("{}: its history has {} columns but this run records {} (give "
                              "--val to both runs or to neither)",
                              path, history->shape()[1], columns));
    for (int64_t i = 0; i < r.epochs; ++i)
      r.history.emplace_back(history->f32() + i * columns, history->f32() + (i + 1) * columns);
  }
  return r;
}

rt::NamedTensors checkpoint(const api::Trainer &trainer, int64_t epochs,
                            const std::vector<HistoryRow> &history, size_t columns) {
  rt::NamedTensors out = trainer.weights();
  for (auto &kv : trainer.state())
    out.push_back(kv);
  rt::Tensor epoch(rt::DType::I32, {});
  epoch.i32()[0] = (int32_t)epochs;
  out.emplace_back("train/epoch", epoch);
  rt::Tensor h(rt::DType::F32, {(int64_t)history.size(), (int64_t)columns});
  for (size_t i = 0; i < history.size(); ++i)
    std::copy(history[i].begin(), history[i].end(), h.f32() + i * columns);
  out.emplace_back("train/history", h);
  return out;
}

int runTrain(const TrainOptions &o) {
  if (o.file.empty())
    return reportError("train: no model file given (loom train MODEL.loom --data DATA.npz -o "
                       "OUT.npz)");
  if (o.data.empty())
    return reportError("train: --data FILE.npz is required (one array per model input and "
                       "training target, named as in the model)");
  if (o.output.empty())
    return reportError("train: -o FILE.npz is required (where the trained weights go)");
  if (!o.resume.empty() && !o.weights.empty())
    return reportError("train: --resume and --weights both give the starting weights; pass one");
  std::string ckptPath = o.checkpoint;
  int64_t every = o.checkpointEvery;
  if (every > 0 && ckptPath.empty())
    ckptPath = checkpointFor(o.output);
  if (!ckptPath.empty() && every == 0)
    every = 1;
  for (auto &[path, flag] : std::vector<std::pair<std::string, const char *>>{
           {o.data, "--data"}, {o.val, "--val"}, {o.weights, "--weights"}}) {
    if (!path.empty() && (path == o.output || path == ckptPath || path == o.history))
      return reportError(fmt::format("train: {} {} would be overwritten by an output", flag, path));
  }
  if (!o.history.empty() && (o.history == o.output || o.history == ckptPath))
    return reportError(fmt::format("train: --history {} is also an .npz output", o.history));
  if (!ckptPath.empty() && ckptPath == o.output)
    return reportError(fmt::format("train: the checkpoint and -o are the same file {}", o.output));
  if (auto e = checkWritable(o.output, "-o"))
    return report(std::move(e));
  if (!o.history.empty())
    if (auto e = checkWritable(o.history, "--history"))
      return report(std::move(e));
  if (!ckptPath.empty())
    if (auto e = checkWritable(ckptPath, "--checkpoint"))
      return report(std::move(e));
  if (o.threads > 0)
    setThreads(o.threads);

  api::TrainerOptions topts;
  topts.modelName = o.model;
  topts.interpret = o.interpret;
  topts.seed = o.seed;
  if (o.epochsOpt->count())
    topts.epochs = o.epochs;
  if (o.batchOpt->count())
    topts.batchSize = o.batchSize;
  if (o.lrOpt->count())
    topts.learningRate = o.learningRate;
  if (o.bpttOpt->count())
    topts.bptt = o.bptt;
  if (o.stateful)
    topts.stateful = true;
  frontend::SourceManager sm;
  auto created = api::Trainer::create(sm, o.file, topts);
  if (!created)
    return report(created.takeError());
  api::Trainer &trainer = **created;
  const api::TrainConfig &cfg = trainer.config();
  if (cfg.epochs < 1 || cfg.batchSize < 1)
    return reportError(fmt::format("train: epochs ({}) and batch size ({}) must be positive",
                                   cfg.epochs, cfg.batchSize));

  auto data = loadData(o.data, trainer.slots());
  if (!data)
    return report(data.takeError());
  std::optional<Dataset> val;
  if (!o.val.empty()) {
    auto v = loadData(o.val, trainer.slots());
    if (!v)
      return report(v.takeError());
    val = std::move(*v);
  }
  std::vector<std::string> columns = historyColumns(cfg, val.has_value());
  size_t monitored = std::find(columns.begin(), columns.end(), o.monitor) - columns.begin();
  bool watching = o.earlyStopping > 0 || o.plateau > 0;
  if (watching && (monitored == columns.size() || monitored == 0))
    return reportError(fmt::format("train: --monitor {} is not recorded; this run records {}{}",
                                   o.monitor, llvm::join(columns.begin() + 1, columns.end(), ", "),
                                   val ? "" : " (val_ columns need --val)"));
  if (o.restoreBest && o.earlyStopping <= 0)
    return reportError("train: --restore-best-weights needs --early-stopping PATIENCE");
  std::string metricName = o.monitor.rfind("val_", 0) == 0 ? o.monitor.substr(4) : o.monitor;
  bool maximize = metricName.find("acc") != std::string::npos ||
                  metricName.find("auc") != std::string::npos ||
                  metricName.find("precision") != std::string::npos ||
                  metricName.find("recall") != std::string::npos;
  Plateaus plateaus(o, maximize);

  // Starting weights (and, resuming, the optimizer state and the epochs already done).
  if (auto e = trainer.initWeights(o.seed))
    return report(std::move(e));
  int64_t firstEpoch = 0;
  std::vector<HistoryRow> history;
  std::string lastGood; // the newest file holding a state training can continue from
  int64_t lastGoodEpoch = 0;
  if (!o.weights.empty()) {
    rt::NamedTensors w;
    if (auto s = rt::readNpz(o.weights, w))
      return reportError(s.message());
    if (auto e = trainer.setWeights(w, o.weights))
      return report(std::move(e));
  } else if (!o.resume.empty()) {
    auto r = resume(trainer, o.resume, columns.size());
    if (!r)
      return report(r.takeError());
    if (r->epochs > cfg.epochs)
      return reportError(fmt::format("{}: the checkpoint is after epoch {}, but this run has {} "
                                     "epoch(s) in all (--epochs)",
                                     o.resume, r->epochs, cfg.epochs));
    firstEpoch = r->epochs;
    history = std::move(r->history);
    lastGood = o.resume;
    lastGoodEpoch = firstEpoch;
  }

  auto failed = [&](llvm::Error e) {
    int rc = report(std::move(e));
    if (!lastGood.empty())
      fmt::print(stderr,
                 "loom: note: {} holds the state after epoch {}; continue from it with "
                 "--resume {}\n",
                 lastGood, lastGoodEpoch, lastGood);
    fmt::print(stderr, "loom: note: {} was not written\n", o.output);
    return rc;
  };

  Progress progress(cfg.metrics);
  const int64_t rows = data->rows, bs = cfg.batchSize;
  const int64_t batches = (rows + bs - 1) / bs;
  if (cfg.stateful && o.shuffle)
    return reportError("--shuffle cannot be used with stateful training: the state carried "
                       "from one batch to the next belongs to the same rows");
  if (cfg.stateful && rows % bs != 0)
    return reportError(fmt::format("stateful training needs the number of rows ({}) to be a "
                                   "multiple of the batch size ({}), as in Keras",
                                   rows, bs));
  for (int64_t epoch = firstEpoch; epoch < cfg.epochs; ++epoch) {
    std::vector<int64_t> order = epochOrder(rows, o.shuffle, o.seed, epoch);
    trainer.resetStates(); // a stateful model starts every epoch from zeros
    progress.beginEpoch(epoch, cfg.epochs, batches);
    Totals totals;
    for (int64_t b = 0; b < batches; ++b) {
      int64_t begin = b * bs, end = std::min(rows, begin + bs);
      auto r = trainer.step(gather(*data, order, begin, end));
      if (!r) {
        progress.interrupt();
        return failed(fail(fmt::format("epoch {}, batch {}/{}: {}", epoch + 1, b + 1, batches,
                                       llvm::toString(r.takeError()))));
      }
      totals.add(*r, end - begin);
      progress.batchDone(b + 1, totals.rows, totals.mean());
    }
    api::BatchResult mean = totals.mean();
    std::optional<api::BatchResult> valMean;
    if (val) {
      auto v = evaluateAll(trainer, *val, bs);
      if (!v) {
        progress.interrupt();
        return failed(fail(
            fmt::format("epoch {}, validation: {}", epoch + 1, llvm::toString(v.takeError()))));
      }
      valMean = *v;
    }
    progress.endEpoch(rows, mean, valMean ? &*valMean : nullptr);

    // The epoch's values in double (what the rules compare, as Keras's logs hold them) and
    // as the history's f32 row.
    std::vector<double> exact{(double)(epoch + 1), mean.loss};
    exact.insert(exact.end(), mean.metrics.begin(), mean.metrics.end());
    if (valMean) {
      exact.push_back(valMean->loss);
      exact.insert(exact.end(), valMean->metrics.begin(), valMean->metrics.end());
    }
    exact.resize(columns.size(), NAN);
    HistoryRow row(exact.begin(), exact.end());
    history.push_back(row);
    if (!o.history.empty())
      if (auto s = writeHistory(o.history, columns, history))
        return failed(fail(s.message()));
    if (every > 0 && (epoch + 1) % every == 0) {
      if (auto s = rt::writeNpz(ckptPath, checkpoint(trainer, epoch + 1, history, columns.size())))
        return failed(fail(s.message()));
      lastGood = ckptPath;
      lastGoodEpoch = epoch + 1;
    }
    if (watching && plateaus.epochEnd(epoch, exact[monitored], trainer))
      break;
  }
  if (auto e = plateaus.restore(trainer))
    return failed(std::move(e));

  if (!o.history.empty())
    if (auto s = writeHistory(o.history, columns, history))
      return failed(fail(s.message()));
  if (auto s = rt::writeNpz(o.output, trainer.weights()))
    return failed(fail(s.message()));

  int64_t done = (int64_t)history.size();
  std::string summary = fmt::format("trained {} epoch{}", done, done == 1 ? "" : "s");
  if (!history.empty()) {
    const HistoryRow &last = history.back();
    std::vector<std::string> parts;
    for (size_t i = 1; i < columns.size(); ++i)
      parts.push_back(fmt::format("{} {}", columns[i], num(last[i])));
    summary += ": " + llvm::join(parts, ", ");
  }
  fmt::print("{}, wrote {}\n", summary, o.output);
  return 0;
}

// ----- loom eval ----------------------------------------------------------------------

struct EvalOptions {
  std::string file, model, weights, data;
  int64_t batchSize = 0;
  int threads = 0;
  bool interpret = false;
  CLI::Option *batchOpt = nullptr;
};

int runEval(const EvalOptions &o) {
  if (o.file.empty())
    return reportError("eval: no model file given (loom eval MODEL.loom --weights W.npz --data "
                       "DATA.npz)");
  if (o.weights.empty())
    return reportError("eval: --weights FILE.npz is required (loom train writes one)");
  if (o.data.empty())
    return reportError("eval: --data FILE.npz is required (one array per model input and "
                       "target, named as in the model)");
  if (o.threads > 0)
    setThreads(o.threads);
  api::TrainerOptions topts;
  topts.modelName = o.model;
  topts.interpret = o.interpret;
  if (o.batchOpt->count())
    topts.batchSize = o.batchSize;
  frontend::SourceManager sm;
  auto created = api::Trainer::create(sm, o.file, topts);
  if (!created)
    return report(created.takeError());
  api::Trainer &trainer = **created;
  if (trainer.config().batchSize < 1)
    return reportError(
        fmt::format("eval: the batch size ({}) must be positive", trainer.config().batchSize));
  auto data = loadData(o.data, trainer.slots());
  if (!data)
    return report(data.takeError());
  rt::NamedTensors w;
  if (auto s = rt::readNpz(o.weights, w))
    return reportError(s.message());
  if (auto e = trainer.setWeights(w, o.weights))
    return report(std::move(e));
  auto r = evaluateAll(trainer, *data, trainer.config().batchSize);
  if (!r)
    return report(r.takeError());
  fmt::print("loss: {:.6g}\n", r->loss);
  for (size_t i = 0; i < trainer.config().metrics.size() && i < r->metrics.size(); ++i)
    fmt::print("{}: {:.6g}\n", trainer.config().metrics[i], r->metrics[i]);
  return 0;
}

} // namespace

std::function<int()> addTrainCommands(CLI::App &app) {
  auto t = std::make_shared<TrainOptions>();
  auto *train = app.add_subcommand(
      "train", "train a model with its train block on .npz data; writes the trained weights");
  train->add_option("file", t->file, "model file (.loom) with a train block");
  train->add_option("--model", t->model, "which model of the file (default: its only model)");
  train->add_option("--data", t->data,
                    "training data (.npz): one array per model input and target, by name");
  train->add_option("--val", t->val, "validation data (.npz, same arrays), evaluated each epoch");
  train->add_option("--weights", t->weights,
                    "starting weights (.npz; default: Keras initialisers drawn from --seed)");
  train->add_option("-o,--output", t->output, "where to write the trained weights (.npz)");
  t->epochsOpt = train->add_option("--epochs", t->epochs, "epochs (default: the train block's)")
                     ->check(positiveCount());
  t->batchOpt =
      train->add_option("--batch-size", t->batchSize, "rows per batch (default: the train block's)")
          ->check(positiveCount());
  t->bpttOpt = train
                   ->add_option("--bptt", t->bptt,
                                "truncated backpropagation through time: one optimizer step per "
                                "chunk of this many time steps, the state carried across chunks")
                   ->check(positiveCount());
  train->add_flag("--stateful", t->stateful,
                  "carry the recurrent state from batch to batch (reset every epoch)");
  train->add_flag("--shuffle", t->shuffle,
                  "shuffle the rows every epoch (a function of --seed and the epoch)");
  train->add_option("--seed", t->seed, "seed of the initial weights and the shuffling (default 1)");
  train
      ->add_option("--threads", t->threads,
                   "threads for oneDNN (default: OMP_NUM_THREADS, else "
                   "all cores)")
      ->check(positiveCount());
  t->lrOpt = train
                 ->add_option("--learning-rate", t->learningRate,
                              "the optimizer's (initial) learning rate, instead of the train "
                              "block's")
                 ->check(CLI::PositiveNumber);
  train->add_option("--history", t->history,
                    "write loss and metrics per epoch to this CSV (rewritten after every epoch)");
  train
      ->add_option("--checkpoint-every", t->checkpointEvery,
                   "write a checkpoint (weights, optimizer state, epoch) every N epochs")
      ->check(positiveCount());
  train->add_option("--checkpoint", t->checkpoint,
                    "the checkpoint file (default: <output>.ckpt.npz; alone: every epoch)");
  train->add_option("--resume", t->resume, "continue from a checkpoint, after its last epoch");
  train->add_flag("--interpret", t->interpret, "use the reference interpreter (slow; for tests)");
  train
      ->add_option("--early-stopping", t->earlyStopping,
                   "stop when --monitor has not improved for this many epochs (Keras's "
                   "EarlyStopping)")
      ->check(CLI::PositiveNumber);
  train->add_option("--monitor", t->monitor,
                    "the history column --early-stopping and --reduce-lr-on-plateau watch "
                    "(default val_loss; *acc*, *auc*, *precision*, *recall* are maximised)");
  train->add_option("--min-delta", t->minDelta,
                    "the least change of --monitor that counts as an improvement (default 0)");
  train->add_flag("--restore-best-weights", t->restoreBest,
                  "with --early-stopping, write the weights of the best epoch");
  train
      ->add_option("--reduce-lr-on-plateau", t->plateau,
                   "multiply the learning rate by --lr-factor when --monitor has not improved "
                   "for this many epochs (Keras's ReduceLROnPlateau)")
      ->check(CLI::PositiveNumber);
  train->add_option("--lr-factor", t->lrFactor, "see --reduce-lr-on-plateau (default 0.1)")
      ->check(CLI::Range(0.0, 1.0));
  train->add_option("--min-lr", t->minLr, "the least learning rate (default 0)");

  auto e = std::make_shared<EvalOptions>();
  auto *eval = app.add_subcommand(
      "eval", "loss and metrics of trained weights on .npz data (the model's train block)");
  eval->add_option("file", e->file, "model file (.loom) with a train block");
  eval->add_option("--model", e->model, "which model of the file (default: its only model)");
  eval->add_option("--weights", e->weights, "the weights to evaluate (.npz)");
  eval->add_option("--data", e->data, "the data (.npz): one array per model input and target");
  e->batchOpt =
      eval->add_option("--batch-size", e->batchSize, "rows per batch (default: the train block's)")
          ->check(positiveCount());
  eval->add_option("--threads", e->threads, "threads for oneDNN")->check(positiveCount());
  eval->add_flag("--interpret", e->interpret, "use the reference interpreter (slow; for tests)");

  return [train, eval, t, e]() {
    if (*train)
      return runTrain(*t);
    if (*eval)
      return runEval(*e);
    return -1;
  };
}
