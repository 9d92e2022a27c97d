// Layers in training mode (a model elaborated with a TrainSpec): the training function's
// signature (rng_key after the targets, update/<key> outputs after the loss and metrics),
// dropout's mask statistics and determinism, batch_norm's batch statistics and moving
// updates (Keras's formulas, masked steps left out), recurrent dropout's masks being the
// same at every step, and the compiled function equal to the interpreter.
#include "codegen/JIT.h"
#include "frontend/Elaborate.h"
#include "ir/Interpreter.h"
#include "ir/Printer.h"
#include "passes/PassManager.h"
#include "tests/unit/codegen_helpers.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

using namespace loom;

namespace {

struct Elaborated {
  std::unique_ptr<ir::Module> module;
  frontend::TrainSpec spec;
  ir::Function &f() { return *module->main(); }
};

/// Elaborates `src` for training (or, with `training` false, with inference-mode layers)
/// and lowers its recurrences.
Elaborated elaborate(const std::string &src, bool training = true, bool withSpec = true) {
  Elaborated e;
  e.spec.trainingMode = training;
  frontend::SourceManager sm;
  auto m = frontend::compileSource(sm, "model.loom", src, "", withSpec ? &e.spec : nullptr);
  if (!m) {
    ADD_FAILURE() << llvm::toString(m.takeError());
    return e;
  }
  if (auto err = passes::runPipeline(**m, {"lower-rnn", "shape-inference"}, {})) {
    ADD_FAILURE() << llvm::toString(std::move(err));
    return e;
  }
  e.module = std::move(*m);
  return e;
}

std::vector<std::string> inputNames(const ir::Function &f) {
  std::vector<std::string> r;
  for (unsigned i = 0; i < f.numInputs; ++i)
    r.push_back(f.input(i)->name);
  return r;
}

std::vector<std::string> paramKeys(const ir::Function &f) {
  std::vector<std::string> r;
  for (auto &p : f.params)
    r.push_back(p.key);
  return r;
}

int countOps(ir::Block &b, ir::OpKind k, bool topLevelOnly = false) {
  int n = 0;
  if (topLevelOnly) {
    for (auto &op : b.ops)
      n += op->kind == k;
    return n;
  }
  ir::walk(b, [&](ir::Op &op) { n += op.kind == k; });
  return n;
}

rt::Tensor key(int32_t k0, int32_t k1) {
  rt::Tensor t(rt::DType::I32, {2});
  t.i32()[0] = k0;
  t.i32()[1] = k1;
  return t;
}

rt::Tensor filled(std::vector<int64_t> shape, float v) {
  rt::Tensor t(rt::DType::F32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i)
    t.f32()[i] = v;
  return t;
}

std::vector<rt::Tensor> run(ir::Function &f, const std::vector<rt::Tensor> &in,
                            const std::vector<rt::Tensor> &par) {
  auto out = ir::interpret(f, in, par);
  if (!out) {
    ADD_FAILURE() << llvm::toString(out.takeError()) << "\n" << ir::print(f);
    return {};
  }
  return std::move(*out);
}

/// The compiled function (after the training pipeline) gives exactly the interpreter's
/// outputs on the same arguments, up to float rounding of the arithmetic.
void expectCompiledMatches(const ir::Module &m, const std::vector<rt::Tensor> &in,
                           const std::vector<rt::Tensor> &par) {
  auto want = ir::interpret(*m.main(), in, par);
  ASSERT_TRUE(bool(want)) << llvm::toString(want.takeError());
  auto cm = ir::cloneModule(m);
  ASSERT_FALSE(
      bool(passes::runPipeline(*cm, {"shape-inference", "cse", "hoist", "dce", "fuse"}, {})));
  auto cf = codegen::CompiledFunction::compile(*cm->main());
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  auto got = (*cf)->run(in, par);
  ASSERT_TRUE(bool(got)) << llvm::toString(got.takeError());
  ASSERT_EQ(got->size(), want->size());
  for (size_t i = 0; i < want->size(); ++i)
    cgtest::expectClose((*got)[i], (*want)[i], 1e-5, "compiled output " + std::to_string(i));
}

// A def that exports its input from the training step as update/<binding>/seen (a weight of
// the input's static shape), so tests can look at a layer's training-mode output.
const char *kProbe = R"(
def probe(x: f32[N, F]) {
  seen = param([N, F], init=zeros, trainable=false)
  if training() { assign(seen, x) }
  return x
}
)";

