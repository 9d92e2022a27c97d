#pragma once
// The C ABI that generated code calls. Everything here is plain C types so that JIT code
// and AOT objects call it the same way.
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct loom_rt_ctx loom_rt_ctx;

/// Scratch memory for one call, 64-byte aligned, valid until the context is reset.
/// Returns null (and records an error in ctx) when out of memory.
void *loom_rt_alloc(loom_rt_ctx *ctx, int64_t bytes);

/// Row-major C[M,N] = A[M,K] * B[K,N] + beta * C, with leading dimensions (in elements).
void loom_rt_sgemm(loom_rt_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                   const float *B, int64_t ldb, float *C, int64_t ldc, float beta);

/// The same with op(A)[M,K], op(B)[K,N]: with transA, A is stored [K,M] (lda >= M); with
/// transB, B is stored [N,K] (ldb >= K). Nonzero flags mean transposed.
void loom_rt_sgemm_t(loom_rt_ctx *ctx, int32_t transA, int32_t transB, int64_t M, int64_t N,
                     int64_t K, const float *A, int64_t lda, const float *B, int64_t ldb, float *C,
                     int64_t ldc, float beta);

/// `batch` products loom_rt_sgemm_t(ctx, transA, transB, M, N, K, A + i * strideA, lda,
/// B + i * strideB, ldb, C + i * strideC, ldc, 0) for i in [0, batch) (batch_matmul),
/// split over the threads by product when there are several.
void loom_rt_sgemm_batch(loom_rt_ctx *ctx, int32_t transA, int32_t transB, int64_t batch, int64_t M,
                         int64_t N, int64_t K, const float *A, int64_t lda, int64_t strideA,
                         const float *B, int64_t ldb, int64_t strideB, float *C, int64_t ldc,
                         int64_t strideC);

/// The `sample` op: out[r] = ir::sampling::drawRow(logits + r * V, V, ...) for each of
/// `rows` rows of dense logits, with the uniform number of (seed, step, stream, r).
void loom_rt_sample(const float *logits, int64_t rows, int64_t V, int32_t *out, int32_t seed,
                    int32_t step, int64_t stream, double temperature, int64_t topK, double topP);

/// A kernel over the index range [lo, hi) of its outermost loop, with its arguments behind
/// `args`. Generated code hands its elementwise kernels to loom_rt_parallel_for.
typedef void (*loom_rt_range_fn)(void *args, int64_t lo, int64_t hi);

/// Runs fn(args, lo, hi) over [0, n) split into contiguous ranges on the OpenMP threads
/// (range starts are multiples of `align`), or as fn(args, 0, n) on the calling thread when
/// n * costPerItem (about one scalar op per unit) is too little work to share, there is one
/// thread, or the caller is already inside a parallel region. The ranges depend only on n
/// and the thread count, and each output element is computed by one thread, so the
/// results are the same for every split.
void loom_rt_parallel_for(loom_rt_range_fn fn, void *args, int64_t n, int64_t costPerItem,
                          int64_t align);

/// How many threads loom_rt_parallel_for may use from here (1 inside a parallel region).
int32_t loom_rt_num_threads(void);

/// Runs fn(args, lo, hi) once on every thread of a team (the OpenMP threads, at most one per
/// `align`-sized chunk of [0, n)), thread t with its contiguous range of [0, n) (starts at
/// multiples of `align`), so that fn can synchronise with loom_rt_barrier: every thread
/// calls fn, whatever its range. With one thread, or inside a parallel region,
/// fn(args, 0, n) on the calling thread. The ranges depend only on n and the thread count.
void loom_rt_parallel_team(loom_rt_range_fn fn, void *args, int64_t n, int64_t align);

/// Waits until every thread of the team running the caller (loom_rt_parallel_team) has
/// reached it; nothing with a team of one.
void loom_rt_barrier(void);

