// The single registration point for op definitions, plus the inference helpers ops share.
#include "ops/op_registry.hpp"

#include <algorithm>

#include "common/checked_math.hpp"
#include "common/strings.hpp"

namespace visionrt {

const TensorType& InferContext::input_type(size_t i) const {
  static const TensorType kAbsent;
  return i < in_types_.size() ? in_types_[i] : kAbsent;
}

void InferContext::set_output(size_t i, DType dtype, const Shape& dims) {
  if (i >= out_types_.size()) return;  // optional output not requested
  out_types_[i].dtype = dtype;
  out_types_[i].has_rank = true;
  out_types_[i].dims = dims;
}

void InferContext::set_output_rank_unknown(size_t i, DType dtype) {
  if (i >= out_types_.size()) return;
  out_types_[i].dtype = dtype;
  out_types_[i].has_rank = false;
  out_types_[i].dims.clear();
}

void InferContext::set_output(size_t i, const TensorType& t) {
  if (i >= out_types_.size()) return;
  out_types_[i] = t;
}

void InferContext::fail(const std::string& msg) const {
  throw ModelError(str_cat("node ", node_.label(), ": ", msg));
}

int64_t InferContext::axis(int64_t a, int64_t r) const {
  if (a < -r || a >= r) fail(str_cat("axis ", a, " is out of range for rank ", r));
  return a < 0 ? a + r : a;
}

const OpRegistry& OpRegistry::instance() {
  static const OpRegistry reg = [] {
    OpRegistry r;
    register_elementwise_basic_ops(r);
    register_tensor_basic_ops(r);
    register_nn_basic_ops(r);
    register_reduce_basic_ops(r);
    register_detection_basic_ops(r);
    register_misc_ops(r);
    register_quant_linear_ops(r);
    register_einsum_op(r);
    register_internal_ops(r);
    return r;
  }();
  return reg;
}

const OpDef* OpRegistry::find(const std::string& domain, const std::string& op) const {
  if (!domain.empty() && domain != "ai.onnx") return nullptr;
  auto it = ops_.find(op);
  return it == ops_.end() ? nullptr : &it->second;
}

void OpRegistry::add(OpDef def) {
  std::string name = def.name;
  ops_[name] = std::move(def);
}

std::vector<std::string> OpRegistry::names() const {
  std::vector<std::string> n;
  for (auto& kv : ops_) n.push_back(kv.first);
  return n;
}

int required_inputs(const std::string& op) {
  static const std::map<std::string, int> kRequired = {
      // binary and ternary elementwise
      {"Add", 2},
      {"Sub", 2},
      {"Mul", 2},
      {"Div", 2},
      {"Pow", 2},
      {"Mod", 2},
      {"BitShift", 2},
      {"Equal", 2},
      {"Less", 2},
      {"LessOrEqual", 2},
      {"Greater", 2},
      {"GreaterOrEqual", 2},
      {"And", 2},
      {"Or", 2},
      {"Xor", 2},
      {"PRelu", 2},
      {"Where", 3},
      {"CastLike", 2},
      // data movement
      {"Reshape", 2},
      {"Gather", 2},
      {"GatherElements", 2},
      {"GatherND", 2},
      {"ScatterND", 3},
      {"ScatterElements", 3},
      {"Scatter", 3},
      {"Expand", 2},
      {"Tile", 2},
      {"Range", 3},
      {"OneHot", 3},
      {"CumSum", 2},
      {"Compress", 2},
      {"ReverseSequence", 2},
      {"Constant", 0},
      // nn
      {"Conv", 2},
      {"visionrt.FusedConv", 2},
      {"ConvTranspose", 2},
      {"ConvInteger", 2},
      {"BatchNormalization", 5},
      {"InstanceNormalization", 3},
      {"LayerNormalization", 2},
      {"MatMul", 2},
      {"MatMulInteger", 2},
      {"Gemm", 2},
      {"QuantizeLinear", 2},
      {"DequantizeLinear", 2},
      // detection, resampling, losses
      {"NonMaxSuppression", 2},
      {"RoiAlign", 3},
      {"GridSample", 2},
      {"SoftmaxCrossEntropyLoss", 2},
      {"NegativeLogLikelihoodLoss", 2},
      // misc
      {"QLinearConv", 8},
      {"QLinearMatMul", 8},
      {"STFT", 2},
      {"MelWeightMatrix", 5},
      {"MaxUnpool", 2},
      {"RNN", 3},
      {"GRU", 3},
      {"LSTM", 3},
  };
  auto it = kRequired.find(op);
  return it == kRequired.end() ? 1 : it->second;
}

int64_t min_supported_opset(const OpDef& def) {
  // Ops whose older versions differ from what we implement and are not upgraded at load:
  // Split/Pad/Tile/Cast/Reshape/Concat with old signatures, Upsample's old attributes.
  static const std::map<std::string, int64_t> kMin = {
      // Binary ops, Gemm, PRelu and BatchNormalization before 7 are rewritten at load by
      // passes/upgrade_legacy.cpp; BatchNormalization-1 had consumed_inputs semantics.
      {"BatchNormalization", 6},
      {"Upsample", 7},
      {"Split", 2},
      {"Pad", 2},
      {"Tile", 6},
      {"Cast", 6},
      {"Reshape", 5},
      {"Concat", 4},
      {"Clip", 6},
  };
  auto it = kMin.find(def.name);
  return std::max(def.min_opset, it == kMin.end() ? int64_t{1} : it->second);
}

void check_arity(const Node& n) {
  int need = required_inputs(n.op_type);
  if (static_cast<int>(n.inputs.size()) < need)
    throw ModelError(
        str_cat("node ", n.label(), ": needs at least ", need, " inputs, has ", n.inputs.size()));
  for (int i = 0; i < need; ++i)
    if (n.inputs[i] < 0)
      throw ModelError(str_cat("node ", n.label(), ": required input ", i, " is empty"));
  bool any_output = false;
  for (int o : n.outputs) any_output |= o >= 0;
  if (!any_output) throw ModelError(str_cat("node ", n.label(), ": has no output"));
}

bool broadcast_shapes(const Shape& a, const Shape& b, Shape* out) {
  size_t r = std::max(a.size(), b.size());
  Shape o(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da == db)
      o[i] = da;
    else if (da == 1)
      o[i] = db;
    else if (db == 1)
      o[i] = da;
    else if (da < 0 || db < 0)
      o[i] = std::max(da, db) > 1 ? std::max(da, db) : -1;
    else
      return false;
  }
  *out = std::move(o);
  return true;
}

