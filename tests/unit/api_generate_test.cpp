// Generation through the C++ API: greedy decoding against the float64 reference decoder
// (tests/fixtures/gen_generate.py) token for token, the early exit, sampling's
// distribution and reproducibility, and the settings' errors.
#include "loom/loom.h"
#include "runtime/Npy.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace {

const std::string kDir = std::string(LOOM_SOURCE_DIR) + "/tests/fixtures/generate/";

loom::Model compile(const std::string &model, const loom::GenerateOptions &g = {}) {
  loom::CompileOptions opts;
  opts.model = model;
  opts.generate = g;
  auto m = loom::Model::fromFile(kDir + "lm.loom", opts);
  if (!m)
    ADD_FAILURE() << m.error().message();
  return std::move(*m);
}

/// The arrays of an .npz the reference script wrote, by name.
std::map<std::string, loom::Tensor> expected(const std::string &kind) {
  loom::rt::NamedTensors all;
  if (loom::rt::Status s = loom::rt::readNpz(kDir + kind + ".expected.npz", all))
    ADD_FAILURE() << s.message();
  std::map<std::string, loom::Tensor> out;
  for (auto &[name, t] : all)
    out.emplace(name, loom::Tensor::copyOf(loom::TensorView(
                          t.dtype() == loom::rt::DType::F32 ? loom::DType::F32 : loom::DType::I32,
                          t.data(), t.shape())));
  return out;
}

class Reference : public ::testing::TestWithParam<std::string> {};

// Greedy decoding equals the reference decoder token for token: without an end token (12
// tokens per row), and with one given as a setting (rows end at different steps; the ids
// are trimmed to the longest row).
TEST_P(Reference, GreedyTokensMatchTheFloat64Decoder) {
  const std::string kind = GetParam();
  auto want = expected(kind);
  const loom::Tensor &prompt = want.at("prompt");
  for (bool withEnd : {false, true}) {
    loom::GenerateOptions g;
    if (withEnd)
      g.endToken = want.at("end_token").i32()[0];
    loom::Model m = compile(kind + "_generate", g);
    ASSERT_FALSE(m.loadWeights(kDir + kind + ".weights.npz"));
    auto out = m.run({{"prompt", prompt}});
    ASSERT_TRUE(out) << out.error().message();
    const loom::Tensor &ids = *loom::find(*out, "ids"), &lengths = *loom::find(*out, "lengths");
    const loom::Tensor &ref = want.at(withEnd ? "ids" : "free_ids");
    ASSERT_EQ(ids.shape(), ref.shape()) << kind << (withEnd ? " with end token" : "");
    for (int64_t i = 0; i < ref.numel(); ++i)
      ASSERT_EQ(ids.i32()[i], ref.i32()[i]) << kind << " element " << i;
    for (int64_t b = 0; b < lengths.numel(); ++b)
      EXPECT_EQ(lengths.i32()[b], withEnd ? want.at("lengths").i32()[b] : 12);
  }
}

// Beam search (3 hypotheses per row, the end token as a setting) equals the reference beam
// search: the same best sequences and lengths, the same hypotheses, scores within 1e-5.
TEST_P(Reference, BeamSearchMatchesTheFloat64Search) {
  const std::string kind = GetParam();
  auto want = expected(kind);
  loom::GenerateOptions g;
  g.endToken = want.at("end_token").i32()[0];
  loom::Model m = compile(kind + "_beam", g);
  ASSERT_FALSE(m.loadWeights(kDir + kind + ".weights.npz"));
  auto out = m.run({{"prompt", want.at("prompt")}});
  ASSERT_TRUE(out) << out.error().message();
  auto same = [&](const char *got, const char *ref) {
    const loom::Tensor &a = *loom::find(*out, got), &b = want.at(ref);
    ASSERT_EQ(a.shape(), b.shape()) << got;
    for (int64_t i = 0; i < b.numel(); ++i)
      ASSERT_EQ(a.i32()[i], b.i32()[i]) << got << " element " << i;
  };
  same("ids", "beam_ids");
  same("lengths", "beam_lengths");
  same("beams", "beams");
  same("beam_lengths", "beam_all_lengths");
  const loom::Tensor &scores = *loom::find(*out, "scores"), &ref = want.at("beam_scores");
  ASSERT_EQ(scores.shape(), ref.shape());
  for (int64_t i = 0; i < ref.numel(); ++i)
    EXPECT_NEAR(scores.f32()[i], ref.f32()[i], 1e-5 * (1 + std::fabs(ref.f32()[i])));
}

