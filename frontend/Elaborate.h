#pragma once
// From syntax to IR. A model body is evaluated at compile time: numbers, booleans,
// strings, functions and cells are static values; tensors are IR values. Calls to `def`s
// (the prelude's layers and the user's own) are inlined; `cell`s are driven over time by
// the builtin rnn(), which emits a layer-level `rnn` op. Errors point at the user's source
// (a problem inside a prelude layer is reported at the user's call of that layer).
#include "frontend/AST.h"
#include "frontend/Diagnostics.h"
#include "frontend/GenerateSettings.h"
#include "frontend/TrainSpec.h"
#include "ir/IR.h"

#include "llvm/Support/Error.h"

#include <memory>
#include <string>

namespace loom::frontend {

/// The built-in layers, written in loom (frontend/prelude.loom).
const char *preludeText();

/// The prelude's syntax tree, parsed once per process; immutable and shared by every
/// compile (thread-safe). Its locations name "<prelude>": a SourceManager that reports them
/// needs preludeText() registered under that name (compileSource does it).
const ast::File &parsedPrelude();

/// Elaborates model `modelName` of `user` (or its only model when the name is empty) with
/// the prelude's declarations in scope.
llvm::Expected<std::unique_ptr<ir::Module>>
elaborate(const SourceManager &sm, const ast::File &user, const ast::File &prelude,
          const std::string &modelName = "", TrainSpec *train = nullptr,
          const GenerateSettings *generate = nullptr);

/// Reads `path`, parses it and the prelude, and elaborates. `sm` keeps the buffers for
/// later diagnostics.
llvm::Expected<std::unique_ptr<ir::Module>> compileFile(SourceManager &sm, const std::string &path,
                                                        const std::string &modelName = "",
                                                        TrainSpec *train = nullptr,
                                                        const GenerateSettings *generate = nullptr);
/// The same for source text held in memory under the name `name`.
llvm::Expected<std::unique_ptr<ir::Module>>
compileSource(SourceManager &sm, const std::string &name, std::string text,
              const std::string &modelName = "", TrainSpec *train = nullptr,
              const GenerateSettings *generate = nullptr);

} // namespace loom::frontend
