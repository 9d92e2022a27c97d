#include "runtime/Npy.h"
#include "runtime_test_util.h"

#include <cmath>
#include <limits>

using namespace loom::rt;
using namespace loom::rt::test;

namespace {

Tensor iota(DType dt, std::vector<int64_t> shape) {
  Tensor t(dt, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (dt == DType::F32)
      t.f32()[i] = 0.5f * (float)i - 3.0f;
    else
      t.i32()[i] = (int32_t)(i * 7 - 11);
  }
  return t;
}

void expectSame(const Tensor &a, const Tensor &b) {
  ASSERT_EQ(a.describe(), b.describe());
  ASSERT_TRUE(b.valid());
  if (a.bytes()) {
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.bytes()), 0);
  }
}

/// Parses `image` as "x.npy" and returns the error message ("" on success).
std::string parseError(const std::string &image) {
  Tensor t;
  Status s = parseNpy("x.npy", u8(image), image.size(), t);
  return s ? s.message() : "";
}

const std::vector<std::vector<int64_t>> kShapes = {
    {}, {1}, {3}, {0}, {2, 3}, {4, 0, 2}, {2, 3, 4}, {1, 2, 1, 3}, {2, 2, 2, 2, 2}};

} // namespace

TEST(RuntimeNpy, RoundTripInMemory) {
  for (DType dt : {DType::F32, DType::I32})
    for (const auto &shape : kShapes) {
      Tensor t = iota(dt, shape);
      std::string image = serializeNpy(t);
      Tensor back;
      ASSERT_FALSE(parseNpy("mem", u8(image), image.size(), back)) << t.describe();
      expectSame(t, back);
    }
}

TEST(RuntimeNpy, RoundTripThroughFiles) {
  ScratchDir dir;
  for (DType dt : {DType::F32, DType::I32})
    for (const auto &shape : kShapes) {
      Tensor t = iota(dt, shape);
      std::string path = dir.file("a.npy");
      Status w = writeNpy(path, t);
      ASSERT_FALSE(w) << w.message();
      Tensor back;
      Status r = readNpy(path, back);
      ASSERT_FALSE(r) << r.message();
      expectSame(t, back);
    }
  EXPECT_EQ(dir.entries(), std::set<std::string>{"a.npy"});
}

