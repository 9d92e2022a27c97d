#pragma once
// Helpers shared by the codegen tests (tests/unit/codegen_helpers.cpp): parsing IR text,
// random arguments, and the differential check against the reference interpreter.
#include "ir/IR.h"
#include "runtime/Tensor.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace loom::cgtest {

std::unique_ptr<ir::Module> parseIR(const std::string &text);
std::pair<std::vector<rt::Tensor>, std::vector<rt::Tensor>>
randomArgs(const ir::Function &f, const ir::SymbolMap &syms, uint32_t seed);
void expectClose(const rt::Tensor &got, const rt::Tensor &want, double tol,
                 const std::string &what);
void checkAgainstInterpreter(const ir::Function &f, const std::vector<ir::SymbolMap> &cases,
                             uint32_t seed, double tol);
/// Parses `text`, compiles its first function once and checks it against the interpreter
/// for every symbol binding in `cases`.
void checkText(const std::string &text, const std::vector<ir::SymbolMap> &cases, uint32_t seed = 1,
               double tol = 1e-5);

/// The LLVM IR codegen emits for `f` (optimised or not, for `targetCpu`: empty is the
/// default target, $LOOM_TARGET_CPU or native; also written to $LOOM_DUMP_LLVM/
/// <function>.ll when that is set); a test failure and "" when it cannot.
std::string llvmIR(const ir::Function &f, bool optimized = false,
                   const std::string &targetCpu = "");
/// How many times `needle` occurs in `text`.
size_t countOf(const std::string &text, const std::string &needle);
/// `text` with its one "REV" replaced by `rev` ("false" or "true": a loop's direction).
std::string withReverse(std::string text, const char *rev);

/// A SimpleRNN layer of 64 units over 5 features, lowered: one loop, its step's product by
/// the recurrent weight, the input projection and the bias add in the body.
inline const char *kSimpleRnn = R"(func @simple_rnn(%x: f32[B,T,5]) -> (y, h)
    params(%kernel: f32[5,64] "y/kernel" glorot_uniform,
           %recurrent_kernel: f32[64,64] "y/recurrent_kernel" orthogonal,
           %bias: f32[64] "y/bias" zeros) {
  %0 = fill {value = 0.0} : f32[B,64]
  %1, %2 = loop %0, %x {carries = 1, reverse = false, slices = 1, steps = dim<T>}
      (%h: f32[B,64], %xt: f32[B,5]) {
    %3 = matmul %xt, %kernel : f32[B,64]
    %4 = matmul %h, %recurrent_kernel : f32[B,64]
    %5 = add %3, %4 : f32[B,64]
    %6 = add %5, %bias : f32[B,64]
    %7 = tanh %6 : f32[B,64]
    yield %7, %7
  } : f32[B,64], f32[B,T,64]
  return %2, %1
}
)";

/// Batch sizes and sequence lengths the differential tests run every function at,
/// including empty batches and empty sequences.
inline const std::vector<ir::SymbolMap> kBT = {
    {{"B", 1}, {"T", 1}}, {{"B", 2}, {"T", 3}}, {{"B", 3}, {"T", 1}}, {{"B", 1}, {"T", 5}},
    {{"B", 5}, {"T", 9}}, {{"B", 2}, {"T", 0}}, {{"B", 0}, {"T", 2}}};

} // namespace loom::cgtest
