#include "frontend/Lexer.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace loom::frontend {

namespace {

bool isIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isIdentChar(char c) { return isIdentStart(c) || isDigit(c); }

/// A character as it should appear quoted in a message: 'x' or '\x01'.
std::string quoteChar(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f && c != '\'')
    return std::string("'") + c + "'";
  if (c == '\'')
    return "\"'\"";
  char buf[16];
  std::snprintf(buf, sizeof(buf), "'\\x%02x'", u);
  return buf;
}

/// Shortens a lexeme for messages so a runaway token does not flood the output.
std::string clip(const std::string &s) {
  constexpr size_t kMax = 24;
  std::string out;
  for (char c : s.substr(0, kMax)) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return s.size() > kMax ? out + "..." : out;
}

struct Keyword {
  const char *spelling;
  Tok kind;
};
constexpr Keyword kKeywords[] = {
    {"model", Tok::KwModel},   {"cell", Tok::KwCell},   {"def", Tok::KwDef},
    {"return", Tok::KwReturn}, {"if", Tok::KwIf},       {"else", Tok::KwElse},
    {"true", Tok::KwTrue},     {"false", Tok::KwFalse}, {"and", Tok::KwAnd},
    {"or", Tok::KwOr},         {"not", Tok::KwNot},
};

} // namespace

std::string tokSpelling(Tok k) {
  switch (k) {
  case Tok::Eof:
    return "end of file";
  case Tok::Error:
    return "invalid token";
  case Tok::Newline:
    return "newline";
  case Tok::Semi:
    return "';'";
  case Tok::Ident:
    return "identifier";
  case Tok::Int:
  case Tok::Float:
    return "number";
  case Tok::String:
    return "string";
  case Tok::LParen:
    return "'('";
  case Tok::RParen:
    return "')'";
  case Tok::LBracket:
    return "'['";
  case Tok::RBracket:
    return "']'";
  case Tok::LBrace:
    return "'{'";
  case Tok::RBrace:
    return "'}'";
  case Tok::Comma:
    return "','";
  case Tok::Colon:
    return "':'";
  case Tok::Assign:
    return "'='";
  case Tok::Arrow:
    return "'->'";
  case Tok::Ellipsis:
    return "'...'";
  case Tok::Plus:
    return "'+'";
  case Tok::Minus:
    return "'-'";
  case Tok::Star:
    return "'*'";
  case Tok::Slash:
    return "'/'";
  case Tok::At:
    return "'@'";
  case Tok::EqEq:
    return "'=='";
  case Tok::NotEq:
    return "'!='";
  case Tok::Less:
    return "'<'";
  case Tok::LessEq:
    return "'<='";
  case Tok::Greater:
    return "'>'";
  case Tok::GreaterEq:
    return "'>='";
  default:
    break;
  }
  for (const Keyword &kw : kKeywords)
    if (kw.kind == k)
      return std::string("'") + kw.spelling + "'";
  return "token";
}

std::string describeToken(const Token &t) {
  switch (t.kind) {
  case Tok::Ident:
    return "identifier '" + clip(t.text) + "'";
  case Tok::Int:
  case Tok::Float:
    return "number '" + clip(t.text) + "'";
  case Tok::String:
    return "string \"" + clip(t.text) + "\"";
  case Tok::Error:
    return "invalid token";
  default:
    break;
  }
  if (t.kind >= Tok::KwModel)
    return "keyword " + tokSpelling(t.kind);
  return tokSpelling(t.kind);
}

void Lexer::advance() {
  if (atEnd())
    return;
  if (text_[pos_] == '\n') {
    ++line_;
    col_ = 1;
  } else {
    ++col_;
  }
  ++pos_;
}

Token Lexer::make(Tok k, ir::Loc loc, std::string text) {
  Token t;
  t.kind = k;
  t.loc = std::move(loc);
  t.text = std::move(text);
  return t;
}

Token Lexer::error(ir::Loc loc, std::string msg) {
  // After an error the rest of the buffer is not trusted: keep returning the error.
  failed_ = true;
  lastError_ = make(Tok::Error, std::move(loc), std::move(msg));
  return lastError_;
}

Token Lexer::next() {
  if (failed_)
    return lastError_;
  Token t = lex();
  if (t.kind != Tok::Newline && t.kind != Tok::Eof)
    lastEnd_ = here();
  return t;
}

