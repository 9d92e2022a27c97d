// libFuzzer target: a training-data .npz checked against a model's inputs and targets,
// what `loom train` and `loom eval` do before anything runs (api/TrainData.cpp's
// makeDataset: every array present and no other, dtypes, ranks, static dims, one row
// count, symbols bound consistently, expression dims, labels in range), then batches cut
// from an accepted dataset in a shuffled order, as an epoch does.
//
// The first byte picks one of four slot lists (the shapes real models have: a sequence
// regression, token ids with sparse labels, a strided convolution's (T - 5) / 2 + 1 time
// axis, per-step labels); the rest is the archive.
#include "api/TrainData.h"
#include "runtime/Limits.h"
#include "runtime/Npy.h"

#include <cstdint>
#include <vector>

namespace {

using loom::api::DataSlot;
using loom::ir::Dim;
using loom::ir::DType;
using loom::ir::Type;

DataSlot slot(const char *name, DType dtype, std::vector<Dim> shape, bool target = false,
              int64_t classes = 0) {
  DataSlot s;
  s.name = name;
  s.type.dtype = dtype;
  s.type.shape = std::move(shape);
  s.target = target;
  s.classes = classes;
  return s;
}

std::vector<std::vector<DataSlot>> slotLists() {
  Dim B = Dim::symbol("B"), T = Dim::symbol("T"), c = Dim::constant(1);
  return {
      {slot("x", DType::F32, {B, T, Dim::constant(5)}),
       slot("t", DType::F32, {B, c}, /*target=*/true)},
      {slot("tokens", DType::I32, {B, T}), slot("label", DType::I32, {B}, true, 4)},
      {slot("x", DType::F32, {B, T, Dim::constant(3)}),
       slot("t", DType::F32, {B, (T - Dim::constant(5)) / Dim::constant(2) + c, Dim::constant(2)},
            true)},
      {slot("x", DType::F32, {B, Dim::constant(3)}), slot("y", DType::I32, {B, T}, true, 7)},
  };
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const std::vector<std::vector<DataSlot>> lists = slotLists();
  if (size < 1)
    return 0;
  loom::rt::setMemoryLimit(64 << 20);
  const std::vector<DataSlot> &slots = lists[data[0] % lists.size()];
  loom::rt::NamedTensors arrays;
  if (loom::rt::parseNpz("fuzz.npz", data + 1, size - 1, arrays))
    return 0;
  auto d = loom::api::makeDataset("fuzz.npz", arrays, slots);
  if (!d) {
    llvm::consumeError(d.takeError());
    return 0;
  }
  // An accepted dataset: every batch of an epoch, every byte of it read.
  std::vector<int64_t> order = loom::api::epochOrder(d->rows, true, data[0], 1);
  volatile uint8_t sum = 0;
  for (int64_t begin = 0; begin < d->rows; begin += 3) {
    int64_t end = std::min(d->rows, begin + 3);
    for (const loom::rt::Tensor &t : loom::api::gather(*d, order, begin, end)) {
      if (t.shape().empty() || t.shape()[0] != end - begin)
        __builtin_trap(); // a batch must have one row per example
      const auto *p = static_cast<const uint8_t *>(t.data());
      for (size_t i = 0; i < t.bytes(); ++i)
        sum += p[i];
    }
  }
  return 0;
}
