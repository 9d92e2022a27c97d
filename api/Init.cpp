#include "api/Init.h"

#include "runtime/Limits.h"
#include "runtime/Random.h"

#include <cmath>
#include <vector>

namespace loom::api {

namespace {

/// xoshiro256** seeded through splitmix64: small, fast, and the same everywhere.
class Rng {
public:
  explicit Rng(uint64_t seed) {
    for (auto &w : s_)
      w = rt::random::mix64(seed += rt::random::kGolden);
  }
  uint64_t next() {
    uint64_t r = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return r;
  }
  /// Uniform in [0, 1).
  double uniform() { return (double)(next() >> 11) * 0x1.0p-53; }
  /// Standard normal (Box-Muller).
  double normal() {
    double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }
  /// Standard normal truncated to [-2, 2], as Keras's truncated_normal.
  double truncatedNormal() {
    for (;;) {
      double z = normal();
      if (std::fabs(z) <= 2.0)
        return z;
    }
  }

private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

uint64_t hashKey(const std::string &s) {
  uint64_t h = 1469598103934665603ull; // FNV-1a
  for (unsigned char c : s)
    h = (h ^ c) * 1099511628211ull;
  return h;
}

/// Keras's _compute_fans.
void fans(const std::vector<int64_t> &shape, double &fanIn, double &fanOut) {
  if (shape.empty()) {
    fanIn = fanOut = 1;
  } else if (shape.size() == 1) {
    fanIn = fanOut = (double)shape[0];
  } else if (shape.size() == 2) {
    fanIn = (double)shape[0];
    fanOut = (double)shape[1];
  } else {
    double receptive = 1;
    for (size_t i = 0; i + 2 < shape.size(); ++i)
      receptive *= (double)shape[i];
    fanIn = (double)shape[shape.size() - 2] * receptive;
    fanOut = (double)shape.back() * receptive;
  }
}

/// Keras's Orthogonal(gain=1): QR of a normal matrix, signs fixed so that R has a positive
/// diagonal (modified Gram-Schmidt gives exactly that Q).
void orthogonal(rt::Tensor &t, Rng &rng) {
  int64_t cols = t.shape().back(), rows = t.numel() / std::max<int64_t>(cols, 1);
  int64_t m = std::max(rows, cols), n = std::min(rows, cols);
  std::vector<double> a(m * n); // column-major m x n
  for (auto &v : a)
    v = rng.normal();
  for (int64_t j = 0; j < n; ++j) {
    double *qj = &a[j * m];
    for (int64_t k = 0; k < j; ++k) {
      const double *qk = &a[k * m];
      double dot = 0;
      for (int64_t i = 0; i < m; ++i)
        dot += qk[i] * qj[i];
      for (int64_t i = 0; i < m; ++i)
        qj[i] -= dot * qk[i];
    }
    double norm = 0;
    for (int64_t i = 0; i < m; ++i)
      norm += qj[i] * qj[i];
    norm = std::sqrt(norm);
    for (int64_t i = 0; i < m; ++i)
      qj[i] /= norm;
  }
  // q is m x n; the result is rows x cols: q itself when rows >= cols, else q transposed.
  float *out = t.f32();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      out[r * cols + c] = (float)(rows >= cols ? a[c * m + r] : a[r * m + c]);
}

} // namespace

llvm::Error initTensor(rt::Tensor &t, const std::string &name, uint64_t seed) {
  Rng rng(seed);
  double fanIn, fanOut;
  fans(t.shape(), fanIn, fanOut);
  float *p = t.f32();
  int64_t n = t.numel();
  auto uniform = [&](double limit) {
    for (int64_t i = 0; i < n; ++i)
      p[i] = (float)((2.0 * rng.uniform() - 1.0) * limit);
  };
  // Keras's VarianceScaling with a truncated normal divides by this constant, the stddev of
  // a standard normal truncated to [-2, 2].
  auto truncated = [&](double variance) {
    double stddev = std::sqrt(variance) / 0.87962566103423978;
    for (int64_t i = 0; i < n; ++i)
      p[i] = (float)(rng.truncatedNormal() * stddev);
  };
  if (name == "zeros") {
    for (int64_t i = 0; i < n; ++i)
      p[i] = 0;
  } else if (name == "ones") {
    for (int64_t i = 0; i < n; ++i)
      p[i] = 1;
  } else if (name == "glorot_uniform") {
    uniform(std::sqrt(6.0 / (fanIn + fanOut)));
  } else if (name == "glorot_normal") {
    truncated(2.0 / (fanIn + fanOut));
  } else if (name == "he_uniform") {
    uniform(std::sqrt(6.0 / fanIn));
  } else if (name == "he_normal") {
    truncated(2.0 / fanIn);
  } else if (name == "lecun_uniform") {
    uniform(std::sqrt(3.0 / fanIn));
  } else if (name == "lecun_normal") {
    truncated(1.0 / fanIn);
  } else if (name == "uniform") {
    uniform(0.05); // Keras's RandomUniform default, used by Embedding
  } else if (name == "unit_forget_bias") {
    // An LSTM bias [4U]: zeros with the forget gate's block (gate order i, f, c, o) at one.
    int64_t u = n / 4;
    for (int64_t i = 0; i < n; ++i)
      p[i] = i >= u && i < 2 * u ? 1.0f : 0.0f;
  } else if (name == "orthogonal") {
    if (t.rank() < 2)
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "the orthogonal initializer needs a weight of rank 2 or more");
    orthogonal(t, rng);
  } else {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), "unknown initializer '%s'",
                                   name.c_str());
  }
  return llvm::Error::success();
}

llvm::Expected<rt::NamedTensors> initWeights(const ir::Function &f, uint64_t seed,
                                             int64_t maxMemory) {
  // units=1000000000 is a valid model; its weights are an error here, before allocating.
  uint64_t total = 0, largest = 0;
  std::string largestKey;
  for (unsigned i = 0; i < f.params.size(); ++i) {
    uint64_t bytes = 4;
    for (auto &d : f.param(i)->type.shape)
      if (__builtin_mul_overflow(bytes, (uint64_t)d.value(), &bytes))
        bytes = UINT64_MAX;
    if (bytes > largest)
      largest = bytes, largestKey = "'" + f.params[i].key + "' " + f.param(i)->type.str();
    if (__builtin_add_overflow(total, bytes, &total))
      total = UINT64_MAX;
  }
  if (rt::Status s = rt::checkMemory("initialising the weights (the largest: " + largestKey + ", " +
                                         rt::bytesStr(largest) + ")",
                                     total, maxMemory))
    return llvm::createStringError(llvm::inconvertibleErrorCode(), s.message());
  rt::NamedTensors out;
  for (unsigned i = 0; i < f.params.size(); ++i) {
    const ir::Type &ty = f.param(i)->type;
    std::vector<int64_t> shape;
    for (auto &d : ty.shape) {
      assert(d.isStatic() && "weights have static shapes");
      shape.push_back(d.value());
    }
    rt::Tensor t(ty.dtype, shape);
    if (auto e = initTensor(t, f.params[i].init, seed ^ hashKey(f.params[i].key)))
      return llvm::createStringError(llvm::inconvertibleErrorCode(), "weight '%s': %s",
                                     f.params[i].key.c_str(), llvm::toString(std::move(e)).c_str());
    out.emplace_back(f.params[i].key, std::move(t));
  }
  return out;
}

} // namespace loom::api
