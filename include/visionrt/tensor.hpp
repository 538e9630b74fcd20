// visionrt::Tensor: a typed, shaped, reference-counted block of memory (row-major, 64-byte
// aligned). Copies share storage; clone() makes a deep copy.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "visionrt/error.hpp"

namespace visionrt {

enum class DType : uint8_t {
  undefined = 0,
  f32,
  f64,
  f16,
  bf16,
  i8,
  u8,
  i16,
  u16,
  i32,
  u32,
  i64,
  u64,
  boolean,
};

// IEEE half and bfloat16 storage types; arithmetic goes through float.
struct f16 {
  uint16_t bits = 0;
  f16() = default;
  explicit f16(float v);
  operator float() const;
};
struct bf16 {
  uint16_t bits = 0;
  bf16() = default;
  explicit bf16(float v);
  operator float() const;
};

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "f32", "i64", "bool", ...
bool dtype_is_float(DType t);
bool dtype_is_signed_int(DType t);
bool dtype_is_unsigned_int(DType t);

template <typename T>
struct DTypeOf;
#define VISIONRT_DTYPE_OF(T, D)              \
  template <>                                \
  struct DTypeOf<T> {                        \
    static constexpr DType value = DType::D; \
  };
VISIONRT_DTYPE_OF(float, f32)
VISIONRT_DTYPE_OF(double, f64)
VISIONRT_DTYPE_OF(f16, f16)
VISIONRT_DTYPE_OF(bf16, bf16)
VISIONRT_DTYPE_OF(int8_t, i8)
VISIONRT_DTYPE_OF(uint8_t, u8)
VISIONRT_DTYPE_OF(int16_t, i16)
VISIONRT_DTYPE_OF(uint16_t, u16)
VISIONRT_DTYPE_OF(int32_t, i32)
VISIONRT_DTYPE_OF(uint32_t, u32)
VISIONRT_DTYPE_OF(int64_t, i64)
VISIONRT_DTYPE_OF(uint64_t, u64)
VISIONRT_DTYPE_OF(bool, boolean)
#undef VISIONRT_DTYPE_OF

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);  // "[1,3,640,640]"; -1 prints as "?"
// Number of elements; throws InputError on a negative dim or overflow.
size_t shape_numel(const Shape& s);
// Largest single block visionrt allocates (a tensor, the activation arena): physical memory, or
// VISIONRT_MAX_TENSOR_BYTES when set (services and the fuzzer lower it). Beyond it a model gets
// a clear error instead of the OOM killer.
size_t max_allocation_bytes();
// Throws InputError "<what> needs N bytes, more than the M allowed (...)" above that limit.
void check_allocation(size_t bytes, const std::string& what);

class Tensor {
 public:
  Tensor() = default;
  // Uninitialised storage of the given type and shape (zero-filled: cheap and deterministic).
  Tensor(DType dtype, Shape shape);
  static Tensor zeros(DType dtype, Shape shape) { return Tensor(dtype, std::move(shape)); }
  // Copies `bytes` bytes from `data`; the size must equal numel * dtype size.
  static Tensor from_bytes(DType dtype, Shape shape, const void* data, size_t bytes);
  template <typename T>
  static Tensor from_vector(Shape shape, const std::vector<T>& v) {
    return from_bytes(DTypeOf<T>::value, std::move(shape), v.data(), v.size() * sizeof(T));
  }
  // A tensor over memory it does not allocate (a cv::Mat's pixels, an arena slice). `keep_alive`
  // (may be null) is held as long as the tensor or a copy of it exists; with null the caller
  // keeps `data` valid and 64-byte aligned data is fastest. Nothing is copied or zero-filled.
  static Tensor wrap(DType dtype, Shape shape, void* data, std::shared_ptr<void> keep_alive = {});
  template <typename T>
  static Tensor scalar(T v) {
    return from_bytes(DTypeOf<T>::value, {}, &v, sizeof(T));
  }

  bool empty() const { return dtype_ == DType::undefined; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  size_t rank() const { return shape_.size(); }
  int64_t dim(size_t i) const { return shape_.at(i); }
  size_t numel() const { return numel_; }
  size_t nbytes() const { return numel_ * dtype_size(dtype_); }

  void* raw() { return ptr_; }
  const void* raw() const { return ptr_; }
  template <typename T>
  T* data() {
    check_type(DTypeOf<T>::value);
    return static_cast<T*>(ptr_);
  }
  template <typename T>
  const T* data() const {
    check_type(DTypeOf<T>::value);
    return static_cast<const T*>(ptr_);
  }

  Tensor clone() const;
  // Same storage, new shape with the same number of elements.
  Tensor reshaped(Shape shape) const;
  // Element i converted to double / int64 (any dtype); for tests, shape values and printing.
  double at_f64(size_t i) const;
  int64_t at_i64(size_t i) const;
  // All values as int64 (any integer or float dtype); for shape-like tensors.
  std::vector<int64_t> to_i64_vector() const;
  // Converted copy (float -> int truncates toward zero like a C cast; bool is value != 0).
  Tensor cast(DType to) const;
  std::string describe() const;  // "f32[1,3,640,640]"

 private:
  void check_type(DType want) const;
  DType dtype_ = DType::undefined;
  Shape shape_;
  size_t numel_ = 0;
  std::shared_ptr<void> storage_;
  void* ptr_ = nullptr;
};

}  // namespace visionrt
