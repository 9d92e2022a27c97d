// oneDNN shims for Conv1D and MaxPooling1D and their gradients, and the range-check error
// reporter.
// Like the rest of the runtime C ABI, nothing here throws or aborts: oneDNN's C++ API
// throws dnnl::error, which is caught here and recorded with loom_rt_fail.
//
// Primitives are expensive to create (tens to hundreds of microseconds, far more than a
// small convolution), so each distinct shape is created once and kept in a process-wide
// cache. A cached primitive is executed from whichever thread calls, possibly from
// several threads at once, so every primitive uses scratchpad_mode::user with the
// scratchpad taken from the call's arena: oneDNN's library-managed scratchpad (the
// default) forbids running a primitive on a thread other than the one that created it.
#include "runtime/Kernels.h"

#include <oneapi/dnnl/dnnl.hpp>
#include <oneapi/dnnl/dnnl_debug.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace {

// Far beyond any real tensor; keeps the element-count arithmetic below from overflowing.
constexpr int64_t kMaxDim = int64_t(1) << 40;
constexpr int64_t kMaxElements = int64_t(1) << 48;
// Shapes differ per call (symbolic batch and time), so the cache is bounded: least
// recently used entries go first. A few hundred primitives hold a few MB at most.
constexpr size_t kCacheCapacity = 256;

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

/// The one CPU engine. Leaked on purpose: its destruction at exit would race with
/// OpenMP's shutdown and with threads still running models, and it holds nothing the OS
/// does not reclaim.
const dnnl::engine &cpuEngine() {
  static const dnnl::engine *e = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *e;
}

/// A primitive and what executing it needs to know.
struct Cached {
  dnnl::primitive prim;
  memory::desc src, weights, dst; // plain layouts, as the caller's buffers hold them
  size_t scratchBytes = 0;
  // Set when the primitive wants its weights in its own (blocked) layout: a reorder from
  // `weights` into a buffer of `blockedWeights`, run before every execution.
  dnnl::primitive weightsReorder;
  memory::desc blockedWeights;
  size_t reorderScratchBytes = 0;
  // Set when a backward-weights primitive writes the kernel's gradient in its own layout:
  // a reorder from `blockedDiffWeights` into the caller's plain buffer, run after it.
  dnnl::primitive diffWeightsReorder;
  memory::desc blockedDiffWeights;
  size_t diffReorderScratchBytes = 0;
};

/// A bounded LRU map from a shape key to a created primitive. Entries are shared_ptr so a
/// caller keeps using its primitive even if another thread evicts it meanwhile.
template <size_t N> class PrimitiveCache {
public:
  using Key = std::array<int64_t, N>;

  template <typename Make> std::shared_ptr<const Cached> get(const Key &key, Make make) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = map_.find(key);
      if (it != map_.end()) {
        lru_.splice(lru_.begin(), lru_, it->second.pos);
        return it->second.value;
      }
    }
    // Create outside the lock: creation is slow and other shapes need not wait for it.
    // Two threads missing on the same key both create; the second insert is dropped.
    auto made = std::make_shared<const Cached>(make());
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it != map_.end())
      return it->second.value;
    lru_.push_front(key);
    map_.emplace(key, Entry{made, lru_.begin()});
    if (map_.size() > kCacheCapacity) {
      map_.erase(lru_.back());
      lru_.pop_back();
    }
    return made;
  }

  size_t size() {
    std::lock_guard<std::mutex> lock(mu_);
    return map_.size();
  }

private:
  struct Entry {
    std::shared_ptr<const Cached> value;
    typename std::list<Key>::iterator pos;
  };
  std::mutex mu_;
  std::map<Key, Entry> map_;
  std::list<Key> lru_; // most recently used first
};

// Leaked for the same reason as the engine: primitives must not outlive it.
PrimitiveCache<9> &convCache() {
  static auto *c = new PrimitiveCache<9>;
  return *c;
}
PrimitiveCache<7> &poolCache() {
  static auto *c = new PrimitiveCache<7>;
  return *c;
}
PrimitiveCache<9> &convGradInputCache() {
  static auto *c = new PrimitiveCache<9>;
  return *c;
}
PrimitiveCache<9> &convGradKernelCache() {
  static auto *c = new PrimitiveCache<9>;
  return *c;
}

