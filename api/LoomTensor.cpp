// The embedding API's value types (Error, Tensor, TensorView) and numpy file helpers.
#include "api/LoomInternal.h"

#include "runtime/Npy.h"

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>

namespace loom {

namespace {

constexpr size_t kAlign = 64;
// Larger tensors than this (in elements) are refused rather than overflowing size_t.
constexpr int64_t kMaxElements = int64_t(1) << 60;

rt::DType toRt(DType t) { return t == DType::F32 ? rt::DType::F32 : rt::DType::I32; }
DType fromRt(rt::DType t) { return t == rt::DType::F32 ? DType::F32 : DType::I32; }

/// Checks what a view claims about itself; the element count on success.
Result<int64_t> checkView(const TensorView &v, const std::string &what) {
  if (v.dtype() != DType::F32 && v.dtype() != DType::I32)
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("{}: unknown dtype {} (f32 is 0, i32 is 1)", what, (int)v.dtype()));
  int64_t n = 1;
  for (size_t i = 0; i < v.shape().size(); ++i) {
    int64_t d = v.shape()[i];
    if (d < 0)
      return Error(ErrorCode::InvalidArgument,
                   fmt::format("{}: dim {} is {} (dims cannot be negative)", what, i, d));
    if (d != 0 && n > kMaxElements / d)
      return Error(ErrorCode::InvalidArgument,
                   fmt::format("{}: shape {} is too large", what, rt::shapeStr(v.shape())));
    n *= d;
  }
  if (n > 0 && !v.data())
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("{}: data pointer is null (shape {})", what, rt::shapeStr(v.shape())));
  if (reinterpret_cast<uintptr_t>(v.data()) % 4 != 0)
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("{}: data pointer {} is not 4-byte aligned", what, v.data()));
  return n;
}

} // namespace

Error::Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

const char *errorCodeName(ErrorCode code) {
  switch (code) {
  case ErrorCode::Ok:
    return "ok";
  case ErrorCode::InvalidArgument:
    return "invalid argument";
  case ErrorCode::Compile:
    return "compile error";
  case ErrorCode::IO:
    return "i/o error";
  case ErrorCode::Weights:
    return "weights error";
  case ErrorCode::Input:
    return "input error";
  case ErrorCode::Runtime:
    return "runtime error";
  case ErrorCode::Internal:
    return "internal error";
  }
  return "unknown error code";
}

const char *dtypeName(DType t) {
  switch (t) {
  case DType::F32:
    return "f32";
  case DType::I32:
    return "i32";
  }
  return "?";
}

Error fromLLVM(llvm::Error e, ErrorCode code, const std::string &prefix) {
  std::string msg = prefix + llvm::toString(std::move(e));
  while (!msg.empty() && msg.back() == '\n')
    msg.pop_back();
  return Error(code, std::move(msg));
}

Error internalError(const char *what) {
  return Error(ErrorCode::Internal, std::string("internal error: ") + what);
}

std::string signatureList(const std::vector<TensorInfo> &infos) {
  std::string s;
  for (const TensorInfo &i : infos)
    s += (s.empty() ? "" : ", ") + i.name + ": " + i.typeStr();
  return s.empty() ? "none" : s;
}

TensorView::TensorView(const Tensor &t) : dtype_(t.dtype()), data_(t.data()), shape_(t.shape()) {}

Tensor::Tensor(DType dtype, std::vector<int64_t> shape) : dtype_(dtype), shape_(std::move(shape)) {
  int64_t n = 1;
  for (int64_t d : shape_) {
    if (d < 0 || (d != 0 && n > kMaxElements / d))
      return; // not valid()
    n *= d;
  }
  size_t rounded = ((size_t)n * 4 + kAlign - 1) / kAlign * kAlign;
  if (rounded) {
    void *p = std::aligned_alloc(kAlign, rounded);
    if (!p)
      return;
    std::memset(p, 0, rounded);
    storage_ = std::shared_ptr<void>(p, [](void *q) { std::free(q); });
  }
  valid_ = true;
}

Tensor Tensor::copyOf(const TensorView &v) {
  if (!checkView(v, "view"))
    return Tensor();
  Tensor t(v.dtype(), v.shape());
  if (t.valid() && t.bytes())
    std::memcpy(t.data(), v.data(), t.bytes());
  return t;
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape_)
    n *= d;
  return n;
}

Tensor Tensor::clone() const {
  if (!valid())
    return Tensor();
  return copyOf(*this);
}

std::string Tensor::describe() const {
  return std::string(dtypeName(dtype_)) + " " + rt::shapeStr(shape_);
}

const Tensor *find(const std::vector<NamedTensor> &ts, const std::string &name) {
  for (const NamedTensor &t : ts)
    if (t.name == name)
      return &t.tensor;
  return nullptr;
}

Tensor TensorAccess::wrap(rt::Tensor t) {
  Tensor out;
  out.dtype_ = fromRt(t.dtype());
  out.shape_ = t.shape();
  auto holder = std::make_shared<rt::Tensor>(std::move(t));
  out.storage_ = std::shared_ptr<void>(holder, holder->data());
  out.valid_ = holder->valid();
  return out;
}

Result<rt::Tensor> borrowToRt(const TensorView &v, const std::string &what) {
  auto n = checkView(v, what);
  if (!n)
    return n.error();
  // The JIT takes non-const buffers but never writes to inputs or weights.
  return rt::Tensor(toRt(v.dtype()), v.shape(), const_cast<void *>(v.data()), nullptr);
}

Result<rt::Tensor> copyToRt(const TensorView &v, const std::string &what) {
  auto n = checkView(v, what);
  if (!n)
    return n.error();
  rt::Tensor t(toRt(v.dtype()), v.shape());
  if (!t.valid())
    return internalError("out of memory");
  if (t.bytes())
    std::memcpy(t.data(), v.data(), t.bytes());
  return t;
}

Result<Tensor> loadNpy(const std::string &path) {
  return guard<Tensor>([&]() -> Result<Tensor> {
    rt::Tensor t;
    if (rt::Status s = rt::readNpy(path, t))
      return Error(ErrorCode::IO, s.message());
    return TensorAccess::wrap(t);
  });
}

Result<std::vector<NamedTensor>> loadNpz(const std::string &path) {
  return guard<std::vector<NamedTensor>>([&]() -> Result<std::vector<NamedTensor>> {
    rt::NamedTensors stored;
    if (rt::Status s = rt::readNpz(path, stored))
      return Error(ErrorCode::IO, s.message());
    std::vector<NamedTensor> out;
    for (auto &[k, t] : stored)
      out.push_back({k, TensorAccess::wrap(t)});
    return out;
  });
}

Error saveNpz(const std::string &path, const std::vector<NamedView> &arrays) {
  return guardError([&]() -> Error {
    rt::NamedTensors named;
    for (const NamedView &a : arrays) {
      auto t = borrowToRt(a.view, "array '" + a.name + "'");
      if (!t)
        return t.error();
      named.emplace_back(a.name, *t);
    }
    if (rt::Status s = rt::writeNpz(path, named))
      return Error(ErrorCode::IO, s.message());
    return Error::success();
  });
}

} // namespace loom
