// Lexer, parser, ast::dump and diagnostics of the loom front end (docs/language.md, Syntax).
#include "frontend/AST.h"
#include "frontend/Diagnostics.h"
#include "frontend/Parser.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

using namespace loom;
using namespace loom::frontend;

namespace {

struct Parsed {
  std::unique_ptr<ast::File> file;
  std::string error; // the rendered diagnostic; empty on success
};

Parsed parse(const std::string &src, const std::string &name = "t.loom") {
  SourceManager sm;
  sm.add(name, src);
  auto f = parseFile(sm, name);
  if (!f)
    return {nullptr, llvm::toString(f.takeError())};
  return {std::move(*f), ""};
}

std::string firstLine(const std::string &s) { return s.substr(0, s.find('\n')); }

/// The dump of a file that must parse.
std::string dumpOf(const std::string &src) {
  Parsed p = parse(src);
  EXPECT_EQ(p.error, "") << src;
  return p.file ? ast::dump(*p.file) : "";
}

/// The dump of the single statement in `def f() { <stmt> }`, without the wrapper.
std::string stmtDump(const std::string &stmt) {
  std::string d = dumpOf("def f() {\n" + stmt + "\n}\n");
  const std::string prefix = "(def f (params) (body ";
  if (d.compare(0, prefix.size(), prefix) != 0 || d.size() < prefix.size() + 3)
    return "<unexpected: " + d + ">";
  return d.substr(prefix.size(), d.size() - prefix.size() - 3);
}

const char *kExample = R"(# simple_rnn.loom
model simple_rnn(x: f32[B, T, 5]) -> (y: f32[B, T, 64]) {
  y = simple_rnn(x, units=64, return_sequences=true)
}

cell minimal(x: f32[I], h: f32[units], units: int, activation: fn = tanh) -> f32[units] {
  W = param([I, units], init=glorot_uniform)
  U = param([units, units], init=orthogonal)
  b = param([units], init=zeros)
  return activation(x @ W + h @ U + b)
}

def dense(x: f32[..., I], units: int, activation: fn = linear, use_bias: bool = true) {
  kernel = param([I, units], init=glorot_uniform)
  y = x @ kernel
  if use_bias {
    bias = param([units], init=zeros)
    y = y + bias
  } else if units > 3 { y = y } else { y = -y }
  return activation(y)
}
)";

TEST(FrontendParser, Example) {
  EXPECT_EQ(dumpOf(kExample),
            "(model simple_rnn (params (x f32[B,T,5])) (outputs (y f32[B,T,64])) (body "
            "(assign (y) (call simple_rnn x (kw units 64) (kw return_sequences true)))))\n"
            "(cell minimal (params (x f32[I]) (h f32[units]) (units int) (activation fn "
            "(default tanh))) (returns f32[units]) (body "
            "(assign (W) (call param (list I units) (kw init glorot_uniform))) "
            "(assign (U) (call param (list units units) (kw init orthogonal))) "
            "(assign (b) (call param (list units) (kw init zeros))) "
            "(return (call activation (+ (+ (@ x W) (@ h U)) b)))))\n"
            "(def dense (params (x f32[...,I]) (units int) (activation fn (default linear)) "
            "(use_bias bool (default true))) (body "
            "(assign (kernel) (call param (list I units) (kw init glorot_uniform))) "
            "(assign (y) (@ x kernel)) "
            "(if use_bias (then (assign (bias) (call param (list units) (kw init zeros))) "
            "(assign (y) (+ y bias))) (else (if (> units 3) (then (assign (y) y)) "
            "(else (assign (y) (- y)))))) "
            "(return (call activation y))))\n");
}

