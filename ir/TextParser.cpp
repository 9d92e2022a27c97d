// The textual IR parser: a hand-written lexer and a recursive-descent parser for the
// format that ir/Printer.cpp writes (see docs/ir.md). Whitespace, including newlines, is
// insignificant; `//` starts a comment that runs to the end of the line.
#include "ir/TextParser.h"
#include "ir/TypeInference.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <unordered_map>
#include <unordered_set>

namespace loom::ir {
namespace detail {
bool isIdentifier(const std::string &s); // ir/Printer.cpp
} // namespace detail

namespace {

enum class Tok {
  Eof,
  Error, // text: the message
  Ident,
  ValueName, // %name; text without '%'
  FuncName,  // @name; text without '@'
  Int,
  Float,
  String, // text: the decoded contents
  LParen,
  RParen,
  LBrace,
  RBrace,
  LBracket,
  RBracket,
  Comma,
  Colon,
  Equal,
  Less,
  Greater,
  Arrow,
  Minus,
  Plus,
  Star,
  Slash,
};

struct Token {
  Tok kind = Tok::Eof;
  std::string text;
  size_t pos = 0; // byte offset of the first character
};

bool isIdentStart(char c) { return std::isalpha((unsigned char)c) || c == '_'; }
bool isIdentChar(char c) { return std::isalnum((unsigned char)c) || c == '_' || c == '.'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }

class Lexer {
public:
  explicit Lexer(const std::string &src) : src_(src) {}

  Token next() {
    skipSpaceAndComments();
    Token t;
    t.pos = pos_;
    if (pos_ >= src_.size())
      return t;
    char c = src_[pos_];
    auto punct = [&](Tok k, size_t len) {
      t.kind = k;
      t.text = src_.substr(pos_, len);
      pos_ += len;
      return t;
    };
    if (c == '%' || c == '@') {
      ++pos_;
      if (c == '@' && peek() == '"')
        return lexString(t, Tok::FuncName);
      t.kind = c == '%' ? Tok::ValueName : Tok::FuncName;
      t.text = readWhile(isIdentChar);
      if (t.text.empty())
        return error(t, std::string("expected a name after '") + c + "'");
      return t;
    }
    if (isIdentStart(c)) {
      t.kind = Tok::Ident;
      t.text = readWhile(isIdentChar);
      return t;
    }
    if (isDigit(c) || (c == '-' && isDigit(peek(1))))
      return lexNumber(t);
    if (c == '"')
      return lexString(t, Tok::String);
    switch (c) {
    case '(':
      return punct(Tok::LParen, 1);
    case ')':
      return punct(Tok::RParen, 1);
    case '{':
      return punct(Tok::LBrace, 1);
    case '}':
      return punct(Tok::RBrace, 1);
    case '[':
      return punct(Tok::LBracket, 1);
    case ']':
      return punct(Tok::RBracket, 1);
    case ',':
      return punct(Tok::Comma, 1);
    case ':':
      return punct(Tok::Colon, 1);
    case '=':
      return punct(Tok::Equal, 1);
    case '<':
      return punct(Tok::Less, 1);
    case '>':
      return punct(Tok::Greater, 1);
    case '-':
      return peek(1) == '>' ? punct(Tok::Arrow, 2) : punct(Tok::Minus, 1);
    case '+':
      return punct(Tok::Plus, 1);
    case '*':
      return punct(Tok::Star, 1);
    case '/':
      return punct(Tok::Slash, 1);
    }
    std::string shown = std::isprint((unsigned char)c) ? std::string(1, c) : "\\x??";
    return error(t, "unexpected character '" + shown + "'");
  }

private:
  char peek(size_t ahead = 0) const {
    return pos_ + ahead < src_.size() ? src_[pos_ + ahead] : '\0';
  }
  template <typename P> std::string readWhile(P pred) {
    size_t start = pos_;
    while (pos_ < src_.size() && pred(src_[pos_]))
      ++pos_;
    return src_.substr(start, pos_ - start);
  }
  void skipSpaceAndComments() {
    while (pos_ < src_.size()) {
      char c = src_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
        ++pos_;
      else if (c == '/' && peek(1) == '/')
        while (pos_ < src_.size() && src_[pos_] != '\n')
          ++pos_;
      else
        break;
    }
  }
  Token error(Token t, std::string msg) {
    t.kind = Tok::Error;
    t.text = std::move(msg);
    return t;
  }
  Token lexNumber(Token t) {
    size_t start = pos_;
    bool isFloat = false;
    if (peek() == '-')
      ++pos_;
    readWhile(isDigit);
    if (peek() == '.') {
      isFloat = true;
      ++pos_;
      readWhile(isDigit);
    }
    if ((peek() == 'e' || peek() == 'E') &&
        (isDigit(peek(1)) || ((peek(1) == '+' || peek(1) == '-') && isDigit(peek(2))))) {
      isFloat = true;
      pos_ += 2;
      readWhile(isDigit);
    }
    t.kind = isFloat ? Tok::Float : Tok::Int;
    t.text = src_.substr(start, pos_ - start);
    return t;
  }
  Token lexString(Token t, Tok kind) {
    ++pos_; // opening quote
    std::string s;
    while (true) {
      if (pos_ >= src_.size() || src_[pos_] == '\n')
        return error(t, "unterminated string");
      char c = src_[pos_++];
      if (c == '"')
        break;
      if (c != '\\') {
        s += c;
        continue;
      }
      char e = peek();
      ++pos_;
      if (e == '"' || e == '\\')
        s += e;
      else if (e == 'n')
        s += '\n';
      else if (e == 't')
        s += '\t';
      else if (e == 'x' && std::isxdigit((unsigned char)peek()) &&
               std::isxdigit((unsigned char)peek(1))) {
        s += (char)std::strtol(src_.substr(pos_, 2).c_str(), nullptr, 16);
        pos_ += 2;
      } else {
        t.pos = pos_ - 2;
        return error(t, "invalid escape sequence in string");
      }
    }
    t.kind = kind;
    t.text = std::move(s);
    return t;
  }

