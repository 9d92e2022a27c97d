// The C++ embedding API (loom/loom.h): compiling, signatures, weights, borrowed and owning
// inputs, errors as values, and one model run from many threads at once.
#include "loom/loom.h"

#include "api/Compiler.h"
#include "api/Weights.h"
#include "ir/Interpreter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include <sys/mman.h>
#include <unistd.h>

namespace {

const std::string kSrc = LOOM_SOURCE_DIR;
const std::string kSimple = kSrc + "/examples/shapes/simple_rnn.loom";

std::string tempDir() {
  auto d =
      std::filesystem::temp_directory_path() / ("loom_api_embed_" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return d.string();
}

/// Deterministic values that differ with `seed`.
std::vector<float> values(size_t n, unsigned seed) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = (float)std::sin(0.37 * (double)i + 1.3 * seed);
  return v;
}

loom::Model compiled(const std::string &path) {
  auto m = loom::Model::fromFile(path);
  EXPECT_TRUE(m) << m.error().message();
  return std::move(*m);
}

TEST(EmbedApi, Signature) {
  loom::Model m = compiled(kSimple);
  EXPECT_EQ(m.name(), "simple_rnn");
  ASSERT_EQ(m.inputs().size(), 1u);
  const loom::TensorInfo &x = m.inputs()[0];
  EXPECT_EQ(x.name, "x");
  EXPECT_EQ(x.dtype, loom::DType::F32);
  ASSERT_EQ(x.shape.size(), 3u);
  EXPECT_EQ(x.shape[0].symbol, "B");
  EXPECT_EQ(x.shape[1].symbol, "T");
  EXPECT_TRUE(x.shape[2].isStatic());
  EXPECT_EQ(x.shape[2].size, 5);
  EXPECT_EQ(x.typeStr(), "f32[B,T,5]");
  ASSERT_EQ(m.outputs().size(), 1u);
  EXPECT_EQ(m.outputs()[0].name, "y");
  EXPECT_EQ(m.outputs()[0].typeStr(), "f32[B,T,64]");
  ASSERT_EQ(m.weights().size(), 3u);
  EXPECT_EQ(m.weights()[0].name, "y/kernel");
  EXPECT_EQ(m.weights()[0].typeStr(), "f32[5,64]");
  EXPECT_EQ(m.weights()[1].name, "y/recurrent_kernel");
  EXPECT_EQ(m.weights()[2].typeStr(), "f32[64]");
  EXPECT_EQ(m.symbols(), (std::vector<std::string>{"B", "T"}));
  EXPECT_FALSE(m.hasWeights());
}

TEST(EmbedApi, ComputedOutputDimsKeepTheirExpression) {
  auto m = loom::Model::fromSource("model c(x: f32[B, T, 3]) -> (y) {\n"
                                   "  y = conv1d(x, filters=4, kernel_size=5, strides=2)\n"
                                   "}\n");
  ASSERT_TRUE(m) << m.error().message();
  const loom::Dim &t = m->outputs()[0].shape[1];
  EXPECT_FALSE(t.isStatic());
  EXPECT_NE(t.symbol.find("T"), std::string::npos) << t.symbol;
}

/// The reference: the interpreter on the same weights and input.
std::vector<float> reference(const std::string &path, const std::vector<loom::NamedTensor> &w,
                             const std::vector<float> &x, std::vector<int64_t> shape) {
  loom::frontend::SourceManager sm;
  auto mod = loom::api::compile(sm, path, {});
  EXPECT_TRUE(!!mod);
  const loom::ir::Function &f = *(*mod)->main();
  std::vector<loom::rt::Tensor> params;
  for (auto &nt : w) {
    loom::rt::Tensor t(loom::rt::DType::F32, nt.tensor.shape());
    std::memcpy(t.data(), nt.tensor.data(), t.bytes());
    params.push_back(t);
  }
  loom::rt::Tensor in(loom::rt::DType::F32, shape);
  std::memcpy(in.data(), x.data(), in.bytes());
  auto out = loom::ir::interpret(f, {in}, params);
  EXPECT_TRUE(!!out);
  return std::vector<float>((*out)[0].f32(), (*out)[0].f32() + (*out)[0].numel());
}

TEST(EmbedApi, BorrowedAndOwningInputsGiveTheInterpretersResult) {
  loom::Model m = compiled(kSimple);
  ASSERT_FALSE(m.initWeights(1));
  ASSERT_TRUE(m.hasWeights());
  auto w = m.weightValues();
  ASSERT_TRUE(w) << w.error().message();

  std::vector<float> x = values(2 * 4 * 5, 3);
  const std::vector<float> before = x;
  auto borrowed = m.run({{"x", loom::TensorView(x.data(), {2, 4, 5})}});
  ASSERT_TRUE(borrowed) << borrowed.error().message();
  EXPECT_EQ(x, before) << "a view is never written to";

  loom::Tensor owned(loom::DType::F32, {2, 4, 5});
  std::memcpy(owned.data(), x.data(), owned.bytes());
  auto fromOwned = m.run({{"x", owned}});
  ASSERT_TRUE(fromOwned) << fromOwned.error().message();

  const loom::Tensor *y = loom::find(*borrowed, "y");
  ASSERT_NE(y, nullptr);
  EXPECT_EQ(y->describe(), "f32 (2, 4, 64)");
  EXPECT_EQ(std::memcmp(y->data(), loom::find(*fromOwned, "y")->data(), y->bytes()), 0);
  std::vector<float> ref = reference(kSimple, *w, x, {2, 4, 5});
  ASSERT_EQ((int64_t)ref.size(), y->numel());
  for (size_t i = 0; i < ref.size(); ++i)
    ASSERT_NEAR(y->f32()[i], ref[i], 1e-5) << i;

  // Weights through the loom tool's file format, and from named tensors, give the same.
  std::string npz = tempDir() + "/w.npz";
  std::vector<loom::NamedView> views;
  for (auto &nt : *w)
    views.push_back({nt.name, nt.tensor});
  ASSERT_FALSE(loom::saveNpz(npz, views));
  for (int how = 0; how < 2; ++how) {
    loom::Model m2 = compiled(kSimple);
    loom::Error e = how == 0 ? m2.loadWeights(npz) : m2.setWeights(views);
    ASSERT_FALSE(e) << e.message();
    auto y2 = m2.run({{"x", loom::TensorView(x.data(), {2, 4, 5})}});
    ASSERT_TRUE(y2) << y2.error().message();
    EXPECT_EQ(std::memcmp(y->data(), (*y2)[0].tensor.data(), y->bytes()), 0);
  }
}

// Borrowed buffers are read exactly: only 4-byte alignment is assumed, and nothing past the
// last element is touched (the input ends right before a page the process may not read).
TEST(EmbedApi, BorrowedBuffersNeedNoPaddingOrWideAlignment) {
  const long page = sysconf(_SC_PAGESIZE);
  void *mem = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  ASSERT_EQ(mprotect((char *)mem + page, page, PROT_NONE), 0);
  const char *sources[] = {"model e(x: f32[B, T, 5]) -> (y) {\n  y = tanh(x * 2.0) + x\n}\n",
                           "model r(x: f32[B, T, 5]) -> (y) {\n  y = simple_rnn(x, units=3, "
                           "return_sequences=true)\n}\n"};
  for (const char *src : sources) {
    auto m = loom::Model::fromSource(src);
    ASSERT_TRUE(m) << m.error().message();
    ASSERT_FALSE(m->initWeights(3));
    for (int64_t T : {1, 3, 7}) {
      std::vector<float> x = values((size_t)(3 * T * 5), (unsigned)T);
      float *edge = (float *)((char *)mem + page) - x.size(); // ends at the guard page
      std::memcpy(edge, x.data(), x.size() * 4);
      auto atEdge = m->run({{"x", loom::TensorView(edge, {3, T, 5})}});
      ASSERT_TRUE(atEdge) << atEdge.error().message();
      auto aligned = m->run({{"x", loom::Tensor::copyOf(loom::TensorView(x.data(), {3, T, 5}))}});
      ASSERT_TRUE(aligned) << aligned.error().message();
      const loom::Tensor &a = (*atEdge)[0].tensor, &b = (*aligned)[0].tensor;
      ASSERT_EQ(a.shape(), b.shape());
      EXPECT_EQ(std::memcmp(a.data(), b.data(), a.bytes()), 0) << src << " T=" << T;
    }
  }
  munmap(mem, 2 * page);
}

TEST(EmbedApi, SourceStringsAndModelSelection) {
  const char *two = "model a(x: f32[B, 3]) -> (y) {\n  y = dense(x, units=2)\n}\n"
                    "model b(x: f32[B, 3]) -> (y) {\n  y = dense(x, units=7)\n}\n";
  loom::CompileOptions opts;
  opts.model = "b";
  auto b = loom::Model::fromSource(two, opts);
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->name(), "b");
  EXPECT_EQ(b->outputs()[0].typeStr(), "f32[B,7]");
  opts.model = "nope";
  auto none = loom::Model::fromSource(two, opts);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), loom::ErrorCode::Compile);
  EXPECT_NE(none.error().message().find("nope"), std::string::npos) << none.error().message();

  loom::CompileOptions o0;
  o0.optLevel = 0;
  o0.model = "a";
  auto a = loom::Model::fromSource(two, o0);
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_FALSE(a->initWeights(5));
  std::vector<float> x = values(6, 1);
  auto y = a->run({{"x", loom::TensorView(x.data(), {2, 3})}});
  ASSERT_TRUE(y) << y.error().message();
  EXPECT_EQ((*y)[0].tensor.describe(), "f32 (2, 2)");
  o0.optLevel = 9;
  auto bad = loom::Model::fromSource(two, o0);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), loom::ErrorCode::InvalidArgument);
}

