#pragma once
// The syntax tree of a .loom file (docs/language.md). Every node carries its location.
#include "ir/IR.h" // ir::Loc

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace loom::ast {

using ir::Loc;

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

/// One argument of a call: positional when keyword is empty.
struct Arg {
  std::string keyword;
  Loc loc; // of the keyword, or of the value when positional
  ExprPtr value;
};

struct Expr {
  enum class Kind { Int, Float, Bool, String, Name, Unary, Binary, Call, List, Tuple };
  Kind kind;
  Loc loc; // Binary: the operator's location; Call: the callee's start
  int64_t intValue = 0;
  double floatValue = 0;
  bool boolValue = false;
  std::string text; // Name: identifier; String: contents; Unary/Binary: "-" "+" "*" "/" "@"
  std::vector<ExprPtr>
      children;          // Unary: [x]; Binary: [lhs, rhs]; Call: [callee]; List/Tuple: elements
  std::vector<Arg> args; // Call only

  explicit Expr(Kind k, Loc l = {}) : kind(k), loc(std::move(l)) {}
};

/// One dimension in a tensor type: an integer, a name, or "..." (any number of leading dims).
struct DimExpr {
  enum class Kind { Int, Name, Ellipsis };
  Kind kind;
  Loc loc;
  int64_t value = 0;
  std::string name;
};

struct TypeExpr {
  enum class Kind { Tensor, Int, Float, Bool, Str, Fn, Cell };
  Kind kind;
  Loc loc;
  std::string dtype;         // Tensor: "f32" | "i32"
  std::vector<DimExpr> dims; // Tensor only
};

/// A parameter of a model, cell or def; also a model output.
struct Param {
  std::string name;
  Loc loc;
  std::optional<TypeExpr> type;
  ExprPtr defaultValue; // may be null
};

struct Stmt {
  enum class Kind { Assign, Return, If, ExprStmt };
  Kind kind;
  Loc loc;
  std::vector<std::string> targets; // Assign: one or more names (a, b = ...)
  std::vector<Loc> targetLocs;
  std::vector<ExprPtr> values; // Assign: [rhs]; Return: returned exprs; If: [cond]; ExprStmt: [e]
  std::vector<Stmt> thenBody;  // If
  std::vector<Stmt> elseBody;  // If (an `else if` is an else body holding one If)
};

struct Decl {
  enum class Kind { Model, Cell, Def, Train }; // Train: `train <model>(targets) {...}`
  Kind kind;
  std::string name;
  Loc loc;
  std::vector<Param> params;
  std::vector<Param> outputs;        // Model: named outputs, optional types
  std::vector<TypeExpr> returnTypes; // Cell/Def: optional declared return types
  std::vector<Stmt> body;
};

struct File {
  std::string name;
  std::vector<Decl> decls;
};

/// S-expression dump for tests: (model m (params (x f32[B,T,5])) ...).
std::string dump(const File &f);

} // namespace loom::ast