  const std::string &src_;
  size_t pos_ = 0;
};

constexpr int kMaxRegionDepth = 64;

class Parser {
public:
  Parser(const std::string &text, const std::string &filename)
      : src_(text), file_(filename), lex_(text) {
    advance();
  }

  llvm::Expected<std::unique_ptr<Module>> run() {
    auto m = std::make_unique<Module>();
    while (tok_.kind != Tok::Eof && ok())
      parseFunction(*m);
    if (!ok())
      return llvm::createStringError(llvm::inconvertibleErrorCode(), err_);
    return m;
  }

private:
  // --- Tokens and errors ---------------------------------------------------------------

  bool ok() const { return err_.empty(); }
  void advance() {
    if (ok())
      tok_ = lex_.next();
    if (tok_.kind == Tok::Error)
      fail(tok_.pos, tok_.text);
  }

  /// Records the first error (file:line:col, the source line and a caret); returns false.
  bool fail(size_t pos, const std::string &msg) {
    if (!ok())
      return false;
    if (pos >= src_.size()) // at the end: point just after the last character
      pos = src_.find_last_not_of(" \t\r\n") + 1;
    size_t lineStart = pos == 0 ? std::string::npos : src_.rfind('\n', pos - 1);
    lineStart = lineStart == std::string::npos ? 0 : lineStart + 1;
    size_t lineEnd = src_.find('\n', lineStart);
    if (lineEnd == std::string::npos)
      lineEnd = src_.size();
    int line = 1;
    for (size_t i = 0; i < lineStart; ++i)
      line += src_[i] == '\n';
    size_t col = pos - lineStart + 1;
    std::string text = src_.substr(lineStart, lineEnd - lineStart);
    if (!text.empty() && text.back() == '\r')
      text.pop_back();
    err_ = file_ + ":" + std::to_string(line) + ":" + std::to_string(col) + ": error: " + msg +
           "\n  " + text + "\n  " + std::string(col - 1, ' ') + "^\n";
    return false;
  }
  bool failHere(const std::string &msg) { return fail(tok_.pos, msg); }

