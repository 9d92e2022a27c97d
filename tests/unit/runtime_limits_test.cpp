// Memory limits (runtime/Limits.h): sizes as the CLI takes them, and every reader and the
// call arena refusing a request beyond the limit before allocating it.
#include "runtime/FileIO.h"
#include "runtime/Kernels.h"
#include "runtime/Limits.h"
#include "runtime/Npy.h"
#include "runtime_test_util.h"

using namespace loom::rt;
using namespace loom::rt::test;

namespace {

/// Sets the process-wide limit for one test and restores the default after it.
struct ScopedLimit {
  explicit ScopedLimit(int64_t bytes) { setMemoryLimit(bytes); }
  ~ScopedLimit() { setMemoryLimit(0); }
};

void putLE32(std::string &s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    s[at + i] = (char)((v >> (8 * i)) & 0xff);
}

} // namespace

TEST(RuntimeLimits, ParsesSizesAsTheCliTakesThem) {
  int64_t b = 0;
  EXPECT_TRUE(parseBytes("1000000", b));
  EXPECT_EQ(b, 1000000);
  EXPECT_TRUE(parseBytes("64K", b));
  EXPECT_EQ(b, 65536);
  EXPECT_TRUE(parseBytes("512M", b));
  EXPECT_EQ(b, 512 << 20);
  EXPECT_TRUE(parseBytes("4G", b));
  EXPECT_EQ(b, int64_t(4) << 30);
  EXPECT_TRUE(parseBytes("2.5GiB", b));
  EXPECT_EQ(b, int64_t(5) << 29);
  EXPECT_TRUE(parseBytes("1T", b));
  EXPECT_EQ(b, int64_t(1) << 40);
  EXPECT_TRUE(parseBytes("8mb", b));
  EXPECT_EQ(b, 8 << 20);
  for (const char *bad : {"", "G", "-1", "0", "lots", "4X", "4GG", "1e30", " 4G"})
    EXPECT_FALSE(parseBytes(bad, b)) << bad;
  EXPECT_EQ(bytesStr(4096), "4096 bytes");
  EXPECT_EQ(bytesStr(uint64_t(3) << 29), "1.5 GiB (1610612736 bytes)");
}

TEST(RuntimeLimits, DefaultIsThePhysicalMemoryAndSettingItSticks) {
  EXPECT_EQ(memoryLimit(), physicalMemory());
  EXPECT_GT(physicalMemory(), int64_t(1) << 26);
  {
    ScopedLimit l(12345);
    EXPECT_EQ(memoryLimit(), 12345);
    EXPECT_EQ(checkMemory("x", 12346).message(),
              "x needs 12346 bytes, more than the memory limit of 12345 bytes (--max-memory)");
    EXPECT_FALSE(checkMemory("x", 12345));
    EXPECT_EQ(checkMemory("x", 200, 100).message(),
              "x needs 200 bytes, more than the memory limit of 100 bytes (set for this model)");
  }
  EXPECT_EQ(memoryLimit(), physicalMemory());
  EXPECT_CONTAINS(checkMemory("x", UINT64_MAX).message(), "(the machine's memory)");
}

TEST(RuntimeLimits, ReadersRefuseBeforeAllocating) {
  ScratchDir dir;
  // 1 MiB of u1 grows to 4 MiB as i32: refused under a 2 MiB limit, read under 8 MiB.
  std::string image = npyImage(npyDict("|u1", "(1024, 1024)"), std::string(1 << 20, '\x07'));
  writeBytes(dir.file("u1.npy"), image);
  {
    ScopedLimit l(2 << 20);
    Tensor t;
    Status s = parseNpy("u1.npy", u8(image), image.size(), t);
    EXPECT_EQ(s.message(), "u1.npy: an array of shape (1024, 1024) needs 4.0 MiB (4194304 bytes), "
                           "more than the memory limit of 2.0 MiB (2097152 bytes) (--max-memory)");
    EXPECT_EQ(t.rank(), 0);
  }
  {
    ScopedLimit l(512 << 10);
    Tensor t;
    Status s = readNpy(dir.file("u1.npy"), t);
    EXPECT_EQ(s.message(),
              dir.file("u1.npy") + ": reading it needs 1.0 MiB (" + std::to_string(image.size()) +
                  " bytes), more than the memory limit of 524288 bytes (--max-memory)");
  }
  {
    ScopedLimit l(8 << 20);
    Tensor t;
    ASSERT_FALSE(readNpy(dir.file("u1.npy"), t));
    EXPECT_EQ(t.i32()[12345], 7);
  }
}

