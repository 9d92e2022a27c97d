#pragma once
// Argument helpers shared by the builtin files (frontend/Builtins.cpp, BuiltinsTrain.cpp).
#include "frontend/Elaborator.h"

#include "llvm/Support/Error.h"

#include <map>
#include <string>
#include <vector>

namespace loom::frontend {

/// Argument `name` of builtin `fn` as a tensor (an error at the argument otherwise).
llvm::Expected<ir::Value *> tensorArg(Elaborator &el, const BoundArgs &a, const char *name,
                                      const char *fn);
llvm::Expected<int64_t> intArg(Elaborator &el, const BoundArgs &a, const char *name,
                               const char *fn);
/// An axis argument, negative counting from the end, checked against `rank`.
llvm::Expected<int64_t> axisArg(Elaborator &el, const BoundArgs &a, const char *name,
                                const char *fn, int64_t rank);
/// A list of sizes (ints or symbolic dims).
llvm::Expected<std::vector<ir::Dim>> shapeArg(Elaborator &el, const BoundArgs &a, const char *name);

/// Registers the training builtins (frontend/BuiltinsTrain.cpp).
void addTrainingBuiltins(std::map<std::string, Builtin> &m);
/// Registers generate and scan (frontend/Generate.cpp).
void addGenerateBuiltins(std::map<std::string, Builtin> &m);

} // namespace loom::frontend
