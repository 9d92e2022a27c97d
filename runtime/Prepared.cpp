// Weights prepared for the products that read them, once instead of at every product.
// loom_rt_prepare_rhs chooses one of two layouts:
// - panels, for the batch-1 recurrent product c[1, N] = a[1, K] * B[K, N]: dnnl_sgemm sends
//   it to an SSE4.1 GEMV kernel that reads the row-major weight with a 1-4 KiB stride per
//   row; packed into panels of 32 columns ([K][32] contiguous, the last one zero-padded) an
//   AVX2 kernel streams it at close to the L2 bandwidth, and the panels are split over the
//   threads so that each core keeps its share of the weight in its own L2 across time
//   steps (loom_rt_parallel_for gives thread t the same panels at every step);
// - padded, for a weight whose rows are a multiple of 1 KiB: such rows map to the same
//   cache sets, which slows sgemm on them (bench-anchors.md); a copy with 16 more floats
//   per row does not.
// A layout is kept in the host's PreparedWeights (made on the first call, used by every
// later one) or, without one, in the call's arena for that call.
#include "runtime/Context.h"
#include "runtime/Kernels.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>

namespace {
constexpr int64_t kPanel = 32;
constexpr int64_t kPadFloats = 16;

enum Kind : int64_t { kNone = 0, kPanels = 1, kPadded = 2 };

// The header of a prepared layout; the data follows at a 64-byte boundary.
struct Layout {
  int64_t kind;
  int64_t rows, cols; // the weight as stored
  int64_t ld;         // padded: the copy's row stride
  int64_t panels;     // panels: how many
  int64_t pad[3];
};
static_assert(sizeof(Layout) == 64, "the data starts on a cache line");

const float *dataOf(const Layout *l) { return reinterpret_cast<const float *>(l + 1); }
float *dataOf(Layout *l) { return reinterpret_cast<float *>(l + 1); }

bool haveAvx2Fma() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}

Kind chooseKind(int64_t M, int64_t cols, int32_t transB, int32_t reused) {
  // Panels only pay for a product done again and again (a recurrent step): packing costs
  // about what one product saves.
  if (M == 1 && !transB && reused && haveAvx2Fma())
    return kPanels;
  if (cols % 256 == 0)
    return kPadded;
  return kNone;
}

int64_t layoutBytes(Kind kind, int64_t rows, int64_t cols) {
  int64_t floats =
      kind == kPanels ? (cols + kPanel - 1) / kPanel * kPanel * rows : rows * (cols + kPadFloats);
  return (int64_t)sizeof(Layout) + floats * (int64_t)sizeof(float);
}

struct GemvArgs {
  const Layout *p;
  const float *a;
  float *c;
  float beta;
};

