#pragma once
// `loom compile`: ahead-of-time compilation to an object file and a C header (docs/aot.md).
#include <CLI/CLI.hpp>

#include <functional>

/// Registers `loom compile`; the returned function runs it if it was chosen (else -1).
std::function<int()> addCompileCommand(CLI::App &app);
