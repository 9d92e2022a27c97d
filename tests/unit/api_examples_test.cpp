// Every example model: `loom init` weights, then one compiled model run at several batch
// sizes and sequence lengths, the JIT against the interpreter.
#include "api/Compiler.h"
#include "api/Init.h"
#include "codegen/JIT.h"
#include "frontend/Elaborate.h"
#include "ir/Interpreter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

using namespace loom;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> examples() {
  std::vector<std::string> out;
  for (auto &e : fs::recursive_directory_iterator(std::string(LOOM_SOURCE_DIR) + "/examples"))
    if (e.path().extension() == ".loom")
      out.push_back(fs::relative(e.path(), std::string(LOOM_SOURCE_DIR) + "/examples").string());
  std::sort(out.begin(), out.end());
  return out;
}

/// Deterministic inputs for `f` with B and T as given: ids in [0, 3), lengths in [1, T].
std::vector<rt::Tensor> inputsFor(const ir::Function &f, int64_t B, int64_t T, unsigned seed) {
  std::vector<rt::Tensor> out;
  for (unsigned i = 0; i < f.numInputs; ++i) {
    const ir::Value *in = f.input(i);
    std::vector<int64_t> shape;
    for (auto &d : in->type.shape)
      shape.push_back(d.isStatic() ? d.value() : d.symbol() == "B" ? B : T);
    rt::Tensor t(in->type.dtype, shape);
    for (int64_t j = 0; j < t.numel(); ++j) {
      unsigned h = (unsigned)(j * 2654435761u + seed * 40503u + i * 977u);
      if (in->type.dtype == ir::DType::F32)
        t.f32()[j] = (float)std::sin(0.001 * (double)(h % 100003));
      else
        t.i32()[j] = (int32_t)(h % 3);
    }
    if (in->name == "lengths")
      for (int64_t j = 0; j < t.numel(); ++j)
        t.i32()[j] = 1 + (int32_t)((j * 7 + seed) % (unsigned)T);
    out.push_back(t);
  }
  return out;
}

double maxDiff(const rt::Tensor &a, const rt::Tensor &b) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    m = std::max(m, std::fabs((double)a.f32()[i] - (double)b.f32()[i]));
  return m;
}

/// Compiles two functions with the same signature and runs both on the same arguments.
void runBoth(const ir::Function &fa, const ir::Function &fb, const std::vector<rt::Tensor> &in,
             const std::vector<rt::Tensor> &weights, std::vector<rt::Tensor> &ya,
             std::vector<rt::Tensor> &yb) {
  auto ca = codegen::CompiledFunction::compile(fa);
  ASSERT_TRUE(!!ca) << llvm::toString(ca.takeError());
  auto cb = codegen::CompiledFunction::compile(fb);
  ASSERT_TRUE(!!cb) << llvm::toString(cb.takeError());
  auto ra = (*ca)->run(in, weights);
  ASSERT_TRUE(!!ra) << llvm::toString(ra.takeError());
  auto rb = (*cb)->run(in, weights);
  ASSERT_TRUE(!!rb) << llvm::toString(rb.takeError());
  ya = std::move(*ra);
  yb = std::move(*rb);
}

class Example : public ::testing::TestWithParam<std::string> {};

/// Compiles `example` rolled and with `unroll`, runs both on the same weights and inputs at
/// B = 2 and each T, and gives the largest difference of every output ("<name> T=<T>").
void diffsAgainstRolled(const std::string &example, const std::string &unroll,
                        const std::vector<int64_t> &Ts,
                        std::vector<std::pair<std::string, double>> &diffs) {
  frontend::SourceManager sm1, sm2;
  std::string path = std::string(LOOM_SOURCE_DIR) + "/examples/" + example;
  api::CompileOptions unrolled;
  unrolled.unroll = unroll;
  auto a = api::compile(sm1, path, {});
  auto b = api::compile(sm2, path, unrolled);
  ASSERT_TRUE(a && b);
  const ir::Function &fa = *(*a)->main(), &fb = *(*b)->main();
  auto named = api::initWeights(fa, 3);
  ASSERT_TRUE(!!named);
  std::vector<rt::Tensor> weights;
  for (auto &[k, t] : *named)
    weights.push_back(t);
  for (int64_t T : Ts) {
    std::vector<rt::Tensor> ya, yb;
    ASSERT_NO_FATAL_FAILURE(runBoth(fa, fb, inputsFor(fa, 2, T, 7), weights, ya, yb));
    ASSERT_EQ(ya.size(), fa.outputNames.size());
    for (size_t i = 0; i < ya.size(); ++i)
      diffs.push_back({fa.outputNames[i] + " T=" + std::to_string(T), maxDiff(ya[i], yb[i])});
  }
}

// Unrolled (where a loop's step count is static) and rolled compile to the same numbers.
TEST_P(Example, UnrolledMatchesRolled) {
  std::vector<std::pair<std::string, double>> diffs;
  ASSERT_NO_FATAL_FAILURE(diffsAgainstRolled(GetParam(), "full", {40}, diffs));
  for (auto &[what, d] : diffs)
    EXPECT_LE(d, 1e-5) << what;
}

