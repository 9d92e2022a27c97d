// Weights prepared for the products that read them, once instead of at every product.
// loom_rt_prepare_rhs chooses one of three layouts (or none):
// - panels, for the batch-1 recurrent product c[1, N] = a[1, K] * B[K, N]: dnnl_sgemm sends
//   it to an SSE4.1 GEMV kernel that reads the row-major weight with a 1-4 KiB stride per
//   row; packed into panels of 32 columns ([K][32] contiguous, the last one zero-padded) an
//   AVX2 kernel streams it at close to the L2 bandwidth, and the panels are split over the
//   threads so that each core keeps its share of the weight in its own L2 across time
//   steps (loom_rt_parallel_for gives thread t the same panels at every step); every other
//   product runs its panels backwards, so that a share larger than the L2 still finds
//   the panels it read last in the cache. The same panels serve the adjoint's product by
//   the transposed weight, c[1, K] = a[1, N] * B^T (training's adjoint loop): row k of a
//   panel is 32 consecutive entries of row k of B, so c[k] sums a's 32-float pieces
//   against row k of each panel, the panels read in order (dnnl_sgemm's GEMV for it is
//   slower, and a layout of its own would be packed again at every training step);
// - tiles, for a product of a few rows by a small weight in a loop (the recurrent step of
//   S1-S3: [32, 100] x [100, 300]): dnnl_sgemm packs the weight again at every call, which
//   at these sizes is a good part of the call; packed once into panels of 24 columns
//   ([K][24], plain or from a transposed weight) an AVX2 kernel of 4 rows x 24 columns
//   (12 accumulators) runs over them, the panels split over the threads. Each element is
//   summed over k in order whatever the rows and the split, so the bits do not depend on
//   how rows are split over threads;
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
constexpr int64_t kTile = 24; // columns per panel of the tiled layout
constexpr int64_t kTileRows = 4;
// Tiles only for weights that stay in a core's L2 across steps, and products of at most
// this many rows (beyond, sgemm's own blocking is as good).
constexpr int64_t kTileMaxBytes = int64_t(512) << 10;
constexpr int64_t kTileMaxRows = 128;

enum Kind : int64_t { kNone = 0, kPanels = 1, kPadded = 2, kTiles = 3 };

// The header of a prepared layout; the data follows at a 64-byte boundary.
struct Layout {
  int64_t kind;
  int64_t rows, cols; // the weight as stored
  int64_t ld;         // padded: the copy's row stride
  int64_t panels;     // panels, tiles: how many
  int64_t trans;      // tiles: made from the transposed weight (K = cols, N = rows)
  int64_t pad[2];     // panels: pad[0] counts the products by B (not B^T), atomically, for
                      // their direction (see loom_rt_sgemm_prepared)
};
static_assert(sizeof(Layout) == 64, "the data starts on a cache line");

const float *dataOf(const Layout *l) { return reinterpret_cast<const float *>(l + 1); }
float *dataOf(Layout *l) { return reinterpret_cast<float *>(l + 1); }

bool haveAvx2Fma() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}

Kind chooseKind(int64_t M, int64_t rows, int64_t cols, int32_t transB, int32_t reused) {
  // Panels only pay for a product done again and again (a recurrent step): packing costs
  // about what one product saves.
  // For B^T too: the same panels, read across (gemvPanelsTransposed), when a row of B fills
  // at least one panel (fewer columns would be mostly padding).
  if (M == 1 && reused && haveAvx2Fma() && (!transB || cols >= kPanel))
    return kPanels;
  if (M >= 2 && M <= kTileMaxRows && reused && rows * cols * 4 <= kTileMaxBytes && haveAvx2Fma())
    return kTiles;
  if (cols % 256 == 0)
    return kPadded;
  return kNone;
}

/// The product's K and N for a weight stored as [rows, cols].
int64_t tileK(const Layout *l) { return l->trans ? l->cols : l->rows; }
int64_t tileN(const Layout *l) { return l->trans ? l->rows : l->cols; }

