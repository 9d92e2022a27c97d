// libFuzzer target: one .npy image through the reader (runtime/Npy.cpp). Any input must
// give a tensor or an error, never a crash, a sanitizer report or an allocation beyond
// the input's size times 4 (the memory limit is set low so a wrong size check shows).
#include "runtime/Limits.h"
#include "runtime/Npy.h"

#include <cstdint>
#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  loom::rt::setMemoryLimit(64 << 20);
  loom::rt::Tensor t;
  loom::rt::Status s = loom::rt::parseNpy("fuzz.npy", data, size, t);
  if (!s && t.bytes() && t.data()) {
    // Touch every element: a tensor that claims more than it holds shows under ASan.
    volatile uint8_t sum = 0;
    const uint8_t *p = static_cast<const uint8_t *>(t.data());
    for (size_t i = 0; i < t.bytes(); ++i)
      sum += p[i];
  }
  return 0;
}
