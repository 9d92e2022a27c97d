// loom_rt_conv1d and loom_rt_max_pool1d and their gradients against naive loops, their
// primitive cache and concurrent use, and loom_rt_range_error's message.
#include "runtime/Kernels.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace loom::rt {
// Defined in runtime/Conv.cpp for tests; not part of the C ABI.
size_t conv1dCacheSize();
size_t maxPool1dCacheSize();
size_t conv1dGradCacheSize();
} // namespace loom::rt

using namespace loom::rt;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

struct ConvShape {
  int64_t B, T, C, F, K, stride, dilation, padL, padR;
  int64_t tout() const {
    int64_t room = T + padL + padR - (K == 0 ? 0 : dilation * (K - 1) + 1);
    return room < 0 ? 0 : room / stride + 1;
  }
};

std::string describe(const ConvShape &s) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "B=%lld T=%lld C=%lld F=%lld K=%lld s=%lld d=%lld pad=%lld/%lld",
                (long long)s.B, (long long)s.T, (long long)s.C, (long long)s.F, (long long)s.K,
                (long long)s.stride, (long long)s.dilation, (long long)s.padL, (long long)s.padR);
  return buf;
}

std::vector<float> randomVector(std::mt19937 &rng, size_t n, float lo = -1, float hi = 1) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float &f : v)
    f = dist(rng);
  return v;
}

/// y[b, t, f] = sum_{k, c} x[b, t*stride - padL + k*dilation, c] * w[k, c, f], in double.
std::vector<float> naiveConv(const ConvShape &s, const std::vector<float> &x,
                             const std::vector<float> &w) {
  int64_t Tout = s.tout();
  std::vector<float> y((size_t)(s.B * Tout * s.F));
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t t = 0; t < Tout; ++t)
      for (int64_t f = 0; f < s.F; ++f) {
        double acc = 0;
        for (int64_t k = 0; k < s.K; ++k) {
          int64_t ti = t * s.stride - s.padL + k * s.dilation;
          if (ti < 0 || ti >= s.T)
            continue;
          for (int64_t c = 0; c < s.C; ++c)
            acc += (double)x[(b * s.T + ti) * s.C + c] * w[(k * s.C + c) * s.F + f];
        }
        y[(b * Tout + t) * s.F + f] = (float)acc;
      }
  return y;
}

/// Runs loom_rt_conv1d on random data; returns the number of mismatches (and reports the
/// first few through gtest, which is thread-safe).
int checkConv(CallContext &ctx, const ConvShape &s, std::mt19937 &rng) {
  auto x = randomVector(rng, (size_t)(s.B * s.T * s.C));
  auto w = randomVector(rng, (size_t)(s.K * s.C * s.F));
  int64_t Tout = s.tout();
  std::vector<float> y((size_t)(s.B * Tout * s.F), kNaN);
  ctx.reset();
  loom_rt_conv1d(ctx.c(), s.B, s.T, s.C, s.F, s.K, s.stride, s.dilation, s.padL, s.padR, Tout,
                 x.data(), w.data(), y.data());
  if (ctx.failed()) {
    ADD_FAILURE() << describe(s) << ": " << ctx.error();
    return 1;
  }
  auto ref = naiveConv(s, x, w);
  int bad = 0;
  for (size_t i = 0; i < y.size(); ++i)
    if (!(std::fabs(y[i] - ref[i]) <= 1e-5f)) {
      if (++bad <= 3)
        ADD_FAILURE() << describe(s) << ": y[" << i << "] = " << y[i] << ", expected " << ref[i];
    }
  return bad;
}

/// The gradients of y = conv(x, w) given dy, in double: dx[b, ti, c] and dw[k, c, f] get
/// dy[b, t, f] * w[k, c, f] and x[b, ti, c] * dy[b, t, f] for every tap ti of window t.
void naiveConvGrads(const ConvShape &s, const std::vector<float> &x, const std::vector<float> &w,
                    const std::vector<float> &dy, std::vector<float> &dx, std::vector<float> &dw) {
  int64_t Tout = s.tout();
  std::vector<double> gx((size_t)(s.B * s.T * s.C)), gw((size_t)(s.K * s.C * s.F));
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t t = 0; t < Tout; ++t)
      for (int64_t k = 0; k < s.K; ++k) {
        int64_t ti = t * s.stride - s.padL + k * s.dilation;
        if (ti < 0 || ti >= s.T)
          continue;
        for (int64_t c = 0; c < s.C; ++c)
          for (int64_t f = 0; f < s.F; ++f) {
            double g = dy[(b * Tout + t) * s.F + f];
            gx[(b * s.T + ti) * s.C + c] += g * w[(k * s.C + c) * s.F + f];
            gw[(k * s.C + c) * s.F + f] += g * x[(b * s.T + ti) * s.C + c];
          }
      }
  dx.assign(gx.begin(), gx.end());
  dw.assign(gw.begin(), gw.end());
}