// A zip bomb: a member whose directory entry says it inflates to more than the limit is
// refused before it is inflated; one that claims more than deflate can produce from its
// compressed bytes is corrupt.
TEST(RuntimeLimits, ArchiveMembersThatInflateBeyondTheLimitAreRefused) {
  std::string npy = npyImage(npyDict("<f4", "(1024, 1024)"), std::string(4 << 20, '\0'));
  std::string zip = buildZip({{"x.npy", npy}}, ZIP_CM_DEFLATE);
  ASSERT_LT(zip.size(), 64u << 10) << "zeros deflate about 1000 to 1";
  {
    ScopedLimit l(1 << 20);
    NamedTensors out;
    Status s = parseNpz("bomb.npz", u8(zip), zip.size(), out);
    EXPECT_EQ(s.message(), "bomb.npz: member 'x.npy': inflating it needs 4.0 MiB (" +
                               std::to_string(npy.size()) +
                               " bytes), more than the memory limit of 1.0 MiB (1048576 bytes) "
                               "(--max-memory)");
  }
  NamedTensors out;
  ASSERT_FALSE(parseNpz("bomb.npz", u8(zip), zip.size(), out));
  EXPECT_EQ(out[0].second.describe(), "f32 (1024, 1024)");

  // The same archive claiming 4 GiB in both the local header (offset 22) and the central
  // directory (offset 24 of its entry).
  std::string lie = zip;
  size_t central = lie.find("PK\x01\x02");
  ASSERT_NE(central, std::string::npos);
  putLE32(lie, 22, 0xfffffff0u);
  putLE32(lie, central + 24, 0xfffffff0u);
  Status s = parseNpz("lie.npz", u8(lie), lie.size(), out);
  EXPECT_CONTAINS(s.message(), "lie.npz: member 'x.npy': corrupt archive: the member claims "
                               "4294967280 bytes inflated from ");
  EXPECT_CONTAINS(s.message(), "(deflate expands at most 1032 times)");
}

TEST(RuntimeLimits, TheArenaRefusesBeyondItsLimit) {
  CallContext ctx;
  ctx.setMemoryLimit(3 << 20);
  EXPECT_NE(loom_rt_alloc(ctx.c(), 2 << 20), nullptr);
  EXPECT_EQ(loom_rt_alloc(ctx.c(), 2 << 20), nullptr);
  EXPECT_EQ(ctx.error(), "memory limit: the call's scratch needs more than 4.0 MiB (4194304 "
                         "bytes), the memory limit leaves it 3.0 MiB (3145728 bytes)");
  EXPECT_LE(ctx.bytesReserved(), 3 << 20) << "blocks grow only up to the limit";
  ctx.reset();
  EXPECT_NE(loom_rt_alloc(ctx.c(), 2 << 20), nullptr) << "the limit is kept across calls";
  EXPECT_NE(loom_rt_alloc(ctx.c(), 1 << 20), nullptr);
  EXPECT_FALSE(ctx.failed());

  // Without a limit of its own, the process-wide one.
  CallContext other;
  ScopedLimit l(1 << 20);
  EXPECT_EQ(loom_rt_alloc(other.c(), 2 << 20), nullptr);
  EXPECT_CONTAINS(other.error(), "the memory limit leaves it 1.0 MiB");
}