/// Output length of a window of effective size `span` sliding with `stride` over T
/// positions padded by padL + padR; 0 when the window does not fit even once.
int64_t slidingLength(int64_t T, int64_t padL, int64_t padR, int64_t span, int64_t stride) {
  int64_t room = T + padL + padR - span;
  return room < 0 ? 0 : room / stride + 1;
}

bool tooBig(int64_t a, int64_t b, int64_t c) {
  // Each factor is already <= kMaxDim; divide rather than multiply to avoid overflow.
  if (a == 0 || b == 0 || c == 0)
    return false;
  return a > kMaxElements / b || a * b > kMaxElements / c;
}

/// Scratch memory for one execution: from the call's arena, or from the heap when there
/// is no context. Null (with the error recorded) when out of memory.
class Scratch {
public:
  explicit Scratch(loom_rt_ctx *ctx) : ctx_(ctx) {}
  void *get(size_t bytes) {
    if (ctx_)
      return loom_rt_alloc(ctx_, (int64_t)bytes);
    heap_.emplace_back(bytes);
    return heap_.back().data();
  }
  /// The scratchpad argument for a primitive that wants `bytes` of it; false if out of
  /// memory.
  bool addScratchpad(std::unordered_map<int, memory> &args, size_t bytes) {
    if (bytes == 0)
      return true;
    void *p = get(bytes);
    if (!p)
      return false;
    args.insert({DNNL_ARG_SCRATCHPAD,
                 memory(memory::desc({(memory::dim)bytes}, dt::u8, tag::a), cpuEngine(), p)});
    return true;
  }

private:
  loom_rt_ctx *ctx_;
  std::vector<std::vector<unsigned char>> heap_;
};

/// Executes `c` (its weights reorder first, if it has one) on the caller's buffers.
/// Returns false if scratch memory ran out; that error is already recorded.
bool execute(loom_rt_ctx *ctx, const Cached &c, std::unordered_map<int, memory> &&args) {
  const dnnl::engine &eng = cpuEngine();
  Scratch scratch(ctx);
  // A stream per call: creating a CPU stream is a small allocation, much cheaper than
  // anything else here, and it keeps concurrent callers entirely apart.
  dnnl::stream s(eng);
  if (c.weightsReorder) {
    void *blocked = scratch.get(c.blockedWeights.get_size());
    if (!blocked)
      return false;
    memory to(c.blockedWeights, eng, blocked);
    std::unordered_map<int, memory> rargs = {{DNNL_ARG_FROM, args.at(DNNL_ARG_WEIGHTS)},
                                             {DNNL_ARG_TO, to}};
    if (!scratch.addScratchpad(rargs, c.reorderScratchBytes))
      return false;
    c.weightsReorder.execute(s, rargs);
    args[DNNL_ARG_WEIGHTS] = to;
  }
  memory diffWeights;
  if (c.diffWeightsReorder) {
    void *blocked = scratch.get(c.blockedDiffWeights.get_size());
    if (!blocked)
      return false;
    diffWeights = args.at(DNNL_ARG_DIFF_WEIGHTS);
    args[DNNL_ARG_DIFF_WEIGHTS] = memory(c.blockedDiffWeights, eng, blocked);
  }
  if (!scratch.addScratchpad(args, c.scratchBytes))
    return false;
  c.prim.execute(s, args);
  if (c.diffWeightsReorder) {
    std::unordered_map<int, memory> rargs = {{DNNL_ARG_FROM, args.at(DNNL_ARG_DIFF_WEIGHTS)},
                                             {DNNL_ARG_TO, diffWeights}};
    if (!scratch.addScratchpad(rargs, c.diffReorderScratchBytes))
      return false;
    c.diffWeightsReorder.execute(s, rargs);
  }
  s.wait();
  return true;
}

