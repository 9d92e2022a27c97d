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

// Every form numpy writes that loom converts, each beside the same values saved as plain
// little-endian C-ordered f4 or i4 by numpy itself: loom must read the two the same.
TEST(RuntimeNumpy, ReadsEveryLayoutAndDtypeNumpyWritesWithTheSameValues) {
  if (!haveNumpy())
    GTEST_SKIP() << "no numpy for /usr/bin/python3";
  ScratchDir dir;
  ASSERT_TRUE(python(dir, R"(
rng = np.random.default_rng(7)
a = rng.standard_normal((3, 4, 5)).astype(np.float32)
cases = {
    'transposed': a.T,                                  # Fortran order, as np.save writes .T
    'fortran2d': np.asfortranarray(a[0]),
    'fortran_slice': a.transpose(1, 0, 2),              # neither order: numpy saves it C
    'big_f4': a.astype('>f4'),
    'big_f4_fortran': np.asfortranarray(a.astype('>f4')),
    'big_f8': a.astype('>f8'),
    'f2': a.astype(np.float16),
    'big_f2': a.astype('>f2'),
    'bool': a > 0,
    'bool_fortran': (a > 0).T,
    'big_i4': (a * 1000).astype('>i4'),
    'big_i8_fortran': np.asfortranarray((a * 1e6).astype('>i8')),
    'i1': (a * 40).astype(np.int8),
    'i2': (a * 9000).astype(np.int16),
    'u1': (np.abs(a) * 80).astype(np.uint8),
    'u2': (np.abs(a) * 20000).astype(np.uint16),
    'u4': (np.abs(a) * 1e8).astype(np.uint32),
}
def plain(x):
    return np.ascontiguousarray(x.astype('<f4' if x.dtype.kind in 'fb' else '<i4'))
for name, x in cases.items():
    np.save(d + '/' + name + '.npy', x)
    np.save(d + '/' + name + '.ref.npy', plain(x))
for v in [(1, 0), (2, 0), (3, 0)]:
    with open(d + '/v%d.npy' % v[0], 'wb') as f:
        np.lib.format.write_array(f, a.T, version=v)
np.save(d + '/v.ref.npy', plain(a.T))
np.savez(d + '/all.npz', **cases)
np.savez_compressed(d + '/all_c.npz', **cases)
np.savez(d + '/ref.npz', **{k: plain(x) for k, x in cases.items()})
)"));
  auto same = [](const std::string &what, const Tensor &got, const Tensor &want) {
    ASSERT_EQ(got.describe(), want.describe()) << what;
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.bytes()), 0) << what;
  };
  const char *names[] = {"transposed",
                         "fortran2d",
                         "fortran_slice",
                         "big_f4",
                         "big_f4_fortran",
                         "big_f8",
                         "f2",
                         "big_f2",
                         "bool",
                         "bool_fortran",
                         "big_i4",
                         "big_i8_fortran",
                         "i1",
                         "i2",
                         "u1",
                         "u2",
                         "u4"};
  for (const char *name : names) {
    Tensor got, want;
    Status s = readNpy(dir.file(std::string(name) + ".npy"), got);
    ASSERT_FALSE(s) << s.message();
    ASSERT_FALSE(readNpy(dir.file(std::string(name) + ".ref.npy"), want));
    same(name, got, want);
  }
  Tensor want;
  ASSERT_FALSE(readNpy(dir.file("v.ref.npy"), want));
  EXPECT_EQ(want.describe(), "f32 (5, 4, 3)");
  for (const char *v : {"v1.npy", "v2.npy", "v3.npy"}) {
    Tensor got;
    Status s = readNpy(dir.file(v), got);
    ASSERT_FALSE(s) << s.message();
    same(v, got, want);
  }
  // The versions really differ in their preambles.
  EXPECT_EQ(readBytes(dir.file("v2.npy"))[6], 2);
  EXPECT_EQ(readBytes(dir.file("v3.npy"))[6], 3);

  NamedTensors ref;
  ASSERT_FALSE(readNpz(dir.file("ref.npz"), ref));
  ASSERT_EQ(ref.size(), std::size(names));
  for (const char *archive : {"all.npz", "all_c.npz"}) {
    NamedTensors got;
    Status s = readNpz(dir.file(archive), got);
    ASSERT_FALSE(s) << s.message();
    ASSERT_EQ(got.size(), ref.size());
    for (size_t i = 0; i < ref.size(); ++i) {
      EXPECT_EQ(got[i].first, ref[i].first);
      same(std::string(archive) + ":" + got[i].first, got[i].second, ref[i].second);
    }
  }
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