TEST(EmbedApi, ModelFileErrorsCarryTheirLocation) {
  auto m = loom::Model::fromFile(kSrc + "/tests/lit/errors/syntax.loom");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), loom::ErrorCode::Compile);
  EXPECT_NE(m.error().message().find("syntax.loom:2:30: error: expected ')'"), std::string::npos)
      << m.error().message();
  auto s = loom::Model::fromSource("model m(x: f32[B, 5]) -> (y) {\n  y = dense(x units=3)\n}\n",
                                   {}, "inline.loom");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("inline.loom:2:"), std::string::npos) << s.error().message();
  auto missing = loom::Model::fromFile(kSrc + "/no/such/model.loom");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), loom::ErrorCode::IO);
}

TEST(EmbedApi, BadInputsAreErrorsNamingTheTensor) {
  loom::Model m = compiled(kSimple);
  std::vector<float> x = values(2 * 4 * 6, 1);
  auto run = [&](std::vector<loom::NamedView> in) { return m.run(in); };

  auto noWeights = run({{"x", loom::TensorView(x.data(), {2, 4, 5})}});
  ASSERT_FALSE(noWeights);
  EXPECT_EQ(noWeights.error().code(), loom::ErrorCode::Weights);
  EXPECT_NE(noWeights.error().message().find("y/kernel"), std::string::npos);
  ASSERT_FALSE(m.initWeights(1));

  struct Case {
    std::vector<loom::NamedView> in;
    loom::ErrorCode code;
    std::string msg;
  };
  std::vector<int32_t> xi(40);
  std::vector<Case> cases = {
      {{{"x", loom::TensorView(x.data(), {2, 4, 6})}},
       loom::ErrorCode::Input,
       "input 'x': expected f32[B,T,5], got f32 (2, 4, 6) (dim 2 is 6, expected 5)"},
      {{{"x", loom::TensorView(x.data(), {2, 5})}},
       loom::ErrorCode::Input,
       "input 'x': expected f32[B,T,5], got f32 (2, 5) (rank is 2, expected 3)"},
      {{{"x", loom::TensorView(xi.data(), {2, 4, 5})}},
       loom::ErrorCode::Input,
       "input 'x': expected f32[B,T,5], got i32 (2, 4, 5) (element type is i32)"},
      {{{"x", loom::TensorView(static_cast<const float *>(nullptr), {2, 4, 5})}},
       loom::ErrorCode::InvalidArgument,
       "input 'x': data pointer is null"},
      {{{"x", loom::TensorView(x.data(), {2, -4, 5})}},
       loom::ErrorCode::InvalidArgument,
       "input 'x': dim 1 is -4"},
      {{{"x", loom::TensorView(loom::DType::F32, (const char *)x.data() + 2, {1, 1, 5})}},
       loom::ErrorCode::InvalidArgument,
       "not 4-byte aligned"},
      {{{"z", loom::TensorView(x.data(), {2, 4, 5})}},
       loom::ErrorCode::Input,
       "'z' is not an input of model simple_rnn (its inputs: x: f32[B,T,5])"},
      {{}, loom::ErrorCode::Input, "missing input 'x' (f32[B,T,5])"},
      {{{"x", loom::TensorView(x.data(), {2, 4, 5})}, {"x", loom::TensorView(x.data(), {2, 4, 5})}},
       loom::ErrorCode::Input,
       "input 'x' given twice"},
  };
  for (const Case &c : cases) {
    auto r = run(c.in);
    ASSERT_FALSE(r) << c.msg;
    EXPECT_EQ(r.error().code(), c.code) << r.error().message();
    EXPECT_NE(r.error().message().find(c.msg), std::string::npos) << r.error().message();
  }
  // Still usable after every failure.
  EXPECT_TRUE(run({{"x", loom::TensorView(x.data(), {2, 4, 5})}}));
}