int64_t layoutBytes(Kind kind, int64_t rows, int64_t cols, int32_t transB) {
  int64_t floats;
  if (kind == kPanels)
    floats = (cols + kPanel - 1) / kPanel * kPanel * rows;
  else if (kind == kTiles) {
    int64_t K = transB ? cols : rows, N = transB ? rows : cols;
    floats = (N + kTile - 1) / kTile * kTile * K;
  } else
    floats = rows * (cols + kPadFloats);
  return (int64_t)sizeof(Layout) + floats * (int64_t)sizeof(float);
}

/// Whether `l` is the batch-1 panels of the weight of a product of M rows by B [K, N] (or by
/// B^T when transB, B stored [N, K]).
bool panelsFor(const Layout *l, int32_t transB, int64_t M, int64_t K, int64_t N) {
  return l && l->kind == kPanels && M == 1 && l->rows == (transB ? N : K) &&
         l->cols == (transB ? K : N);
}

struct GemvArgs {
  const Layout *p;
  const float *a;
  float *c;
  float beta;
  bool backwards; // this call runs its panels last to first
};

// Panel q of the product: out[0..32) = sum over k of a[k] * panel[k][0..32), in order.
__attribute__((target("avx2,fma"))) inline void panelDot(const Layout *l, const float *a, int64_t q,
                                                         float *out) {
  const int64_t K = l->rows;
  const float *p = dataOf(l) + q * K * kPanel;
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  int64_t k = 0;
  for (; k + 2 <= K; k += 2, p += 2 * kPanel) {
    __m256 x = _mm256_broadcast_ss(a + k), y = _mm256_broadcast_ss(a + k + 1);
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
    __m256 x = _mm256_broadcast_ss(a + k);
    a0 = _mm256_fmadd_ps(x, _mm256_load_ps(p), a0);
    a1 = _mm256_fmadd_ps(x, _mm256_load_ps(p + 8), a1);
    a2 = _mm256_fmadd_ps(x, _mm256_load_ps(p + 16), a2);
    a3 = _mm256_fmadd_ps(x, _mm256_load_ps(p + 24), a3);
  }
  _mm256_store_ps(out, _mm256_add_ps(a0, b0));
  _mm256_store_ps(out + 8, _mm256_add_ps(a1, b1));
  _mm256_store_ps(out + 16, _mm256_add_ps(a2, b2));
  _mm256_store_ps(out + 24, _mm256_add_ps(a3, b3));
}

// Columns [lo, hi) of c[1, N] = a * B (+ beta c) from the panels that hold them (a panel the
// range only partly covers is computed whole and stored in part), last to first when
// backwards.
__attribute__((target("avx2,fma"))) void gemvPanelColumns(const Layout *l, const float *a, float *c,
                                                          int64_t lo, int64_t hi, bool backwards,
                                                          float beta) {
  int64_t q0 = lo / kPanel, q1 = (hi + kPanel - 1) / kPanel;
  for (int64_t j = 0; j < q1 - q0; ++j) {
    int64_t q = backwards ? q1 - 1 - j : q0 + j;
    alignas(32) float out[kPanel];
    panelDot(l, a, q, out);
    for (int64_t n = std::max(lo, q * kPanel), e = std::min(hi, (q + 1) * kPanel); n < e; ++n)
      c[n] = beta == 0.0f ? out[n - q * kPanel] : out[n - q * kPanel] + beta * c[n];
  }
}

struct GemvTArgs {
  const Layout *p;
  const float *a; // [cols of the weight]
  float *c;       // [rows of the weight]
  float beta;
};