/// Runs loom_rt_conv1d_grad_input and _grad_kernel on random data; returns the number of
/// mismatches with naiveConvGrads.
int checkConvGrads(CallContext &ctx, const ConvShape &s, std::mt19937 &rng) {
  auto x = randomVector(rng, (size_t)(s.B * s.T * s.C));
  auto w = randomVector(rng, (size_t)(s.K * s.C * s.F));
  int64_t Tout = s.tout();
  auto dy = randomVector(rng, (size_t)(s.B * Tout * s.F));
  std::vector<float> dx((size_t)(s.B * s.T * s.C), kNaN), dw((size_t)(s.K * s.C * s.F), kNaN);
  ctx.reset();
  loom_rt_conv1d_grad_input(ctx.c(), s.B, s.T, s.C, s.F, s.K, s.stride, s.dilation, s.padL, s.padR,
                            Tout, dy.data(), w.data(), dx.data());
  loom_rt_conv1d_grad_kernel(ctx.c(), s.B, s.T, s.C, s.F, s.K, s.stride, s.dilation, s.padL, s.padR,
                             Tout, x.data(), dy.data(), dw.data());
  if (ctx.failed()) {
    ADD_FAILURE() << describe(s) << ": " << ctx.error();
    return 1;
  }
  std::vector<float> rx, rw;
  naiveConvGrads(s, x, w, dy, rx, rw);
  int bad = 0;
  auto compare = [&](const char *what, const std::vector<float> &got,
                     const std::vector<float> &ref) {
    for (size_t i = 0; i < got.size(); ++i)
      if (!(std::fabs(got[i] - ref[i]) <= 1e-5f * (1 + std::fabs(ref[i])))) {
        if (++bad <= 3)
          ADD_FAILURE() << describe(s) << ": " << what << "[" << i << "] = " << got[i]
                        << ", expected " << ref[i];
      }
  };
  compare("dx", dx, rx);
  compare("dw", dw, rw);
  return bad;
}

/// Every stride and dilation of 1-3, kernel sizes 1..maxK, lengths 1..maxT and four
/// paddings (valid, causal, Keras "same", more than the kernel), with batch, channels and
/// filters walking through their values across the combinations; shapes with no output
/// step are left out.
std::vector<ConvShape> sweepShapes(int64_t maxK, int64_t maxT) {
  std::vector<ConvShape> shapes;
  int64_t cycle = 0;
  for (int64_t stride : {1, 2, 3})
    for (int64_t dilation : {1, 2, 3})
      for (int64_t K = 1; K <= maxK; ++K)
        for (int padding = 0; padding < 4; ++padding)
          for (int64_t T = 1; T <= maxT; ++T) {
            int64_t total = (K - 1) * dilation;
            ConvShape s{
                1 + cycle % 3, T, 1 + cycle % 7, 1 + (cycle / 7) % 7, K, stride, dilation, 0, 0};
            ++cycle;
            if (padding == 1) { // causal
              s.padL = total;
            } else if (padding == 2) { // Keras "same": the extra one on the right
              s.padL = total / 2;
              s.padR = total - total / 2;
            } else if (padding == 3) { // the extra one on the left, more than the kernel
              s.padL = total - total / 2 + 1;
              s.padR = total / 2 + K;
            }
            if (s.tout() >= 1)
              shapes.push_back(s);
          }
  return shapes;
}

/// Runs `check` from four threads at once, each on shapes shared by all threads (the same
/// cached primitive runs on several threads at once) and on shapes of its own, `rounds`
/// times; returns how many results were wrong.
int checkConcurrently(int (*check)(CallContext &, const ConvShape &, std::mt19937 &), unsigned seed,
                      int rounds) {
  std::vector<ConvShape> shared = {
      {2, 17, 3, 4, 3, 1, 1, 2, 0}, {1, 40, 8, 8, 5, 2, 1, 2, 2}, {3, 12, 6, 2, 2, 1, 3, 0, 0}};
  constexpr int kThreads = 4;
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int id = 0; id < kThreads; ++id)
    threads.emplace_back([&, id] {
      CallContext ctx;
      std::mt19937 rng(seed + (unsigned)id);
      std::vector<ConvShape> mine = shared;
      mine.push_back({1 + id % 3, 10 + id, 1 + id, 7 - id, 1 + id, 1 + id % 3, 1, id, 0});
      mine.push_back({2, 30 + 3 * id, 4, 5, 3, 1, 1 + id % 3, 1, 1});
      for (int round = 0; round < rounds; ++round)
        for (const ConvShape &s : mine)
          bad += check(ctx, s, rng);
    });
  for (auto &t : threads)
    t.join();
  return bad.load();
}

