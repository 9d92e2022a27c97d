// loom_rt_parallel_for: generated kernels split over the threads of the OpenMP pool that
// oneDNN uses too (one pool, so loom's kernels and oneDNN's GEMMs never oversubscribe the
// cores). The thread count is the caller's omp_get_max_threads(): OMP_NUM_THREADS, or what
// the host set with omp_set_num_threads (`loom bench --threads N`).
#include "runtime/Kernels.h"

#include <immintrin.h>
#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <utility>

namespace {
// Work below this many cost units (about one scalar arithmetic op each; the caller counts
// them) runs on the calling thread: starting a parallel region costs about 0.6 us on this
// kind of machine with the pool's threads still spinning, while 64K units of vectorised
// elementwise work take about 2 us.
constexpr int64_t kMinParallelCost = int64_t(1) << 16;
// Each thread gets at least half of that, or the region costs more than it saves.
constexpr int64_t kMinCostPerThread = kMinParallelCost / 2;

// This thread's range of [0, n) in a parallel region: whole chunks of `align`, the same
// range for the same n and thread count.
std::pair<int64_t, int64_t> rangeOfThisThread(int64_t n, int64_t chunks, int64_t align) {
  int64_t t = omp_get_thread_num(), got = omp_get_num_threads();
  return {std::min(n, chunks * t / got * align), std::min(n, chunks * (t + 1) / got * align)};
}
} // namespace

extern "C" int32_t loom_rt_num_threads(void) {
  return omp_in_parallel() ? 1 : std::max(1, omp_get_max_threads());
}

extern "C" void loom_rt_parallel_for(loom_rt_range_fn fn, void *args, int64_t n,
                                     int64_t costPerItem, int64_t align) {
  if (n <= 0)
    return;
  int64_t cost = costPerItem > 0 ? costPerItem : 1;
  int64_t threads = loom_rt_num_threads();
  align = std::max<int64_t>(align, 1);
  int64_t chunks = (n + align - 1) / align;
  // Overflow-safe: n * cost only matters up to kMinParallelCost * threads.
  int64_t total = cost > INT64_MAX / n ? INT64_MAX : n * cost;
  int64_t nt = std::min({threads, chunks, std::max<int64_t>(total / kMinCostPerThread, 1)});
  if (nt < 2 || total < kMinParallelCost) {
    fn(args, 0, n);
    return;
  }
  // Thread t always gets the same range for the same n, so data a kernel reads every time
  // step (a carry, a slice of the weights) stays in that core's cache.
#pragma omp parallel num_threads((int)nt)
  {
    auto [lo, hi] = rangeOfThisThread(n, chunks, align);
    if (lo < hi)
      fn(args, lo, hi);
  }
}

namespace {
// A team's barrier: a count of arrivals and a sense that the last one flips, each on its own
// cache line. A loop over units meets it after every step, about 10 us apart: OpenMP's own
// barrier takes about 350 ns there, this one about 100 ns (the two cache lines going from
// core to core). Waiting spins for at most kSpinNs (a step's imbalance is a few us), then
// yields the core; with more threads than cores it yields at once, so that the thread it
// waits for can run.
struct TeamBarrier {
  alignas(64) std::atomic<int> arrived{0};
  alignas(64) std::atomic<int> sense{0};
};
// The team the calling thread belongs to (null outside one), its size and its sense.
thread_local TeamBarrier *tlsTeam = nullptr;
thread_local int tlsTeamSize = 1;
thread_local int tlsSense = 0;
constexpr int64_t kSpinNs = 50000;
} // namespace

extern "C" void loom_rt_parallel_team(loom_rt_range_fn fn, void *args, int64_t n, int64_t align) {
  if (n <= 0)
    return;
  align = std::max<int64_t>(align, 1);
  int64_t chunks = (n + align - 1) / align;
  int64_t nt = std::min<int64_t>(loom_rt_num_threads(), chunks);
  if (nt < 2) {
    // A team of one: its barriers are no barriers (not those of a team it may be in).
    TeamBarrier *outer = tlsTeam;
    tlsTeam = nullptr;
    fn(args, 0, n);
    tlsTeam = outer;
    return;
  }
  // Every thread of the team calls fn: fn meets the others at its barriers.
  TeamBarrier team;
#pragma omp parallel num_threads((int)nt)
  {
    TeamBarrier *outer = tlsTeam;
    tlsTeam = &team;
    tlsTeamSize = omp_get_num_threads(); // the team OpenMP gave, which may be smaller
    tlsSense = 0;
    auto [lo, hi] = rangeOfThisThread(n, chunks, align);
    fn(args, lo, hi);
    tlsTeam = outer;
  }
}

extern "C" void loom_rt_barrier(void) {
  TeamBarrier *t = tlsTeam;
  if (!t || tlsTeamSize < 2)
    return;
  int sense = tlsSense ^= 1;
  // The last to arrive resets the count and releases the others; the acquire and release
  // orderings make every write before the barrier visible to every thread after it.
  if (t->arrived.fetch_add(1, std::memory_order_acq_rel) == tlsTeamSize - 1) {
    t->arrived.store(0, std::memory_order_relaxed);
    t->sense.store(sense, std::memory_order_release);
    return;
  }
  static const int procs = omp_get_num_procs();
  bool spin = tlsTeamSize <= procs;
  auto start = std::chrono::steady_clock::now();
  for (int spins = 1; t->sense.load(std::memory_order_acquire) != sense; ++spins) {
    if (!spin) {
      sched_yield();
      continue;
    }
    _mm_pause();
    if (spins % 64 == 0 &&
        std::chrono::steady_clock::now() - start > std::chrono::nanoseconds(kSpinNs))
      spin = false;
  }
}
