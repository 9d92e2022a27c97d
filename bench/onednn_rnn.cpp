// onednn_rnn_bench: times one oneDNN 2.6.3 RNN forward-inference primitive (the peer that
// loom's compiled LSTM/GRU layers are measured against; see bench/README.md).
//
//   onednn_rnn_bench --cell lstm|gru|lbr_gru --batch B --time T --input I --hidden H
//                    [--iters N] [--warmup W]
//
// One layer, one direction, zero initial state (explicit zero tensors), every step's output
// (dst_layer [T, B, H], format tnc). Weights and bias are created in the canonical ldigo / ldgo
// formats and reordered into the layouts oneDNN chooses (format_tag::any) before timing. Only
// the primitive's execute (+ stream wait) is inside the timed loop. Threads come from
// OMP_NUM_THREADS (oneDNN threads with OpenMP).
//
// Prints one line of JSON: {"median_ms":..,"p10_ms":..,"p90_ms":..,"gflops":..} where
// gflops = 2·B·T·G·H·(I+H) / median (G = 4 for LSTM, 3 for both GRU variants).
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
};

[[noreturn]] void usage(const char *msg) {
  std::fprintf(stderr,
               "onednn_rnn_bench: %s\n"
               "usage: onednn_rnn_bench --cell lstm|gru|lbr_gru --batch B --time T --input I "
               "--hidden H [--iters N] [--warmup W]\n",
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

int main(int argc, char **argv) {
  Args a = parseArgs(argc, argv);
  const int64_t B = a.batch, T = a.time, I = a.input, H = a.hidden;
  const bool lstm = a.cell == "lstm";
  const bool lbr = a.cell == "lbr_gru";
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
    // Weights in layouts chosen by oneDNN.
    dnnl::memory::desc wLayerAnyMd({L, D, I, G, H}, dt::f32, tag::any);
    dnnl::memory::desc wIterAnyMd({L, D, H, G, H}, dt::f32, tag::any);
    dnnl::memory::desc none; // zero md: output not requested

    const auto prop = dnnl::prop_kind::forward_inference;
    const auto dir = dnnl::rnn_direction::unidirectional_left2right;

    dnnl::primitive prim;
    dnnl::memory::desc wLayerMd, wIterMd, scratchMd;
    if (lstm) {
      dnnl::lstm_forward::desc d(prop, dir, srcLayerMd, srcIterMd, srcIterMd, wLayerAnyMd,
                                 wIterAnyMd, biasMd, dstLayerMd, none, none);
      dnnl::lstm_forward::primitive_desc pd(d, eng);
      wLayerMd = pd.weights_layer_desc();
      wIterMd = pd.weights_iter_desc();
      scratchMd = pd.scratchpad_desc();
      prim = dnnl::lstm_forward(pd);
    } else if (lbr) {
      dnnl::lbr_gru_forward::desc d(prop, dir, srcLayerMd, srcIterMd, wLayerAnyMd, wIterAnyMd,
                                    biasMd, dstLayerMd, none);
      dnnl::lbr_gru_forward::primitive_desc pd(d, eng);
      wLayerMd = pd.weights_layer_desc();
      wIterMd = pd.weights_iter_desc();
      scratchMd = pd.scratchpad_desc();
      prim = dnnl::lbr_gru_forward(pd);
    } else {
      dnnl::gru_forward::desc d(prop, dir, srcLayerMd, srcIterMd, wLayerAnyMd, wIterAnyMd, biasMd,
                                dstLayerMd, none);
      dnnl::gru_forward::primitive_desc pd(d, eng);
      wLayerMd = pd.weights_layer_desc();
      wIterMd = pd.weights_iter_desc();
      scratchMd = pd.scratchpad_desc();
      prim = dnnl::gru_forward(pd);
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
    dnnl::memory wLayer(wLayerMd, eng), wIter(wIterMd, eng);
    dnnl::reorder(wLayerUser, wLayer).execute(strm, wLayerUser, wLayer);
    dnnl::reorder(wIterUser, wIter).execute(strm, wIterUser, wIter);
    strm.wait();
    dnnl::memory scratch(scratchMd, eng);

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

    for (int i = 0; i < a.warmup; ++i)
      prim.execute(strm, args);
    strm.wait();

    std::vector<double> ms;
    ms.reserve(a.iters);
    for (int i = 0; i < a.iters; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      prim.execute(strm, args);
      strm.wait();
      auto t1 = std::chrono::steady_clock::now();
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    double med = percentile(ms, 0.5), p10 = percentile(ms, 0.1), p90 = percentile(ms, 0.9);

    // Keep the result observable so nothing is optimised away, and catch NaNs.
    const float *y = static_cast<const float *>(dstLayer.get_data_handle());
    double checksum = 0;
    for (int64_t i = 0; i < T * B * H; ++i)
      checksum += y[i];
    if (!(checksum == checksum)) {
      std::fprintf(stderr, "onednn_rnn_bench: output contains NaN\n");
      return 1;
    }

    double flops = 2.0 * double(B) * double(T) * double(G) * double(H) * double(I + H);
    double gflops = flops / (med * 1e-3) / 1e9;
    std::printf("{\"median_ms\":%.6g,\"p10_ms\":%.6g,\"p90_ms\":%.6g,\"gflops\":%.6g}\n", med, p10,
                p90, gflops);
  } catch (const dnnl::error &e) {
    std::fprintf(stderr, "onednn_rnn_bench: oneDNN error: %s (status %d)\n", e.what(),
                 (int)e.status);
    return 1;
  }
  return 0;
}
