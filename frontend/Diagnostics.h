#pragma once
// Source buffers and located error messages:
//   file:line:col: error: message
//     <the source line>
//     <spaces>^
#include "ir/IR.h"

#include "llvm/Support/Error.h"

#include <map>
#include <string>

namespace loom::frontend {

class SourceManager {
public:
  /// Registers a buffer under `name` (a path, or "<prelude>"); returns its text.
  const std::string &add(const std::string &name, std::string text);
  const std::string *text(const std::string &name) const;
  /// Line `line` (1-based) of `name` without its newline; empty if out of range.
  std::string line(const std::string &name, int line) const;

private:
  std::map<std::string, std::string> buffers_;
};

/// "file:line:col: <severity>: msg\n  <line>\n  <caret>\n" (no source lines if loc unknown).
std::string formatDiagnostic(const SourceManager &sm, const ir::Loc &loc,
                             const std::string &severity, const std::string &msg);
/// An llvm::Error whose message is formatDiagnostic(..., "error", msg).
llvm::Error errorAt(const SourceManager &sm, const ir::Loc &loc, const std::string &msg);

} // namespace loom::frontend