  std::string describe(const Token &t) const {
    switch (t.kind) {
    case Tok::Eof:
      return "end of input";
    case Tok::Ident:
    case Tok::Int:
    case Tok::Float:
      return "'" + t.text + "'";
    case Tok::ValueName:
      return "'%" + t.text + "'";
    case Tok::FuncName:
      return "'@" + t.text + "'";
    case Tok::String:
      return "a string";
    default:
      return "'" + t.text + "'";
    }
  }
  bool expected(const std::string &what) {
    return failHere("expected " + what + ", got " + describe(tok_));
  }
  bool consume(Tok k, const char *what) {
    if (tok_.kind != k)
      return expected(what);
    advance();
    return ok();
  }
  bool isKeyword(const char *kw) const { return tok_.kind == Tok::Ident && tok_.text == kw; }

  // --- Value scopes --------------------------------------------------------------------

  static std::string hintOf(const std::string &name) {
    return detail::isIdentifier(name) ? name : "";
  }
  Value *lookup(const std::string &name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto f = it->find(name);
      if (f != it->end())
        return f->second;
    }
    return nullptr;
  }
  bool define(const std::string &name, size_t pos, Value *v) {
    if (lookup(name))
      return fail(pos, "redefinition of value '%" + name + "'");
    scopes_.back()[name] = v;
    return true;
  }
  void popScope() {
    for (auto &[name, v] : scopes_.back())
      hidden_.insert(name);
    scopes_.pop_back();
  }
  bool parseUse(Value *&v) {
    if (tok_.kind != Tok::ValueName)
      return expected("a value name");
    v = lookup(tok_.text);
    if (!v)
      return failHere(hidden_.count(tok_.text) ? "value '%" + tok_.text +
                                                     "' is defined inside a region and is not "
                                                     "visible here"
                                               : "use of undefined value '%" + tok_.text + "'");
    advance();
    return ok();
  }

  // --- Types and attributes ------------------------------------------------------------

  bool parseInt(const Token &t, int64_t &out) {
    errno = 0;
    char *end = nullptr;
    long long v = std::strtoll(t.text.c_str(), &end, 10);
    if (errno == ERANGE || *end != '\0')
      return fail(t.pos, "integer '" + t.text + "' is out of range");
    out = v;
    return true;
  }

  bool parseType(Type &t) {
    if (tok_.kind != Tok::Ident)
      return expected("a type");
    auto dt = parseDType(tok_.text);
    if (!dt)
      return failHere("unknown element type '" + tok_.text + "' (expected f32 or i32)");
    t.dtype = *dt;
    t.shape.clear();
    advance();
    if (!consume(Tok::LBracket, "'[' after the element type"))
      return false;
    while (ok() && tok_.kind != Tok::RBracket) {
      if (!t.shape.empty() && !consume(Tok::Comma, "',' or ']' in the shape"))
        return false;
      Dim d;
      if (!parseDim(d))
        return false;
      t.shape.push_back(d);
    }
    return consume(Tok::RBracket, "']'");
  }