TEST(TrainingLayers, Signature) {
  std::string src = R"(
model m(x: f32[B, 8]) -> (y) {
  h = dense(x, units=4)
  d = dropout(h, 0.25)
  y = batch_norm(d)
}
train m(t: f32[B, 4]) {
  loss = mse(y, t)
  metrics = [mae]
}
)";
  Elaborated tr = elaborate(src);
  ASSERT_TRUE(tr.module);
  ir::Function &f = tr.f();
  // Inputs: the model's, the targets, then rng_key (created before the targets existed).
  EXPECT_EQ(inputNames(f), (std::vector<std::string>{"x", "t", "rng_key"}));
  EXPECT_EQ(f.input(2)->type.str(), "i32[2]");
  for (unsigned i = 0; i < f.body.args.size(); ++i)
    EXPECT_EQ(f.body.args[i]->index, i);
  EXPECT_EQ(paramKeys(f), (std::vector<std::string>{"h/kernel", "h/bias", "y/moving_mean",
                                                    "y/moving_variance", "y/gamma", "y/beta"}));
  EXPECT_EQ(f.outputNames, (std::vector<std::string>{"loss", "mae", "update/y/moving_mean",
                                                     "update/y/moving_variance"}));
  EXPECT_EQ(tr.spec.targets, (std::vector<std::string>{"t"}));
  EXPECT_EQ(countOps(f.body, ir::OpKind::RandomUniform), 1);

  // Inference-mode layers with the same train block (the evaluation function): no key, no
  // updates, the same weights in the same order.
  Elaborated ev = elaborate(src, /*training=*/false);
  ASSERT_TRUE(ev.module);
  EXPECT_EQ(inputNames(ev.f()), (std::vector<std::string>{"x", "t"}));
  EXPECT_EQ(paramKeys(ev.f()), paramKeys(f));
  EXPECT_EQ(ev.f().outputNames, (std::vector<std::string>{"loss", "mae"}));
  EXPECT_EQ(countOps(ev.f().body, ir::OpKind::RandomUniform), 0);

  // Plain inference: the model's output.
  Elaborated inf = elaborate(src, false, /*withSpec=*/false);
  ASSERT_TRUE(inf.module);
  EXPECT_EQ(inputNames(inf.f()), (std::vector<std::string>{"x"}));
  EXPECT_EQ(inf.f().outputNames, (std::vector<std::string>{"y"}));
  EXPECT_EQ(paramKeys(inf.f()), paramKeys(f));
}

TEST(TrainingLayers, TrainingOnlyBuiltinsFailAtInference) {
  for (const char *body : {"y = x * random_uniform(x)", "y = x; assign(w, x)"}) {
    std::string src = std::string("model m(x: f32[3]) -> (y) {\n  w = param([3], init=zeros)\n  ") +
                      body + "\n}\n";
    frontend::SourceManager sm;
    auto m = frontend::compileSource(sm, "model.loom", src);
    ASSERT_FALSE(bool(m)) << body;
    std::string msg = llvm::toString(m.takeError());
    EXPECT_NE(msg.find("only available when training"), std::string::npos) << msg;
    EXPECT_NE(msg.find("model.loom:3:"), std::string::npos) << msg; // at the call
  }
}

TEST(TrainingLayers, AssignChecksItsArguments) {
  const char *cases[][2] = {
      {"assign(x, x)", "assign needs a weight made by param"},
      {"assign(w, x)", "the weight is f32[3] but the new value is f32[B,3]"},
      {"assign(w, reduce_sum(x, axis=0))\n  assign(w, reduce_max(x, axis=0))",
       "weight 'w/w' is assigned twice"},
  };
  for (auto &c : cases) {
    std::string src =
        std::string("model m(x: f32[B, 3]) -> (y) {\n  y = x\n  w = param([3], init=zeros)\n  ") +
        c[0] + "\n}\ntrain m(t: f32[B, 3]) { loss = mse(y, t) }\n";
    frontend::SourceManager sm;
    frontend::TrainSpec spec;
    auto m = frontend::compileSource(sm, "model.loom", src, "", &spec);
    ASSERT_FALSE(bool(m)) << c[0];
    std::string msg = llvm::toString(m.takeError());
    EXPECT_NE(msg.find(c[1]), std::string::npos) << msg;
  }
}

