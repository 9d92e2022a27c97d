#pragma once
// Tokens of a .loom file (docs/language.md, "Syntax").
//
// The lexer is pulled one token at a time so that the parser reports whichever error
// comes first in the file, lexical or syntactic. A lexical error is a token of kind
// Tok::Error whose text is the message. Newlines inside () and [] are dropped; the
// remaining ones become Tok::Newline (one per line break, blank lines included).
#include "ir/IR.h"

#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <string>

namespace loom::frontend {

enum class Tok {
  Eof,
  Error,
  Newline,
  Semi,
  Ident,
  Int,
  Float,
  String,
  LParen,
  RParen,
  LBracket,
  RBracket,
  LBrace,
  RBrace,
  Comma,
  Colon,
  Assign,
  Arrow,
  Ellipsis,
  Plus,
  Minus,
  Star,
  Slash,
  At,
  EqEq,
  NotEq,
  Less,
  LessEq,
  Greater,
  GreaterEq,
  KwModel,
  KwCell,
  KwDef,
  KwReturn,
  KwIf,
  KwElse,
  KwTrue,
  KwFalse,
  KwAnd,
  KwOr,
  KwNot,
};

struct Token {
  Tok kind = Tok::Eof;
  ir::Loc loc;
  /// Ident/keyword/number/punctuation: the source spelling; String: the decoded contents;
  /// Error: the message.
  std::string text;
  int64_t intValue = 0;
  double floatValue = 0;
};

/// The fixed spelling of a punctuation or keyword token ("'('", "'model'"), or a
/// description of the kind for the others ("identifier", "newline").
std::string tokSpelling(Tok k);
/// Describes a token for "found ..." in messages: identifier 'foo', number '3', '='.
std::string describeToken(const Token &t);

class Lexer {
public:
  Lexer(std::string file, llvm::StringRef text)
      : file_(std::move(file)), text_(text), lastEnd_{file_, 1, 1} {}
  Token next();

private:
  char peekChar(size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }
  bool atEnd() const { return pos_ >= text_.size(); }
  void advance();
  ir::Loc here() const { return {file_, line_, col_}; }
  Token make(Tok k, ir::Loc loc, std::string text);
  Token error(ir::Loc loc, std::string msg);
  Token lexNumber();
  Token lexString();
  Token lexIdentOrKeyword();
  Token lex();

  std::string file_;
  llvm::StringRef text_;
  size_t pos_ = 0;
  int line_ = 1, col_ = 1;
  int depth_ = 0;   // open ( and [ not yet closed
  ir::Loc lastEnd_; // just after the last token
  bool failed_ = false;
  Token lastError_;
};

} // namespace loom::frontend
