// Batch-1 recurrent products: c[1, N] = a[1, K] * B[K, N] + beta * c. dnnl_sgemm sends them
// to an SSE4.1 GEMV kernel that reads the row-major weight with a 1-4 KiB stride per row;
// here the weight is packed once per call into panels of 32 columns ([K][32] contiguous,
// the last one zero-padded), which an AVX2 kernel streams at close to the L2 bandwidth,
// and the panels are split over the threads so that each core keeps its share of the
// weight in its own L2 across time steps (loom_rt_parallel_for gives thread t the same
// panels at every step).
#include "runtime/Kernels.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

namespace {
constexpr int64_t kPanel = 32;

// The packed layout's header, at the start of the buffer loom_rt_pack_rhs returns; the
// panels follow at a 64-byte boundary.
struct Packed {
  int64_t K, N, panels;
  int64_t pad[5];
};
static_assert(sizeof(Packed) == 64, "panels start on a cache line");

const float *panelsOf(const Packed *p) { return reinterpret_cast<const float *>(p + 1); }

bool haveAvx2Fma() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}

struct GemvArgs {
  const Packed *p;
  const float *a;
  float *c;
  float beta;
};

__attribute__((target("avx2,fma"))) void gemvPanels(void *argp, int64_t lo, int64_t hi) {
  const GemvArgs &g = *static_cast<const GemvArgs *>(argp);
  const int64_t K = g.p->K, N = g.p->N;
  for (int64_t q = lo; q < hi; ++q) {
    const float *p = panelsOf(g.p) + q * K * kPanel;
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
struct PackArgs {
  Packed *p;
  const float *B;
  int64_t ldb;
};

void packPanels(void *argp, int64_t lo, int64_t hi) {
  const PackArgs &a = *static_cast<const PackArgs *>(argp);
  const int64_t K = a.p->K, N = a.p->N;
  for (int64_t q = lo; q < hi; ++q) {
    float *dst = const_cast<float *>(panelsOf(a.p)) + q * K * kPanel;
    int64_t n0 = q * kPanel, n = std::min(kPanel, N - n0);
    for (int64_t k = 0; k < K; ++k, dst += kPanel) {
      std::memcpy(dst, a.B + k * a.ldb + n0, (size_t)n * sizeof(float));
      std::fill(dst + n, dst + kPanel, 0.0f);
    }
  }
}
} // namespace

extern "C" void *loom_rt_pack_rhs(loom_rt_ctx *ctx, int64_t M, int64_t K, int64_t N, const float *B,
                                  int64_t ldb) {
  // Only the batch-1 product gains (dnnl_sgemm's GEMM kernels do well from 2 rows up). It
  // is packed with one thread too (where the weight does not stay in L2 either way and the
  // packing costs about what the kernel saves: S5 LSTM 2.68 ms both ways), so that the
  // numbers do not depend on the thread count.
  if (M != 1 || K <= 0 || N <= 0 || ldb < N || !haveAvx2Fma())
    return nullptr;
  int64_t panels = (N + kPanel - 1) / kPanel;
  auto *p = static_cast<Packed *>(
      loom_rt_alloc(ctx, (int64_t)sizeof(Packed) + panels * K * kPanel * (int64_t)sizeof(float)));
  if (!p)
    return nullptr; // the error is recorded; the caller checks
  *p = Packed{K, N, panels, {}};
  // Packed on the threads that will read the panels (the same split as the products), so
  // each share starts out in its core's cache.
  PackArgs args{p, B, ldb};
  loom_rt_parallel_for(packPanels, &args, panels, 2 * K * kPanel, 1);
  return p;
}

extern "C" void loom_rt_sgemm_packed(loom_rt_ctx *ctx, int64_t M, int64_t N, int64_t K,
                                     const float *A, int64_t lda, const float *B, int64_t ldb,
                                     const void *packed, float *C, int64_t ldc, float beta) {
  const auto *p = static_cast<const Packed *>(packed);
  if (!p || p->K != K || p->N != N || M != 1) {
    loom_rt_sgemm_t(ctx, 0, 0, M, N, K, A, lda, B, ldb, C, ldc, beta);
    return;
  }
  GemvArgs g{p, A, C, beta};
  loom_rt_parallel_for(gemvPanels, &g, p->panels, 2 * K * kPanel, 1);
}
