// Accuracy of the generated exp, log, tanh and sigmoid (codegen/VectorMath.cpp) against
// double-precision libm, over dense sweeps, huge and tiny inputs, infinities and NaN.
// The measured maxima are recorded in docs/vector-math.md.
#include "codegen/JIT.h"
#include "tests/unit/codegen_helpers.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>

using namespace loom;

namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = HUGE_VALF;

class VectorMath : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    module_ = cgtest::parseIR(R"(func @vm(%x: f32[N]) -> (e, l, t, s, r) {
  %0 = exp %x : f32[N]
  %1 = log %x : f32[N]
  %2 = tanh %x : f32[N]
  %3 = sigmoid %x : f32[N]
  %4 = erf %x : f32[N]
  return %0, %1, %2, %3, %4
}
)")
                  .release();
    ASSERT_TRUE(module_);
    auto cf = codegen::CompiledFunction::compile(*module_->main());
    ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
    fn_ = cf->release();
  }
  static void TearDownTestSuite() {
    delete fn_;
    delete module_;
  }

  /// Runs the functions on `xs`; outputs in the order exp, log, tanh, sigmoid, erf.
  static std::vector<rt::Tensor> eval(const std::vector<float> &xs) {
    rt::Tensor x(rt::DType::F32, {(int64_t)xs.size()});
    std::copy(xs.begin(), xs.end(), x.f32());
    auto out = fn_->run({x}, {});
    EXPECT_TRUE(bool(out)) << llvm::toString(out.takeError());
    return out ? *out : std::vector<rt::Tensor>{};
  }

  static ir::Module *module_;
  static codegen::CompiledFunction *fn_;
};
ir::Module *VectorMath::module_ = nullptr;
codegen::CompiledFunction *VectorMath::fn_ = nullptr;

/// `n` points evenly spaced over [lo, hi] plus `n` random ones in it.
std::vector<float> sweep(double lo, double hi, int n, uint32_t seed = 1) {
  std::vector<float> xs;
  for (int i = 0; i < n; ++i)
    xs.push_back((float)(lo + (hi - lo) * i / (n - 1)));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  for (int i = 0; i < n; ++i)
    xs.push_back((float)u(rng));
  return xs;
}

/// The error of `got` in units of the last place of the float nearest to `ref`.
double ulps(float got, double ref) {
  float r = (float)ref;
  double ulp = std::nextafter(std::fabs(r), HUGE_VALF) - std::fabs(r);
  return std::fabs(got - ref) / ulp;
}

struct MaxErr {
  double err = 0;
  float at = 0;
  void add(double e, float x) {
    if (e > err || std::isnan(e)) {
      err = std::isnan(e) ? HUGE_VAL : e;
      at = x;
    }
  }
};

TEST_F(VectorMath, Exp) {
  std::vector<float> xs = sweep(-87.3, 88.7, 1 << 20);
  for (float x : sweep(-1, 1, 1 << 18, 2))
    xs.push_back(x);
  for (float x : {0.0f, -0.0f, 1e-40f, -1e-40f, 1e-30f, FLT_MIN, 88.72283f, -87.33654f})
    xs.push_back(x);
  auto out = eval(xs);
  ASSERT_EQ(out.size(), 5u);
  MaxErr rel, ulp;
  for (size_t i = 0; i < xs.size(); ++i) {
    double ref = std::exp((double)xs[i]);
    rel.add(std::fabs(out[0].f32()[i] - ref) / ref, xs[i]);
    ulp.add(ulps(out[0].f32()[i], ref), xs[i]);
  }
  std::printf("exp: max relative error %.3g at x = %.9g (%.2f ulp max)\n", rel.err, rel.at,
              ulp.err);
  EXPECT_LE(rel.err, 1e-6) << "at x = " << rel.at;

  // Denormal results: within one unit of the smallest denormal.
  std::vector<float> tiny = sweep(-103.9, -87.4, 1 << 16, 3);
  auto outTiny = eval(tiny);
  MaxErr abs;
  for (size_t i = 0; i < tiny.size(); ++i)
    abs.add(std::fabs(outTiny[0].f32()[i] - std::exp((double)tiny[i])), tiny[i]);
  std::printf("exp: max absolute error %.3g for denormal results (at x = %.9g)\n", abs.err, abs.at);
  EXPECT_LE(abs.err, 1.5e-45);

  std::vector<float> special = {kInf,    89.0f,  100.0f,   1e10f, FLT_MAX, -kInf, -104.0f,
                                -200.0f, -1e10f, -FLT_MAX, kNaN,  0.0f,    -0.0f};
  auto s = eval(special);
  const float *e = s[0].f32();
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(e[i], kInf) << special[i];
  for (int i = 5; i < 10; ++i)
    EXPECT_EQ(e[i], 0.0f) << special[i];
  EXPECT_TRUE(std::isnan(e[10]));
  EXPECT_EQ(e[11], 1.0f);
  EXPECT_EQ(e[12], 1.0f);
}