/// What is wrong with the sizes of a conv1d call (or its gradients'), or null. `K` may be 0
/// (an empty reduction).
const char *convProblem(int64_t B, int64_t T, int64_t C, int64_t F, int64_t K, int64_t stride,
                        int64_t dilation, int64_t padL, int64_t padR, int64_t Tout) {
  for (int64_t d : {B, T, C, F, K, padL, padR, Tout})
    if (d < 0 || d > kMaxDim)
      return "dimension or padding negative or absurdly large";
  if (stride < 1 || stride > kMaxDim || dilation < 1 || dilation > kMaxDim)
    return "stride and dilation must be at least 1 (and sane)";
  // dilation * (K - 1) cannot overflow: both are below 2^40, but guard the product anyway.
  if (K > 1 && dilation > kMaxDim / K)
    return "dilated kernel absurdly large";
  int64_t span = K == 0 ? 0 : dilation * (K - 1) + 1;
  if (Tout != slidingLength(T, padL, padR, span, stride))
    return "output length does not match the input length, kernel, stride and padding";
  if (tooBig(B, T, C) || tooBig(K, C, F) || tooBig(B, Tout, F))
    return "tensor absurdly large";
  return nullptr;
}

/// Records "<fn>: <problem> (sizes)" for a conv1d shim.
void convFail(loom_rt_ctx *ctx, const char *fn, const char *problem, int64_t B, int64_t T,
              int64_t C, int64_t F, int64_t K, int64_t stride, int64_t dilation, int64_t padL,
              int64_t padR, int64_t Tout) {
  char msg[360];
  std::snprintf(msg, sizeof msg,
                "%s: %s (B=%lld T=%lld C=%lld F=%lld K=%lld stride=%lld dilation=%lld "
                "padding=%lld/%lld Tout=%lld)",
                fn, problem, (long long)B, (long long)T, (long long)C, (long long)F, (long long)K,
                (long long)stride, (long long)dilation, (long long)padL, (long long)padR,
                (long long)Tout);
  loom_rt_fail(ctx, msg);
}

/// What is wrong with the sizes of a max_pool1d call (or its gradient's), or null.
const char *poolProblem(int64_t B, int64_t T, int64_t C, int64_t size, int64_t stride, int64_t padL,
                        int64_t padR, int64_t Tout) {
  for (int64_t d : {B, T, C, padL, padR, Tout})
    if (d < 0 || d > kMaxDim)
      return "dimension or padding negative or absurdly large";
  if (size < 1 || size > kMaxDim || stride < 1 || stride > kMaxDim)
    return "window size and stride must be at least 1 (and sane)";
  if (Tout != slidingLength(T, padL, padR, size, stride))
    return "output length does not match the input length, window, stride and padding";
  if (tooBig(B, T, C) || tooBig(B, Tout, C))
    return "tensor absurdly large";
  return nullptr;
}

void poolFail(loom_rt_ctx *ctx, const char *fn, const char *problem, int64_t B, int64_t T,
              int64_t C, int64_t size, int64_t stride, int64_t padL, int64_t padR, int64_t Tout) {
  char msg[320];
  std::snprintf(msg, sizeof msg,
                "%s: %s (B=%lld T=%lld C=%lld size=%lld stride=%lld padding=%lld/%lld "
                "Tout=%lld)",
                fn, problem, (long long)B, (long long)T, (long long)C, (long long)size,
                (long long)stride, (long long)padL, (long long)padR, (long long)Tout);
  loom_rt_fail(ctx, msg);
}

/// The descriptors every conv1d primitive shares: x [B, T, C] (nwc of dims {B, C, T}), the
/// kernel [K, C, F] in a layout oneDNN picks (format_tag::any; see loom_rt_conv1d), y
/// [B, Tout, F].
/// When a primitive wants its weights in another layout than the plain one, the cached
/// entry reorders them into `blocked` before every execution.
void useWeightsLayout(Cached &c, const memory::desc &blocked, const dnnl::primitive_attr &attr) {
  if (blocked == c.weights)
    return;
  c.blockedWeights = blocked;
  dnnl::reorder::primitive_desc rpd(cpuEngine(), c.weights, cpuEngine(), c.blockedWeights, attr);
  c.reorderScratchBytes = rpd.scratchpad_desc().get_size();
  c.weightsReorder = dnnl::reorder(rpd);
}

