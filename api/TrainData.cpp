#include "api/TrainData.h"

#include "runtime/Npy.h"
#include "runtime/Random.h"

#include "llvm/ADT/StringExtras.h"

#include <fmt/format.h>

#include <cstring>
#include <map>
#include <numeric>
#include <set>

namespace loom::api {

namespace {

llvm::Error fail(const std::string &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), llvm::Twine(msg));
}

/// "[100,7,2]"
std::string shapeText(const std::vector<int64_t> &shape) {
  std::vector<std::string> dims;
  for (int64_t d : shape)
    dims.push_back(std::to_string(d));
  return "[" + llvm::join(dims, ",") + "]";
}

/// "[B,T,3]"
std::string shapeText(const ir::Type &t) {
  std::vector<std::string> dims;
  for (const ir::Dim &d : t.shape)
    dims.push_back(d.str());
  return "[" + llvm::join(dims, ",") + "]";
}

/// "[3, 2]": a flat position as an index, the way the runtime's checks print them.
std::string indexText(int64_t flat, const std::vector<int64_t> &shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t i = shape.size(); i-- > 0;) {
    idx[i] = shape[i] ? flat % shape[i] : 0;
    flat = shape[i] ? flat / shape[i] : 0;
  }
  std::vector<std::string> parts;
  for (int64_t v : idx)
    parts.push_back(std::to_string(v));
  return "[" + llvm::join(parts, ", ") + "]";
}

} // namespace

/// Reads `path` and checks it against the slots before any training starts.
llvm::Expected<Dataset> loadData(const std::string &path, const std::vector<DataSlot> &slots) {
  rt::NamedTensors file;
  if (auto s = rt::readNpz(path, file))
    return fail(s.message());
  return makeDataset(path, file, slots);
}

llvm::Expected<Dataset> makeDataset(const std::string &path, const rt::NamedTensors &file,
                                    const std::vector<DataSlot> &slots) {
  std::vector<std::string> expected;
  for (auto &slot : slots)
    expected.push_back(slot.name);
  std::map<std::string, const rt::Tensor *> byName;
  for (auto &[name, t] : file)
    byName[name] = &t;

  Dataset d;
  d.path = path;
  for (auto &slot : slots) {
    auto it = byName.find(slot.name);
    if (it == byName.end())
      return fail(fmt::format("{}: missing array '{}' (the model's {} {}); it must hold {}", path,
                              slot.name, slot.target ? "target" : "input", slot.type.str(),
                              llvm::join(expected, ", ")));
    d.arrays.push_back(*it->second);
  }
  for (auto &[name, t] : file)
    if (std::find(expected.begin(), expected.end(), name) == expected.end())
      return fail(fmt::format("{}: unknown array '{}'; the model expects {}", path, name,
                              llvm::join(expected, ", ")));

  // Element types, ranks and static dims.
  for (size_t i = 0; i < slots.size(); ++i) {
    const DataSlot &slot = slots[i];
    const rt::Tensor &t = d.arrays[i];
    if (t.dtype() != slot.type.dtype)
      return fail(fmt::format("{}: array '{}' is {} but the model expects {} ({})", path, slot.name,
                              rt::dtypeName(t.dtype()), rt::dtypeName(slot.type.dtype),
                              slot.type.str()));
    if (slot.type.rank() == 0)
      return fail(fmt::format("{}: '{}' is a scalar ({}), which has no rows to batch", path,
                              slot.name, slot.type.str()));
    bool ok = t.rank() == slot.type.rank();
    for (int64_t k = 0; ok && k < t.rank(); ++k)
      if (slot.type.shape[k].isStatic() && slot.type.shape[k].value() != t.shape()[k])
        ok = false;
    if (!ok)
      return fail(fmt::format("{}: array '{}' has shape {} but the model expects {}", path,
                              slot.name, shapeText(t.shape()), shapeText(slot.type)));
  }

  // One row per example in every array.
  d.rows = d.arrays[0].shape()[0];
  for (size_t i = 1; i < slots.size(); ++i)
    if (d.arrays[i].shape()[0] != d.rows)
      return fail(fmt::format("{}: array '{}' has {} rows but '{}' has {}; every array holds "
                              "one row per example",
                              path, slots[i].name, d.arrays[i].shape()[0], slots[0].name, d.rows));
  if (d.rows == 0)
    return fail(fmt::format("{}: the arrays have no rows (N is 0)", path));

  // Symbols (T, ...) bound consistently across the arrays; then dims that are expressions.
  ir::SymbolMap syms;
  std::map<std::string, std::string> boundBy;
  for (size_t i = 0; i < slots.size(); ++i) {
    const ir::Type &type = slots[i].type;
    for (int64_t k = 0; k < type.rank(); ++k) {
      const ir::Dim &dim = type.shape[k];
      if (!dim.isSymbol())
        continue;
      int64_t n = d.arrays[i].shape()[k];
      auto [it, inserted] = syms.emplace(dim.symbol(), n);
      if (inserted)
        boundBy[dim.symbol()] = slots[i].name;
      else if (it->second != n)
        return fail(fmt::format("{}: array '{}' has shape {} but the model expects {}, and {} is "
                                "{} in array '{}'",
                                path, slots[i].name, shapeText(d.arrays[i].shape()),
                                shapeText(type), dim.symbol(), it->second, boundBy[dim.symbol()]));
    }
  }
  for (size_t i = 0; i < slots.size(); ++i) {
    const ir::Type &type = slots[i].type;
    for (int64_t k = 0; k < type.rank(); ++k) {
      const ir::Dim &dim = type.shape[k];
      if (dim.isStatic() || dim.isSymbol())
        continue;
      auto want = ir::evalDim(dim, syms);
      if (want && *want != d.arrays[i].shape()[k])
        return fail(fmt::format("{}: array '{}' has shape {} but the model expects {}, where dim "
                                "{} ({}) is {}",
                                path, slots[i].name, shapeText(d.arrays[i].shape()),
                                shapeText(type), k, dim.str(), *want));
    }
  }

  // Class ids of sparse targets.
  for (size_t i = 0; i < slots.size(); ++i) {
    const DataSlot &slot = slots[i];
    const rt::Tensor &t = d.arrays[i];
    if (!slot.target || slot.classes <= 0 || t.dtype() != rt::DType::I32)
      continue;
    const int32_t *v = t.i32();
    for (int64_t j = 0, n = t.numel(); j < n; ++j)
      if (v[j] < 0 || v[j] >= slot.classes)
        return fail(fmt::format("{}: array '{}': label {} at {} is outside [0, {}] (the model "
                                "has {} classes)",
                                path, slot.name, v[j], indexText(j, t.shape()), slot.classes - 1,
                                slot.classes));
  }
  return d;
}

