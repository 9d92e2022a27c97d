// The C entry points generated code calls, and the C++ object that owns their state.
// Nothing here may throw or abort: a failure is recorded in the context and the
// generated code returns, so the host sees an error instead of a dead process.
#include "runtime/Kernels.h"

#include "runtime/Sample.h"

#include "runtime/Context.h"
#include "runtime/Limits.h"

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

using namespace loom::rt::detail;

extern "C" {

void *loom_rt_alloc(loom_rt_ctx *ctx, int64_t bytes) {
  if (!ctx)
    return nullptr;
  if (bytes < 0 || bytes > kMaxRequest) {
    char msg[128];
    std::snprintf(msg, sizeof msg, "loom_rt_alloc: invalid size %lld bytes", (long long)bytes);
    ctx->fail(msg);
    return nullptr;
  }
  // Zero-byte requests still get a distinct, aligned pointer, so generated code never has
  // to treat an empty tensor specially. Rounding every request up to the alignment keeps
  // the next one aligned.
  size_t need = (std::max<size_t>((size_t)bytes, 1) + kAlign - 1) / kAlign * kAlign;
  void *p = nullptr;
  try {
    p = ctx->alloc(need);
  } catch (const std::bad_alloc &) {
  }
  if (!p) {
    char msg[256];
    if (ctx->reserved() + need > (size_t)ctx->effectiveLimit())
      std::snprintf(msg, sizeof msg,
                    "memory limit: the call's scratch needs more than %s, the memory limit "
                    "leaves it %s",
                    loom::rt::bytesStr(ctx->reserved() + need).c_str(),
                    loom::rt::bytesStr((uint64_t)ctx->effectiveLimit()).c_str());
    else
      std::snprintf(msg, sizeof msg, "out of memory: cannot allocate %lld bytes of scratch",
                    (long long)bytes);
    ctx->fail(msg);
  }
  return p;
}

void loom_rt_sgemm(loom_rt_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                   const float *B, int64_t ldb, float *C, int64_t ldc, float beta) {
  loom_rt_sgemm_t(ctx, 0, 0, M, N, K, A, lda, B, ldb, C, ldc, beta);
}

void loom_rt_sgemm_t(loom_rt_ctx *ctx, int32_t transA, int32_t transB, int64_t M, int64_t N,
                     int64_t K, const float *A, int64_t lda, const float *B, int64_t ldb, float *C,
                     int64_t ldc, float beta) {
  char msg[256];
  if (M < 0 || N < 0 || K < 0) {
    std::snprintf(msg, sizeof msg, "loom_rt_sgemm: negative dimension (M=%lld N=%lld K=%lld)",
                  (long long)M, (long long)N, (long long)K);
    loom_rt_fail(ctx, msg);
    return;
  }
  if (M == 0 || N == 0)
    return;
  if (ldc < N || (K > 0 && (lda < (transA ? M : K) || ldb < (transB ? K : N)))) {
    std::snprintf(msg, sizeof msg,
                  "loom_rt_sgemm: leading dimension shorter than a row (M=%lld N=%lld K=%lld "
                  "lda=%lld ldb=%lld ldc=%lld)",
                  (long long)M, (long long)N, (long long)K, (long long)lda, (long long)ldb,
                  (long long)ldc);
    loom_rt_fail(ctx, msg);
    return;
  }
  if (K == 0) {
    // The product is empty, so C = beta * C. oneDNN rejects K == 0, and beta == 0 must
    // give zeros even where C held NaN, as BLAS defines it.
    if (beta == 1.0f)
      return;
    for (int64_t i = 0; i < M; ++i) {
      float *row = C + i * ldc;
      for (int64_t j = 0; j < N; ++j)
        row[j] = beta == 0.0f ? 0.0f : beta * row[j];
    }
    return;
  }
  dnnl_status_t st = dnnl_sgemm(transA ? 'T' : 'N', transB ? 'T' : 'N', M, N, K, 1.0f, A, lda, B,
                                ldb, beta, C, ldc);
  if (st != dnnl_success) {
    std::snprintf(msg, sizeof msg,
                  "loom_rt_sgemm: oneDNN's dnnl_sgemm failed with %s (M=%lld N=%lld K=%lld "
                  "lda=%lld ldb=%lld ldc=%lld)",
                  dnnl_status2str(st), (long long)M, (long long)N, (long long)K, (long long)lda,
                  (long long)ldb, (long long)ldc);
    loom_rt_fail(ctx, msg);
  }
}

namespace {
struct BatchArgs {
  loom_rt_ctx *ctx;
  int32_t transA, transB;
  int64_t M, N, K;
  const float *A;
  int64_t lda, strideA;
  const float *B;
  int64_t ldb, strideB;
  float *C;
  int64_t ldc, strideC;
};

void batchRange(void *p, int64_t lo, int64_t hi) {
  const BatchArgs &a = *static_cast<const BatchArgs *>(p);
  for (int64_t i = lo; i < hi; ++i)
    loom_rt_sgemm_t(a.ctx, a.transA, a.transB, a.M, a.N, a.K, a.A + i * a.strideA, a.lda,
                    a.B + i * a.strideB, a.ldb, a.C + i * a.strideC, a.ldc, 0.0f);
}
} // namespace

void loom_rt_sgemm_batch(loom_rt_ctx *ctx, int32_t transA, int32_t transB, int64_t batch, int64_t M,
                         int64_t N, int64_t K, const float *A, int64_t lda, int64_t strideA,
                         const float *B, int64_t ldb, int64_t strideB, float *C, int64_t ldc,
                         int64_t strideC) {
  if (batch <= 0 || M == 0 || N == 0)
    return;
  BatchArgs args{ctx, transA, transB, M, N, K, A, lda, strideA, B, ldb, strideB, C, ldc, strideC};
  if (batch == 1) {
    batchRange(&args, 0, 1);
    return;
  }
  // Each product runs whole on one thread (oneDNN's sgemm is single-threaded inside a
  // parallel region), so its bits do not depend on the split.
  int64_t cost = M * N * std::max<int64_t>(K, 1);
  loom_rt_parallel_for(batchRange, &args, batch, cost, 1);
}

void loom_rt_sample(const float *logits, int64_t rows, int64_t V, int32_t *out, int32_t seed,
                    int32_t step, int64_t stream, double temperature, int64_t topK, double topP) {
  thread_local std::vector<int32_t> order;
  for (int64_t r = 0; r < rows; ++r)
    out[r] = V == 0 ? 0
                    : loom::rt::sampling::drawRow(
                          logits + r * V, V,
                          loom::rt::sampling::uniform(seed, step, stream, (uint64_t)r), temperature,
                          topK, topP, order);
}

void loom_rt_fail(loom_rt_ctx *ctx, const char *msg) {
  if (ctx)
    ctx->fail(msg);
}

int32_t loom_rt_failed(loom_rt_ctx *ctx) { return ctx && ctx->failed ? 1 : 0; }

} // extern "C"

namespace loom::rt {

struct CallContext::Impl : loom_rt_ctx {};

CallContext::CallContext() : impl_(new Impl) {}

CallContext::~CallContext() {
  for (const Block &b : impl_->blocks)
    std::free(b.base);
  delete impl_;
}

loom_rt_ctx *CallContext::c() { return impl_; }

void CallContext::setPrepared(PreparedWeights *prepared) { impl_->prepared = prepared; }

void CallContext::setMemoryLimit(int64_t bytes) { impl_->limit = bytes > 0 ? bytes : 0; }

void CallContext::reset() {
  for (Block &b : impl_->blocks)
    b.used = 0;
  impl_->prepared = nullptr;
  impl_->callPrepared.clear(); // keeps its capacity: the next call allocates nothing here
  impl_->current = 0;
  impl_->failed = false;
  impl_->error.clear();
}

bool CallContext::failed() const { return impl_->failed; }

const std::string &CallContext::error() const { return impl_->error; }

int64_t CallContext::bytesInUse() const {
  size_t n = 0;
  for (const Block &b : impl_->blocks)
    n += b.used;
  return (int64_t)n;
}

int64_t CallContext::bytesReserved() const { return (int64_t)impl_->reserved(); }

} // namespace loom::rt
