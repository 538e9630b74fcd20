// Pad in constant, reflect and edge modes with pads known at compile time (non-negative), any
// dtype, plain layout; and oneDNN's blocked nChw8c/nChw16c when only H and W are padded (an
// element is then a whole block of channel lanes: padded lanes stay zero since only a zero
// constant is allowed there and reflect/edge copy lanes as they are). ReflectionPad2d and
// ReplicationPad2d before a conv (style transfer, pix2pix, HRNet-style heads) and explicit
// ZeroPad2d the conv could not absorb land here.
// Rows (every dimension but the last) are mapped to their source row once per row; the last
// dimension is a memcpy with its pads written around it.
#include <cstring>

#include "common/parallel.hpp"
#include "common/strings.hpp"
#include "kernels/kernel.hpp"
#include "ops/tensor_shapes.hpp"

namespace visionrt {
namespace {

enum class PadMode { constant, reflect, edge };

class FastPad : public Kernel {
 public:
  FastPad(Shape in, Shape out, std::vector<int64_t> begin, PadMode mode, std::vector<char> fill,
          std::string layout)
      : in_(std::move(in)),
        out_(std::move(out)),
        begin_(std::move(begin)),
        mode_(mode),
        fill_(std::move(fill)),
        layout_(std::move(layout)) {}

  void execute(KernelContext& ctx) override {
    const char* x = static_cast<const char*>(ctx.input(0).raw());
    char* y = static_cast<char*>(ctx.output(0).raw());
    const size_t r = in_.size(), es = fill_.size();
    const int64_t w_in = in_[r - 1], w_out = out_[r - 1], pb = begin_[r - 1];
    const int64_t pe = w_out - w_in - pb;
    int64_t rows = 1;
    for (size_t d = 0; d + 1 < r; ++d) rows *= out_[d];
    const int threads = rows * w_out * static_cast<int64_t>(es) >= (1 << 16) ? ctx.num_threads : 1;
    parallel_for(rows, threads, [&](int64_t row) {
      char* dst = y + row * w_out * static_cast<int64_t>(es);
      // Source row: each output index mapped back by the mode; constant mode: outside -> fill.
      int64_t rem = row, src_row = 0, stride = 1;
      bool outside = false;
      for (size_t d = r - 1; d-- > 0;) {
        int64_t v = rem % out_[d] - begin_[d];
        rem /= out_[d];
        const int64_t n = in_[d];
        if (v < 0 || v >= n) {
          if (mode_ == PadMode::constant)
            outside = true;
          else if (mode_ == PadMode::edge)
            v = v < 0 ? 0 : n - 1;
          else
            v = v < 0 ? -v : 2 * (n - 1) - v;
        }
        src_row += v * stride;
        stride *= n;
      }
      if (outside) {
        fill_run(dst, w_out);
        return;
      }
      const char* src = x + src_row * w_in * static_cast<int64_t>(es);
      std::memcpy(dst + pb * static_cast<int64_t>(es), src, static_cast<size_t>(w_in) * es);
      if (mode_ == PadMode::constant) {
        fill_run(dst, pb);
        fill_run(dst + (pb + w_in) * static_cast<int64_t>(es), pe);
        return;
      }
      for (int64_t j = 0; j < pb; ++j) {
        const int64_t s = mode_ == PadMode::edge ? 0 : pb - j;
        std::memcpy(dst + j * static_cast<int64_t>(es), src + s * static_cast<int64_t>(es), es);
      }
      for (int64_t k = 0; k < pe; ++k) {
        const int64_t s = mode_ == PadMode::edge ? w_in - 1 : w_in - 2 - k;
        std::memcpy(dst + (pb + w_in + k) * static_cast<int64_t>(es),
                    src + s * static_cast<int64_t>(es), es);
      }
    });
  }
  std::string layout() const override { return layout_; }
  bool reads_at_run_time(size_t input) const override { return input == 0; }

 private:
  void fill_run(char* dst, int64_t n) const {
    const size_t es = fill_.size();
    bool zero = true;
    for (char c : fill_) zero = zero && c == 0;
    if (zero) {
      std::memset(dst, 0, static_cast<size_t>(n) * es);
      return;
    }
    for (int64_t i = 0; i < n; ++i)
      std::memcpy(dst + i * static_cast<int64_t>(es), fill_.data(), es);
  }

