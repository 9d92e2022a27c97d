#pragma once
// The numbers of the `random_uniform` op: a counter-based generator, so that element i of
// a tensor is a pure function of (key, stream, i) and any backend can compute it on its
// own, in any order. The interpreter calls these functions; codegen (codegen/Elementwise.cpp)
// emits the same integer operations, so both give bit-identical tensors.
//
// Element i of stream s under key (k0, k1) is splitmix64's output number i + 1 from the
// state seed(k0, k1, s): mix(seed + (i + 1) * kGolden), its top 24 bits scaled by 2^-24,
// so a float in [0, 1) that a 24-bit mantissa holds exactly.
#include <cstdint>

namespace loom::rt::random {

/// splitmix64's increment (2^64 / golden ratio, odd).
inline constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;
/// Mixes the stream number before it is combined with the key.
inline constexpr uint64_t kStreamSalt = 0x632BE59BD9B4E019ull;

/// splitmix64's finalizer (Stafford's variant 13): a bijection of 64-bit words in which
/// every input bit affects every output bit.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// The generator state of one op: its key (two i32, as stored in the rng_key input) and its
/// stream number (the op's `stream` attribute).
inline uint64_t seed(int32_t k0, int32_t k1, int64_t stream) {
  uint64_t key = ((uint64_t)(uint32_t)k0 << 32) | (uint64_t)(uint32_t)k1;
  return mix64(key ^ mix64((uint64_t)stream + kStreamSalt));
}

/// Element `i` (row-major flat index) of the tensor with state `s`: uniform in [0, 1).
inline float uniform(uint64_t s, uint64_t i) {
  uint64_t z = mix64(s + (i + 1) * kGolden);
  return (float)(int32_t)(z >> 40) * 0x1p-24f;
}

} // namespace loom::rt::random
