// random_uniform: the compiled code gives bit for bit the interpreter's numbers (in its own
// buffers, in loop stacks written in place, after hoisting and fusion), and the numbers look
// uniform: mean, variance, range, and independence across streams and keys.
#include "codegen/JIT.h"
#include "ir/Interpreter.h"
#include "passes/PassManager.h"
#include "runtime/Random.h"
#include "tests/unit/codegen_helpers.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

using namespace loom;

namespace {

rt::Tensor key(int32_t k0, int32_t k1) {
  rt::Tensor t(rt::DType::I32, {2});
  t.i32()[0] = k0;
  t.i32()[1] = k1;
  return t;
}

rt::Tensor floats(std::vector<int64_t> shape) {
  rt::Tensor t(rt::DType::F32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i)
    t.f32()[i] = std::sin(0.3f * (float)i);
  return t;
}

void expectBitIdentical(const rt::Tensor &got, const rt::Tensor &want, const std::string &what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  // memcmp's pointers must be valid even for 0 bytes; an empty tensor has none.
  EXPECT_TRUE(want.bytes() == 0 || std::memcmp(got.data(), want.data(), want.bytes()) == 0) << what;
}

const char *kLoopText = R"(
func @r(%key: i32[2], %x: f32[B,T,5]) -> (a, b, c, d, e, f) {
  %a = random_uniform %key {stream = 0} : f32[B,T,5]
  %b = random_uniform %key {stream = 1} : f32[B,T,5]
  %c = random_uniform %key {stream = 0} : f32[]
  %d = random_uniform %key {stream = 7} : f32[B,1,3]
  %h0 = fill {value = 0.0} : f32[B,3]
  %hT, %ys, %zs = loop %h0, %x {carries = 1, reverse = false, slices = 1, steps = dim<T>}
      (%h: f32[B,3], %xt: f32[B,5]) {
    %m = random_uniform %key {stream = 2} : f32[B,3]
    %hn = add %h, %m : f32[B,3]
    %z = random_uniform %key {stream = 3} : f32[B,5]
    %zx = mul %z, %xt : f32[B,5]
    yield %hn, %m, %zx
  } : f32[B,3], f32[B,T,3], f32[B,T,5]
  return %a, %b, %c, %d, %ys, %zs
}
)";

/// Compiles `text` (after `passes`) and compares it with the interpreter on the unoptimised
/// function, exactly.
void compareExactly(const std::vector<std::string> &passes, const ir::SymbolMap &syms,
                    const rt::Tensor &k) {
  auto ref = cgtest::parseIR(kLoopText);
  ASSERT_TRUE(ref);
  auto opt = cgtest::parseIR(kLoopText);
  ASSERT_TRUE(opt);
  if (!passes.empty())
    ASSERT_FALSE(bool(passes::runPipeline(*opt, passes, {})));
  auto cf = codegen::CompiledFunction::compile(*opt->main());
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  std::vector<rt::Tensor> in{k, floats({syms.at("B"), syms.at("T"), 5})};
  auto want = ir::interpret(*ref->main(), in, {});
  ASSERT_TRUE(bool(want)) << llvm::toString(want.takeError());
  auto got = (*cf)->run(in, {});
  ASSERT_TRUE(bool(got)) << llvm::toString(got.takeError());
  ASSERT_EQ(got->size(), want->size());
  for (size_t i = 0; i < want->size(); ++i) {
    std::string what = "output " + std::to_string(i) + " at B=" + std::to_string(syms.at("B")) +
                       " T=" + std::to_string(syms.at("T"));
    if (i == 5) // the product of two floats: one rounding, the same in both backends
      cgtest::expectClose((*got)[i], (*want)[i], 0, what);
    else
      expectBitIdentical((*got)[i], (*want)[i], what);
  }
}

TEST(RandomUniform, CompiledEqualsInterpreterBitForBit) {
  for (auto &syms : cgtest::kBT)
    compareExactly({}, syms, key(12345, -7));
  compareExactly({}, {{"B", 7}, {"T", 13}}, key(-1, 2147483647));
}

TEST(RandomUniform, HoistedAndFusedStillTheSame) {
  for (auto &syms : cgtest::kBT)
    compareExactly({"shape-inference", "cse", "hoist", "dce", "fuse"}, syms, key(3, 4));
}

