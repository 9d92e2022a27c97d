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

/// Batch sizes and sequence lengths the differential tests run every function at,
/// including empty batches and empty sequences.
inline const std::vector<ir::SymbolMap> kBT = {
    {{"B", 1}, {"T", 1}}, {{"B", 2}, {"T", 3}}, {{"B", 3}, {"T", 1}}, {{"B", 1}, {"T", 5}},
    {{"B", 5}, {"T", 9}}, {{"B", 2}, {"T", 0}}, {{"B", 0}, {"T", 2}}};

} // namespace loom::cgtest
