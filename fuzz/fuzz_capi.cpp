// libFuzzer target: the C API's run entry (api/LoomC.cpp) with arbitrary arguments: input
// names (known, unknown, null), dtypes, ranks and dims (negative, zero, huge, null), data
// pointers to buffers of exactly the stated size (or null), then a run and every output
// read in full by the shape the API returns. Both the model's own call
// (loom_model_set_input/run/get_output) and a separate loom_call are driven.
//
// The model, compiled once in LLVMFuzzerInitialize, has an f32 sequence, i32 lengths (run
// time checks: a length outside [0, T]) and a strided convolution ((T - 3) / 2 + 1 steps).
// A stated size beyond 64 KiB is not passed on: the caller could not own such a buffer here.
#include "loom/loom_c.h"
#include "runtime/Limits.h"

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

namespace {

const char *const kSource = R"(
model fuzz(x: f32[B, T, 3], lengths: i32[B]) -> (y: f32[B, T, 4], z) {
  y = gru(x, units=4, lengths=lengths, return_sequences=true)
  z = conv1d(x, filters=2, kernel_size=3, strides=2)
}
)";

loom_model *model = nullptr;

constexpr int64_t kMaxBytes = 64 << 10;

/// Bytes for `rank` dims of 4-byte elements, or -1 if beyond kMaxBytes (or negative).
int64_t statedBytes(int64_t rank, const int64_t *dims) {
  int64_t n = 4;
  for (int64_t i = 0; i < rank; ++i) {
    if (dims[i] < 0)
      return 0; // refused by the API before any data is read; any pointer will do
    if (dims[i] == 0)
      return 0;
  }
  for (int64_t i = 0; i < rank; ++i) {
    if (dims[i] > kMaxBytes || n * dims[i] > kMaxBytes)
      return -1;
    n *= dims[i];
  }
  return n;
}

int64_t fuzzDim(FuzzedDataProvider &in) {
  switch (in.ConsumeIntegralInRange<int>(0, 7)) {
  case 0:
    return in.ConsumeIntegral<int64_t>();
  case 1:
    return -in.ConsumeIntegralInRange<int64_t>(1, 3);
  default:
    return in.ConsumeIntegralInRange<int64_t>(0, 9);
  }
}

/// Every input of the model's own call set to an empty tensor: the state each fuzz input
/// starts from.
void resetOwnInputs() {
  static const int64_t zero[] = {0};
  loom_model_set_input(model, "x", nullptr, LOOM_F32, 1, zero);
  loom_model_set_input(model, "lengths", nullptr, LOOM_I32, 1, zero);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  setenv("OMP_NUM_THREADS", "1", 1);
  loom::rt::setMemoryLimit(256 << 20);
  if (loom_model_create_from_source(kSource, "fuzz.loom", "", &model) != LOOM_OK ||
      loom_model_init_weights(model, 1) != LOOM_OK) {
    std::fprintf(stderr, "fuzz_capi: cannot compile the model: %s\n", loom_last_error());
    std::abort();
  }
  resetOwnInputs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FuzzedDataProvider in(data, size);
  loom_call *call = nullptr;
  bool own = in.ConsumeBool();
  if (!own && loom_call_create(model, &call) != LOOM_OK)
    __builtin_trap();
  std::vector<std::unique_ptr<uint8_t[]>> buffers; // live until the run
  int steps = in.ConsumeIntegralInRange(1, 6);
  for (int step = 0; step < steps && in.remaining_bytes(); ++step) {
    int op = in.ConsumeIntegralInRange(0, 3);
    if (op <= 1) { // set an input
      static const char *const names[] = {"x", "lengths", "y", "nope", nullptr};
      const char *name = names[in.ConsumeIntegralInRange(0, 4)];
      int dt = in.ConsumeIntegralInRange(0, 5);
      auto dtype = (loom_dtype)(dt <= 3 ? dt % 2 : dt == 4 ? -1 : 7);
      int64_t rank = in.ConsumeIntegralInRange<int64_t>(-1, 5);
      if (in.ConsumeIntegralInRange(0, 15) == 0)
        rank = in.ConsumeIntegral<int64_t>();
      std::vector<int64_t> dims;
      for (int64_t i = 0; i < std::min<int64_t>(std::max<int64_t>(rank, 0), 65); ++i)
        dims.push_back(fuzzDim(in));
      const int64_t *dimsPtr = dims.empty() && in.ConsumeBool() ? nullptr : dims.data();
      int64_t bytes = rank >= 0 && rank <= 65 ? statedBytes(rank, dims.data()) : 0;
      if (bytes < 0)
        continue;
      const void *ptr = nullptr;
      if (bytes > 0 || in.ConsumeIntegralInRange(0, 7) != 0) {
        // Exactly the stated size (a zero-size buffer for an empty tensor): ASan reports
        // any read past it. The contents are the fuzzer's (lengths matter).
        buffers.emplace_back(new uint8_t[bytes ? bytes : 1]);
        std::vector<uint8_t> fill = in.ConsumeBytes<uint8_t>((size_t)bytes);
        if (!fill.empty())
          std::memcpy(buffers.back().get(), fill.data(), fill.size());
        std::memset(buffers.back().get() + fill.size(), 0, (size_t)bytes - fill.size());
        ptr = buffers.back().get();
        if (in.ConsumeIntegralInRange(0, 15) == 0)
          ptr = nullptr;
      }
      loom_status s = own ? loom_model_set_input(model, name, ptr, dtype, rank, dimsPtr)
                          : loom_call_set_input(call, name, ptr, dtype, rank, dimsPtr);
      const char *msg = own ? loom_model_last_error(model) : loom_call_last_error(call);
      if (s != LOOM_OK && !*msg)
        __builtin_trap(); // every failure says why
      continue;
    }
    loom_status s = own ? loom_model_run(model) : loom_call_run(call);
    const char *msg = own ? loom_model_last_error(model) : loom_call_last_error(call);
    if (s != LOOM_OK && !*msg)
      __builtin_trap();
    if (s == LOOM_ERROR_INTERNAL)
      __builtin_trap(); // an exception or a bug, not a refusal of bad arguments
    for (const char *out : {"y", "z", "x"}) {
      const void *p = nullptr;
      loom_dtype dtype;
      int64_t rank = 0;
      const int64_t *dims = nullptr;
      loom_status g = own ? loom_model_get_output(model, out, &p, &dtype, &rank, &dims)
                          : loom_call_get_output(call, out, &p, &dtype, &rank, &dims);
      if (g != LOOM_OK)
        continue;
      int64_t n = 1;
      for (int64_t i = 0; i < rank; ++i)
        n *= dims[i];
      volatile uint8_t sum = 0;
      for (int64_t i = 0; i < n * 4; ++i)
        sum += static_cast<const uint8_t *>(p)[i];
    }
  }
  // The model's own call keeps the inputs' views: empty them before the buffers go.
  if (own)
    resetOwnInputs();
  loom_call_free(call);
  return 0;
}
