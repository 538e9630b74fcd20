// Slice with constant starts/ends/axes/steps on a static tensor: the copy is planned at compile
// time as rows (every dimension but the last) of `count` elements at a fixed stride, copied
// with memcpy where the last axis has step 1. Any dtype, plain layout; also oneDNN's blocked
// nChw8c/nChw16c when only the channel axis is sliced with step 1 at block boundaries (whole
// blocks move). Where a slice is one contiguous range of its input (a channel split of a batch-1
// tensor: ShuffleNet's, CSP blocks'), the memory plan makes it a view and this kernel never
// runs (runtime/exec_plan.cpp).
#include <cstring>

#include "common/parallel.hpp"
#include "common/strings.hpp"
#include "kernels/kernel.hpp"
#include "ops/tensor_shapes.hpp"

namespace visionrt {
namespace {

class FastSlice : public Kernel {
 public:
  FastSlice(Shape out_rows, std::vector<int64_t> row_stride, int64_t base, int64_t count,
            int64_t step, size_t es, std::string layout)
      : rows_(std::move(out_rows)),
        row_stride_(std::move(row_stride)),
        base_(base),
        count_(count),
        step_(step),
        es_(es),
        layout_(std::move(layout)) {}

  void execute(KernelContext& ctx) override {
    const char* x = static_cast<const char*>(ctx.input(0).raw());
    char* y = static_cast<char*>(ctx.output(0).raw());
    const int64_t n_rows = shape_numel(rows_);
    if (n_rows == 0 || count_ == 0) return;
    const int threads =
        n_rows * count_ * static_cast<int64_t>(es_) >= (1 << 16) ? ctx.num_threads : 1;
    parallel_for(n_rows, threads, [&](int64_t r) {
      int64_t rem = r, off = base_;
      for (size_t d = rows_.size(); d-- > 0;) {
        off += (rem % rows_[d]) * row_stride_[d];
        rem /= rows_[d];
      }
      char* dst = y + r * count_ * static_cast<int64_t>(es_);
      const char* src = x + off * static_cast<int64_t>(es_);
      if (step_ == 1) {
        std::memcpy(dst, src, static_cast<size_t>(count_) * es_);
      } else {
        for (int64_t i = 0; i < count_; ++i)
          std::memcpy(dst + i * static_cast<int64_t>(es_),
                      src + i * step_ * static_cast<int64_t>(es_), es_);
      }
    });
  }
  std::string layout() const override { return layout_; }

 private:
  Shape rows_;                       // output dims except the copied run
  std::vector<int64_t> row_stride_;  // input element stride per row dim
  int64_t base_, count_, step_;
  size_t es_;
  std::string layout_;
};

std::unique_ptr<Kernel> create(const KernelQuery& q, std::string* why) {
  const TensorType& t = q.input_types[0];
  if (!t.fully_known() || t.dims.empty() || t.dtype == DType::undefined)
    return *why = "needs a static tensor", nullptr;
  SliceParams p;
  auto value = [&q](size_t i) {
    return i < q.input_constants.size() ? q.input_constants[i] : nullptr;
  };
  if (!slice_params(*q.node, q.opset, value, &p))
    return *why = "starts/ends/axes/steps are not constants", nullptr;
  Shape out;
  std::string err;
  if (!slice_plan(t.dims, &p, &out, &err)) return *why = err, nullptr;
  const size_t es = dtype_size(t.dtype);
  const size_t r = t.dims.size();
  const int block = q.input_layout(0);
  if (block != q.output_layout(0)) return *why = "input and output layouts differ", nullptr;
  if (block == kLayoutNhwc) return *why = "not for channels-last tensors", nullptr;
  if (block) {
    // Whole channel blocks: [N][C/b][H*W*b] with only C sliced, step 1, at block boundaries.
    if (r != 4) return *why = "blocked layouts are 4-D", nullptr;
    for (size_t d = 0; d < r; ++d)
      if (d != 1 && (out[d] != t.dims[d] || p.step[d] != 1))
        return *why = "blocked: only the channel axis may be sliced", nullptr;
    if (p.step[1] != 1 || p.start[1] % block != 0 ||
        (out[1] % block != 0 && p.start[1] + out[1] != t.dims[1]))
      return *why = "blocked: channel range not on block boundaries", nullptr;
    const int64_t cb_in = (t.dims[1] + block - 1) / block, cb_out = (out[1] + block - 1) / block;
    const int64_t blk = t.dims[2] * t.dims[3] * block;
    return std::make_unique<FastSlice>(Shape{out[0]}, std::vector<int64_t>{cb_in * blk},
                                       p.start[1] / block * blk, cb_out * blk, 1, es,
                                       str_cat("nChw", block, "c"));
  }
  std::vector<int64_t> stride(r, 1);
  for (size_t d = r - 1; d > 0; --d) stride[d - 1] = stride[d] * t.dims[d];
  int64_t base = 0;
  for (size_t d = 0; d < r; ++d) base += p.start[d] * stride[d];
  // Trailing dimensions copied whole with step 1 merge into the run.
  size_t last = r - 1;
  int64_t count = out[last], step = p.step[last];
  while (last > 0 && step == 1 && out[last] == t.dims[last] && p.step[last - 1] == 1) {
    --last;
    count *= out[last];
  }
  // With the run merged down to `last`, rows are the dims before it.
  Shape rows(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(last));
  std::vector<int64_t> row_stride;
  for (size_t d = 0; d < last; ++d) row_stride.push_back(p.step[d] * stride[d]);
  // The run's element step: the last axis' step, or 1 once whole trailing dims were merged.
  return std::make_unique<FastSlice>(rows, row_stride, base, count, last == r - 1 ? step : 1, es,
                                     "plain");
}

}  // namespace

void register_cpu_slice(KernelRegistry& r) {
  r.add("Slice", KernelCandidate::checked_by_create("cpu", create));
}

}  // namespace visionrt
