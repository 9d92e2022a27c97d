#pragma once
// The `sample` op's draw: one token per row of logits, as Hugging Face's generate() with
// do_sample=True chooses it (temperature, then top-k, then top-p, then a categorical draw),
// from a counter-based uniform number, so that a row's token is a pure function of
// (seed, step, stream, row) on any thread count. loom_rt_sample applies it to each row, for
// generated code and the interpreter alike, so both give the same tokens bit for bit.
#include "runtime/Random.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace loom::rt::sampling {

/// The uniform number of row `row` at generation step `step` of the op with `stream`.
inline float uniform(int32_t seed, int32_t step, int64_t stream, uint64_t row) {
  return random::uniform(random::seed(seed, step, stream), row);
}

/// One draw from `logits[0..V)` (V >= 1) with uniform number `u` in [0, 1):
/// - every logit divided by `temperature` (> 0);
/// - `topK` >= 1 keeps the topK largest (ties: the lower index first), 0 keeps all;
/// - `topP` in (0, 1) keeps, in order of decreasing probability, the tokens before which
///   less than `topP` of the probability lies (the smallest set holding at least topP; at
///   least one token), 1 keeps all;
/// - the token is the first kept index, in index order, at which the cumulative
///   probability (renormalised over the kept tokens) exceeds u.
/// A NaN logit counts as the largest (so it is chosen, as argmax would). `order` is scratch.
inline int32_t drawRow(const float *logits, int64_t V, float u, double temperature, int64_t topK,
                       double topP, std::vector<int32_t> &order) {
  auto scaled = [&](int64_t i) { return (double)logits[i] / temperature; };
  for (int64_t i = 0; i < V; ++i)
    if (std::isnan(logits[i]))
      return (int32_t)i;
  order.resize((size_t)V);
  for (int64_t i = 0; i < V; ++i)
    order[(size_t)i] = (int32_t)i;
  int64_t kept = V;
  bool ranked = (topK > 0 && topK < V) || topP < 1.0;
  auto before = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  if (ranked) {
    if (topK > 0 && topK < V) {
      std::partial_sort(order.begin(), order.begin() + topK, order.end(), before);
      kept = topK;
    } else {
      std::sort(order.begin(), order.end(), before);
    }
  }
  double mx = scaled(order[0]);
  if (!ranked)
    for (int64_t i = 1; i < V; ++i)
      mx = std::max(mx, scaled(i));
  if (!std::isfinite(mx)) { // all -inf, or an inf: the first largest, as argmax
    if (ranked)
      return order[0];
    for (int64_t i = 0; i < V; ++i)
      if (scaled(i) == mx)
        return (int32_t)i;
  }
  double total = 0;
  for (int64_t j = 0; j < kept; ++j)
    total += std::exp(scaled(order[(size_t)j]) - mx);
  if (topP < 1.0) {
    double mass = 0;
    int64_t n = 0;
    while (n < kept && (n == 0 || mass < topP * total)) {
      mass += std::exp(scaled(order[(size_t)n]) - mx);
      ++n;
    }
    kept = n;
    total = mass;
  }
  // Index order for the draw: the kept tokens, sorted by index.
  if (ranked)
    std::sort(order.begin(), order.begin() + kept);
  double target = (double)u * total, cum = 0;
  for (int64_t j = 0; j < kept; ++j) {
    cum += std::exp(scaled(order[(size_t)j]) - mx);
    if (cum > target)
      return order[(size_t)j];
  }
  return order[(size_t)kept - 1]; // rounding: the last kept token
}

} // namespace loom::rt::sampling
