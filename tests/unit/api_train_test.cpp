// Training against PyTorch-generated fixtures (tests/fixtures/gen_train.py): the same LSTM
// and GRU models (one with a causal, dilated conv1d before it) in Keras layouts, three
// optimizer steps on one batch, loom's weights after each step within 1e-5 of the float64
// reference. Run compiled and (for one case) through the reference interpreter.
#include "api/Train.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace loom;

namespace {

const std::string kDir = std::string(LOOM_SOURCE_DIR) + "/tests/fixtures/train/";

const rt::Tensor &get(const rt::NamedTensors &ts, const std::string &k) {
  for (auto &[n, t] : ts)
    if (n == k)
      return t;
  ADD_FAILURE() << "fixture has no array " << k;
  static rt::Tensor none;
  return none;
}

rt::NamedTensors withPrefix(const rt::NamedTensors &ts, const std::string &prefix) {
  rt::NamedTensors r;
  for (auto &[n, t] : ts)
    if (n.rfind(prefix, 0) == 0)
      r.push_back({n.substr(prefix.size()), t});
  return r;
}

void checkCase(const std::string &name, bool interpret = false) {
  SCOPED_TRACE(name);
  frontend::SourceManager sm;
  api::TrainerOptions opts;
  opts.interpret = interpret;
  auto tr = api::Trainer::create(sm, kDir + name + ".loom", opts);
  ASSERT_TRUE(bool(tr)) << llvm::toString(tr.takeError());
  rt::NamedTensors fx;
  ASSERT_TRUE(rt::readNpz(kDir + name + ".npz", fx).ok());
  ASSERT_FALSE(bool((*tr)->setWeights(withPrefix(fx, "init/"), "init")));
  std::vector<rt::Tensor> batch = {get(fx, "x"), get(fx, "target")};
  for (int k = 1; k <= 3; ++k) {
    auto r = (*tr)->step(batch);
    ASSERT_TRUE(bool(r)) << llvm::toString(r.takeError());
    // The fixture's float64 scalar is read narrowed to f32.
    const rt::Tensor &lt = get(fx, "loss" + std::to_string(k));
    ASSERT_EQ(lt.dtype(), ir::DType::F32);
    ASSERT_EQ(lt.numel(), 1);
    double want = lt.f32()[0];
    EXPECT_NEAR(r->loss, want, 1e-5 * (1 + std::fabs(want))) << "loss at step " << k;
    auto want_w = withPrefix(fx, "step" + std::to_string(k) + "/");
    auto got = (*tr)->weights();
    ASSERT_EQ(got.size(), want_w.size());
    for (auto &[key, w] : want_w) {
      const rt::Tensor &g = get(got, key);
      ASSERT_EQ(g.shape(), w.shape()) << key;
      double worst = 0;
      for (int64_t i = 0; i < w.numel(); ++i)
        worst = std::max(worst, std::fabs((double)g.f32()[i] - (double)w.f32()[i]));
      EXPECT_LE(worst, 1e-5) << key << " after step " << k;
    }
  }
  EXPECT_EQ((*tr)->iterations(), 3);
}

TEST(Train, LstmSgdMomentum) { checkCase("lstm_sgd"); }
TEST(Train, GruSgdNesterov) { checkCase("gru_sgd"); }
TEST(Train, LstmAdamClipnorm) { checkCase("lstm_adam"); }
TEST(Train, GruAdamClipnorm) { checkCase("gru_adam"); }
TEST(Train, GruSequenceBceGlobalClipnorm) { checkCase("gru_seq_bce"); }
TEST(Train, LstmRmspropCategorical) { checkCase("lstm_rmsprop_cce"); }
TEST(Train, ConvLstmAdam) { checkCase("conv_lstm_adam"); }
TEST(Train, InterpreterAgrees) { checkCase("lstm_adam", /*interpret=*/true); }

} // namespace

