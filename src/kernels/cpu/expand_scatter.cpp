// Expand, ScatterElements (reduction none) and Transpose by rows instead of per-element
// multi-indices, for any element type (moved as bytes) and sizes known only at run time: the index
// plumbing of R-CNN exports (MultiScaleRoIAlign scatters each level's RoIAlign result into place
// with an index tensor Expand-ed to the result's shape) ran on the reference's per-element loops.
#include <cstring>
#include <vector>

#include "common/strings.hpp"
#include "kernels/kernel.hpp"

namespace visionrt {
namespace {

// Copies one element of `es` bytes.
inline void put(char* dst, const char* src, size_t es) {
  switch (es) {
    case 1:
      *dst = *src;
      break;
    case 2:
      std::memcpy(dst, src, 2);
      break;
    case 4:
      std::memcpy(dst, src, 4);
      break;
    case 8:
      std::memcpy(dst, src, 8);
      break;
    default:
      std::memcpy(dst, src, es);
  }
}

// Calls fn(row, offsets...) for every row (all dims but the last) of `shape` in row-major
// order, with `strides` (one vector per operand, element units) summed over the row's index.
template <typename F>
void for_rows(const Shape& shape, const std::vector<std::vector<int64_t>>& strides, F&& fn) {
  const size_t r = shape.size();
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < r; ++d) rows *= shape[d];
  std::vector<int64_t> idx(r > 0 ? r - 1 : 0, 0), off(strides.size(), 0);
  for (int64_t row = 0; row < rows; ++row) {
    fn(row, off);
    for (int64_t d = static_cast<int64_t>(r) - 2; d >= 0; --d) {
      for (size_t k = 0; k < strides.size(); ++k) off[k] += strides[k][d];
      if (++idx[d] < shape[d]) break;
      for (size_t k = 0; k < strides.size(); ++k) off[k] -= strides[k][d] * shape[d];
      idx[d] = 0;
    }
  }
}

class ExpandCpu : public Kernel {
 public:
  void execute(KernelContext& c) override {
    const Tensor& x = c.input(0);
    Tensor& y = c.output(0);
    const Shape& ys = y.shape();
    if (y.numel() == 0) return;
    const size_t es = dtype_size(x.dtype()), r = ys.size();
    if (r == 0) {
      std::memcpy(y.raw(), x.raw(), es);
      return;
    }
    // x's strides aligned right to y's dims; 0 where x broadcasts.
    std::vector<int64_t> xs(r, 0);
    int64_t s = 1;
    for (size_t i = 0; i < x.rank(); ++i) {
      const size_t d = r - 1 - i, xd = x.rank() - 1 - i;
      xs[d] = x.dim(xd) == 1 ? 0 : s;
      s *= x.dim(xd);
    }
    const int64_t len = ys[r - 1];
    const char* src = static_cast<const char*>(x.raw());
    char* dst = static_cast<char*>(y.raw());
    for_rows(ys, {xs}, [&](int64_t row, const std::vector<int64_t>& off) {
      char* o = dst + static_cast<size_t>(row * len) * es;
      const char* i = src + static_cast<size_t>(off[0]) * es;
      if (xs[r - 1] == 1) {
        std::memcpy(o, i, static_cast<size_t>(len) * es);
      } else {
        for (int64_t j = 0; j < len; ++j) put(o + static_cast<size_t>(j) * es, i, es);
      }
    });
  }
};

class ScatterElementsCpu : public Kernel {
 public:
  void execute(KernelContext& c) override {
    const Tensor& x = c.input(0);
    const Tensor& idx = c.input(1);
    const Tensor& upd = c.input(2);
    Tensor& y = c.output(0);
    if (x.nbytes()) std::memcpy(y.raw(), x.raw(), x.nbytes());
    if (idx.shape() != upd.shape()) c.fail("indices and updates shapes differ");
    const size_t r = x.rank();
    if (idx.rank() != r) c.fail("indices must have the data's rank");
    if (r == 0 || idx.numel() == 0) return;
    const int64_t axis = c.axis(c.node->attr_i("axis", 0), static_cast<int64_t>(r));
    for (size_t d = 0; d < r; ++d)
      if (static_cast<int64_t>(d) != axis && idx.dim(d) > x.dim(d))
        c.fail("indices shape exceeds the data's");
    std::vector<int64_t> xs(r, 1), is(r, 1);
    for (int64_t d = static_cast<int64_t>(r) - 2; d >= 0; --d) {
      xs[d] = xs[d + 1] * x.dim(d + 1);
      is[d] = is[d + 1] * idx.dim(d + 1);
    }
    std::vector<int64_t> base = xs;  // the data offset of a row, axis term excluded
    base[axis] = 0;
    const size_t es = dtype_size(x.dtype());
    const int64_t len = idx.dim(r - 1), dim = x.dim(axis), ax_stride = xs[axis];
    const bool last = axis == static_cast<int64_t>(r) - 1;
    const bool i64 = idx.dtype() == DType::i64;
    const char* u = static_cast<const char*>(upd.raw());
    char* o = static_cast<char*>(y.raw());
    for_rows(idx.shape(), {base, is}, [&](int64_t, const std::vector<int64_t>& off) {
      for (int64_t j = 0; j < len; ++j) {
        const int64_t at = off[1] + j;
        int64_t k = i64 ? idx.data<int64_t>()[at] : idx.data<int32_t>()[at];
        if (k < -dim || k >= dim) c.fail(str_cat("index ", k, " is out of range for ", dim));
        if (k < 0) k += dim;
        const int64_t dst = off[0] + k * ax_stride + (last ? 0 : j);
        put(o + static_cast<size_t>(dst) * es, u + static_cast<size_t>(at) * es, es);
      }
    });
  }
};

// y [rows, len] = x [len, rows] transposed.
template <typename T>
void transpose_narrow(const T* x, T* y, int64_t rows, int64_t len) {
  for (int64_t j = 0; j < len; ++j) {
    const T* col = x + j * rows;
    for (int64_t i = 0; i < rows; ++i) y[i * len + j] = col[i];
  }
}

// Transpose of any element type (index tensors: NonZero's [rank, N] turned into [N, rank]) at
// run-time sizes: output rows in order, each gathered with the input stride of the last output
// axis.
class TransposeCpu : public Kernel {
 public:
  void execute(KernelContext& c) override {
    const Tensor& x = c.input(0);
    Tensor& y = c.output(0);
    const size_t r = x.rank(), es = dtype_size(x.dtype());
    std::vector<int64_t> perm = c.node->attr_is("perm");
    if (perm.empty())
      for (size_t i = 0; i < r; ++i) perm.push_back(static_cast<int64_t>(r - 1 - i));
    if (perm.size() != r) c.fail("perm does not match the rank");
    if (y.numel() == 0) return;
    if (r == 0) {
      std::memcpy(y.raw(), x.raw(), es);
      return;
    }
    std::vector<int64_t> xs(r, 1);
    for (int64_t d = static_cast<int64_t>(r) - 2; d >= 0; --d) xs[d] = xs[d + 1] * x.dim(d + 1);
    std::vector<int64_t> src_stride(r);  // input stride of each output axis
    for (size_t d = 0; d < r; ++d) {
      if (perm[d] < 0 || perm[d] >= static_cast<int64_t>(r)) c.fail("perm out of range");
      src_stride[d] = xs[static_cast<size_t>(perm[d])];
    }
    const int64_t len = y.dim(r - 1), step = src_stride[r - 1];
    const char* src = static_cast<const char*>(x.raw());
    char* dst = static_cast<char*>(y.raw());
    if (r == 2 && perm[0] == 1 && len <= 16) {
      // [R, C] -> [C, R] with short output rows (NonZero's [rank, N] -> [N, rank]): by columns.
      const int64_t rows = y.dim(0);
      if (es == 8) {
        transpose_narrow(static_cast<const int64_t*>(x.raw()), static_cast<int64_t*>(y.raw()), rows,
                         len);
        return;
      }
      if (es == 4) {
        transpose_narrow(static_cast<const int32_t*>(x.raw()), static_cast<int32_t*>(y.raw()), rows,
                         len);
        return;
      }
      if (es == 1) {
        transpose_narrow(static_cast<const uint8_t*>(x.raw()), static_cast<uint8_t*>(y.raw()), rows,
                         len);
        return;
      }
    }
    for_rows(y.shape(), {src_stride}, [&](int64_t row, const std::vector<int64_t>& off) {
      char* o = dst + static_cast<size_t>(row * len) * es;
      const char* i = src + static_cast<size_t>(off[0]) * es;
      if (step == 1) {
        std::memcpy(o, i, static_cast<size_t>(len) * es);
      } else {
        for (int64_t j = 0; j < len; ++j)
          put(o + static_cast<size_t>(j) * es, i + static_cast<size_t>(j * step) * es, es);
      }
    });
  }
};

std::unique_ptr<Kernel> create_transpose(const KernelQuery& q, std::string* why) {
  if (q.any_blocked()) return *why = "plain layouts only", nullptr;
  if (q.input_types[0].dtype == DType::undefined) return *why = "unknown type", nullptr;
  return std::make_unique<TransposeCpu>();
}

std::unique_ptr<Kernel> create_expand(const KernelQuery& q, std::string* why) {
  if (q.any_blocked()) return *why = "plain layouts only", nullptr;
  if (q.input_types[0].dtype == DType::undefined) return *why = "unknown type", nullptr;
  return std::make_unique<ExpandCpu>();
}

std::unique_ptr<Kernel> create_scatter(const KernelQuery& q, std::string* why) {
  if (q.any_blocked()) return *why = "plain layouts only", nullptr;
  if (q.node->attr_s("reduction", "none") != "none") return *why = "reduction none only", nullptr;
  const DType it = q.input_types.size() > 1 ? q.input_types[1].dtype : DType::undefined;
  if (it != DType::i64 && it != DType::i32) return *why = "i64/i32 indices only", nullptr;
  if (q.input_types[0].dtype == DType::undefined) return *why = "unknown type", nullptr;
  return std::make_unique<ScatterElementsCpu>();
}

}  // namespace

void register_cpu_transpose(KernelRegistry& r) {
  r.add("Transpose", {"cpu", create_transpose, nullptr});
}

void register_cpu_expand_scatter(KernelRegistry& r) {
  r.add("Expand", {"cpu", create_expand, nullptr});
  r.add("ScatterElements", {"cpu", create_scatter, nullptr});
}

}  // namespace visionrt
