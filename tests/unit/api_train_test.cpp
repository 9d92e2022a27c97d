// Training against PyTorch-generated fixtures (tests/fixtures/gen_train.py): the same LSTM
// and GRU models in Keras layouts, three optimizer steps on one batch, loom's weights after
// each step within 1e-5 of the float64 reference. Run compiled and (for one case) through
// the reference interpreter.
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

double scalar(const rt::Tensor &t) {
  return t.dtype() == ir::DType::F32 ? (double)t.f32()[0] : 0.0;
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
    // The loss file is float64 [] (npy scalar): read it as double.
    const rt::Tensor &lt = get(fx, "loss" + std::to_string(k));
    double want = lt.numel() ? (lt.dtype() == ir::DType::F32 ? lt.f32()[0] : NAN) : NAN;
    if (!std::isnan(want))
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
TEST(Train, InterpreterAgrees) { checkCase("lstm_adam", /*interpret=*/true); }

} // namespace
