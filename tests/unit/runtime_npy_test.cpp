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
  EXPECT_EQ(parseError(npyImage(npyDict("<c8", "(1,)"), rawBytes<float>({1, 2}))),
            "x.npy: unsupported dtype '<c8' (loom reads f2, f4, f8, i1 to i8, u1 to u8 and bool, "
            "either byte order)");
  EXPECT_CONTAINS(parseError(npyImage(npyDict("|O", "(1,)"), "12345678")),
                  "unsupported dtype '|O'");
  EXPECT_CONTAINS(parseError(npyImage(npyDict("<f16", "(1,)"), std::string(16, 'a'))),
                  "unsupported dtype '<f16'");
  EXPECT_CONTAINS(parseError(npyImage(npyDict("|b2", "(1,)"), "ab")), "unsupported dtype '|b2'");
  EXPECT_CONTAINS(parseError(npyImage(npyDict("<U3", "(1,)"), std::string(12, 'a'))),
                  "unsupported dtype '<U3'");
  std::string rec =
      npyImage("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }\n", "abcd");
  EXPECT_CONTAINS(parseError(rec), "x.npy: unsupported structured dtype");
}

namespace {
/// `values` as `size`-byte integers (two's complement), big-endian if `big`.
std::string intBytes(std::initializer_list<int64_t> values, int size, bool big) {
  std::string out;
  for (int64_t v : values)
    for (int i = 0; i < size; ++i)
      out += (char)(((uint64_t)v >> (8 * (big ? size - 1 - i : i))) & 0xff);
  return out;
}

Tensor parsed(const std::string &descr, const std::string &shape, const std::string &data,
              bool fortran = false) {
  std::string image = npyImage(npyDict(descr, shape, fortran), data);
  Tensor t;
  Status s = parseNpy("x.npy", u8(image), image.size(), t);
  EXPECT_FALSE(s) << s.message();
  return t;
}
} // namespace

TEST(RuntimeNpy, ReadsBigEndianData) {
  float f = 1.5f;
  uint32_t fb;
  std::memcpy(&fb, &f, 4);
  Tensor t = parsed(">f4", "(2,)", intBytes({(int64_t)fb, 0xc0800000LL /* -4.0f */}, 4, true));
  EXPECT_EQ(t.describe(), "f32 (2,)");
  EXPECT_EQ(t.f32()[0], 1.5f);
  EXPECT_EQ(t.f32()[1], -4.0f);
  double d = -0.1;
  int64_t db;
  std::memcpy(&db, &d, 8);
  t = parsed(">f8", "(1,)", intBytes({db}, 8, true));
  EXPECT_EQ(t.f32()[0], -0.1f);
  t = parsed(">i4", "(3,)", intBytes({-2, 0x01020304, INT32_MIN}, 4, true));
  EXPECT_EQ(t.describe(), "i32 (3,)");
  EXPECT_EQ(t.i32()[0], -2);
  EXPECT_EQ(t.i32()[1], 0x01020304);
  EXPECT_EQ(t.i32()[2], INT32_MIN);
  t = parsed(">i8", "(1,)", intBytes({-7}, 8, true));
  EXPECT_EQ(t.i32()[0], -7);
  t = parsed(">i2", "(1,)", intBytes({-300}, 2, true));
  EXPECT_EQ(t.i32()[0], -300);
  t = parsed("=i4", "(1,)", intBytes({9}, 4, false)); // native: little on x86-64
  EXPECT_EQ(t.i32()[0], 9);
}

TEST(RuntimeNpy, ReadsSmallAndUnsignedIntegersWithARangeCheck) {
  Tensor t = parsed("|i1", "(3,)", intBytes({-128, 127, -1}, 1, false));
  EXPECT_EQ(t.describe(), "i32 (3,)");
  EXPECT_EQ(t.i32()[0], -128);
  EXPECT_EQ(t.i32()[1], 127);
  EXPECT_EQ(t.i32()[2], -1);
  t = parsed("|u1", "(2,)", intBytes({255, 7}, 1, false));
  EXPECT_EQ(t.i32()[0], 255);
  t = parsed("<u2", "(1,)", intBytes({65535}, 2, false));
  EXPECT_EQ(t.i32()[0], 65535);
  t = parsed("<u4", "(1,)", intBytes({INT32_MAX}, 4, false));
  EXPECT_EQ(t.i32()[0], INT32_MAX);
  t = parsed(">u8", "(1,)", intBytes({12345}, 8, true));
  EXPECT_EQ(t.i32()[0], 12345);

  std::string big = npyImage(npyDict("<u4", "(2,)"), intBytes({1, 0x80000000LL}, 4, false));
  EXPECT_EQ(parseError(big), "x.npy: u4 value 2147483648 at flat index 1 does not fit in i32");
  std::string huge = npyImage(npyDict("<u8", "(1,)"), intBytes({-1}, 8, false));
  EXPECT_EQ(parseError(huge),
            "x.npy: u8 value 18446744073709551615 at flat index 0 does not fit in i32");
}