TEST(RuntimeNpy, WritesNumpysVersion1Layout) {
  std::string image = serializeNpy(iota(DType::I32, {3}));
  ASSERT_GE(image.size(), 10u);
  EXPECT_EQ(image.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  size_t headerLen = (uint8_t)image[8] | ((uint8_t)image[9] << 8);
  EXPECT_EQ((10 + headerLen) % 64, 0u) << "numpy aligns the data to 64 bytes";
  std::string header = image.substr(10, headerLen);
  EXPECT_EQ(header.rfind("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", 0), 0u)
      << header;
  EXPECT_EQ(header.back(), '\n');
  EXPECT_EQ(image.size(), 10 + headerLen + 12);
}

TEST(RuntimeNpy, ReadsVersions2And3) {
  for (int major : {2, 3}) {
    std::string image = npyImage(npyDict("<f4", "(2,)"), rawBytes<float>({1.5f, -2.0f}), major);
    Tensor t;
    ASSERT_FALSE(parseNpy("v.npy", u8(image), image.size(), t)) << major;
    EXPECT_EQ(t.describe(), "f32 (2,)");
    EXPECT_EQ(t.f32()[1], -2.0f);
  }
}

TEST(RuntimeNpy, ConvertsF8ToF32) {
  std::string image =
      npyImage(npyDict("<f8", "(2, 2)"), rawBytes<double>({0.1, -1e300, 3.0, 1e-3}));
  Tensor t;
  ASSERT_FALSE(parseNpy("x.npy", u8(image), image.size(), t));
  EXPECT_EQ(t.describe(), "f32 (2, 2)");
  EXPECT_EQ(t.f32()[0], 0.1f);
  EXPECT_TRUE(std::isinf(t.f32()[1]) && t.f32()[1] < 0);
  EXPECT_EQ(t.f32()[2], 3.0f);
  EXPECT_EQ(t.f32()[3], 1e-3f);
}

TEST(RuntimeNpy, ConvertsI8ToI32WithARangeCheck) {
  std::string ok =
      npyImage(npyDict("<i8", "(3,)"), rawBytes<int64_t>({-2147483648LL, 2147483647LL, 5}));
  Tensor t;
  ASSERT_FALSE(parseNpy("ids.npy", u8(ok), ok.size(), t));
  EXPECT_EQ(t.describe(), "i32 (3,)");
  EXPECT_EQ(t.i32()[0], std::numeric_limits<int32_t>::min());
  EXPECT_EQ(t.i32()[1], std::numeric_limits<int32_t>::max());

  std::string bad = npyImage(npyDict("<i8", "(4,)"), rawBytes<int64_t>({1, 2, 3, 5000000000LL}));
  Tensor untouched;
  Status s = parseNpy("ids.npy", u8(bad), bad.size(), untouched);
  ASSERT_TRUE(s);
  EXPECT_EQ(s.message(), "ids.npy: i8 value 5000000000 at flat index 3 does not fit in i32");
  EXPECT_EQ(untouched.rank(), 0) << "a failed read leaves the output alone";
}

TEST(RuntimeNpy, RejectsOtherDtypesByName) {
  std::string big = npyImage(npyDict(">f4", "(1,)"), rawBytes<float>({1}));
  EXPECT_EQ(parseError(big),
            "x.npy: unsupported dtype '>f4' (loom reads little-endian f4, i4, f8, i8)");
  EXPECT_CONTAINS(parseError(npyImage(npyDict("|b1", "(4,)"), "abcd")), "unsupported dtype '|b1'");
  EXPECT_CONTAINS(parseError(npyImage(npyDict("|O", "(1,)"), "12345678")),
                  "unsupported dtype '|O'");
  EXPECT_CONTAINS(parseError(npyImage(npyDict("<f2", "(2,)"), "abcd")), "unsupported dtype '<f2'");
  std::string rec =
      npyImage("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }\n", "abcd");
  EXPECT_CONTAINS(parseError(rec), "x.npy: unsupported structured dtype");
}

TEST(RuntimeNpy, RejectsFortranOrder) {
  std::string image = npyImage(npyDict("<f4", "(2, 2)", true), rawBytes<float>({1, 2, 3, 4}));
  EXPECT_CONTAINS(parseError(image), "x.npy: fortran_order arrays are not supported");
}

TEST(RuntimeNpy, RejectsDataThatDoesNotMatchTheShape) {
  std::string shortData = npyImage(npyDict("<f4", "(5, 64)"), std::string(80, '\0'));
  EXPECT_EQ(parseError(shortData), "x.npy: data is 80 bytes, shape (5, 64) needs 1280");
  std::string longData = npyImage(npyDict("<i4", "()"), std::string(8, '\0'));
  EXPECT_EQ(parseError(longData), "x.npy: data is 8 bytes, shape () needs 4");
  std::string f8 = npyImage(npyDict("<f8", "(3,)"), std::string(12, '\0'));
  EXPECT_EQ(parseError(f8), "x.npy: data is 12 bytes, shape (3,) needs 24");
  std::string huge =
      npyImage(npyDict("<f4", "(4294967296, 4294967296, 4294967296)"), std::string(4, '\0'));
  EXPECT_CONTAINS(parseError(huge), "needs more than 2^64");
}

TEST(RuntimeNpy, RejectsBrokenPreambles) {
  EXPECT_CONTAINS(parseError(""), "x.npy: not a .npy file");
  EXPECT_CONTAINS(parseError("PK\x03\x04 a zip"), "not a .npy file");
  EXPECT_CONTAINS(parseError(std::string("\x93NUMPY\x01", 7)), "truncated .npy file");
  EXPECT_CONTAINS(parseError(std::string("\x93NUMPY\x01\x00\x50", 9)), "truncated .npy file");
  std::string v4 = npyImage(npyDict("<f4", "()"), std::string(4, '\0'));
  v4[6] = 4;
  EXPECT_CONTAINS(parseError(v4), "unsupported .npy format version 4.0");
  std::string cut = npyImage(npyDict("<f4", "()"), "");
  cut.resize(30);
  EXPECT_CONTAINS(parseError(cut), "x.npy: truncated .npy header: it claims");
}

TEST(RuntimeNpy, RejectsHeadersThatDoNotParse) {
  auto headerError = [](const std::string &dict) {
    return parseError(npyImage(dict, std::string(8, '\0')));
  };
  const char *kMalformed = "x.npy: malformed .npy header: ";
  EXPECT_CONTAINS(headerError("descr: <f4"), kMalformed);
  EXPECT_CONTAINS(headerError("{'descr': '<f4', 'fortran_order': False}"),
                  "lacks 'descr', 'fortran_order' or 'shape'");
  EXPECT_CONTAINS(headerError("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,)}"),
                  "expected True or False");
  EXPECT_CONTAINS(headerError("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}"),
                  "negative dimension");
  EXPECT_CONTAINS(headerError("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}"),
                  "unexpected key 'x'");
  EXPECT_CONTAINS(headerError("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk"),
                  "unexpected text after the dict");
  EXPECT_CONTAINS(headerError("{'descr': '<f4', 'descr': '<f4'}"), "duplicate key");
  EXPECT_CONTAINS(headerError("{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}"),
                  kMalformed);
  EXPECT_CONTAINS(
      headerError("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}"),
      "dimension too large");
  // Non-printable header bytes are quoted, not copied into the message.
  EXPECT_CONTAINS(headerError(std::string("{\x01\xff", 3)), "\\x01\\xff");
}

TEST(RuntimeNpy, AcceptsHeaderVariantsNumpyWrites) {
  // Double quotes, no trailing comma, Python 2 longs, no padding newline.
  std::string image =
      npyImage("{\"descr\": \"<i4\", \"shape\": (2L, 1L), \"fortran_order\": False}",
               rawBytes<int32_t>({4, 9}));
  Tensor t;
  Status s = parseNpy("x.npy", u8(image), image.size(), t);
  ASSERT_FALSE(s) << s.message();
  EXPECT_EQ(t.describe(), "i32 (2, 1)");
  EXPECT_EQ(t.i32()[1], 9);
}

TEST(RuntimeNpy, FileErrorsNameThePath) {
  ScratchDir dir;
  Tensor t;
  Status missing = readNpy(dir.file("missing.npy"), t);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing.message(),
            dir.file("missing.npy") + ": cannot open: No such file or directory");
  Status isDir = readNpy(dir.path(), t);
  ASSERT_TRUE(isDir);
  EXPECT_CONTAINS(isDir.message(), "is a directory");

  writeBytes(dir.file("bad.npy"), npyImage(npyDict(">f4", "(1,)"), "abcd"));
  Status bad = readNpy(dir.file("bad.npy"), t);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad.message(),
            dir.file("bad.npy") +
                ": unsupported dtype '>f4' (loom reads little-endian f4, i4, f8, i8)");
}

