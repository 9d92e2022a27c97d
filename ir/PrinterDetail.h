#pragma once
// Printer pieces shared by the verifier's messages and the Graphviz output
// (implemented in ir/Printer.cpp).
#include "ir/IR.h"

#include <string>
#include <unordered_map>

namespace loom::ir::detail {

using ValueNames = std::unordered_map<const Value *, std::string>;
/// The names print() gives every value of `f`.
ValueNames valueNames(const Function &f);
std::string valueRef(const Value *v, const ValueNames &names);
/// One op on one line, without its regions.
std::string printOpSummary(const Op &op, const ValueNames &names);
std::string printType(const Type &t);
std::string printDim(const Dim &d);

} // namespace loom::ir::detail
