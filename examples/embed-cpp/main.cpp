// A C++ host embedding loom: JIT-compile a model file, load its weights, run it on inputs
// made here (the host's own buffers, passed without a copy), print the outputs.
//
//   embed-cpp [MODEL.loom] [WEIGHTS.npz]
//
// Without WEIGHTS.npz the weights are initialised as `loom init --seed 1` would. Symbolic
// dims get B = 2, T = 4 and any other symbol 3; input element i is ((7 i) mod 11 - 5) / 8
// for f32 and 1 + (i mod 3) for i32, so `loom run` can be given the same inputs.
#include <loom/loom.h>

#include <cstdio>
#include <string>
#include <vector>

#ifndef LOOM_EXAMPLE_MODEL
#define LOOM_EXAMPLE_MODEL "simple_rnn.loom"
#endif

namespace {

int fail(const loom::Error &e) {
  std::fprintf(stderr, "embed-cpp: %s\n", e.message().c_str());
  return 1;
}

int64_t sizeOf(const loom::Dim &d) {
  if (d.isStatic())
    return d.size;
  return d.symbol == "B" ? 2 : d.symbol == "T" ? 4 : 3;
}

void print(const std::string &name, const loom::Tensor &t) {
  std::printf("%s: %s\n", name.c_str(), t.describe().c_str());
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (t.dtype() == loom::DType::F32)
      std::printf("%s%.9g", i % 8 ? " " : "  ", t.f32()[i]);
    else
      std::printf("%s%d", i % 8 ? " " : "  ", t.i32()[i]);
    if (i % 8 == 7 || i + 1 == t.numel())
      std::printf("\n");
  }
}

} // namespace

int main(int argc, char **argv) {
  std::string modelPath = argc > 1 ? argv[1] : LOOM_EXAMPLE_MODEL;
  loom::Result<loom::Model> model = loom::Model::fromFile(modelPath);
  if (!model)
    return fail(model.error());

  std::printf("model %s (compiled in %.3f s)\n", model->name().c_str(), model->compileSeconds());
  for (const loom::TensorInfo &i : model->inputs())
    std::printf("  input  %s: %s\n", i.name.c_str(), i.typeStr().c_str());
  for (const loom::TensorInfo &o : model->outputs())
    std::printf("  output %s: %s\n", o.name.c_str(), o.typeStr().c_str());
  for (const loom::TensorInfo &w : model->weights())
    std::printf("  weight %s: %s\n", w.name.c_str(), w.typeStr().c_str());

  if (argc > 2) {
    if (loom::Error e = model->loadWeights(argv[2]))
      return fail(e);
  } else if (loom::Error e = model->initWeights(1)) {
    return fail(e);
  }

  // The host's buffers: plain vectors, borrowed by the run (no copy).
  std::vector<std::vector<float>> f32Data;
  std::vector<std::vector<int32_t>> i32Data;
  std::vector<loom::NamedView> inputs;
  f32Data.reserve(model->inputs().size()); // the views point into these: no reallocation
  i32Data.reserve(model->inputs().size());
  for (const loom::TensorInfo &info : model->inputs()) {
    std::vector<int64_t> shape;
    int64_t n = 1;
    for (const loom::Dim &d : info.shape) {
      shape.push_back(sizeOf(d));
      n *= shape.back();
    }
    if (info.dtype == loom::DType::F32) {
      std::vector<float> v((size_t)n);
      for (int64_t i = 0; i < n; ++i)
        v[i] = (float)((7 * i) % 11 - 5) / 8.0f;
      f32Data.push_back(std::move(v));
      inputs.push_back({info.name, loom::TensorView(f32Data.back().data(), shape)});
    } else {
      std::vector<int32_t> v((size_t)n);
      for (int64_t i = 0; i < n; ++i)
        v[i] = 1 + (int32_t)(i % 3);
      i32Data.push_back(std::move(v));
      inputs.push_back({info.name, loom::TensorView(i32Data.back().data(), shape)});
    }
  }

  loom::Result<std::vector<loom::NamedTensor>> outputs = model->run(inputs);
  if (!outputs)
    return fail(outputs.error());
  for (const loom::NamedTensor &out : *outputs)
    print(out.name, out.tensor);
  return 0;
}