// Entries [lo, hi) of c[1, K] = a[1, N] * B^T (+ beta c) for B [K, N] in panels: c[k] is
// the sum over panels q of a[32q, 32q + 32) . row k of panel q, in eight lanes, panel after
// panel, then the lanes in a fixed order. The panels are read in order, each thread its
// rows of each; the bits of c[k] do not depend on the range.
__attribute__((target("avx2,fma"))) void gemvPanelsTransposed(void *argp, int64_t lo, int64_t hi) {
  const GemvTArgs &g = *static_cast<const GemvTArgs *>(argp);
  const Layout *l = g.p;
  const int64_t K = l->rows, N = l->cols;
  constexpr int64_t kBlock = 64; // entries of c accumulated at once (2 KiB of lanes)
  alignas(32) float acc[kBlock * 8];
  alignas(32) float tail[kPanel];
  for (int64_t k0 = lo; k0 < hi; k0 += kBlock) {
    const int64_t nk = std::min(kBlock, hi - k0);
    std::fill(acc, acc + nk * 8, 0.0f);
    for (int64_t q = 0; q < l->panels; ++q) {
      const float *x = g.a + q * kPanel;
      if ((q + 1) * kPanel > N) { // the last panel: a's entries beyond N count as zeros
        std::fill(tail, tail + kPanel, 0.0f);
        std::copy(x, g.a + N, tail);
        x = tail;
      }
      __m256 x0 = _mm256_loadu_ps(x), x1 = _mm256_loadu_ps(x + 8), x2 = _mm256_loadu_ps(x + 16),
             x3 = _mm256_loadu_ps(x + 24);
      const float *p = dataOf(l) + (q * K + k0) * kPanel;
      for (int64_t r = 0; r < nk; ++r, p += kPanel) {
        __m256 s = _mm256_load_ps(acc + r * 8);
        s = _mm256_fmadd_ps(x0, _mm256_load_ps(p), s);
        s = _mm256_fmadd_ps(x1, _mm256_load_ps(p + 8), s);
        s = _mm256_fmadd_ps(x2, _mm256_load_ps(p + 16), s);
        s = _mm256_fmadd_ps(x3, _mm256_load_ps(p + 24), s);
        _mm256_store_ps(acc + r * 8, s);
      }
    }
    for (int64_t r = 0; r < nk; ++r) {
      const float *v = acc + r * 8;
      float sum = ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
      float &out = g.c[k0 + r];
      out = g.beta == 0.0f ? sum : sum + g.beta * out;
    }
  }
}

// Panels [lo, hi) of the product, for loom_rt_parallel_for.
void gemvPanels(void *argp, int64_t lo, int64_t hi) {
  const GemvArgs &g = *static_cast<const GemvArgs *>(argp);
  gemvPanelColumns(g.p, g.a, g.c, lo * kPanel, std::min(hi * kPanel, g.p->cols), g.backwards,
                   g.beta);
}
// Four rows of A (a0..a3; a tail repeats a row and drops its result) times one panel:
// out[r][0..24) = sum over k, in order. Twelve accumulators in registers.
__attribute__((target("avx2,fma"))) inline void tileRows(int64_t K, const float *a0,
                                                         const float *a1, const float *a2,
                                                         const float *a3, const float *p,
                                                         float *out, int64_t ldo) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
  __m256 c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
  for (int64_t k = 0; k < K; ++k, p += kTile) {
    __m256 b0 = _mm256_load_ps(p), b1 = _mm256_load_ps(p + 8), b2 = _mm256_load_ps(p + 16);
    __m256 x = _mm256_broadcast_ss(a0 + k);
    c00 = _mm256_fmadd_ps(x, b0, c00);
    c01 = _mm256_fmadd_ps(x, b1, c01);
    c02 = _mm256_fmadd_ps(x, b2, c02);
    x = _mm256_broadcast_ss(a1 + k);
    c10 = _mm256_fmadd_ps(x, b0, c10);
    c11 = _mm256_fmadd_ps(x, b1, c11);
    c12 = _mm256_fmadd_ps(x, b2, c12);
    x = _mm256_broadcast_ss(a2 + k);
    c20 = _mm256_fmadd_ps(x, b0, c20);
    c21 = _mm256_fmadd_ps(x, b1, c21);
    c22 = _mm256_fmadd_ps(x, b2, c22);
    x = _mm256_broadcast_ss(a3 + k);
    c30 = _mm256_fmadd_ps(x, b0, c30);
    c31 = _mm256_fmadd_ps(x, b1, c31);
    c32 = _mm256_fmadd_ps(x, b2, c32);
  }
  _mm256_storeu_ps(out, c00);
  _mm256_storeu_ps(out + 8, c01);
  _mm256_storeu_ps(out + 16, c02);
  _mm256_storeu_ps(out + ldo, c10);
  _mm256_storeu_ps(out + ldo + 8, c11);
  _mm256_storeu_ps(out + ldo + 16, c12);
  _mm256_storeu_ps(out + 2 * ldo, c20);
  _mm256_storeu_ps(out + 2 * ldo + 8, c21);
  _mm256_storeu_ps(out + 2 * ldo + 16, c22);
  _mm256_storeu_ps(out + 3 * ldo, c30);
  _mm256_storeu_ps(out + 3 * ldo + 8, c31);
  _mm256_storeu_ps(out + 3 * ldo + 16, c32);
}