namespace {

void expectWeights(const api::Trainer &tr, const rt::NamedTensors &want, const std::string &what) {
  auto got = tr.weights();
  ASSERT_EQ(got.size(), want.size()) << what;
  for (auto &[key, w] : want) {
    const rt::Tensor &g = get(got, key);
    ASSERT_EQ(g.shape(), w.shape()) << key;
    double worst = 0;
    for (int64_t i = 0; i < w.numel(); ++i)
      worst = std::max(worst, std::fabs((double)g.f32()[i] - (double)w.f32()[i]));
    EXPECT_LE(worst, 1e-5) << key << " " << what;
  }
}

rt::Tensor steps(const rt::Tensor &t, int64_t t0, int64_t n) {
  std::vector<int64_t> shape = t.shape();
  int64_t inner = 1;
  for (size_t k = 2; k < shape.size(); ++k)
    inner *= shape[k];
  int64_t T = shape[1];
  shape[1] = n;
  rt::Tensor r(t.dtype(), shape);
  for (int64_t b = 0; b < shape[0]; ++b)
    for (int64_t i = 0; i < n * inner; ++i)
      r.f32()[b * n * inner + i] = t.f32()[(b * T + t0) * inner + i];
  return r;
}

// Truncated BPTT against a hand-chunked reference: chunks of 3 steps, chunk 2 starting from
// chunk 1's final (h, c) without backpropagating into chunk 1.
TEST(Train, TruncatedBpttMatchesChunkedReference) {
  frontend::SourceManager sm;
  api::TrainerOptions opts;
  opts.bptt = 3;
  auto tr = api::Trainer::create(sm, kDir + "lstm_bptt.loom", opts);
  ASSERT_TRUE(bool(tr)) << llvm::toString(tr.takeError());
  rt::NamedTensors fx;
  ASSERT_TRUE(rt::readNpz(kDir + "lstm_bptt.npz", fx).ok());
  ASSERT_FALSE(bool((*tr)->setWeights(withPrefix(fx, "init/"), "init")));
  auto r = (*tr)->step({get(fx, "x"), get(fx, "target")});
  ASSERT_TRUE(bool(r)) << llvm::toString(r.takeError());
  EXPECT_EQ((*tr)->iterations(), 2);
  double want = 0.5 * (get(fx, "loss1").f32()[0] + get(fx, "loss2").f32()[0]);
  EXPECT_NEAR(r->loss, want, 1e-5 * (1 + want));
  expectWeights(**tr, withPrefix(fx, "chunk2/"), "after both chunks");
}

// Stateful training carries the state from batch to batch: the two chunks given as two
// batches give the same weights, and resetStates() starts again from zeros.
TEST(Train, StatefulCarriesStateAcrossBatches) {
  frontend::SourceManager sm;
  api::TrainerOptions opts;
  opts.stateful = true;
  auto tr = api::Trainer::create(sm, kDir + "lstm_bptt.loom", opts);
  ASSERT_TRUE(bool(tr)) << llvm::toString(tr.takeError());
  rt::NamedTensors fx;
  ASSERT_TRUE(rt::readNpz(kDir + "lstm_bptt.npz", fx).ok());
  ASSERT_FALSE(bool((*tr)->setWeights(withPrefix(fx, "init/"), "init")));
  const rt::Tensor &x = get(fx, "x"), &y = get(fx, "target");
  auto r1 = (*tr)->step({steps(x, 0, 3), steps(y, 0, 3)});
  ASSERT_TRUE(bool(r1)) << llvm::toString(r1.takeError());
  EXPECT_NEAR(r1->loss, get(fx, "loss1").f32()[0], 1e-5);
  expectWeights(**tr, withPrefix(fx, "chunk1/"), "after chunk 1");
  auto r2 = (*tr)->step({steps(x, 3, 3), steps(y, 3, 3)});
  ASSERT_TRUE(bool(r2)) << llvm::toString(r2.takeError());
  EXPECT_NEAR(r2->loss, get(fx, "loss2").f32()[0], 1e-5);
  expectWeights(**tr, withPrefix(fx, "chunk2/"), "after chunk 2");
  // A batch of another size is an error while state is carried.
  rt::Tensor x1(ir::DType::F32, {1, 3, 3}), y1(ir::DType::F32, {1, 3, 1});
  auto bad = (*tr)->step({x1, y1});
  ASSERT_FALSE(bool(bad));
  EXPECT_NE(llvm::toString(bad.takeError()).find("same size"), std::string::npos);
  // After a reset, training starts again from zeros.
  (*tr)->resetStates();
  ASSERT_FALSE(bool((*tr)->setWeights(withPrefix(fx, "init/"), "init")));
  auto again = (*tr)->step({steps(x, 0, 3), steps(y, 0, 3)});
  ASSERT_TRUE(bool(again));
  expectWeights(**tr, withPrefix(fx, "chunk1/"), "after a reset");
}

} // namespace