void infer_same_as_input(InferContext& c, size_t i) {
  for (size_t o = 0; o < c.num_outputs(); ++o) c.set_output(o, c.input_type(i));
}

int64_t conv_out_dim(int64_t in, int64_t k, int64_t stride, int64_t pad_begin, int64_t pad_end,
                     int64_t dilation, bool ceil_mode) {
  if (in < 0) return -1;
  int64_t eff = dim_add(dim_mul(dilation, dim_add(k, -1)), 1);
  int64_t span = dim_add(dim_add(dim_add(in, pad_begin), pad_end), -eff);
  if (span < 0) return 0;
  int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  // ceil mode: the last window must start inside the input or left padding.
  if (ceil_mode && (out - 1) * stride >= in + pad_begin) --out;
  return out;
}

void resolve_pads(const Node& n, const Shape& in_spatial, const std::vector<int64_t>& kernel,
                  const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations,
                  std::vector<int64_t>* pads_begin, std::vector<int64_t>* pads_end) {
  size_t nd = in_spatial.size();
  pads_begin->assign(nd, 0);
  pads_end->assign(nd, 0);
  std::string auto_pad = n.attr_s("auto_pad", "NOTSET");
  if (auto_pad == "NOTSET") {
    std::vector<int64_t> pads = n.attr_is("pads");
    if (pads.empty()) return;
    if (pads.size() != 2 * nd)
      throw ModelError(
          str_cat("node ", n.label(), ": pads has ", pads.size(), " values, expected ", 2 * nd));
    for (size_t i = 0; i < nd; ++i) {
      (*pads_begin)[i] = pads[i];
      (*pads_end)[i] = pads[i + nd];
    }
    return;
  }
  if (auto_pad == "VALID") return;
  if (auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER")
    throw ModelError(str_cat("node ", n.label(), ": unknown auto_pad '", auto_pad, "'"));
  for (size_t i = 0; i < nd; ++i) {
    if (in_spatial[i] < 0) continue;
    int64_t out = dim_add(in_spatial[i], strides[i] - 1) / strides[i];
    int64_t eff = dim_add(dim_mul(dilations[i], dim_add(kernel[i], -1)), 1);
    int64_t total =
        std::max<int64_t>(0, dim_add(dim_add(dim_mul(out - 1, strides[i]), eff), -in_spatial[i]));
    int64_t small = total / 2, big = total - small;
    (*pads_begin)[i] = auto_pad == "SAME_UPPER" ? small : big;
    (*pads_end)[i] = auto_pad == "SAME_UPPER" ? big : small;
  }
}

}  // namespace visionrt
