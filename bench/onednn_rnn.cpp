// onednn_rnn_bench: times one oneDNN 2.6.3 RNN primitive, forward inference or (--train) a
// forward-training + backward pair: the peer that loom's compiled LSTM/GRU layers are measured
// against (see bench/README.md).
//
//   onednn_rnn_bench --cell lstm|gru|lbr_gru --batch B --time T --input I --hidden H
//                    [--iters N] [--warmup W] [--train]
//
// One layer, one direction, zero initial state (explicit zero tensors), every step's output
// (dst_layer [T, B, H], format tnc). Weights and bias are created in the canonical ldigo / ldgo
// formats and reordered into the layouts oneDNN chooses (format_tag::any) before timing. Only
// the primitives' execute (+ stream wait) is inside the timed loop. Threads come from
// OMP_NUM_THREADS (oneDNN threads with OpenMP).
//
// --train: a `forward_training` primitive (which fills the workspace) and the matching
// `*_backward` primitive (prop_kind::backward, created with the forward primitive_desc as its
// hint), both with format_tag::any weights. diff_dst_layer [T, B, H] is random data standing
// in for the loss gradient; the backward computes diff_src_layer, diff_src_iter(_c), and the
// weight and bias gradients (diff weights in the layouts oneDNN picks). One timed step is:
// zero the gradient buffers (oneDNN's RNN backward accumulates into them), execute forward,
// execute backward, wait. The weight update (elementwise, W -= lr·dW) is not included. The
// weights are reordered into the backward primitive's layout once, outside the timed loop; in
// a real training loop that reorder would run after every update, so its time is measured
// separately and printed as "bwd_weights_reorder_ms" (0 when the layouts are the same).
//
// Prints one line of JSON: {"median_ms":..,"p10_ms":..,"p90_ms":..,"gflops":..} where
// gflops = 2·B·T·G·H·(I+H) / median (G = 4 for LSTM, 3 for both GRU variants); for --train
// three times that count (forward + backward, the backward's data and weight gradients each
// the forward's GEMM work).
//
// This is the oneDNN **v2** API (op descriptors, then primitive_desc(desc, engine)).

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;
using dims = dnnl::memory::dims;

struct Args {
  std::string cell = "lstm";
  int64_t batch = 32, time = 12, input = 128, hidden = 128;
  int iters = 100, warmup = 10;
  bool train = false;
};

[[noreturn]] void usage(const char *msg) {
  std::fprintf(stderr,
               "onednn_rnn_bench: %s\n"
               "usage: onednn_rnn_bench --cell lstm|gru|lbr_gru --batch B --time T --input I "
               "--hidden H [--iters N] [--warmup W] [--train]\n",
               msg);
  std::exit(2);
}

int64_t parseInt(const char *flag, const char *s) {
  char *end = nullptr;
  long long v = std::strtoll(s, &end, 10);
  if (!end || *end != '\0' || v <= 0)
    usage((std::string("bad value for ") + flag + ": '" + s + "'").c_str());
  return v;
}

Args parseArgs(int argc, char **argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string f = argv[i];
    if (f == "-h" || f == "--help")
      usage("help");
    if (f == "--train") {
      a.train = true;
      continue;
    }
    if (i + 1 >= argc)
      usage(("missing value after " + f).c_str());
    const char *v = argv[++i];
    if (f == "--cell")
      a.cell = v;
    else if (f == "--batch")
      a.batch = parseInt("--batch", v);
    else if (f == "--time")
      a.time = parseInt("--time", v);
    else if (f == "--input")
      a.input = parseInt("--input", v);
    else if (f == "--hidden")
      a.hidden = parseInt("--hidden", v);
    else if (f == "--iters")
      a.iters = (int)parseInt("--iters", v);
    else if (f == "--warmup") {
      char *end = nullptr;
      long w = std::strtol(v, &end, 10);
      if (!end || *end != '\0' || w < 0)
        usage("bad value for --warmup");
      a.warmup = (int)w;
    } else
      usage(("unknown option " + f).c_str());
  }
  if (a.cell != "lstm" && a.cell != "gru" && a.cell != "lbr_gru")
    usage(("unknown --cell '" + a.cell + "'").c_str());
  return a;
}

void fillUniform(dnnl::memory &m, float scale, std::mt19937 &rng) {
  std::uniform_real_distribution<float> u(-scale, scale);
  size_t n = m.get_desc().get_size() / sizeof(float);
  float *p = static_cast<float *>(m.get_data_handle());
  for (size_t i = 0; i < n; ++i)
    p[i] = u(rng);
}

