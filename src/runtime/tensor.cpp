// Tensor storage, dtype tables and half-precision conversion.
#include <unistd.h>
#include <algorithm>
#include <cmath>

#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>

#include "common/dtype_dispatch.hpp"
#include "common/strings.hpp"
#include "runtime/zeroed_block.hpp"
#include "visionrt/tensor.hpp"

namespace visionrt {

namespace {
uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
}  // namespace

f16::f16(float v) {
  // Round-to-nearest-even float -> IEEE binary16.
  uint32_t x = float_bits(v);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t mant = x & 0x7fffffu;
  int32_t exp = static_cast<int32_t>((x >> 23) & 0xff);
  if (exp == 0xff) {  // inf or nan
    bits = static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0u));
    return;
  }
  int32_t e = exp - 127 + 15;
  if (e >= 0x1f) {
    bits = static_cast<uint16_t>(sign | 0x7c00u);
    return;
  }
  if (e <= 0) {
    if (e < -10) {
      bits = static_cast<uint16_t>(sign);
      return;
    }
    mant |= 0x800000u;
    uint32_t shift = static_cast<uint32_t>(14 - e);
    uint32_t half_mant = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (half_mant & 1))) ++half_mant;
    bits = static_cast<uint16_t>(sign | half_mant);
    return;
  }
  uint32_t half = sign | (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1))) ++half;  // may carry into exponent: fine
  bits = static_cast<uint16_t>(half);
}

f16::operator float() const {
  uint32_t sign = (static_cast<uint32_t>(bits) & 0x8000u) << 16;
  uint32_t exp = (bits >> 10) & 0x1f;
  uint32_t mant = bits & 0x3ffu;
  if (exp == 0) {
    if (mant == 0) return bits_float(sign);
    float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  if (exp == 0x1f) return bits_float(sign | 0x7f800000u | (mant << 13));
  return bits_float(sign | ((exp + 112) << 23) | (mant << 13));
}

bf16::bf16(float v) {
  uint32_t x = float_bits(v);
  if (std::isnan(v)) {
    bits = static_cast<uint16_t>((x >> 16) | 0x40);
    return;
  }
  uint32_t lsb = (x >> 16) & 1;
  x += 0x7fffu + lsb;
  bits = static_cast<uint16_t>(x >> 16);
}

bf16::operator float() const { return bits_float(static_cast<uint32_t>(bits) << 16); }

size_t dtype_size(DType t) {
  switch (t) {
    case DType::f64:
    case DType::i64:
    case DType::u64:
      return 8;
    case DType::f32:
    case DType::i32:
    case DType::u32:
      return 4;
    case DType::f16:
    case DType::bf16:
    case DType::i16:
    case DType::u16:
      return 2;
    case DType::i8:
    case DType::u8:
    case DType::boolean:
      return 1;
    case DType::undefined:
      return 0;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32:
      return "f32";
    case DType::f64:
      return "f64";
    case DType::f16:
      return "f16";
    case DType::bf16:
      return "bf16";
    case DType::i8:
      return "i8";
    case DType::u8:
      return "u8";
    case DType::i16:
      return "i16";
    case DType::u16:
      return "u16";
    case DType::i32:
      return "i32";
    case DType::u32:
      return "u32";
    case DType::i64:
      return "i64";
    case DType::u64:
      return "u64";
    case DType::boolean:
      return "bool";
    case DType::undefined:
      return "undefined";
  }
  return "?";
}

bool dtype_is_float(DType t) {
  return t == DType::f32 || t == DType::f64 || t == DType::f16 || t == DType::bf16;
}
bool dtype_is_signed_int(DType t) {
  return t == DType::i8 || t == DType::i16 || t == DType::i32 || t == DType::i64;
}
bool dtype_is_unsigned_int(DType t) {
  return t == DType::u8 || t == DType::u16 || t == DType::u32 || t == DType::u64;
}

std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) r += ",";
    r += s[i] < 0 ? std::string("?") : std::to_string(s[i]);
  }
  return r + "]";
}

