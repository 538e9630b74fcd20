// Quantization between the float and the int8 parts of a QDQ network, written once:
//   QuantizeLinear with a scalar scale and zero point, f32 -> u8/i8, plain -> plain, nhwc ->
//     nhwc, and plain 4-D -> nhwc (a network's image input: the oneDNN reorder that transposes
//     NCHW to NHWC with 3 channels walks the planes with a stride and took 0.8 ms of YOLOv8n's
//     36 at 640x640; here 64 pixels of every plane are quantized, then interleaved).
//   visionrt.QConcat(x1..xn, y_scale, y_zero_point): Concat then QuantizeLinear (fuse_qdq), each
//     f32 input quantized straight into its slice of the int8 output: YOLOv8's C2f concatenations
//     otherwise write an f32 tensor and read it back (5.4 of 36 ms with the QuantizeLinear).
// The arithmetic is QuantizeLinear's as the reference computes it: float(x) / float(scale)
// rounded half to even in f32, plus the zero point, saturated; results are bit-identical to
// the reference (kernels/ref/quant_linear.cpp).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/parallel.hpp"
#include "common/strings.hpp"
#include "kernels/cpu/vec_math.hpp"
#include "kernels/kernel.hpp"

namespace visionrt {
namespace {

// y = saturate(round_half_even(x / scale) + zp), stored as the byte of the u8 or i8 result. The
// quotient is clamped first to a range where adding and subtracting 1.5 * 2^23 rounds it half
// to even (the FPU's default mode) in plain arithmetic that vectorizes (std::nearbyint does
// not); saturation is unchanged by the clamp, and NaN ends up finite (the comparisons are false).
struct QParams {
  float scale, zp, lo, hi;
};

VISIONRT_VEC_INLINE uint8_t quantize_one(float x, const QParams& p) {
  const float magic = 12582912.0f;
  float v = x / p.scale;
  v = v > p.lo - p.zp - 1 ? v : p.lo - p.zp - 1;
  v = v < p.hi - p.zp + 1 ? v : p.hi - p.zp + 1;
  v = (v + magic) - magic + p.zp;
  v = v > p.lo ? v : p.lo;
  v = v < p.hi ? v : p.hi;
  return static_cast<uint8_t>(static_cast<int32_t>(v));
}

// `rows` rows of n values, x and y rows `xs` and `ys` elements apart.
VISIONRT_MULTIVERSION void quantize_rows(const float* x, int64_t xs, uint8_t* y, int64_t ys,
                                         int64_t rows, int64_t n, const QParams& p) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* __restrict xr = x + r * xs;
    uint8_t* __restrict yr = y + r * ys;
    for (int64_t i = 0; i < n; ++i) yr[i] = quantize_one(xr[i], p);
  }
}

// Rows of n bytes, contiguous in `src`, to rows `ys` apart in y: 16-byte copies of constant
// size (single moves) when n is a multiple of 16.
void scatter_rows(const uint8_t* src, int64_t n, uint8_t* y, int64_t ys, int64_t rows) {
  if (n % 16 == 0) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t b = 0; b < n; b += 16) std::memcpy(y + r * ys + b, src + r * n + b, 16);
    return;
  }
  for (int64_t r = 0; r < rows; ++r) std::memcpy(y + r * ys, src + r * n, static_cast<size_t>(n));
}

// NCHW planes (c of them, hw pixels each) -> NHWC pixels [p0, p0 + np): runs of 64 pixels of
// every plane quantized into `tmp` (c x 64 bytes), then interleaved.
VISIONRT_MULTIVERSION void quantize_to_nhwc(const float* x, int64_t c, int64_t hw, int64_t p0,
                                            int64_t np, uint8_t* y, const QParams& p,
                                            uint8_t* tmp) {
  constexpr int64_t kRun = 64;
  for (int64_t q = p0; q < p0 + np; q += kRun) {
    const int64_t m = std::min(kRun, p0 + np - q);
    for (int64_t k = 0; k < c; ++k) {
      const float* xk = x + k * hw + q;
      uint8_t* tk = tmp + k * kRun;
      for (int64_t i = 0; i < m; ++i) tk[i] = quantize_one(xk[i], p);
    }
    uint8_t* out = y + q * c;
    if (c == 3) {
      for (int64_t i = 0; i < m; ++i) {
        out[3 * i] = tmp[i];
        out[3 * i + 1] = tmp[kRun + i];
        out[3 * i + 2] = tmp[2 * kRun + i];
      }
    } else {
      for (int64_t i = 0; i < m; ++i)
        for (int64_t k = 0; k < c; ++k) out[i * c + k] = tmp[k * kRun + i];
    }
  }
}

bool is_int8(DType t) { return t == DType::u8 || t == DType::i8; }

// A constant scalar input as float; false when absent, not constant or not a scalar.
bool const_scalar(const KernelQuery& q, size_t i, float* v) {
  double d;
  if (!q.constant_scalar(i, &d)) return false;
  *v = static_cast<float>(d);
  return true;
}

