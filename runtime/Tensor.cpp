#include "runtime/Tensor.h"

#include <cassert>
#include <cstdlib>
#include <cstring>

namespace loom::rt {

namespace {
// 64 bytes: one cache line, and the widest vector load generated code may use (AVX-512).
constexpr size_t kAlign = 64;

std::shared_ptr<uint8_t> allocateZeroed(size_t bytes) {
  // aligned_alloc wants a multiple of the alignment; rounding up also lets vector loops
  // read a whole last vector without leaving the allocation.
  size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
  void *p = std::aligned_alloc(kAlign, rounded);
  if (!p)
    return nullptr; // valid() reports it; a constructor cannot return an error
  std::memset(p, 0, rounded);
  return std::shared_ptr<uint8_t>(static_cast<uint8_t *>(p), [](uint8_t *q) { std::free(q); });
}
} // namespace

const char *dtypeName(DType t) {
  switch (t) {
  case DType::F32:
    return "f32";
  case DType::I32:
    return "i32";
  }
  return "?";
}

Tensor::Tensor(DType dt, std::vector<int64_t> shape) : dtype_(dt), shape_(std::move(shape)) {
#ifndef NDEBUG
  for (int64_t d : shape_)
    assert(d >= 0 && "tensor dimensions are never negative");
#endif
  if (size_t n = bytes())
    storage_ = allocateZeroed(n);
}

Tensor::Tensor(DType dt, std::vector<int64_t> shape, void *data, std::shared_ptr<void> owner)
    : dtype_(dt), shape_(std::move(shape)),
      storage_(std::move(owner), static_cast<uint8_t *>(data)) {}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape_)
    n *= d;
  return n;
}

Tensor Tensor::clone() const {
  Tensor t(dtype_, shape_);
  if (bytes() && t.data() && data())
    std::memcpy(t.data(), data(), bytes());
  return t;
}

std::string Tensor::describe() const {
  return std::string(dtypeName(dtype_)) + " " + shapeStr(shape_);
}

std::string shapeStr(const std::vector<int64_t> &shape) {
  // numpy's tuple repr, so messages read the same as the Python the user knows.
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1)
    s += ",";
  return s + ")";
}

} // namespace loom::rt