TEST(RuntimeNpy, WriteIntoMissingDirectoryFailsCleanly) {
  ScratchDir dir;
  std::string path = dir.file("no/such/dir/w.npy");
  Status s = writeNpy(path, iota(DType::F32, {2}));
  ASSERT_TRUE(s);
  EXPECT_CONTAINS(s.message(), path + ": cannot create temporary file");
  EXPECT_CONTAINS(s.message(), "No such file or directory");
  EXPECT_TRUE(dir.entries().empty());
}

TEST(RuntimeNpy, FailedRenameLeavesNoTemporaryFile) {
  // A directory in the way: the temporary file is written, then the rename fails.
  ScratchDir dir;
  ASSERT_EQ(::mkdir(dir.file("w.npy").c_str(), 0755), 0);
  Status s = writeNpy(dir.file("w.npy"), iota(DType::F32, {2}));
  ASSERT_TRUE(s);
  EXPECT_CONTAINS(s.message(), "cannot rename");
  EXPECT_EQ(dir.entries(), std::set<std::string>{"w.npy"});
  struct stat st;
  ASSERT_EQ(::stat(dir.file("w.npy").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
}

TEST(RuntimeNpy, OverwriteReplacesTheFileWithAnOrdinaryMode) {
  ScratchDir dir;
  std::string path = dir.file("w.npy");
  writeBytes(path, "old contents");
  ASSERT_FALSE(writeNpy(path, iota(DType::I32, {4})));
  Tensor back;
  ASSERT_FALSE(readNpy(path, back));
  EXPECT_EQ(back.describe(), "i32 (4,)");
  EXPECT_EQ(dir.entries(), std::set<std::string>{"w.npy"});
  mode_t mask = ::umask(022);
  ::umask(mask);
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0666 & ~mask) << "not mkstemp's 0600";
}

TEST(RuntimeNpy, WritingATensorWithoutStorageIsAnError) {
  ScratchDir dir;
  Status s = writeNpy(dir.file("e.npy"), Tensor());
  ASSERT_TRUE(s);
  EXPECT_CONTAINS(s.message(), "without storage");
  EXPECT_TRUE(dir.entries().empty());
}