TEST(FrontendParser, Locations) {
  Parsed p = parse(kExample, "ex.loom");
  ASSERT_EQ(p.error, "");
  ASSERT_EQ(p.file->decls.size(), 3u);
  EXPECT_EQ(p.file->name, "ex.loom");
  const ast::Decl &model = p.file->decls[0];
  EXPECT_EQ(model.kind, ast::Decl::Kind::Model);
  EXPECT_EQ(model.loc.file, "ex.loom");
  EXPECT_EQ(model.loc.line, 2);
  EXPECT_EQ(model.loc.col, 7); // the name
  EXPECT_EQ(model.params[0].loc.col, 18);
  EXPECT_EQ(model.params[0].type->loc.col, 21);
  EXPECT_EQ(model.params[0].type->dims[2].loc.col, 31);
  EXPECT_EQ(model.outputs[0].loc.col, 39);
  const ast::Stmt &assign = model.body[0];
  EXPECT_EQ(assign.kind, ast::Stmt::Kind::Assign);
  EXPECT_EQ(assign.loc.line, 3);
  EXPECT_EQ(assign.loc.col, 3);
  EXPECT_EQ(assign.targetLocs[0].col, 3);
  const ast::Expr &call = *assign.values[0];
  EXPECT_EQ(call.kind, ast::Expr::Kind::Call);
  EXPECT_EQ(call.loc.col, 7);
  EXPECT_EQ(call.args[0].loc.col, 18); // positional: the value
  EXPECT_EQ(call.args[1].loc.col, 21); // keyword: the keyword
  EXPECT_EQ(call.args[1].value->loc.col, 27);

  // return activation(x @ W + h @ U + b): the outer '+' is the last one.
  const ast::Stmt &ret = p.file->decls[1].body[3];
  EXPECT_EQ(ret.kind, ast::Stmt::Kind::Return);
  EXPECT_EQ(ret.loc.line, 10);
  EXPECT_EQ(ret.loc.col, 3);
  const ast::Expr &sum = *ret.values[0]->args[0].value;
  EXPECT_EQ(sum.kind, ast::Expr::Kind::Binary);
  EXPECT_EQ(sum.text, "+");
  EXPECT_EQ(sum.loc.col, 35);
  EXPECT_EQ(sum.children[0]->children[0]->loc.col, 23); // x @ W: the '@'

  const ast::Stmt &ifs = p.file->decls[2].body[2];
  EXPECT_EQ(ifs.kind, ast::Stmt::Kind::If);
  EXPECT_EQ(ifs.loc.line, 16);
  ASSERT_EQ(ifs.elseBody.size(), 1u);
  EXPECT_EQ(ifs.elseBody[0].loc.line, 19);
  EXPECT_EQ(ifs.elseBody[0].loc.col, 10); // the inner 'if'
}

TEST(FrontendParser, DeclForms) {
  EXPECT_EQ(dumpOf("model m() -> y {}"), "(model m (params) (outputs (y)) (body))\n");
  EXPECT_EQ(dumpOf("model m(a, b: i32[], c = 3,) -> (y, z: f32[N],) { y = a; z = b }"),
            "(model m (params (a) (b i32[]) (c (default 3))) (outputs (y) (z f32[N])) "
            "(body (assign (y) a) (assign (z) b)))\n");
  EXPECT_EQ(dumpOf("def d(a: int, b: float, c: bool, d: str, e: fn, f: cell) -> (int, f32[2]) "
                   "{\n}"),
            "(def d (params (a int) (b float) (c bool) (d str) (e fn) (f cell)) "
            "(returns int f32[2]) (body))\n");
  EXPECT_EQ(dumpOf("cell c(\n  x: f32[...],\n  h\n) -> i32[1, N, ...] {\n}\n\n\n"),
            "(cell c (params (x f32[...]) (h)) (returns i32[1,N,...]) (body))\n");
  // Separators between declarations: blank lines, comments, ';'.
  EXPECT_EQ(dumpOf("\n# c\n\ndef a() {}; def b() {} # trailing\n"),
            "(def a (params) (body))\n(def b (params) (body))\n");
  EXPECT_EQ(dumpOf(""), "");
  EXPECT_EQ(dumpOf("\n"), "");
  EXPECT_EQ(dumpOf("  \n\t# only a comment"), "");
}

