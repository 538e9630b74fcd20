// Reference kernels for data-movement ops. Most are type-agnostic: they move elements of
// dtype_size bytes; reductions (Scatter*, CumSum) and value-producing ops dispatch on type.
#include <algorithm>
#include <cmath>

#include "common/strings.hpp"
#include "kernels/ref/ref_util.hpp"
#include "ops/tensor_shapes.hpp"

namespace visionrt {
namespace {

inline void copy_elem(char* dst, int64_t di, const char* src, int64_t si, size_t es) {
  std::memcpy(dst + di * static_cast<int64_t>(es), src + si * static_cast<int64_t>(es), es);
}
const char* bytes(const Tensor& t) { return static_cast<const char*>(t.raw()); }
char* bytes(Tensor& t) { return static_cast<char*>(t.raw()); }

// Reads index i of an integer tensor, normalized against `dim` (negative counts from the end).
int64_t index_at(const KernelContext& c, const Tensor& idx, size_t i, int64_t dim) {
  int64_t v = idx.at_i64(i);
  if (v < -dim || v >= dim)
    c.fail(str_cat("index ", v, " is out of range for a dimension of size ", dim));
  return v < 0 ? v + dim : v;
}

void copy_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  if (x.numel() != c.output(0).numel()) c.fail("element count changed");
  if (x.nbytes()) std::memcpy(c.output(0).raw(), x.raw(), x.nbytes());
}

void transpose_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  Tensor& y = c.output(0);
  size_t r = x.rank();
  std::vector<int64_t> perm = c.node->attr_is("perm");
  if (perm.empty())
    for (size_t i = 0; i < r; ++i) perm.push_back(static_cast<int64_t>(r - 1 - i));
  auto xs = ref::strides_of(x.shape());
  std::vector<int64_t> st(r);
  for (size_t d = 0; d < r; ++d) st[d] = xs[perm[d]];
  ref::MultiIndex it(y.shape(), {st});
  size_t es = dtype_size(x.dtype());
  for (size_t i = 0; i < y.numel(); ++i, it.next())
    copy_elem(bytes(y), static_cast<int64_t>(i), bytes(x), it.offset(0), es);
}

void concat_kernel(KernelContext& c) {
  Tensor& y = c.output(0);
  int64_t axis = ref::norm_axis(c.node->attr_i("axis", 0), static_cast<int64_t>(y.rank()));
  int64_t outer = 1, inner = 1;
  outer = ref::outer_size(y.shape(), axis);
  inner = ref::inner_size(y.shape(), axis);
  size_t es = dtype_size(y.dtype());
  int64_t out_row = y.dim(axis) * inner, off = 0;
  for (size_t i = 0; i < c.num_inputs(); ++i) {
    const Tensor& x = c.input(i);
    int64_t row = x.dim(axis) * inner;
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(bytes(y) + (o * out_row + off) * static_cast<int64_t>(es),
                  bytes(x) + o * row * static_cast<int64_t>(es), static_cast<size_t>(row) * es);
    off += row;
  }
}

void split_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  int64_t axis = ref::norm_axis(c.node->attr_i("axis", 0), static_cast<int64_t>(x.rank()));
  int64_t outer = 1, inner = 1;
  outer = ref::outer_size(x.shape(), axis);
  inner = ref::inner_size(x.shape(), axis);
  size_t es = dtype_size(x.dtype());
  int64_t in_row = x.dim(axis) * inner, off = 0;
  for (size_t i = 0; i < c.num_outputs(); ++i) {
    Tensor& y = c.output(i);
    if (y.empty()) c.fail("split sizes are unknown");
    int64_t row = y.dim(axis) * inner;
    if (off + row > in_row) c.fail("split sizes exceed the input");
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(bytes(y) + o * row * static_cast<int64_t>(es),
                  bytes(x) + (o * in_row + off) * static_cast<int64_t>(es),
                  static_cast<size_t>(row) * es);
    off += row;
  }
}