struct PoolShape {
  int64_t B, T, C, size, stride, padL, padR;
  int64_t tout() const {
    int64_t room = T + padL + padR - size;
    return room < 0 ? 0 : room / stride + 1;
  }
};

std::vector<float> naivePool(const PoolShape &s, const std::vector<float> &x) {
  int64_t Tout = s.tout();
  std::vector<float> y((size_t)(s.B * Tout * s.C));
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t t = 0; t < Tout; ++t)
      for (int64_t c = 0; c < s.C; ++c) {
        float m = -std::numeric_limits<float>::infinity();
        for (int64_t k = 0; k < s.size; ++k) {
          int64_t ti = t * s.stride - s.padL + k;
          if (ti >= 0 && ti < s.T)
            m = std::max(m, x[(b * s.T + ti) * s.C + c]);
        }
        y[(b * Tout + t) * s.C + c] = m;
      }
  return y;
}

/// dx[b, ti, c] gets dy[b, t, c] for the first maximum ti of each window t.
std::vector<float> naivePoolGrad(const PoolShape &s, const std::vector<float> &x,
                                 const std::vector<float> &dy) {
  int64_t Tout = s.tout();
  std::vector<float> dx((size_t)(s.B * s.T * s.C));
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t t = 0; t < Tout; ++t)
      for (int64_t c = 0; c < s.C; ++c) {
        int64_t best = -1;
        for (int64_t k = 0; k < s.size; ++k) {
          int64_t ti = t * s.stride - s.padL + k;
          if (ti >= 0 && ti < s.T &&
              (best < 0 || x[(b * s.T + ti) * s.C + c] > x[(b * s.T + best) * s.C + c]))
            best = ti;
        }
        if (best >= 0)
          dx[(b * s.T + best) * s.C + c] += dy[(b * Tout + t) * s.C + c];
      }
  return dx;
}

} // namespace

TEST(RuntimeConv1d, MatchesNaiveLoopOverManyShapes) {
  CallContext ctx;
  std::mt19937 rng(1234);
  int checked = 0, bad = 0;
  for (const ConvShape &s : sweepShapes(5, 20)) {
    bad += checkConv(ctx, s, rng);
    ++checked;
    ASSERT_LT(bad, 20) << "stopping after many mismatches";
  }
  EXPECT_EQ(bad, 0);
  EXPECT_GT(checked, 2000);
}

TEST(RuntimeConv1d, AllChannelAndFilterCounts) {
  CallContext ctx;
  std::mt19937 rng(99);
  for (int64_t C = 1; C <= 7; ++C)
    for (int64_t F = 1; F <= 7; ++F)
      for (int64_t B = 1; B <= 3; ++B)
        EXPECT_EQ(checkConv(ctx, {B, 9, C, F, 3, 1 + (C + F) % 3, 1 + B % 2, 1, 2}, rng), 0);
  // Bigger, where oneDNN may take a different kernel.
  EXPECT_EQ(checkConv(ctx, {4, 100, 32, 64, 5, 1, 1, 4, 0}, rng), 0);
  EXPECT_EQ(checkConv(ctx, {2, 257, 16, 24, 3, 2, 2, 2, 2}, rng), 0);
}

TEST(RuntimeConv1d, EmptyCases) {
  CallContext ctx;
  std::vector<float> x(64, 1.0f), w(64, 1.0f), y(64, kNaN);
  // B == 0, F == 0, Tout == 0: nothing to write.
  loom_rt_conv1d(ctx.c(), 0, 4, 2, 3, 2, 1, 1, 0, 0, 3, x.data(), w.data(), y.data());
  loom_rt_conv1d(ctx.c(), 2, 4, 2, 0, 2, 1, 1, 0, 0, 3, x.data(), w.data(), y.data());
  loom_rt_conv1d(ctx.c(), 2, 2, 2, 3, 3, 1, 1, 0, 0, 0, x.data(), w.data(), y.data());
  EXPECT_FALSE(ctx.failed()) << ctx.error();
  EXPECT_TRUE(std::isnan(y[0]));
  // Null buffers are fine when nothing is read or written.
  loom_rt_conv1d(ctx.c(), 0, 4, 2, 3, 2, 1, 1, 0, 0, 3, nullptr, nullptr, nullptr);
  EXPECT_FALSE(ctx.failed()) << ctx.error();

  // C == 0 or K == 0: an empty sum, so zeros (even over NaN).
  loom_rt_conv1d(ctx.c(), 2, 4, 0, 3, 2, 1, 1, 0, 0, 3, x.data(), w.data(), y.data());
  EXPECT_FALSE(ctx.failed()) << ctx.error();
  for (int i = 0; i < 2 * 3 * 3; ++i)
    ASSERT_EQ(y[i], 0.0f) << i;
  std::fill(y.begin(), y.end(), kNaN);
  // K == 0: Tout = (T + pads) / stride + 1.
  loom_rt_conv1d(ctx.c(), 2, 4, 2, 3, 0, 2, 1, 1, 0, 3, x.data(), w.data(), y.data());
  EXPECT_FALSE(ctx.failed()) << ctx.error();
  for (int i = 0; i < 2 * 3 * 3; ++i)
    ASSERT_EQ(y[i], 0.0f) << i;
  EXPECT_TRUE(std::isnan(y[2 * 3 * 3]));
  // T == 0 with padding: the input is all padding, so zeros.
  std::fill(y.begin(), y.end(), kNaN);
  loom_rt_conv1d(ctx.c(), 1, 0, 2, 3, 2, 1, 1, 1, 1, 1, nullptr, w.data(), y.data());
  EXPECT_FALSE(ctx.failed()) << ctx.error();
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(y[i], 0.0f) << i;
}