struct ConvDescs {
  memory::desc src, weightsAny, weightsPlain, dst;
  ConvDescs(int64_t B, int64_t T, int64_t C, int64_t F, int64_t K, int64_t Tout)
      : src({B, C, T}, dt::f32, tag::nwc), weightsAny({F, C, K}, dt::f32, tag::any),
        weightsPlain({F, C, K}, dt::f32, tag::wio), dst({B, F, Tout}, dt::f32, tag::nwc) {}
};

/// The forward_training primitive descriptor that oneDNN's backward primitives take as a
/// hint.
dnnl::convolution_forward::primitive_desc convHint(const ConvDescs &d, int64_t stride,
                                                   int64_t dilation, int64_t padL, int64_t padR) {
  dnnl::convolution_forward::desc fd(dnnl::prop_kind::forward_training,
                                     dnnl::algorithm::convolution_direct, d.src, d.weightsAny,
                                     d.dst, {stride}, {dilation - 1}, {padL}, {padR});
  return dnnl::convolution_forward::primitive_desc(fd, cpuEngine());
}

/// Runs `body`, turning whatever oneDNN or the allocator throws into fail(message): no
/// exception crosses the C ABI.
template <typename Body, typename Fail> void guarded(Body &&body, Fail &&fail) {
  try {
    body();
  } catch (const dnnl::error &e) {
    char what[160];
    std::snprintf(what, sizeof what, "oneDNN failed: %s (%s)", e.what(), dnnl_status2str(e.status));
    fail(what);
  } catch (const std::bad_alloc &) {
    fail("out of memory");
  } catch (const std::exception &e) {
    fail(e.what());
  }
}

} // namespace