void slice_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  Tensor& y = c.output(0);
  SliceParams p;
  if (!slice_params(
          *c.node, c.opset, [&c](size_t i) { return c.has_input(i) ? &c.input(i) : nullptr; }, &p))
    c.fail("starts/ends missing");
  Shape out;
  std::string err;
  if (!slice_plan(x.shape(), &p, &out, &err)) c.fail(err);
  auto xs = ref::strides_of(x.shape());
  int64_t base = 0;
  std::vector<int64_t> st(x.rank());
  for (size_t d = 0; d < x.rank(); ++d) {
    base += p.start[d] * xs[d];
    st[d] = p.step[d] * xs[d];
  }
  ref::MultiIndex it(y.shape(), {st});
  size_t es = dtype_size(x.dtype());
  for (size_t i = 0; i < y.numel(); ++i, it.next())
    copy_elem(bytes(y), static_cast<int64_t>(i), bytes(x), base + it.offset(0), es);
}

void gather_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  const Tensor& idx = c.input(1);
  Tensor& y = c.output(0);
  int64_t axis = ref::norm_axis(c.node->attr_i("axis", 0), static_cast<int64_t>(x.rank()));
  int64_t outer = 1, inner = 1, n = x.dim(axis);
  outer = ref::outer_size(x.shape(), axis);
  inner = ref::inner_size(x.shape(), axis);
  size_t es = dtype_size(x.dtype());
  int64_t m = static_cast<int64_t>(idx.numel());
  std::vector<int64_t> ix(idx.numel());
  for (size_t k = 0; k < idx.numel(); ++k) ix[k] = index_at(c, idx, k, n);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < m; ++k)
      std::memcpy(bytes(y) + ((o * m + k) * inner) * static_cast<int64_t>(es),
                  bytes(x) + ((o * n + ix[k]) * inner) * static_cast<int64_t>(es),
                  static_cast<size_t>(inner) * es);
}

void gather_elements_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  const Tensor& idx = c.input(1);
  Tensor& y = c.output(0);
  if (idx.rank() != x.rank()) c.fail("indices must have the data's rank");
  int64_t axis = ref::norm_axis(c.node->attr_i("axis", 0), static_cast<int64_t>(x.rank()));
  auto xs = ref::strides_of(x.shape());
  std::vector<int64_t> st = xs;
  st[axis] = 0;
  for (size_t d = 0; d < x.rank(); ++d)
    if (static_cast<int64_t>(d) != axis && idx.dim(d) > x.dim(d))
      c.fail("indices shape exceeds the data's");
  ref::MultiIndex it(idx.shape(), {st});
  size_t es = dtype_size(x.dtype());
  for (size_t i = 0; i < idx.numel(); ++i, it.next()) {
    int64_t k = index_at(c, idx, i, x.dim(axis));
    copy_elem(bytes(y), static_cast<int64_t>(i), bytes(x), it.offset(0) + k * xs[axis], es);
  }
}

void gathernd_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  const Tensor& idx = c.input(1);
  Tensor& y = c.output(0);
  int64_t b = c.node->attr_i("batch_dims", 0);
  int64_t k = idx.dim(idx.rank() - 1);
  auto xs = ref::strides_of(x.shape());
  int64_t batch = 1;
  for (int64_t d = 0; d < b; ++d) batch *= x.dim(d);
  int64_t slice = 1;
  for (size_t d = static_cast<size_t>(b + k); d < x.rank(); ++d) slice *= x.dim(d);
  int64_t tuples = static_cast<int64_t>(idx.numel()) / std::max<int64_t>(1, k);
  int64_t per_batch = tuples / std::max<int64_t>(1, batch);
  size_t es = dtype_size(x.dtype());
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t bi = per_batch ? t / per_batch : 0;
    int64_t off = bi * (b > 0 ? xs[b - 1] : 0);
    for (int64_t j = 0; j < k; ++j)
      off += index_at(c, idx, static_cast<size_t>(t * k + j), x.dim(b + j)) * xs[b + j];
    std::memcpy(bytes(y) + t * slice * static_cast<int64_t>(es),
                bytes(x) + off * static_cast<int64_t>(es), static_cast<size_t>(slice) * es);
  }
}

template <typename T>
void reduce_into(T& dst, T v, const std::string& red) {
  if (red == "add")
    dst = ref::store<T>(ref::load(dst) + ref::load(v));
  else if (red == "mul")
    dst = ref::store<T>(ref::load(dst) * ref::load(v));
  else if (red == "max")
    dst = ref::load(v) > ref::load(dst) ? v : dst;
  else if (red == "min")
    dst = ref::load(v) < ref::load(dst) ? v : dst;
  else
    dst = v;
}

