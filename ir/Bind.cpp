#include "ir/Bind.h"

#include <fmt/format.h>

namespace loom::ir {

std::vector<std::string> symbolOrder(const Function &f) {
  std::vector<std::string> out;
  for (unsigned i = 0; i < f.numInputs; ++i)
    for (const Dim &d : f.input(i)->type.shape)
      if (!d.isStatic() && std::find(out.begin(), out.end(), d.symbol()) == out.end())
        out.push_back(d.symbol());
  return out;
}

namespace {

struct Binder {
  SymbolMap syms;
  std::map<std::string, std::string> boundBy; // symbol -> tensor that bound it

  llvm::Error check(const std::string &what, const Type &want, const rt::Tensor &got) {
    auto fail = [&](const std::string &why) {
      return llvm::createStringError(llvm::inconvertibleErrorCode(), "%s: expected %s, got %s (%s)",
                                     what.c_str(), want.str().c_str(), got.describe().c_str(),
                                     why.c_str());
    };
    if (!got.valid())
      return fail("no data");
    if (got.dtype() != want.dtype)
      return fail(fmt::format("element type is {}", dtypeName(got.dtype())));
    if (got.rank() != want.rank())
      return fail(fmt::format("rank is {}, expected {}", got.rank(), want.rank()));
    for (int64_t i = 0; i < want.rank(); ++i) {
      const Dim &d = want.shape[i];
      int64_t n = got.shape()[i];
      if (d.isStatic()) {
        if (n != d.value())
          return fail(fmt::format("dim {} is {}, expected {}", i, n, d.value()));
        continue;
      }
      auto it = syms.find(d.symbol());
      if (it == syms.end()) {
        syms[d.symbol()] = n;
        boundBy[d.symbol()] = what;
      } else if (it->second != n) {
        return fail(fmt::format("dim {} is {}, but {} is {} from {}", i, n, d.symbol(), it->second,
                                boundBy[d.symbol()]));
      }
    }
    return llvm::Error::success();
  }
};

} // namespace

llvm::Expected<SymbolMap> bindSymbols(const Function &f, const std::vector<rt::Tensor> &inputs,
                                      const std::vector<rt::Tensor> &params) {
  if (inputs.size() != f.numInputs)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "model '%s' takes %u input(s), got %zu", f.name.c_str(),
                                   f.numInputs, inputs.size());
  if (params.size() != f.params.size())
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "model '%s' has %zu weight(s), got %zu", f.name.c_str(),
                                   f.params.size(), params.size());
  Binder b;
  for (unsigned i = 0; i < f.numInputs; ++i)
    if (auto e = b.check(fmt::format("input '{}'", f.input(i)->name), f.input(i)->type, inputs[i]))
      return e;
  for (unsigned i = 0; i < f.params.size(); ++i)
    if (auto e = b.check(fmt::format("weight '{}'", f.params[i].key), f.param(i)->type, params[i]))
      return e;
  return b.syms;
}

} // namespace loom::ir
