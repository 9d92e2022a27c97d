// The C embedding API (loom/loom_c.h): every failure is a status code with a message on
// the handle (or the thread's global slot), never a crash; loom_call objects let several
// threads run one model.
#include "loom/loom_c.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <thread>
#include <vector>

namespace {

const std::string kSrc = LOOM_SOURCE_DIR;
const std::string kSimple = kSrc + "/examples/shapes/simple_rnn.loom";

std::vector<float> values(size_t n, unsigned seed) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = (float)std::cos(0.21 * (double)i + 0.7 * seed);
  return v;
}

struct ModelPtr {
  loom_model *m = nullptr;
  ~ModelPtr() { loom_model_free(m); }
};

bool contains(const char *haystack, const std::string &needle) {
  return std::string(haystack).find(needle) != std::string::npos;
}

TEST(EmbedC, CreateRunAndSignature) {
  ModelPtr p;
  ASSERT_EQ(loom_model_create_from_file(kSimple.c_str(), nullptr, &p.m), LOOM_OK)
      << loom_last_error();
  EXPECT_STREQ(loom_model_name(p.m), "simple_rnn");
  int64_t n = -1;
  ASSERT_EQ(loom_model_count(p.m, LOOM_WEIGHT, &n), LOOM_OK);
  EXPECT_EQ(n, 3);
  const char *name = nullptr, *type = nullptr, *sym = nullptr;
  loom_dtype dt = LOOM_I32;
  int64_t rank = 0, size = 0;
  ASSERT_EQ(loom_model_info(p.m, LOOM_INPUT, 0, &name, &dt, &rank, &type), LOOM_OK);
  EXPECT_STREQ(name, "x");
  EXPECT_EQ(dt, LOOM_F32);
  EXPECT_EQ(rank, 3);
  EXPECT_STREQ(type, "f32[B,T,5]");
  ASSERT_EQ(loom_model_dim(p.m, LOOM_INPUT, 0, 1, &size, &sym), LOOM_OK);
  EXPECT_EQ(size, -1);
  EXPECT_STREQ(sym, "T");
  ASSERT_EQ(loom_model_dim(p.m, LOOM_INPUT, 0, 2, &size, &sym), LOOM_OK);
  EXPECT_EQ(size, 5);
  EXPECT_EQ(sym, nullptr);
  ASSERT_EQ(loom_model_info(p.m, LOOM_WEIGHT, 1, &name, nullptr, nullptr, &type), LOOM_OK);
  EXPECT_STREQ(name, "y/recurrent_kernel");
  EXPECT_STREQ(type, "f32[64,64]");
  ASSERT_EQ(loom_model_info(p.m, LOOM_OUTPUT, 0, nullptr, nullptr, nullptr, &type), LOOM_OK);
  EXPECT_STREQ(type, "f32[B,T,64]");

  ASSERT_EQ(loom_model_init_weights(p.m, 1), LOOM_OK);
  std::vector<float> x = values(2 * 4 * 5, 1);
  int64_t dims[3] = {2, 4, 5};
  ASSERT_EQ(loom_model_set_input(p.m, "x", x.data(), LOOM_F32, 3, dims), LOOM_OK);
  ASSERT_EQ(loom_model_run(p.m), LOOM_OK) << loom_model_last_error(p.m);
  const void *y = nullptr;
  const int64_t *ydims = nullptr;
  ASSERT_EQ(loom_model_get_output(p.m, "y", &y, &dt, &rank, &ydims), LOOM_OK);
  ASSERT_NE(y, nullptr);
  EXPECT_EQ(dt, LOOM_F32);
  ASSERT_EQ(rank, 3);
  EXPECT_EQ(ydims[0], 2);
  EXPECT_EQ(ydims[1], 4);
  EXPECT_EQ(ydims[2], 64);
  // A simple RNN's output is a tanh: in (-1, 1), and not all zeros.
  const float *yf = static_cast<const float *>(y);
  float absSum = 0;
  for (int i = 0; i < 2 * 4 * 64; ++i) {
    ASSERT_LT(std::fabs(yf[i]), 1.0f);
    absSum += std::fabs(yf[i]);
  }
  EXPECT_GT(absSum, 1.0f);
}

