#include "api/Weights.h"

#include <map>
#include <set>

namespace loom::api {

namespace {
llvm::Error err(const std::string &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}
} // namespace

llvm::Expected<std::vector<rt::Tensor>>
matchWeights(const ir::Function &f, const rt::NamedTensors &stored, const std::string &what) {
  std::map<std::string, rt::Tensor> byKey(stored.begin(), stored.end());
  std::set<std::string> wanted;
  std::vector<rt::Tensor> out;
  for (auto &p : f.params) {
    wanted.insert(p.key);
    auto it = byKey.find(p.key);
    if (it == byKey.end())
      return err(what + ": weight '" + p.key + "' is missing (loom init writes every weight " +
                 "of the model)");
    out.push_back(it->second);
  }
  for (auto &[k, _] : stored)
    if (!wanted.count(k))
      return err(what + ": has '" + k + "', which is not a weight of model " + f.name);
  return out;
}

llvm::Expected<std::vector<rt::Tensor>> loadWeights(const ir::Function &f,
                                                    const std::string &path) {
  rt::NamedTensors stored;
  if (auto s = rt::readNpz(path, stored))
    return err(s.message());
  return matchWeights(f, stored, path);
}

llvm::Expected<std::vector<rt::Tensor>>
matchInputs(const ir::Function &f, const rt::NamedTensors &given, const std::string &what) {
  std::map<std::string, rt::Tensor> byName;
  for (auto &[name, t] : given) {
    bool known = false;
    for (unsigned i = 0; i < f.numInputs; ++i)
      known |= f.input(i)->name == name;
    if (!known)
      return err(what + ": '" + name + "' is not an input of model " + f.name);
    if (!byName.emplace(name, t).second)
      return err(what + ": input '" + name + "' given twice");
  }
  std::vector<rt::Tensor> out;
  for (unsigned i = 0; i < f.numInputs; ++i) {
    auto it = byName.find(f.input(i)->name);
    if (it == byName.end())
      return err("missing input '" + f.input(i)->name + "' (" + f.input(i)->type.str() +
                 "): pass --input " + f.input(i)->name + "=FILE.npy or --inputs FILE.npz");
    out.push_back(it->second);
  }
  return out;
}

} // namespace loom::api