void scatternd_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  const Tensor& idx = c.input(1);
  const Tensor& upd = c.input(2);
  Tensor& y = c.output(0);
  std::memcpy(y.raw(), x.raw(), x.nbytes());
  std::string red = c.node->attr_s("reduction", "none");
  int64_t k = idx.dim(idx.rank() - 1);
  if (k > static_cast<int64_t>(x.rank())) c.fail("indices' last dimension exceeds the data rank");
  auto xs = ref::strides_of(x.shape());
  int64_t slice = 1;
  for (size_t d = static_cast<size_t>(k); d < x.rank(); ++d) slice *= x.dim(d);
  int64_t tuples = static_cast<int64_t>(idx.numel()) / std::max<int64_t>(1, k);
  if (static_cast<int64_t>(upd.numel()) != tuples * slice) c.fail("updates have the wrong size");
  ref::dispatch_all(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* o = y.data<T>();
    const T* u = upd.data<T>();
    for (int64_t t = 0; t < tuples; ++t) {
      int64_t off = 0;
      for (int64_t j = 0; j < k; ++j)
        off += index_at(c, idx, static_cast<size_t>(t * k + j), x.dim(j)) * xs[j];
      for (int64_t s = 0; s < slice; ++s) reduce_into(o[off + s], u[t * slice + s], red);
    }
  });
}

void scatter_elements_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  const Tensor& idx = c.input(1);
  const Tensor& upd = c.input(2);
  Tensor& y = c.output(0);
  std::memcpy(y.raw(), x.raw(), x.nbytes());
  if (idx.shape() != upd.shape()) c.fail("indices and updates shapes differ");
  if (idx.rank() != x.rank()) c.fail("indices must have the data's rank");
  std::string red = c.node->attr_s("reduction", "none");
  int64_t axis = ref::norm_axis(c.node->attr_i("axis", 0), static_cast<int64_t>(x.rank()));
  auto xs = ref::strides_of(x.shape());
  std::vector<int64_t> st = xs;
  st[axis] = 0;
  for (size_t d = 0; d < x.rank(); ++d)
    if (static_cast<int64_t>(d) != axis && idx.dim(d) > x.dim(d))
      c.fail("indices shape exceeds the data's");
  ref::dispatch_all(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* o = y.data<T>();
    const T* u = upd.data<T>();
    ref::MultiIndex it(idx.shape(), {st});
    for (size_t i = 0; i < idx.numel(); ++i, it.next()) {
      int64_t k = index_at(c, idx, i, x.dim(axis));
      reduce_into(o[it.offset(0) + k * xs[axis]], u[i], red);
    }
  });
}

void expand_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  Tensor& y = c.output(0);
  ref::MultiIndex it(y.shape(), {ref::broadcast_strides(x.shape(), y.shape())});
  size_t es = dtype_size(x.dtype());
  for (size_t i = 0; i < y.numel(); ++i, it.next())
    copy_elem(bytes(y), static_cast<int64_t>(i), bytes(x), it.offset(0), es);
}

void tile_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  Tensor& y = c.output(0);
  auto xs = ref::strides_of(x.shape());
  size_t es = dtype_size(x.dtype());
  ref::MultiIndex it(y.shape(), {});
  for (size_t i = 0; i < y.numel(); ++i, it.next()) {
    int64_t off = 0;
    for (size_t d = 0; d < x.rank(); ++d) off += (it.index()[d] % x.dim(d)) * xs[d];
    copy_elem(bytes(y), static_cast<int64_t>(i), bytes(x), off, es);
  }
}