INSTANTIATE_TEST_SUITE_P(Generate, Reference, ::testing::Values("gru", "lstm"));

// An encoder-decoder with dot attention over the encoder's outputs (the step's context),
// starting from a start token: greedy decoding and beam search (3 hypotheses, the context
// repeated per hypothesis) equal the reference token for token; the trimmed ids are the
// reference's first columns, the rest of which is padding.
TEST(Generate, AttentionEncoderDecoderMatchesTheFloat64Decoder) {
  auto want = expected("s2s");
  for (const char *model : {"s2s_generate", "s2s_beam"}) {
    bool beam = std::string(model) == "s2s_beam";
    loom::Model m = compile(model);
    ASSERT_FALSE(m.loadWeights(kDir + "s2s.weights.npz"));
    auto out = m.run({{"src", want.at("prompt")}});
    ASSERT_TRUE(out) << out.error().message();
    const loom::Tensor &ids = *loom::find(*out, "ids"), &lengths = *loom::find(*out, "lengths");
    const loom::Tensor &ref = want.at(beam ? "beam_ids" : "ids"),
                       &refLen = want.at(beam ? "beam_lengths" : "lengths");
    int64_t B = ref.shape()[0], N = ref.shape()[1], L = ids.shape()[1], longest = 0;
    ASSERT_EQ(ids.shape()[0], B);
    for (int64_t b = 0; b < B; ++b) {
      EXPECT_EQ(lengths.i32()[b], refLen.i32()[b]) << model << " row " << b;
      longest = std::max<int64_t>(longest, refLen.i32()[b]);
      for (int64_t t = 0; t < N; ++t) {
        int32_t r = ref.i32()[b * N + t];
        if (t < L)
          ASSERT_EQ(ids.i32()[b * L + t], r) << model << " row " << b << " step " << t;
        else
          ASSERT_EQ(r, 0) << model << ": the reference has tokens beyond the trimmed ids";
      }
    }
    EXPECT_EQ(L, longest) << model;
  }
}

// A step that ends every row at its third token, with at most 1000 steps: the loop runs 3.
const char *kCounter = R"(
def count_step(token: i32[B, 1], c: f32[B, 1]) {
  c = c + 1.0
  logits = concatenate([2.5 - c, c - 2.5])
  return logits, c
}
model count(start: i32[B]) -> (ids, lengths, steps) {
  ids, lengths, steps = generate(count_step, start=start, states=zeros([dim(start, 0), 1]),
                                 max_length=1000, end_token=1, return_steps=true)
}
)";

TEST(Generate, TheLoopStopsWhenEveryRowHasEnded) {
  auto m = loom::Model::fromSource(kCounter);
  ASSERT_TRUE(m) << m.error().message();
  std::vector<int32_t> start(4, 0);
  auto out = m->run({{"start", loom::TensorView(start.data(), {4})}});
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(loom::find(*out, "steps")->i32()[0], 3);
  const loom::Tensor &ids = *loom::find(*out, "ids");
  ASSERT_EQ(ids.shape(), (std::vector<int64_t>{4, 3}));
  for (int b = 0; b < 4; ++b) {
    EXPECT_EQ(loom::find(*out, "lengths")->i32()[b], 3);
    EXPECT_EQ(ids.i32()[b * 3 + 0], 0);
    EXPECT_EQ(ids.i32()[b * 3 + 2], 1);
  }
  // A maximum below the end: every step runs, no row ends.
  loom::CompileOptions opts;
  opts.generate.maxLength = 2;
  auto two = loom::Model::fromSource(kCounter, opts);
  ASSERT_TRUE(two) << two.error().message();
  auto out2 = two->run({{"start", loom::TensorView(start.data(), {4})}});
  ASSERT_TRUE(out2) << out2.error().message();
  EXPECT_EQ(loom::find(*out2, "steps")->i32()[0], 2);
  EXPECT_EQ(loom::find(*out2, "ids")->shape(), (std::vector<int64_t>{4, 2}));
}