/// A weight B stored [rows, cols] (row stride ldb) that is the right-hand side of products
/// with M rows (op(B) = B, or B transposed when transB), prepared into the layout those
/// products run fastest on: for M == 1 in a loop (`reused`), panels of 32 columns of B as
/// stored for an AVX2 kernel split over the threads by columns (when transposed, with at
/// least 32 columns, the same panels read across, split by rows of B; one layout serves
/// both orientations); for 2 <= M <= 128 in a
/// loop and a weight of at most 512 KiB, plain or transposed, panels of 24 columns for a
/// 4-row AVX2 kernel (each element summed over k in order, whatever the rows it is given);
/// else, when rows are a multiple of 1 KiB (which map to the same cache sets and slow sgemm), a
/// copy with rows padded by 16 floats; else nothing (null: the plain weight is best). The choice
/// depends only on these arguments, so results do not depend on where the layout is kept.
///
/// `slot` names the weight within the compiled function (its parameter index). With a
/// PreparedWeights on the context (CallContext::setPrepared: the host's weights did not
/// change since it was made), the layout is made on the first call that needs it and kept
/// there for every later call; without one it is made in this call's scratch memory, once
/// per call. Null on an error too (recorded in ctx; the caller checks loom_rt_failed).
const void *loom_rt_prepare_rhs(loom_rt_ctx *ctx, int64_t slot, int64_t M, int64_t rows,
                                int64_t cols, const float *B, int64_t ldb, int32_t transB,
                                int32_t reused);

/// loom_rt_sgemm_t(ctx, 0, transB, ...) with B also given as loom_rt_prepare_rhs prepared
/// it (which may be null): the same product on the prepared layout. A layout made for one
/// row, used for more, falls back to the plain B; a tiled layout serves any number of rows.
void loom_rt_sgemm_prepared(loom_rt_ctx *ctx, int32_t transB, int64_t M, int64_t N, int64_t K,
                            const float *A, int64_t lda, const float *B, int64_t ldb,
                            const void *prepared, float *C, int64_t ldc, float beta);

/// Columns of C[M, N] = A[M, K] * B[K, N] on the calling thread (`prepared` is B's layout
/// from loom_rt_prepare_rhs, or null): for each of the `noff` offsets o, columns
/// [o + c0, o + c1) (clipped to [0, N)); the offsets in reverse order and each range's panels
/// last to first when `backwards`. On the batch-1 panels each column is summed over k in the
/// order loom_rt_sgemm_prepared sums it, so the bits are the same; otherwise (no panels) it
/// is sgemm on the columns, whose bits may differ from sgemm on all of them in the last
/// place. What a loop split over its units runs at each step.
void loom_rt_sgemm_cols(loom_rt_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A,
                        int64_t lda, const float *B, int64_t ldb, const void *prepared, float *C,
                        int64_t ldc, const int64_t *offsets, int64_t noff, int64_t c0, int64_t c1,
                        int32_t backwards);

/// Channels-last 1-D convolution by oneDNN: y[B, Tout, F] = x[B, T, C] (*) w[K, C, F], with
/// stride, dilation (1 = none) and zero padding padL / padR; Tout is
/// (T + padL + padR - dilation*(K-1) - 1) / stride + 1. Dense row-major buffers.
void loom_rt_conv1d(loom_rt_ctx *ctx, int64_t B, int64_t T, int64_t C, int64_t F, int64_t K,
                    int64_t stride, int64_t dilation, int64_t padL, int64_t padR, int64_t Tout,
                    const float *x, const float *w, float *y);

/// Channels-last 1-D max pooling by oneDNN: y[B, Tout, C] from x[B, T, C], window `size`,
/// stride, padding padL / padR (padded positions never win); Tout as for conv1d with
/// dilation 1 and K = size.
void loom_rt_max_pool1d(loom_rt_ctx *ctx, int64_t B, int64_t T, int64_t C, int64_t size,
                        int64_t stride, int64_t padL, int64_t padR, int64_t Tout, const float *x,
                        float *y);

