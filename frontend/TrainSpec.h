#pragma once
// What a model file's `train` block declares, besides the loss and metrics themselves (which
// become IR): the optimizer, its learning-rate schedule, clipping, epochs and batch size.
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace loom::frontend {

/// A learning-rate schedule, evaluated on the host before each step (Keras's formulas;
/// `step` counts optimizer steps from 0).
struct Schedule {
  std::string kind = "constant"; // constant | exponential_decay | cosine_decay
  double initial = 0.001;
  double decaySteps = 1, decayRate = 1, alpha = 0;
  bool staircase = false;
  double at(int64_t step) const {
    double s = (double)step;
    if (kind == "exponential_decay") {
      double p = s / decaySteps;
      if (staircase)
        p = std::floor(p);
      return initial * std::pow(decayRate, p);
    }
    if (kind == "cosine_decay") {
      double p = std::min(s, decaySteps) / decaySteps;
      double c = 0.5 * (1 + std::cos(M_PI * p));
      return initial * ((1 - alpha) * c + alpha);
    }
    return initial;
  }
};

struct OptimizerSpec {
  std::string kind = "rmsprop"; // sgd | adam | adamw | rmsprop (Keras's compile() default)
  Schedule learningRate;
  double momentum = 0, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-7, rho = 0.9;
  double weightDecay = 0.004; // adamw only
  bool nesterov = false, centered = false;
  double clipnorm = 0, clipvalue = 0, globalClipnorm = 0; // 0: off (at most one is set)
};

struct TrainSpec {
  /// Set by the caller: whether layers run in training mode (dropout drops, batch_norm uses
  /// the batch's statistics and updates its moving ones; training() is true). False
  /// elaborates the same loss and metrics with inference-mode layers (Keras's evaluate()).
  bool trainingMode = true;
  std::vector<std::string> targets; // the block's targets: inputs after the model's
  std::string loss;                 // the loss function's name, for messages
  std::vector<std::string> metrics; // names, in the order of the function's outputs 1...
  OptimizerSpec optimizer;
  int64_t epochs = 1, batchSize = 32;
  /// Truncated backpropagation through time: chunks of `bptt` steps (0: the whole sequence),
  /// the recurrent state carried from chunk to chunk without backpropagating into it.
  int64_t bptt = 0;
  /// Keras's stateful: the recurrent state is carried from batch to batch too (reset at the
  /// start of each epoch); batches must then all have the same size.
  bool stateful = false;
  /// Integer targets used as labels of a sparse loss or metric: name -> number of classes.
  std::map<std::string, int64_t> targetClasses;
};

} // namespace loom::frontend