TEST(EmbedApi, BadWeightsAreErrorsAndChangeNothing) {
  loom::Model m = compiled(kSimple);
  ASSERT_FALSE(m.initWeights(1));
  auto good = m.weightValues();
  ASSERT_TRUE(good);
  std::string dir = tempDir();

  std::vector<loom::NamedView> missing, misShaped, extra;
  loom::Tensor wrong(loom::DType::F32, {5, 32});
  for (auto &nt : *good) {
    if (nt.name != "y/bias")
      missing.push_back({nt.name, nt.tensor});
    misShaped.push_back({nt.name, nt.name == "y/kernel" ? loom::TensorView(wrong) : nt.tensor});
    extra.push_back({nt.name, nt.tensor});
  }
  extra.push_back({"z/kernel", wrong});
  ASSERT_FALSE(loom::saveNpz(dir + "/missing.npz", missing));
  ASSERT_FALSE(loom::saveNpz(dir + "/shape.npz", misShaped));

  loom::Error e = m.loadWeights(dir + "/missing.npz");
  EXPECT_EQ(e.code(), loom::ErrorCode::Weights);
  EXPECT_NE(e.message().find("missing.npz: weight 'y/bias' is missing"), std::string::npos)
      << e.message();
  e = m.loadWeights(dir + "/shape.npz");
  EXPECT_EQ(e.code(), loom::ErrorCode::Weights);
  EXPECT_NE(e.message().find("shape.npz: weight 'y/kernel': expected f32[5,64], got f32 (5, 32) "
                             "(dim 1 is 32, expected 64)"),
            std::string::npos)
      << e.message();
  e = m.loadWeights(dir + "/nope.npz");
  EXPECT_EQ(e.code(), loom::ErrorCode::IO);
  EXPECT_NE(e.message().find("nope.npz"), std::string::npos) << e.message();
  e = m.setWeights(extra);
  EXPECT_EQ(e.code(), loom::ErrorCode::Weights);
  EXPECT_NE(e.message().find("'z/kernel', which is not a weight"), std::string::npos)
      << e.message();
  e = m.setWeight("y/kernel", wrong);
  EXPECT_EQ(e.code(), loom::ErrorCode::Weights);
  e = m.setWeight("y/bias", loom::TensorView(static_cast<const float *>(nullptr), {64}));
  EXPECT_EQ(e.code(), loom::ErrorCode::InvalidArgument);

  auto after = m.weightValues();
  ASSERT_TRUE(after);
  for (size_t i = 0; i < after->size(); ++i)
    EXPECT_EQ(
        std::memcmp((*after)[i].tensor.data(), (*good)[i].tensor.data(), (*good)[i].tensor.bytes()),
        0)
        << "a failed load leaves the weights as they were";

  std::vector<float> bias(64, 0.5f);
  ASSERT_FALSE(m.setWeight("y/bias", loom::TensorView(bias.data(), {64})));
  EXPECT_EQ((*m.weightValues())[2].tensor.f32()[7], 0.5f);
}