struct TileArgs {
  const Layout *l;
  const float *a;
  int64_t lda;
  float *c;
  int64_t ldc;
  int64_t M;
  float beta;
};

// Panels [lo, hi) of C = A * B (+ beta C): every row block of A against each panel, which
// stays in L1 meanwhile.
__attribute__((target("avx2,fma"))) void gemmTiles(void *argp, int64_t lo, int64_t hi) {
  const TileArgs &g = *static_cast<const TileArgs *>(argp);
  const int64_t K = tileK(g.l), N = tileN(g.l);
  alignas(32) float out[kTileRows * kTile];
  for (int64_t q = lo; q < hi; ++q) {
    const float *p = dataOf(g.l) + q * K * kTile;
    int64_t n0 = q * kTile, n = std::min(kTile, N - n0);
    for (int64_t i = 0; i < g.M; i += kTileRows) {
      int64_t rows = std::min(kTileRows, g.M - i);
      const float *a = g.a + i * g.lda;
      auto row = [&](int64_t r) { return a + std::min(r, rows - 1) * g.lda; };
      float *c = g.c + i * g.ldc + n0;
      if (rows == kTileRows && n == kTile && g.beta == 0.0f) {
        tileRows(K, row(0), row(1), row(2), row(3), p, c, g.ldc); // straight into C
        continue;
      }
      tileRows(K, row(0), row(1), row(2), row(3), p, out, kTile);
      for (int64_t r = 0; r < rows; ++r, c += g.ldc) {
        const float *o = out + r * kTile;
        if (g.beta == 0.0f)
          std::memcpy(c, o, (size_t)n * sizeof(float));
        else
          for (int64_t j = 0; j < n; ++j)
            c[j] = o[j] + g.beta * c[j];
      }
    }
  }
}

struct FillArgs {
  Layout *l;
  const float *B;
  int64_t ldb;
};

