#pragma once
// Subcommands of the loom tool that live in their own files, and the shared error output.
#include <CLI/CLI.hpp>

#include "ir/IR.h"
#include "runtime/Npy.h"

#include "llvm/Support/Error.h"

#include <functional>
#include <string>

/// Prints an error (located errors as they are, others as "loom: error: ...") and
/// returns the exit code 1.
int report(llvm::Error e);
int reportError(const std::string &msg);

// Shared by the commands that run a model (run, generate; tools/loom.cpp).

/// The weights of `f` from --weights `path`: an error when `f` has weights and no file is
/// given; a file given for a model without weights is still read and checked.
llvm::Expected<std::vector<loom::rt::Tensor>> weightsFlag(const loom::ir::Function &f,
                                                          const std::string &path);
/// The arrays of --inputs `npz`, then one per --input NAME=FILE.npy in `specs`; `what` is set
/// to where they came from, for api::matchInputs's messages.
llvm::Expected<loom::rt::NamedTensors>
inputFlags(const std::string &npz, const std::vector<std::string> &specs, std::string &what);
/// `f` run by the reference interpreter, or JIT-compiled for `targetCpu` and run; generated
/// sequences trimmed to their longest row (api::trimGenerated).
llvm::Expected<std::vector<loom::rt::Tensor>>
runFunction(const loom::ir::Function &f, const std::vector<loom::rt::Tensor> &inputs,
            const std::vector<loom::rt::Tensor> &params, bool interpret,
            const std::string &targetCpu);

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