TEST(RuntimeConv1d, BadArgumentsAreErrorsNotCrashes) {
  std::vector<float> x(64, 1.0f), w(64, 1.0f), y(64, 0.0f);
  struct Case {
    ConvShape s;
    int64_t tout;
    const char *expect;
  };
  std::vector<Case> cases = {
      {{-1, 4, 2, 3, 2, 1, 1, 0, 0}, 3, "negative"},
      {{1, -4, 2, 3, 2, 1, 1, 0, 0}, 3, "negative"},
      {{1, 4, 2, 3, -2, 1, 1, 0, 0}, 3, "negative"},
      {{1, 4, 2, 3, 2, 1, 1, -1, 0}, 3, "negative"},
      {{1, 4, 2, 3, 2, 1, 1, 0, 0}, -3, "negative"},
      {{1, 4, 2, 3, 2, 0, 1, 0, 0}, 3, "stride"},
      {{1, 4, 2, 3, 2, 1, 0, 0, 0}, 3, "dilation"},
      {{1, 4, 2, 3, 2, 1, 1, 0, 0}, 4, "output length"},
      {{1, 4, 2, 3, 2, 2, 1, 0, 0}, 3, "output length"},
      {{1, int64_t(1) << 40, int64_t(1) << 30, 3, 2, 1, 1, 0, 0},
       (int64_t(1) << 40) - 1,
       "absurdly large"},
      {{int64_t(1) << 62, 4, 2, 3, 2, 1, 1, 0, 0}, 3, "absurdly large"},
  };
  for (const Case &c : cases) {
    CallContext ctx;
    const ConvShape &s = c.s;
    loom_rt_conv1d(ctx.c(), s.B, s.T, s.C, s.F, s.K, s.stride, s.dilation, s.padL, s.padR, c.tout,
                   x.data(), w.data(), y.data());
    ASSERT_TRUE(ctx.failed()) << describe(s);
    EXPECT_NE(ctx.error().find("loom_rt_conv1d: "), std::string::npos) << ctx.error();
    EXPECT_NE(ctx.error().find(c.expect), std::string::npos) << ctx.error();
  }
  CallContext ctx;
  loom_rt_conv1d(ctx.c(), 1, 4, 2, 3, 2, 1, 1, 0, 0, 3, x.data(), nullptr, y.data());
  EXPECT_NE(ctx.error().find("null buffer"), std::string::npos) << ctx.error();
  // Without a context there is nowhere to record an error, but nothing crashes either,
  // and a valid call still computes.
  loom_rt_conv1d(nullptr, -1, 4, 2, 3, 2, 1, 1, 0, 0, 3, x.data(), w.data(), y.data());
  loom_rt_conv1d(nullptr, 1, 4, 2, 3, 2, 1, 1, 0, 0, 3, x.data(), w.data(), y.data());
  EXPECT_FLOAT_EQ(y[0], 4.0f); // all ones: K * C
}

