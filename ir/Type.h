#pragma once
// Element types, dimensions (static or symbolic) and tensor types.
#include "runtime/Tensor.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace loom::ir {

using rt::DType; // F32, I32: one element-type enum for the IR and the runtime
using rt::dtypeName;
std::optional<DType> parseDType(const std::string &s);
inline int64_t dtypeSize(DType) { return 4; }

/// A dimension: a known size or a symbol (like B or T) bound when the model is called.
class Dim {
public:
  Dim() = default;
  static Dim constant(int64_t v) {
    Dim d;
    d.value_ = v;
    return d;
  }
  static Dim symbol(std::string name) {
    Dim d;
    d.sym_ = std::move(name);
    return d;
  }
  bool isStatic() const { return sym_.empty(); }
  int64_t value() const { return value_; }           // only if isStatic()
  const std::string &symbol() const { return sym_; } // only if !isStatic()
  std::string str() const;
  bool operator==(const Dim &o) const {
    return sym_ == o.sym_ && (!isStatic() || value_ == o.value_);
  }
  bool operator!=(const Dim &o) const { return !(*this == o); }

private:
  int64_t value_ = 0;
  std::string sym_;
};

/// Values of the symbolic dims for one call.
using SymbolMap = std::map<std::string, int64_t>;
/// The size of `d` under `syms`; nullopt if a symbol is unbound.
std::optional<int64_t> evalDim(const Dim &d, const SymbolMap &syms);

struct Type {
  DType dtype = DType::F32;
  std::vector<Dim> shape;

  int64_t rank() const { return (int64_t)shape.size(); }
  std::string str() const; // "f32[B,T,5]"
  bool operator==(const Type &o) const { return dtype == o.dtype && shape == o.shape; }
  bool operator!=(const Type &o) const { return !(*this == o); }
};

/// Concrete shape of `t` under `syms` (asserts every symbol is bound).
std::vector<int64_t> concreteShape(const Type &t, const SymbolMap &syms);

} // namespace loom::ir
