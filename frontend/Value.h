#pragma once
// Compile-time values of the elaborator. Tensors are IR values; everything else (numbers,
// booleans, strings, functions, cells, tuples, symbolic dims) exists only while compiling.
#include "frontend/AST.h"
#include "ir/IR.h"

#include <map>
#include <string>
#include <vector>

namespace loom::frontend {

struct Builtin;

struct Val {
  enum class Kind { None, Int, Float, Bool, Str, Dim, Tensor, Tuple, Func, Cell };
  Kind kind = Kind::None;
  int64_t i = 0;
  double f = 0;
  bool b = false;
  std::string s;
  ir::Dim dim;                      // Dim: a symbolic dimension (static ones are Ints)
  ir::Value *tensor = nullptr;      // Tensor
  std::vector<Val> elems;           // Tuple (also lists)
  const ast::Decl *decl = nullptr;  // Func (a def or cell) / Cell
  const Builtin *builtin = nullptr; // Func (a builtin)
  std::map<std::string, Val> attrs; // Cell: its bound attributes; Func: partially applied
                                    // keyword arguments (a layer like lstm(units=8))
  ir::Value *mask = nullptr;        // Tensor [B, T, ...]: its steps' mask f32[B, T, 1]
                                    // (Keras's implicit mask, e.g. from mask_zero)

  static Val none() { return Val(); }
  static Val integer(int64_t v) {
    Val x;
    x.kind = Kind::Int;
    x.i = v;
    return x;
  }
  static Val real(double v) {
    Val x;
    x.kind = Kind::Float;
    x.f = v;
    return x;
  }
  static Val boolean(bool v) {
    Val x;
    x.kind = Kind::Bool;
    x.b = v;
    return x;
  }
  static Val str(std::string v) {
    Val x;
    x.kind = Kind::Str;
    x.s = std::move(v);
    return x;
  }
  static Val symDim(ir::Dim d) {
    Val x;
    x.kind = Kind::Dim;
    x.dim = std::move(d);
    return x;
  }
  static Val of(ir::Value *v) {
    Val x;
    x.kind = Kind::Tensor;
    x.tensor = v;
    return x;
  }
  static Val tuple(std::vector<Val> e) {
    Val x;
    x.kind = Kind::Tuple;
    x.elems = std::move(e);
    return x;
  }

  bool isTensor() const { return kind == Kind::Tensor; }
  bool isNumber() const { return kind == Kind::Int || kind == Kind::Float; }
  double number() const { return kind == Kind::Int ? (double)i : f; }
  /// "int 64", "tensor f32[B,64]", "function tanh", ... for messages.
  std::string describe() const;
};

} // namespace loom::frontend
