#include "ir/Type.h"

#include <algorithm>
#include <cassert>

namespace loom::ir {

std::optional<DType> parseDType(const std::string &s) {
  if (s == "f32")
    return DType::F32;
  if (s == "i32")
    return DType::I32;
  return std::nullopt;
}

namespace {
int precedence(Dim::Kind k) {
  switch (k) {
  case Dim::Kind::Add:
  case Dim::Kind::Sub:
    return 1;
  case Dim::Kind::Mul:
  case Dim::Kind::Div:
    return 2;
  default:
    return 3;
  }
}
const char *opText(Dim::Kind k) {
  switch (k) {
  case Dim::Kind::Add:
    return " + ";
  case Dim::Kind::Sub:
    return " - ";
  case Dim::Kind::Mul:
    return " * ";
  default:
    return " / ";
  }
}
int64_t floorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
} // namespace

Dim Dim::binary(Kind op, const Dim &a, const Dim &b) {
  assert(op != Kind::Const && op != Kind::Sym && "binary needs an operator");
  // Constants fold unless the result overflows int64 (found by fuzzing the IR parser);
  // then the expression stays unfolded and the parser reports it.
  if (a.isStatic() && b.isStatic()) {
    int64_t x = a.value(), y = b.value(), r;
    bool overflow = false;
    switch (op) {
    case Kind::Add:
      overflow = __builtin_add_overflow(x, y, &r);
      break;
    case Kind::Sub:
      overflow = __builtin_sub_overflow(x, y, &r);
      break;
    case Kind::Mul:
      overflow = __builtin_mul_overflow(x, y, &r);
      break;
    default:
      assert(y != 0 && "dim division by zero");
      overflow = x == INT64_MIN && y == -1;
      r = overflow ? 0 : floorDiv(x, y);
    }
    if (!overflow)
      return constant(r);
  }
  // (x +- c1) +- c2 becomes x +- c, so that same and causal padding give back T.
  int64_t c1, c2, c;
  if (b.isStatic() && (op == Kind::Add || op == Kind::Sub) &&
      (a.kind() == Kind::Add || a.kind() == Kind::Sub) && a.rhs().isStatic() &&
      !__builtin_mul_overflow(a.rhs().value(), a.kind() == Kind::Add ? 1 : -1, &c1) &&
      !__builtin_mul_overflow(b.value(), op == Kind::Add ? 1 : -1, &c2) &&
      !__builtin_add_overflow(c1, c2, &c) && c != INT64_MIN) {
    return c >= 0 ? binary(Kind::Add, a.lhs(), constant(c))
                  : binary(Kind::Sub, a.lhs(), constant(-c));
  }
  if (b.isStatic() && ((b.value() == 0 && (op == Kind::Add || op == Kind::Sub)) ||
                       (b.value() == 1 && (op == Kind::Mul || op == Kind::Div))))
    return a;
  if (a.isStatic() && ((a.value() == 0 && op == Kind::Add) || (a.value() == 1 && op == Kind::Mul)))
    return b;
  Dim d;
  d.kind_ = op;
  d.ops_ = std::make_shared<const std::pair<Dim, Dim>>(a, b);
  return d;
}

Dim operator+(const Dim &a, const Dim &b) { return Dim::binary(Dim::Kind::Add, a, b); }
Dim operator-(const Dim &a, const Dim &b) { return Dim::binary(Dim::Kind::Sub, a, b); }
Dim operator*(const Dim &a, const Dim &b) { return Dim::binary(Dim::Kind::Mul, a, b); }
Dim operator/(const Dim &a, const Dim &b) { return Dim::binary(Dim::Kind::Div, a, b); }

bool Dim::operator==(const Dim &o) const {
  if (kind_ != o.kind_)
    return false;
  switch (kind_) {
  case Kind::Const:
    return value_ == o.value_;
  case Kind::Sym:
    return sym_ == o.sym_;
  default:
    return lhs() == o.lhs() && rhs() == o.rhs();
  }
}

std::string Dim::str() const {
  switch (kind_) {
  case Kind::Const:
    return std::to_string(value_);
  case Kind::Sym:
    return sym_;
  default: {
    int p = precedence(kind_);
    std::string l = lhs().str(), r = rhs().str();
    if (precedence(lhs().kind()) < p)
      l = "(" + l + ")";
    // a - (b + c), a / (b * c): the right operand binds as a group at equal precedence.
    if (precedence(rhs().kind()) < p ||
        (precedence(rhs().kind()) == p && (kind_ == Kind::Sub || kind_ == Kind::Div)))
      r = "(" + r + ")";
    return l + opText(kind_) + r;
  }
  }
}

void collectSymbols(const Dim &d, std::vector<std::string> &out) {
  if (d.isSymbol()) {
    if (std::find(out.begin(), out.end(), d.symbol()) == out.end())
      out.push_back(d.symbol());
  } else if (!d.isStatic()) {
    collectSymbols(d.lhs(), out);
    collectSymbols(d.rhs(), out);
  }
}

std::optional<int64_t> evalDim(const Dim &d, const SymbolMap &syms) {
  switch (d.kind()) {
  case Dim::Kind::Const:
    return d.value();
  case Dim::Kind::Sym: {
    auto it = syms.find(d.symbol());
    if (it == syms.end())
      return std::nullopt;
    return it->second;
  }
  default: {
    auto a = evalDim(d.lhs(), syms), b = evalDim(d.rhs(), syms);
    if (!a || !b)
      return std::nullopt;
    int64_t r;
    switch (d.kind()) {
    case Dim::Kind::Add:
      return __builtin_add_overflow(*a, *b, &r) ? std::nullopt : std::optional<int64_t>(r);
    case Dim::Kind::Sub:
      return __builtin_sub_overflow(*a, *b, &r) ? std::nullopt : std::optional<int64_t>(r);
    case Dim::Kind::Mul:
      return __builtin_mul_overflow(*a, *b, &r) ? std::nullopt : std::optional<int64_t>(r);
    default:
      if (*b == 0)
        return std::nullopt;
      return floorDiv(*a, *b);
    }
  }
  }
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
