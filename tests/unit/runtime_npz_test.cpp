#include "runtime/Npy.h"
#include "runtime_test_util.h"

using namespace loom::rt;
using namespace loom::rt::test;

namespace {

Tensor filled(DType dt, std::vector<int64_t> shape, int seed) {
  Tensor t(dt, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (dt == DType::F32)
      t.f32()[i] = (float)(i * seed) * 0.25f;
    else
      t.i32()[i] = (int32_t)(i - seed);
  }
  return t;
}

NamedTensors sampleWeights() {
  return {{"y/kernel", filled(DType::F32, {5, 64}, 1)},
          {"y/recurrent_kernel", filled(DType::F32, {64, 64}, 2)},
          {"y/bias", filled(DType::F32, {64}, 3)},
          {"tokens", filled(DType::I32, {2, 3}, 4)},
          {"step", filled(DType::I32, {}, 5)},
          {"empty", filled(DType::F32, {0, 3}, 6)}};
}

void expectSame(const NamedTensors &a, const NamedTensors &b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    ASSERT_EQ(a[i].second.describe(), b[i].second.describe()) << a[i].first;
    if (a[i].second.bytes()) {
      EXPECT_EQ(std::memcmp(a[i].second.data(), b[i].second.data(), a[i].second.bytes()), 0)
          << a[i].first;
    }
  }
}

std::string parseError(const std::string &image, const std::string &what = "w.npz") {
  NamedTensors out;
  Status s = parseNpz(what, u8(image), image.size(), out);
  return s ? s.message() : "";
}

} // namespace

TEST(RuntimeNpz, RoundTripKeepsNamesOrderAndData) {
  ScratchDir dir;
  NamedTensors w = sampleWeights();
  Status s = writeNpz(dir.file("w.npz"), w);
  ASSERT_FALSE(s) << s.message();
  NamedTensors back;
  s = readNpz(dir.file("w.npz"), back);
  ASSERT_FALSE(s) << s.message();
  expectSame(w, back);
  EXPECT_EQ(dir.entries(), std::set<std::string>{"w.npz"});
}

TEST(RuntimeNpz, EmptyArchiveRoundTrips) {
  ScratchDir dir;
  ASSERT_FALSE(writeNpz(dir.file("e.npz"), {}));
  EXPECT_EQ(readBytes(dir.file("e.npz")).size(), 22u) << "just the end-of-directory record";
  NamedTensors back = sampleWeights();
  Status s = readNpz(dir.file("e.npz"), back);
  ASSERT_FALSE(s) << s.message();
  EXPECT_TRUE(back.empty());
}

TEST(RuntimeNpz, SameWeightsGiveSameBytes) {
  std::string a, b;
  ASSERT_FALSE(serializeNpz("a", sampleWeights(), a));
  ASSERT_FALSE(serializeNpz("b", sampleWeights(), b));
  EXPECT_EQ(a, b);
}

TEST(RuntimeNpz, ReadsDeflatedMembers) {
  Tensor t = filled(DType::F32, {32, 32}, 7);
  std::string image = buildZip({{"a/b.npy", serializeNpy(t)}, {"c.npy", serializeNpy(t)}});
  NamedTensors out;
  Status s = parseNpz("c.npz", u8(image), image.size(), out);
  ASSERT_FALSE(s) << s.message();
  expectSame({{"a/b", t}, {"c", t}}, out);
}

TEST(RuntimeNpz, RejectsFilesThatAreNotZips) {
  EXPECT_EQ(parseError(serializeNpy(Tensor(DType::F32, {3}))),
            "w.npz: not a zip archive (an .npz file is one)");
  EXPECT_EQ(parseError(""), "w.npz: empty file, not an .npz archive");
  EXPECT_CONTAINS(parseError(std::string(100, 'x')), "w.npz: not a zip archive");
}

TEST(RuntimeNpz, RejectsMembersThatAreNotNpy) {
  std::string image =
      buildZip({{"x.npy", serializeNpy(Tensor(DType::F32, {1}))}, {"notes.txt", "hello"}});
  EXPECT_EQ(parseError(image), "w.npz: member 'notes.txt': not a .npy array (every member of "
                               "an .npz archive must be one)");
  std::string named = buildZip({{"x.npy", "just text"}});
  EXPECT_CONTAINS(parseError(named), "w.npz: member 'x.npy': not a .npy file");
}

