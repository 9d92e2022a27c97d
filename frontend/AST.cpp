// ast::dump: one S-expression per declaration, one declaration per line.
//   (model m (params (x f32[B,T,5])) (outputs (y)) (body (assign (y) (call f x (kw units 64)))))
//   (def d (params (x) (a fn (default linear))) (returns f32[N]) (body (return (@ x w))))
// Statements: (assign (a b) E) (return E...) (if C (then S...) (else S...)) (expr E).
// Expressions: 3  2.5  true  "s"  name  (- x)  (not x)  (+ a b)  (call f a (kw k v))
//              (list a b)  (tuple a b).
#include "frontend/AST.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace loom::ast {

namespace {

/// Shortest text that reads back as the same double, always marked as a float:
/// positional notation for everyday magnitudes (25000.0, 0.001), else exponent (1e-10).
std::string formatFloat(double v) {
  char buf[512];
  double mag = std::fabs(v);
  bool positional = v == 0 || (mag >= 1e-5 && mag < 1e16);
  for (int prec = positional ? 0 : 1; prec <= 24; ++prec) {
    std::snprintf(buf, sizeof(buf), positional ? "%.*f" : "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v)
      break;
  }
  std::string s = buf;
  if (s.find_first_of(".eni") == std::string::npos)
    s += ".0";
  return s;
}

std::string quote(const std::string &s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      out += c;
    }
  }
  return out + "\"";
}

class Dumper {
public:
  std::string out;

  void expr(const Expr &e) {
    switch (e.kind) {
    case Expr::Kind::Int:
      out += std::to_string(e.intValue);
      return;
    case Expr::Kind::Float:
      out += formatFloat(e.floatValue);
      return;
    case Expr::Kind::Bool:
      out += e.boolValue ? "true" : "false";
      return;
    case Expr::Kind::String:
      out += quote(e.text);
      return;
    case Expr::Kind::Name:
      out += e.text;
      return;
    case Expr::Kind::Unary:
    case Expr::Kind::Binary:
      out += "(" + e.text;
      children(e);
      out += ")";
      return;
    case Expr::Kind::Call:
      out += "(call";
      children(e);
      for (const Arg &a : e.args) {
        out += " ";
        if (!a.keyword.empty())
          out += "(kw " + a.keyword + " ";
        if (a.value)
          expr(*a.value);
        if (!a.keyword.empty())
          out += ")";
      }
      out += ")";
      return;
    case Expr::Kind::List:
    case Expr::Kind::Tuple:
      out += e.kind == Expr::Kind::List ? "(list" : "(tuple";
      children(e);
      out += ")";
      return;
    }
  }

  void children(const Expr &e) {
    for (const ExprPtr &c : e.children) {
      out += " ";
      if (c)
        expr(*c);
    }
  }

  void type(const TypeExpr &t) {
    switch (t.kind) {
    case TypeExpr::Kind::Tensor:
      out += t.dtype + "[";
      for (size_t i = 0; i < t.dims.size(); ++i) {
        if (i)
          out += ",";
        const DimExpr &d = t.dims[i];
        if (d.kind == DimExpr::Kind::Int)
          out += std::to_string(d.value);
        else if (d.kind == DimExpr::Kind::Name)
          out += d.name;
        else
          out += "...";
      }
      out += "]";
      return;
    case TypeExpr::Kind::Int:
      out += "int";
      return;
    case TypeExpr::Kind::Float:
      out += "float";
      return;
    case TypeExpr::Kind::Bool:
      out += "bool";
      return;
    case TypeExpr::Kind::Str:
      out += "str";
      return;
    case TypeExpr::Kind::Fn:
      out += "fn";
      return;
    case TypeExpr::Kind::Cell:
      out += "cell";
      return;
    }
  }

  void param(const Param &p) {
    out += " (" + p.name;
    if (p.type) {
      out += " ";
      type(*p.type);
    }
    if (p.defaultValue) {
      out += " (default ";
      expr(*p.defaultValue);
      out += ")";
    }
    out += ")";
  }

  void stmts(const char *head, const std::vector<Stmt> &body) {
    out += std::string(" (") + head;
    for (const Stmt &s : body) {
      out += " ";
      stmt(s);
    }
    out += ")";
  }

  void stmt(const Stmt &s) {
    switch (s.kind) {
    case Stmt::Kind::Assign:
      out += "(assign (";
      for (size_t i = 0; i < s.targets.size(); ++i)
        out += (i ? " " : "") + s.targets[i];
      out += ")";
      break;
    case Stmt::Kind::Return:
      out += "(return";
      break;
    case Stmt::Kind::If:
      out += "(if";
      break;
    case Stmt::Kind::ExprStmt:
      out += "(expr";
      break;
    }
    for (const ExprPtr &v : s.values) {
      out += " ";
      if (v)
        expr(*v);
    }
    if (s.kind == Stmt::Kind::If) {
      stmts("then", s.thenBody);
      if (!s.elseBody.empty())
        stmts("else", s.elseBody);
    }
    out += ")";
  }

  void decl(const Decl &d) {
    const char *kw = d.kind == Decl::Kind::Model   ? "model"
                     : d.kind == Decl::Kind::Cell  ? "cell"
                     : d.kind == Decl::Kind::Train ? "train"
                                                   : "def";
    out += std::string("(") + kw + " " + d.name + " (params";
    for (const Param &p : d.params)
      param(p);
    out += ")";
    if (d.kind == Decl::Kind::Model) {
      out += " (outputs";
      for (const Param &p : d.outputs)
        param(p);
      out += ")";
    }
    if (!d.returnTypes.empty()) {
      out += " (returns";
      for (const TypeExpr &t : d.returnTypes) {
        out += " ";
        type(t);
      }
      out += ")";
    }
    stmts("body", d.body);
    out += ")\n";
  }
};

} // namespace

std::string dump(const File &f) {
  Dumper d;
  for (const Decl &decl : f.decls)
    d.decl(decl);
  return d.out;
}

} // namespace loom::ast
