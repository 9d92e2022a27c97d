// Recursive-descent parser for the grammar in docs/language.md ("Syntax").
//
// Parse functions return null/false after the first error, which is kept in the Parser
// and becomes the result of parseFile; nothing is parsed after it.
#include "frontend/Parser.h"
#include "frontend/Lexer.h"

#include <set>

namespace loom::frontend {

namespace {

using ast::Expr;
using ast::ExprPtr;

/// Deeper nesting is rejected so recursion (here and in later passes) cannot
/// overflow the stack. Counts brackets, unary operators, blocks and binary chains.
constexpr int kMaxDepth = 256;

bool isTypeWord(const std::string &s) {
  return s == "f32" || s == "i32" || s == "int" || s == "float" || s == "bool" || s == "str" ||
         s == "fn";
}

std::string locText(const ir::Loc &l) {
  return std::to_string(l.line) + ":" + std::to_string(l.col);
}

class Parser {
public:
  Parser(const SourceManager &sm, const std::string &name, const std::string &text)
      : sm_(sm), lex_(name, text) {}

  llvm::Expected<std::unique_ptr<ast::File>> run(const std::string &name);

private:
  // --- tokens ---
  const Token &peek(size_t k = 0) {
    while (buf_.size() <= k)
      buf_.push_back(lex_.next());
    return buf_[k];
  }
  bool at(Tok k) { return peek().kind == k; }
  Token take() {
    Token t = peek();
    buf_.erase(buf_.begin());
    return t;
  }
  bool accept(Tok k) {
    if (!at(k))
      return false;
    take();
    return true;
  }
  void skipSeparators() {
    while (at(Tok::Newline) || at(Tok::Semi))
      take();
  }

  // --- errors ---
  bool fail(const ir::Loc &loc, std::string msg) {
    if (!failed_) {
      failed_ = true;
      errLoc_ = loc;
      errMsg_ = std::move(msg);
    }
    return false;
  }
  /// "expected <what>, found <next token>"; a lexical error at the next token wins.
  bool expected(const std::string &what, const std::string &note = "") {
    const Token &t = peek();
    if (t.kind == Tok::Error)
      return fail(t.loc, t.text);
    return fail(t.loc, "expected " + what + ", found " + describeToken(t) + note);
  }
  bool expect(Tok k, const std::string &context) {
    if (accept(k))
      return true;
    return expected(tokSpelling(k) + " " + context);
  }
  /// Expects the closer of a bracket opened at `open`, noting where it was opened when
  /// the mismatch is far from it.
  bool expectClose(Tok k, const std::string &context, const Token &open) {
    if (accept(k))
      return true;
    std::string note;
    if (at(Tok::Eof) || peek().loc.line != open.loc.line)
      note = " (unclosed '" + open.text + "' opened at " + locText(open.loc) + ")";
    return expected(tokSpelling(k) + " " + context, note);
  }
  /// Guards one level of nesting; callers undo it with `--depth_`.
  bool enter(const ir::Loc &loc) {
    if (++depth_ <= kMaxDepth)
      return true;
    return fail(loc, "expression or block nested too deeply (the limit is " +
                         std::to_string(kMaxDepth) + " levels)");
  }
  struct DepthScope {
    int &depth;
    int saved;
    explicit DepthScope(int &d) : depth(d), saved(d) {}
    ~DepthScope() { depth = saved; }
  };

  // --- declarations ---
  bool parseDecl(ast::File &file);
  bool parseParams(std::vector<ast::Param> &params, const Token &open);
  bool parseParam(ast::Param &p, bool allowDefault);
  bool parseOutputs(ast::Decl &d);
  bool parseReturnTypes(ast::Decl &d);
  std::optional<ast::TypeExpr> parseType();
  bool checkUnique(const std::vector<ast::Param> &ps, const char *what);

  // --- statements ---
  bool parseBlock(std::vector<ast::Stmt> &body, const std::string &context);
  bool parseStmt(std::vector<ast::Stmt> &body);
  bool parseIf(ast::Stmt &s);
  bool endStmt();

  // --- expressions ---
  ExprPtr parseExpr() { return parseOr(); }
  ExprPtr parseOr();
  ExprPtr parseAnd();
  ExprPtr parseNot();
  ExprPtr parseCmp();
  ExprPtr parseAdd();
  ExprPtr parseMul();
  ExprPtr parseUnary();
  ExprPtr parsePostfix();
  ExprPtr parsePrimary();
  bool parseArgs(Expr &call, const Token &open);
  ExprPtr binary(const Token &op, ExprPtr lhs, ExprPtr rhs);