TEST(RandomUniform, OneMaskPerSequenceInsideLoops) {
  // random_uniform reads only its key: inside a loop it gives the same tensor every step.
  auto m = cgtest::parseIR(kLoopText);
  ASSERT_TRUE(m);
  auto out = ir::interpret(*m->main(), {key(1, 2), floats({3, 4, 5})}, {});
  ASSERT_TRUE(bool(out)) << llvm::toString(out.takeError());
  const rt::Tensor &ys = (*out)[4];
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t t = 1; t < 4; ++t)
      for (int64_t j = 0; j < 3; ++j)
        EXPECT_EQ(ys.f32()[(b * 4 + t) * 3 + j], ys.f32()[(b * 4) * 3 + j]);
  // Element i of any shape is the same function of (key, stream, i).
  const rt::Tensor &a = (*out)[0], &c = (*out)[2];
  EXPECT_EQ(c.f32()[0], a.f32()[0]);
  uint64_t s = rt::random::seed(1, 2, 0);
  for (int64_t i = 0; i < a.numel(); ++i)
    ASSERT_EQ(a.f32()[i], rt::random::uniform(s, (uint64_t)i)) << i;
}

double mean(const rt::Tensor &t) {
  double s = 0;
  for (int64_t i = 0; i < t.numel(); ++i)
    s += t.f32()[i];
  return s / (double)t.numel();
}

/// Pearson correlation of a[i] and b[i + lag].
double correlation(const rt::Tensor &a, const rt::Tensor &b, int64_t lag = 0) {
  int64_t n = a.numel() - lag;
  double sa = 0, sb = 0, sab = 0, saa = 0, sbb = 0;
  for (int64_t i = 0; i < n; ++i) {
    double x = a.f32()[i], y = b.f32()[i + lag];
    sa += x, sb += y, sab += x * y, saa += x * x, sbb += y * y;
  }
  double cov = sab / n - (sa / n) * (sb / n);
  return cov / std::sqrt((saa / n - (sa / n) * (sa / n)) * (sbb / n - (sb / n) * (sb / n)));
}

TEST(RandomUniform, LooksUniformAndIndependent) {
  auto m = cgtest::parseIR(R"(
func @r(%k1: i32[2], %k2: i32[2], %n: f32[N]) -> (a, b, c, d) {
  %a = random_uniform %k1 {stream = 0} : f32[N,1000]
  %b = random_uniform %k1 {stream = 1} : f32[N,1000]
  %c = random_uniform %k2 {stream = 0} : f32[N,1000]
  %d = random_uniform %k1 {stream = 1000000} : f32[N,1000]
  return %a, %b, %c, %d
}
)");
  ASSERT_TRUE(m);
  auto cf = codegen::CompiledFunction::compile(*m->main());
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  // Keys that differ in one bit of either word, or are swapped.
  for (auto [k1, k2] : {std::pair{key(0, 0), key(0, 1)}, std::pair{key(5, 9), key(4, 9)},
                        std::pair{key(9, 5), key(5, 9)}}) {
    auto out = (*cf)->run({k1, k2, rt::Tensor(rt::DType::F32, {1000})}, {});
    ASSERT_TRUE(bool(out)) << llvm::toString(out.takeError());
    // 10^6 numbers each: the standard error of the mean is 2.9e-4, of the variance 7.5e-5,
    // of a correlation 1e-3, of a tenth's count 300.
    for (const rt::Tensor &t : *out) {
      double mu = mean(t), var = 0, lo = 1, hi = 0;
      std::vector<int64_t> bins(10);
      for (int64_t i = 0; i < t.numel(); ++i) {
        double x = t.f32()[i];
        var += (x - mu) * (x - mu);
        lo = std::min(lo, x), hi = std::max(hi, x);
        bins[(int)(x * 10)]++;
      }
      var /= (double)t.numel();
      EXPECT_NEAR(mu, 0.5, 2e-3);
      EXPECT_NEAR(var, 1.0 / 12, 5e-4);
      EXPECT_GE(lo, 0.0);
      EXPECT_LT(lo, 1e-4);
      EXPECT_LT(hi, 1.0);
      EXPECT_GT(hi, 1 - 1e-4);
      for (int64_t c : bins)
        EXPECT_NEAR((double)c, 1e5, 2000);
      EXPECT_NEAR(correlation(t, t, 1), 0.0, 5e-3) << "neighbours";
      EXPECT_NEAR(correlation(t, t, 1000), 0.0, 5e-3) << "rows";
    }
    const rt::Tensor &a = (*out)[0];
    for (size_t j = 1; j < 4; ++j) {
      EXPECT_NEAR(correlation(a, (*out)[j]), 0.0, 5e-3) << "stream or key " << j;
      int64_t same = 0;
      for (int64_t i = 0; i < a.numel(); ++i)
        same += a.f32()[i] == (*out)[j].f32()[i];
      EXPECT_LT(same, 100) << "stream or key " << j;
    }
  }
}

} // namespace
