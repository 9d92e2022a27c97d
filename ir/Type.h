#pragma once
// Element types, dimensions (static or symbolic) and tensor types.
#include "runtime/Tensor.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace loom::ir {

using rt::DType; // F32, I32: one element-type enum for the IR and the runtime
using rt::dtypeName;
std::optional<DType> parseDType(const std::string &s);
inline int64_t dtypeSize(DType) { return 4; }

/// A dimension: a known size, a symbol (like B or T) bound when the model is called, or
/// an expression of those (the output length of a strided convolution: (T - 5) / 2 + 1).
/// Expressions over constants fold when built, so a Dim is static iff its size is known.
class Dim {
public:
  enum class Kind : uint8_t { Const, Sym, Add, Sub, Mul, Div }; // Div: floor division

  Dim() = default;
  static Dim constant(int64_t v) {
    Dim d;
    d.value_ = v;
    return d;
  }
  static Dim symbol(std::string name) {
    Dim d;
    d.kind_ = Kind::Sym;
    d.sym_ = std::move(name);
    return d;
  }
  /// a op b, folded when both are static (and x + 0, x * 1, x / 1 simplified).
  static Dim binary(Kind op, const Dim &a, const Dim &b);

  Kind kind() const { return kind_; }
  bool isStatic() const { return kind_ == Kind::Const; }
  bool isSymbol() const { return kind_ == Kind::Sym; }
  int64_t value() const { return value_; }           // only if isStatic()
  const std::string &symbol() const { return sym_; } // only if isSymbol()
  const Dim &lhs() const { return ops_->first; }     // only for expressions
  const Dim &rhs() const { return ops_->second; }
  /// "64", "T", "(T - 5) / 2 + 1": the form ir/TextParser reads back.
  std::string str() const;
  bool operator==(const Dim &o) const;
  bool operator!=(const Dim &o) const { return !(*this == o); }

private:
  Kind kind_ = Kind::Const;
  int64_t value_ = 0;
  std::string sym_;
  std::shared_ptr<const std::pair<Dim, Dim>> ops_;
};

Dim operator+(const Dim &a, const Dim &b);
Dim operator-(const Dim &a, const Dim &b);
Dim operator*(const Dim &a, const Dim &b);
/// Floor division (dims are never negative).
Dim operator/(const Dim &a, const Dim &b);
/// The symbols `d` mentions, appended to `out` without duplicates.
void collectSymbols(const Dim &d, std::vector<std::string> &out);

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