  const SourceManager &sm_;
  Lexer lex_;
  std::vector<Token> buf_;
  int depth_ = 0;
  bool failed_ = false;
  ir::Loc errLoc_;
  std::string errMsg_;
};

llvm::Expected<std::unique_ptr<ast::File>> Parser::run(const std::string &name) {
  auto file = std::make_unique<ast::File>();
  file->name = name;
  for (;;) {
    skipSeparators();
    if (at(Tok::Eof) || !parseDecl(*file))
      break;
  }
  if (failed_)
    return errorAt(sm_, errLoc_, errMsg_);
  return file;
}

bool Parser::parseDecl(ast::File &file) {
  ast::Decl d;
  switch (peek().kind) {
  case Tok::KwModel:
    d.kind = ast::Decl::Kind::Model;
    break;
  case Tok::KwCell:
    d.kind = ast::Decl::Kind::Cell;
    break;
  case Tok::KwDef:
    d.kind = ast::Decl::Kind::Def;
    break;
  case Tok::Ident: // `train` is a word only at the start of a declaration
    if (peek().text == "train") {
      d.kind = ast::Decl::Kind::Train;
      break;
    }
    [[fallthrough]];
  default:
    return expected("'model', 'cell', 'def' or 'train' at top level");
  }
  std::string kw = take().text;
  if (!at(Tok::Ident))
    return expected("a name after '" + kw + "'");
  Token nameTok = take();
  d.name = nameTok.text;
  d.loc = nameTok.loc;
  if (!at(Tok::LParen))
    return expected("'(' after " + kw + " name '" + d.name + "'");
  Token open = take();
  if (!parseParams(d.params, open) || !checkUnique(d.params, "parameter"))
    return false;
  if (d.kind == ast::Decl::Kind::Model) {
    if (!expect(Tok::Arrow, "and the model's outputs after its parameters") || !parseOutputs(d) ||
        !checkUnique(d.outputs, "output"))
      return false;
  } else if (accept(Tok::Arrow)) {
    if (!parseReturnTypes(d))
      return false;
  }
  if (!parseBlock(d.body, "to start the body of " + kw + " '" + d.name + "'"))
    return false;
  if (!at(Tok::Newline) && !at(Tok::Semi) && !at(Tok::Eof))
    return expected("newline after the closing '}' of " + kw + " '" + d.name + "'");
  file.decls.push_back(std::move(d));
  return true;
}

bool Parser::parseParams(std::vector<ast::Param> &params, const Token &open) {
  while (!at(Tok::RParen)) {
    ast::Param p;
    if (!parseParam(p, /*allowDefault=*/true))
      return false;
    params.push_back(std::move(p));
    if (!accept(Tok::Comma))
      break;
  }
  return expectClose(Tok::RParen, "after parameters", open);
}

bool Parser::parseParam(ast::Param &p, bool allowDefault) {
  if (!at(Tok::Ident))
    return expected(allowDefault ? "a parameter name" : "an output name");
  Token name = take();
  p.name = name.text;
  p.loc = name.loc;
  if (accept(Tok::Colon)) {
    p.type = parseType();
    if (!p.type)
      return false;
  }
  if (allowDefault && accept(Tok::Assign)) {
    p.defaultValue = parseExpr();
    if (!p.defaultValue)
      return false;
  }
  return true;
}

bool Parser::checkUnique(const std::vector<ast::Param> &ps, const char *what) {
  std::set<std::string> seen;
  for (const ast::Param &p : ps)
    if (!seen.insert(p.name).second)
      return fail(p.loc, std::string(what) + " '" + p.name + "' declared twice");
  return true;
}

bool Parser::parseOutputs(ast::Decl &d) {
  if (!at(Tok::LParen)) {
    ast::Param p;
    if (!parseParam(p, /*allowDefault=*/false))
      return false;
    d.outputs.push_back(std::move(p));
    return true;
  }
  Token open = take();
  do {
    if (at(Tok::RParen) && !d.outputs.empty())
      break; // trailing comma
    ast::Param p;
    if (!parseParam(p, /*allowDefault=*/false))
      return false;
    d.outputs.push_back(std::move(p));
  } while (accept(Tok::Comma));
  return expectClose(Tok::RParen, "after outputs", open);
}

bool Parser::parseReturnTypes(ast::Decl &d) {
  if (!at(Tok::LParen)) {
    std::optional<ast::TypeExpr> t = parseType();
    if (!t)
      return false;
    d.returnTypes.push_back(std::move(*t));
    return true;
  }
  Token open = take();
  do {
    std::optional<ast::TypeExpr> t = parseType();
    if (!t)
      return false;
    d.returnTypes.push_back(std::move(*t));
  } while (accept(Tok::Comma));
  return expectClose(Tok::RParen, "after return types", open);
}

std::optional<ast::TypeExpr> Parser::parseType() {
  const char *kWhat = "a type (f32[...], i32[...], int, float, bool, str, fn or cell)";
  ast::TypeExpr t;
  t.loc = peek().loc;
  if (accept(Tok::KwCell)) {
    t.kind = ast::TypeExpr::Kind::Cell;
    return t;
  }
  if (!at(Tok::Ident) || !isTypeWord(peek().text)) {
    expected(kWhat);
    return std::nullopt;
  }
  std::string word = take().text;
  if (word == "int")
    t.kind = ast::TypeExpr::Kind::Int;
  else if (word == "float")
    t.kind = ast::TypeExpr::Kind::Float;
  else if (word == "bool")
    t.kind = ast::TypeExpr::Kind::Bool;
  else if (word == "str")
    t.kind = ast::TypeExpr::Kind::Str;
  else if (word == "fn")
    t.kind = ast::TypeExpr::Kind::Fn;
  if (word != "f32" && word != "i32")
    return t;
  t.kind = ast::TypeExpr::Kind::Tensor;
  t.dtype = word;
  if (!at(Tok::LBracket)) {
    expected("'[' and the dimensions after '" + word + "'");
    return std::nullopt;
  }
  Token open = take();
  if (!at(Tok::RBracket)) {
    do {
      ast::DimExpr dim;
      dim.loc = peek().loc;
      if (at(Tok::Int)) {
        dim.kind = ast::DimExpr::Kind::Int;
        dim.value = take().intValue;
      } else if (at(Tok::Ident)) {
        dim.kind = ast::DimExpr::Kind::Name;
        dim.name = take().text;
      } else if (accept(Tok::Ellipsis)) {
        dim.kind = ast::DimExpr::Kind::Ellipsis;
      } else {
        expected("a dimension (an integer, a name or '...')");
        return std::nullopt;
      }
      t.dims.push_back(std::move(dim));
    } while (accept(Tok::Comma));
  }
  if (!expectClose(Tok::RBracket, "after dimensions", open))
    return std::nullopt;
  return t;
}

bool Parser::parseBlock(std::vector<ast::Stmt> &body, const std::string &context) {
  if (!at(Tok::LBrace))
    return expected("'{' " + context);
  Token open = take();
  DepthScope scope(depth_);
  if (!enter(open.loc))
    return false;
  for (;;) {
    skipSeparators();
    if (at(Tok::RBrace) || at(Tok::Eof))
      break;
    if (!parseStmt(body) || !endStmt())
      return false;
  }
  return expectClose(Tok::RBrace, "to close the block", open);
}

/// A statement ends at a newline, ';' or the '}' closing its block.
bool Parser::endStmt() {
  if (at(Tok::Newline) || at(Tok::Semi) || at(Tok::RBrace))
    return true;
  if (at(Tok::Assign))
    return fail(peek().loc, "cannot assign to this expression (assignment targets must be "
                            "names)");
  return expected("newline or ';' after statement");
}

bool Parser::parseStmt(std::vector<ast::Stmt> &body) {
  ast::Stmt s;
  s.loc = peek().loc;
  if (at(Tok::Ident) && (peek(1).kind == Tok::Comma || peek(1).kind == Tok::Assign)) {
    s.kind = ast::Stmt::Kind::Assign;
    do {
      if (!at(Tok::Ident))
        return expected("a name to assign to");
      Token t = take();
      s.targets.push_back(t.text);
      s.targetLocs.push_back(t.loc);
    } while (accept(Tok::Comma));
    if (!expect(Tok::Assign, "after assignment targets"))
      return false;
    ExprPtr rhs = parseExpr();
    if (!rhs)
      return false;
    s.values.push_back(std::move(rhs));
  } else if (accept(Tok::KwReturn)) {
    s.kind = ast::Stmt::Kind::Return;
    if (at(Tok::Newline) || at(Tok::Semi) || at(Tok::RBrace) || at(Tok::Eof)) {
      body.push_back(std::move(s));
      return true;
    }
    do {
      ExprPtr e = parseExpr();
      if (!e)
        return false;
      s.values.push_back(std::move(e));
    } while (accept(Tok::Comma));
  } else if (at(Tok::KwIf)) {
    if (!parseIf(s))
      return false;
  } else if (at(Tok::KwElse)) {
    return fail(peek().loc, "'else' must be on the same line as the '}' that closes its 'if'");
  } else {
    s.kind = ast::Stmt::Kind::ExprStmt;
    ExprPtr e = parseExpr();
    if (!e)
      return false;
    s.values.push_back(std::move(e));
  }
  body.push_back(std::move(s));
  return true;
}

bool Parser::parseIf(ast::Stmt &s) {
  Token kw = take(); // 'if'
  DepthScope scope(depth_);
  if (!enter(kw.loc))
    return false;
  s.kind = ast::Stmt::Kind::If;
  s.loc = kw.loc;
  ExprPtr cond = parseExpr();
  if (!cond)
    return false;
  s.values.push_back(std::move(cond));
  if (!parseBlock(s.thenBody, "after the 'if' condition"))
    return false;
  if (!accept(Tok::KwElse))
    return true;
  if (at(Tok::KwIf)) {
    ast::Stmt inner;
    if (!parseIf(inner))
      return false;
    s.elseBody.push_back(std::move(inner));
    return true;
  }
  if (!at(Tok::LBrace))
    return expected("'{' or 'if' after 'else'");
  return parseBlock(s.elseBody, "after 'else'");
}

ExprPtr Parser::binary(const Token &op, ExprPtr lhs, ExprPtr rhs) {
  auto e = std::make_unique<Expr>(Expr::Kind::Binary, op.loc);
  e->text = op.text;
  e->children.push_back(std::move(lhs));
  e->children.push_back(std::move(rhs));
  return e;
}

ExprPtr Parser::parseOr() {
  DepthScope scope(depth_);
  ExprPtr lhs = parseAnd();
  while (lhs && at(Tok::KwOr)) {
    Token op = take();
    ExprPtr rhs = enter(op.loc) ? parseAnd() : nullptr;
    lhs = rhs ? binary(op, std::move(lhs), std::move(rhs)) : nullptr;
  }
  return lhs;
}

ExprPtr Parser::parseAnd() {
  DepthScope scope(depth_);
  ExprPtr lhs = parseNot();
  while (lhs && at(Tok::KwAnd)) {
    Token op = take();
    ExprPtr rhs = enter(op.loc) ? parseNot() : nullptr;
    lhs = rhs ? binary(op, std::move(lhs), std::move(rhs)) : nullptr;
  }
  return lhs;
}

ExprPtr Parser::parseNot() {
  if (!at(Tok::KwNot))
    return parseCmp();
  Token op = take();
  DepthScope scope(depth_);
  if (!enter(op.loc))
    return nullptr;
  ExprPtr operand = parseNot();
  if (!operand)
    return nullptr;
  auto e = std::make_unique<Expr>(Expr::Kind::Unary, op.loc);
  e->text = op.text;
  e->children.push_back(std::move(operand));
  return e;
}

static bool isComparison(Tok k) {
  return k == Tok::EqEq || k == Tok::NotEq || k == Tok::Less || k == Tok::LessEq ||
         k == Tok::Greater || k == Tok::GreaterEq;
}

ExprPtr Parser::parseCmp() {
  ExprPtr lhs = parseAdd();
  if (!lhs || !isComparison(peek().kind))
    return lhs;
  Token op = take();
  ExprPtr rhs = parseAdd();
  if (!rhs)
    return nullptr;
  if (isComparison(peek().kind)) {
    fail(peek().loc, "comparisons cannot be chained; combine them with 'and'");
    return nullptr;
  }
  return binary(op, std::move(lhs), std::move(rhs));
}

ExprPtr Parser::parseAdd() {
  DepthScope scope(depth_);
  ExprPtr lhs = parseMul();
  while (lhs && (at(Tok::Plus) || at(Tok::Minus))) {
    Token op = take();
    ExprPtr rhs = enter(op.loc) ? parseMul() : nullptr;
    lhs = rhs ? binary(op, std::move(lhs), std::move(rhs)) : nullptr;
  }
  return lhs;
}

ExprPtr Parser::parseMul() {
  DepthScope scope(depth_);
  ExprPtr lhs = parseUnary();
  while (lhs && (at(Tok::Star) || at(Tok::Slash) || at(Tok::At))) {
    Token op = take();
    ExprPtr rhs = enter(op.loc) ? parseUnary() : nullptr;
    lhs = rhs ? binary(op, std::move(lhs), std::move(rhs)) : nullptr;
  }
  return lhs;
}

ExprPtr Parser::parseUnary() {
  if (!at(Tok::Minus))
    return parsePostfix();
  Token op = take();
  DepthScope scope(depth_);
  if (!enter(op.loc))
    return nullptr;
  ExprPtr operand = parseUnary();
  if (!operand)
    return nullptr;
  auto e = std::make_unique<Expr>(Expr::Kind::Unary, op.loc);
  e->text = op.text;
  e->children.push_back(std::move(operand));
  return e;
}

ExprPtr Parser::parsePostfix() {
  ir::Loc start = peek().loc;
  DepthScope scope(depth_);
  ExprPtr e = parsePrimary();
  while (e && at(Tok::LParen)) {
    Token open = take();
    if (!enter(open.loc))
      return nullptr;
    auto call = std::make_unique<Expr>(Expr::Kind::Call, start);
    call->children.push_back(std::move(e));
    if (!parseArgs(*call, open))
      return nullptr;
    e = std::move(call);
  }
  return e;
}

bool Parser::parseArgs(Expr &call, const Token &open) {
  std::set<std::string> keywords;
  while (!at(Tok::RParen)) {
    ast::Arg arg;
    arg.loc = peek().loc;
    if (at(Tok::Ident) && peek(1).kind == Tok::Assign) {
      arg.keyword = take().text;
      take(); // '='
      if (!keywords.insert(arg.keyword).second)
        return fail(arg.loc, "keyword argument '" + arg.keyword + "' given twice");
    } else if (!keywords.empty()) {
      return fail(arg.loc, "positional argument after keyword argument");
    }
    arg.value = parseExpr();
    if (!arg.value)
      return false;
    call.args.push_back(std::move(arg));
    if (!accept(Tok::Comma))
      break;
  }
  return expectClose(Tok::RParen, "after arguments", open);
}

ExprPtr Parser::parsePrimary() {
  const Token &t = peek();
  switch (t.kind) {
  case Tok::Int: {
    auto e = std::make_unique<Expr>(Expr::Kind::Int, t.loc);
    e->intValue = t.intValue;
    take();
    return e;
  }
  case Tok::Float: {
    auto e = std::make_unique<Expr>(Expr::Kind::Float, t.loc);
    e->floatValue = t.floatValue;
    take();
    return e;
  }
  case Tok::KwTrue:
  case Tok::KwFalse: {
    auto e = std::make_unique<Expr>(Expr::Kind::Bool, t.loc);
    e->boolValue = t.kind == Tok::KwTrue;
    take();
    return e;
  }
  case Tok::String:
  case Tok::Ident: {
    auto e = std::make_unique<Expr>(t.kind == Tok::String ? Expr::Kind::String : Expr::Kind::Name,
                                    t.loc);
    e->text = take().text;
    return e;
  }
  case Tok::LParen: {
    Token open = take();
    DepthScope scope(depth_);
    if (!enter(open.loc))
      return nullptr;
    ExprPtr first = parseExpr();
    if (!first)
      return nullptr;
    if (!at(Tok::Comma)) {
      if (!expectClose(Tok::RParen, "after parenthesized expression", open))
        return nullptr;
      return first;
    }
    auto tuple = std::make_unique<Expr>(Expr::Kind::Tuple, open.loc);
    tuple->children.push_back(std::move(first));
    take(); // ','
    if (!at(Tok::RParen)) {
      do {
        ExprPtr e = parseExpr();
        if (!e)
          return nullptr;
        tuple->children.push_back(std::move(e));
      } while (accept(Tok::Comma));
    }
    if (!expectClose(Tok::RParen, "after tuple elements", open))
      return nullptr;
    return tuple;
  }
  case Tok::LBracket: {
    Token open = take();
    DepthScope scope(depth_);
    if (!enter(open.loc))
      return nullptr;
    auto list = std::make_unique<Expr>(Expr::Kind::List, open.loc);
    while (!at(Tok::RBracket)) {
      ExprPtr e = parseExpr();
      if (!e)
        return nullptr;
      list->children.push_back(std::move(e));
      if (!accept(Tok::Comma))
        break;
    }
    if (!expectClose(Tok::RBracket, "after list elements", open))
      return nullptr;
    return list;
  }
  default:
    expected("an expression");
    return nullptr;
  }
}

} // namespace

llvm::Expected<std::unique_ptr<ast::File>> parseFile(const SourceManager &sm,
                                                     const std::string &name) {
  const std::string *text = sm.text(name);
  if (!text)
    return errorAt(sm, ir::Loc{name, 0, 0}, "no source buffer named '" + name + "'");
  Parser p(sm, name, *text);
  return p.run(name);
}

} // namespace loom::frontend