/// The gradients of loom_rt_conv1d (oneDNN's backward primitives), for the same sizes:
/// dx[B, T, C] from dy[B, Tout, F] and w[K, C, F]; dw[K, C, F] from x[B, T, C] and dy.
void loom_rt_conv1d_grad_input(loom_rt_ctx *ctx, int64_t B, int64_t T, int64_t C, int64_t F,
                               int64_t K, int64_t stride, int64_t dilation, int64_t padL,
                               int64_t padR, int64_t Tout, const float *dy, const float *w,
                               float *dx);
void loom_rt_conv1d_grad_kernel(loom_rt_ctx *ctx, int64_t B, int64_t T, int64_t C, int64_t F,
                                int64_t K, int64_t stride, int64_t dilation, int64_t padL,
                                int64_t padR, int64_t Tout, const float *x, const float *dy,
                                float *dw);

/// The gradient of loom_rt_max_pool1d: dx[B, T, C] gets each dy[b, t, c] at the first
/// maximum of the window at t (zero elsewhere); same sizes as the forward call.
void loom_rt_max_pool1d_grad(loom_rt_ctx *ctx, int64_t B, int64_t T, int64_t C, int64_t size,
                             int64_t stride, int64_t padL, int64_t padR, int64_t Tout,
                             const float *x, const float *dy, float *dx);

/// Records "<what>: <value> at [i, j, ...] is outside [lo, hi]" (the flat index unflattened
/// with `shape`) as the call's error. For checks of token ids and sequence lengths.
void loom_rt_range_error(loom_rt_ctx *ctx, const char *what, int64_t value, int64_t flatIndex,
                         const int64_t *shape, int64_t rank, int64_t lo, int64_t hi);

/// Records an error (first one wins); generated code returns after calling it.
void loom_rt_fail(loom_rt_ctx *ctx, const char *msg);

/// Nonzero once an error has been recorded, so generated code can stop after a call
/// that may fail (loom_rt_sgemm) without reaching into the context.
int32_t loom_rt_failed(loom_rt_ctx *ctx);

#ifdef __cplusplus
}

#include <string>
#include <vector>

namespace loom::rt {
/// Weights prepared by loom_rt_prepare_rhs (padded, packed) for compiled code, kept across
/// calls. It belongs to one set of weight values: whoever owns the weights (a loaded model,
/// an AOT context) owns one of these next to them and makes a new one whenever the values
/// change. Safe to share between calls running on several threads.
class PreparedWeights {
public:
  PreparedWeights();
  ~PreparedWeights();
  PreparedWeights(const PreparedWeights &) = delete;
  PreparedWeights &operator=(const PreparedWeights &) = delete;

  /// How many layouts it holds, and their bytes.
  int64_t count() const;
  int64_t bytes() const;

  struct Impl; // runtime/Prepared.cpp
  Impl &state() const { return *impl_; }

private:
  Impl *impl_;
};

/// The host side of loom_rt_ctx: a scratch arena reused across calls and an error slot.
class CallContext {
public:
  CallContext();
  ~CallContext();
  CallContext(const CallContext &) = delete;
  CallContext &operator=(const CallContext &) = delete;

  loom_rt_ctx *c();
  /// Prepared weights to use (and fill) in the next call, or null (the default): the
  /// weights it belongs to must be the ones that call is given. reset() clears it.
  void setPrepared(PreparedWeights *prepared);
  /// The most the call's scratch may take, in bytes (0, the default: the process-wide
  /// limit of runtime/Limits.h); a call that needs more fails with a message saying so
  /// instead of asking the system. Kept across reset().
  void setMemoryLimit(int64_t bytes);
  /// Releases this call's scratch memory for reuse (keeps the blocks) and clears the error.
  void reset();
  bool failed() const;
  const std::string &error() const;
  int64_t bytesInUse() const;
  /// Bytes held in the arena's blocks, in use or not; stays flat across calls that
  /// allocate the same sizes.
  int64_t bytesReserved() const;

private:
  struct Impl;
  Impl *impl_;
};
} // namespace loom::rt
#endif