TEST(RuntimeNpz, MemberErrorsNameTheArchiveAndTheMember) {
  std::string npy = npyImage(npyDict("<f4", "(5, 64)"), std::string(80, '\0'));
  for (int method : {ZIP_CM_STORE, ZIP_CM_DEFLATE}) {
    std::string image = buildZip({{"y/kernel.npy", npy}}, method);
    EXPECT_EQ(parseError(image),
              "w.npz: member 'y/kernel.npy': data is 80 bytes, shape (5, 64) needs 1280");
  }
  std::string i8 = npyImage(npyDict("<i8", "(1,)"), rawBytes<int64_t>({-5000000000LL}));
  EXPECT_EQ(parseError(buildZip({{"ids.npy", i8}})),
            "w.npz: member 'ids.npy': i8 value -5000000000 at flat index 0 does not fit in i32");
  std::string cplx = npyImage(npyDict("<c8", "(1,)"), "abcdefgh");
  EXPECT_EQ(parseError(buildZip({{"b.npy", cplx}})),
            "w.npz: member 'b.npy': unsupported dtype '<c8' (loom reads f2, f4, f8, i1 to i8, "
            "u1 to u8 and bool, either byte order)");
}

TEST(RuntimeNpz, CorruptDataIsCaughtByTheChecksum) {
  std::string npy = serializeNpy(filled(DType::F32, {16}, 1));
  std::string image = buildZip({{"a.npy", npy}}, ZIP_CM_STORE);
  size_t at = image.find(std::string("\x93NUMPY", 6));
  ASSERT_NE(at, std::string::npos);
  image[at + npy.size() - 3] ^= 0x40; // inside the float data
  EXPECT_CONTAINS(parseError(image), "w.npz: member 'a.npy': cannot read");
}

TEST(RuntimeNpz, FileErrorsNameThePath) {
  ScratchDir dir;
  NamedTensors out;
  Status s = readNpz(dir.file("missing.npz"), out);
  ASSERT_TRUE(s);
  EXPECT_EQ(s.message(), dir.file("missing.npz") + ": cannot open: No such file or directory");
  writeBytes(dir.file("text.npz"), "this is not a zip archive at all, just some text......");
  s = readNpz(dir.file("text.npz"), out);
  ASSERT_TRUE(s);
  EXPECT_EQ(s.message(), dir.file("text.npz") + ": not a zip archive (an .npz file is one)");
}

TEST(RuntimeNpz, WriteRejectsBadNamesAndLeavesNothing) {
  ScratchDir dir;
  Tensor t(DType::F32, {2});
  Status dup = writeNpz(dir.file("d.npz"), {{"a", t}, {"b", t}, {"a", t}});
  ASSERT_TRUE(dup);
  EXPECT_EQ(dup.message(), dir.file("d.npz") + ": two arrays are named 'a'");
  Status empty = writeNpz(dir.file("e.npz"), {{"", t}});
  ASSERT_TRUE(empty);
  EXPECT_CONTAINS(empty.message(), "empty name");
  Status nostorage = writeNpz(dir.file("n.npz"), {{"x", Tensor()}});
  ASSERT_TRUE(nostorage);
  EXPECT_CONTAINS(nostorage.message(), "array 'x' has no storage");
  EXPECT_TRUE(dir.entries().empty());
}

TEST(RuntimeNpz, WriteIntoMissingDirectoryFailsCleanly) {
  ScratchDir dir;
  std::string path = dir.file("nowhere/w.npz");
  Status s = writeNpz(path, sampleWeights());
  ASSERT_TRUE(s);
  EXPECT_CONTAINS(s.message(), path + ": cannot create temporary file");
  EXPECT_TRUE(dir.entries().empty());
}

TEST(RuntimeNpz, FailedWriteKeepsTheOldFile) {
  ScratchDir dir;
  std::string path = dir.file("w.npz");
  ASSERT_FALSE(writeNpz(path, sampleWeights()));
  std::string before = readBytes(path);
  Status s = writeNpz(path, {{"a", Tensor(DType::F32, {1})}, {"a", Tensor(DType::F32, {1})}});
  ASSERT_TRUE(s);
  EXPECT_EQ(readBytes(path), before);
  EXPECT_EQ(dir.entries(), std::set<std::string>{"w.npz"});
}
