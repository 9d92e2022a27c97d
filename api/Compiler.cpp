#include "api/Compiler.h"

#include "frontend/Elaborate.h"
#include "ir/TextParser.h"
#include "ir/Verifier.h"

#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

namespace loom::api {

static bool endsWith(const std::string &s, const char *suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

bool isIRFile(const std::string &path) {
  if (endsWith(path, ".lir") || path == "-")
    return true;
  if (endsWith(path, ".loom"))
    return false;
  // Another name (a test's temporary file, say): IR text starts with `func`, after
  // blank lines and // comments.
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    size_t i = line.find_first_not_of(" \t\r");
    if (i == std::string::npos || line.compare(i, 2, "//") == 0)
      continue;
    return line.compare(i, 5, "func ") == 0;
  }
  return false;
}

llvm::Expected<std::unique_ptr<ir::Module>>
compile(frontend::SourceManager &sm, const std::string &path, const CompileOptions &opts) {
  std::unique_ptr<ir::Module> m;
  std::vector<std::string> pipeline = opts.pipeline;
  if (isIRFile(path)) {
    std::string text;
    if (path == "-") {
      std::stringstream ss;
      ss << std::cin.rdbuf();
      text = ss.str();
    } else {
      std::ifstream in(path, std::ios::binary);
      if (!in)
        return llvm::createStringError(llvm::inconvertibleErrorCode(), "cannot read '%s'",
                                       path.c_str());
      std::stringstream ss;
      ss << in.rdbuf();
      text = ss.str();
    }
    auto parsed = ir::parseModule(text, path);
    if (!parsed)
      return parsed.takeError();
    m = std::move(*parsed);
  } else {
    auto elaborated = frontend::compileFile(sm, path, opts.modelName, nullptr,
                                            opts.generate.any() ? &opts.generate : nullptr);
    if (!elaborated)
      return elaborated.takeError();
    m = std::move(*elaborated);
  }
  // The option wins over the model's unroll(...) statement; the default pipeline and the
  // unroll pass read it from the function's hints (also for IR text, and for a pipeline
  // given by hand).
  if (!opts.unroll.empty() && m->main())
    m->main()->hints["unroll"] = opts.unroll;
  if (pipeline.empty() && !isIRFile(path))
    pipeline = passes::defaultPipeline(*m);
  if (auto e = ir::verify(*m))
    return llvm::createStringError(llvm::inconvertibleErrorCode(), "%s: %s", path.c_str(),
                                   llvm::toString(std::move(e)).c_str());
  if (opts.passOptions.afterPass)
    opts.passOptions.afterPass("input", *m);
  if (opts.passOptions.stopAfter == "input")
    return m;
  if (auto e = passes::runPipeline(*m, pipeline, opts.passOptions))
    return std::move(e);
  return m;
}

void trimGenerated(const ir::Function &f, std::vector<rt::Tensor> &outs) {
  auto indexOf = [&](const std::string &name) {
    for (size_t i = 0; i < f.outputNames.size(); ++i)
      if (f.outputNames[i] == name)
        return (int64_t)i;
    return int64_t(-1);
  };
  for (auto &[key, lengthsName] : f.hints) {
    if (key.rfind("trim:", 0) != 0)
      continue;
    int64_t i = indexOf(key.substr(5)), j = indexOf(lengthsName);
    if (i < 0 || j < 0 || (size_t)std::max(i, j) >= outs.size())
      continue;
    rt::Tensor &seq = outs[(size_t)i];
    const rt::Tensor &len = outs[(size_t)j];
    if (seq.rank() < 2 || len.dtype() != rt::DType::I32 || len.numel() != seq.shape()[0])
      continue;
    int64_t B = seq.shape()[0], N = seq.shape()[1], L = 0;
    for (int64_t b = 0; b < B; ++b)
      L = std::max<int64_t>(L, std::min<int64_t>(len.i32()[b], N));
    if (L == N)
      continue;
    std::vector<int64_t> shape = seq.shape();
    shape[1] = L;
    int64_t inner = seq.numel() / std::max<int64_t>(1, B * N) * 4; // bytes per step
    rt::Tensor t(seq.dtype(), shape);
    for (int64_t b = 0; b < B; ++b)
      if (L * inner > 0)
        std::memcpy((char *)t.data() + b * L * inner, (const char *)seq.data() + b * N * inner,
                    (size_t)(L * inner));
    seq = std::move(t);
  }
}

} // namespace loom::api
