// Products of a few rows by constant weights (a classifier's last Linear at batch 1: [1, 1280] x
// [1280, 1000], 5 MB of weights read once per inference): the cost is streaming the weights from
// memory, not arithmetic. The weights are kept as N contiguous rows of K (B transposed once at
// compile time) and each output is a dot product read front to back, which the hardware
// prefetchers follow; oneDNN's blocked brgemm layout measured 0.34 ms against 0.20 for this on
// such a product with cold caches (AVX-512 EPYC, one thread). MatMul (A's leading dimensions
// folded into at most 4 rows, B a 2-D constant), Gemm (any alpha, beta, transB; transA with one
// row; C a constant [N], [1, N] or scalar) and visionrt.FusedMatMul (constant bias [N], any
// activation of the table). f32, static shapes, plain layouts. Each output is summed in one fixed
// order by one thread: the same bits at any thread count.
#include <algorithm>
#include <vector>

#include "common/parallel.hpp"
#include "common/strings.hpp"
#include "kernels/activation.hpp"
#include "kernels/cpu/vec_math.hpp"
#include "kernels/kernel.hpp"

namespace visionrt {
namespace {

constexpr int64_t kMaxRows = 4;

// out[m] = sum_k w[k] * x[m * ldx + k] for m < M, 16 independent lanes per row (vectorized
// without reassociation), the lanes then added pairwise.
template <int M>
VISIONRT_VEC_INLINE void dot_rows(const float* w, const float* x, int64_t k, int64_t ldx,
                                  float* out) {
  float acc[M][16] = {};
  int64_t i = 0;
  for (; i + 16 <= k; i += 16)
    for (int m = 0; m < M; ++m)
      for (int l = 0; l < 16; ++l) acc[m][l] += w[i + l] * x[m * ldx + i + l];
  for (int m = 0; m < M; ++m) {
    for (int64_t j = i; j < k; ++j) acc[m][j - i] += w[j] * x[m * ldx + j];
    for (int width = 8; width > 0; width /= 2)
      for (int l = 0; l < width; ++l) acc[m][l] += acc[m][l + width];
    out[m] = acc[m][0];
  }
}

// Outputs [n0, n1) of every row.
VISIONRT_MULTIVERSION void gemv_range(const float* w, const float* x, int64_t rows, int64_t k,
                                      int64_t n0, int64_t n1, float* dots /* rows x (n1-n0) */) {
  for (int64_t n = n0; n < n1; ++n) {
    float out[kMaxRows];
    const float* wn = w + n * k;
    switch (rows) {
      case 1:
        dot_rows<1>(wn, x, k, k, out);
        break;
      case 2:
        dot_rows<2>(wn, x, k, k, out);
        break;
      case 3:
        dot_rows<3>(wn, x, k, k, out);
        break;
      default:
        dot_rows<4>(wn, x, k, k, out);
        break;
    }
    for (int64_t m = 0; m < rows; ++m) dots[m * (n1 - n0) + (n - n0)] = out[m];
  }
}

class Gemv : public Kernel {
 public:
  Gemv(int64_t rows, int64_t k, int64_t n, std::vector<float> w, float alpha,
       std::vector<float> bias, Activation act, std::string layout)
      : rows_(rows),
        k_(k),
        n_(n),
        w_(std::move(w)),
        alpha_(alpha),
        bias_(std::move(bias)),
        act_(act),
        layout_(std::move(layout)) {}

  void execute(KernelContext& ctx) override {
    const float* x = ctx.input(0).data<float>();
    float* y = ctx.output(0).data<float>();
    constexpr int64_t kPart = 64;  // outputs per task
    const int64_t parts = (n_ + kPart - 1) / kPart;
    const int threads = rows_ * k_ * n_ >= (int64_t{1} << 16) ? ctx.num_threads : 1;
    parallel_for(parts, threads, [&](int64_t p) {
      const int64_t n0 = p * kPart, n1 = std::min(n_, n0 + kPart);
      float dots[kMaxRows * kPart];
      gemv_range(w_.data(), x, rows_, k_, n0, n1, dots);
      for (int64_t m = 0; m < rows_; ++m)
        for (int64_t n = n0; n < n1; ++n) {
          float v = alpha_ * dots[m * (n1 - n0) + (n - n0)];
          if (!bias_.empty()) v += bias_[bias_.size() == 1 ? 0 : static_cast<size_t>(n)];
          y[m * n_ + n] = act_.kind == Act::none ? v : apply_act(act_, v);
        }
    });
  }
  bool reads_at_run_time(size_t input) const override { return input == 0; }
  std::string layout() const override { return layout_; }

