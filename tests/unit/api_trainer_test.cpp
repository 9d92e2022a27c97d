// The public training API (loom::Trainer in loom/loom.h): the same steps as the driver
// `loom train` uses, batches as borrowed views checked like a dataset, errors as values.
#include "loom/loom.h"

#include "api/Train.h"
#include "frontend/Diagnostics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

using namespace loom;

namespace {

const char *kReg = R"(model reg(x: f32[B, 3]) -> (y: f32[B, 1]) {
  y = dense(x, 1)
}

train reg(t: f32[B, 1]) {
  loss = mse(y, t)
  optimizer = adam(learning_rate=0.01)
  metrics = [mae]
  epochs = 3
  batch_size = 4
}
)";

const char *kTagger = R"(model tag(x: i32[B, T]) -> (y: f32[B, T, 3]) {
  e = embedding(x, 5, 2)
  y = dense(e, 3, activation=softmax)
}

train tag(k: i32[B, T]) {
  loss = sparse_categorical_crossentropy(y, k)
  optimizer = sgd(learning_rate=0.1)
}
)";

std::vector<float> values(size_t n, double phase) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = (float)std::sin(0.37 * (double)i + phase);
  return v;
}

loom::Trainer trainer(const char *src) {
  auto t = loom::Trainer::fromSource(src);
  EXPECT_TRUE(t) << t.error().message();
  return std::move(*t);
}

TEST(TrainerApi, DescribesTheTrainBlock) {
  loom::Trainer t = trainer(kReg);
  ASSERT_EQ(t.inputs().size(), 1u);
  EXPECT_EQ(t.inputs()[0].typeStr(), "f32[B,3]");
  ASSERT_EQ(t.targets().size(), 1u);
  EXPECT_EQ(t.targets()[0].name, "t");
  EXPECT_EQ(t.lossName(), "mse");
  EXPECT_EQ(t.metricNames(), std::vector<std::string>{"mae"});
  EXPECT_EQ(t.optimizerName(), "adam");
  EXPECT_EQ(t.epochs(), 3);
  EXPECT_EQ(t.batchSize(), 4);
  ASSERT_EQ(t.weights().size(), 2u);
  EXPECT_EQ(t.weights()[0].typeStr(), "f32[3,1]");
  EXPECT_DOUBLE_EQ(t.learningRate(), 0.01);
}

// The public steps are the driver's: same weights, same batches, same bits.
TEST(TrainerApi, StepsEqualTheDriversBitForBit) {
  loom::Trainer t = trainer(kReg);
  frontend::SourceManager sm;
  api::TrainerOptions o;
  o.source = kReg;
  auto d = api::Trainer::create(sm, "<source>", o);
  ASSERT_TRUE((bool)d) << llvm::toString(d.takeError());
  ASSERT_FALSE(t.initWeights(7));
  ASSERT_FALSE((bool)(*d)->initWeights(7));
  std::vector<float> x = values(8 * 3, 0.5), y = values(8, 1.5);
  for (int step = 0; step < 3; ++step) {
    auto r = t.trainBatch(
        {{"x", loom::TensorView(x.data(), {8, 3})}, {"t", loom::TensorView(y.data(), {8, 1})}});
    ASSERT_TRUE(r) << r.error().message();
    rt::Tensor rx(rt::DType::F32, {8, 3}), ry(rt::DType::F32, {8, 1});
    std::copy(x.begin(), x.end(), rx.f32());
    std::copy(y.begin(), y.end(), ry.f32());
    auto q = (*d)->step({rx, ry});
    ASSERT_TRUE((bool)q);
    EXPECT_EQ(r->loss, q->loss);
    EXPECT_EQ(r->metrics, q->metrics);
  }
  auto w = t.weightValues();
  ASSERT_TRUE(w);
  auto dw = (*d)->weights();
  for (size_t i = 0; i < w->size(); ++i)
    for (int64_t k = 0; k < (*w)[i].tensor.numel(); ++k)
      EXPECT_EQ((*w)[i].tensor.f32()[k], dw[i].second.f32()[k]);
  EXPECT_EQ(t.iterations(), 3);
}

TEST(TrainerApi, BatchesAreCheckedLikeADataset) {
  loom::Trainer t = trainer(kReg);
  std::vector<float> x = values(8 * 3, 0.5), y = values(8, 1.5);
  auto missing = t.trainBatch({{"x", loom::TensorView(x.data(), {8, 3})}});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), loom::ErrorCode::Input);
  EXPECT_NE(missing.error().message().find("missing array 't'"), std::string::npos)
      << missing.error().message();
  auto rows = t.checkData(
      {{"x", loom::TensorView(x.data(), {8, 3})}, {"t", loom::TensorView(y.data(), {4, 2})}},
      "fit");
  ASSERT_FALSE(rows);
  EXPECT_EQ(rows.error().message(), "fit: array 't' has shape [4,2] but the model expects [B,1]");
  auto ok = t.checkData(
      {{"x", loom::TensorView(x.data(), {8, 3})}, {"t", loom::TensorView(y.data(), {8, 1})}});
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(*ok, 8);
  auto twice = t.checkData(
      {{"x", loom::TensorView(x.data(), {8, 3})}, {"x", loom::TensorView(x.data(), {8, 3})}});
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message().find("given twice"), std::string::npos);
}

TEST(TrainerApi, SparseLabelsOutOfRangeAreAnError) {
  loom::Trainer t = trainer(kTagger);
  std::vector<int32_t> x = {1, 2, 3, 4}, k = {0, 1, 3, 2};
  auto r = t.trainBatch(
      {{"x", loom::TensorView(x.data(), {2, 2})}, {"k", loom::TensorView(k.data(), {2, 2})}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(),
            "batch: array 'k': label 3 at [1, 0] is outside [0, 2] (the model has 3 classes)");
}

TEST(TrainerApi, LearningRateReplacesTheSchedule) {
  loom::Trainer t = trainer(kReg);
  EXPECT_TRUE(t.setLearningRate(0));
  EXPECT_TRUE(t.setLearningRate(NAN));
  EXPECT_FALSE(t.setLearningRate(0.5));
  EXPECT_DOUBLE_EQ(t.learningRate(), 0.5);
}

TEST(TrainerApi, CompileErrorsAndMissingTrainBlocks) {
  auto none = loom::Trainer::fromSource("model m(x: f32[B, 3]) -> (y: f32[B, 1]) {\n"
                                        "  y = dense(x, 1)\n}\n");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), loom::ErrorCode::Compile);
  auto file = loom::Trainer::fromFile("/nonexistent/m.loom");
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().code(), loom::ErrorCode::IO);
  loom::TrainOptions o;
  o.batchSize = 0;
  auto bad = loom::Trainer::fromSource(kReg, o);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), loom::ErrorCode::InvalidArgument);
}

TEST(TrainerApi, EpochOrderIsThePermutationOfSeedAndEpoch) {
  std::vector<int64_t> a = loom::epochOrder(50, true, 3, 1), b = loom::epochOrder(50, true, 3, 1);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, loom::epochOrder(50, true, 3, 2));
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, loom::epochOrder(50, false, 3, 1));
  EXPECT_NE(a, sorted);
}

} // namespace
