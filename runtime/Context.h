#pragma once
// The state behind loom_rt_ctx, shared by the runtime's own files (not installed: generated
// code and hosts see only the opaque C type and rt::CallContext).
#include "runtime/Kernels.h"
#include "runtime/Limits.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

namespace loom::rt::detail {
constexpr size_t kAlign = 64; // a cache line; what loom_rt_alloc promises
// Small enough not to matter for a tiny model, big enough that a typical call's scratch
// fits in one or two blocks.
constexpr size_t kMinBlock = size_t(1) << 20;
// Far beyond any real request; keeps the size arithmetic below from overflowing.
constexpr int64_t kMaxRequest = int64_t(1) << 48;

struct Block {
  uint8_t *base;
  size_t size;
  size_t used;
};

/// A weight prepared for this call only (no PreparedWeights was given): its key, the
/// weight it was made from and the layout, in the call's arena.
struct CallPrepared {
  int64_t key;
  const float *src;
  const void *layout;
};
} // namespace loom::rt::detail

// A bump arena over a list of blocks. reset() rewinds every block; a call that makes the
// same requests as the previous one walks the same blocks in the same order and so
// allocates nothing new. One context serves one call at a time; within the call, only
// fail() and `failed` may be used from several threads at once (a loop over ranges of rows
// runs on several, codegen/Loops.cpp).
struct loom_rt_ctx {
  std::vector<loom::rt::detail::Block> blocks;
  size_t current = 0; // blocks before this one are full for this call
  std::atomic<bool> failed{false};
  std::mutex failing; // held while the first error is recorded
  std::string error;
  /// Where prepared weights are kept across calls (set by the host for one call), or null:
  /// then they are prepared in the arena for this call only (callPrepared).
  loom::rt::PreparedWeights *prepared = nullptr;
  std::vector<loom::rt::detail::CallPrepared> callPrepared;
  /// The most the arena may hold, in bytes; 0: the process-wide limit (runtime/Limits.h).
  int64_t limit = 0;

  void *alloc(size_t need) {
    using namespace loom::rt::detail;
    for (; current < blocks.size(); ++current) {
      Block &b = blocks[current];
      if (b.size - b.used >= need) {
        void *p = b.base + b.used;
        b.used += need;
        return p;
      }
    }
    // Grow geometrically (each new block at least as big as all before it) so a large
    // workload settles on a few blocks rather than many 1 MiB ones.
    size_t size = std::max({need, kMinBlock, reserved()});
    {
      size_t cap = (size_t)effectiveLimit();
      size_t room = cap > reserved() ? cap - reserved() : 0;
      if (need > room)
        return nullptr; // loom_rt_alloc reports the limit
      size = std::min(size, room);
    }
    void *p = std::aligned_alloc(kAlign, size);
    if (!p)
      return nullptr;
    blocks.push_back({static_cast<uint8_t *>(p), size, need});
    current = blocks.size() - 1;
    return p;
  }
  int64_t effectiveLimit() const { return limit > 0 ? limit : loom::rt::memoryLimit(); }
  size_t reserved() const {
    size_t n = 0;
    for (const auto &b : blocks)
      n += b.size;
    return n;
  }
  void fail(const char *msg) noexcept {
    std::lock_guard<std::mutex> lock(failing);
    if (failed)
      return; // the first error is the cause; later ones are usually its consequences
    try {
      error = msg ? msg : "unknown error";
    } catch (...) {
      // Out of memory while recording: `failed` alone still stops the call.
    }
    failed = true;
  }
};
