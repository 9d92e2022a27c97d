// libFuzzer target: one .npz archive (stored or deflated members) through the reader
// (runtime/Npz.cpp, libzip). The memory limit is low so that a zip bomb is an error.
#include "runtime/Limits.h"
#include "runtime/Npy.h"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  loom::rt::setMemoryLimit(64 << 20);
  loom::rt::NamedTensors out;
  loom::rt::Status s = loom::rt::parseNpz("fuzz.npz", data, size, out);
  (void)s;
  return 0;
}