  /// dim := term (('+' | '-') term)*;  term := atom (('*' | '/') atom)*;
  /// atom := INT | IDENT | '(' dim ')'
  bool parseDim(Dim &d, int depth = 0) {
    if (depth > 64)
      return failHere("dimension expression nested too deeply");
    if (!parseDimTerm(d, depth))
      return false;
    while (ok() && (tok_.kind == Tok::Plus || tok_.kind == Tok::Minus)) {
      Dim::Kind k = tok_.kind == Tok::Plus ? Dim::Kind::Add : Dim::Kind::Sub;
      advance();
      Dim r;
      if (!parseDimTerm(r, depth))
        return false;
      if (!fold(k, d, r))
        return false;
    }
    return ok();
  }
  /// d = d k r, refusing constants whose result overflows int64.
  bool fold(Dim::Kind k, Dim &d, const Dim &r) {
    bool constants = d.isStatic() && r.isStatic();
    d = Dim::binary(k, d, r);
    if (constants && !d.isStatic())
      return failHere("dimension expression overflows int64");
    return true;
  }
  bool parseDimTerm(Dim &d, int depth) {
    if (!parseDimAtom(d, depth))
      return false;
    while (ok() && (tok_.kind == Tok::Star || tok_.kind == Tok::Slash)) {
      Dim::Kind k = tok_.kind == Tok::Star ? Dim::Kind::Mul : Dim::Kind::Div;
      advance();
      Dim r;
      if (!parseDimAtom(r, depth))
        return false;
      if (k == Dim::Kind::Div && r.isStatic() && r.value() == 0)
        return failHere("dimension division by zero");
      if (!fold(k, d, r))
        return false;
    }
    return ok();
  }
  bool parseDimAtom(Dim &d, int depth) {
    if (tok_.kind == Tok::LParen) {
      advance();
      if (!parseDim(d, depth + 1))
        return false;
      return consume(Tok::RParen, "')' in the dimension");
    }
    if (tok_.kind == Tok::Ident) {
      d = Dim::symbol(tok_.text);
    } else if (tok_.kind == Tok::Int) {
      int64_t v = 0;
      if (!parseInt(tok_, v))
        return false;
      if (v < 0)
        return failHere("dimension must not be negative");
      d = Dim::constant(v);
    } else {
      return expected("a dimension (a number or a symbol)");
    }
    advance();
    return ok();
  }

  bool parseAttrValue(Attr &a) {
    Token t = tok_;
    if (t.kind == Tok::Int) {
      int64_t v = 0;
      if (!parseInt(t, v))
        return false;
      a = v;
    } else if (t.kind == Tok::Float) {
      a = std::strtod(t.text.c_str(), nullptr);
    } else if (t.kind == Tok::String) {
      a = t.text;
    } else if (t.kind == Tok::Minus || t.kind == Tok::Ident) {
      bool neg = t.kind == Tok::Minus;
      if (neg)
        advance();
      if (ok() && tok_.kind == Tok::Ident && (tok_.text == "inf" || tok_.text == "nan")) {
        double d = tok_.text == "inf" ? HUGE_VAL : std::nan("");
        a = neg ? -d : d;
      } else if (neg) {
        return expected("a number after '-'");
      } else if (t.text == "true" || t.text == "false") {
        a = t.text == "true";
      } else if (t.text == "dim") {
        advance();
        Dim d;
        if (!consume(Tok::Less, "'<' after 'dim'") || !parseDim(d))
          return false;
        if (tok_.kind != Tok::Greater)
          return expected("'>'");
        a = d;
      } else {
        return expected("an attribute value (number, true, false, string or dim<...>)");
      }
    } else {
      return expected("an attribute value");
    }
    advance();
    return ok();
  }

  bool parseAttrs(Op &op) {
    advance(); // '{'
    while (ok() && tok_.kind != Tok::RBrace) {
      if (!op.attrs.empty() && !consume(Tok::Comma, "',' or '}' in the attributes"))
        return false;
      if (tok_.kind != Tok::Ident && tok_.kind != Tok::String)
        return expected("an attribute name");
      std::string key = tok_.text;
      size_t keyPos = tok_.pos;
      advance();
      Attr a;
      if (!consume(Tok::Equal, "'=' after the attribute name") || !parseAttrValue(a))
        return false;
      if (!op.attrs.emplace(key, a).second)
        return fail(keyPos, "duplicate attribute '" + key + "'");
    }
    return consume(Tok::RBrace, "'}'");
  }

  // --- Ops, regions, functions ---------------------------------------------------------

