// loom convert and loom plot-history: the parts of the tool written in Python (the loom
// package's __main__.py, over h5py, matplotlib and optionally PyTorch). The tool finds the
// package next to itself (the build tree's <build>/python, or an installed
// <prefix>/lib/python3.X/dist-packages) and hands the arguments to Debian's Python.
#include "tools/Commands.h"

#include <fmt/format.h>

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>

namespace fs = std::filesystem;

namespace {

/// The directory holding the `loom` package, near this executable; empty if none is (then
/// Python's own path must have it, as for an install into /usr or /usr/local).
std::string packageDir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec)
    return "";
  fs::path root = exe.parent_path().parent_path();
  if (fs::exists(root / "python" / "loom" / "__init__.py", ec))
    return (root / "python").string();
  for (auto &e : fs::directory_iterator(root / "lib", ec))
    if (e.path().filename().string().rfind("python3", 0) == 0 &&
        fs::exists(e.path() / "dist-packages" / "loom" / "__init__.py", ec))
      return (e.path() / "dist-packages").string();
  return "";
}

int runPython(const std::string &cmd, const std::vector<std::string> &args) {
  std::string dir = packageDir();
  if (!dir.empty()) {
    const char *old = std::getenv("PYTHONPATH");
    std::string path = old && *old ? dir + ":" + old : dir;
    ::setenv("PYTHONPATH", path.c_str(), 1);
  }
  std::vector<std::string> argv{"python3", "-m", "loom", cmd};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char *> cargv;
  for (auto &a : argv)
    cargv.push_back(a.data());
  cargv.push_back(nullptr);
  ::execv(LOOM_PYTHON, cargv.data());
  return reportError(fmt::format("{}: cannot run {} ({}); loom {} needs Python 3 with the loom "
                                 "package (python/)",
                                 cmd, LOOM_PYTHON, std::strerror(errno), cmd));
}

} // namespace

std::function<int()> addPythonCommands(CLI::App &app) {
  auto *convert = app.add_subcommand(
      "convert", "PyTorch or Keras weights into loom's .npz (loom convert --from torch|keras-h5 "
                 "IN --model M.loom -o w.npz; --help for more)");
  auto *plot = app.add_subcommand(
      "plot-history", "training curves from a history CSV (loom plot-history h.csv -o c.png)");
  for (CLI::App *c : {convert, plot}) {
    c->prefix_command();
    // Every argument is the Python side's, also those the tool knows (--max-memory):
    // none falls through to the main command.
    c->fallthrough(false);
    c->set_help_flag(); // --help goes to the Python side, which knows the options
  }
  return [convert, plot]() {
    if (*convert)
      return runPython("convert", convert->remaining());
    if (*plot)
      return runPython("plot-history", plot->remaining());
    return -1;
  };
}
