#include "runtime/Kernels.h"
#include "runtime_test_util.h"

#include <omp.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

using namespace loom::rt;

namespace {

bool aligned64(const void *p) { return reinterpret_cast<uintptr_t>(p) % 64 == 0; }

/// One "call" worth of scratch requests, the mix a small RNN step would make.
std::vector<void *> allocateRound(CallContext &ctx) {
  std::vector<void *> ptrs;
  for (int64_t bytes : {0, 1, 63, 64, 65, 4096, 3 << 20, 100, 700000, 700000})
    ptrs.push_back(loom_rt_alloc(ctx.c(), bytes));
  return ptrs;
}

} // namespace

TEST(RuntimeArena, AllocationsAreAlignedAndDisjoint) {
  CallContext ctx;
  std::vector<int64_t> sizes = {1, 3, 64, 100, 0, 1 << 21, 5, 1 << 20};
  std::vector<uint8_t *> ptrs;
  for (int64_t n : sizes) {
    auto *p = static_cast<uint8_t *>(loom_rt_alloc(ctx.c(), n));
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(aligned64(p)) << n;
    std::memset(p, (int)ptrs.size() + 1, (size_t)n);
    ptrs.push_back(p);
  }
  // Each block still holds its own pattern: nothing overlapped.
  for (size_t i = 0; i < sizes.size(); ++i)
    for (int64_t j = 0; j < sizes[i]; j += 97)
      ASSERT_EQ(ptrs[i][j], (uint8_t)(i + 1)) << "allocation " << i << " byte " << j;
  EXPECT_NE(ptrs[4], ptrs[5]) << "a zero-byte request still gets its own pointer";
  EXPECT_FALSE(ctx.failed());
  EXPECT_GE(ctx.bytesInUse(), 1 << 21);
}

TEST(RuntimeArena, ResetReusesBlocksWithoutGrowing) {
  CallContext ctx;
  EXPECT_EQ(ctx.bytesReserved(), 0);
  std::vector<void *> first = allocateRound(ctx);
  int64_t reserved = ctx.bytesReserved();
  int64_t inUse = ctx.bytesInUse();
  EXPECT_GT(reserved, 0);
  EXPECT_LE(inUse, reserved);
  for (int round = 0; round < 3; ++round) {
    ctx.reset();
    EXPECT_EQ(ctx.bytesInUse(), 0);
    std::vector<void *> again = allocateRound(ctx);
    EXPECT_EQ(ctx.bytesReserved(), reserved) << "round " << round;
    EXPECT_EQ(ctx.bytesInUse(), inUse);
    EXPECT_EQ(again, first) << "the same requests land in the same places";
  }
}

TEST(RuntimeArena, InvalidRequestsRecordTheFirstError) {
  CallContext ctx;
  EXPECT_FALSE(ctx.failed());
  EXPECT_EQ(loom_rt_failed(ctx.c()), 0);
  EXPECT_EQ(loom_rt_alloc(ctx.c(), -8), nullptr);
  EXPECT_TRUE(ctx.failed());
  EXPECT_EQ(loom_rt_failed(ctx.c()), 1);
  EXPECT_EQ(ctx.error(), "loom_rt_alloc: invalid size -8 bytes");
  EXPECT_EQ(loom_rt_alloc(ctx.c(), std::numeric_limits<int64_t>::max()), nullptr);
  loom_rt_fail(ctx.c(), "a later error");
  EXPECT_EQ(ctx.error(), "loom_rt_alloc: invalid size -8 bytes") << "first error wins";
  ctx.reset();
  EXPECT_FALSE(ctx.failed());
  EXPECT_EQ(ctx.error(), "");
  loom_rt_fail(ctx.c(), "token id 9 out of range [0, 7)");
  EXPECT_EQ(ctx.error(), "token id 9 out of range [0, 7)");
  loom_rt_fail(nullptr, "ignored"); // must not crash
  EXPECT_EQ(loom_rt_alloc(nullptr, 16), nullptr);
}

namespace {

struct Gemm {
  int64_t M, N, K, lda, ldb, ldc;
  std::vector<float> A, B, C;

