// Every committed reference fixture (tests/fixtures/gen_fixtures.py) through the whole
// pipeline: the JIT and the reference interpreter must both match the float64 reference
// within 1e-5.
#include "api/Compiler.h"
#include "api/Weights.h"
#include "codegen/JIT.h"
#include "ir/Interpreter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

using namespace loom;
namespace fs = std::filesystem;

namespace {

const std::string kFixtures = std::string(LOOM_SOURCE_DIR) + "/tests/fixtures/";

/// "layers/simple_rnn_seq", "layers3/lstm_seq", ...: every case of both generators.
std::vector<std::string> cases() {
  std::vector<std::string> out;
  for (const char *dir : {"layers", "layers3"})
    for (auto &e : fs::directory_iterator(kFixtures + dir))
      if (e.path().extension() == ".loom")
        out.push_back(std::string(dir) + "/" + e.path().stem().string());
  std::sort(out.begin(), out.end());
  return out;
}

double maxAbsDiff(const rt::Tensor &a, const rt::Tensor &b) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    m = std::max(m, std::fabs((double)a.f32()[i] - (double)b.f32()[i]));
  return m;
}

class Fixture : public ::testing::TestWithParam<std::string> {};

TEST_P(Fixture, MatchesReference) {
  std::string base = kFixtures + GetParam();
  frontend::SourceManager sm;
  auto m = api::compile(sm, base + ".loom", {});
  ASSERT_TRUE(!!m) << llvm::toString(m.takeError());
  const ir::Function &f = *(*m)->main();

  auto weights = api::loadWeights(f, base + ".weights.npz");
  ASSERT_TRUE(!!weights) << llvm::toString(weights.takeError());
  rt::NamedTensors inputsNamed, expected;
  ASSERT_TRUE(rt::readNpz(base + ".inputs.npz", inputsNamed).ok());
  ASSERT_TRUE(rt::readNpz(base + ".expected.npz", expected).ok());
  auto inputs = api::matchInputs(f, inputsNamed, "inputs");
  ASSERT_TRUE(!!inputs) << llvm::toString(inputs.takeError());

  auto compiled = codegen::CompiledFunction::compile(f);
  ASSERT_TRUE(!!compiled) << llvm::toString(compiled.takeError());
  auto jit = (*compiled)->run(*inputs, *weights);
  ASSERT_TRUE(!!jit) << llvm::toString(jit.takeError());
  auto ref = ir::interpret(f, *inputs, *weights);
  ASSERT_TRUE(!!ref) << llvm::toString(ref.takeError());

  ASSERT_EQ(jit->size(), f.outputNames.size());
  for (size_t i = 0; i < f.outputNames.size(); ++i) {
    const rt::Tensor *want = nullptr;
    for (auto &[k, t] : expected)
      if (k == f.outputNames[i])
        want = &t;
    ASSERT_NE(want, nullptr) << "fixture has no expected '" << f.outputNames[i] << "'";
    ASSERT_EQ((*jit)[i].shape(), want->shape()) << f.outputNames[i];
    EXPECT_LE(maxAbsDiff((*jit)[i], *want), 1e-5) << "JIT, output " << f.outputNames[i];
    EXPECT_LE(maxAbsDiff((*ref)[i], *want), 1e-5) << "interpreter, output " << f.outputNames[i];
  }
}

INSTANTIATE_TEST_SUITE_P(Layers, Fixture, ::testing::ValuesIn(cases()), [](const auto &info) {
  std::string name = info.param;
  std::replace(name.begin(), name.end(), '/', '_');
  return name;
});

// One compiled model serves any batch size and sequence length (the spine's contract).
TEST(Shapes, OneCompiledModelManyShapes) {
  frontend::SourceManager sm;
  auto m = api::compile(sm, std::string(LOOM_SOURCE_DIR) + "/examples/shapes/simple_rnn.loom", {});
  ASSERT_TRUE(!!m) << llvm::toString(m.takeError());
  const ir::Function &f = *(*m)->main();
  std::vector<rt::Tensor> weights;
  for (unsigned i = 0; i < f.params.size(); ++i) {
    std::vector<int64_t> shape;
    for (auto &d : f.param(i)->type.shape)
      shape.push_back(d.value());
    rt::Tensor t(rt::DType::F32, shape);
    for (int64_t j = 0; j < t.numel(); ++j)
      t.f32()[j] = std::sin(0.37 * (double)(j + 11 * i));
    weights.push_back(t);
  }
  auto compiled = codegen::CompiledFunction::compile(f);
  ASSERT_TRUE(!!compiled) << llvm::toString(compiled.takeError());
  for (auto [B, T] :
       std::vector<std::pair<int64_t, int64_t>>{{1, 3}, {2, 4}, {5, 1}, {3, 17}, {1, 0}}) {
    rt::Tensor x(rt::DType::F32, {B, T, 5});
    for (int64_t j = 0; j < x.numel(); ++j)
      x.f32()[j] = std::cos(0.1 * (double)j);
    auto y = (*compiled)->run({x}, weights);
    ASSERT_TRUE(!!y) << llvm::toString(y.takeError());
    EXPECT_EQ((*y)[0].shape(), (std::vector<int64_t>{B, T, 64}));
    auto r = ir::interpret(f, {x}, weights);
    ASSERT_TRUE(!!r) << llvm::toString(r.takeError());
    EXPECT_LE(maxAbsDiff((*y)[0], (*r)[0]), 1e-5) << "B=" << B << " T=" << T;
  }
}

} // namespace