// A model keeps its weights' prepared layouts (padded rows of 1 KiB, batch-1 panels) from
// call to call; replacing one weight must not leave a call on the old layout: every result
// is bit-identical to a model that was given the new weights from the start.
TEST(EmbedApi, ReplacedWeightsAreNotReadFromOldPreparedLayouts) {
  const std::string src = "model m(x: f32[B, T, 8]) -> (y) {\n"
                          "  y = lstm(x, units=64, return_sequences=true)\n"
                          "}\n";
  auto a = loom::Model::fromSource(src), b = loom::Model::fromSource(src);
  ASSERT_TRUE(a && b);
  ASSERT_FALSE(a->initWeights(1));
  std::vector<float> x1 = values(1 * 5 * 8, 3), x3 = values(3 * 5 * 8, 4);
  auto run = [&](loom::Model &m, std::vector<float> &x, int64_t batch) {
    auto r = m.run({{"x", loom::TensorView(x.data(), {batch, 5, 8})}});
    EXPECT_TRUE(r) << r.error().message();
    return r ? std::vector<float>(r->at(0).tensor.f32(), r->at(0).tensor.f32() + batch * 5 * 64)
             : std::vector<float>();
  };
  std::vector<float> old1 = run(*a, x1, 1), old3 = run(*a, x3, 3);
  ASSERT_EQ(run(*a, x1, 1), old1) << "the kept layouts give what the first call gave";
  std::vector<float> rk = values(64 * 256, 9);
  ASSERT_FALSE(a->setWeight("y/recurrent_kernel", loom::TensorView(rk.data(), {64, 256})));
  auto all = a->weightValues();
  ASSERT_TRUE(all);
  std::vector<loom::NamedView> given;
  for (const loom::NamedTensor &t : *all)
    given.push_back({t.name, t.tensor});
  ASSERT_FALSE(b->setWeights(given));
  std::vector<float> new1 = run(*a, x1, 1), new3 = run(*a, x3, 3);
  EXPECT_NE(new1, old1);
  EXPECT_NE(new3, old3);
  EXPECT_EQ(new1, run(*b, x1, 1));
  EXPECT_EQ(new3, run(*b, x3, 3));
}