TEST(RuntimeConv1d, RepeatedCallsReuseTheCachedPrimitive) {
  using Clock = std::chrono::steady_clock;
  CallContext ctx;
  std::mt19937 rng(5);
  // A shape no other test (or earlier repetition of this one) uses, so the first call
  // creates its primitive.
  static int64_t repetition = 0;
  ConvShape s{3, 31 + repetition++, 5, 6, 4, 1, 2, 6, 0};
  auto x = randomVector(rng, (size_t)(s.B * s.T * s.C));
  auto w = randomVector(rng, (size_t)(s.K * s.C * s.F));
  std::vector<float> y((size_t)(s.B * s.tout() * s.F));
  auto call = [&] {
    ctx.reset();
    auto t0 = Clock::now();
    loom_rt_conv1d(ctx.c(), s.B, s.T, s.C, s.F, s.K, s.stride, s.dilation, s.padL, s.padR, s.tout(),
                   x.data(), w.data(), y.data());
    return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
  };
  size_t before = conv1dCacheSize();
  double first = call();
  ASSERT_FALSE(ctx.failed()) << ctx.error();
  size_t after = conv1dCacheSize();
  EXPECT_TRUE(after == before + 1 || after == 256) << before << " -> " << after;
  int64_t reserved = ctx.bytesReserved();
  double fastest = 1e300;
  for (int i = 0; i < 20; ++i) {
    fastest = std::min(fastest, call());
    ASSERT_FALSE(ctx.failed()) << ctx.error();
    EXPECT_EQ(ctx.bytesReserved(), reserved) << "the scratchpad comes from the same arena blocks";
  }
  EXPECT_EQ(conv1dCacheSize(), after) << "no new primitive for a shape already seen";
  EXPECT_LT(fastest, first) << "a cached call should skip primitive creation";
  auto ref = naiveConv(s, x, w);
  for (size_t i = 0; i < y.size(); ++i)
    ASSERT_NEAR(y[i], ref[i], 1e-5) << i;
}

TEST(RuntimeConv1d, ConcurrentCallersGetCorrectResults) {
  EXPECT_EQ(checkConcurrently(checkConv, 100, 15), 0);
}

TEST(RuntimeConv1dGrad, MatchesNaiveLoopOverManyShapes) {
  CallContext ctx;
  std::mt19937 rng(4321);
  int checked = 0, bad = 0;
  for (const ConvShape &s : sweepShapes(4, 12)) {
    bad += checkConvGrads(ctx, s, rng);
    ++checked;
    ASSERT_LT(bad, 20) << "stopping after many mismatches";
  }
  EXPECT_EQ(bad, 0);
  EXPECT_GT(checked, 1000);
  EXPECT_GT(conv1dGradCacheSize(), 0u);
  // Bigger, where oneDNN may take other kernels (and blocked weights).
  EXPECT_EQ(checkConvGrads(ctx, {4, 100, 32, 64, 5, 1, 1, 4, 0}, rng), 0);
  EXPECT_EQ(checkConvGrads(ctx, {2, 257, 16, 24, 3, 2, 2, 2, 2}, rng), 0);
  EXPECT_EQ(checkConvGrads(ctx, {3, 64, 8, 8, 3, 3, 1, 1, 1}, rng), 0);
}

TEST(RuntimeConv1dGrad, EmptyCasesAndBadArguments) {
  CallContext ctx;
  std::vector<float> x(64, 1.0f), w(64, 1.0f), dy(64, 1.0f), dx(64, kNaN), dw(64, kNaN);
  // Empty results: nothing written.
  loom_rt_conv1d_grad_input(ctx.c(), 0, 4, 2, 3, 2, 1, 1, 0, 0, 3, dy.data(), w.data(), dx.data());
  loom_rt_conv1d_grad_kernel(ctx.c(), 2, 4, 2, 0, 2, 1, 1, 0, 0, 3, x.data(), dy.data(), dw.data());
  loom_rt_conv1d_grad_input(ctx.c(), 0, 4, 2, 3, 2, 1, 1, 0, 0, 3, nullptr, nullptr, nullptr);
  EXPECT_FALSE(ctx.failed()) << ctx.error();
  EXPECT_TRUE(std::isnan(dx[0]) && std::isnan(dw[0]));
  // Nothing flows back (F == 0, Tout == 0) or an empty sum (B == 0): zeros.
  loom_rt_conv1d_grad_input(ctx.c(), 2, 4, 2, 0, 2, 1, 1, 0, 0, 3, dy.data(), w.data(), dx.data());
  loom_rt_conv1d_grad_kernel(ctx.c(), 0, 4, 2, 3, 2, 1, 1, 0, 0, 3, x.data(), dy.data(), dw.data());
  EXPECT_FALSE(ctx.failed()) << ctx.error();
  for (int i = 0; i < 2 * 4 * 2; ++i)
    ASSERT_EQ(dx[i], 0.0f) << i;
  for (int i = 0; i < 2 * 2 * 3; ++i)
    ASSERT_EQ(dw[i], 0.0f) << i;
  std::fill(dx.begin(), dx.end(), kNaN);
  loom_rt_conv1d_grad_input(ctx.c(), 1, 2, 2, 3, 3, 1, 1, 0, 0, 0, dy.data(), w.data(), dx.data());
  EXPECT_FALSE(ctx.failed()) << ctx.error();
  EXPECT_EQ(dx[0], 0.0f);

  struct Case {
    bool input;
    ConvShape s;
    int64_t tout;
    const char *expect;
  };
  std::vector<Case> cases = {
      {true, {-1, 4, 2, 3, 2, 1, 1, 0, 0}, 3, "negative"},
      {false, {1, 4, 2, 3, 2, 0, 1, 0, 0}, 3, "stride"},
      {true, {1, 4, 2, 3, 2, 1, 0, 0, 0}, 3, "dilation"},
      {false, {1, 4, 2, 3, 2, 1, 1, 0, 0}, 4, "output length"},
      {true, {1, 4, 2, 3, 2, 2, 1, 1, 0}, 3, "output length"},
      {false, {int64_t(1) << 62, 4, 2, 3, 2, 1, 1, 0, 0}, 3, "absurdly large"},
  };
  for (const Case &c : cases) {
    CallContext bad;
    const ConvShape &s = c.s;
    if (c.input)
      loom_rt_conv1d_grad_input(bad.c(), s.B, s.T, s.C, s.F, s.K, s.stride, s.dilation, s.padL,
                                s.padR, c.tout, dy.data(), w.data(), dx.data());
    else
      loom_rt_conv1d_grad_kernel(bad.c(), s.B, s.T, s.C, s.F, s.K, s.stride, s.dilation, s.padL,
                                 s.padR, c.tout, x.data(), dy.data(), dw.data());
    ASSERT_TRUE(bad.failed()) << describe(s);
    EXPECT_NE(
        bad.error().find(c.input ? "loom_rt_conv1d_grad_input: " : "loom_rt_conv1d_grad_kernel: "),
        std::string::npos)
        << bad.error();
    EXPECT_NE(bad.error().find(c.expect), std::string::npos) << bad.error();
  }
  CallContext nul;
  loom_rt_conv1d_grad_kernel(nul.c(), 1, 4, 2, 3, 2, 1, 1, 0, 0, 3, x.data(), nullptr, dw.data());
  EXPECT_NE(nul.error().find("null buffer"), std::string::npos) << nul.error();
}