  Gemm(int64_t m, int64_t n, int64_t k, int64_t padA, int64_t padB, int64_t padC, unsigned seed)
      : M(m), N(n), K(k), lda(k + padA), ldb(n + padB), ldc(n + padC) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    A.resize((size_t)std::max<int64_t>(M * lda, 1));
    B.resize((size_t)std::max<int64_t>(K * ldb, 1));
    C.resize((size_t)std::max<int64_t>(M * ldc, 1));
    for (float &v : A)
      v = dist(rng);
    for (float &v : B)
      v = dist(rng);
    for (float &v : C)
      v = dist(rng);
  }
  /// The triple loop: C[i][j] = sum_k A[i][k] B[k][j] + beta * C[i][j].
  std::vector<float> naive(float beta) const {
    std::vector<float> out = C;
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k)
          acc += (double)A[i * lda + k] * B[k * ldb + j];
        out[i * ldc + j] = (float)acc + (beta == 0.0f ? 0.0f : beta * C[i * ldc + j]);
      }
    return out;
  }
  void run(CallContext &ctx, float beta) {
    loom_rt_sgemm(ctx.c(), M, N, K, A.data(), lda, B.data(), ldb, C.data(), ldc, beta);
  }
};

void expectNear(const std::vector<float> &want, const std::vector<float> &got, int64_t ldc,
                int64_t N) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    if ((int64_t)(i % ldc) >= N) {
      // Padding between rows is not part of C and must be left as it was.
      ASSERT_EQ(std::memcmp(&want[i], &got[i], 4), 0) << "padding at " << i;
      continue;
    }
    ASSERT_FALSE(std::isnan(got[i])) << i;
    ASSERT_NEAR(want[i], got[i], 1e-4f * (1.0f + std::fabs(want[i]))) << i;
  }
}

} // namespace

TEST(RuntimeSgemm, MatchesTheTripleLoopWithPaddedLeadingDimensions) {
  struct Case {
    int64_t M, N, K, padA, padB, padC;
  };
  for (Case c : {Case{7, 13, 5, 3, 2, 5}, Case{1, 1, 1, 0, 0, 0}, Case{64, 65, 66, 1, 7, 3},
                 Case{3, 128, 200, 0, 16, 0}, Case{33, 4, 17, 15, 1, 2}})
    for (float beta : {0.0f, 1.0f, 0.5f}) {
      SCOPED_TRACE(testing::Message() << c.M << "x" << c.N << "x" << c.K << " beta " << beta);
      Gemm g(c.M, c.N, c.K, c.padA, c.padB, c.padC, (unsigned)(c.M * 31 + c.K));
      if (beta == 0.0f) // beta 0 must overwrite C, NaN included, as in BLAS
        for (int64_t i = 0; i < g.M; ++i)
          for (int64_t j = 0; j < g.N; ++j)
            g.C[i * g.ldc + j] = std::numeric_limits<float>::quiet_NaN();
      std::vector<float> want = g.naive(beta);
      CallContext ctx;
      g.run(ctx, beta);
      ASSERT_FALSE(ctx.failed()) << ctx.error();
      expectNear(want, g.C, g.ldc, g.N);
    }
}

TEST(RuntimeSgemm, EmptyProductScalesC) {
  CallContext ctx;
  Gemm g(3, 4, 0, 0, 0, 2, 1);
  for (float &v : g.C)
    v = std::numeric_limits<float>::quiet_NaN();
  g.C[4] = 9.0f; // padding of row 0 (ldc 6): must survive
  g.run(ctx, 0.0f);
  ASSERT_FALSE(ctx.failed()) << ctx.error();
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 4; ++j)
      EXPECT_EQ(g.C[i * 6 + j], 0.0f);
  EXPECT_EQ(g.C[4], 9.0f);

  Gemm h(2, 2, 0, 0, 0, 0, 2);
  std::vector<float> before = h.C;
  h.run(ctx, 1.0f);
  EXPECT_EQ(h.C, before);
  h.run(ctx, 2.0f);
  EXPECT_EQ(h.C[3], 2.0f * before[3]);
}