__attribute__((target("avx2,fma"))) void gemvPanels(void *argp, int64_t lo, int64_t hi) {
  const GemvArgs &g = *static_cast<const GemvArgs *>(argp);
  const int64_t K = g.p->rows, N = g.p->cols;
  for (int64_t q = lo; q < hi; ++q) {
    const float *p = dataOf(g.p) + q * K * kPanel;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    int64_t k = 0;
    for (; k + 2 <= K; k += 2, p += 2 * kPanel) {
      __m256 x = _mm256_broadcast_ss(g.a + k), y = _mm256_broadcast_ss(g.a + k + 1);
      a0 = _mm256_fmadd_ps(x, _mm256_load_ps(p), a0);
      a1 = _mm256_fmadd_ps(x, _mm256_load_ps(p + 8), a1);
      a2 = _mm256_fmadd_ps(x, _mm256_load_ps(p + 16), a2);
      a3 = _mm256_fmadd_ps(x, _mm256_load_ps(p + 24), a3);
      b0 = _mm256_fmadd_ps(y, _mm256_load_ps(p + 32), b0);
      b1 = _mm256_fmadd_ps(y, _mm256_load_ps(p + 40), b1);
      b2 = _mm256_fmadd_ps(y, _mm256_load_ps(p + 48), b2);
      b3 = _mm256_fmadd_ps(y, _mm256_load_ps(p + 56), b3);
    }
    if (k < K) {
      __m256 x = _mm256_broadcast_ss(g.a + k);
      a0 = _mm256_fmadd_ps(x, _mm256_load_ps(p), a0);
      a1 = _mm256_fmadd_ps(x, _mm256_load_ps(p + 8), a1);
      a2 = _mm256_fmadd_ps(x, _mm256_load_ps(p + 16), a2);
      a3 = _mm256_fmadd_ps(x, _mm256_load_ps(p + 24), a3);
    }
    alignas(32) float out[kPanel];
    _mm256_store_ps(out, _mm256_add_ps(a0, b0));
    _mm256_store_ps(out + 8, _mm256_add_ps(a1, b1));
    _mm256_store_ps(out + 16, _mm256_add_ps(a2, b2));
    _mm256_store_ps(out + 24, _mm256_add_ps(a3, b3));
    int64_t n0 = q * kPanel, n = std::min(kPanel, N - n0);
    float *c = g.c + n0;
    for (int64_t j = 0; j < n; ++j)
      c[j] = g.beta == 0.0f ? out[j] : out[j] + g.beta * c[j];
  }
}
struct FillArgs {
  Layout *l;
  const float *B;
  int64_t ldb;
};

// Panels [lo, hi): panel q holds columns [32q, 32q + 32) of every row.
void packPanels(void *argp, int64_t lo, int64_t hi) {
  const FillArgs &a = *static_cast<const FillArgs *>(argp);
  const int64_t K = a.l->rows, N = a.l->cols;
  for (int64_t q = lo; q < hi; ++q) {
    float *dst = dataOf(a.l) + q * K * kPanel;
    int64_t n0 = q * kPanel, n = std::min(kPanel, N - n0);
    for (int64_t k = 0; k < K; ++k, dst += kPanel) {
      std::memcpy(dst, a.B + k * a.ldb + n0, (size_t)n * sizeof(float));
      std::fill(dst + n, dst + kPanel, 0.0f);
    }
  }
}

// Rows [lo, hi) of the padded copy.
void copyPadded(void *argp, int64_t lo, int64_t hi) {
  const FillArgs &a = *static_cast<const FillArgs *>(argp);
  const int64_t N = a.l->cols, ld = a.l->ld;
  for (int64_t r = lo; r < hi; ++r) {
    float *dst = dataOf(a.l) + r * ld;
    std::memcpy(dst, a.B + r * a.ldb, (size_t)N * sizeof(float));
    std::fill(dst + N, dst + ld, 0.0f);
  }
}

// Writes the layout into `mem` (layoutBytes long). Packed on the threads that will read the
// panels (the products' split), so each share starts out in its core's cache.
Layout *fill(void *mem, Kind kind, int64_t rows, int64_t cols, const float *B, int64_t ldb) {
  auto *l = static_cast<Layout *>(mem);
  *l = Layout{kind, rows, cols, cols + kPadFloats, (cols + kPanel - 1) / kPanel, {}};
  FillArgs args{l, B, ldb};
  if (kind == kPanels)
    loom_rt_parallel_for(packPanels, &args, l->panels, 2 * rows * kPanel, 1);
  else
    loom_rt_parallel_for(copyPadded, &args, rows, 2 * cols, 1);
  return l;
}
} // namespace

struct loom::rt::PreparedWeights::Impl {
  struct Entry {
    const float *src;
    int64_t rows, cols, ldb, bytes;
    Layout *layout;
  };
  mutable std::mutex m;
  std::map<int64_t, Entry> entries; // by slot and kind
};