TEST(TrainingLayers, DropoutDropsRateAndScalesTheRest) {
  std::string src = std::string(kProbe) + R"(
model m(x: f32[200, 50]) -> (y) {
  d = dropout(x, 0.3)
  y = probe(d)
}
train m(t: f32[200, 50]) { loss = mse(y, t) }
)";
  Elaborated tr = elaborate(src);
  ASSERT_TRUE(tr.module);
  ir::Function &f = tr.f();
  ASSERT_EQ(inputNames(f), (std::vector<std::string>{"x", "t", "rng_key"}));
  ASSERT_EQ(f.outputNames, (std::vector<std::string>{"loss", "update/y/seen"}));
  rt::Tensor x(rt::DType::F32, {200, 50});
  for (int64_t i = 0; i < x.numel(); ++i)
    x.f32()[i] = 1.0f + (float)(i % 7);
  rt::Tensor t = filled({200, 50}, 0), seen = filled({200, 50}, 0);
  auto out = run(f, {x, t, key(11, 22)}, {seen});
  ASSERT_EQ(out.size(), 2u);
  const rt::Tensor &y = out[1];
  int64_t zeros = 0;
  for (int64_t i = 0; i < y.numel(); ++i) {
    if (y.f32()[i] == 0) {
      ++zeros;
      continue;
    }
    ASSERT_EQ(y.f32()[i], x.f32()[i] / 0.7f) << i;
  }
  // 10^4 elements: the dropped fraction's standard error is 0.0046.
  EXPECT_NEAR((double)zeros / (double)y.numel(), 0.3, 0.02);

  // The same key gives the same mask; another key another one.
  auto again = run(f, {x, t, key(11, 22)}, {seen});
  EXPECT_EQ(std::memcmp(again[1].data(), y.data(), y.bytes()), 0);
  auto other = run(f, {x, t, key(11, 23)}, {seen});
  int64_t differ = 0;
  for (int64_t i = 0; i < y.numel(); ++i)
    differ += other[1].f32()[i] != y.f32()[i];
  EXPECT_GT(differ, y.numel() / 5);

  expectCompiledMatches(*tr.module, {x, t, key(11, 22)}, {seen});
}

TEST(TrainingLayers, DropoutCallsGetTheirOwnStreams) {
  std::string src = std::string(kProbe) + R"(
model m(x: f32[100, 40]) -> (y) {
  a = dropout(x, 0.5)
  y = probe(dropout(a, 0.5))
}
train m(t: f32[100, 40]) { loss = mse(y, t) }
)";
  Elaborated tr = elaborate(src);
  ASSERT_TRUE(tr.module);
  std::set<int64_t> streams;
  ir::walk(tr.f().body, [&](ir::Op &op) {
    if (op.kind == ir::OpKind::RandomUniform)
      streams.insert(op.intAttr("stream"));
  });
  EXPECT_EQ(streams.size(), 2u);
  // Two independent masks of rate 0.5 keep a quarter, scaled by 4.
  auto out =
      run(tr.f(), {filled({100, 40}, 1), filled({100, 40}, 0), key(5, 6)}, {filled({100, 40}, 0)});
  ASSERT_EQ(out.size(), 2u);
  int64_t kept = 0;
  for (int64_t i = 0; i < out[1].numel(); ++i) {
    float v = out[1].f32()[i];
    ASSERT_TRUE(v == 0 || v == 4) << v;
    kept += v == 4;
  }
  EXPECT_NEAR((double)kept / 4000, 0.25, 0.03);
}