TEST(FrontendParser, Statements) {
  EXPECT_EQ(stmtDump("a, b = f(x)"), "(assign (a b) (call f x))");
  EXPECT_EQ(stmtDump("return"), "(return)");
  EXPECT_EQ(stmtDump("return a, b + 1"), "(return a (+ b 1))");
  EXPECT_EQ(stmtDump("f(x)"), "(expr (call f x))");
  EXPECT_EQ(stmtDump("if a { b } else { c }"), "(if a (then (expr b)) (else (expr c)))");
  EXPECT_EQ(stmtDump("if a {\n} else if b {\n  x = 1\n}"),
            "(if a (then) (else (if b (then (assign (x) 1)))))");
  EXPECT_EQ(stmtDump("if a { return }"), "(if a (then (return)))");
  EXPECT_EQ(dumpOf("def f() { a = 1; b = 2;; c = 3 }"),
            "(def f (params) (body (assign (a) 1) (assign (b) 2) (assign (c) 3)))\n");
  EXPECT_EQ(dumpOf("def f() {\n\n  a = (1 +\n    2)  # comment\n\n  b = [1,\n 2,\n]\n}"),
            "(def f (params) (body (assign (a) (+ 1 2)) (assign (b) (list 1 2))))\n");
}

TEST(FrontendParser, Expressions) {
  EXPECT_EQ(stmtDump("y = a + b * c @ d - e / f"), "(assign (y) (- (+ a (@ (* b c) d)) (/ e f)))");
  EXPECT_EQ(stmtDump("y = -a * --b"), "(assign (y) (* (- a) (- (- b))))");
  EXPECT_EQ(stmtDump("y = not a == b and c or d"), "(assign (y) (or (and (not (== a b)) c) d))");
  EXPECT_EQ(stmtDump("y = not not a"), "(assign (y) (not (not a)))");
  EXPECT_EQ(stmtDump("y = [a != b, a < b, a <= b, a > b, a >= b]"),
            "(assign (y) (list (!= a b) (< a b) (<= a b) (> a b) (>= a b)))");
  EXPECT_EQ(stmtDump("y = (a + b) * c"), "(assign (y) (* (+ a b) c))");
  EXPECT_EQ(stmtDump("y = ((a))"), "(assign (y) a)");
  EXPECT_EQ(stmtDump("y = (a,)"), "(assign (y) (tuple a))");
  EXPECT_EQ(stmtDump("y = (a, b, 3)"), "(assign (y) (tuple a b 3))");
  EXPECT_EQ(stmtDump("y = []"), "(assign (y) (list))");
  EXPECT_EQ(stmtDump("y = [[1], [2, 3,]]"), "(assign (y) (list (list 1) (list 2 3)))");
  EXPECT_EQ(stmtDump("y = f()(1)(k=2)"), "(assign (y) (call (call (call f) 1) (kw k 2)))");
  EXPECT_EQ(stmtDump("y = f(a, b, c=1, d=[2],)"),
            "(assign (y) (call f a b (kw c 1) (kw d (list 2))))");
  EXPECT_EQ(stmtDump("y = f(a == b)"), "(assign (y) (call f (== a b)))");
  // Type words are ordinary names outside type positions.
  EXPECT_EQ(stmtDump("y = cast(x, dtype=f32)"), "(assign (y) (call cast x (kw dtype f32)))");
  EXPECT_EQ(stmtDump("int, float = fn(str, bool=i32)"),
            "(assign (int float) (call fn str (kw bool i32)))");
}

TEST(FrontendParser, Literals) {
  EXPECT_EQ(stmtDump("y = [0, 42, 9223372036854775807]"),
            "(assign (y) (list 0 42 9223372036854775807))");
  EXPECT_EQ(stmtDump("y = [1.0, 0.5, 1e-3, 2.5E+4, 3e2, 1.25e-10]"),
            "(assign (y) (list 1.0 0.5 0.001 25000.0 300.0 1.25e-10))");
  EXPECT_EQ(stmtDump("y = [true, false]"), "(assign (y) (list true false))");
  EXPECT_EQ(stmtDump(R"(y = ["", "a b", "q\"t\\n\n\t#"])"),
            R"((assign (y) (list "" "a b" "q\"t\\n\n\t#")))");
  Parsed p = parse("def f() { s = \"a\\tb\\n\" }");
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.file->decls[0].body[0].values[0]->text, "a\tb\n");
  p = parse("def f() { x = 0.1 }");
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.file->decls[0].body[0].values[0]->floatValue, 0.1);
}