/// Rows order[begin..end) of every array, as new tensors.
std::vector<rt::Tensor> gather(const Dataset &d, const std::vector<int64_t> &order, int64_t begin,
                               int64_t end) {
  bool contiguous = true;
  for (int64_t i = begin; i < end && contiguous; ++i)
    contiguous = order[i] == order[begin] + (i - begin);
  std::vector<rt::Tensor> out;
  for (const rt::Tensor &t : d.arrays) {
    if (contiguous && begin == 0 && end == d.rows) {
      out.push_back(t);
      continue;
    }
    std::vector<int64_t> shape = t.shape();
    shape[0] = end - begin;
    rt::Tensor b(t.dtype(), shape);
    size_t rowBytes = t.bytes() / (size_t)d.rows;
    auto *dst = static_cast<uint8_t *>(b.data());
    auto *src = static_cast<const uint8_t *>(t.data());
    if (contiguous)
      std::memcpy(dst, src + order[begin] * rowBytes, (size_t)(end - begin) * rowBytes);
    else
      for (int64_t i = begin; i < end; ++i)
        std::memcpy(dst + (i - begin) * rowBytes, src + order[i] * rowBytes, rowBytes);
    out.push_back(std::move(b));
  }
  return out;
}

/// The batch order of one epoch: Fisher-Yates driven by splitmix64 seeded with
/// seed * 1000003 + epoch, so it depends on nothing but those two numbers.
std::vector<int64_t> epochOrder(int64_t rows, bool shuffle, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(rows);
  std::iota(order.begin(), order.end(), 0);
  if (!shuffle)
    return order;
  uint64_t state = seed * 1000003u + (uint64_t)epoch;
  auto next = [&state]() { return rt::random::mix64(state += rt::random::kGolden); };
  for (int64_t i = rows - 1; i > 0; --i) {
    // A uniform j in [0, i] by multiply-shift (bias below 2^-40 for any dataset size).
    auto j = (int64_t)(((unsigned __int128)next() * (uint64_t)(i + 1)) >> 64);
    std::swap(order[i], order[j]);
  }
  return order;
}

/// Loss and metrics over a whole dataset, batch by batch.
llvm::Expected<BatchResult> evaluateAll(const Trainer &trainer, const Dataset &d,
                                        int64_t batchSize) {
  std::vector<int64_t> order = epochOrder(d.rows, false, 0, 0);
  Totals totals;
  for (int64_t begin = 0; begin < d.rows; begin += batchSize) {
    int64_t end = std::min(d.rows, begin + batchSize);
    auto r = trainer.evaluate(gather(d, order, begin, end));
    if (!r)
      return fail(fmt::format("{}: rows {}..{}: {}", d.path, begin, end - 1,
                              llvm::toString(r.takeError())));
    totals.add(*r, end - begin);
  }
  return totals.mean();
}

} // namespace loom::api