namespace loom::rt {
PreparedWeights::PreparedWeights() : impl_(new Impl) {}
PreparedWeights::~PreparedWeights() {
  for (auto &kv : impl_->entries)
    std::free(kv.second.layout);
  delete impl_;
}
int64_t PreparedWeights::count() const {
  std::lock_guard<std::mutex> lock(impl_->m);
  return (int64_t)impl_->entries.size();
}
int64_t PreparedWeights::bytes() const {
  std::lock_guard<std::mutex> lock(impl_->m);
  int64_t n = 0;
  for (auto &kv : impl_->entries)
    n += kv.second.bytes;
  return n;
}
} // namespace loom::rt

extern "C" const void *loom_rt_prepare_rhs(loom_rt_ctx *ctx, int64_t slot, int64_t M, int64_t rows,
                                           int64_t cols, const float *B, int64_t ldb,
                                           int32_t transB, int32_t reused) {
  if (!ctx || !B || slot < 0 || rows <= 0 || cols <= 0 || ldb < cols ||
      rows > (int64_t(1) << 40) / cols)
    return nullptr; // nothing to prepare (or nonsense): the product uses B as it is
  Kind kind = chooseKind(M, cols, transB, reused);
  if (kind == kNone)
    return nullptr;
  const int64_t key = slot * 4 + kind, bytes = layoutBytes(kind, rows, cols);
  if (loom::rt::PreparedWeights *pw = ctx->prepared) {
    auto &st = pw->state();
    std::lock_guard<std::mutex> lock(st.m);
    auto it = st.entries.find(key);
    if (it == st.entries.end()) {
      void *mem = std::aligned_alloc(loom::rt::detail::kAlign, (size_t)(bytes + 63) / 64 * 64);
      if (!mem) {
        char msg[128];
        std::snprintf(msg, sizeof msg,
                      "out of memory: cannot allocate %lld bytes for a prepared weight",
                      (long long)bytes);
        ctx->fail(msg);
        return nullptr;
      }
      Layout *l = fill(mem, kind, rows, cols, B, ldb);
      try {
        st.entries.emplace(key,
                           loom::rt::PreparedWeights::Impl::Entry{B, rows, cols, ldb, bytes, l});
      } catch (...) {
        std::free(mem);
        ctx->fail("out of memory: cannot record a prepared weight");
        return nullptr;
      }
      return l;
    }
    const auto &e = it->second;
    if (e.src == B && e.rows == rows && e.cols == cols && e.ldb == ldb)
      return e.layout;
    // Not the weight it was made from (the host gave other weights with this store): made
    // for this call instead, which is right whatever the host did.
  }
  for (const auto &c : ctx->callPrepared)
    if (c.key == key && c.src == B)
      return c.layout;
  void *mem = loom_rt_alloc(ctx, bytes);
  if (!mem)
    return nullptr; // the error is recorded; the caller checks
  Layout *l = fill(mem, kind, rows, cols, B, ldb);
  try {
    ctx->callPrepared.push_back({key, B, l});
  } catch (...) {
    // Only a lookup shortcut: a second product of this weight prepares it again.
  }
  return l;
}

extern "C" void loom_rt_sgemm_prepared(loom_rt_ctx *ctx, int32_t transB, int64_t M, int64_t N,
                                       int64_t K, const float *A, int64_t lda, const float *B,
                                       int64_t ldb, const void *prepared, float *C, int64_t ldc,
                                       float beta) {
  const auto *l = static_cast<const Layout *>(prepared);
  if (l && l->kind == kPanels && !transB && M == 1 && l->rows == K && l->cols == N && ldc >= N) {
    GemvArgs g{l, A, C, beta};
    loom_rt_parallel_for(gemvPanels, &g, l->panels, 2 * K * kPanel, 1);
    return;
  }
  if (l && l->kind == kPadded && l->rows == (transB ? N : K) && l->cols == (transB ? K : N)) {
    loom_rt_sgemm_t(ctx, 0, transB, M, N, K, A, lda, dataOf(l), l->ld, C, ldc, beta);
    return;
  }
  loom_rt_sgemm_t(ctx, 0, transB, M, N, K, A, lda, B, ldb, C, ldc, beta);
}
