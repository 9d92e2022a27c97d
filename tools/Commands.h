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

/// --unroll's values: none, full or a step count N >= 1 (1 is none).
CLI::Validator unrollValidator();
inline const char *kUnrollHelp =
    "none: loops stay loops; full: unroll loops whose step count is known when compiling; N: "
    "emit each loop's body N times per iteration (default: the model's unroll(...) "
    "statement, else none)";

/// For counts (--threads, --epochs, --batch...): a whole number of 1 or more. CLI11's
/// PositiveNumber says "Value 0 not in range 0.000000 to 1.797e308".
CLI::Validator positiveCount();

/// The thread count of oneDNN and of loom's kernels (OpenMP) for this process.
void setThreads(int n);

/// Registers `loom bench`; the returned function runs it if it was chosen (else -1).
std::function<int()> addBenchCommand(CLI::App &app);

/// Registers `loom train` and `loom eval` (tools/TrainCommand.cpp); the returned function
/// runs the one that was chosen (else -1).
std::function<int()> addTrainCommands(CLI::App &app);

/// Registers `loom generate` (tools/GenerateCommand.cpp).
std::function<int()> addGenerateCommand(CLI::App &app);

/// Registers `loom convert` and `loom plot-history` (tools/PythonCommands.cpp), which run the
/// loom Python package's __main__; the returned function runs the one chosen (else -1).
std::function<int()> addPythonCommands(CLI::App &app);