// A step whose logits are a weight: every draw comes from one distribution.
const char *kFixed = R"(
def fixed_step(token: i32[B, 1], h: f32[B, 1]) {
  l = param([6], init=zeros)
  logits = h * 0.0 + l
  return logits, h
}
model draw(start: i32[B]) -> (ids, lengths) {
  ids, lengths = generate(fixed_step, start=start, states=zeros([dim(start, 0), 1]),
                          max_length=200, sample=true)
}
)";

const std::vector<float> kLogits = {1.0f, 0.5f, -0.3f, 2.0f, 0.0f, -1.2f};

std::vector<int32_t> draws(const loom::GenerateOptions &g, int threads, int32_t seed) {
  loom::CompileOptions opts;
  opts.generate = g;
  auto m = loom::Model::fromSource(kFixed, opts);
  if (!m) {
    ADD_FAILURE() << m.error().message();
    return {};
  }
  loom::Error e = m->setWeight("l/l", loom::TensorView(kLogits.data(), {6}));
  EXPECT_FALSE(e) << e.message();
  std::vector<int32_t> start(64, 0);
  int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  auto out = m->run(
      {{"start", loom::TensorView(start.data(), {64})}, {"seed", loom::TensorView(&seed, {})}});
  omp_set_num_threads(saved);
  if (!out) {
    ADD_FAILURE() << out.error().message();
    return {};
  }
  const loom::Tensor &ids = *loom::find(*out, "ids");
  return std::vector<int32_t>(ids.i32(), ids.i32() + ids.numel());
}

/// softmax(kLogits / t) restricted to `kept` (all when empty), renormalised.
std::vector<double> probabilities(double t, const std::vector<int> &kept = {}) {
  std::vector<double> p(6, 0.0);
  double sum = 0;
  for (int i = 0; i < 6; ++i)
    if (kept.empty() || std::find(kept.begin(), kept.end(), i) != kept.end())
      sum += p[i] = std::exp(kLogits[i] / t);
  for (double &x : p)
    x /= sum;
  return p;
}

/// Pearson's chi-square statistic of `ids` against `p` over the tokens with p > 0; tokens
/// with p = 0 must never be drawn.
double chiSquare(const std::vector<int32_t> &ids, const std::vector<double> &p) {
  std::vector<double> n(6, 0);
  for (int32_t id : ids) {
    EXPECT_TRUE(id >= 0 && id < 6 && p[id] > 0) << "drew token " << id;
    if (id >= 0 && id < 6)
      n[id] += 1;
  }
  double chi = 0;
  for (int i = 0; i < 6; ++i)
    if (p[i] > 0) {
      double e = p[i] * ids.size();
      chi += (n[i] - e) * (n[i] - e) / e;
    }
  return chi;
}