 private:
  int64_t rows_, k_, n_;
  std::vector<float> w_;  // [N, K]
  float alpha_;
  std::vector<float> bias_;  // empty, 1 or N values (beta already applied)
  Activation act_;
  std::string layout_;
};

// With `probe` (the layout and precision passes asking whether it would run), stops before the
// weights are transposed and returns a placeholder.
std::unique_ptr<Kernel> build(const KernelQuery& q, std::string* why, bool probe) {
  const Node& n = *q.node;
  const bool gemm = n.op_type == "Gemm";
  const bool fused = n.op_type == "visionrt.FusedMatMul";
  if (q.any_blocked()) return *why = "plain layouts only", nullptr;
  if (q.input_types.size() < 2) return *why = "needs A and B", nullptr;
  for (size_t i = 0; i < q.input_types.size(); ++i)
    if (q.input_types[i].dtype != DType::undefined &&
        (q.input_types[i].dtype != DType::f32 || !q.input_types[i].fully_known()))
      return *why = "static f32 inputs only", nullptr;
  const TensorType& yt = q.output_types[0];
  if (yt.dtype != DType::f32 || !yt.fully_known()) return *why = "f32 output only", nullptr;
  const Tensor* b = q.input_constants[1];
  if (!b) return *why = "B is not constant", nullptr;
  const Shape& a = q.input_types[0].dims;
  Shape bd = b->shape();
  if (a.size() < 2 || bd.size() < 2) return *why = "1-D operands", nullptr;
  for (size_t i = 0; i + 2 < bd.size(); ++i)
    if (bd[i] != 1) return *why = "B has batch dimensions", nullptr;
  const int64_t b0 = bd[bd.size() - 2], b1 = bd.back();
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < a.size(); ++i) rows *= a[i];
  int64_t k = a.back();
  const bool ta = gemm && n.attr_i("transA", 0) != 0;
  const bool tb = gemm && n.attr_i("transB", 0) != 0;
  if (gemm && a.size() != 2) return *why = "Gemm's A is not 2-D", nullptr;
  if (ta) {
    if (a[1] != 1) return *why = "transA with more than one row", nullptr;
    rows = 1;
    k = a[0];
  }
  if (rows > kMaxRows) return *why = str_cat("more than ", kMaxRows, " rows (oneDNN's)"), nullptr;
  const int64_t kb = tb ? b1 : b0, nn = tb ? b0 : b1;
  if (kb != k) return *why = "A and B do not multiply", nullptr;
  int64_t y_numel = 1;
  for (int64_t d : yt.dims) y_numel *= d;
  if (yt.dims.empty() || yt.dims.back() != nn || y_numel != rows * nn)
    return *why = "output is not [.., N]", nullptr;
  float alpha = 1.0f;
  std::vector<float> bias;
  if (gemm) {
    alpha = n.attr_f("alpha", 1.0f);
    if (q.input_types.size() > 2 && q.input_types[2].dtype != DType::undefined) {
      const Tensor* c = q.input_constants[2];
      if (!c) return *why = "C is not constant", nullptr;
      const Shape& cd = c->shape();
      const bool per_n = c->numel() == static_cast<size_t>(nn) && !cd.empty() && cd.back() == nn &&
                         (cd.size() == 1 || (cd.size() == 2 && cd[0] == 1));
      if (!per_n && c->numel() != 1) return *why = "C is not [N], [1, N] or a scalar", nullptr;
      const float beta = n.attr_f("beta", 1.0f);
      bias.assign(c->data<float>(), c->data<float>() + c->numel());
      for (float& v : bias) v *= beta;
    }
  } else if (fused && q.input_types.size() > 2 && q.input_types[2].dtype != DType::undefined) {
    const Tensor* c = q.input_constants[2];
    if (!c || c->numel() != static_cast<size_t>(nn))
      return *why = "bias is not a constant [N]", nullptr;
    bias.assign(c->data<float>(), c->data<float>() + c->numel());
  }
  Activation act;
  if (fused && !fused_activation(n, &act)) return *why = "unknown activation", nullptr;
  if (probe) return std::make_unique<Gemv>(rows, k, nn, std::vector<float>(), alpha, bias, act, "");
  // Weights as N rows of K.
  std::vector<float> w(static_cast<size_t>(nn * k));
  const float* src = b->data<float>();
  if (tb)
    std::copy(src, src + nn * k, w.begin());
  else
    for (int64_t kk = 0; kk < k; ++kk)
      for (int64_t j = 0; j < nn; ++j) w[static_cast<size_t>(j * k + kk)] = src[kk * nn + j];
  std::string layout = str_cat("plain [", rows, ",", k, "]x[", k, ",", nn, "] rows of B",
                               act.kind != Act::none ? str_cat(" +", act_name(act.kind)) : "");
  return std::make_unique<Gemv>(rows, k, nn, std::move(w), alpha, std::move(bias), act,
                                std::move(layout));
}

}  // namespace

void register_cpu_gemv(KernelRegistry& r) {
  auto create = [](const KernelQuery& q, std::string* why) { return build(q, why, false); };
  auto probe = [](const KernelQuery& q) {
    std::string why;
    return build(q, &why, true) != nullptr;
  };
  for (const char* op : {"MatMul", "Gemm", "visionrt.FusedMatMul"})
    r.add(op, {"cpu", create, probe});
}

}  // namespace visionrt