void pad_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  Tensor& y = c.output(0);
  std::string mode = c.node->attr_s("mode", "constant");
  std::vector<int64_t> pads = c.opset < 11 ? c.node->attr_is("pads") : c.input(1).to_i64_vector();
  std::vector<int64_t> axes;
  if (c.opset >= 18 && c.has_input(3)) axes = c.input(3).to_i64_vector();
  std::vector<int64_t> full;
  std::string err;
  if (!pad_plan(x.rank(), pads, axes, &full, &err)) c.fail(err);
  size_t r = x.rank();
  if (mode != "constant" && mode != "reflect" && mode != "edge" &&
      !(mode == "wrap" && c.opset >= 19))
    c.fail("unsupported pad mode '" + mode + "'");
  for (size_t d = 0; d < r && mode != "constant"; ++d)
    if (x.dim(d) == 0 && (full[d] > 0 || full[d + r] > 0))
      c.fail("cannot reflect or edge-pad an empty dimension");
  if (mode == "reflect")
    for (size_t d = 0; d < r; ++d)
      if (full[d] >= x.dim(d) || full[d + r] >= x.dim(d))
        c.fail("reflect padding must be smaller than the dimension");
  auto xs = ref::strides_of(x.shape());
  size_t es = dtype_size(x.dtype());
  // The constant fill value, converted to the data type.
  Tensor fill = Tensor(x.dtype(), {});
  if (c.opset < 11) {
    fill = Tensor::from_vector<float>({}, {c.node->attr_f("value", 0)}).cast(x.dtype());
  } else if (c.has_input(2) && c.input(2).numel() > 0) {
    fill = c.input(2).cast(x.dtype()).reshaped({});
  }
  ref::MultiIndex it(y.shape(), {});
  for (size_t i = 0; i < y.numel(); ++i, it.next()) {
    int64_t off = 0;
    bool outside = false;
    for (size_t d = 0; d < r; ++d) {
      int64_t v = it.index()[d] - full[d], n = x.dim(d);
      if (v < 0 || v >= n) {
        if (mode == "constant") {
          outside = true;
          break;
        }
        if (mode == "edge")
          v = v < 0 ? 0 : n - 1;
        else if (mode == "wrap")
          v = ((v % n) + n) % n;  // opset 19: periodic
        else
          v = v < 0 ? -v : 2 * (n - 1) - v;  // reflect (pads < n checked above)
      }
      off += v * xs[d];
    }
    if (outside)
      copy_elem(bytes(y), static_cast<int64_t>(i), bytes(fill), 0, es);
    else
      copy_elem(bytes(y), static_cast<int64_t>(i), bytes(x), off, es);
  }
}

void shape_kernel(KernelContext& c) {
  const Shape& s = c.input(0).shape();
  int64_t start, end;
  shape_range(*c.node, c.opset, static_cast<int64_t>(s.size()), &start, &end);
  int64_t* o = c.output(0).data<int64_t>();
  for (int64_t i = start; i < end; ++i) o[i - start] = s[i];
}

void size_kernel(KernelContext& c) {
  c.output(0).data<int64_t>()[0] = static_cast<int64_t>(c.input(0).numel());
}

void constant_of_shape_kernel(KernelContext& c) {
  Tensor& y = c.output(0);
  const Tensor* v = c.node->attr_t("value");
  if (!v) return;  // zeros of f32, already zero-filled
  if (v->numel() != 1) c.fail("value must have one element");
  size_t es = dtype_size(y.dtype());
  for (size_t i = 0; i < y.numel(); ++i)
    copy_elem(bytes(y), static_cast<int64_t>(i), bytes(*v), 0, es);
}

void range_kernel(KernelContext& c) {
  Tensor& y = c.output(0);
  ref::dispatch_numeric(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto start = ref::load(c.input(0).data<T>()[0]);
    auto delta = ref::load(c.input(2).data<T>()[0]);
    T* o = y.data<T>();
    for (size_t i = 0; i < y.numel(); ++i)
      o[i] = ref::store<T>(start + static_cast<decltype(start)>(i) * delta);
  });
}

void depth_space_kernel(KernelContext& c, bool to_space) {
  const Tensor& x = c.input(0);
  Tensor& y = c.output(0);
  int64_t bs = c.node->attr_i("blocksize", 1);
  bool crd = c.node->attr_s("mode", "DCR") == "CRD";
  size_t es = dtype_size(x.dtype());
  const Tensor& big = to_space ? y : x;    // N, C, H*bs, W*bs
  const Tensor& small = to_space ? x : y;  // N, C*bs*bs, H, W
  int64_t n = big.dim(0), ch = big.dim(1), h = small.dim(2), w = small.dim(3);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t cc = 0; cc < ch; ++cc)
      for (int64_t i = 0; i < h; ++i)
        for (int64_t bi = 0; bi < bs; ++bi)
          for (int64_t j = 0; j < w; ++j)
            for (int64_t bj = 0; bj < bs; ++bj) {
              int64_t sc = to_space && crd ? cc * bs * bs + bi * bs + bj : (bi * bs + bj) * ch + cc;
              int64_t s_off = ((b * small.dim(1) + sc) * h + i) * w + j;
              int64_t b_off = ((b * ch + cc) * h * bs + i * bs + bi) * w * bs + j * bs + bj;
              if (to_space)
                copy_elem(bytes(y), b_off, bytes(x), s_off, es);
              else
                copy_elem(bytes(y), s_off, bytes(x), b_off, es);
            }
}

