#pragma once
#include "frontend/AST.h"
#include "frontend/Diagnostics.h"

#include "llvm/Support/Error.h"

#include <memory>

namespace loom::frontend {

/// Parses the buffer registered as `name` in `sm`. The first syntax error is returned as
/// a located error (file:line:col with the source line and a caret).
llvm::Expected<std::unique_ptr<ast::File>> parseFile(const SourceManager &sm,
                                                     const std::string &name);

} // namespace loom::frontend
