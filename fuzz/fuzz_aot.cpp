// libFuzzer target: the weights file an AOT object loads (runtime/Aot.cpp's
// loom_aot_create with a weights path: the .npz read, each weight found by key, its dtype
// and shape checked against the object's descriptor, no other array allowed), then one
// run whose entry reads every weight in full, as the compiled code would.
//
// The descriptor is written here the way codegen/Object.cpp emits it for a small dense
// model: x f32[B,5] -> y f32[B,4] with weights y/kernel f32[5,4], y/bias f32[4] and an
// i32 table ids i32[2,3]. The input is written to a file of this process's own (the reader
// takes a path) and the real entry point is called.
#include "runtime/Aot.h"
#include "runtime/Limits.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace {

// Dim programs: CONST v END, or SYM i END.
const int64_t kB[] = {LOOM_AOT_SYM, 0, LOOM_AOT_END};
const int64_t kShapeX[] = {LOOM_AOT_SYM, 0, LOOM_AOT_END, LOOM_AOT_CONST, 5, LOOM_AOT_END};
const int64_t kShapeY[] = {LOOM_AOT_SYM, 0, LOOM_AOT_END, LOOM_AOT_CONST, 4, LOOM_AOT_END};
const int64_t kShapeKernel[] = {LOOM_AOT_CONST, 5, LOOM_AOT_END, LOOM_AOT_CONST, 4, LOOM_AOT_END};
const int64_t kShapeBias[] = {LOOM_AOT_CONST, 4, LOOM_AOT_END};
const int64_t kShapeIds[] = {LOOM_AOT_CONST, 2, LOOM_AOT_END, LOOM_AOT_CONST, 3, LOOM_AOT_END};
const char *const kSymbols[] = {"B"};
const loom_aot_tensor kInputs[] = {{"x", "f32[B,5]", LOOM_AOT_F32, 2, kShapeX, nullptr}};
const loom_aot_tensor kOutputs[] = {{"y", "f32[B,4]", LOOM_AOT_F32, 2, kShapeY, nullptr}};
const loom_aot_tensor kParams[] = {
    {"y/kernel", "f32[5,4]", LOOM_AOT_F32, 2, kShapeKernel, nullptr},
    {"y/bias", "f32[4]", LOOM_AOT_F32, 1, kShapeBias, nullptr},
    {"ids", "i32[2,3]", LOOM_AOT_I32, 2, kShapeIds, nullptr},
};
const loom_aot_check kChecks[] = {{kB, 1, "B must be at least 1, got "}};

// y = x @ kernel + bias + ids[1][2]: every weight element is read.
void entry(loom_rt_ctx *, const int64_t *syms, void *const *inputs, void *const *params,
           void *const *outputs) {
  const auto *x = static_cast<const float *>(inputs[0]);
  const auto *k = static_cast<const float *>(params[0]);
  const auto *b = static_cast<const float *>(params[1]);
  const auto *ids = static_cast<const int32_t *>(params[2]);
  auto *y = static_cast<float *>(outputs[0]);
  int32_t idSum = 0;
  for (int i = 0; i < 6; ++i)
    idSum += ids[i] & 1;
  for (int64_t r = 0; r < syms[0]; ++r)
    for (int j = 0; j < 4; ++j) {
      float s = b[j] + (float)idSum;
      for (int i = 0; i < 5; ++i)
        s += x[r * 5 + i] * k[i * 4 + j];
      y[r * 4 + j] = s;
    }
}

const loom_aot_model kModel = {LOOM_AOT_ABI_VERSION,
                               "fuzz",
                               "dense",
                               1,
                               kSymbols,
                               1,
                               kInputs,
                               3,
                               kParams,
                               1,
                               kOutputs,
                               1,
                               kChecks,
                               /*weights_embedded=*/0,
                               entry,
                               /*required_isa=*/""};

std::string path;

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  const char *dir = std::getenv("TMPDIR");
  path = std::string(dir && *dir ? dir : "/tmp") + "/loom-fuzz-aot-" + std::to_string(getpid()) +
         ".npz";
  std::atexit([] { std::remove(path.c_str()); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  loom::rt::setMemoryLimit(64 << 20);
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f)
    __builtin_trap();
  if (size && std::fwrite(data, 1, size, f) != size)
    __builtin_trap();
  std::fclose(f);

  loom_aot_ctx *ctx = nullptr;
  int rc = loom_aot_create(&kModel, path.c_str(), &ctx);
  if (rc == LOOM_AOT_OK) {
    const int64_t sizes[] = {2};
    float x[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, y[8];
    const void *ins[] = {x};
    void *outs[] = {y};
    if (loom_aot_run(ctx, sizes, ins, outs) != LOOM_AOT_OK)
      __builtin_trap(); // weights that create accepted must run
  } else if (rc != LOOM_AOT_ERR_WEIGHTS && rc != LOOM_AOT_ERR_OUT_OF_MEMORY) {
    __builtin_trap(); // a bad weights file is a weights error, nothing else
  }
  if (ctx && rc != LOOM_AOT_OK && !*loom_aot_error_message(ctx))
    __builtin_trap(); // every failure says why
  loom_aot_destroy(ctx);
  return 0;
}
