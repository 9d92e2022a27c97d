#pragma once
#include "ir/IR.h"

#include "llvm/Support/Error.h"

#include <memory>
#include <string>

namespace loom::ir {

/// Parses the text form (ir/Printer.h). Result types after ':' may be omitted on ops whose
/// types can be inferred; they are then filled by inferTypes(). Errors carry
/// "file:line:col: error: ...".
llvm::Expected<std::unique_ptr<Module>> parseModule(const std::string &text,
                                                    const std::string &filename);

} // namespace loom::ir