size_t shape_numel(const Shape& s) {
  size_t n = 1;
  for (int64_t d : s) {
    if (d < 0) throw InputError("shape " + shape_str(s) + " has a negative or unknown dimension");
    if (d != 0 && n > std::numeric_limits<size_t>::max() / 64 / static_cast<size_t>(d))
      throw InputError("shape " + shape_str(s) + " is too large");
    n *= static_cast<size_t>(d);
  }
  return n;
}

// Zero-filling an overcommitted allocation touches every page, hence the limit.
size_t max_allocation_bytes() {
  static const size_t limit = [] {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    size_t phys = pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page)
                                        : (size_t(1) << 40);
    if (const char* env = std::getenv("VISIONRT_MAX_TENSOR_BYTES")) {
      char* end = nullptr;
      unsigned long long v = std::strtoull(env, &end, 10);
      if (end && *end == '\0' && v > 0) return std::min(phys, static_cast<size_t>(v));
    }
    return phys;
  }();
  return limit;
}

void check_allocation(size_t bytes, const std::string& what) {
  if (bytes > max_allocation_bytes())
    throw InputError(str_cat(what, " needs ", bytes, " bytes, more than the ",
                             max_allocation_bytes(),
                             " allowed (physical memory or VISIONRT_MAX_TENSOR_BYTES)"));
}

namespace {

// Large blocks freed are kept for the next allocation of about their size. The steps whose sizes
// depend on the data (a two-stage detector's RoI tensors, tens of MB each) allocate the same
// sizes every inference, and a fresh page costs about 10 us to fault in on these VMs (22 MB ~ 57
// ms, ARCHITECTURE), far more than clearing a warm block. Bounded: at most kCap bytes are held,
// blocks below kMin go straight back to malloc.
class BlockCache {
 public:
  static constexpr size_t kMin = size_t(1) << 20;
  static constexpr size_t kCap = size_t(256) << 20;
  // Never destroyed: blocks of static objects may be freed after every destructor has run.
  static BlockCache& instance() {
    static BlockCache* c = new BlockCache;
    return *c;
  }
  // A held block of at least `bytes` and at most a quarter more (*size gets its size), or null.
  void* take(size_t bytes, size_t* size) {
    if (bytes < kMin) return nullptr;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = free_.lower_bound(bytes);
    if (it == free_.end() || it->first > bytes + bytes / 4) return nullptr;
    void* p = it->second;
    *size = it->first;
    held_ -= it->first;
    free_.erase(it);
    return p;
  }
  void give(void* p, size_t size) {
    if (size >= kMin) {
      std::lock_guard<std::mutex> lock(mu_);
      if (held_ + size <= kCap) {
        free_.emplace(size, p);
        held_ += size;
        return;
      }
    }
    std::free(p);
  }

 private:
  std::mutex mu_;
  std::multimap<size_t, void*> free_;
  size_t held_ = 0;
};

}  // namespace

std::shared_ptr<void> zeroed_block(size_t bytes, const std::string& what) {
  check_allocation(bytes, what);
  size_t alloc = std::max<size_t>(64, (bytes + 63) / 64 * 64);
  void* p = BlockCache::instance().take(alloc, &alloc);
  if (!p) p = std::aligned_alloc(64, alloc);
  if (!p) throw Error(str_cat("out of memory allocating ", what, " (", alloc, " bytes)"));
  std::memset(p, 0, alloc);
  BlockCache* cache = &BlockCache::instance();
  return std::shared_ptr<void>(p, [cache, alloc](void* q) { cache->give(q, alloc); });
}

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  if (dtype == DType::undefined) throw Error("cannot create a tensor of undefined type");
  numel_ = shape_numel(shape_);
  size_t bytes = numel_ * dtype_size(dtype_);
  storage_ = zeroed_block(bytes, "tensor " + describe());
  ptr_ = storage_.get();
}

