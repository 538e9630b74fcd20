// Shape and type inference for the misc family: window functions, DFT/STFT, MelWeightMatrix,
// Det, Unique, MaxUnpool, LpNormalization and the recurrent ops RNN/GRU/LSTM.
#include <algorithm>

#include "common/checked_math.hpp"
#include "common/strings.hpp"
#include "ops/op_registry.hpp"

namespace visionrt {

// ONNX TensorProto element type -> DType (the subset visionrt supports).
DType dtype_from_onnx_enum(int64_t t) {
  switch (t) {
    case 1:
      return DType::f32;
    case 2:
      return DType::u8;
    case 3:
      return DType::i8;
    case 4:
      return DType::u16;
    case 5:
      return DType::i16;
    case 6:
      return DType::i32;
    case 7:
      return DType::i64;
    case 9:
      return DType::boolean;
    case 10:
      return DType::f16;
    case 11:
      return DType::f64;
    case 12:
      return DType::u32;
    case 13:
      return DType::u64;
    case 16:
      return DType::bf16;
    default:
      return DType::undefined;
  }
}

namespace {

DType output_datatype(InferContext& c) {
  DType t = dtype_from_onnx_enum(c.node().attr_i("output_datatype", 1));
  if (t == DType::undefined) c.fail("unsupported output_datatype");
  return t;
}

void infer_window(InferContext& c) {
  DType t = output_datatype(c);
  const Tensor* size = c.input_value(0);
  if (!size) return c.set_output(0, t, {-1});
  if (size->numel() != 1) c.fail("size must be a scalar");
  int64_t n = size->at_i64(0);
  if (n < 0) c.fail(str_cat("window size ", n, " is negative"));
  c.set_output(0, t, {n});
}

void infer_dft(InferContext& c) {
  const TensorType& x = c.input_type(0);
  if (!x.has_rank) return c.set_output_rank_unknown(0, x.dtype);
  int64_t r = static_cast<int64_t>(x.dims.size());
  if (r < 2) c.fail("DFT input needs rank >= 2 (last dim is 1 for real, 2 for complex)");
  int64_t last = x.dims.back();
  if (last >= 0 && last != 1 && last != 2) c.fail("DFT input's last dimension must be 1 or 2");
  // Opset 20 moved the axis from an attribute (default 1) to input 2 (default -2).
  int64_t axis = c.node().attr_i("axis", 1);
  if (c.opset() >= 20) {
    axis = -2;
    if (c.has_input(2)) {
      const Tensor* a = c.input_value(2);
      if (!a) {
        Shape unknown(x.dims.size(), -1);
        unknown.back() = 2;
        return c.set_output(0, x.dtype, unknown);
      }
      axis = a->at_i64(0);
    }
  }
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= r - 1) c.fail(str_cat("axis ", axis, " out of range"));
  Shape out = x.dims;
  int64_t len = x.dims[axis];
  if (c.has_input(1)) {
    const Tensor* dl = c.input_value(1);
    len = dl ? dl->at_i64(0) : -1;
    if (dl && len <= 0) c.fail("dft_length must be positive");
  }
  bool onesided = c.node().attr_i("onesided", 0) != 0;
  out[axis] = len < 0 ? -1 : (onesided ? len / 2 + 1 : len);
  out.back() = 2;
  c.set_output(0, x.dtype, out);
}

void infer_stft(InferContext& c) {
  const TensorType& x = c.input_type(0);
  if (!x.has_rank) return c.set_output_rank_unknown(0, x.dtype);
  if (x.dims.size() != 3) c.fail("STFT signal must be [batch, length, 1 or 2]");
  int64_t frame_length = -1;
  if (c.has_input(3)) {
    const Tensor* fl = c.input_value(3);
    if (fl) frame_length = fl->at_i64(0);
  } else if (c.has_input(2) && c.input_type(2).has_rank && c.input_type(2).dims.size() == 1) {
    frame_length = c.input_type(2).dims[0];
  }
  const Tensor* step = c.input_value(1);
  int64_t frames = -1;
  if (step && frame_length > 0 && x.dims[1] >= 0) {
    int64_t s = step->at_i64(0);
    if (s <= 0) c.fail("frame_step must be positive");
    if (frame_length > x.dims[1]) c.fail("frame_length is longer than the signal");
    frames = (x.dims[1] - frame_length) / s + 1;
  }
  bool onesided = c.node().attr_i("onesided", 1) != 0;
  int64_t bins = frame_length < 0 ? -1 : (onesided ? frame_length / 2 + 1 : frame_length);
  c.set_output(0, x.dtype, {x.dims[0], frames, bins, 2});
}

void infer_mel(InferContext& c) {
  DType t = output_datatype(c);
  const Tensor* bins = c.input_value(0);
  const Tensor* dft = c.input_value(1);
  int64_t nb = bins ? bins->at_i64(0) : -1, dl = dft ? dft->at_i64(0) : -1;
  if ((bins && nb <= 0) || (dft && dl <= 0)) c.fail("num_mel_bins and dft_length must be positive");
  c.set_output(0, t, {dl < 0 ? -1 : dl / 2 + 1, nb});
}

void infer_det(InferContext& c) {
  const TensorType& x = c.input_type(0);
  if (!x.has_rank) return c.set_output_rank_unknown(0, x.dtype);
  if (x.dims.size() < 2) c.fail("Det needs rank >= 2");
  int64_t m = x.dims[x.dims.size() - 1], n = x.dims[x.dims.size() - 2];
  if (m >= 0 && n >= 0 && m != n) c.fail("Det needs square matrices");
  c.set_output(0, x.dtype, Shape(x.dims.begin(), x.dims.end() - 2));
}

void infer_unique(InferContext& c) {
  const TensorType& x = c.input_type(0);
  if (c.node().has_attr("axis") && x.has_rank) {
    Shape s = x.dims;
    int64_t a = c.axis(c.node().attr_i("axis", 0), static_cast<int64_t>(s.size()));
    s[a] = -1;
    c.set_output(0, x.dtype, s);
  } else {
    c.set_output(0, x.dtype, {-1});
  }
  for (size_t o = 1; o < 4; ++o) c.set_output(o, DType::i64, {-1});
}

void infer_maxunpool(InferContext& c) {
  const TensorType& x = c.input_type(0);
  if (c.has_input(2)) {
    const Tensor* os = c.input_value(2);
    if (!os) return c.set_output(0, x.dtype, Shape(x.has_rank ? x.dims.size() : 0, -1));
    c.set_output(0, x.dtype, os->to_i64_vector());
    return;
  }
  if (!x.has_rank) return c.set_output_rank_unknown(0, x.dtype);
  std::vector<int64_t> k = c.node().attr_is("kernel_shape");
  size_t nd = x.dims.size() < 2 ? 0 : x.dims.size() - 2;
  if (k.size() != nd) c.fail("kernel_shape must have one value per spatial dimension");
  std::vector<int64_t> st = c.node().attr_is("strides", std::vector<int64_t>(nd, 1));
  std::vector<int64_t> pads = c.node().attr_is("pads", std::vector<int64_t>(2 * nd, 0));
  if (st.size() != nd || pads.size() != 2 * nd) c.fail("strides/pads do not match kernel_shape");
  Shape out = x.dims;
  for (size_t i = 0; i < nd; ++i) {
    int64_t in = x.dims[2 + i];
    out[2 + i] =
        in < 0 ? -1
               : dim_add(dim_add(dim_add(dim_mul(in - 1, st[i]), k[i]), -pads[i]), -pads[i + nd]);
    if (in >= 0 && out[2 + i] <= 0) c.fail("MaxUnpool output size is not positive");
  }
  c.set_output(0, x.dtype, out);
}

// RNN/GRU/LSTM share the same output layout.
void infer_recurrent(InferContext& c) {
  const TensorType& x = c.input_type(0);
  const TensorType& w = c.input_type(1);
  int64_t hidden = c.node().attr_i("hidden_size", -1);
  std::string dir = c.node().attr_s("direction", "forward");
  if (dir != "forward" && dir != "reverse" && dir != "bidirectional")
    c.fail("direction must be forward, reverse or bidirectional");
  int64_t dirs = dir == "bidirectional" ? 2 : 1;
  if (w.has_rank && w.dims.size() == 3 && w.dims[0] >= 0 && w.dims[0] != dirs)
    c.fail("W's first dimension does not match the direction");
  int64_t layout = c.opset() >= 14 ? c.node().attr_i("layout", 0) : 0;
  int64_t seq = -1, batch = -1;
  if (x.has_rank) {
    if (x.dims.size() != 3) c.fail("X must be rank 3");
    seq = layout ? x.dims[1] : x.dims[0];
    batch = layout ? x.dims[0] : x.dims[1];
  }
  if (hidden <= 0) c.fail("hidden_size is required and must be positive");
  if (layout) {
    c.set_output(0, x.dtype, {batch, seq, dirs, hidden});
    c.set_output(1, x.dtype, {batch, dirs, hidden});
    c.set_output(2, x.dtype, {batch, dirs, hidden});
  } else {
    c.set_output(0, x.dtype, {seq, dirs, batch, hidden});
    c.set_output(1, x.dtype, {dirs, batch, hidden});
    c.set_output(2, x.dtype, {dirs, batch, hidden});
  }
}

void infer_tfidf(InferContext& c) {
  const TensorType& x = c.input_type(0);
  std::vector<int64_t> idx = c.node().attr_is("ngram_indexes");
  if (idx.empty()) c.fail("ngram_indexes is required");
  int64_t size = *std::max_element(idx.begin(), idx.end()) + 1;
  if (!c.node().attr_is("pool_int64s").size())
    c.fail("only pool_int64s is supported (strings are not)");
  if (!x.has_rank) return c.set_output_rank_unknown(0, DType::f32);
  if (x.dims.size() > 2) c.fail("input must be [C] or [N, C]");
  if (x.dims.size() == 2)
    c.set_output(0, DType::f32, {x.dims[0], size});
  else
    c.set_output(0, DType::f32, {size});
}

}  // namespace

void register_misc_ops(OpRegistry& r) {
  for (const char* w : {"HannWindow", "HammingWindow", "BlackmanWindow"})
    r.add({w, infer_window, {0}, 17});
  r.add({"DFT", infer_dft, {1, 2}, 17});
  r.add({"STFT", infer_stft, {1, 3}, 17}).needs(2);
  r.add({"MelWeightMatrix", infer_mel, {0, 1}, 17}).needs(5);
  r.add({"Det", infer_det, {}, 11});
  r.add({"Unique", infer_unique, {}, 11});
  r.add({"MaxUnpool", infer_maxunpool, {2}, 9}).needs(2);
  r.add({"LpNormalization", [](InferContext& c) { infer_same_as_input(c); }, {}, 1});
  for (const char* op : {"RNN", "GRU", "LSTM"}) r.add({op, infer_recurrent, {}, 7}).needs(3);
  r.add({"TfIdfVectorizer", infer_tfidf, {}, 9});
}

}  // namespace visionrt