TEST(RuntimeSgemm, EmptyOutputTouchesNothing) {
  CallContext ctx;
  loom_rt_sgemm(ctx.c(), 0, 5, 3, nullptr, 3, nullptr, 5, nullptr, 5, 0.0f);
  loom_rt_sgemm(ctx.c(), 4, 0, 3, nullptr, 3, nullptr, 0, nullptr, 0, 0.0f);
  EXPECT_FALSE(ctx.failed()) << ctx.error();
}

TEST(RuntimeSgemm, BadArgumentsAreErrorsNotCrashes) {
  CallContext ctx;
  std::vector<float> buf(64);
  loom_rt_sgemm(ctx.c(), 2, 4, 3, buf.data(), 2, buf.data(), 4, buf.data(), 4, 0.0f);
  ASSERT_TRUE(ctx.failed());
  EXPECT_EQ(ctx.error(), "loom_rt_sgemm: leading dimension shorter than a row (M=2 N=4 K=3 "
                         "lda=2 ldb=4 ldc=4)");
  ctx.reset();
  loom_rt_sgemm(ctx.c(), -1, 4, 3, buf.data(), 3, buf.data(), 4, buf.data(), 4, 0.0f);
  EXPECT_EQ(ctx.error(), "loom_rt_sgemm: negative dimension (M=-1 N=4 K=3)");
}

namespace {
struct RangeLog {
  std::vector<int> hits; // how often each index was covered
  std::vector<std::pair<int64_t, int64_t>> ranges;
  std::mutex m;
};
void logRange(void *p, int64_t lo, int64_t hi) {
  auto *log = static_cast<RangeLog *>(p);
  std::lock_guard<std::mutex> g(log->m);
  log->ranges.push_back({lo, hi});
  for (int64_t i = lo; i < hi; ++i)
    ++log->hits[(size_t)i];
}
} // namespace

TEST(RuntimeParallelFor, CoversTheRangeOnceInAlignedPieces) {
  int saved = omp_get_max_threads();
  omp_set_num_threads(2);
  for (int64_t n : {1, 15, 16, 17, 1000, 4099})
    for (int64_t align : {1, 16}) {
      SCOPED_TRACE(testing::Message() << "n " << n << " align " << align);
      RangeLog log;
      log.hits.assign((size_t)n, 0);
      loom_rt_parallel_for(logRange, &log, n, /*costPerItem=*/1 << 20, align);
      for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(log.hits[(size_t)i], 1) << "index " << i;
      for (auto [lo, hi] : log.ranges) {
        EXPECT_LT(lo, hi);
        EXPECT_EQ(lo % align, 0) << "a piece starts mid-line";
      }
      // Enough work and enough aligned pieces: both threads get one.
      EXPECT_EQ(log.ranges.size(), (n + align - 1) / align >= 2 ? 2u : 1u);
    }
  omp_set_num_threads(saved);
}

TEST(RuntimeParallelFor, LittleWorkOneThreadOrNestedRunsInline) {
  int saved = omp_get_max_threads();
  auto inlineOnly = [](int64_t n, int64_t cost) {
    RangeLog log;
    log.hits.assign((size_t)n, 0);
    loom_rt_parallel_for(logRange, &log, n, cost, 1);
    return log.ranges.size() == 1 && log.ranges[0] == std::pair<int64_t, int64_t>(0, n);
  };
  omp_set_num_threads(2);
  EXPECT_TRUE(inlineOnly(100, 1)) << "100 cost units are not worth a second thread";
  EXPECT_FALSE(inlineOnly(100, 1 << 20));
  bool nested = false;
#pragma omp parallel num_threads(2)
  {
#pragma omp master
    nested = inlineOnly(100, 1 << 20);
  }
  EXPECT_TRUE(nested) << "inside a parallel region the caller's thread does the work";
  omp_set_num_threads(1);
  EXPECT_TRUE(inlineOnly(100, 1 << 20));
  EXPECT_EQ(loom_rt_num_threads(), 1);
  RangeLog empty;
  loom_rt_parallel_for(logRange, &empty, 0, 1 << 20, 1);
  EXPECT_TRUE(empty.ranges.empty()) << "an empty range calls nothing";
  omp_set_num_threads(saved);
}

