// The cost of one call of a small compiled model through the C++ API: the baseline that
// bench/python_overhead.py compares `import loom` against. Prints the median microseconds
// per call of Model::run over `calls` calls (after warm-up), one line.
//   api_call_bench MODEL.loom B T [calls]
#include <loom/loom.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char **argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: api_call_bench MODEL.loom B T [calls]\n");
    return 2;
  }
  auto m = loom::Model::fromFile(argv[1]);
  if (!m || m->initWeights(1)) {
    std::fprintf(stderr, "%s\n", m ? "initWeights failed" : m.error().message().c_str());
    return 1;
  }
  int64_t b = std::atoll(argv[2]), t = std::atoll(argv[3]);
  int calls = argc > 4 ? std::atoi(argv[4]) : 20000;
  const loom::TensorInfo &in = m->inputs()[0];
  std::vector<int64_t> shape;
  for (const loom::Dim &d : in.shape)
    shape.push_back(d.isStatic() ? d.size : (d.symbol == "T" ? t : b));
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  std::vector<float> xf(n, 0.5f);
  std::vector<int32_t> xi(n, 1);
  loom::TensorView v = in.dtype == loom::DType::F32 ? loom::TensorView(xf.data(), shape)
                                                    : loom::TensorView(xi.data(), shape);
  std::vector<double> us;
  for (int i = 0; i < calls + calls / 10; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto out = m->run({{in.name, v}});
    auto t1 = std::chrono::steady_clock::now();
    if (!out) {
      std::fprintf(stderr, "%s\n", out.error().message().c_str());
      return 1;
    }
    if (i >= calls / 10)
      us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  std::nth_element(us.begin(), us.begin() + us.size() / 2, us.end());
  std::printf("%.3f\n", us[us.size() / 2]);
  return 0;
}