extern "C" {

namespace {
/// A kernel of size 1 with a stride > 1 is a matmul over every stride-th position; those
/// calls are done here with sgemm instead of oneDNN, whose AVX2 1x1 convolution with a stride
/// writes past its reduce-to-unit-stride workspace for few channels (wrong results that
/// depend on the heap, seen in backward-weights; a known oneDNN bug). `which`: 0 forward
/// (a = x, b = w, out = y), 1 input gradient (a = dy, b = w, out = dx), 2 kernel gradient
/// (a = x, b = dy, out = dw).
void pointwiseStrided(loom_rt_ctx *ctx, int which, int64_t B, int64_t T, int64_t C, int64_t F,
                      int64_t stride, int64_t padL, int64_t Tout, const float *a, const float *b,
                      float *out) {
  Scratch scratch(ctx);
  int64_t rows = B * Tout;
  float *xs = static_cast<float *>(scratch.get(sizeof(float) * (size_t)(rows * C)));
  if (!xs)
    return;
  auto at = [&](int64_t t) { return t * stride - padL; }; // input position of output step t
  if (which == 1) {
    // dxs = dy [rows, F] * w^T ([C, F] stored), then scattered to the strided positions.
    loom_rt_sgemm_t(ctx, 0, 1, rows, C, F, a, F, b, F, xs, C, 0.0f);
    std::memset(out, 0, sizeof(float) * (size_t)(B * T * C));
    for (int64_t n = 0; n < B; ++n)
      for (int64_t t = 0; t < Tout; ++t)
        if (at(t) >= 0 && at(t) < T)
          std::memcpy(out + (n * T + at(t)) * C, xs + (n * Tout + t) * C, sizeof(float) * C);
    return;
  }
  for (int64_t n = 0; n < B; ++n)
    for (int64_t t = 0; t < Tout; ++t) {
      float *row = xs + (n * Tout + t) * C;
      if (at(t) >= 0 && at(t) < T)
        std::memcpy(row, a + (n * T + at(t)) * C, sizeof(float) * C);
      else
        std::memset(row, 0, sizeof(float) * C);
    }
  if (which == 0) // y [rows, F] = xs [rows, C] * w [C, F]
    loom_rt_sgemm_t(ctx, 0, 0, rows, F, C, xs, C, b, F, out, F, 0.0f);
  else // dw [C, F] = xs^T [C, rows] * dy [rows, F]
    loom_rt_sgemm_t(ctx, 1, 0, C, F, rows, xs, C, b, F, out, F, 0.0f);
}

} // namespace

void loom_rt_conv1d(loom_rt_ctx *ctx, int64_t B, int64_t T, int64_t C, int64_t F, int64_t K,
                    int64_t stride, int64_t dilation, int64_t padL, int64_t padR, int64_t Tout,
                    const float *x, const float *w, float *y) {
  auto fail = [&](const char *problem) {
    convFail(ctx, "loom_rt_conv1d", problem, B, T, C, F, K, stride, dilation, padL, padR, Tout);
  };
  if (const char *problem = convProblem(B, T, C, F, K, stride, dilation, padL, padR, Tout))
    return fail(problem);
  if (B == 0 || Tout == 0 || F == 0)
    return;
  if (!y || (T > 0 && C > 0 && !x) || (K > 0 && C > 0 && !w))
    return fail("null buffer");
  if (C == 0 || K == 0 || T == 0) {
    // An empty reduction (or an input that is all padding): every output is 0. oneDNN
    // rejects zero-sized dimensions here, so do it by hand.
    std::memset(y, 0, sizeof(float) * (size_t)(B * Tout * F));
    return;
  }
  if (K == 1 && stride > 1)
    return pointwiseStrided(ctx, 0, B, T, C, F, stride, padL, Tout, x, w, y);

  guarded(
      [&] {
        auto cached = convCache().get({B, T, C, F, K, stride, dilation, padL, padR}, [&] {
          Cached c;
          // x is [B, T, C] (nwc of dims {B, C, T}), w is Keras's [K, C, F] (wio of dims
          // {F, C, K}), y is [B, Tout, F]. The activations stay in these plain channels-last
          // layouts, but oneDNN picks the weights' layout (format_tag::any) and we reorder w
          // into it on every call: the reorder touches only K*C*F floats, and it lets oneDNN
          // use its direct AVX2 kernel ("jit:avx2", weights like OIw8i8o) instead of the
          // im2col + gemm one ("gemm:jit") it takes for plain wio weights. Measured here,
          // single-threaded, including the reorder: 1.2x (B=32 T=100 C=F=256 K=3) to 2.9x
          // (B=4 T=1000 C=7 F=5 K=3) faster, and equal for tiny shapes. Letting x and y be
          // blocked too (nCw8c) gained nothing over that once their reorders are counted.
          // The reordered weights cannot be cached: training changes w between calls.
          c.src = memory::desc({B, C, T}, dt::f32, tag::nwc);
          c.weights = memory::desc({F, C, K}, dt::f32, tag::wio);
          c.dst = memory::desc({B, F, Tout}, dt::f32, tag::nwc);
          dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference,
                                            dnnl::algorithm::convolution_direct, c.src,
                                            memory::desc({F, C, K}, dt::f32, tag::any), c.dst,
                                            {stride}, {dilation - 1}, {padL}, {padR});
          dnnl::primitive_attr attr;
          attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
          dnnl::convolution_forward::primitive_desc pd(d, attr, cpuEngine());
          c.scratchBytes = pd.scratchpad_desc().get_size();
          useWeightsLayout(c, pd.weights_desc(), attr);
          c.prim = dnnl::convolution_forward(pd);
          return c;
        });
        const dnnl::engine &eng = cpuEngine();
        execute(ctx, *cached,
                {{DNNL_ARG_SRC, memory(cached->src, eng, const_cast<float *>(x))},
                 {DNNL_ARG_WEIGHTS, memory(cached->weights, eng, const_cast<float *>(w))},
                 {DNNL_ARG_DST, memory(cached->dst, eng, y)}});
      },
      fail);
}