// The concatenation as rows: `outer` rows of the output, each the inputs' rows side by side
// (input k's row of in_row[k] elements at out_off[k]). Plain layout: the rows are the
// dimensions before the axis; channels-last along the channels: the pixels.
struct Rows {
  int64_t outer = 1, out_row = 0;
  std::vector<int64_t> in_row, out_off;
};

// Quantizing concatenation (a QuantizeLinear is the one-input case) over `Rows`, or the
// transposing plain -> nhwc QuantizeLinear when `to_nhwc`.
class QuantizeConcat : public Kernel {
 public:
  QuantizeConcat(Rows rows, DType out, float scale, float zp, bool to_nhwc, int64_t c, int64_t hw,
                 std::string layout)
      : rows_(std::move(rows)),
        p_{scale, zp, out == DType::u8 ? 0.f : -128.f, out == DType::u8 ? 255.f : 127.f},
        to_nhwc_(to_nhwc),
        c_(c),
        hw_(hw),
        layout_(std::move(layout)) {}

  void execute(KernelContext& ctx) override {
    uint8_t* y = static_cast<uint8_t*>(ctx.output(0).raw());
    constexpr int64_t kTask = 1 << 15;  // elements per parallel task, about
    if (to_nhwc_) {
      const float* x = ctx.input(0).data<float>();
      const int64_t per_task = std::max<int64_t>(64, kTask / std::max<int64_t>(c_, 1) / 64 * 64);
      const int64_t tasks_per_image = (hw_ + per_task - 1) / per_task;
      const int64_t tasks = rows_.outer * tasks_per_image;
      parallel_for(tasks, tasks > 1 ? ctx.num_threads : 1, [&](int64_t t) {
        std::vector<uint8_t> tmp(static_cast<size_t>(c_ * 64));
        const int64_t n = t / tasks_per_image, p0 = (t % tasks_per_image) * per_task;
        quantize_to_nhwc(x + n * c_ * hw_, c_, hw_, p0, std::min(per_task, hw_ - p0),
                         y + n * c_ * hw_, p_, tmp.data());
      });
      return;
    }
    const size_t k_in = rows_.in_row.size();
    std::vector<const float*> x(k_in);
    for (size_t k = 0; k < k_in; ++k) x[k] = ctx.input(k).data<float>();
    if (rows_.out_row < kTask) {
      // Short rows (channels-last): blocks of rows, input by input. Each input's block is
      // contiguous: quantized as one long row into `tmp` (a loop per 16-channel row pays its
      // vector prologue and epilogue every time: YOLOv8n's 16-channel concatenation ran at a
      // third of the long-row speed), then its rows are copied to their places.
      const int64_t per_task = std::max<int64_t>(1, kTask / std::max<int64_t>(rows_.out_row, 1));
      const int64_t tasks = (rows_.outer + per_task - 1) / per_task;
      parallel_for(tasks, tasks > 1 ? ctx.num_threads : 1, [&](int64_t t) {
        const int64_t r0 = t * per_task, r1 = std::min(rows_.outer, r0 + per_task);
        std::vector<uint8_t> tmp(static_cast<size_t>((r1 - r0) * rows_.out_row));
        for (size_t k = 0; k < k_in; ++k) {
          const int64_t n = rows_.in_row[k];
          quantize_rows(x[k] + r0 * n, 0, tmp.data(), 0, 1, (r1 - r0) * n, p_);
          scatter_rows(tmp.data(), n, y + r0 * rows_.out_row + rows_.out_off[k], rows_.out_row,
                       r1 - r0);
        }
      });
      return;
    }
    // Long rows (plain layout, batch 1): pieces of kTask elements of every input's row.
    struct Piece {
      int64_t r;
      size_t k;
      int64_t begin, n;
    };
    std::vector<Piece> pieces;
    for (int64_t r = 0; r < rows_.outer; ++r)
      for (size_t k = 0; k < k_in; ++k)
        for (int64_t b = 0; b < rows_.in_row[k]; b += kTask)
          pieces.push_back({r, k, b, std::min(kTask, rows_.in_row[k] - b)});
    const int64_t np = static_cast<int64_t>(pieces.size());
    parallel_for(np, np > 1 ? ctx.num_threads : 1, [&](int64_t i) {
      const Piece& p = pieces[static_cast<size_t>(i)];
      quantize_rows(x[p.k] + p.r * rows_.in_row[p.k] + p.begin, 0,
                    y + p.r * rows_.out_row + rows_.out_off[p.k] + p.begin, 0, 1, p.n, p_);
    });
  }
  std::string layout() const override { return layout_; }
  // The scale and zero point were read at compile time.
  bool reads_at_run_time(size_t input) const override {
    return input < std::max<size_t>(1, rows_.in_row.size());
  }

 private:
  Rows rows_;
  QParams p_;
  bool to_nhwc_;
  int64_t c_, hw_;
  std::string layout_;
};