namespace {
// Each thread of a team owns slots [lo, hi) of `cells`: at every step it writes step + 1
// into its slots, meets the others at the barrier, then checks that every slot, the other
// threads' included, holds step + 1, and meets them again before anyone writes the next
// step. Without the barrier a fast thread would see a slow one's old values.
struct TeamLog {
  std::vector<std::atomic<int64_t>> cells;
  std::atomic<int> bad{0}, threads{0};
  int64_t steps;
  explicit TeamLog(int64_t n, int64_t steps) : cells((size_t)n), steps(steps) {}
};
void teamSteps(void *p, int64_t lo, int64_t hi) {
  auto *log = static_cast<TeamLog *>(p);
  log->threads.fetch_add(1);
  for (int64_t step = 0; step < log->steps; ++step) {
    for (int64_t i = lo; i < hi; ++i)
      log->cells[(size_t)i].store(step + 1, std::memory_order_relaxed);
    loom_rt_barrier();
    for (auto &c : log->cells)
      if (c.load(std::memory_order_relaxed) != step + 1)
        log->bad.fetch_add(1);
    loom_rt_barrier();
  }
}
} // namespace

// loom_rt_parallel_team and loom_rt_barrier (runtime/Parallel.cpp): every thread of the team
// sees every write made before a barrier, with as many threads as cores and with more (the
// waiting then yields the core); a team of one, or a team started inside a team, runs on the
// caller's thread and its barriers wait for nobody; a barrier outside a team is a no-op.
TEST(RuntimeTeam, BarrierMakesEveryThreadsWritesVisible) {
  int saved = omp_get_max_threads();
  for (int threads : {2, 4}) {
    SCOPED_TRACE(testing::Message() << threads << " threads");
    omp_set_num_threads(threads);
    TeamLog log(64, threads == 2 ? 2000 : 200);
    loom_rt_parallel_team(teamSteps, &log, 64, 8);
    EXPECT_EQ(log.threads.load(), threads);
    EXPECT_EQ(log.bad.load(), 0);
  }
  omp_set_num_threads(2);
  // Only the first thread starts a team inside the team (its barriers must wait for nobody:
  // were they the outer team's, the other thread would never meet them). Then the outer
  // barrier must still wait: the second thread writes late, the first must see it.
  struct Nested {
    std::atomic<int> bad{0};
    std::atomic<int64_t> late{0};
  } nested;
  loom_rt_parallel_team(
      [](void *p, int64_t lo, int64_t) {
        auto *n = static_cast<Nested *>(p);
        if (lo == 0) {
          TeamLog mine(16, 50);
          loom_rt_parallel_team(teamSteps, &mine, 16, 1);
          if (mine.threads.load() != 1 || mine.bad.load() != 0)
            n->bad.fetch_add(1);
        } else {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          n->late.store(1, std::memory_order_relaxed);
        }
        loom_rt_barrier(); // the outer team's barrier again
        if (n->late.load(std::memory_order_relaxed) != 1)
          n->bad.fetch_add(1);
      },
      &nested, 2, 1);
  EXPECT_EQ(nested.bad.load(), 0);
  omp_set_num_threads(1);
  TeamLog one(8, 10);
  loom_rt_parallel_team(teamSteps, &one, 8, 1);
  EXPECT_EQ(one.threads.load(), 1);
  EXPECT_EQ(one.bad.load(), 0);
  loom_rt_barrier(); // outside a team: returns
  omp_set_num_threads(saved);
}