TEST(RuntimeConv1dGrad, ConcurrentCallersGetCorrectResults) {
  EXPECT_EQ(checkConcurrently(checkConvGrads, 200, 10), 0);
}

TEST(RuntimeMaxPool1d, MatchesNaiveLoopIncludingPaddedEdges) {
  CallContext ctx;
  std::mt19937 rng(77);
  int checked = 0;
  int64_t cycle = 0;
  for (int64_t size = 1; size <= 5; ++size)
    for (int64_t stride = 1; stride <= 3; ++stride)
      for (int padding = 0; padding < 5; ++padding)
        for (int64_t T = 1; T <= 20; ++T) {
          PoolShape s{1 + cycle % 2, T, 1 + cycle % 4, size, stride, 0, 0};
          ++cycle;
          int64_t total = size - 1;
          if (padding == 1)
            s.padL = total;
          else if (padding == 2)
            s.padL = total / 2, s.padR = total - total / 2;
          else if (padding == 3)
            s.padL = total - total / 2, s.padR = total;
          else if (padding ==
                   4) // right padding as long as the stride allows (> window if stride 3)
            s.padR = size + stride - 2;
          int64_t Tout = s.tout();
          if (Tout < 1 || (Tout - 1) * stride - s.padL >= T)
            continue; // no output, or a window of padding only (an error, tested below)
          // Mostly negative values: a padded zero would win if padding took part.
          auto x = randomVector(rng, (size_t)(s.B * s.T * s.C), -2.0f, 0.25f);
          std::vector<float> y((size_t)(s.B * Tout * s.C), kNaN);
          ctx.reset();
          loom_rt_max_pool1d(ctx.c(), s.B, s.T, s.C, s.size, s.stride, s.padL, s.padR, Tout,
                             x.data(), y.data());
          ASSERT_FALSE(ctx.failed()) << ctx.error();
          auto ref = naivePool(s, x);
          for (size_t i = 0; i < y.size(); ++i)
            ASSERT_EQ(y[i], ref[i]) << "size=" << size << " stride=" << stride << " pad=" << s.padL
                                    << "/" << s.padR << " T=" << T << " i=" << i;
          ++checked;
        }
  EXPECT_GT(checked, 800);
  EXPECT_GT(maxPool1dCacheSize(), 0u);
}

