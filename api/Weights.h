#pragma once
// Matching named tensors (from .npz files) to a function's weights and inputs.
#include "ir/IR.h"
#include "runtime/Npy.h"

#include "llvm/Support/Error.h"

#include <string>
#include <vector>

namespace loom::api {

/// The function's weights in parameter order, by key. A missing weight or one the model
/// does not have is an error naming it and `what` (usually the file). Shapes are checked
/// later, against the signature (ir::bindSymbols).
llvm::Expected<std::vector<rt::Tensor>>
matchWeights(const ir::Function &f, const rt::NamedTensors &stored, const std::string &what);
llvm::Expected<std::vector<rt::Tensor>> loadWeights(const ir::Function &f, const std::string &path);

/// The function's inputs in order, by name; an unknown or missing name is an error.
llvm::Expected<std::vector<rt::Tensor>>
matchInputs(const ir::Function &f, const rt::NamedTensors &given, const std::string &what);

} // namespace loom::api
