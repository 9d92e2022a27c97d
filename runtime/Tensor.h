#pragma once
// A dense, row-major, 64-byte aligned tensor of f32 or i32. Copies share storage;
// use clone() for a deep copy.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace loom::rt {

enum class DType : uint8_t { F32, I32 };
const char *dtypeName(DType t); // "f32" / "i32"

class Tensor {
public:
  Tensor() = default;
  /// Zero-initialised.
  Tensor(DType dt, std::vector<int64_t> shape);
  /// Over memory owned elsewhere (the embedding API's borrowed buffers): no copy. `owner`
  /// is kept alive by every copy of the tensor; null when the caller guarantees that the
  /// memory outlives every use.
  Tensor(DType dt, std::vector<int64_t> shape, void *data, std::shared_ptr<void> owner);

  DType dtype() const { return dtype_; }
  const std::vector<int64_t> &shape() const { return shape_; }
  int64_t rank() const { return (int64_t)shape_.size(); }
  int64_t numel() const;
  size_t bytes() const { return (size_t)numel() * 4; }
  bool valid() const { return storage_ != nullptr || numel() == 0; }

  void *data() { return storage_.get(); }
  const void *data() const { return storage_.get(); }
  float *f32() { return static_cast<float *>(data()); }
  const float *f32() const { return static_cast<const float *>(data()); }
  int32_t *i32() { return static_cast<int32_t *>(data()); }
  const int32_t *i32() const { return static_cast<const int32_t *>(data()); }

  Tensor clone() const;
  /// "f32 (2, 4, 5)"
  std::string describe() const;

private:
  DType dtype_ = DType::F32;
  std::vector<int64_t> shape_;
  std::shared_ptr<uint8_t> storage_;
};

/// "(2, 4, 5)"; "()" for a scalar; "(3,)" for rank 1, as numpy prints shapes.
std::string shapeStr(const std::vector<int64_t> &shape);

} // namespace loom::rt