TEST(EmbedApi, RuntimeFailuresAreErrors) {
  auto m = loom::Model::fromFile(kSrc + "/examples/layers/reber.loom");
  ASSERT_TRUE(m) << m.error().message();
  ASSERT_FALSE(m->initWeights(1));
  std::vector<int32_t> tokens = {1, 2, 3, 9}; // vocabulary is 8
  auto r = m->run({{"x", loom::TensorView(tokens.data(), {1, 4})}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), loom::ErrorCode::Runtime);
  EXPECT_NE(r.error().message().find("9"), std::string::npos) << r.error().message();
  tokens[3] = 6;
  EXPECT_TRUE(m->run({{"x", loom::TensorView(tokens.data(), {1, 4})}}));
}

// CompileOptions::maxMemory caps each run (outputs, then scratch) and initWeights; a call
// within it still runs.
TEST(EmbedApi, MaxMemoryCapsEachCall) {
  loom::CompileOptions opts;
  opts.maxMemory = 600 << 10;
  auto m = loom::Model::fromFile(kSimple, opts);
  ASSERT_TRUE(m) << m.error().message();
  ASSERT_FALSE(m->initWeights(1));
  std::vector<float> x = values(2000 * 5, 1);
  // Outputs of 1 x 2000 x 64 f32 (500 KiB) fit, the hoisted input projection (as large)
  // does not.
  auto r = m->run({{"x", loom::TensorView(x.data(), {1, 2000, 5})}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), loom::ErrorCode::Runtime);
  EXPECT_NE(r.error().message().find("memory limit: the call's scratch needs more than"),
            std::string::npos)
      << r.error().message();
  auto big = m->run({{"x", loom::TensorView(x.data(), {2, 1000, 5})}});
  ASSERT_FALSE(big);
  auto small = m->run({{"x", loom::TensorView(x.data(), {1, 10, 5})}});
  ASSERT_TRUE(small) << small.error().message();

  opts.maxMemory = 100 << 10;
  auto tiny = loom::Model::fromFile(kSimple, opts);
  ASSERT_TRUE(tiny) << tiny.error().message();
  ASSERT_FALSE(tiny->initWeights(1));
  auto out = tiny->run({{"x", loom::TensorView(x.data(), {1, 2000, 5})}});
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().message(), "this call (its outputs, for these input shapes) needs 512000 "
                                   "bytes, more than the memory limit of 102400 bytes (set for "
                                   "this model)");
  opts.maxMemory = 1000;
  auto none = loom::Model::fromFile(kSimple, opts);
  ASSERT_TRUE(none) << none.error().message();
  loom::Error e = none->initWeights(1);
  ASSERT_TRUE(e);
  EXPECT_NE(e.message().find("initialising the weights"), std::string::npos) << e.message();
  EXPECT_FALSE(none->hasWeights());
  opts.maxMemory = -1;
  auto negative = loom::Model::fromFile(kSimple, opts);
  ASSERT_FALSE(negative);
  EXPECT_EQ(negative.error().code(), loom::ErrorCode::InvalidArgument);
}