void fillZero(dnnl::memory &m) { std::memset(m.get_data_handle(), 0, m.get_desc().get_size()); }

double percentile(std::vector<double> sorted, double q) {
  // Linear interpolation between closest ranks (numpy's default).
  if (sorted.empty())
    return 0;
  double pos = q * double(sorted.size() - 1);
  size_t lo = (size_t)pos;
  size_t hi = std::min(lo + 1, sorted.size() - 1);
  double frac = pos - double(lo);
  return sorted[lo] * (1 - frac) + sorted[hi] * frac;
}

} // namespace

namespace {

// The primitives of one cell type and the memory layouts they chose.
struct Prims {
  dnnl::primitive fwd, bwd;
  dnnl::memory::desc wLayer, wIter, scratch, ws; // forward weights, scratchpad, workspace
  dnnl::memory::desc bwLayer, bwIter;            // the backward primitive's weights
  dnnl::memory::desc dwLayer, dwIter;            // the weight gradients
};

template <class Fwd, class Bwd>
Prims makePrims(const typename Fwd::desc &fd, const typename Bwd::desc *bd,
                const dnnl::engine &eng) {
  Prims p;
  typename Fwd::primitive_desc pd(fd, eng);
  p.fwd = Fwd(pd);
  p.wLayer = pd.weights_layer_desc();
  p.wIter = pd.weights_iter_desc();
  p.scratch = pd.scratchpad_desc();
  p.ws = pd.workspace_desc();
  if (bd) {
    typename Bwd::primitive_desc bpd(*bd, eng, pd);
    p.bwd = Bwd(bpd);
    p.bwLayer = bpd.weights_layer_desc();
    p.bwIter = bpd.weights_iter_desc();
    p.dwLayer = bpd.diff_weights_layer_desc();
    p.dwIter = bpd.diff_weights_iter_desc();
  }
  return p;
}

double msSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

int main(int argc, char **argv) {
  Args a = parseArgs(argc, argv);
  const int64_t B = a.batch, T = a.time, I = a.input, H = a.hidden;
  const bool lstm = a.cell == "lstm";
  const bool lbr = a.cell == "lbr_gru";
  const bool train = a.train;
  const int64_t G = lstm ? 4 : 3;
  const int64_t biasG = lbr ? 4 : G; // linear-before-reset GRU has an extra bias gate
  const int64_t L = 1, D = 1;

  try {
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::stream strm(eng);
    std::mt19937 rng(42);

    // Canonical (user) descriptors.
    dnnl::memory::desc srcLayerMd({T, B, I}, dt::f32, tag::tnc);
    dnnl::memory::desc srcIterMd({L, D, B, H}, dt::f32, tag::ldnc);
    dnnl::memory::desc dstLayerMd({T, B, H}, dt::f32, tag::tnc);
    dnnl::memory::desc wLayerUserMd({L, D, I, G, H}, dt::f32, tag::ldigo);
    dnnl::memory::desc wIterUserMd({L, D, H, G, H}, dt::f32, tag::ldigo);
    dnnl::memory::desc biasMd({L, D, biasG, H}, dt::f32, tag::ldgo);
    // Weights (and weight gradients) in layouts chosen by oneDNN.
    dnnl::memory::desc wLayerAnyMd({L, D, I, G, H}, dt::f32, tag::any);
    dnnl::memory::desc wIterAnyMd({L, D, H, G, H}, dt::f32, tag::any);
    dnnl::memory::desc none; // zero md: output not requested

    const auto prop =
        train ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
    const auto bprop = dnnl::prop_kind::backward;
    const auto dir = dnnl::rnn_direction::unidirectional_left2right;

    Prims P;
    if (lstm) {
      dnnl::lstm_forward::desc d(prop, dir, srcLayerMd, srcIterMd, srcIterMd, wLayerAnyMd,
                                 wIterAnyMd, biasMd, dstLayerMd, none, none);
      dnnl::lstm_backward::desc bd(bprop, dir, srcLayerMd, srcIterMd, srcIterMd, wLayerAnyMd,
                                   wIterAnyMd, biasMd, dstLayerMd, none, none, srcLayerMd,
                                   srcIterMd, srcIterMd, wLayerAnyMd, wIterAnyMd, biasMd,
                                   dstLayerMd, none, none);
      P = makePrims<dnnl::lstm_forward, dnnl::lstm_backward>(d, train ? &bd : nullptr, eng);
    } else if (lbr) {
      dnnl::lbr_gru_forward::desc d(prop, dir, srcLayerMd, srcIterMd, wLayerAnyMd, wIterAnyMd,
                                    biasMd, dstLayerMd, none);
      dnnl::lbr_gru_backward::desc bd(bprop, dir, srcLayerMd, srcIterMd, wLayerAnyMd, wIterAnyMd,
                                      biasMd, dstLayerMd, none, srcLayerMd, srcIterMd, wLayerAnyMd,
                                      wIterAnyMd, biasMd, dstLayerMd, none);
      P = makePrims<dnnl::lbr_gru_forward, dnnl::lbr_gru_backward>(d, train ? &bd : nullptr, eng);
    } else {
      dnnl::gru_forward::desc d(prop, dir, srcLayerMd, srcIterMd, wLayerAnyMd, wIterAnyMd, biasMd,
                                dstLayerMd, none);
      dnnl::gru_backward::desc bd(bprop, dir, srcLayerMd, srcIterMd, wLayerAnyMd, wIterAnyMd,
                                  biasMd, dstLayerMd, none, srcLayerMd, srcIterMd, wLayerAnyMd,
                                  wIterAnyMd, biasMd, dstLayerMd, none);
      P = makePrims<dnnl::gru_forward, dnnl::gru_backward>(d, train ? &bd : nullptr, eng);
    }

    dnnl::memory srcLayer(srcLayerMd, eng), srcIter(srcIterMd, eng), srcIterC(srcIterMd, eng);
    dnnl::memory dstLayer(dstLayerMd, eng), bias(biasMd, eng);
    dnnl::memory wLayerUser(wLayerUserMd, eng), wIterUser(wIterUserMd, eng);
    fillUniform(srcLayer, 1.0f, rng);
    fillUniform(wLayerUser, 1.0f / std::sqrt(float(I)), rng);
    fillUniform(wIterUser, 1.0f / std::sqrt(float(H)), rng);
    fillUniform(bias, 0.1f, rng);
    fillZero(srcIter);
    fillZero(srcIterC);
    fillZero(dstLayer);

    // Reorders into oneDNN's layouts: outside the timed loop.
    dnnl::memory wLayer(P.wLayer, eng), wIter(P.wIter, eng);
    dnnl::reorder(wLayerUser, wLayer).execute(strm, wLayerUser, wLayer);
    dnnl::reorder(wIterUser, wIter).execute(strm, wIterUser, wIter);
    strm.wait();
    dnnl::memory scratch(P.scratch, eng);

    std::unordered_map<int, dnnl::memory> args = {
        {DNNL_ARG_SRC_LAYER, srcLayer},
        {DNNL_ARG_SRC_ITER, srcIter},
        {DNNL_ARG_WEIGHTS_LAYER, wLayer},
        {DNNL_ARG_WEIGHTS_ITER, wIter},
        {DNNL_ARG_BIAS, bias},
        {DNNL_ARG_DST_LAYER, dstLayer},
        {DNNL_ARG_SCRATCHPAD, scratch},
    };
    if (lstm)
      args.insert({DNNL_ARG_SRC_ITER_C, srcIterC});

    // Training: the workspace the forward fills for the backward, the backward's own weight
    // layouts, the loss gradient and the gradients it produces.
    std::unordered_map<int, dnnl::memory> bargs;
    std::vector<dnnl::memory> grads; // zeroed at the start of every step
    dnnl::memory bwLayer, bwIter;
    const bool reorderLayer = train && P.bwLayer != P.wLayer;
    const bool reorderIter = train && P.bwIter != P.wIter;
    if (train) {
      dnnl::memory ws(P.ws, eng);
      args.insert({DNNL_ARG_WORKSPACE, ws});
      bwLayer = reorderLayer ? dnnl::memory(P.bwLayer, eng) : wLayer;
      bwIter = reorderIter ? dnnl::memory(P.bwIter, eng) : wIter;
      if (reorderLayer)
        dnnl::reorder(wLayer, bwLayer).execute(strm, wLayer, bwLayer);
      if (reorderIter)
        dnnl::reorder(wIter, bwIter).execute(strm, wIter, bwIter);
      strm.wait();
      dnnl::memory diffDst(dstLayerMd, eng), diffSrc(srcLayerMd, eng);
      dnnl::memory diffSrcIter(srcIterMd, eng), diffSrcIterC(srcIterMd, eng);
      dnnl::memory dwLayer(P.dwLayer, eng), dwIter(P.dwIter, eng), dBias(biasMd, eng);
      fillUniform(diffDst, 1.0f / float(T * B * H), rng); // scale of mse's gradient
      grads = {dwLayer, dwIter, dBias};
      bargs = {
          {DNNL_ARG_SRC_LAYER, srcLayer},
          {DNNL_ARG_SRC_ITER, srcIter},
          {DNNL_ARG_WEIGHTS_LAYER, bwLayer},
          {DNNL_ARG_WEIGHTS_ITER, bwIter},
          {DNNL_ARG_BIAS, bias},
          {DNNL_ARG_DST_LAYER, dstLayer},
          {DNNL_ARG_WORKSPACE, ws},
          {DNNL_ARG_DIFF_DST_LAYER, diffDst},
          {DNNL_ARG_DIFF_SRC_LAYER, diffSrc},
          {DNNL_ARG_DIFF_SRC_ITER, diffSrcIter},
          {DNNL_ARG_DIFF_WEIGHTS_LAYER, dwLayer},
          {DNNL_ARG_DIFF_WEIGHTS_ITER, dwIter},
          {DNNL_ARG_DIFF_BIAS, dBias},
      };
      if (lstm) {
        bargs.insert({DNNL_ARG_SRC_ITER_C, srcIterC});
        bargs.insert({DNNL_ARG_DIFF_SRC_ITER_C, diffSrcIterC});
      }
    }

    auto once = [&]() {
      if (train) {
        for (auto &g : grads)
          fillZero(g);
        P.fwd.execute(strm, args);
        P.bwd.execute(strm, bargs);
      } else {
        P.fwd.execute(strm, args);
      }
      strm.wait();
    };

    for (int i = 0; i < a.warmup; ++i)
      once();

    std::vector<double> ms;
    ms.reserve(a.iters);
    for (int i = 0; i < a.iters; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      once();
      ms.push_back(msSince(t0));
    }
    std::sort(ms.begin(), ms.end());
    double med = percentile(ms, 0.5), p10 = percentile(ms, 0.1), p90 = percentile(ms, 0.9);

    // What a real training loop would add after each weight update: the forward layout ->
    // backward layout reorders. Timed apart, not part of median_ms.
    double reorderMs = 0;
    if (reorderLayer || reorderIter) {
      dnnl::reorder rl = reorderLayer ? dnnl::reorder(wLayer, bwLayer) : dnnl::reorder();
      dnnl::reorder ri = reorderIter ? dnnl::reorder(wIter, bwIter) : dnnl::reorder();
      std::vector<double> rms;
      for (int i = 0; i < std::max(3, std::min(a.iters, 20)); ++i) {
        auto t0 = std::chrono::steady_clock::now();
        if (reorderLayer)
          rl.execute(strm, wLayer, bwLayer);
        if (reorderIter)
          ri.execute(strm, wIter, bwIter);
        strm.wait();
        rms.push_back(msSince(t0));
      }
      std::sort(rms.begin(), rms.end());
      reorderMs = percentile(rms, 0.5);
    }

    // Keep the results observable so nothing is optimised away, and catch NaNs.
    double checksum = 0;
    auto sum = [&](const dnnl::memory &m) {
      const float *p = static_cast<const float *>(m.get_data_handle());
      size_t n = m.get_desc().get_size() / sizeof(float);
      for (size_t i = 0; i < n; ++i)
        checksum += p[i];
    };
    sum(dstLayer);
    for (auto &g : grads)
      sum(g);
    if (!(checksum == checksum)) {
      std::fprintf(stderr, "onednn_rnn_bench: output contains NaN\n");
      return 1;
    }

    double flops =
        (train ? 3.0 : 1.0) * 2.0 * double(B) * double(T) * double(G) * double(H) * double(I + H);
    double gflops = flops / (med * 1e-3) / 1e9;
    if (train)
      std::printf("{\"median_ms\":%.6g,\"p10_ms\":%.6g,\"p90_ms\":%.6g,\"gflops\":%.6g,"
                  "\"bwd_weights_reorder_ms\":%.6g}\n",
                  med, p10, p90, gflops, reorderMs);
    else
      std::printf("{\"median_ms\":%.6g,\"p10_ms\":%.6g,\"p90_ms\":%.6g,\"gflops\":%.6g}\n", med,
                  p10, p90, gflops);
  } catch (const dnnl::error &e) {
    std::fprintf(stderr, "onednn_rnn_bench: oneDNN error: %s (status %d)\n", e.what(),
                 (int)e.status);
    return 1;
  }
  return 0;
}