// Tile panels [lo, hi): panel q holds columns [24q, 24q + 24) of the product's B for every
// k, read from the weight or from its transpose.
void packTiles(void *argp, int64_t lo, int64_t hi) {
  const FillArgs &a = *static_cast<const FillArgs *>(argp);
  const int64_t K = tileK(a.l), N = tileN(a.l);
  for (int64_t q = lo; q < hi; ++q) {
    float *dst = dataOf(a.l) + q * K * kTile;
    int64_t n0 = q * kTile, n = std::min(kTile, N - n0);
    if (!a.l->trans) {
      for (int64_t k = 0; k < K; ++k, dst += kTile) {
        std::memcpy(dst, a.B + k * a.ldb + n0, (size_t)n * sizeof(float));
        std::fill(dst + n, dst + kTile, 0.0f);
      }
      continue;
    }
    // From the transpose: column j of the panel is row n0 + j of the weight, read once.
    std::fill(dst, dst + K * kTile, 0.0f);
    for (int64_t j = 0; j < n; ++j) {
      const float *src = a.B + (n0 + j) * a.ldb;
      for (int64_t k = 0; k < K; ++k)
        dst[k * kTile + j] = src[k];
    }
  }
}

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
Layout *fill(void *mem, Kind kind, int64_t rows, int64_t cols, const float *B, int64_t ldb,
             int32_t transB) {
  auto *l = static_cast<Layout *>(mem);
  *l = Layout{kind, rows, cols, cols + kPadFloats, (cols + kPanel - 1) / kPanel, 0, {}};
  FillArgs args{l, B, ldb};
  if (kind == kTiles) {
    l->trans = transB ? 1 : 0;
    l->panels = (tileN(l) + kTile - 1) / kTile;
    loom_rt_parallel_for(packTiles, &args, l->panels, 2 * tileK(l) * kTile, 1);
  } else if (kind == kPanels)
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
  Kind kind = chooseKind(M, rows, cols, transB, reused);
  if (kind == kNone)
    return nullptr;
  // A tiled layout is made for one orientation; the other gets another key. Panels are
  // made of the weight as stored and serve both.
  const int64_t key = slot * 8 + kind + (kind == kTiles && transB ? 4 : 0),
                bytes = layoutBytes(kind, rows, cols, transB);
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
      Layout *l = fill(mem, kind, rows, cols, B, ldb, transB);
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
  Layout *l = fill(mem, kind, rows, cols, B, ldb, transB);
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
  if (!transB && panelsFor(l, transB, M, K, N) && ldc >= N) {
    // A core's share of a large weight fills its L2 or more: read in the same order every
    // step, each panel has been evicted by the time it comes round again. Every other call
    // runs the panels backwards, so the panels read last, still in the cache, are the first
    // read next. The order of the panels changes nothing in the sums.
    int64_t calls = __atomic_fetch_add(&const_cast<Layout *>(l)->pad[0], 1, __ATOMIC_RELAXED);
    GemvArgs g{l, A, C, beta, (calls & 1) != 0};
    loom_rt_parallel_for(gemvPanels, &g, l->panels, 2 * K * kPanel, 1);
    return;
  }
  if (transB && panelsFor(l, transB, M, K, N) && ldc >= N) {
    GemvTArgs g{l, A, C, beta};
    loom_rt_parallel_for(gemvPanelsTransposed, &g, N, 2 * K, 8);
    return;
  }
  if (l && l->kind == kTiles && (l->trans != 0) == (transB != 0) && tileK(l) == K &&
      tileN(l) == N && M >= 1 && ldc >= N && lda >= K) {
    TileArgs g{l, A, lda, C, ldc, M, beta};
    loom_rt_parallel_for(gemmTiles, &g, l->panels, 2 * M * K * kTile, 1);
    return;
  }
  if (l && l->kind == kPadded && l->rows == (transB ? N : K) && l->cols == (transB ? K : N)) {
    loom_rt_sgemm_t(ctx, 0, transB, M, N, K, A, lda, dataOf(l), l->ld, C, ldc, beta);
    return;
  }
  loom_rt_sgemm_t(ctx, 0, transB, M, N, K, A, lda, B, ldb, C, ldc, beta);
}

extern "C" void loom_rt_sgemm_cols(loom_rt_ctx *ctx, int64_t M, int64_t N, int64_t K,
                                   const float *A, int64_t lda, const float *B, int64_t ldb,
                                   const void *prepared, float *C, int64_t ldc,
                                   const int64_t *offsets, int64_t noff, int64_t c0, int64_t c1,
                                   int32_t backwards) {
  const auto *l = static_cast<const Layout *>(prepared);
  bool panels = panelsFor(l, 0, M, K, N);
  for (int64_t i = 0; i < noff; ++i) {
    int64_t o = offsets[backwards ? noff - 1 - i : i];
    int64_t lo = std::clamp<int64_t>(o + c0, 0, N), hi = std::clamp<int64_t>(o + c1, lo, N);
    if (lo == hi)
      continue;
    if (!panels) {
      loom_rt_sgemm_t(ctx, 0, 0, M, hi - lo, K, A, lda, B + lo, ldb, C + lo, ldc, 0.0f);
      continue;
    }
    gemvPanelColumns(l, A, C, lo, hi, backwards != 0, 0.0f);
  }
}
