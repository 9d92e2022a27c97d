#pragma once
// Keras's default weight initialisers, seeded and reproducible: the same seed gives the
// same weights on every machine (loom's own generator and distributions, not the standard
// library's implementation-defined ones). Each weight draws from its own stream derived
// from the seed and its key, so adding a layer does not change the others' weights.
#include "ir/IR.h"
#include "runtime/Npy.h"

#include "llvm/Support/Error.h"

#include <cstdint>

namespace loom::api {

/// One tensor per parameter of `f`, keyed "<binding>/<param>", in declaration order.
/// `maxMemory`: the most the weights may take (runtime/Limits.h; 0: the process-wide limit).
llvm::Expected<rt::NamedTensors> initWeights(const ir::Function &f, uint64_t seed,
                                             int64_t maxMemory = 0);

/// Fills `t` (already shaped) with initialiser `name` (zeros, ones, glorot_uniform,
/// glorot_normal, orthogonal, he_uniform, he_normal, lecun_uniform, lecun_normal).
llvm::Error initTensor(rt::Tensor &t, const std::string &name, uint64_t seed);

} // namespace loom::api