void loom_rt_max_pool1d(loom_rt_ctx *ctx, int64_t B, int64_t T, int64_t C, int64_t size,
                        int64_t stride, int64_t padL, int64_t padR, int64_t Tout, const float *x,
                        float *y) {
  auto fail = [&](const char *problem) {
    poolFail(ctx, "loom_rt_max_pool1d", problem, B, T, C, size, stride, padL, padR, Tout);
  };
  if (const char *problem = poolProblem(B, T, C, size, stride, padL, padR, Tout))
    return fail(problem);
  if (B == 0 || Tout == 0 || C == 0)
    return;
  // A window made only of padding has no maximum (oneDNN 2.6 accepts one, with a slow
  // reference kernel, but no answer is right). Windows are ordered, so it is enough to
  // check the first and the last; padR may exceed the window if the stride skips it.
  if (T == 0 || padL >= size || (Tout - 1) * stride - padL >= T)
    return fail("a window would hold only padding");
  if (!x || !y)
    return fail("null buffer");

  guarded(
      [&] {
        auto cached = poolCache().get({B, T, C, size, stride, padL, padR}, [&] {
          Cached c;
          c.src = memory::desc({B, C, T}, dt::f32, tag::nwc);
          c.dst = memory::desc({B, C, Tout}, dt::f32, tag::nwc);
          // forward_inference: no workspace (the argmax indices only backward would need).
          dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_inference,
                                        dnnl::algorithm::pooling_max, c.src, c.dst, {stride},
                                        {size}, {padL}, {padR});
          dnnl::primitive_attr attr;
          attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
          dnnl::pooling_forward::primitive_desc pd(d, attr, cpuEngine());
          c.scratchBytes = pd.scratchpad_desc().get_size();
          c.prim = dnnl::pooling_forward(pd);
          return c;
        });
        const dnnl::engine &eng = cpuEngine();
        execute(ctx, *cached,
                {{DNNL_ARG_SRC, memory(cached->src, eng, const_cast<float *>(x))},
                 {DNNL_ARG_DST, memory(cached->dst, eng, y)}});
      },
      fail);
}

void loom_rt_conv1d_grad_input(loom_rt_ctx *ctx, int64_t B, int64_t T, int64_t C, int64_t F,
                               int64_t K, int64_t stride, int64_t dilation, int64_t padL,
                               int64_t padR, int64_t Tout, const float *dy, const float *w,
                               float *dx) {
  auto fail = [&](const char *problem) {
    convFail(ctx, "loom_rt_conv1d_grad_input", problem, B, T, C, F, K, stride, dilation, padL, padR,
             Tout);
  };
  if (const char *problem = convProblem(B, T, C, F, K, stride, dilation, padL, padR, Tout))
    return fail(problem);
  if (B == 0 || T == 0 || C == 0)
    return;
  if (!dx || (Tout > 0 && F > 0 && !dy) || (K > 0 && F > 0 && !w))
    return fail("null buffer");
  if (F == 0 || K == 0 || Tout == 0) { // nothing flows back (oneDNN rejects zero sizes)
    std::memset(dx, 0, sizeof(float) * (size_t)(B * T * C));
    return;
  }
  if (K == 1 && stride > 1)
    return pointwiseStrided(ctx, 1, B, T, C, F, stride, padL, Tout, dy, w, dx);

  guarded(
      [&] {
        auto cached = convGradInputCache().get({B, T, C, F, K, stride, dilation, padL, padR}, [&] {
          // dx = dy (*) w transposed: oneDNN's backward-data convolution, with the
          // weights reordered into the layout it picks, as in loom_rt_conv1d.
          ConvDescs d(B, T, C, F, K, Tout);
          Cached c;
          c.src = d.dst; // read: dy
          c.weights = d.weightsPlain;
          c.dst = d.src; // written: dx
          dnnl::convolution_backward_data::desc bd(dnnl::algorithm::convolution_direct, d.src,
                                                   d.weightsAny, d.dst, {stride}, {dilation - 1},
                                                   {padL}, {padR});
          dnnl::primitive_attr attr;
          attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
          dnnl::convolution_backward_data::primitive_desc pd(
              bd, attr, cpuEngine(), convHint(d, stride, dilation, padL, padR));
          c.scratchBytes = pd.scratchpad_desc().get_size();
          useWeightsLayout(c, pd.weights_desc(), attr);
          c.prim = dnnl::convolution_backward_data(pd);
          return c;
        });
        const dnnl::engine &eng = cpuEngine();
        execute(ctx, *cached,
                {{DNNL_ARG_DIFF_DST, memory(cached->src, eng, const_cast<float *>(dy))},
                 {DNNL_ARG_WEIGHTS, memory(cached->weights, eng, const_cast<float *>(w))},
                 {DNNL_ARG_DIFF_SRC, memory(cached->dst, eng, dx)}});
      },
      fail);
}

