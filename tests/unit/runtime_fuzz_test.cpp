// Deterministic fuzzing of the .npy and .npz readers: thousands of damaged images that
// must each give either a tensor that is whole or an error, never a crash or a read out
// of bounds (run this binary under ASan to check the latter). Seeds are fixed so a
// failure reproduces; the whole file runs in well under two seconds.
#include "runtime/Npy.h"
#include "runtime_test_util.h"

#include <random>

using namespace loom::rt;
using namespace loom::rt::test;

namespace {

/// Reads every element, so a tensor that claims more than it holds shows up under ASan.
void checkWhole(const Tensor &t) {
  ASSERT_TRUE(t.valid());
  ASSERT_EQ(t.bytes(), (size_t)t.numel() * 4);
  for (int64_t d : t.shape())
    ASSERT_GE(d, 0);
  uint32_t sum = 0;
  for (int64_t i = 0; i < t.numel(); ++i)
    sum += (uint32_t)t.i32()[i];
  (void)sum;
}

/// One random damage of the kinds real files suffer: cut short, bit rot, overwritten
/// bytes, or bytes inserted or removed (which shifts every offset after them).
std::string mutate(const std::string &in, std::mt19937 &rng, size_t focusEnd) {
  std::string s = in;
  auto pos = [&](size_t limit) {
    return limit ? std::uniform_int_distribution<size_t>(0, limit - 1)(rng) : 0;
  };
  // Most damage goes to the first `focusEnd` bytes, where the headers are.
  auto where = [&]() { return rng() % 4 ? pos(std::min(focusEnd, s.size())) : pos(s.size()); };
  static const char kInteresting[] = {0,   '\xff', '\x7f', '\x80', '(', ')', ',', ' ',
                                      '9', '\'',   ':',    '{',    '}', '-', 'L', '\n'};
  switch (rng() % 5) {
  case 0:
    s.resize(pos(s.size()));
    break;
  case 1:
    for (int n = 1 + (int)(rng() % 4); n > 0 && !s.empty(); --n)
      s[where()] ^= (char)(1u << (rng() % 8));
    break;
  case 2:
    for (int n = 1 + (int)(rng() % 4); n > 0 && !s.empty(); --n)
      s[where()] = kInteresting[rng() % sizeof kInteresting];
    break;
  case 3:
    if (!s.empty())
      s.erase(where(), 1 + rng() % 8);
    break;
  default:
    s.insert(std::min(where(), s.size()), 1 + rng() % 8, (char)rng());
    break;
  }
  return s;
}

} // namespace

TEST(RuntimeFuzz, DamagedNpyNeverCrashes) {
  std::vector<std::string> seeds;
  Tensor t(DType::F32, {3, 4});
  for (int i = 0; i < 12; ++i)
    t.f32()[i] = (float)i;
  seeds.push_back(serializeNpy(t));
  seeds.push_back(serializeNpy(Tensor(DType::I32, {})));
  seeds.push_back(npyImage(npyDict("<i8", "(2,)"), rawBytes<int64_t>({1, 2})));
  seeds.push_back(npyImage(npyDict("<f8", "(1, 2)"), rawBytes<double>({1, 2}), 2));
  std::mt19937 rng(20240611);
  int parsed = 0, rejected = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    const std::string &seed = seeds[iter % seeds.size()];
    std::string image = mutate(seed, rng, 128);
    // A copy of exactly the image's size, so ASan sees any read past its end.
    std::vector<uint8_t> exact(image.begin(), image.end());
    Tensor out;
    Status s = parseNpy("f.npy", exact.data(), exact.size(), out);
    if (s) {
      ++rejected;
      ASSERT_EQ(s.message().rfind("f.npy: ", 0), 0u) << s.message();
    } else {
      ++parsed;
      checkWhole(out);
    }
  }
  EXPECT_GT(rejected, 1000);
  EXPECT_GT(parsed, 10) << "some damage (e.g. to the padding) is harmless";
}

TEST(RuntimeFuzz, TokenSoupHeadersNeverCrash) {
  // Headers assembled from the parser's own tokens reach deeper than byte flips.
  static const char *const kTokens[] = {
      "{",     "}",     "'descr'", "'fortran_order'", "'shape'", ":", ",",  "(", ")", "'<f4'",
      "'<i8'", "'>f4'", "True",    "False",           "3",       "0", "-1", " ", "[", "]",
      "'",     "\"",    "2L",      "999999999999"};
  std::mt19937 rng(7);
  for (int iter = 0; iter < 3000; ++iter) {
    std::string dict;
    for (int n = (int)(rng() % 24); n > 0; --n)
      dict += kTokens[rng() % (sizeof kTokens / sizeof *kTokens)];
    std::string image = npyImage(dict, std::string(rng() % 40, '\x01'), 1 + (int)(rng() % 3));
    std::vector<uint8_t> exact(image.begin(), image.end());
    Tensor out;
    if (!parseNpy("t.npy", exact.data(), exact.size(), out))
      checkWhole(out);
  }
}

TEST(RuntimeFuzz, DamagedNpzNeverCrashes) {
  Tensor a(DType::F32, {2, 3});
  for (int i = 0; i < 6; ++i)
    a.f32()[i] = (float)i;
  std::string stored;
  ASSERT_FALSE(serializeNpz("seed", {{"y/kernel", a}, {"n", Tensor(DType::I32, {})}}, stored));
  std::vector<std::string> seeds = {stored};
  // A deflated member too, as np.savez_compressed writes.
  seeds.push_back(buildZip({{"a.npy", serializeNpy(a)}}, ZIP_CM_DEFLATE));
  std::mt19937 rng(99);
  int rejected = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    const std::string &seed = seeds[iter % seeds.size()];
    std::string image = mutate(seed, rng, seed.size());
    std::vector<uint8_t> exact(image.begin(), image.end());
    NamedTensors out;
    Status s = parseNpz("f.npz", exact.data(), exact.size(), out);
    if (s) {
      ++rejected;
      ASSERT_EQ(s.message().rfind("f.npz: ", 0), 0u) << s.message();
      continue;
    }
    for (const auto &[key, t] : out)
      checkWhole(t);
  }
  EXPECT_GT(rejected, 1000);
}