  Shape in_, out_;
  std::vector<int64_t> begin_;
  PadMode mode_;
  std::vector<char> fill_;  // one element (a whole block of lanes when blocked)
  std::string layout_;
};

std::unique_ptr<Kernel> create(const KernelQuery& q, std::string* why) {
  const TensorType& t = q.input_types[0];
  if (!t.fully_known() || t.dims.empty() || t.dtype == DType::undefined)
    return *why = "needs a static tensor", nullptr;
  const Node& n = *q.node;
  const std::string mode_s = n.attr_s("mode", "constant");
  PadMode mode;
  if (mode_s == "constant")
    mode = PadMode::constant;
  else if (mode_s == "reflect")
    mode = PadMode::reflect;
  else if (mode_s == "edge")
    mode = PadMode::edge;
  else
    return *why = str_cat("mode '", mode_s, "'"), nullptr;
  auto constant = [&q](size_t i) {
    return i < q.input_constants.size() ? q.input_constants[i] : nullptr;
  };
  std::vector<int64_t> pads, axes;
  Tensor fill_value = Tensor::scalar(0.0f);
  if (q.opset < 11) {
    pads = n.attr_is("pads");
    fill_value = Tensor::scalar(n.attr_f("value", 0.0f));
  } else {
    if (!constant(1)) return *why = "pads are not constant", nullptr;
    pads = constant(1)->to_i64_vector();
    if (q.input_types.size() > 2 && q.input_types[2].dtype != DType::undefined) {
      if (!constant(2)) return *why = "the constant value is not a constant", nullptr;
      if (constant(2)->numel() > 0) fill_value = *constant(2);
    }
    if (q.input_types.size() > 3 && q.input_types[3].dtype != DType::undefined) {
      if (!constant(3)) return *why = "axes are not constant", nullptr;
      axes = constant(3)->to_i64_vector();
    }
  }
  const size_t r = t.dims.size();
  std::vector<int64_t> full;
  std::string err;
  if (!pad_plan(r, pads, axes, &full, &err)) return *why = err, nullptr;
  for (int64_t p : full)
    if (p < 0) return *why = "negative pads (cropping)", nullptr;
  Shape out = t.dims;
  for (size_t d = 0; d < r; ++d) {
    out[d] += full[d] + full[d + r];
    if (mode != PadMode::constant && t.dims[d] == 0 && (full[d] || full[d + r]))
      return *why = "reflect/edge pad of an empty dimension", nullptr;
    if (mode == PadMode::reflect && (full[d] >= t.dims[d] || full[d + r] >= t.dims[d]))
      return *why = "reflect pads must be smaller than the dimension", nullptr;
  }
  if (shape_numel(out) == 0) return *why = "empty output", nullptr;
  if (q.output_types[0].fully_known() && q.output_types[0].dims != out)
    return *why = "output shape disagrees with the pads", nullptr;
  Tensor fv = fill_value.cast(t.dtype);
  const size_t es = dtype_size(t.dtype);
  std::vector<char> fill(es);
  std::memcpy(fill.data(), fv.raw(), es);
  const int block = q.input_layout(0);
  if (block != q.output_layout(0)) return *why = "input and output layouts differ", nullptr;
  if (block == kLayoutNhwc) return *why = "not for channels-last tensors", nullptr;
  if (!block) {
    std::vector<int64_t> begin(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(r));
    return std::make_unique<FastPad>(t.dims, out, begin, mode, fill, str_cat("plain ", mode_s));
  }
  // Blocked [N][C/b][H][W][b]: padding H and W only; an element is b lanes.
  if (r != 4 || full[0] || full[1] || full[r] || full[r + 1])
    return *why = "blocked: only H and W may be padded", nullptr;
  if (mode == PadMode::constant && fv.at_f64(0) != 0.0)
    return *why = "blocked: constant value other than 0", nullptr;
  const int64_t cb = (t.dims[1] + block - 1) / block;
  std::vector<char> lanes(es * static_cast<size_t>(block), 0);
  return std::make_unique<FastPad>(Shape{t.dims[0], cb, t.dims[2], t.dims[3]},
                                   Shape{out[0], cb, out[2], out[3]},
                                   std::vector<int64_t>{0, 0, full[2], full[3]}, mode,
                                   std::move(lanes), str_cat("nChw", block, "c ", mode_s));
}

}  // namespace

void register_cpu_pad(KernelRegistry& r) {
  r.add("Pad", KernelCandidate::checked_by_create("cpu", create));
}

}  // namespace visionrt