void loom_rt_conv1d_grad_kernel(loom_rt_ctx *ctx, int64_t B, int64_t T, int64_t C, int64_t F,
                                int64_t K, int64_t stride, int64_t dilation, int64_t padL,
                                int64_t padR, int64_t Tout, const float *x, const float *dy,
                                float *dw) {
  auto fail = [&](const char *problem) {
    convFail(ctx, "loom_rt_conv1d_grad_kernel", problem, B, T, C, F, K, stride, dilation, padL,
             padR, Tout);
  };
  if (const char *problem = convProblem(B, T, C, F, K, stride, dilation, padL, padR, Tout))
    return fail(problem);
  if (K == 0 || C == 0 || F == 0)
    return;
  if (!dw || (B > 0 && T > 0 && !x) || (B > 0 && Tout > 0 && !dy))
    return fail("null buffer");
  if (B == 0 || T == 0 || Tout == 0) { // an empty sum over the batch and the windows
    std::memset(dw, 0, sizeof(float) * (size_t)(K * C * F));
    return;
  }
  if (K == 1 && stride > 1)
    return pointwiseStrided(ctx, 2, B, T, C, F, stride, padL, Tout, x, dy, dw);

  guarded(
      [&] {
        auto cached = convGradKernelCache().get({B, T, C, F, K, stride, dilation, padL, padR}, [&] {
          // dw = the sum over the batch and the windows of x^T dy: oneDNN's
          // backward-weights convolution, writing dw in the layout it picks; a reorder
          // then puts it into the caller's [K, C, F] buffer.
          ConvDescs d(B, T, C, F, K, Tout);
          Cached c;
          c.src = d.src;
          c.dst = d.dst; // read: dy
          c.weights = d.weightsPlain;
          dnnl::convolution_backward_weights::desc bd(dnnl::algorithm::convolution_direct, d.src,
                                                      d.weightsAny, d.dst, {stride}, {dilation - 1},
                                                      {padL}, {padR});
          dnnl::primitive_attr attr;
          attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
          dnnl::convolution_backward_weights::primitive_desc pd(
              bd, attr, cpuEngine(), convHint(d, stride, dilation, padL, padR));
          c.scratchBytes = pd.scratchpad_desc().get_size();
          if (pd.diff_weights_desc() != c.weights) {
            c.blockedDiffWeights = pd.diff_weights_desc();
            dnnl::reorder::primitive_desc rpd(cpuEngine(), c.blockedDiffWeights, cpuEngine(),
                                              c.weights, attr);
            c.diffReorderScratchBytes = rpd.scratchpad_desc().get_size();
            c.diffWeightsReorder = dnnl::reorder(rpd);
          }
          c.prim = dnnl::convolution_backward_weights(pd);
          return c;
        });
        const dnnl::engine &eng = cpuEngine();
        execute(ctx, *cached,
                {{DNNL_ARG_SRC, memory(cached->src, eng, const_cast<float *>(x))},
                 {DNNL_ARG_DIFF_DST, memory(cached->dst, eng, const_cast<float *>(dy))},
                 {DNNL_ARG_DIFF_WEIGHTS, memory(cached->weights, eng, dw)}});
      },
      fail);
}

namespace {
struct PoolGradArgs {
  int64_t T, C, size, stride, padL, Tout;
  const float *x, *dy;
  float *dx;
};

// Batch rows [lo, hi) of max_pool1d's gradient: dx is zeroed, then each window's gradient
// goes to its first maximum.
void poolGradRows(void *argp, int64_t lo, int64_t hi) {
  const PoolGradArgs &a = *static_cast<const PoolGradArgs *>(argp);
  const int64_t T = a.T, C = a.C;
  std::memset(a.dx + lo * T * C, 0, sizeof(float) * (size_t)((hi - lo) * T * C));
  for (int64_t b = lo; b < hi; ++b)
    for (int64_t t = 0; t < a.Tout; ++t) {
      int64_t w0 = std::max<int64_t>(t * a.stride - a.padL, 0);
      int64_t w1 = std::min<int64_t>(t * a.stride - a.padL + a.size, T);
      if (w0 >= w1)
        continue; // only padding: the forward call refuses such a window
      const float *xb = a.x + b * T * C;
      float *dxb = a.dx + b * T * C;
      const float *g = a.dy + (b * a.Tout + t) * C;
      for (int64_t c = 0; c < C; ++c) {
        int64_t best = w0;
        float bv = xb[w0 * C + c];
        for (int64_t s = w0 + 1; s < w1; ++s) {
          float v = xb[s * C + c];
          if (v > bv || (v != v && bv == bv)) {
            best = s;
            bv = v;
          }
        }
        dxb[best * C + c] += g[c];
      }
    }
}
} // namespace

