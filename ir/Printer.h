#pragma once
// The textual IR. print() output parses back (ir/TextParser.h) to a module that prints
// identically. Format (MLIR generic-op style):
//
//   func @simple_rnn(%x: f32[B,T,5]) -> (y)
//       params(%kernel: f32[5,64] "y/kernel" glorot_uniform, ...) {
//     %0 = fill {value = 0.0} : f32[B,64]
//     %1, %2 = loop %0, %x {carries = 1, reverse = false, slices = 1, steps = dim<T>}
//         (%h: f32[B,64], %xt: f32[B,5]) {
//       %3 = matmul %xt, %kernel : f32[B,64]
//       ...
//       yield %5, %5
//     } : f32[B,64], f32[B,T,64]
//     return %2
//   }
//
// Attribute values: integers (64), floats (always with '.' or exponent: 0.0, 1e-05),
// true/false, strings ("f32"), dims (T or 64 as `dim<T>` / `dim<64>`).
#include "ir/IR.h"

#include <string>

namespace loom::ir {

std::string print(const Module &m);
std::string print(const Function &f);
/// Graphviz dot: ops as nodes, values as edges, region ops as clusters.
std::string printDot(const Module &m);

} // namespace loom::ir
