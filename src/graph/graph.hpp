// The IR: a Graph owns Values (tensors flowing between nodes, with dtype/shape and an optional
// constant) and Nodes (op, domain, attributes, input/output value ids). Nodes are kept in
// topological order by the importer and every pass. Value id -1 marks an absent optional input.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "visionrt/tensor.hpp"

namespace visionrt {

struct Graph;

struct Attribute {
  enum class Kind { f, i, s, t, g, fs, is, ss, ts, gs };
  Kind kind = Kind::i;
  float f = 0;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::shared_ptr<Graph> g;
  std::vector<float> fs;
  std::vector<int64_t> is;
  std::vector<std::string> ss;
  std::vector<Tensor> ts;
};
const char* attribute_kind_name(Attribute::Kind k);
// Attribute constructors (builder, tests, passes).
Attribute attr_int(int64_t v);
Attribute attr_float(float v);
Attribute attr_string(const std::string& v);
Attribute attr_ints(std::vector<int64_t> v);
Attribute attr_floats(std::vector<float> v);
Attribute attr_tensor(Tensor t);

// Static type of a value: dtype plus shape; dims are -1 where unknown, has_rank false if even
// the rank is unknown.
struct TensorType {
  DType dtype = DType::undefined;
  bool has_rank = false;
  Shape dims;
  bool fully_known() const;
  std::string str() const;  // "f32[1,3,?,?]" or "f32[*]"
};

constexpr int kLayoutNhwc = 1;  // Value::layout_block of a channels-last 4-D tensor

// A layer with weights (any convolution, product or Gemm, float, fused or quantized): what ends
// a model's "first layers" (passes/fuse_qdq.cpp mark_first_layer_qconvs, onnx/qdq_writer.cpp).
inline bool is_weighted_op(const std::string& op_type) {
  return op_type.find("Conv") != std::string::npos || op_type.find("MatMul") != std::string::npos ||
         op_type.find("Gemm") != std::string::npos;
}

struct Value {
  std::string name;
  TensorType type;
  std::vector<std::string> dim_names;  // for graph inputs/outputs only
  std::optional<Tensor> constant;      // initializers and folded values
  int producer = -1;                   // node index, -1 for graph inputs and constants
  // Memory layout chosen by the layout pass: 0 plain row-major; 8 or 16 for oneDNN's blocked
  // nChw8c/nChw16c (channels padded up to a multiple of the block); kLayoutNhwc (1) for 4-D
  // channels-last, the layout of int8 tensors between quantized convolutions. Only kernels that
  // declare support for non-plain tensors ever see one; everything else gets a
  // visionrt.Reorder first.
  int layout_block = 0;
};

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;  // "" for the default ONNX domain
  std::vector<int> inputs;
  std::vector<int> outputs;
  std::map<std::string, Attribute> attrs;

  bool has_attr(const std::string& k) const { return attrs.count(k) != 0; }
  // Typed accessors; throw ModelError naming the node when the kind is wrong.
  int64_t attr_i(const std::string& k, int64_t def) const;
  float attr_f(const std::string& k, float def) const;
  std::string attr_s(const std::string& k, const std::string& def) const;
  std::vector<int64_t> attr_is(const std::string& k, const std::vector<int64_t>& def = {}) const;
  std::vector<float> attr_fs(const std::string& k, const std::vector<float>& def = {}) const;
  const Tensor* attr_t(const std::string& k) const;
  // "Conv 'node_name'" for messages.
  std::string label() const;
};

struct Graph {
  std::string path;  // file it came from, for messages
  std::vector<Value> values;
  std::vector<Node> nodes;
  std::vector<int> inputs;   // value ids of real graph inputs (initializers excluded)
  std::vector<int> outputs;  // value ids
  std::map<std::string, std::string> metadata;
  std::map<std::string, int64_t> opsets;  // domain -> version
  int64_t ir_version = 0;
  std::string producer;

  int64_t opset() const;  // default domain
  int add_value(const std::string& name);
  int find_value(const std::string& name) const;  // -1 if absent
  // Recomputes Value::producer from nodes.
  void relink();
  // Removes nodes whose outputs reach no graph output; drops unused values' constants.
  size_t eliminate_dead_nodes();
  // Graph output `*out` is now computed by value `replacement` (a conversion of it): the
  // replacement takes the output's name and dimension names, the old value is renamed with
  // `suffix`, and *out becomes `replacement`.
  void hand_over_output(int* out, int replacement, const std::string& suffix);
};

// Structural checks: each value produced once, inputs defined before use (topological order),
// ids in range, graph outputs defined. Throws ModelError naming the graph path and node.
void verify_graph(const Graph& g);

}  // namespace visionrt
