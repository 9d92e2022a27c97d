#pragma once
// Subcommands of the loom tool that live in their own files, and the shared error output.
#include <CLI/CLI.hpp>

#include "llvm/Support/Error.h"

#include <functional>
#include <string>

/// Prints an error (located errors as they are, others as "loom: error: ...") and
/// returns the exit code 1.
int report(llvm::Error e);
int reportError(const std::string &msg);

/// oneDNN's (OpenMP) thread count for this process.
void setThreads(int n);

/// Registers `loom bench`; the returned function runs it if it was chosen (else -1).
std::function<int()> addBenchCommand(CLI::App &app);

/// Registers `loom train` and `loom eval` (tools/TrainCommand.cpp); the returned function
/// runs the one that was chosen (else -1).
std::function<int()> addTrainCommands(CLI::App &app);