struct ErrorCase {
  const char *src;
  const char *diagnostic;
};

TEST(FrontendParser, Errors) {
  const ErrorCase cases[] = {
      {"def f(x) {\n  y = dense(x, 4 = 3)\n}\n",
       "bad.loom:2:18: error: expected ')' after arguments, found '='\n"
       "    y = dense(x, 4 = 3)\n"
       "                   ^\n"},
      {"def f() {\n  s = \"abc\n}\n",
       "bad.loom:2:7: error: unterminated string\n    s = \"abc\n        ^\n"},
      {"def f() {\n  y = x $ 2\n}\n",
       "bad.loom:2:9: error: unexpected character '$'\n    y = x $ 2\n          ^\n"},
      {"def f() {\n  y = g(units=1, units=2)\n}\n",
       "bad.loom:2:18: error: keyword argument 'units' given twice\n"
       "    y = g(units=1, units=2)\n                   ^\n"},
      {"def f() {\n  y = g(a=1, x)\n}\n",
       "bad.loom:2:14: error: positional argument after keyword argument\n"
       "    y = g(a=1, x)\n               ^\n"},
      {"def f() {\n  y = g(x\n",
       "bad.loom:2:10: error: expected ')' after arguments, found end of file (unclosed '(' "
       "opened at 2:8)\n    y = g(x\n           ^\n"},
      {"model m(x) {\n}\n",
       "bad.loom:1:12: error: expected '->' and the model's outputs after its parameters, "
       "found '{'\n  model m(x) {\n             ^\n"},
      {"x = 3\n",
       "bad.loom:1:1: error: expected 'model', 'cell', 'def' or 'train' at top level, found "
       "identifier 'x'\n  x = 3\n  ^\n"},
      {"def f() {\n  y = 99999999999999999999\n}\n",
       "bad.loom:2:7: error: integer '99999999999999999999' is too large (the limit is "
       "9223372036854775807)\n    y = 99999999999999999999\n        ^\n"},
      {"def f(x: f64[3]) {\n}\n",
       "bad.loom:1:10: error: expected a type (f32[...], i32[...], int, float, bool, str, fn or "
       "cell), found identifier 'f64'\n  def f(x: f64[3]) {\n           ^\n"},
      {"def f(x: f32[B, 2.5]) {\n}\n",
       "bad.loom:1:17: error: expected a dimension (an integer, a name or '...'), found number "
       "'2.5'\n  def f(x: f32[B, 2.5]) {\n                  ^\n"},
      {"def f() {\n  y = a < b < c\n}\n",
       "bad.loom:2:13: error: comparisons cannot be chained; combine them with 'and'\n"
       "    y = a < b < c\n              ^\n"},
      {"def f() {\n  g(x) = 3\n}\n",
       "bad.loom:2:8: error: cannot assign to this expression (assignment targets must be "
       "names)\n    g(x) = 3\n         ^\n"},
      {"def f() {\n  if a {\n  }\n  else {\n  }\n}\n",
       "bad.loom:4:3: error: 'else' must be on the same line as the '}' that closes its 'if'\n"
       "    else {\n    ^\n"},
      {"def f() {\n  y = 1 z = 2\n}\n",
       "bad.loom:2:9: error: expected newline or ';' after statement, found identifier 'z'\n"
       "    y = 1 z = 2\n          ^\n"},
      {"def f() {\n  y = 1\n",
       "bad.loom:2:8: error: expected '}' to close the block, found end of file (unclosed '{' "
       "opened at 1:9)\n    y = 1\n         ^\n"},
      {"def f() {\n  y = 1  # c\n\n",
       "bad.loom:2:8: error: expected '}' to close the block, found end of file (unclosed '{' "
       "opened at 1:9)\n    y = 1  # c\n         ^\n"},
      {"\n\nmodel", "bad.loom:3:6: error: expected a name after 'model', found end of file\n"
                    "  model\n       ^\n"},
      {"def f() {\n\ty = g(x,, 1)\n}\n", "bad.loom:2:10: error: expected an expression, found ','\n"
                                         "  \ty = g(x,, 1)\n  \t        ^\n"},
      {"def f() {\n  s = \"a\\qb\"\n}\n",
       "bad.loom:2:9: error: unknown escape sequence '\\q' in string (use \\\" \\\\ \\n or "
       "\\t)\n    s = \"a\\qb\"\n          ^\n"},
      {"def f() {\n  y = 1e+\n}\n",
       "bad.loom:2:7: error: expected exponent digits in number '1e+'\n    y = 1e+\n        ^\n"},
      {"cell c(x) -> {\n}\n",
       "bad.loom:1:14: error: expected a type (f32[...], i32[...], int, float, bool, str, fn or "
       "cell), found '{'\n  cell c(x) -> {\n               ^\n"},
      {"model (x) -> y {}", "bad.loom:1:7: error: expected a name after 'model', found '('\n"
                            "  model (x) -> y {}\n        ^\n"},
      {"def f(x, y, x) {}", "bad.loom:1:13: error: parameter 'x' declared twice\n"
                            "  def f(x, y, x) {}\n              ^\n"},
      {"def if() {}", "bad.loom:1:5: error: expected a name after 'def', found keyword 'if'\n"
                      "  def if() {}\n      ^\n"},
      {"def f(x: f32) {}",
       "bad.loom:1:13: error: expected '[' and the dimensions after 'f32', found ')'\n"
       "  def f(x: f32) {}\n              ^\n"},
      {"def f() { y = () }", "bad.loom:1:16: error: expected an expression, found ')'\n"
                             "  def f() { y = () }\n                 ^\n"},
      {"def f() { y = !x }",
       "bad.loom:1:15: error: unexpected character '!' (logical negation is 'not')\n"
       "  def f() { y = !x }\n                ^\n"},
      {"def f() { y = .5 }",
       "bad.loom:1:15: error: unexpected character '.' (a number needs a digit before the '.', "
       "as in 0.5)\n  def f() { y = .5 }\n                ^\n"},
      {"def f() { y = 3x }", "bad.loom:1:16: error: unexpected character 'x' after number '3'\n"
                             "  def f() { y = 3x }\n                 ^\n"},
      {"def f() { y = [1, 2 }",
       "bad.loom:1:21: error: expected ']' after list elements, found '}'\n"
       "  def f() { y = [1, 2 }\n                      ^\n"},
      {"def f() {} def g() {}",
       "bad.loom:1:12: error: expected newline after the closing '}' of def 'f', found keyword "
       "'def'\n  def f() {} def g() {}\n             ^\n"},
      {"def f() { if x { } else y }",
       "bad.loom:1:25: error: expected '{' or 'if' after 'else', found identifier 'y'\n"
       "  def f() { if x { } else y }\n                          ^\n"},
      {"model m() -> (y z) {}",
       "bad.loom:1:17: error: expected ')' after outputs, found identifier 'z'\n"
       "  model m() -> (y z) {}\n                  ^\n"},
      {"\x01", "bad.loom:1:1: error: unexpected character '\\x01'\n  \x01\n  ^\n"},
      {"def f() { a, 3 = x }",
       "bad.loom:1:14: error: expected a name to assign to, found number '3'\n"
       "  def f() { a, 3 = x }\n               ^\n"},
  };
  for (const ErrorCase &c : cases) {
    Parsed p = parse(c.src, "bad.loom");
    EXPECT_EQ(p.error, c.diagnostic) << "source:\n" << c.src;
  }
}