// One compiled model, many threads, each with its own inputs (of several shapes): every
// result is bit-identical to the same call made alone.
TEST(EmbedApi, ConcurrentRunsMatchSerialRuns) {
  loom::Model m = compiled(kSrc + "/examples/shapes/stacked_rnn.loom");
  ASSERT_FALSE(m.initWeights(2));
  constexpr int kThreads = 8, kCalls = 12;
  auto shapeOf = [](int t, int c) {
    return std::vector<int64_t>{1 + (t + c) % 3, 2 + (t * 5 + c) % 7, 5};
  };
  auto inputOf = [&](int t, int c) {
    auto s = shapeOf(t, c);
    return values((size_t)(s[0] * s[1] * s[2]), (unsigned)(t * 100 + c));
  };
  std::vector<std::vector<std::vector<float>>> serial(kThreads), parallel(kThreads);
  for (int t = 0; t < kThreads; ++t)
    for (int c = 0; c < kCalls; ++c) {
      std::vector<float> x = inputOf(t, c);
      auto y = m.run({{"x", loom::TensorView(x.data(), shapeOf(t, c))}});
      ASSERT_TRUE(y) << y.error().message();
      const loom::Tensor &out = (*y)[0].tensor;
      serial[t].emplace_back(out.f32(), out.f32() + out.numel());
    }
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t)
    pool.emplace_back([&, t] {
      for (int c = 0; c < kCalls; ++c) {
        std::vector<float> x = inputOf(t, c);
        auto y = m.run({{"x", loom::TensorView(x.data(), shapeOf(t, c))}});
        if (!y) {
          errors[t] = y.error().message();
          return;
        }
        const loom::Tensor &out = (*y)[0].tensor;
        parallel[t].emplace_back(out.f32(), out.f32() + out.numel());
      }
    });
  for (auto &th : pool)
    th.join();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(errors[t], "");
    ASSERT_EQ(parallel[t].size(), (size_t)kCalls);
    for (int c = 0; c < kCalls; ++c)
      EXPECT_EQ(parallel[t][c], serial[t][c]) << "thread " << t << " call " << c;
  }
}