TEST(RuntimeNpy, ReadsFloat16Exactly) {
  // 1, -2, 65504 (largest), 2^-14 (smallest normal), 2^-24 (smallest subnormal),
  // 3 * 2^-24, inf, -0, NaN.
  Tensor t = parsed(
      "<f2", "(9,)",
      intBytes({0x3c00, 0xc000, 0x7bff, 0x0400, 0x0001, 0x0003, 0x7c00, 0x8000, 0x7e00}, 2, false));
  EXPECT_EQ(t.describe(), "f32 (9,)");
  EXPECT_EQ(t.f32()[0], 1.0f);
  EXPECT_EQ(t.f32()[1], -2.0f);
  EXPECT_EQ(t.f32()[2], 65504.0f);
  EXPECT_EQ(t.f32()[3], std::ldexp(1.0f, -14));
  EXPECT_EQ(t.f32()[4], std::ldexp(1.0f, -24));
  EXPECT_EQ(t.f32()[5], 3 * std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isinf(t.f32()[6]) && t.f32()[6] > 0);
  EXPECT_TRUE(t.f32()[7] == 0 && std::signbit(t.f32()[7]));
  EXPECT_TRUE(std::isnan(t.f32()[8]));
  t = parsed(">f2", "(1,)", intBytes({0x3555}, 2, true)); // 0.333251953125
  EXPECT_EQ(t.f32()[0], 0.333251953125f);
}

TEST(RuntimeNpy, ReadsBoolAsZeroOrOne) {
  Tensor t = parsed("|b1", "(2, 2)", std::string("\x01\x00\x00\x02", 4));
  EXPECT_EQ(t.describe(), "f32 (2, 2)");
  EXPECT_EQ(t.f32()[0], 1.0f);
  EXPECT_EQ(t.f32()[1], 0.0f);
  EXPECT_EQ(t.f32()[2], 0.0f);
  EXPECT_EQ(t.f32()[3], 1.0f);
}

TEST(RuntimeNpy, ReordersFortranOrderIntoRowMajor) {
  // a[i][j][k] = 100 i + 10 j + k, shape (2, 3, 4), stored with i varying fastest.
  std::vector<int64_t> fortran;
  for (int k = 0; k < 4; ++k)
    for (int j = 0; j < 3; ++j)
      for (int i = 0; i < 2; ++i)
        fortran.push_back(100 * i + 10 * j + k);
  std::string data;
  for (int64_t v : fortran)
    data += intBytes({v}, 2, false);
  Tensor t = parsed("<i2", "(2, 3, 4)", data, true);
  ASSERT_EQ(t.describe(), "i32 (2, 3, 4)");
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k)
        EXPECT_EQ(t.i32()[(i * 3 + j) * 4 + k], 100 * i + 10 * j + k) << i << j << k;

  // f4 too (the fast path must not take it), and a rank-1 or empty array is the same in
  // both orders.
  t = parsed("<f4", "(2, 2)", rawBytes<float>({1, 2, 3, 4}), true);
  EXPECT_EQ(t.f32()[1], 3.0f);
  EXPECT_EQ(t.f32()[2], 2.0f);
  t = parsed("<f4", "(3,)", rawBytes<float>({1, 2, 3}), true);
  EXPECT_EQ(t.f32()[2], 3.0f);
  t = parsed("<f4", "(0, 3)", "", true);
  EXPECT_EQ(t.describe(), "f32 (0, 3)");

  // A range error names the element as numpy indexes it: a[1][0] is flat index 2 in
  // row-major order, the second element of the file.
  std::string bad =
      npyImage(npyDict("<i8", "(2, 2)", true), intBytes({0, 5000000000LL, 1, 1}, 8, false));
  EXPECT_EQ(parseError(bad), "x.npy: i8 value 5000000000 at flat index 2 does not fit in i32");
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

  writeBytes(dir.file("bad.npy"), npyImage(npyDict(">c8", "(1,)"), "abcdefgh"));
  Status bad = readNpy(dir.file("bad.npy"), t);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad.message(), dir.file("bad.npy") + ": unsupported dtype '>c8' (loom reads f2, f4, "
                                                 "f8, i1 to i8, u1 to u8 and bool, either byte "
                                                 "order)");
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