TEST(TrainingLayers, BatchNormUsesBatchStatisticsAndUpdatesMovingOnes) {
  std::string src = std::string(kProbe) + R"(
def probe3(x: f32[A, N, F]) {
  seen = param([A, N, F], init=zeros, trainable=false)
  if training() { assign(seen, x) }
  return x
}
model m(x: f32[8, 5, 3]) -> (y) {
  n = batch_norm(x, momentum=0.9)
  y = probe3(n)
}
train m(t: f32[8, 5, 3]) { loss = mse(y, t) }
)";
  Elaborated tr = elaborate(src);
  ASSERT_TRUE(tr.module);
  ir::Function &f = tr.f();
  EXPECT_EQ(inputNames(f), (std::vector<std::string>{"x", "t"})) << "no randomness, no key";
  ASSERT_EQ(paramKeys(f), (std::vector<std::string>{"n/moving_mean", "n/moving_variance", "n/gamma",
                                                    "n/beta", "y/seen"}));
  ASSERT_EQ(f.outputNames, (std::vector<std::string>{"loss", "update/n/moving_mean",
                                                     "update/n/moving_variance", "update/y/seen"}));
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  rt::Tensor x(rt::DType::F32, {8, 5, 3});
  const float offset[3] = {2, -1, 0.5f}, scale[3] = {1, 3, 0.2f};
  for (int64_t i = 0; i < x.numel(); ++i)
    x.f32()[i] = offset[i % 3] + scale[i % 3] * nd(rng);
  rt::Tensor mm(rt::DType::F32, {3}), mv(rt::DType::F32, {3});
  for (int c = 0; c < 3; ++c)
    mm.f32()[c] = 0.1f * (float)(c + 1), mv.f32()[c] = (float)(c + 1);
  std::vector<rt::Tensor> par{mm, mv, filled({3}, 1), filled({3}, 0), filled({8, 5, 3}, 0)};
  std::vector<rt::Tensor> in{x, filled({8, 5, 3}, 0)};
  auto out = run(f, in, par);
  ASSERT_EQ(out.size(), 4u);
  for (int c = 0; c < 3; ++c) {
    // The batch's statistics by hand, in double (biased variance, as Keras).
    double s = 0, ss = 0, ys = 0, yss = 0;
    for (int64_t r = 0; r < 40; ++r)
      s += x.f32()[r * 3 + c];
    double mean = s / 40;
    for (int64_t r = 0; r < 40; ++r) {
      double d = x.f32()[r * 3 + c] - mean, y = out[3].f32()[r * 3 + c];
      ss += d * d, ys += y, yss += y * y;
    }
    double var = ss / 40;
    // The normalised output: per-channel mean 0 and variance var / (var + epsilon).
    EXPECT_NEAR(ys / 40, 0.0, 1e-5) << c;
    EXPECT_NEAR(yss / 40 - (ys / 40) * (ys / 40), var / (var + 0.001), 1e-5) << c;
    EXPECT_NEAR(yss / 40, 1.0, 0.03) << c;
    // moving := moving * momentum + batch * (1 - momentum)
    EXPECT_NEAR(out[1].f32()[c], mm.f32()[c] * 0.9 + mean * 0.1, 1e-5) << c;
    EXPECT_NEAR(out[2].f32()[c], mv.f32()[c] * 0.9 + var * 0.1, 1e-5 * (1 + var)) << c;
  }
  expectCompiledMatches(*tr.module, in, par);

  // In inference mode the moving statistics normalise, and nothing is updated.
  Elaborated ev = elaborate(src, /*training=*/false);
  ASSERT_TRUE(ev.module);
  EXPECT_EQ(ev.f().outputNames, (std::vector<std::string>{"loss"}));
}

TEST(TrainingLayers, MaskedBatchNormCountsOnlyStepsThatCount) {
  std::string src = R"(
model m(ids: i32[4, 6]) -> (y) {
  e = embedding(ids, input_dim=10, output_dim=3, mask_zero=true)
  y = batch_norm(e)
}
train m(t: f32[4, 6, 3]) { loss = mse(y, t) }
)";
  Elaborated tr = elaborate(src);
  ASSERT_TRUE(tr.module);
  ir::Function &f = tr.f();
  ASSERT_EQ(paramKeys(f), (std::vector<std::string>{"e/embeddings", "y/moving_mean",
                                                    "y/moving_variance", "y/gamma", "y/beta"}));
  ASSERT_EQ(f.outputNames,
            (std::vector<std::string>{"loss", "update/y/moving_mean", "update/y/moving_variance"}));
  rt::Tensor ids(rt::DType::I32, {4, 6});
  const int32_t idv[24] = {1, 2, 3, 0, 0, 0, 4, 5, 6, 7, 8, 0, 9, 0, 0, 0, 0, 0, 2, 4, 6, 8, 1, 3};
  std::copy(idv, idv + 24, ids.i32());
  rt::Tensor table(rt::DType::F32, {10, 3});
  for (int64_t i = 0; i < table.numel(); ++i)
    table.f32()[i] = std::sin(1.3f * (float)i) * 2 + (float)(i % 3);
  std::vector<rt::Tensor> par{table, filled({3}, 0), filled({3}, 1), filled({3}, 1),
                              filled({3}, 0)};
  std::vector<rt::Tensor> in{ids, filled({4, 6, 3}, 0)};
  auto out = run(f, in, par);
  ASSERT_EQ(out.size(), 3u);
  for (int c = 0; c < 3; ++c) {
    // Keras's _moments with a mask: weighted sums over the steps whose id is not 0.
    double n = 0, s = 0;
    for (int32_t id : idv)
      if (id)
        n += 1, s += table.f32()[id * 3 + c];
    double mean = s / (n + 1e-7), ss = 0;
    for (int32_t id : idv)
      if (id)
        ss += (table.f32()[id * 3 + c] - mean) * (table.f32()[id * 3 + c] - mean);
    double var = ss / (n + 1e-7);
    EXPECT_NEAR(out[1].f32()[c], 0.01 * mean, 1e-6) << c;
    EXPECT_NEAR(out[2].f32()[c], 0.99 + 0.01 * var, 1e-6) << c;
  }
  expectCompiledMatches(*tr.module, in, par);
}