// 12800 draws (64 rows, 200 steps) per setting. Critical values of the chi-square
// distribution at significance 0.001: 20.52 for 5 degrees of freedom (6 tokens), 13.82 for
// 2 (3 tokens), 10.83 for 1.
TEST(Generate, SampledTokensFollowTheSoftmax) {
  loom::GenerateOptions g;
  g.temperature = 1.0;
  auto ids = draws(g, 1, 7);
  ASSERT_EQ(ids.size(), 64u * 200u);
  EXPECT_LT(chiSquare(ids, probabilities(1.0)), 20.52);

  g.temperature = 0.5;
  EXPECT_LT(chiSquare(draws(g, 1, 8), probabilities(0.5)), 20.52);

  // top-k 3 keeps tokens 3, 0, 1 (logits 2.0, 1.0, 0.5).
  g.temperature = 1.0;
  g.topK = 3;
  EXPECT_LT(chiSquare(draws(g, 1, 9), probabilities(1.0, {3, 0, 1})), 13.82);

  // top-p 0.75: probabilities 0.52 (3), 0.19 (0), 0.12 (1), ...: the nucleus is {3, 0, 1}
  // (0.52 + 0.19 < 0.75, so token 1 is still kept).
  g.topK.reset();
  g.topP = 0.75;
  EXPECT_LT(chiSquare(draws(g, 1, 10), probabilities(1.0, {3, 0, 1})), 13.82);
  g.topP = 0.5; // the most likely token alone holds more than 0.5
  for (int32_t id : draws(g, 1, 11))
    ASSERT_EQ(id, 3);
}

TEST(Generate, TheSameSeedGivesTheSameTokensOnOneAndTwoThreads) {
  loom::GenerateOptions g;
  g.temperature = 0.8;
  g.topK = 4;
  auto one = draws(g, 1, 5), two = draws(g, 2, 5), other = draws(g, 2, 6);
  EXPECT_EQ(one, two);
  EXPECT_NE(one, other);
}

// Arguments a decoding would ignore are errors: stop= with token ids (they end at
// end_token), return_state with beam search.
TEST(Generate, ArgumentsThatWouldBeIgnoredAreErrors) {
  std::string src = std::string(kCounter);
  for (auto [from, to, message] :
       {std::tuple<const char *, const char *, const char *>{
            "return_steps=true)", "return_steps=true, stop=count_step)",
            "stop= ends rows of vectors; token ids end at end_token"},
        {"return_steps=true)", "return_steps=true, beams=2, return_state=true)",
         "return_state is not available with beam search"}}) {
    std::string text = src;
    text.replace(text.find(from), std::strlen(from), to);
    auto m = loom::Model::fromSource(text);
    ASSERT_FALSE(m) << to;
    EXPECT_NE(m.error().message().find(message), std::string::npos) << m.error().message();
  }
}

// Settings are checked before anything runs, with a message naming the setting.
TEST(Generate, BadSettingsAreErrors) {
  struct Case {
    std::function<void(loom::GenerateOptions &)> set;
    const char *message;
  };
  std::vector<Case> cases = {
      {[](auto &g) { g.maxLength = 0; }, "max_length must be at least 1, got 0"},
      {[](auto &g) { g.endToken = 12; }, "end_token 12 is outside the vocabulary of 12 tokens"},
      {[](auto &g) { g.temperature = 0.0; }, "temperature must be greater than 0, got 0"},
      {[](auto &g) { g.topP = 1.5; }, "top_p must be in (0, 1], got 1.5"},
      {[](auto &g) { g.topP = 0.0; }, "top_p must be in (0, 1], got 0"},
      {[](auto &g) { g.topK = 0; }, "top_k must be at least 1, got 0"},
      {[](auto &g) { g.topK = 13; }, "top_k 13 is more than the vocabulary of 12 tokens"},
      {[](auto &g) { g.repetitionPenalty = -1.0; },
       "repetition_penalty must be greater than 0, got -1"},
      {[](auto &g) { g.beams = 0; }, "beams must be at least 1, got 0"},
      {[](auto &g) {
         g.beams = 2;
         g.sample = true;
       },
       "beam search (beams > 1) chooses the most likely sequences; it does not sample"},
  };
  for (auto &c : cases) {
    loom::CompileOptions opts;
    opts.model = "gru_generate";
    c.set(opts.generate);
    auto m = loom::Model::fromFile(kDir + "lm.loom", opts);
    ASSERT_FALSE(m) << c.message;
    EXPECT_NE(m.error().message().find(c.message), std::string::npos) << m.error().message();
  }
}

} // namespace