// Partial unrolling (--unroll=3) emits each time loop's body three times per iteration,
// with a remainder when 3 does not divide T; the numbers must not change at all.
TEST_P(Example, PartiallyUnrolledMatchesRolledExactly) {
  std::vector<std::pair<std::string, double>> diffs;
  ASSERT_NO_FATAL_FAILURE(diffsAgainstRolled(GetParam(), "3", {40, 41}, diffs));
  for (auto &[what, d] : diffs)
    EXPECT_EQ(d, 0.0) << what;
}

TEST_P(Example, OneCompiledModelServesSeveralShapes) {
  frontend::SourceManager sm;
  auto m = api::compile(sm, std::string(LOOM_SOURCE_DIR) + "/examples/" + GetParam(), {});
  ASSERT_TRUE(!!m) << llvm::toString(m.takeError());
  const ir::Function &f = *(*m)->main();
  auto named = api::initWeights(f, 1);
  ASSERT_TRUE(!!named) << llvm::toString(named.takeError());
  std::vector<rt::Tensor> weights;
  for (auto &[k, t] : *named)
    weights.push_back(t);
  auto compiled = codegen::CompiledFunction::compile(f);
  ASSERT_TRUE(!!compiled) << llvm::toString(compiled.takeError());
  // Long enough for the strided convolutions of the sketch model.
  for (auto [B, T] : std::vector<std::pair<int64_t, int64_t>>{{2, 40}, {3, 57}, {1, 41}}) {
    auto in = inputsFor(f, B, T, (unsigned)(B * 100 + T));
    auto jit = (*compiled)->run(in, weights);
    ASSERT_TRUE(!!jit) << llvm::toString(jit.takeError());
    auto ref = ir::interpret(f, in, weights);
    ASSERT_TRUE(!!ref) << llvm::toString(ref.takeError());
    for (size_t i = 0; i < jit->size(); ++i) {
      ASSERT_EQ((*jit)[i].shape(), (*ref)[i].shape());
      EXPECT_EQ((*jit)[i].shape()[0], B);
      EXPECT_LE(maxDiff((*jit)[i], (*ref)[i]), 1e-4)
          << f.outputNames[i] << " B=" << B << " T=" << T;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Examples, Example, ::testing::ValuesIn(examples()), [](const auto &info) {
  std::string n = info.param;
  for (char &c : n)
    if (!std::isalnum((unsigned char)c))
      c = '_';
  return n;
});

// A custom cell runs under bidirectional with lengths exactly like the built-in layer it
// re-states: the minimal cell is simple_rnn's equation, so with the same weights (named
// W/U/b instead of kernel/recurrent_kernel/bias) both models agree.
TEST(CustomCell, BidirectionalWithLengthsMatchesBuiltInLayer) {
  const char *custom = R"(
cell minimal(x: f32[I], h: f32[units], units: int) -> f32[units] {
  W = param([I, units], init=glorot_uniform)
  U = param([units, units], init=orthogonal)
  b = param([units], init=zeros)
  return tanh(x @ W + b + h @ U)
}
model m(x: f32[B, T, 3], lengths: i32[B]) -> (y, hf, hb) {
  y, hf, hb = bidirectional(rnn(minimal(units=4), return_sequences=true, return_state=true), x,
                            lengths=lengths, merge_mode=ave)
}
)";
  const char *builtin = R"(
model m(x: f32[B, T, 3], lengths: i32[B]) -> (y, hf, hb) {
  y, hf, hb = bidirectional(simple_rnn(units=4, return_sequences=true, return_state=true), x,
                            lengths=lengths, merge_mode=ave)
}
)";
  frontend::SourceManager sm1, sm2;
  auto a = frontend::compileSource(sm1, "custom.loom", custom);
  ASSERT_TRUE(!!a) << llvm::toString(a.takeError());
  auto b = frontend::compileSource(sm2, "builtin.loom", builtin);
  ASSERT_TRUE(!!b) << llvm::toString(b.takeError());
  for (auto *m : {a->get(), b->get()})
    ASSERT_FALSE(!!passes::runPipeline(*m, passes::defaultPipeline(), {}));
  const ir::Function &fa = *(*a)->main(), &fb = *(*b)->main();
  auto wa = api::initWeights(fa, 5);
  ASSERT_TRUE(!!wa);
  // Same tensors, matched by position: W/U/b and kernel/recurrent_kernel/bias, forward then
  // backward.
  ASSERT_EQ(fa.params.size(), fb.params.size());
  std::vector<rt::Tensor> weights;
  for (size_t i = 0; i < wa->size(); ++i) {
    for (int64_t j = 0; j < (*wa)[i].second.numel(); ++j) // make the biases non-zero
      (*wa)[i].second.f32()[j] += 0.01f * (float)((j % 5) - 2);
    weights.push_back((*wa)[i].second);
  }
  EXPECT_EQ(fa.params[0].key, "y/forward/W");
  EXPECT_EQ(fb.params[0].key, "y/forward/kernel");
  EXPECT_EQ(fa.params[3].key, "y/backward/W");
  std::vector<rt::Tensor> ya, yb;
  ASSERT_NO_FATAL_FAILURE(runBoth(fa, fb, inputsFor(fa, 3, 6, 11), weights, ya, yb));
  ASSERT_EQ(ya.size(), 3u);
  for (size_t i = 0; i < 3; ++i)
    EXPECT_LE(maxDiff(ya[i], yb[i]), 1e-6) << i;
}

} // namespace