TEST_F(VectorMath, Log) {
  std::vector<float> xs = sweep(0.5, 2.0, 1 << 20);
  std::mt19937 rng(4);
  std::uniform_real_distribution<double> u(-149.0, 128.0);
  for (int i = 0; i < (1 << 20); ++i)
    xs.push_back((float)std::exp2(u(rng)));
  for (float x :
       {1e-45f, 1e-40f, 1e-38f, FLT_MIN, FLT_MAX, 1.0f + FLT_EPSILON, 1.0f - FLT_EPSILON / 2})
    xs.push_back(x);
  auto out = eval(xs);
  ASSERT_EQ(out.size(), 5u);
  MaxErr rel, ulp;
  for (size_t i = 0; i < xs.size(); ++i) {
    double ref = std::log((double)xs[i]);
    if (xs[i] == 1.0f) {
      EXPECT_EQ(out[1].f32()[i], 0.0f);
      continue;
    }
    rel.add(std::fabs(out[1].f32()[i] - ref) / std::fabs(ref), xs[i]);
    ulp.add(ulps(out[1].f32()[i], ref), xs[i]);
  }
  std::printf("log: max relative error %.3g at x = %.9g (%.2f ulp max)\n", rel.err, rel.at,
              ulp.err);
  EXPECT_LE(rel.err, 1e-6) << "at x = " << rel.at;

  auto s = eval({0.0f, -0.0f, -1.0f, -1e-40f, -kInf, kInf, kNaN, 1.0f});
  const float *l = s[1].f32();
  EXPECT_EQ(l[0], -kInf);
  EXPECT_EQ(l[1], -kInf);
  for (int i : {2, 3, 4, 6})
    EXPECT_TRUE(std::isnan(l[i])) << i;
  EXPECT_EQ(l[5], kInf);
  EXPECT_EQ(l[7], 0.0f);
}

