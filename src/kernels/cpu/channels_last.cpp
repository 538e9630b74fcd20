// visionrt.ChannelsLast: a [N,C,H,W] tensor in a blocked (nChw8c/16c), channels-last (nhwc: one
// block of all C channels, the f32 head outputs of a QDQ model's int8 convolutions) or plain
// layout written with its channels last, optionally split into `groups` ([N,A,H,W,C/A]). Each
// output row is copied from the input's channel blocks in runs of up to a block's width
// (contiguous at a pixel), so a detection head's output is read once and written once.
#include <algorithm>

#include "common/parallel.hpp"
#include "common/strings.hpp"
#include "kernels/kernel.hpp"

namespace visionrt {
namespace {

class ChannelsLast : public Kernel {
 public:
  ChannelsLast(const Shape& x, int64_t groups, int block, bool nhwc)
      : nhwc_(nhwc),
        n_(x[0]),
        c_(x[1]),
        h_(x[2]),
        w_(x[3]),
        groups_(std::max<int64_t>(groups, 1)),
        b_(std::max(block, 1)) {}
  void execute(KernelContext& ctx) override {
    const float* x = ctx.input(0).data<float>();
    float* y = ctx.output(0).data<float>();
    const int64_t k = c_ / groups_, hw = h_ * w_, cb = (c_ + b_ - 1) / b_;
    const int64_t rows = n_ * groups_ * h_;  // output rows of w * k elements
    const int threads = rows * w_ * k >= (int64_t{1} << 14) ? ctx.num_threads : 1;
    parallel_for(rows, threads, [&](int64_t r) {
      const int64_t hh = r % h_, a = (r / h_) % groups_, nn = r / (h_ * groups_);
      float* d = y + r * w_ * k;
      for (int64_t ww = 0; ww < w_; ++ww) {
        for (int64_t c = a * k, end = c + k; c < end;) {
          const int64_t in = c % b_, run = std::min<int64_t>(b_ - in, end - c);
          const float* s = x + ((nn * cb + c / b_) * hw + hh * w_ + ww) * b_ + in;
          for (int64_t j = 0; j < run; ++j) d[j] = s[j];
          d += run;
          c += run;
        }
      }
    });
  }
  std::string layout() const override {
    return str_cat(nhwc_    ? std::string("nhwc")
                   : b_ > 1 ? str_cat("nChw", b_, "c")
                            : std::string("nchw"),
                   " -> channels last");
  }

 private:
  bool nhwc_;
  int64_t n_, c_, h_, w_, groups_;
  int b_;
};

std::unique_ptr<Kernel> create(const KernelQuery& q, std::string* why) {
  if (q.input_types.size() != 1 || q.output_types.size() != 1)
    return *why = "one input and one output", nullptr;
  const TensorType& x = q.input_types[0];
  if (!x.fully_known() || x.dtype != DType::f32 || x.dims.size() != 4 ||
      !q.output_types[0].fully_known())
    return *why = "static 4-D f32 input", nullptr;
  if (q.output_layout(0) != 0) return *why = "writes plain only", nullptr;
  const int64_t groups = q.node->attr_i("groups", 0);
  if (groups < 0 || (groups > 0 && x.dims[1] % groups != 0))
    return *why = "groups must divide the channels", nullptr;
  const bool nhwc = q.input_layout(0) == kLayoutNhwc;
  if (nhwc && x.dims[1] > INT32_MAX) return *why = "too many channels", nullptr;
  return std::make_unique<ChannelsLast>(
      x.dims, groups, nhwc ? static_cast<int>(x.dims[1]) : q.input_layout(0), nhwc);
}

}  // namespace

void register_cpu_channels_last(KernelRegistry& r) {
  r.add("visionrt.ChannelsLast", {"cpu", create, [](const KernelQuery&) { return true; }});
}

}  // namespace visionrt