TEST(FrontendParser, LexicalErrors) {
  auto err = [](const std::string &expr) {
    return firstLine(parse("def f() { y = " + expr + " }").error);
  };
  EXPECT_EQ(err("1."), "t.loom:1:15: error: expected a digit after '.' in number '1.'");
  EXPECT_EQ(err("1..2"), "t.loom:1:16: error: unexpected '.' after number");
  EXPECT_EQ(err("1e999"), "t.loom:1:15: error: number '1e999' is too large for a float");
  EXPECT_EQ(err("'a'"),
            "t.loom:1:15: error: unexpected character \"'\" (strings use double quotes)");
  EXPECT_EQ(err("a.b"), "t.loom:1:16: error: unexpected character '.'");
  EXPECT_EQ(firstLine(parse("def f() { y = \"abc\\").error),
            "t.loom:1:15: error: unterminated string");
  EXPECT_EQ(err("\"a\\ b\""),
            "t.loom:1:17: error: unknown escape sequence '\\ ' in string (use \\\" \\\\ \\n or "
            "\\t)");
  EXPECT_EQ(err("\xc3\xa9"), "t.loom:1:15: error: unexpected character '\\xc3'");
  EXPECT_EQ(err(std::string(30, 'n') + "(=)"),
            "t.loom:1:46: error: expected an expression, found '='");
  EXPECT_EQ(err("f(" + std::string(30, 'n') + " 1)"),
            "t.loom:1:48: error: expected ')' after arguments, found number '1'");
  EXPECT_EQ(err("f(a " + std::string(30, 'n') + ")"),
            "t.loom:1:19: error: expected ')' after arguments, found identifier "
            "'nnnnnnnnnnnnnnnnnnnnnnnn...'");
  EXPECT_EQ(firstLine(parse("def f() {\n  y = [1,\n  2\n  3]\n}").error),
            "t.loom:4:3: error: expected ']' after list elements, found number '3' (unclosed '[' "
            "opened at 2:7)");
}