Token Lexer::lex() {
  for (;;) {
    char c = peekChar();
    // End of file is reported just after the last token: that is where whatever is
    // missing belongs, rather than on a blank line or comment after it.
    if (atEnd())
      return make(Tok::Eof, lastEnd_, "");
    if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
      advance();
      continue;
    }
    if (c == '#') {
      while (!atEnd() && peekChar() != '\n')
        advance();
      continue;
    }
    if (c == '\n') {
      ir::Loc loc = here();
      advance();
      if (depth_ > 0)
        continue;
      return make(Tok::Newline, loc, "\n");
    }
    break;
  }

  ir::Loc loc = here();
  char c = peekChar();
  if (isIdentStart(c))
    return lexIdentOrKeyword();
  if (isDigit(c))
    return lexNumber();
  if (c == '"')
    return lexString();

  auto single = [&](Tok k) {
    advance();
    return make(k, loc, std::string(1, c));
  };
  auto pair = [&](Tok k) {
    std::string s = text_.substr(pos_, 2).str();
    advance();
    advance();
    return make(k, loc, s);
  };
  char c1 = peekChar(1);
  switch (c) {
  case '(':
  case '[':
    ++depth_;
    return single(c == '(' ? Tok::LParen : Tok::LBracket);
  case ')':
  case ']':
    if (depth_ > 0)
      --depth_;
    return single(c == ')' ? Tok::RParen : Tok::RBracket);
  case '{':
    return single(Tok::LBrace);
  case '}':
    return single(Tok::RBrace);
  case ',':
    return single(Tok::Comma);
  case ':':
    return single(Tok::Colon);
  case ';':
    return single(Tok::Semi);
  case '+':
    return single(Tok::Plus);
  case '*':
    return single(Tok::Star);
  case '/':
    return single(Tok::Slash);
  case '@':
    return single(Tok::At);
  case '-':
    return c1 == '>' ? pair(Tok::Arrow) : single(Tok::Minus);
  case '=':
    return c1 == '=' ? pair(Tok::EqEq) : single(Tok::Assign);
  case '<':
    return c1 == '=' ? pair(Tok::LessEq) : single(Tok::Less);
  case '>':
    return c1 == '=' ? pair(Tok::GreaterEq) : single(Tok::Greater);
  case '!':
    if (c1 == '=')
      return pair(Tok::NotEq);
    return error(loc, "unexpected character '!' (logical negation is 'not')");
  case '.':
    if (c1 == '.' && peekChar(2) == '.') {
      advance();
      advance();
      advance();
      return make(Tok::Ellipsis, loc, "...");
    }
    if (isDigit(c1))
      return error(loc, "unexpected character '.' (a number needs a digit before the '.', "
                        "as in 0.5)");
    return error(loc, "unexpected character '.'");
  case '\'':
    return error(loc, "unexpected character \"'\" (strings use double quotes)");
  default:
    return error(loc, "unexpected character " + quoteChar(c));
  }
}

Token Lexer::lexIdentOrKeyword() {
  ir::Loc loc = here();
  size_t start = pos_;
  while (isIdentChar(peekChar()))
    advance();
  std::string word = text_.substr(start, pos_ - start).str();
  for (const Keyword &kw : kKeywords)
    if (word == kw.spelling)
      return make(kw.kind, loc, word);
  return make(Tok::Ident, loc, word);
}

Token Lexer::lexNumber() {
  ir::Loc loc = here();
  size_t start = pos_;
  bool isFloat = false;
  while (isDigit(peekChar()))
    advance();
  if (peekChar() == '.') {
    if (peekChar(1) == '.') // "1..": the dots are the mistake, not the number
      return error(here(), "unexpected '.' after number");
    advance();
    if (!isDigit(peekChar()))
      return error(loc, "expected a digit after '.' in number '" +
                            clip(text_.substr(start, pos_ - start).str()) + "'");
    while (isDigit(peekChar()))
      advance();
    isFloat = true;
  }
  if (peekChar() == 'e' || peekChar() == 'E') {
    advance();
    if (peekChar() == '+' || peekChar() == '-')
      advance();
    if (!isDigit(peekChar()))
      return error(loc, "expected exponent digits in number '" +
                            clip(text_.substr(start, pos_ - start).str()) + "'");
    while (isDigit(peekChar()))
      advance();
    isFloat = true;
  }
  std::string spelling = text_.substr(start, pos_ - start).str();
  if (isIdentChar(peekChar()))
    return error(here(), "unexpected character " + quoteChar(peekChar()) + " after number '" +
                             clip(spelling) + "'");
  Token t = make(isFloat ? Tok::Float : Tok::Int, loc, spelling);
  if (isFloat) {
    t.floatValue = std::strtod(spelling.c_str(), nullptr);
    if (std::isinf(t.floatValue))
      return error(loc, "number '" + clip(spelling) + "' is too large for a float");
  } else if (llvm::StringRef(spelling).getAsInteger(10, t.intValue)) {
    return error(loc, "integer '" + clip(spelling) + "' is too large (the limit is " +
                          std::to_string(INT64_MAX) + ")");
  }
  return t;
}

Token Lexer::lexString() {
  ir::Loc loc = here();
  advance(); // opening quote
  std::string value;
  for (;;) {
    if (atEnd() || peekChar() == '\n')
      return error(loc, "unterminated string");
    char c = peekChar();
    if (c == '"') {
      advance();
      return make(Tok::String, loc, value);
    }
    if (c != '\\') {
      value += c;
      advance();
      continue;
    }
    ir::Loc escLoc = here();
    advance();
    char e = peekChar();
    if (atEnd() || e == '\n')
      return error(loc, "unterminated string");
    switch (e) {
    case '"':
      value += '"';
      break;
    case '\\':
      value += '\\';
      break;
    case 'n':
      value += '\n';
      break;
    case 't':
      value += '\t';
      break;
    default: {
      std::string shown = quoteChar(e);
      return error(escLoc, "unknown escape sequence '\\" + shown.substr(1, shown.size() - 2) +
                               "' in string (use \\\" \\\\ \\n or \\t)");
    }
    }
    advance();
  }
}

} // namespace loom::frontend
