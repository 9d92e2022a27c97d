#pragma once
// The data side of training (loom train / loom eval, loom::Trainer): datasets checked
// against the trainer's slots before anything runs, batches cut from them, the epoch order,
// epoch means.
#include "api/Train.h"

#include "llvm/Support/Error.h"

#include <string>
#include <vector>

namespace loom::api {

/// A dataset: one array per slot, in Trainer::slots() order, all with `rows` rows.
struct Dataset {
  std::string path;
  std::vector<rt::Tensor> arrays;
  int64_t rows = 0;
};

/// Reads `path` and checks it against the slots before any training starts: every array
/// present and no other, dtypes, ranks and static dims, one row count, the same value for a
/// symbolic dim across arrays, labels of sparse losses in range.
llvm::Expected<Dataset> loadData(const std::string &path, const std::vector<DataSlot> &slots);
/// The same checks on arrays already in memory (shared, not copied); `what` begins every
/// message, as the path does for a file.
llvm::Expected<Dataset> makeDataset(const std::string &what, const rt::NamedTensors &arrays,
                                    const std::vector<DataSlot> &slots);

/// Rows order[begin..end) of every array, as new tensors.
std::vector<rt::Tensor> gather(const Dataset &d, const std::vector<int64_t> &order, int64_t begin,
                               int64_t end);

/// The batch order of one epoch: Fisher-Yates driven by splitmix64 seeded with
/// seed * 1000003 + epoch, so it depends on nothing but those two numbers.
std::vector<int64_t> epochOrder(int64_t rows, bool shuffle, uint64_t seed, int64_t epoch);

/// Sample-weighted sums of batch results, and their means.
struct Totals {
  double loss = 0;
  std::vector<double> metrics;
  int64_t rows = 0;

  void add(const BatchResult &r, int64_t n) {
    metrics.resize(r.metrics.size(), 0.0);
    loss += r.loss * (double)n;
    for (size_t i = 0; i < r.metrics.size(); ++i)
      metrics[i] += r.metrics[i] * (double)n;
    rows += n;
  }
  BatchResult mean() const {
    BatchResult r;
    r.loss = rows ? loss / (double)rows : 0;
    for (double m : metrics)
      r.metrics.push_back(rows ? m / (double)rows : 0);
    return r;
  }
};

/// Loss and metrics over a whole dataset, batch by batch.
llvm::Expected<BatchResult> evaluateAll(const Trainer &trainer, const Dataset &d,
                                        int64_t batchSize);

} // namespace loom::api