TEST(FrontendParser, ErrorOrder) {
  // A lexical error after a syntax error is not reached; one before it wins.
  EXPECT_EQ(firstLine(parse("def f() { y = ) $ }").error),
            "t.loom:1:15: error: expected an expression, found ')'");
  EXPECT_EQ(firstLine(parse("def f() { y = $ ) }").error),
            "t.loom:1:15: error: unexpected character '$'");
}

TEST(FrontendParser, NestingLimit) {
  // The body block is one level, so the 256th '(' (column 7 + 255) is one too many.
  std::string deep =
      "def f() {\n  y = " + std::string(300, '(') + "x" + std::string(300, ')') + "\n}\n";
  EXPECT_EQ(firstLine(parse(deep).error),
            "t.loom:2:262: error: expression or block nested too deeply (the limit is 256 "
            "levels)");
  std::string ok =
      "def f() {\n  y = " + std::string(200, '(') + "x" + std::string(200, ')') + "\n}\n";
  EXPECT_EQ(parse(ok).error, "");
  // Huge inputs of every nesting kind fail cleanly instead of overflowing the stack.
  for (std::string unit : {"(", "[", "-", "not ", "f(", "if x {", "x + "}) {
    std::string src = unit[0] == 'i' ? "def f() {\n" : "def f() {\n  y = ";
    for (int i = 0; i < 100000; ++i)
      src += unit;
    EXPECT_NE(parse(src).error.find("nested too deeply"), std::string::npos) << unit;
  }
}

TEST(FrontendParser, Garbage) {
  std::string all;
  for (int c = 0; c < 256; ++c)
    all += static_cast<char>(c);
  EXPECT_NE(parse(all).error, "");
  std::string bin;
  std::mt19937 rng(7);
  for (int i = 0; i < 4096; ++i)
    bin += static_cast<char>(rng() & 0xff);
  EXPECT_NE(parse(bin).error, "");
  EXPECT_EQ(parse(std::string("def f() { s = \"\0\" }", 19)).error, "");
}