void trilu_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  Tensor& y = c.output(0);
  std::memcpy(y.raw(), x.raw(), x.nbytes());
  if (x.rank() < 2) c.fail("input must have rank >= 2");
  bool upper = c.node->attr_i("upper", 1) != 0;
  int64_t k = c.has_input(1) ? c.input(1).at_i64(0) : 0;
  int64_t rows = x.dim(x.rank() - 2), cols = x.dim(x.rank() - 1);
  size_t es = dtype_size(x.dtype());
  int64_t mats = (rows > 0 && cols > 0) ? static_cast<int64_t>(x.numel()) / (rows * cols) : 0;
  for (int64_t m = 0; m < mats; ++m)
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) {
        bool keep = upper ? j - i >= k : j - i <= k;
        if (!keep)
          std::memset(bytes(y) + ((m * rows + i) * cols + j) * static_cast<int64_t>(es), 0, es);
      }
}

void onehot_kernel(KernelContext& c) {
  const Tensor& idx = c.input(0);
  const Tensor& values = c.input(2);
  Tensor& y = c.output(0);
  if (values.numel() != 2) c.fail("values must hold [off, on]");
  int64_t axis = ref::norm_axis(c.node->attr_i("axis", -1), static_cast<int64_t>(y.rank()));
  int64_t depth = y.dim(axis), outer = 1, inner = 1;
  outer = ref::outer_size(y.shape(), axis);
  inner = ref::inner_size(y.shape(), axis);
  size_t es = dtype_size(y.dtype());
  for (size_t i = 0; i < y.numel(); ++i)
    copy_elem(bytes(y), static_cast<int64_t>(i), bytes(values), 0, es);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t in = 0; in < inner; ++in) {
      double v = idx.at_f64(static_cast<size_t>(o * inner + in));
      int64_t k = static_cast<int64_t>(v);
      if (k < 0) k += depth;
      if (k < 0 || k >= depth) continue;
      copy_elem(bytes(y), (o * depth + k) * inner + in, bytes(values), 1, es);
    }
}

void cumsum_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  Tensor& y = c.output(0);
  int64_t axis = ref::norm_axis(c.input(1).at_i64(0), static_cast<int64_t>(x.rank()));
  if (axis < 0 || axis >= static_cast<int64_t>(x.rank())) c.fail("axis out of range");
  bool excl = c.node->attr_i("exclusive", 0) != 0, rev = c.node->attr_i("reverse", 0) != 0;
  int64_t n = x.dim(axis), outer = 1, inner = 1;
  outer = ref::outer_size(x.shape(), axis);
  inner = ref::inner_size(x.shape(), axis);
  ref::dispatch_numeric(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* a = x.data<T>();
    T* o = y.data<T>();
    for (int64_t p = 0; p < outer; ++p)
      for (int64_t q = 0; q < inner; ++q) {
        ref::acc_t<T> acc = 0;
        for (int64_t s = 0; s < n; ++s) {
          int64_t k = rev ? n - 1 - s : s;
          int64_t off = (p * n + k) * inner + q;
          if (excl) {
            o[off] = ref::store<T>(acc);
            acc += ref::load(a[off]);
          } else {
            acc += ref::load(a[off]);
            o[off] = ref::store<T>(acc);
          }
        }
      }
  });
}

void nonzero_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  std::vector<size_t> hits;
  for (size_t i = 0; i < x.numel(); ++i)
    if (x.at_f64(i) != 0) hits.push_back(i);
  int64_t r = static_cast<int64_t>(x.rank()), n = static_cast<int64_t>(hits.size());
  Tensor y(DType::i64, {r, n});
  auto xs = ref::strides_of(x.shape());
  for (int64_t k = 0; k < n; ++k) {
    int64_t rem = static_cast<int64_t>(hits[k]);
    for (int64_t d = 0; d < r; ++d) {
      y.data<int64_t>()[d * n + k] = rem / xs[d];
      rem %= xs[d];
    }
  }
  c.set_output(0, y);
}

