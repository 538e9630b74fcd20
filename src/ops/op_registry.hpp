// Op definitions: per op, a pure type/shape inference function and the list of inputs whose
// *values* decide output shapes (Reshape's shape, Slice's starts, ...). Inference runs at load
// time on partial types, and again at run time on concrete tensors. Kernels live elsewhere.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "graph/graph.hpp"

namespace visionrt {

class InferContext {
 public:
  InferContext(const Node& node, int64_t opset, std::vector<TensorType> in_types,
               std::vector<const Tensor*> in_values)
      : node_(node),
        opset_(opset),
        in_types_(std::move(in_types)),
        in_values_(std::move(in_values)),
        out_types_(node.outputs.size()) {}

  const Node& node() const { return node_; }
  int64_t opset() const { return opset_; }
  size_t num_inputs() const { return in_types_.size(); }
  size_t num_outputs() const { return out_types_.size(); }
  // Optional inputs that are absent (empty name) or beyond the given count.
  bool has_input(size_t i) const {
    return i < in_types_.size() && in_types_[i].dtype != DType::undefined;
  }
  const TensorType& input_type(size_t i) const;
  DType input_dtype(size_t i) const { return input_type(i).dtype; }
  // Value of input i if known (constant at load time, always at run time), else nullptr.
  const Tensor* input_value(size_t i) const {
    return i < in_values_.size() ? in_values_[i] : nullptr;
  }
  bool has_output(size_t i) const { return i < out_types_.size(); }
  void set_output(size_t i, DType dtype, const Shape& dims);
  void set_output_rank_unknown(size_t i, DType dtype);
  void set_output(size_t i, const TensorType& t);
  const std::vector<TensorType>& output_types() const { return out_types_; }
  // Throws ModelError "<file>: node <label>: <msg>".
  [[noreturn]] void fail(const std::string& msg) const;
  // Normalizes a possibly negative axis against rank r, failing if out of range.
  int64_t axis(int64_t a, int64_t r) const;

 private:
  const Node& node_;
  int64_t opset_;
  std::vector<TensorType> in_types_;
  std::vector<const Tensor*> in_values_;
  std::vector<TensorType> out_types_;
};

// Everything the graph layers know about an op, in one registration (src/ops/<family>.cpp):
//   r.add({"Reshape", infer_reshape, {1}, 5}).needs(2).view();
// Kernels are registered separately (src/kernels), activation formulas in kernels/activation.hpp.
struct OpDef {
  std::string name;
  std::function<void(InferContext&)> infer;
  std::vector<int> value_inputs;  // inputs whose values decide the output shape
  int64_t min_opset = 1;          // earliest opset whose semantics we implement
  int required_inputs = 1;        // the spec's non-optional inputs (lowest over supported opsets)
  bool is_view = false;     // output = input 0's bytes under another shape (Reshape, Identity...)
  bool foldable = true;     // constant inputs give a constant output (not Random*)
  bool moves_only = false;  // only moves elements: element-wise activations commute with it

  OpDef& needs(int inputs) { return required_inputs = inputs, *this; }
  OpDef& view() { return is_view = moves_only = true, *this; }
  OpDef& moves_elements() { return moves_only = true, *this; }
  OpDef& not_foldable() { return foldable = false, *this; }
};

class OpRegistry {
 public:
  static const OpRegistry& instance();
  const OpDef* find(const std::string& domain, const std::string& op) const;
  // Adds (or replaces) a definition; returns it for the fluent setters.
  OpDef& add(OpDef def);
  std::vector<std::string> names() const;

 private:
  std::map<std::string, OpDef> ops_;
};

// Facts of an op of the default domain by name (false / 1 for ops not registered).
int required_inputs(const std::string& op);
bool is_view_op(const std::string& op);
bool moves_elements_only(const std::string& op);
// Earliest opset whose semantics visionrt implements (older versions had different attributes
// or broadcasting rules and are not upgraded at load).
inline int64_t min_supported_opset(const OpDef& def) { return def.min_opset; }

// Throws ModelError unless the node has its required inputs (present, not empty names) and at
// least one non-empty output. Runs before any op's inference or kernel sees the node.
void check_arity(const Node& n);

// One registration function per op family (defined in src/ops/<family>.cpp); the single list
// that calls them all is in op_registry.cpp.
void register_misc_ops(OpRegistry& r);
void register_quant_linear_ops(OpRegistry& r);
void register_elementwise_basic_ops(OpRegistry& r);
void register_tensor_basic_ops(OpRegistry& r);
void register_nn_basic_ops(OpRegistry& r);
void register_reduce_basic_ops(OpRegistry& r);
void register_detection_basic_ops(OpRegistry& r);
void register_einsum_op(OpRegistry& r);
void register_control_flow_ops(OpRegistry& r);  // If, Loop, Scan (ops/control_flow.cpp)
void register_internal_ops(OpRegistry& r);  // visionrt.* ops made by passes (ops/internal.cpp)

// Ops whose type starts with this prefix are internal to visionrt (created by passes only).
inline bool is_internal_op(const std::string& op) { return op.rfind("visionrt.", 0) == 0; }

// Shared helpers for inference functions.
// Numpy-style multidirectional broadcast; fails on mismatch. Unknown dims stay unknown.
bool broadcast_shapes(const Shape& a, const Shape& b, Shape* out);
// Output type = input i's type (dtype and shape).
void infer_same_as_input(InferContext& c, size_t i = 0);
// Spatial output size of conv/pool windows (floor or ceil mode).
int64_t conv_out_dim(int64_t in, int64_t k, int64_t stride, int64_t pad_begin, int64_t pad_end,
                     int64_t dilation, bool ceil_mode = false);
// Resolve auto_pad (NOTSET/VALID/SAME_UPPER/SAME_LOWER) into explicit begin/end pads.
void resolve_pads(const Node& n, const Shape& in_spatial, const std::vector<int64_t>& kernel,
                  const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations,
                  std::vector<int64_t>* pads_begin, std::vector<int64_t>* pads_end);

}  // namespace visionrt