TEST(RuntimeMaxPool1d, AllNegativeWindowAtThePaddedEdge) {
  CallContext ctx;
  // T = 3, window 3, "same" padding 1/1: the edge windows see two real values and one pad.
  std::vector<float> x = {-5, -1, -7};
  std::vector<float> y(3, kNaN);
  loom_rt_max_pool1d(ctx.c(), 1, 3, 1, 3, 1, 1, 1, 3, x.data(), y.data());
  ASSERT_FALSE(ctx.failed()) << ctx.error();
  EXPECT_EQ(y, (std::vector<float>{-1, -1, -1}));
  // Window 2, padding 1/1: the first and last windows hold one real value each.
  std::vector<float> y4(4, kNaN);
  ctx.reset();
  loom_rt_max_pool1d(ctx.c(), 1, 3, 1, 2, 1, 1, 1, 4, x.data(), y4.data());
  ASSERT_FALSE(ctx.failed()) << ctx.error();
  EXPECT_EQ(y4, (std::vector<float>{-5, -1, -1, -7}));
  // Right padding longer than the window is fine when the stride never lands a window
  // entirely on it: T = 4, window 2, stride 3, padding 0/2 gives windows [0, 1] and [3, 4].
  std::vector<float> x4 = {-3, -2, -9, -4};
  std::vector<float> y2(2, kNaN);
  ctx.reset();
  loom_rt_max_pool1d(ctx.c(), 1, 4, 1, 2, 3, 0, 2, 2, x4.data(), y2.data());
  ASSERT_FALSE(ctx.failed()) << ctx.error();
  EXPECT_EQ(y2, (std::vector<float>{-2, -4}));
}

TEST(RuntimeMaxPool1d, EmptyAndBadArguments) {
  std::vector<float> x(64, 1.0f), y(64, kNaN);
  {
    CallContext ctx;
    loom_rt_max_pool1d(ctx.c(), 0, 4, 2, 2, 1, 0, 0, 3, x.data(), y.data());
    loom_rt_max_pool1d(ctx.c(), 2, 4, 0, 2, 1, 0, 0, 3, x.data(), y.data());
    loom_rt_max_pool1d(ctx.c(), 2, 1, 2, 2, 1, 0, 0, 0, x.data(), y.data());
    EXPECT_FALSE(ctx.failed()) << ctx.error();
    EXPECT_TRUE(std::isnan(y[0]));
  }
  struct Case {
    PoolShape s;
    int64_t tout;
    const char *expect;
  };
  std::vector<Case> cases = {
      {{-1, 4, 2, 2, 1, 0, 0}, 3, "negative"},    {{1, 4, -2, 2, 1, 0, 0}, 3, "negative"},
      {{1, 4, 2, 0, 1, 0, 0}, 5, "window size"},  {{1, 4, 2, 2, 0, 0, 0}, 3, "stride"},
      {{1, 4, 2, 2, 1, 0, -1}, 3, "negative"},    {{1, 4, 2, 2, 1, 0, 0}, 2, "output length"},
      {{1, 4, 2, 2, 1, 2, 0}, 5, "only padding"}, {{1, 4, 2, 2, 1, 0, 2}, 5, "only padding"},
      {{1, 4, 2, 2, 3, 0, 4}, 3, "only padding"}, {{1, 0, 2, 2, 1, 1, 1}, 1, "only padding"},
  };
  for (const Case &c : cases) {
    CallContext ctx;
    const PoolShape &s = c.s;
    loom_rt_max_pool1d(ctx.c(), s.B, s.T, s.C, s.size, s.stride, s.padL, s.padR, c.tout, x.data(),
                       y.data());
    ASSERT_TRUE(ctx.failed()) << c.expect;
    EXPECT_NE(ctx.error().find("loom_rt_max_pool1d: "), std::string::npos) << ctx.error();
    EXPECT_NE(ctx.error().find(c.expect), std::string::npos) << ctx.error();
  }
}

// Enough rows to be split over the threads (each batch row writes its own rows of dx):
// the same values as the naive loop on 1 and 2 threads.
TEST(RuntimeMaxPool1dGrad, SplitOverThreadsMatchesTheNaiveLoop) {
  int saved = omp_get_max_threads();
  std::mt19937 rng(79);
  std::uniform_int_distribution<int> small(-3, 1);
  PoolShape s{64, 200, 32, 3, 2, 1, 1};
  int64_t Tout = s.tout();
  std::vector<float> x((size_t)(s.B * s.T * s.C));
  for (float &v : x)
    v = (float)small(rng);
  auto dy = randomVector(rng, (size_t)(s.B * Tout * s.C));
  std::vector<float> want = naivePoolGrad(s, x, dy);
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    CallContext ctx;
    std::vector<float> dx(x.size(), kNaN);
    loom_rt_max_pool1d_grad(ctx.c(), s.B, s.T, s.C, s.size, s.stride, s.padL, s.padR, Tout,
                            x.data(), dy.data(), dx.data());
    ASSERT_FALSE(ctx.failed()) << ctx.error();
    EXPECT_EQ(dx, want) << threads << " threads";
  }
  omp_set_num_threads(saved);
}