TEST(FrontendDiagnostics, Format) {
  SourceManager sm;
  sm.add("a.loom", "line one\n\tx = y\r\nlast");
  EXPECT_EQ(sm.line("a.loom", 1), "line one");
  EXPECT_EQ(sm.line("a.loom", 2), "\tx = y");
  EXPECT_EQ(sm.line("a.loom", 3), "last");
  EXPECT_EQ(sm.line("a.loom", 4), "");
  EXPECT_EQ(sm.line("a.loom", 0), "");
  EXPECT_EQ(sm.line("nope", 1), "");
  EXPECT_EQ(formatDiagnostic(sm, {"a.loom", 2, 6}, "error", "bad"),
            "a.loom:2:6: error: bad\n  \tx = y\n  \t    ^\n");
  EXPECT_EQ(formatDiagnostic(sm, {"a.loom", 3, 5}, "warning", "end"),
            "a.loom:3:5: warning: end\n  last\n      ^\n");
  EXPECT_EQ(formatDiagnostic(sm, {"a.loom", 0, 0}, "error", "whole file"),
            "a.loom: error: whole file\n");
  EXPECT_EQ(formatDiagnostic(sm, {"", 0, 0}, "error", "no file"), "error: no file\n");
  EXPECT_EQ(formatDiagnostic(sm, {"other.loom", 4, 2}, "error", "unregistered"),
            "other.loom:4:2: error: unregistered\n");
  EXPECT_EQ(formatDiagnostic(sm, {"a.loom", 9, 1}, "error", "past the end"),
            "a.loom:9:1: error: past the end\n");
  llvm::Error e = errorAt(sm, {"a.loom", 1, 6}, "here");
  EXPECT_EQ(llvm::toString(std::move(e)), "a.loom:1:6: error: here\n  line one\n       ^\n");
  auto missing = parseFile(sm, "missing.loom");
  ASSERT_FALSE(missing);
  EXPECT_EQ(llvm::toString(missing.takeError()),
            "missing.loom: error: no source buffer named 'missing.loom'\n");
}

TEST(FrontendParser, Prelude) {
  std::ifstream in(LOOM_SOURCE_DIR "/frontend/prelude.loom");
  ASSERT_TRUE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(parse(ss.str(), "<prelude>").error, "");
}

/// Random edits of a valid file must give either an AST or a well-formed diagnostic.
TEST(FrontendParser, MutationFuzz) {
  const std::string base = std::string(kExample) +
                           "def more(a, b: i32[2, ...] = [1, (2,), \"s\\n\"]) -> (int, fn) {\n"
                           "  p, q = f(a)(b, k=not a or b and -1.5e3 <= 2); g()\n"
                           "  if a != b { return a, (b) } else { return [] }\n}\n";
  const std::string pool = "(){}[],:;=-><+*/@.#\"\\\n\t !$x1e_";
  std::mt19937 rng(20240611);
  auto pick = [&](size_t n) { return n == 0 ? size_t(0) : size_t(rng() % n); };
  int parsedOk = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    std::string src = base;
    int edits = 1 + rng() % 4;
    for (int e = 0; e < edits; ++e) {
      size_t at = pick(src.size() + 1);
      switch (rng() % 6) {
      case 0:
        src.erase(at, 1 + rng() % 8);
        break;
      case 1:
        src.insert(at, 1, pool[pick(pool.size())]);
        break;
      case 2:
        src.insert(at, 1, static_cast<char>(rng() & 0xff));
        break;
      case 3: {
        size_t from = pick(src.size());
        src.insert(at, src.substr(from, 1 + rng() % 40));
        break;
      }
      case 4:
        if (at < src.size())
          src[at] = pool[pick(pool.size())];
        break;
      default:
        src.resize(at);
      }
    }
    Parsed p = parse(src, "fuzz.loom");
    if (p.error.empty()) {
      ++parsedOk;
      ASSERT_TRUE(p.file);
      ast::dump(*p.file);
      continue;
    }
    ASSERT_EQ(p.error.rfind("fuzz.loom:", 0), 0u) << p.error;
    ASSERT_NE(p.error.find(": error: "), std::string::npos) << p.error;
    // Three lines: header, source line, caret line.
    ASSERT_EQ(std::count(p.error.begin(), p.error.end(), '\n'), 3) << p.error;
  }
  EXPECT_GT(parsedOk, 0);
}

} // namespace