void compress_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  const Tensor& cond = c.input(1);
  bool has_axis = c.node->has_attr("axis");
  Tensor src = has_axis ? x : x.reshaped({static_cast<int64_t>(x.numel())});
  int64_t axis =
      has_axis ? ref::norm_axis(c.node->attr_i("axis", 0), static_cast<int64_t>(x.rank())) : 0;
  int64_t n = src.dim(axis), outer = 1, inner = 1;
  outer = ref::outer_size(src.shape(), axis);
  inner = ref::inner_size(src.shape(), axis);
  std::vector<int64_t> keep;
  for (int64_t k = 0; k < n && k < static_cast<int64_t>(cond.numel()); ++k)
    if (cond.at_f64(static_cast<size_t>(k)) != 0) keep.push_back(k);
  Shape ys = src.shape();
  ys[axis] = static_cast<int64_t>(keep.size());
  Tensor y(x.dtype(), ys);
  size_t es = dtype_size(x.dtype());
  int64_t m = static_cast<int64_t>(keep.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < m; ++k)
      std::memcpy(bytes(y) + ((o * m + k) * inner) * static_cast<int64_t>(es),
                  bytes(src) + ((o * n + keep[k]) * inner) * static_cast<int64_t>(es),
                  static_cast<size_t>(inner) * es);
  c.set_output(0, y);
}

void eyelike_kernel(KernelContext& c) {
  Tensor& y = c.output(0);
  int64_t k = c.node->attr_i("k", 0), rows = y.dim(0), cols = y.dim(1);
  Tensor one = Tensor::from_vector<float>({}, {1.0f}).cast(y.dtype());
  for (int64_t i = 0; i < rows; ++i) {
    int64_t j = i + k;
    if (j >= 0 && j < cols) copy_elem(bytes(y), i * cols + j, bytes(one), 0, dtype_size(y.dtype()));
  }
}

void reverse_sequence_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  const Tensor& lens = c.input(1);
  Tensor& y = c.output(0);
  std::memcpy(y.raw(), x.raw(), x.nbytes());
  int64_t bax = c.node->attr_i("batch_axis", 1), tax = c.node->attr_i("time_axis", 0);
  auto xs = ref::strides_of(x.shape());
  size_t es = dtype_size(x.dtype());
  if (static_cast<int64_t>(lens.numel()) != x.dim(bax))
    c.fail("sequence_lens must have one value per batch");
  ref::MultiIndex it(x.shape(), {xs});
  for (size_t i = 0; i < x.numel(); ++i, it.next()) {
    int64_t b = it.index()[bax], t = it.index()[tax];
    int64_t len = lens.at_i64(static_cast<size_t>(b));
    if (len < 0 || len > x.dim(tax)) c.fail("sequence length out of range");
    if (t >= len) continue;
    int64_t src = it.offset(0) + (len - 1 - 2 * t) * xs[tax];
    copy_elem(bytes(y), static_cast<int64_t>(i), bytes(x), src, es);
  }
}

}  // namespace

void register_ref_tensor_basic(KernelRegistry& r) {
  for (const char* op : {"Reshape", "Flatten", "Squeeze", "Unsqueeze"}) r.add_ref(op, copy_kernel);
  r.add_ref("Transpose", transpose_kernel);
  r.add_ref("Concat", concat_kernel);
  r.add_ref("Split", split_kernel);
  r.add_ref("Slice", slice_kernel);
  r.add_ref("Gather", gather_kernel);
  r.add_ref("GatherElements", gather_elements_kernel);
  r.add_ref("GatherND", gathernd_kernel);
  r.add_ref("ScatterND", scatternd_kernel);
  r.add_ref("ScatterElements", scatter_elements_kernel);
  r.add_ref("Scatter", scatter_elements_kernel);
  r.add_ref("Expand", expand_kernel);
  r.add_ref("Tile", tile_kernel);
  r.add_ref("Pad", pad_kernel);
  r.add_ref("Shape", shape_kernel);
  r.add_ref("Size", size_kernel);
  r.add_ref("ConstantOfShape", constant_of_shape_kernel);
  r.add_ref("Range", range_kernel);
  r.add_ref("DepthToSpace", [](KernelContext& c) { depth_space_kernel(c, true); });
  r.add_ref("SpaceToDepth", [](KernelContext& c) { depth_space_kernel(c, false); });
  r.add_ref("Trilu", trilu_kernel);
  r.add_ref("OneHot", onehot_kernel);
  r.add_ref("CumSum", cumsum_kernel);
  r.add_ref("NonZero", nonzero_kernel);
  r.add_ref("Compress", compress_kernel);
  r.add_ref("EyeLike", eyelike_kernel);
  r.add_ref("ReverseSequence", reverse_sequence_kernel);
}

}  // namespace visionrt