// The batch-1 product on packed panels (runtime/Prepared.cpp) against the triple loop:
// column counts that are not a multiple of the 32-column panel, odd K, every beta, one and
// two threads. Panels are made only for one row in a loop (`reused`); a panel layout given
// to a product of two rows is ignored: the plain sgemm runs.
TEST(RuntimeSgemm, PackedBatchOneProductMatchesTheTripleLoop) {
  int saved = omp_get_max_threads();
  struct Case {
    int64_t M, N, K, padB;
  };
  for (int threads : {1, 2})
    for (Case c : {Case{1, 1000, 256, 16}, Case{1, 45, 7, 3}, Case{1, 32, 1, 0},
                   Case{1, 300, 129, 0}, Case{2, 64, 33, 1}})
      for (float beta : {0.0f, 1.0f, 0.5f}) {
        SCOPED_TRACE(testing::Message() << c.M << "x" << c.N << "x" << c.K << " beta " << beta
                                        << " threads " << threads);
        omp_set_num_threads(threads);
        Gemm g(c.M, c.N, c.K, 0, c.padB, 0, (unsigned)(c.N * 7 + c.K));
        if (beta == 0.0f)
          for (float &v : g.C)
            v = std::numeric_limits<float>::quiet_NaN();
        std::vector<float> want = g.naive(beta);
        CallContext ctx;
        EXPECT_EQ(loom_rt_prepare_rhs(ctx.c(), 0, 1, c.K, c.N, g.B.data(), g.ldb, 0, 0), nullptr)
            << "not in a loop: packing would cost what it saves";
        const void *packed = loom_rt_prepare_rhs(ctx.c(), 0, 1, c.K, c.N, g.B.data(), g.ldb, 0, 1);
        EXPECT_NE(packed, nullptr) << "this machine has AVX2";
        // Every other product runs the panels backwards (for the cache): the same bits.
        std::vector<float> before = g.C, first;
        for (int call = 0; call < 2; ++call) {
          g.C = before;
          loom_rt_sgemm_prepared(ctx.c(), 0, c.M, c.N, c.K, g.A.data(), g.lda, g.B.data(), g.ldb,
                                 packed, g.C.data(), g.ldc, beta);
          ASSERT_FALSE(ctx.failed()) << ctx.error();
          expectNear(want, g.C, g.ldc, g.N);
          if (call == 0)
            first = g.C;
          else
            EXPECT_EQ(std::memcmp(first.data(), g.C.data(), first.size() * 4), 0)
                << "the second product differs from the first";
        }
      }
  omp_set_num_threads(saved);
}

// The batch-1 product by a transposed weight (training's adjoint loop: dz * U^T) reads the
// panels made of the weight as it is stored, the same layout the forward product uses, so
// the two products share it. Against the triple loop: entry counts not a multiple of the
// 64-row blocks (200 splits at 100 on 2 threads), weights whose rows do not fill the last
// 32-column panel, every beta; the same bits on 1 and 2 threads. A weight with fewer than 32
// columns gets no panels (they would be mostly padding) and goes to sgemm.
TEST(RuntimeSgemm, BatchOneProductByTheTransposedPanelsMatchesTheTripleLoop) {
  int saved = omp_get_max_threads();
  struct Case {
    int64_t N, K, padW;
  };
  for (Case c : {Case{256, 1024, 16}, Case{200, 1024, 0}, Case{45, 7, 3}, Case{1, 32, 0},
                 Case{130, 300, 0}, Case{64, 33, 1}})
    for (float beta : {0.0f, 1.0f, 0.5f}) {
      SCOPED_TRACE(testing::Message() << "1x" << c.N << "x" << c.K << " beta " << beta);
      Gemm g(1, c.N, c.K, 0, 0, 0, (unsigned)(c.N * 5 + c.K));
      if (beta == 0.0f)
        for (float &v : g.C)
          v = std::numeric_limits<float>::quiet_NaN();
      std::vector<float> want = g.naive(beta);
      // The weight as stored: [N, K], W[n][k] = B[k][n].
      const int64_t ldw = c.K + c.padW;
      std::vector<float> W((size_t)(c.N * ldw), -7.0f);
      for (int64_t n = 0; n < c.N; ++n)
        for (int64_t k = 0; k < c.K; ++k)
          W[(size_t)(n * ldw + k)] = g.B[(size_t)(k * g.ldb + n)];
      std::vector<std::vector<float>> got;
      for (int threads : {1, 2}) {
        omp_set_num_threads(threads);
        CallContext ctx;
        const void *packed = loom_rt_prepare_rhs(ctx.c(), 0, 1, c.N, c.K, W.data(), ldw, 1, 1);
        if (c.K < 32) {
          EXPECT_EQ(packed, nullptr) << "fewer than 32 columns: no panels";
        } else {
          ASSERT_NE(packed, nullptr) << "this machine has AVX2";
          EXPECT_EQ(loom_rt_prepare_rhs(ctx.c(), 0, 1, c.N, c.K, W.data(), ldw, 0, 1), packed)
              << "the forward product's panels are the same layout";
        }
        std::vector<float> C = g.C;
        loom_rt_sgemm_prepared(ctx.c(), 1, 1, c.N, c.K, g.A.data(), g.lda, W.data(), ldw, packed,
                               C.data(), g.ldc, beta);
        ASSERT_FALSE(ctx.failed()) << ctx.error();
        expectNear(want, C, g.ldc, g.N);
        got.push_back(std::move(C));
      }
      EXPECT_EQ(std::memcmp(got[0].data(), got[1].data(), got[0].size() * 4), 0)
          << "1 and 2 threads differ";
    }
  omp_set_num_threads(saved);
}

