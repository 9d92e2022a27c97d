// Helpers shared by the codegen tests (declared in codegen_helpers.h).
#include "tests/unit/codegen_helpers.h"

#include "codegen/JIT.h"
#include "ir/Interpreter.h"
#include "ir/TextParser.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>

namespace loom::cgtest {

std::unique_ptr<ir::Module> parseIR(const std::string &text) {
  auto m = ir::parseModule(text, "test.lir");
  if (!m) {
    ADD_FAILURE() << llvm::toString(m.takeError()) << "\n" << text;
    return nullptr;
  }
  return std::move(*m);
}

std::string llvmIR(const ir::Function &f, bool optimized, const std::string &targetCpu) {
  auto ir = codegen::emitLLVMIR(f, optimized, targetCpu);
  if (!ir) {
    ADD_FAILURE() << llvm::toString(ir.takeError());
    return "";
  }
  if (const char *dump = std::getenv("LOOM_DUMP_LLVM"))
    std::ofstream(std::string(dump) + "/" + f.name + ".ll") << *ir;
  return *ir;
}

size_t countOf(const std::string &text, const std::string &needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
    ++n;
  return n;
}

std::string withReverse(std::string text, const char *rev) {
  size_t at = text.find("REV");
  if (at == std::string::npos) {
    ADD_FAILURE() << "no REV in the test's IR";
    return text;
  }
  return text.replace(at, 3, rev);
}

rt::Tensor randomTensor(ir::DType dt, const std::vector<int64_t> &shape, std::mt19937 &rng,
                        float scale) {
  rt::Tensor t(dt == ir::DType::F32 ? rt::DType::F32 : rt::DType::I32, shape);
  std::uniform_real_distribution<float> u(-scale, scale);
  std::uniform_int_distribution<int32_t> n(-6, 6);
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (dt == ir::DType::F32)
      t.f32()[i] = u(rng);
    else
      t.i32()[i] = n(rng);
  }
  return t;
}

/// Random inputs (first) and params (second) of `f` under `syms`.
std::pair<std::vector<rt::Tensor>, std::vector<rt::Tensor>>
randomArgs(const ir::Function &f, const ir::SymbolMap &syms, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<rt::Tensor> in, par;
  for (unsigned i = 0; i < f.body.args.size(); ++i) {
    const ir::Type &t = f.body.args[i]->type;
    bool isInput = i < f.numInputs;
    (isInput ? in : par)
        .push_back(randomTensor(t.dtype, ir::concreteShape(t, syms), rng, isInput ? 1.0f : 0.5f));
  }
  return {std::move(in), std::move(par)};
}

/// |got - want| <= tol * (1 + |want|) elementwise; NaN must match NaN, inf must match.
void expectClose(const rt::Tensor &got, const rt::Tensor &want, double tol,
                 const std::string &what) {
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  ASSERT_EQ(got.shape(), want.shape()) << what;
  int bad = 0;
  for (int64_t i = 0; i < want.numel() && bad < 5; ++i) {
    double g, w;
    if (want.dtype() == rt::DType::F32) {
      g = got.f32()[i];
      w = want.f32()[i];
    } else {
      g = got.i32()[i];
      w = want.i32()[i];
    }
    bool ok = (std::isnan(g) && std::isnan(w)) || g == w ||
              (std::isfinite(w) && std::fabs(g - w) <= tol * (1 + std::fabs(w)));
    if (!ok) {
      ++bad;
      ADD_FAILURE() << what << ": element " << i << " is " << g << ", interpreter says " << w;
    }
  }
}

/// Compiles `f` once and compares it with ir::interpret for each symbol assignment.
void checkAgainstInterpreter(const ir::Function &f, const std::vector<ir::SymbolMap> &cases,
                             uint32_t seed, double tol) {
  auto cf = codegen::CompiledFunction::compile(f);
  ASSERT_TRUE(bool(cf)) << llvm::toString(cf.takeError());
  for (const ir::SymbolMap &syms : cases) {
    std::string label = "@" + f.name + " with";
    for (auto &[k, v] : syms)
      label += " " + k + "=" + std::to_string(v);
    auto [in, par] = randomArgs(f, syms, seed++);
    auto want = ir::interpret(f, in, par);
    ASSERT_TRUE(bool(want)) << label << ": " << llvm::toString(want.takeError());
    auto got = (*cf)->run(in, par);
    ASSERT_TRUE(bool(got)) << label << ": " << llvm::toString(got.takeError());
    ASSERT_EQ(got->size(), want->size()) << label;
    for (size_t i = 0; i < want->size(); ++i)
      expectClose((*got)[i], (*want)[i], tol, label + ", output " + std::to_string(i));
  }
}

void checkText(const std::string &text, const std::vector<ir::SymbolMap> &cases, uint32_t seed,
               double tol) {
  auto m = parseIR(text);
  ASSERT_TRUE(m != nullptr);
  checkAgainstInterpreter(*m->main(), cases, seed, tol);
}

} // namespace loom::cgtest