TEST(EmbedC, CreationFailuresGoToTheGlobalMessage) {
  loom_model *m = reinterpret_cast<loom_model *>(0x1);
  std::string syntax = kSrc + "/tests/lit/errors/syntax.loom";
  EXPECT_EQ(loom_model_create_from_file(syntax.c_str(), nullptr, &m), LOOM_ERROR_COMPILE);
  EXPECT_EQ(m, nullptr);
  EXPECT_TRUE(contains(loom_last_error(), "syntax.loom:2:30: error: expected ')'"))
      << loom_last_error();
  EXPECT_EQ(loom_model_create_from_source("model m(x: f32[B]) -> (y) {\n  y = x +\n}\n",
                                          "mine.loom", nullptr, &m),
            LOOM_ERROR_COMPILE);
  EXPECT_TRUE(contains(loom_last_error(), "mine.loom:")) << loom_last_error();
  EXPECT_EQ(loom_model_create_from_file("/no/such.loom", nullptr, &m), LOOM_ERROR_IO);
  EXPECT_EQ(loom_model_create_from_file(nullptr, nullptr, &m), LOOM_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(loom_last_error(), "path is null"));
  EXPECT_EQ(loom_model_create_from_file(kSimple.c_str(), nullptr, nullptr),
            LOOM_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(loom_model_create_from_source(nullptr, nullptr, nullptr, &m),
            LOOM_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(loom_model_create_from_file(kSimple.c_str(), "other", &m), LOOM_ERROR_COMPILE);

  ModelPtr ok;
  ASSERT_EQ(loom_model_create_from_source("model a(x: f32[B, 2]) -> (y) {\n  y = x * 2.0\n}\n"
                                          "model b(x: f32[B, 2]) -> (y) {\n  y = x + 1.0\n}\n",
                                          nullptr, "b", &ok.m),
            LOOM_OK)
      << loom_last_error();
  EXPECT_STREQ(loom_model_name(ok.m), "b");
  float x[2] = {1, 2};
  int64_t dims[2] = {1, 2};
  ASSERT_EQ(loom_model_set_input(ok.m, "x", x, LOOM_F32, 2, dims), LOOM_OK);
  ASSERT_EQ(loom_model_run(ok.m), LOOM_OK) << loom_model_last_error(ok.m);
  const void *y = nullptr;
  ASSERT_EQ(loom_model_get_output(ok.m, "y", &y, nullptr, nullptr, nullptr), LOOM_OK);
  EXPECT_EQ(static_cast<const float *>(y)[1], 3.0f);
}

TEST(EmbedC, NullPointersAndBadDataAreCodes) {
  // Null handles everywhere.
  EXPECT_EQ(loom_model_run(nullptr), LOOM_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(loom_last_error(), "loom_model_run: model is null"));
  EXPECT_EQ(loom_model_load_weights(nullptr, "w.npz"), LOOM_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(loom_model_set_input(nullptr, "x", nullptr, LOOM_F32, 0, nullptr),
            LOOM_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(loom_model_get_output(nullptr, "y", nullptr, nullptr, nullptr, nullptr),
            LOOM_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(loom_call_run(nullptr), LOOM_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(loom_model_count(nullptr, LOOM_INPUT, nullptr), LOOM_ERROR_INVALID_ARGUMENT);
  loom_model_free(nullptr);
  loom_call_free(nullptr);
  EXPECT_STREQ(loom_model_name(nullptr), "");
  EXPECT_STREQ(loom_status_name(LOOM_ERROR_INPUT), "input error");

  ModelPtr p;
  ASSERT_EQ(loom_model_create_from_file(kSimple.c_str(), "", &p.m), LOOM_OK);
  std::vector<float> x = values(2 * 4 * 6, 2);
  int64_t good[3] = {2, 4, 5}, wide[3] = {2, 4, 6}, neg[3] = {2, -1, 5};

  EXPECT_EQ(loom_model_set_input(p.m, "x", x.data(), LOOM_F32, 3, good), LOOM_OK);
  EXPECT_EQ(loom_model_run(p.m), LOOM_ERROR_WEIGHTS);
  EXPECT_TRUE(contains(loom_model_last_error(p.m), "weight 'y/kernel' has no value"));
  EXPECT_EQ(loom_model_get_output(p.m, "y", nullptr, nullptr, nullptr, nullptr),
            LOOM_ERROR_NOT_RUN);
  ASSERT_EQ(loom_model_init_weights(p.m, 3), LOOM_OK);

  struct Case {
    const char *name;
    const void *data;
    int dtype;
    int64_t rank;
    const int64_t *dims;
    loom_status status;
    const char *msg;
  };
  std::vector<Case> cases = {
      {nullptr, x.data(), LOOM_F32, 3, good, LOOM_ERROR_INVALID_ARGUMENT, "name is null"},
      {"x", nullptr, LOOM_F32, 3, good, LOOM_ERROR_INVALID_ARGUMENT, "input 'x': data is null"},
      {"x", x.data(), LOOM_F32, 3, nullptr, LOOM_ERROR_INVALID_ARGUMENT, "dims is null"},
      {"x", x.data(), 7, 3, good, LOOM_ERROR_INVALID_ARGUMENT, "dtype 7"},
      {"x", x.data(), LOOM_F32, -1, good, LOOM_ERROR_INVALID_ARGUMENT, "rank -1"},
      {"z", x.data(), LOOM_F32, 3, good, LOOM_ERROR_INPUT, "'z' is not an input of model"},
  };
  for (const Case &c : cases) {
    EXPECT_EQ(loom_model_set_input(p.m, c.name, c.data, (loom_dtype)c.dtype, c.rank, c.dims),
              c.status)
        << c.msg;
    EXPECT_TRUE(contains(loom_model_last_error(p.m), c.msg)) << loom_model_last_error(p.m);
  }
  // Shapes are checked at the run, with both shapes in the message.
  ASSERT_EQ(loom_model_set_input(p.m, "x", x.data(), LOOM_F32, 3, wide), LOOM_OK);
  EXPECT_EQ(loom_model_run(p.m), LOOM_ERROR_INPUT);
  EXPECT_TRUE(
      contains(loom_model_last_error(p.m),
               "input 'x': expected f32[B,T,5], got f32 (2, 4, 6) (dim 2 is 6, expected 5)"))
      << loom_model_last_error(p.m);
  ASSERT_EQ(loom_model_set_input(p.m, "x", x.data(), LOOM_I32, 3, good), LOOM_OK);
  EXPECT_EQ(loom_model_run(p.m), LOOM_ERROR_INPUT);
  EXPECT_TRUE(contains(loom_model_last_error(p.m), "element type is i32"));
  ASSERT_EQ(loom_model_set_input(p.m, "x", x.data(), LOOM_F32, 3, neg), LOOM_OK);
  EXPECT_EQ(loom_model_run(p.m), LOOM_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(loom_model_last_error(p.m), "dim 1 is -1"));
  EXPECT_EQ(loom_model_get_output(p.m, "y", nullptr, nullptr, nullptr, nullptr),
            LOOM_ERROR_NOT_RUN);

  ASSERT_EQ(loom_model_set_input(p.m, "x", x.data(), LOOM_F32, 3, good), LOOM_OK);
  ASSERT_EQ(loom_model_run(p.m), LOOM_OK) << loom_model_last_error(p.m);
  EXPECT_EQ(loom_model_get_output(p.m, "q", nullptr, nullptr, nullptr, nullptr),
            LOOM_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(loom_model_last_error(p.m), "'q' is not an output"));
  EXPECT_EQ(loom_model_get_output(p.m, nullptr, nullptr, nullptr, nullptr, nullptr),
            LOOM_ERROR_INVALID_ARGUMENT);

  // Signature queries out of range.
  int64_t size = 0;
  EXPECT_EQ(loom_model_dim(p.m, LOOM_INPUT, 0, 3, &size, nullptr), LOOM_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(loom_model_info(p.m, LOOM_OUTPUT, 1, nullptr, nullptr, nullptr, nullptr),
            LOOM_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(loom_model_info(p.m, (loom_role)9, 0, nullptr, nullptr, nullptr, nullptr),
            LOOM_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(loom_model_count(p.m, LOOM_INPUT, nullptr), LOOM_ERROR_INVALID_ARGUMENT);
}

TEST(EmbedC, BadWeights) {
  ModelPtr p;
  ASSERT_EQ(loom_model_create_from_file(kSimple.c_str(), nullptr, &p.m), LOOM_OK);
  EXPECT_EQ(loom_model_load_weights(p.m, nullptr), LOOM_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(loom_model_load_weights(p.m, "/no/such/w.npz"), LOOM_ERROR_IO);
  EXPECT_TRUE(contains(loom_model_last_error(p.m), "/no/such/w.npz"));
  std::vector<float> k(5 * 32);
  int64_t kd[2] = {5, 32};
  EXPECT_EQ(loom_model_set_weight(p.m, "y/kernel", k.data(), LOOM_F32, 2, kd), LOOM_ERROR_WEIGHTS);
  EXPECT_TRUE(contains(loom_model_last_error(p.m),
                       "weight 'y/kernel': expected f32[5,64], got f32 (5, 32)"))
      << loom_model_last_error(p.m);
  EXPECT_EQ(loom_model_set_weight(p.m, "y/nope", k.data(), LOOM_F32, 2, kd), LOOM_ERROR_WEIGHTS);
  EXPECT_EQ(loom_model_set_weight(p.m, "y/kernel", nullptr, LOOM_F32, 2, kd),
            LOOM_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(loom_model_set_weight(p.m, nullptr, k.data(), LOOM_F32, 2, kd),
            LOOM_ERROR_INVALID_ARGUMENT);
}

TEST(EmbedC, OneCallObjectPerThread) {
  ModelPtr p;
  ASSERT_EQ(loom_model_create_from_file(kSimple.c_str(), nullptr, &p.m), LOOM_OK);
  ASSERT_EQ(loom_model_init_weights(p.m, 4), LOOM_OK);
  constexpr int kThreads = 6, kCalls = 10;
  auto runOnce = [&](loom_call *c, int t, int i, std::vector<float> &out) -> std::string {
    int64_t dims[3] = {1 + (t + i) % 3, 1 + (t * 3 + i) % 5, 5};
    std::vector<float> x = values((size_t)(dims[0] * dims[1] * 5), (unsigned)(t * 50 + i));
    if (loom_call_set_input(c, "x", x.data(), LOOM_F32, 3, dims) != LOOM_OK ||
        loom_call_run(c) != LOOM_OK)
      return loom_call_last_error(c);
    const void *y = nullptr;
    int64_t rank = 0;
    const int64_t *yd = nullptr;
    if (loom_call_get_output(c, "y", &y, nullptr, &rank, &yd) != LOOM_OK)
      return loom_call_last_error(c);
    out.assign(static_cast<const float *>(y),
               static_cast<const float *>(y) + yd[0] * yd[1] * yd[2]);
    return "";
  };
  std::vector<std::vector<std::vector<float>>> serial(kThreads), parallel(kThreads);
  loom_call *one = nullptr;
  ASSERT_EQ(loom_call_create(p.m, &one), LOOM_OK);
  for (int t = 0; t < kThreads; ++t)
    for (int i = 0; i < kCalls; ++i) {
      serial[t].emplace_back();
      ASSERT_EQ(runOnce(one, t, i, serial[t].back()), "");
    }
  loom_call_free(one);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t)
    pool.emplace_back([&, t] {
      loom_call *c = nullptr;
      if (loom_call_create(p.m, &c) != LOOM_OK) {
        errors[t] = loom_last_error();
        return;
      }
      for (int i = 0; i < kCalls && errors[t].empty(); ++i) {
        parallel[t].emplace_back();
        errors[t] = runOnce(c, t, i, parallel[t].back());
      }
      loom_call_free(c);
    });
  for (auto &th : pool)
    th.join();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(errors[t], "");
    EXPECT_EQ(parallel[t], serial[t]) << "thread " << t;
  }
  EXPECT_EQ(loom_call_create(nullptr, &one), LOOM_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(loom_call_create(p.m, nullptr), LOOM_ERROR_INVALID_ARGUMENT);
}

} // namespace