TEST(TrainingLayers, RecurrentDropoutMasksAreTheSameEveryStep) {
  // With zero recurrent weights and bias, a simple_rnn step is tanh((x_t * mask) @ kernel):
  // for the same x_t at every step, every step's output is the same iff the input mask is.
  // The recurrent mask is made in the cell body, from the key only, so hoisting moves it
  // out of the loop: one mask for all steps too.
  std::string src = R"(
def probe3(x: f32[A, N, F]) {
  seen = param([A, N, F], init=zeros, trainable=false)
  if training() { assign(seen, x) }
  return x
}
model m(x: f32[3, 4, 6]) -> (y) {
  r = simple_rnn(x, units=5, dropout=0.5, recurrent_dropout=0.4, return_sequences=true)
  y = probe3(r)
}
train m(t: f32[3, 4, 5]) { loss = mse(y, t) }
)";
  Elaborated tr = elaborate(src);
  ASSERT_TRUE(tr.module);
  ir::Function &f = tr.f();
  EXPECT_EQ(inputNames(f), (std::vector<std::string>{"x", "t", "rng_key"}));
  EXPECT_EQ(countOps(f.body, ir::OpKind::RandomUniform), 2);
  EXPECT_EQ(countOps(f.body, ir::OpKind::RandomUniform, /*topLevelOnly=*/true), 1)
      << "the input mask is made before the loop, the recurrent one in its body";
  auto hoisted = ir::cloneModule(*tr.module);
  ASSERT_FALSE(bool(passes::runPipeline(*hoisted, {"cse", "hoist", "dce"}, {})));
  EXPECT_EQ(countOps(hoisted->main()->body, ir::OpKind::RandomUniform, true), 2)
      << ir::print(*hoisted);

  ASSERT_EQ(paramKeys(f),
            (std::vector<std::string>{"r/kernel", "r/recurrent_kernel", "r/bias", "y/seen"}));
  rt::Tensor kernel(rt::DType::F32, {6, 5});
  for (int64_t i = 0; i < kernel.numel(); ++i)
    kernel.f32()[i] = 0.1f * (float)(i % 7) - 0.3f;
  std::vector<rt::Tensor> par{kernel, filled({5, 5}, 0), filled({5}, 0), filled({3, 4, 5}, 0)};
  std::vector<rt::Tensor> in{filled({3, 4, 6}, 1), filled({3, 4, 5}, 0), key(7, 8)};
  auto a = run(f, in, par);
  ASSERT_EQ(a.size(), 2u);
  const rt::Tensor &y = a[1];
  bool someDropped = false;
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t t = 1; t < 4; ++t)
      for (int64_t u = 0; u < 5; ++u)
        EXPECT_EQ(y.f32()[(b * 4 + t) * 5 + u], y.f32()[(b * 4) * 5 + u]) << b << " " << t;
  // ... and the mask does drop something (the sequences differ from the undropped one).
  Elaborated ev = elaborate(src, /*training=*/false);
  ASSERT_TRUE(ev.module);
  auto plainLoss = run(ev.f(), {in[0], in[1]}, par);
  ASSERT_EQ(plainLoss.size(), 1u);
  someDropped = plainLoss[0].f32()[0] != a[0].f32()[0];
  EXPECT_TRUE(someDropped);
  // The same key gives the same step; another key another one.
  auto again = run(f, in, par);
  EXPECT_EQ(std::memcmp(again[1].data(), y.data(), y.bytes()), 0);
  in[2] = key(7, 9);
  auto other = run(f, in, par);
  EXPECT_NE(std::memcmp(other[1].data(), y.data(), y.bytes()), 0);
  expectCompiledMatches(*tr.module, in, par);

  // Inference: no randomness at all, and exactly the IR of the layer without dropout.
  std::string with = R"(
model m(x: f32[B, T, 6]) -> (y) {
  y = lstm(x, units=5, dropout=0.5, recurrent_dropout=0.4, return_sequences=true)
}
)";
  std::string without = R"(
model m(x: f32[B, T, 6]) -> (y) {
  y = lstm(x, units=5, return_sequences=true)
}
)";
  Elaborated inf = elaborate(with, false, false), ref = elaborate(without, false, false);
  ASSERT_TRUE(inf.module && ref.module);
  EXPECT_EQ(countOps(inf.f().body, ir::OpKind::RandomUniform), 0);
  EXPECT_EQ(ir::print(*inf.module), ir::print(*ref.module));
}

} // namespace
