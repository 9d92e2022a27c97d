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
/// The host side of loom_rt_ctx: a scratch arena reused across calls and an error slot.
class CallContext {
public:
  CallContext();
  ~CallContext();
  CallContext(const CallContext &) = delete;
  CallContext &operator=(const CallContext &) = delete;

  loom_rt_ctx *c();
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
