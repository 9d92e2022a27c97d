#include "ir/Type.h"

#include <cassert>

namespace loom::ir {

std::optional<DType> parseDType(const std::string &s) {
  if (s == "f32")
    return DType::F32;
  if (s == "i32")
    return DType::I32;
  return std::nullopt;
}

std::string Dim::str() const { return isStatic() ? std::to_string(value_) : sym_; }

std::optional<int64_t> evalDim(const Dim &d, const SymbolMap &syms) {
  if (d.isStatic())
    return d.value();
  auto it = syms.find(d.symbol());
  if (it == syms.end())
    return std::nullopt;
  return it->second;
}

std::string Type::str() const {
  std::string s = dtypeName(dtype);
  s += '[';
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ',';
    s += shape[i].str();
  }
  s += ']';
  return s;
}

std::vector<int64_t> concreteShape(const Type &t, const SymbolMap &syms) {
  std::vector<int64_t> out;
  out.reserve(t.shape.size());
  for (const Dim &d : t.shape) {
    auto v = evalDim(d, syms);
    assert(v && "unbound symbol in concreteShape");
    out.push_back(*v);
  }
  return out;
}

} // namespace loom::ir