void loom_rt_max_pool1d_grad(loom_rt_ctx *ctx, int64_t B, int64_t T, int64_t C, int64_t size,
                             int64_t stride, int64_t padL, int64_t padR, int64_t Tout,
                             const float *x, const float *dy, float *dx) {
  if (const char *problem = poolProblem(B, T, C, size, stride, padL, padR, Tout))
    return poolFail(ctx, "loom_rt_max_pool1d_grad", problem, B, T, C, size, stride, padL, padR,
                    Tout);
  if (B == 0 || T == 0 || C == 0)
    return;
  if (!dx || !x || (Tout > 0 && !dy))
    return poolFail(ctx, "loom_rt_max_pool1d_grad", "null buffer", B, T, C, size, stride, padL,
                    padR, Tout);
  // Plain loops rather than oneDNN's pooling_backward, which needs the forward pass's
  // workspace (the argmax of every window) and so a forward_training run first: finding the
  // argmax again costs as much, and here ties are certain to go to the first maximum (as
  // in PyTorch and TensorFlow, and the interpreter). A NaN counts as the maximum. Each
  // batch row writes only its own rows of dx, so the rows split over the threads (same
  // bits: every element adds its windows' gradients in window order either way).
  PoolGradArgs args{T, C, size, stride, padL, Tout, x, dy, dx};
  loom_rt_parallel_for(poolGradRows, &args, B, 2 * Tout * C * size + T * C, 1);
}

void loom_rt_range_error(loom_rt_ctx *ctx, const char *what, int64_t value, int64_t flatIndex,
                         const int64_t *shape, int64_t rank, int64_t lo, int64_t hi) {
  // Fixed-size buffers only: this runs on an error path and must not fail itself.
  // 64 indices of at most 19 digits plus ", " fit in `where`.
  constexpr int64_t kMaxRank = 64;
  char where[kMaxRank * 21 + 64];
  char msg[sizeof where + 256];
  // Unflatten row-major; fall back to the flat index when the shape cannot hold it.
  bool valid = rank >= 0 && rank <= kMaxRank && (rank == 0 || shape) && flatIndex >= 0;
  int64_t idx[kMaxRank];
  int64_t rest = flatIndex;
  for (int64_t d = rank - 1; valid && d >= 0; --d) {
    if (shape[d] <= 0) {
      valid = false;
      break;
    }
    idx[d] = rest % shape[d];
    rest /= shape[d];
  }
  if (valid && rest == 0) {
    size_t n = 0;
    where[n++] = '[';
    for (int64_t d = 0; d < rank; ++d)
      n += (size_t)std::snprintf(where + n, sizeof where - n, d == 0 ? "%lld" : ", %lld",
                                 (long long)idx[d]);
    std::snprintf(where + n, sizeof where - n, "]");
  } else {
    std::snprintf(where, sizeof where, "flat index %lld", (long long)flatIndex);
  }
  std::snprintf(msg, sizeof msg, "%s: %lld at %s is outside [%lld, %lld]",
                what && *what ? what : "value", (long long)value, where, (long long)lo,
                (long long)hi);
  loom_rt_fail(ctx, msg);
}

} // extern "C"

namespace loom::rt {
/// For tests: how many conv1d / max_pool1d (and conv1d gradient) primitives the
/// process-wide caches hold.
size_t conv1dCacheSize() { return convCache().size(); }
size_t maxPool1dCacheSize() { return poolCache().size(); }
size_t conv1dGradCacheSize() { return convGradInputCache().size() + convGradKernelCache().size(); }
} // namespace loom::rt