  /// `(%a: type, ...)`; each argument is added to `b` and defined in the current scope.
  bool parseBlockArgs(Block &b) {
    if (!consume(Tok::LParen, "'('"))
      return false;
    while (ok() && tok_.kind != Tok::RParen) {
      if (!b.args.empty() && !consume(Tok::Comma, "',' or ')'"))
        return false;
      if (tok_.kind != Tok::ValueName)
        return expected("an argument name");
      Token name = tok_;
      advance();
      Type t;
      if (!consume(Tok::Colon, "':' after the argument name") || !parseType(t))
        return false;
      if (!define(name.text, name.pos, b.addArg(t, hintOf(name.text))))
        return false;
    }
    return consume(Tok::RParen, "')'");
  }

  bool parseOps(Block &b) {
    while (ok() && tok_.kind != Tok::RBrace) {
      if (tok_.kind == Tok::Eof)
        return expected("'}' at the end of the block");
      parseOp(b);
    }
    return consume(Tok::RBrace, "'}'");
  }

  bool parseRegion(Op &op) {
    if (depth_ >= kMaxRegionDepth)
      return failHere("regions are nested too deeply");
    ++depth_;
    Block *r = op.addRegion();
    scopes_.emplace_back();
    bool good =
        parseBlockArgs(*r) && consume(Tok::LBrace, "'{' to start the region") && parseOps(*r);
    popScope();
    --depth_;
    return good;
  }

  bool parseOp(Block &b) {
    size_t opPos = tok_.pos;
    std::vector<Token> names;
    if (tok_.kind == Tok::ValueName) {
      while (ok()) {
        if (tok_.kind != Tok::ValueName)
          return expected("a result name");
        names.push_back(tok_);
        advance();
        if (tok_.kind != Tok::Comma)
          break;
        advance();
      }
      if (!consume(Tok::Equal, "'=' after the result names"))
        return false;
    }
    if (tok_.kind != Tok::Ident)
      return expected("an op");
    Token mnemonic = tok_;
    auto kind = parseOpName(mnemonic.text);
    if (!kind)
      return failHere("unknown op '" + mnemonic.text + "'");
    advance();
    auto owned = std::make_unique<Op>(*kind);
    Op &op = *owned;
    if (tok_.kind == Tok::ValueName) {
      while (ok()) {
        Value *v = nullptr;
        if (!parseUse(v))
          return false;
        op.operands.push_back(v);
        if (tok_.kind != Tok::Comma)
          break;
        advance();
      }
    }
    if (tok_.kind == Tok::LBrace && !parseAttrs(op))
      return false;
    while (ok() && tok_.kind == Tok::LParen)
      if (!parseRegion(op))
        return false;
    bool haveTypes = ok() && tok_.kind == Tok::Colon;
    size_t typesPos = tok_.pos;
    std::vector<Type> types;
    if (haveTypes) {
      advance();
      do {
        if (!types.empty())
          advance(); // ','
        Type t;
        if (!parseType(t))
          return false;
        types.push_back(std::move(t));
      } while (ok() && tok_.kind == Tok::Comma);
    }
    if (!ok())
      return false;

    const OpInfo &info = opInfo(*kind);
    std::string mn = "'" + mnemonic.text + "'";
    if (info.numOperands >= 0 && (int)op.operands.size() != info.numOperands)
      return fail(mnemonic.pos, mn + " takes " + std::to_string(info.numOperands) +
                                    " operand(s), got " + std::to_string(op.operands.size()));
    if (info.numResults >= 0 && (int)names.size() != info.numResults)
      return fail(opPos, mn + " has " + std::to_string(info.numResults) + " result(s), got " +
                             std::to_string(names.size()) + " result name(s)");
    if (haveTypes && types.size() != names.size())
      return fail(typesPos, std::to_string(names.size()) + " result name(s) but " +
                                std::to_string(types.size()) + " result type(s)");

    owned->parent = &b;
    b.ops.push_back(std::move(owned));
    if (!haveTypes && info.numResults != 0) {
      // inferTypes reads these flags with std::get; a wrong kind must not throw.
      for (auto &[key, value] : op.attrs)
        if (op.kind == OpKind::Rnn && !std::holds_alternative<bool>(value) &&
            (key == "return_sequences" || key == "return_state" || key == "go_backwards"))
          return fail(mnemonic.pos, "attribute '" + key + "' of 'rnn' must be true or false");
      auto inferred = inferTypes(op);
      if (!inferred)
        return fail(mnemonic.pos, "cannot infer the result types of " + mn + ": " +
                                      llvm::toString(inferred.takeError()));
      types = std::move(*inferred);
      if (types.size() != names.size())
        return fail(opPos, mn + " has " + std::to_string(types.size()) + " result(s), got " +
                               std::to_string(names.size()) + " result name(s)");
    }
    for (size_t i = 0; i < names.size(); ++i)
      if (!define(names[i].text, names[i].pos, op.addResult(types[i], hintOf(names[i].text))))
        return false;
    return true;
  }