// Weights replaced while calls are in flight: each call sees one whole set, never a mix.
TEST(EmbedApi, WeightsCanChangeWhileCallsRun) {
  loom::Model m = compiled(kSimple);
  std::vector<float> x = values(2 * 3 * 5, 9);
  loom::TensorView xv(x.data(), {2, 3, 5});
  std::vector<std::vector<float>> expected;
  for (uint64_t seed : {1, 2}) {
    ASSERT_FALSE(m.initWeights(seed));
    auto y = m.run({{"x", xv}});
    ASSERT_TRUE(y);
    expected.emplace_back((*y)[0].tensor.f32(), (*y)[0].tensor.f32() + (*y)[0].tensor.numel());
  }
  std::atomic<bool> stop{false};
  std::thread swapper([&] {
    for (int i = 0; !stop; ++i)
      (void)m.initWeights(1 + i % 2);
  });
  int bad = 0;
  for (int i = 0; i < 200; ++i) {
    auto y = m.run({{"x", xv}});
    ASSERT_TRUE(y);
    std::vector<float> got((*y)[0].tensor.f32(), (*y)[0].tensor.f32() + (*y)[0].tensor.numel());
    bad += got != expected[0] && got != expected[1];
  }
  stop = true;
  swapper.join();
  EXPECT_EQ(bad, 0);
}

// Threads that each compile models (from files and from source, the prelude shared by all
// of them), run and destroy them, all at once: every result equals the one computed alone.
TEST(EmbedApi, ThreadsCompileRunAndDestroyModelsAtOnce) {
  const std::string src = "model m(x: f32[B, T, 3]) -> (y) {\n"
                          "  y = gru(x, units=4, return_sequences=true)\n}\n";
  std::vector<float> x = values(2 * 3 * 5, 4);
  auto once = [&](int i, std::vector<float> &out) -> std::string {
    auto m = i % 2 ? loom::Model::fromFile(kSimple) : loom::Model::fromSource(src);
    if (!m)
      return m.error().message();
    if (auto e = m->initWeights(7))
      return e.message();
    std::vector<int64_t> shape =
        i % 2 ? std::vector<int64_t>{2, 3, 5} : std::vector<int64_t>{2, 5, 3};
    auto y = m->run({{"x", loom::TensorView(x.data(), shape)}});
    if (!y)
      return y.error().message();
    const loom::Tensor &t = (*y)[0].tensor;
    out.assign(t.f32(), t.f32() + t.numel());
    return "";
  };
  std::vector<float> expected[2];
  ASSERT_EQ(once(0, expected[0]), "");
  ASSERT_EQ(once(1, expected[1]), "");
  constexpr int kThreads = 4, kRounds = 3;
  std::vector<std::string> errors(kThreads);
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t)
    pool.emplace_back([&, t] {
      for (int r = 0; r < kRounds && errors[t].empty(); ++r) {
        std::vector<float> got;
        errors[t] = once(t + r, got);
        mismatches[t] += errors[t].empty() && got != expected[(t + r) % 2];
      }
    });
  for (auto &th : pool)
    th.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(errors[t], "") << "thread " << t;
    EXPECT_EQ(mismatches[t], 0) << "thread " << t;
  }
}

TEST(EmbedApi, TensorsAndResultsNeverThrowOrAbort) {
  loom::Tensor neg(loom::DType::F32, {2, -1});
  EXPECT_FALSE(neg.valid());
  EXPECT_EQ(neg.bytes(), 0u);
  loom::Tensor huge(loom::DType::F32, {int64_t(1) << 40, int64_t(1) << 40});
  EXPECT_FALSE(huge.valid());
  EXPECT_FALSE(loom::Tensor().valid());
  loom::Tensor t(loom::DType::I32, {3});
  t.i32()[1] = 4;
  loom::Tensor c = t.clone();
  t.i32()[1] = 5;
  EXPECT_EQ(c.i32()[1], 4);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u);
  loom::Result<int> r = loom::Error();
  EXPECT_FALSE(r);
  EXPECT_EQ(r.error().code(), loom::ErrorCode::Internal);
  EXPECT_STREQ(loom::errorCodeName(loom::ErrorCode::Input), "input error");
  auto npy = loom::loadNpy("/no/such/file.npy");
  ASSERT_FALSE(npy);
  EXPECT_EQ(npy.error().code(), loom::ErrorCode::IO);
}

} // namespace
