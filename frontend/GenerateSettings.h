#pragma once
// Settings of the `generate` builtin given outside the model file (`loom generate`'s flags,
// CompileOptions::generate): each one given replaces the keyword argument of that name in
// every generate(...) call of the model being compiled.
#include <cstdint>
#include <optional>

namespace loom::frontend {

struct GenerateSettings {
  std::optional<int64_t> maxLength, topK, endToken, beams; // max_length, top_k, end_token
  std::optional<double> temperature, topP, repetitionPenalty, lengthPenalty;
  std::optional<bool> sample;
  bool any() const {
    return maxLength || topK || endToken || beams || temperature || topP || repetitionPenalty ||
           lengthPenalty || sample;
  }
};

} // namespace loom::frontend
