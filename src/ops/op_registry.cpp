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
    register_control_flow_ops(r);
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

OpDef& OpRegistry::add(OpDef def) {
  std::string name = def.name;
  return ops_[name] = std::move(def);
}

std::vector<std::string> OpRegistry::names() const {
  std::vector<std::string> n;
  for (auto& kv : ops_) n.push_back(kv.first);
  return n;
}

int required_inputs(const std::string& op) {
  const OpDef* d = OpRegistry::instance().find("", op);
  return d ? d->required_inputs : 1;
}

bool is_view_op(const std::string& op) {
  const OpDef* d = OpRegistry::instance().find("", op);
  return d && d->is_view;
}

bool moves_elements_only(const std::string& op) {
  const OpDef* d = OpRegistry::instance().find("", op);
  return d && d->moves_only;
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
