// Interop with numpy itself: files numpy writes load in loom, and files loom writes load
// in numpy with the same values. Skipped where /usr/bin/python3 has no numpy.
#include "runtime/Npy.h"
#include "runtime_test_util.h"

using namespace loom::rt;
using namespace loom::rt::test;

namespace {

bool haveNumpy() {
  static const bool have = std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
  return have;
}

/// Runs a Python snippet with `d` bound to the scratch directory; true if it exits 0.
bool python(const ScratchDir &dir, const std::string &code) {
  std::string script = dir.file("script.py");
  writeBytes(script, "import numpy as np, sys\nd = sys.argv[1]\n" + code + "\n");
  std::string cmd = "/usr/bin/python3 '" + script + "' '" + dir.path() + "'";
  return std::system(cmd.c_str()) == 0;
}

} // namespace

TEST(RuntimeNumpy, ReadsWhatNumpyWrites) {
  if (!haveNumpy())
    GTEST_SKIP() << "no numpy for /usr/bin/python3";
  ScratchDir dir;
  ASSERT_TRUE(python(dir, R"(
a = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 4
np.save(d + '/f4.npy', a)
np.save(d + '/f8.npy', a.astype(np.float64))
np.save(d + '/i8.npy', np.array([-3, 0, 2**31 - 1]))
np.save(d + '/scalar.npy', np.int32(42))
np.save(d + '/empty.npy', np.zeros((0, 5), np.float32))
np.save(d + '/big.npy', np.arange(3, dtype='>f4'))
np.save(d + '/fortran.npy', np.asfortranarray(np.ones((2, 3), np.float32)))
np.save(d + '/object.npy', np.array([{}, 1], dtype=object), allow_pickle=True)
np.savez(d + '/w.npz', **{'y/kernel': a[0], 'y/bias': np.ones(4, np.float32)})
np.savez_compressed(d + '/c.npz', tokens=np.array([[1, 2], [3, 4]], np.int32), x=a)
np.savez(d + '/e.npz')
)"));
  Tensor t;
  ASSERT_FALSE(readNpy(dir.file("f4.npy"), t));
  EXPECT_EQ(t.describe(), "f32 (2, 3, 4)");
  EXPECT_EQ(t.f32()[23], 23.0f / 4);
  ASSERT_FALSE(readNpy(dir.file("f8.npy"), t));
  EXPECT_EQ(t.describe(), "f32 (2, 3, 4)");
  EXPECT_EQ(t.f32()[5], 5.0f / 4);
  ASSERT_FALSE(readNpy(dir.file("i8.npy"), t));
  EXPECT_EQ(t.describe(), "i32 (3,)");
  EXPECT_EQ(t.i32()[0], -3);
  EXPECT_EQ(t.i32()[2], 2147483647);
  ASSERT_FALSE(readNpy(dir.file("scalar.npy"), t));
  EXPECT_EQ(t.describe(), "i32 ()");
  EXPECT_EQ(t.i32()[0], 42);
  ASSERT_FALSE(readNpy(dir.file("empty.npy"), t));
  EXPECT_EQ(t.describe(), "f32 (0, 5)");

  Status big = readNpy(dir.file("big.npy"), t);
  EXPECT_EQ(big.message(), dir.file("big.npy") + ": unsupported dtype '>f4' (loom reads "
                                                 "little-endian f4, i4, f8, i8)");
  EXPECT_CONTAINS(readNpy(dir.file("fortran.npy"), t).message(), "fortran_order");
  EXPECT_CONTAINS(readNpy(dir.file("object.npy"), t).message(), "unsupported dtype '|O'");

  NamedTensors w;
  ASSERT_FALSE(readNpz(dir.file("w.npz"), w));
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].first, "y/kernel");
  EXPECT_EQ(w[0].second.describe(), "f32 (3, 4)");
  EXPECT_EQ(w[1].first, "y/bias");
  EXPECT_EQ(w[1].second.f32()[3], 1.0f);

  NamedTensors c;
  Status s = readNpz(dir.file("c.npz"), c);
  ASSERT_FALSE(s) << s.message();
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].first, "tokens");
  EXPECT_EQ(c[0].second.i32()[3], 4);
  EXPECT_EQ(c[1].second.f32()[7], 7.0f / 4);

  NamedTensors e;
  ASSERT_FALSE(readNpz(dir.file("e.npz"), e));
  EXPECT_TRUE(e.empty());
}

TEST(RuntimeNumpy, NumpyReadsWhatLoomWrites) {
  if (!haveNumpy())
    GTEST_SKIP() << "no numpy for /usr/bin/python3";
  ScratchDir dir;
  Tensor k(DType::F32, {5, 4});
  for (int i = 0; i < 20; ++i)
    k.f32()[i] = (float)i - 0.5f;
  Tensor ids(DType::I32, {3});
  ids.i32()[2] = -7;
  ASSERT_FALSE(writeNpy(dir.file("k.npy"), k));
  ASSERT_FALSE(writeNpy(dir.file("s.npy"), Tensor(DType::F32, {})));
  ASSERT_FALSE(writeNpz(dir.file("w.npz"),
                        {{"y/kernel", k}, {"ids", ids}, {"none", Tensor(DType::F32, {0})}}));
  ASSERT_FALSE(writeNpz(dir.file("e.npz"), {}));
  EXPECT_TRUE(python(dir, R"(
k = np.load(d + '/k.npy')
assert k.dtype == np.float32 and k.shape == (5, 4), k
assert (k == np.arange(20, dtype=np.float32).reshape(5, 4) - 0.5).all()
s = np.load(d + '/s.npy')
assert s.shape == () and s.dtype == np.float32
w = np.load(d + '/w.npz')
assert list(w.keys()) == ['y/kernel', 'ids', 'none'], list(w.keys())
assert (w['y/kernel'] == k).all()
assert w['ids'].dtype == np.int32 and list(w['ids']) == [0, 0, -7]
assert w['none'].shape == (0,)
assert list(np.load(d + '/e.npz').keys()) == []
)"));
}