TEST_F(VectorMath, TanhAndSigmoid) {
  std::vector<float> xs = sweep(-20, 20, 1 << 20);
  for (float x : sweep(-1, 1, 1 << 18, 5))
    xs.push_back(x);
  for (float x : sweep(-120, 120, 1 << 16, 6))
    xs.push_back(x);
  for (float x : {0.0f, -0.0f, 1e-40f, -1e-40f, 0.625f, -0.625f, 0.62499994f})
    xs.push_back(x);
  auto out = eval(xs);
  ASSERT_EQ(out.size(), 5u);
  MaxErr tanhErr, sigErr, tanhRel, sigRel;
  for (size_t i = 0; i < xs.size(); ++i) {
    double x = xs[i], t = std::tanh(x), sg = 1.0 / (1.0 + std::exp(-x));
    tanhErr.add(std::fabs(out[2].f32()[i] - t), xs[i]);
    sigErr.add(std::fabs(out[3].f32()[i] - sg), xs[i]);
    if (x != 0)
      tanhRel.add(std::fabs(out[2].f32()[i] - t) / std::fabs(t), xs[i]);
    if (sg >= FLT_MIN)
      sigRel.add(std::fabs(out[3].f32()[i] - sg) / sg, xs[i]);
  }
  std::printf("tanh: max relative error %.3g at x = %.9g\n", tanhRel.err, tanhRel.at);
  std::printf("sigmoid: max relative error %.3g at x = %.9g (results >= FLT_MIN)\n", sigRel.err,
              sigRel.at);
  std::printf("tanh: max absolute error %.3g at x = %.9g\n", tanhErr.err, tanhErr.at);
  std::printf("sigmoid: max absolute error %.3g at x = %.9g\n", sigErr.err, sigErr.at);
  EXPECT_LE(tanhErr.err, 1e-6) << "at x = " << tanhErr.at;
  EXPECT_LE(sigErr.err, 1e-6) << "at x = " << sigErr.at;

  // Saturation is exact and never NaN.
  std::vector<float> big = {10.0f, 20.0f, 50.0f, 89.0f, 1e4f, 1e30f, FLT_MAX, kInf};
  size_t n = big.size();
  for (size_t i = 0; i < n; ++i)
    big.push_back(-big[i]);
  big.push_back(kNaN);
  auto s = eval(big);
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(s[2].f32()[i], 1.0f) << big[i];
    EXPECT_EQ(s[2].f32()[n + i], -1.0f) << big[n + i];
    if (big[i] >= 20.0f) {
      EXPECT_EQ(s[3].f32()[i], 1.0f) << big[i];
    }
    if (big[i] >= 104.0f) {
      EXPECT_EQ(s[3].f32()[n + i], 0.0f) << big[n + i];
    }
    EXPECT_FALSE(std::isnan(s[3].f32()[n + i]));
  }
  EXPECT_TRUE(std::isnan(s[2].f32()[2 * n]));
  EXPECT_TRUE(std::isnan(s[3].f32()[2 * n]));
  auto z = eval({0.0f, -0.0f});
  EXPECT_EQ(z[2].f32()[0], 0.0f);
  EXPECT_TRUE(std::signbit(z[2].f32()[1])) << "tanh(-0) is -0";
  EXPECT_EQ(z[3].f32()[0], 0.5f);
}

TEST_F(VectorMath, Erf) {
  std::vector<float> xs = sweep(-6, 6, 1 << 20);
  for (float x : sweep(-1e-3, 1e-3, 1 << 12, 7))
    xs.push_back(x);
  for (float x : {0.0f, 1e-40f, -1e-40f, 1.0f, -1.0f, 0.99999994f, 1.0000001f})
    xs.push_back(x);
  auto out = eval(xs);
  ASSERT_EQ(out.size(), 5u);
  MaxErr abs, rel;
  for (size_t i = 0; i < xs.size(); ++i) {
    double ref = std::erf((double)xs[i]), got = out[4].f32()[i];
    abs.add(std::fabs(got - ref), xs[i]);
    if (std::fabs(xs[i]) < 1 && std::fabs(ref) >= FLT_MIN) // denormal results round coarser
      rel.add(std::fabs(got - ref) / std::fabs(ref), xs[i]);
  }
  std::printf("erf: max absolute error %.3g at x = %.9g\n", abs.err, abs.at);
  std::printf("erf: max relative error %.3g for |x| < 1 (at x = %.9g)\n", rel.err, rel.at);
  EXPECT_LE(abs.err, 1e-6) << "at x = " << abs.at;
  EXPECT_LE(rel.err, 1e-6) << "at x = " << rel.at;

  auto s = eval({4.0f, 10.0f, 1e30f, FLT_MAX, kInf, -4.0f, -1e30f, -kInf, kNaN, -0.0f});
  const float *e = s[4].f32();
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(e[i], 1.0f) << i;
  for (int i = 5; i < 8; ++i)
    EXPECT_EQ(e[i], -1.0f) << i;
  EXPECT_TRUE(std::isnan(e[8]));
  EXPECT_TRUE(std::signbit(e[9]) && e[9] == 0.0f) << "erf(-0) is -0";
}

} // namespace