// A few rows by a small weight in a loop get the tiled layout (runtime/Prepared.cpp): panels
// of 24 columns and a 4-row kernel, from the weight or its transpose, against the triple
// loop: row counts that are not a multiple of 4 (one row too), columns not a multiple of 24,
// padded strides, every beta, one and two threads. Each element is summed in one order, so
// the bits are the same on any thread count and when the rows are done in two parts (as a
// loop over ranges of rows does).
TEST(RuntimeSgemm, TiledProductMatchesTheTripleLoop) {
  int saved = omp_get_max_threads();
  struct Case {
    int64_t M, N, K, pad;
    int32_t trans;
  };
  for (Case c : {Case{32, 300, 100, 0, 0}, Case{5, 24, 1, 3, 0}, Case{7, 25, 3, 1, 1},
                 Case{16, 256, 64, 0, 1}, Case{1, 50, 9, 2, 0}, Case{130, 40, 8, 0, 0}})
    for (float beta : {0.0f, 1.0f, 0.5f}) {
      SCOPED_TRACE(testing::Message()
                   << c.M << "x" << c.N << "x" << c.K << " trans " << c.trans << " beta " << beta);
      Gemm g(c.M, c.N, c.K, c.pad, c.pad, c.pad, (unsigned)(c.N * 3 + c.K));
      // The weight as the product stores it: [K, N] or, transposed, [N, K].
      int64_t rows = c.trans ? c.N : c.K, cols = c.trans ? c.K : c.N, ldw = cols + c.pad;
      std::vector<float> W((size_t)(rows * ldw), 7.0f);
      for (int64_t k = 0; k < c.K; ++k)
        for (int64_t j = 0; j < c.N; ++j)
          W[(size_t)(c.trans ? j * ldw + k : k * ldw + j)] = g.B[(size_t)(k * g.ldb + j)];
      std::vector<float> want = g.naive(beta);
      std::vector<std::vector<float>> got;
      for (int threads : {1, 2}) {
        omp_set_num_threads(threads);
        CallContext ctx;
        // Prepared for 4 rows in a loop; the product may then have any number of rows.
        const void *tiles =
            loom_rt_prepare_rhs(ctx.c(), 0, 4, rows, cols, W.data(), ldw, c.trans, 1);
        EXPECT_NE(tiles, nullptr) << "this machine has AVX2";
        std::vector<float> C = g.C;
        loom_rt_sgemm_prepared(ctx.c(), c.trans, c.M, c.N, c.K, g.A.data(), g.lda, W.data(), ldw,
                               tiles, C.data(), g.ldc, beta);
        ASSERT_FALSE(ctx.failed()) << ctx.error();
        expectNear(want, C, g.ldc, g.N);
        got.push_back(C);
        if (threads == 2 && c.M >= 2) {
          // The rows in two parts, as two threads of a loop over ranges of rows would.
          std::vector<float> parts = g.C;
          int64_t m0 = c.M / 2;
          loom_rt_sgemm_prepared(ctx.c(), c.trans, m0, c.N, c.K, g.A.data(), g.lda, W.data(), ldw,
                                 tiles, parts.data(), g.ldc, beta);
          loom_rt_sgemm_prepared(ctx.c(), c.trans, c.M - m0, c.N, c.K, g.A.data() + m0 * g.lda,
                                 g.lda, W.data(), ldw, tiles, parts.data() + m0 * g.ldc, g.ldc,
                                 beta);
          EXPECT_EQ(std::memcmp(parts.data(), C.data(), C.size() * 4), 0) << "rows in parts";
        }
      }
      EXPECT_EQ(std::memcmp(got[0].data(), got[1].data(), got[0].size() * 4), 0)
          << "1 and 2 threads";
    }
  // Not in a loop, or a weight beyond L2 (1.2 MB): no tiles, and no other layout here.
  Gemm big(4, 500, 600, 0, 0, 0, 5);
  CallContext ctx;
  EXPECT_EQ(loom_rt_prepare_rhs(ctx.c(), 0, 4, 100, 300, big.B.data(), 300, 0, 0), nullptr);
  EXPECT_EQ(loom_rt_prepare_rhs(ctx.c(), 0, 4, 600, 500, big.B.data(), 500, 0, 1), nullptr);
  omp_set_num_threads(saved);
}