  bool parseFunction(Module &m) {
    if (!isKeyword("func"))
      return expected("'func'");
    advance();
    if (tok_.kind != Tok::FuncName)
      return expected("a function name ('@name')");
    Token name = tok_;
    if (m.lookup(name.text))
      return failHere("redefinition of function '@" + name.text + "'");
    advance();
    auto f = std::make_unique<Function>();
    f->name = name.text;
    scopes_.assign(1, {});
    hidden_.clear();
    if (!parseBlockArgs(f->body) || !consume(Tok::Arrow, "'->' after the inputs") ||
        !consume(Tok::LParen, "'(' before the output names"))
      return false;
    f->numInputs = f->body.args.size();
    while (ok() && tok_.kind != Tok::RParen) {
      if (!f->outputNames.empty() && !consume(Tok::Comma, "',' or ')'"))
        return false;
      if (tok_.kind != Tok::Ident && tok_.kind != Tok::String)
        return expected("an output name");
      f->outputNames.push_back(tok_.text);
      advance();
    }
    if (!consume(Tok::RParen, "')'"))
      return false;
    if (isKeyword("params")) {
      advance();
      if (!parseParams(*f))
        return false;
    }
    if (!consume(Tok::LBrace, "'{' to start the function body") || !parseOps(f->body))
      return false;
    scopes_.clear();
    m.functions.push_back(std::move(f));
    return true;
  }

  /// `(%p: type "key" init, ...)`
  bool parseParams(Function &f) {
    if (!consume(Tok::LParen, "'(' after 'params'"))
      return false;
    while (ok() && tok_.kind != Tok::RParen) {
      if (!f.params.empty() && !consume(Tok::Comma, "',' or ')'"))
        return false;
      if (tok_.kind != Tok::ValueName)
        return expected("a parameter name");
      Token name = tok_;
      advance();
      Type t;
      if (!consume(Tok::Colon, "':' after the parameter name") || !parseType(t))
        return false;
      ParamInfo p;
      if (tok_.kind != Tok::String)
        return expected("the parameter's key (a string like \"dense/kernel\")");
      p.key = tok_.text;
      advance();
      if (tok_.kind != Tok::Ident && tok_.kind != Tok::String)
        return expected("the parameter's initializer (like glorot_uniform)");
      p.init = tok_.text;
      advance();
      if (!define(name.text, name.pos, f.body.addArg(t, hintOf(name.text))))
        return false;
      f.params.push_back(std::move(p));
    }
    return consume(Tok::RParen, "')'");
  }

  const std::string &src_;
  std::string file_;
  Lexer lex_;
  Token tok_;
  std::string err_;
  std::vector<std::unordered_map<std::string, Value *>> scopes_;
  std::unordered_set<std::string> hidden_; // names that went out of scope with a region
  int depth_ = 0;
};

} // namespace

llvm::Expected<std::unique_ptr<Module>> parseModule(const std::string &text,
                                                    const std::string &filename) {
  return Parser(text, filename).run();
}

} // namespace loom::ir