TEST(RuntimeMaxPool1dGrad, FirstMaximumGetsTheGradient) {
  CallContext ctx;
  std::mt19937 rng(78);
  std::uniform_int_distribution<int> small(-3, 1); // many ties, and negatives at the edges
  int checked = 0;
  for (int64_t size = 1; size <= 4; ++size)
    for (int64_t stride = 1; stride <= 3; ++stride)
      for (int padding = 0; padding < 4; ++padding)
        for (int64_t T = 1; T <= 12; ++T) {
          PoolShape s{2, T, 3, size, stride, 0, 0};
          int64_t total = size - 1;
          if (padding == 1)
            s.padL = total;
          else if (padding == 2)
            s.padL = total / 2, s.padR = total - total / 2;
          else if (padding == 3)
            s.padR = size + stride - 2;
          int64_t Tout = s.tout();
          if (Tout < 1 || (Tout - 1) * stride - s.padL >= T)
            continue;
          std::vector<float> x((size_t)(s.B * T * s.C));
          for (float &v : x)
            v = (float)small(rng);
          auto dy = randomVector(rng, (size_t)(s.B * Tout * s.C));
          std::vector<float> dx(x.size(), kNaN);
          ctx.reset();
          loom_rt_max_pool1d_grad(ctx.c(), s.B, T, s.C, size, stride, s.padL, s.padR, Tout,
                                  x.data(), dy.data(), dx.data());
          ASSERT_FALSE(ctx.failed()) << ctx.error();
          EXPECT_EQ(dx, naivePoolGrad(s, x, dy))
              << "size=" << size << " stride=" << stride << " pad=" << s.padL << "/" << s.padR
              << " T=" << T;
          ++checked;
        }
  EXPECT_GT(checked, 300);
  // Empty and bad arguments.
  std::vector<float> x(16, 1.0f), dy(16, 1.0f), dx(16, kNaN);
  loom_rt_max_pool1d_grad(ctx.c(), 0, 4, 2, 2, 1, 0, 0, 3, x.data(), dy.data(), dx.data());
  EXPECT_FALSE(ctx.failed()) << ctx.error();
  EXPECT_TRUE(std::isnan(dx[0]));
  loom_rt_max_pool1d_grad(ctx.c(), 1, 4, 2, 2, 1, 0, 0, 2, x.data(), dy.data(), dx.data());
  EXPECT_NE(ctx.error().find("loom_rt_max_pool1d_grad: output length"), std::string::npos)
      << ctx.error();
}

TEST(RuntimeRangeError, FormatsTheUnflattenedIndex) {
  {
    CallContext ctx;
    int64_t shape[] = {2, 5};
    loom_rt_range_error(ctx.c(), "token id", 9, 7, shape, 2, 0, 6);
    EXPECT_EQ(ctx.error(), "token id: 9 at [1, 2] is outside [0, 6]");
    // The first error wins.
    loom_rt_range_error(ctx.c(), "token id", -1, 0, shape, 2, 0, 6);
    EXPECT_EQ(ctx.error(), "token id: 9 at [1, 2] is outside [0, 6]");
  }
  {
    CallContext ctx;
    int64_t shape[] = {4};
    loom_rt_range_error(ctx.c(), "sequence length", -3, 3, shape, 1, 0, 20);
    EXPECT_EQ(ctx.error(), "sequence length: -3 at [3] is outside [0, 20]");
  }
  {
    CallContext ctx;
    loom_rt_range_error(ctx.c(), "length", 21, 0, nullptr, 0, 0, 20);
    EXPECT_EQ(ctx.error(), "length: 21 at [] is outside [0, 20]");
  }
  {
    CallContext ctx;
    int64_t shape[] = {2, 3, 4};
    loom_rt_range_error(ctx.c(), "id", 100, 23, shape, 3, 0, 99);
    EXPECT_EQ(ctx.error(), "id: 100 at [1, 2, 3] is outside [0, 99]");
  }
  {
    // A flat index the shape cannot hold (a caller's bug) still gives a message.
    CallContext ctx;
    int64_t shape[] = {2, 3};
    loom_rt_range_error(ctx.c(), "id", 100, 6, shape, 2, 0, 99);
    EXPECT_EQ(ctx.error(), "id: 100 at flat index 6 is outside [0, 99]");
  }
  {
    CallContext ctx;
    loom_rt_range_error(ctx.c(), "id", 1, 0, nullptr, -1, 0, 0);
    EXPECT_TRUE(ctx.failed());
    loom_rt_range_error(nullptr, "id", 1, 0, nullptr, 0, 0, 0); // no context: no crash
  }
}
