// Generation: loops that stop early (`loop {until = true}`), checked against the
// interpreter, and the step count they report.
#include "codegen/JIT.h"
#include "ir/Interpreter.h"
#include "ir/Verifier.h"
#include "tests/unit/codegen_helpers.h"

#include <gtest/gtest.h>

using namespace loom;

namespace {

/// Runs `f` compiled and interpreted on random arguments; both must agree, and return the
/// compiled outputs.
std::vector<rt::Tensor> runBoth(const ir::Function &f, const ir::SymbolMap &syms,
                                uint32_t seed = 1) {
  auto [in, par] = cgtest::randomArgs(f, syms, seed);
  auto cf = codegen::CompiledFunction::compile(f);
  EXPECT_TRUE(bool(cf)) << (cf ? "" : llvm::toString(cf.takeError()));
  if (!cf)
    return {};
  auto got = (*cf)->run(in, par);
  EXPECT_TRUE(bool(got)) << (got ? "" : llvm::toString(got.takeError()));
  auto want = ir::interpret(f, in, par);
  EXPECT_TRUE(bool(want)) << (want ? "" : llvm::toString(want.takeError()));
  if (!got || !want)
    return {};
  EXPECT_EQ(got->size(), want->size());
  for (size_t i = 0; i < want->size(); ++i)
    cgtest::expectClose((*got)[i], (*want)[i], 1e-5, "output " + std::to_string(i));
  return std::move(*got);
}

// A loop of at most 1000 steps whose stop flag is set at step 3: it runs 3 steps, reports
// 3, and its stack holds the three steps' values followed by zeros.
const char *kStopAtThree = R"(func @count(%x: f32[B,4]) -> (h, ys, n, k) {
  %z = fill {value = 0.0} : f32[]
  %h, %k, %ys, %n = loop %x, %z {carries = 2, reverse = false, slices = 0, steps = dim<1000>, until = true}
      (%c: f32[B,4], %i: f32[]) {
    %one = fill {value = 1.0} : f32[]
    %three = fill {value = 3.0} : f32[]
    %i1 = add %i, %one
    %c1 = tanh %c
    %lt = less %i1, %three
    %stop = sub %one, %lt
    yield %c1, %i1, %c1, %stop
  } : f32[B,4], f32[], f32[B,1000,4], i32[]
  return %h, %ys, %n, %k
}
)";

TEST(CodegenGenerate, AnUntilLoopStopsWhenItsFlagIsSet) {
  auto m = cgtest::parseIR(kStopAtThree);
  ASSERT_TRUE(m);
  for (int64_t B : {1, 3, 0}) {
    auto out = runBoth(*m->functions[0], {{"B", B}});
    ASSERT_EQ(out.size(), 4u);
    EXPECT_EQ(out[2].i32()[0], 3) << "B=" << B;
    EXPECT_EQ(out[3].f32()[0], 3.0f) << "B=" << B;
    const float *ys = out[1].f32();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < 1000; ++t)
        for (int64_t j = 0; j < 4; ++j) {
          float v = ys[(b * 1000 + t) * 4 + j];
          if (t >= 3)
            ASSERT_EQ(v, 0.0f) << "b " << b << " t " << t;
          else
            ASSERT_NE(v, 0.0f) << "b " << b << " t " << t;
        }
  }
}

// The flag depends on the data: each row's carry halves until all are below 1e-3. The
// loop's other carries alternate between two buffers; an odd and an even step count must
// both leave the final carries right.
const char *kHalve =
    R"(func @halve(%x: f32[B,8], %n: f32[B,8], %steps_of: f32[T]) -> (h, hs, steps) {
  %a = abs %x
  %h, %g, %hs, %steps = loop %a, %n {carries = 2, reverse = false, slices = 0, steps = dim<T>, until = true}
      (%c: f32[B,8], %d: f32[B,8]) {
    %half = fill {value = 0.5} : f32[]
    %c1 = mul %c, %half
    %d1 = add %d, %c1
    %m = reduce_max %c1 {axis = 1}
    %mm = reduce_max %m {axis = 0}
    %eps = fill {value = 0.001} : f32[]
    %stop = less %mm, %eps
    yield %c1, %d1, %d1, %stop
  } : f32[B,8], f32[B,8], f32[B,T,8], i32[]
  return %h, %hs, %steps
}
)";

TEST(CodegenGenerate, AnUntilLoopStopsOnItsData) {
  auto m = cgtest::parseIR(kHalve);
  ASSERT_TRUE(m);
  for (int64_t T : {1, 2, 5, 40}) {
    auto out = runBoth(*m->functions[0], {{"B", 3}, {"T", T}}, (uint32_t)T);
    ASSERT_EQ(out.size(), 3u);
    int32_t steps = out[2].i32()[0];
    EXPECT_GE(steps, 1);
    EXPECT_LE(steps, T);
  }
}

TEST(CodegenGenerate, AnUntilLoopsFlagMustBeAScalar) {
  std::string text = kStopAtThree;
  text.replace(text.find("yield %c1, %i1, %c1, %stop"), 27, "yield %c1, %i1, %c1, %c1");
  auto m = cgtest::parseIR(text);
  ASSERT_TRUE(m);
  llvm::Error e = ir::verify(*m->functions[0]);
  ASSERT_TRUE(bool(e));
  EXPECT_NE(llvm::toString(std::move(e)).find("stop flag (its last yielded value) must be f32[]"),
            std::string::npos);
}

} // namespace