// Both ops: data inputs [0, n_data), then the scale and the optional zero point.
std::unique_ptr<Kernel> create(const KernelQuery& q, std::string* why) {
  const bool concat = q.node->op_type == "visionrt.QConcat";
  const size_t n_in = q.input_types.size();
  const size_t n_data = concat ? (n_in >= 2 ? n_in - 2 : 0) : 1;
  if (n_data == 0 || q.output_types.size() != 1) return *why = "no data inputs", nullptr;
  const TensorType& y = q.output_types[0];
  if (!y.fully_known() || !is_int8(y.dtype)) return *why = "output is not a static u8/i8", nullptr;
  const size_t rank = y.dims.size();
  for (size_t k = 0; k < n_data; ++k) {
    const TensorType& x = q.input_types[k];
    if (x.dtype != DType::f32 || !x.fully_known() || x.dims.size() != rank || rank == 0)
      return *why = "inputs are not static f32 tensors of the output's rank", nullptr;
  }
  float scale = 0, zp = 0;
  if (!const_scalar(q, n_data, &scale) || !(scale > 0) || !std::isfinite(scale))
    return *why = "scale is not a positive constant scalar", nullptr;
  const bool has_zp = n_data + 1 < n_in && q.input_types[n_data + 1].dtype != DType::undefined;
  if (has_zp && !const_scalar(q, n_data + 1, &zp))
    return *why = "zero point is not a constant scalar", nullptr;
  if (!has_zp && y.dtype != DType::u8) return *why = "output type without a zero point", nullptr;
  int64_t axis = concat ? q.node->attr_i("axis", 1) : 0;
  if (axis < 0) axis += static_cast<int64_t>(rank);
  if (axis < 0 || axis >= static_cast<int64_t>(rank)) return *why = "axis out of range", nullptr;
  const int in_l = q.input_layout(0), out_l = q.output_layout(0);
  for (size_t k = 0; k < n_data; ++k)
    if (q.input_layout(k) != in_l) return *why = "inputs in different layouts", nullptr;
  for (size_t k = n_data; k < n_in; ++k)
    if (q.input_layout(k) != 0) return *why = "blocked scale or zero point", nullptr;
  const bool nhwc_out = out_l == kLayoutNhwc;
  if ((in_l != 0 && in_l != kLayoutNhwc) || (out_l != 0 && !nhwc_out) || (in_l && !nhwc_out))
    return *why = "layouts other than plain, nhwc and plain -> nhwc", nullptr;
  if (nhwc_out && (rank != 4 || (concat && axis != 1)))
    return *why = "channels-last needs 4-D tensors concatenated along the channels", nullptr;
  const Shape& d = y.dims;
  if (shape_numel(d) == 0) return *why = "empty output", nullptr;
  Rows rows;
  const bool transposing = nhwc_out && in_l == 0;
  if (transposing && concat) return *why = "plain -> nhwc concatenation", nullptr;
  std::string what = str_cat(in_l ? "nhwc" : "plain", " f32 -> ", nhwc_out ? "nhwc " : "plain ",
                             dtype_name(y.dtype));
  if (transposing)
    return std::make_unique<QuantizeConcat>(Rows{d[0], 0, {}, {}}, y.dtype, scale, zp, true, d[1],
                                            d[2] * d[3], what + " (transposing)");
  if (!concat) {  // the same layout in and out: one row of every element
    const int64_t n = static_cast<int64_t>(shape_numel(d));
    return std::make_unique<QuantizeConcat>(Rows{1, n, {n}, {0}}, y.dtype, scale, zp, false, 0, 0,
                                            what);
  }
  // Rows: nhwc along channels: pixels x channels; plain: dims before the axis x the rest.
  int64_t inner = 1;
  if (nhwc_out) {
    rows.outer = d[0] * d[2] * d[3];
  } else {
    rows.outer = 1;
    for (int64_t i = 0; i < axis; ++i) rows.outer *= d[static_cast<size_t>(i)];
    for (size_t i = static_cast<size_t>(axis) + 1; i < rank; ++i) inner *= d[i];
  }
  for (size_t k = 0; k < n_data; ++k) {
    const Shape& xd = q.input_types[k].dims;
    for (size_t i = 0; i < rank; ++i)
      if (static_cast<int64_t>(i) != axis && xd[i] != d[i])
        return *why = "input dimensions differ from the output's off the axis", nullptr;
    rows.out_off.push_back(rows.out_row);
    rows.in_row.push_back(xd[static_cast<size_t>(axis)] * inner);
    rows.out_row += rows.in_row.back();
  }
  if (rows.out_row != d[static_cast<size_t>(axis)] * inner)
    return *why = "inputs do not add up to the output along the axis", nullptr;
  return std::make_unique<QuantizeConcat>(std::move(rows), y.dtype, scale, zp, false, 0, 0, what);
}

}  // namespace

void register_cpu_quantize(KernelRegistry& r) {
  r.add("QuantizeLinear", KernelCandidate::checked_by_create("cpu", create));
  r.add("visionrt.QConcat", KernelCandidate::checked_by_create("cpu", create));
}

}  // namespace visionrt
