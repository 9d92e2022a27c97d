#pragma once
// Training: a model file's `train` block (loss, optimizer, metrics) compiled into one native
// step function (forward, loss, backpropagation through time, clipping and the optimizer
// update) and an evaluation function (forward, loss, metrics), driven batch by batch.
#include "frontend/Diagnostics.h"
#include "frontend/TrainSpec.h"
#include "ir/IR.h"
#include "runtime/Npy.h"
#include "runtime/Tensor.h"

#include "llvm/Support/Error.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace loom::api {

using frontend::OptimizerSpec;
using frontend::Schedule;
/// What the train block (with command-line overrides applied) asks for: loss, metrics (in
/// the order BatchResult::metrics has them), optimizer, epochs, batch size.
using TrainConfig = frontend::TrainSpec;

/// One array of a batch: a model input or a training target.
struct DataSlot {
  std::string name;
  ir::Type type; // with the batch dim (and any other symbolic dims) as symbols
  bool target = false;
  /// For integer targets of a sparse loss: valid labels are [0, classes).
  int64_t classes = 0;
};

struct BatchResult {
  double loss = 0;
  std::vector<double> metrics; // batch means, in TrainConfig::metrics order
};

struct TrainerOptions {
  std::string modelName; // empty: the file's only model
  std::optional<int64_t> epochs, batchSize;
  std::optional<double> learningRate; // replaces the schedule's initial rate
  std::optional<int64_t> bptt;        // truncated BPTT chunk length (0: off)
  std::optional<bool> stateful;
  bool interpret = false; // use the reference interpreter (tests)
  bool compile = true;    // false: build the IR only (loom ir --stage=train)
  /// Seed of training-time randomness (dropout masks): step n's masks come from (seed, n),
  /// so a resumed run draws the same masks as an uninterrupted one.
  uint64_t seed = 1;
  /// The model's source text, compiled under the name `path` instead of reading `path`.
  std::optional<std::string> source;
};

class Trainer {
public:
  /// Reads the model file, elaborates the model and its train block, builds and compiles
  /// the step and evaluation functions. A file without a train block, an unknown loss or
  /// optimizer, or a loss that does not fit the outputs is a located error.
  static llvm::Expected<std::unique_ptr<Trainer>>
  create(frontend::SourceManager &sm, const std::string &path, const TrainerOptions &opts = {});
  ~Trainer();

  const TrainConfig &config() const;
  /// Model inputs, then targets: the arrays every batch holds, in this order.
  const std::vector<DataSlot> &slots() const;

  /// Draws Keras-initialised weights (api/Init.h) from `seed`.
  llvm::Error initWeights(uint64_t seed);
  /// Sets every weight; a missing, unknown or mis-shaped key is an error naming it.
  llvm::Error setWeights(const rt::NamedTensors &w, const std::string &what);
  rt::NamedTensors weights() const;
  /// The optimizer's state (its slots per weight, "opt/<slot>/<key>", and "opt/iterations"),
  /// for checkpoints; setState restores it exactly.
  rt::NamedTensors state() const;
  llvm::Error setState(const rt::NamedTensors &s, const std::string &what);
  int64_t iterations() const;
  /// The learning rate the next step uses: the schedule's at iterations(), or the rate
  /// setLearningRate gave, which replaces the schedule from then on (Keras's
  /// ReduceLROnPlateau and LearningRateScheduler set optimizer.learning_rate the same way).
  double learningRate() const;
  void setLearningRate(double lr);
  /// The seed of dropout masks from the next step on (TrainerOptions::seed).
  void setSeed(uint64_t seed);

  /// One optimizer step on a batch (arrays in slots() order, same leading batch size); with
  /// truncated BPTT, one step per chunk of `bptt` time steps, the recurrent state carried
  /// from chunk to chunk. Returns the batch's loss and metrics before the update (the mean
  /// over its chunks, weighted by their lengths). A non-finite loss leaves the
  /// weights and state unchanged and returns an error naming the step.
  llvm::Expected<BatchResult> step(const std::vector<rt::Tensor> &batch);
  /// Forgets the recurrent state a stateful model carries from batch to batch (call it at
  /// the start of every epoch).
  void resetStates();

  /// Loss and metrics of a batch, weights unchanged.
  llvm::Expected<BatchResult> evaluate(const std::vector<rt::Tensor> &batch) const;

  /// The IR of the step function (after the pipeline), for `loom ir --stage=train`.
  const ir::Module &stepModule() const;
  /// Scratch bytes the last training step used (its arena).
  int64_t stepScratchBytes() const;

  struct Impl;

private:
  explicit Trainer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace loom::api