// A weight whose rows are a multiple of 1 KiB gets a padded copy, plain or transposed in
// the product, whatever the rows of the product.
TEST(RuntimeSgemm, PaddedWeightMatchesTheTripleLoop) {
  for (int32_t trans : {0, 1}) {
    const int64_t M = 5, N = trans ? 40 : 512, K = trans ? 256 : 30;
    const int64_t rows = trans ? N : K, cols = trans ? K : N, ldb = cols + 3;
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    std::vector<float> A((size_t)(M * K)), B((size_t)(rows * ldb)), C((size_t)(M * N), NAN);
    for (float &v : A)
      v = dist(rng);
    for (float &v : B)
      v = dist(rng);
    std::vector<float> want((size_t)(M * N));
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k)
          acc += (double)A[(size_t)(i * K + k)] * B[(size_t)(trans ? j * ldb + k : k * ldb + j)];
        want[(size_t)(i * N + j)] = (float)acc;
      }
    CallContext ctx;
    const void *p = loom_rt_prepare_rhs(ctx.c(), 3, M, rows, cols, B.data(), ldb, trans, 0);
    ASSERT_NE(p, nullptr) << "rows of 1 KiB are padded";
    loom_rt_sgemm_prepared(ctx.c(), trans, M, N, K, A.data(), K, B.data(), ldb, p, C.data(), N,
                           0.0f);
    ASSERT_FALSE(ctx.failed()) << ctx.error();
    expectNear(want, C, N, N);
  }
}

// Prepared layouts are made once: within a call for each weight, and with a
// PreparedWeights once for every call; a PreparedWeights given other weights under the
// same slot (a host bug) still gives their product, from a layout made for the call.
TEST(RuntimeSgemm, PreparedWeightsAreMadeOnceAndKept) {
  Gemm g(1, 300, 64, 0, 0, 0, 11), other(1, 300, 64, 0, 0, 0, 12);
  PreparedWeights kept;
  CallContext ctx;
  auto prepare = [&](const Gemm &w) {
    return loom_rt_prepare_rhs(ctx.c(), 1, 1, w.K, w.N, w.B.data(), w.ldb, 0, 1);
  };
  const void *perCall = prepare(g);
  EXPECT_EQ(prepare(g), perCall) << "the same weight twice in one call";
  EXPECT_EQ(kept.count(), 0);
  ctx.reset();
  int64_t before = ctx.bytesInUse();
  ctx.setPrepared(&kept);
  const void *first = prepare(g);
  EXPECT_EQ(kept.count(), 1);
  EXPECT_GE(kept.bytes(), 64 * 320 * 4);
  EXPECT_EQ(ctx.bytesInUse(), before) << "kept layouts are not in the call's arena";
  ctx.reset();
  ctx.setPrepared(&kept);
  EXPECT_EQ(prepare(g), first) << "a later call finds it";
  const void *mismatch = prepare(other);
  EXPECT_NE(mismatch, first);
  EXPECT_EQ(kept.count(), 1);
  std::vector<float> want = other.naive(0.0f);
  loom_rt_sgemm_prepared(ctx.c(), 0, 1, other.N, other.K, other.A.data(), other.lda, other.B.data(),
                         other.ldb, mismatch, other.C.data(), other.ldc, 0.0f);
  ASSERT_FALSE(ctx.failed()) << ctx.error();
  expectNear(want, other.C, other.ldc, other.N);
}