Tensor Tensor::from_bytes(DType dtype, Shape shape, const void* data, size_t bytes) {
  Tensor t(dtype, std::move(shape));
  if (bytes != t.nbytes())
    throw InputError(
        str_cat("tensor ", t.describe(), " needs ", t.nbytes(), " bytes, got ", bytes));
  if (bytes) std::memcpy(t.ptr_, data, bytes);
  return t;
}

Tensor Tensor::wrap(DType dtype, Shape shape, void* data, std::shared_ptr<void> keep_alive) {
  if (dtype == DType::undefined) throw Error("cannot wrap memory as a tensor of undefined type");
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.numel_ = shape_numel(t.shape_);
  if (!data && t.numel_ > 0) throw Error("Tensor::wrap of " + t.describe() + ": null data");
  t.storage_ = std::move(keep_alive);
  t.ptr_ = data;
  return t;
}

void Tensor::check_type(DType want) const {
  if (want != dtype_)
    throw Error(str_cat("tensor of type ", dtype_name(dtype_), " accessed as ", dtype_name(want)));
}

Tensor Tensor::clone() const {
  if (empty()) return Tensor();
  return from_bytes(dtype_, shape_, ptr_, nbytes());
}

Tensor Tensor::reshaped(Shape shape) const {
  if (shape_numel(shape) != numel_)
    throw InputError(str_cat("cannot reshape ", describe(), " to ", shape_str(shape)));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

double Tensor::at_f64(size_t i) const {
  if (i >= numel_) throw Error(str_cat("index ", i, " out of range for ", describe()));
  double r = 0;
  dispatch_all(dtype_, [&](auto tag) {
    using T = decltype(tag);
    r = static_cast<double>(load(static_cast<const T*>(ptr_)[i]));
  });
  return r;
}

int64_t Tensor::at_i64(size_t i) const {
  if (i >= numel_) throw Error(str_cat("index ", i, " out of range for ", describe()));
  int64_t r = 0;
  dispatch_all(dtype_, [&](auto tag) {
    using T = decltype(tag);
    auto v = load(static_cast<const T*>(ptr_)[i]);
    if constexpr (std::is_floating_point_v<decltype(v)>) {
      if (!(std::fabs(v) < 9.2e18)) throw InputError("value out of int64 range in " + describe());
    }
    r = static_cast<int64_t>(v);
  });
  return r;
}

std::vector<int64_t> Tensor::to_i64_vector() const {
  std::vector<int64_t> v(numel_);
  for (size_t i = 0; i < numel_; ++i) v[i] = at_i64(i);
  return v;
}

Tensor Tensor::cast(DType to) const {
  Tensor out(to, shape_);
  dispatch_all(dtype_, [&](auto in_tag) {
    using I = decltype(in_tag);
    const I* src = static_cast<const I*>(ptr_);
    dispatch_all(to, [&](auto out_tag) {
      using O = decltype(out_tag);
      O* dst = static_cast<O*>(out.ptr_);
      for (size_t i = 0; i < numel_; ++i) {
        auto v = load(src[i]);
        if constexpr (std::is_same_v<O, bool>) {
          dst[i] = v != decltype(v)(0);
        } else if constexpr (std::is_same_v<O, f16> || std::is_same_v<O, bf16>) {
          dst[i] = O(static_cast<float>(v));
        } else if constexpr (std::is_integral_v<O> && std::is_floating_point_v<decltype(v)>) {
          // Out-of-range float -> int is undefined in C++; saturate NaN/inf deterministically.
          if (std::isnan(v))
            dst[i] = 0;
          else if (v >= static_cast<decltype(v)>(std::numeric_limits<O>::max()))
            dst[i] = std::numeric_limits<O>::max();
          else if (v <= static_cast<decltype(v)>(std::numeric_limits<O>::lowest()))
            dst[i] = std::numeric_limits<O>::lowest();
          else
            dst[i] = static_cast<O>(v);
        } else {
          dst[i] = static_cast<O>(v);
        }
      }
    });
  });
  return out;
}

std::string Tensor::describe() const { return std::string(dtype_name(dtype_)) + shape_str(shape_); }

}  // namespace visionrt
