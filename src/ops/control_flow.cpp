// Control flow: If, Loop and Scan. Their bodies are subgraphs (Attribute::g) imported with the
// outer-scope values they read appended to the node's inputs (attribute visionrt_captures
// counts them; onnx/importer.cpp), so a node's explicit inputs are the first
// inputs.size() - captures. Output types come from the bodies' declared outputs merged with the
// inputs they start from; shapes that can change from one run to the next stay unknown and the
// kernels (kernels/ref/control_flow.cpp) produce them at run time.
#include "ops/control_flow.hpp"

#include "common/strings.hpp"
#include "ops/op_registry.hpp"

namespace visionrt {

const Graph& subgraph_attr(const Node& n, const std::string& name) {
  auto it = n.attrs.find(name);
  if (it == n.attrs.end() || it->second.kind != Attribute::Kind::g || !it->second.g)
    throw ModelError(str_cat("node ", n.label(), ": missing subgraph attribute '", name, "'"));
  return *it->second.g;
}

size_t explicit_inputs(const Node& n) {
  const int64_t caps = n.attr_i("visionrt_captures", 0);
  if (caps < 0 || static_cast<size_t>(caps) > n.inputs.size())
    throw ModelError(str_cat("node ", n.label(), ": bad capture count"));
  return n.inputs.size() - static_cast<size_t>(caps);
}

namespace {

// The type two sources agree on: dtype from either, dims where both know them and agree.
TensorType merge(const TensorType& a, const TensorType& b) {
  TensorType t;
  t.dtype = a.dtype != DType::undefined ? a.dtype : b.dtype;
  if (a.has_rank && b.has_rank && a.dims.size() == b.dims.size()) {
    t.has_rank = true;
    for (size_t i = 0; i < a.dims.size(); ++i)
      t.dims.push_back(a.dims[i] == b.dims[i] ? a.dims[i] : -1);
  }
  return t;
}

const TensorType& body_output(InferContext& c, const Graph& g, size_t i) {
  if (i >= g.outputs.size())
    c.fail(str_cat("the body has ", g.outputs.size(), " outputs, the node needs more"));
  return g.values[g.outputs[i]].type;
}

void infer_if(InferContext& c) {
  const Graph& t = subgraph_attr(c.node(), "then_branch");
  const Graph& e = subgraph_attr(c.node(), "else_branch");
  if (t.outputs.size() != c.num_outputs() || e.outputs.size() != c.num_outputs())
    c.fail(str_cat("then_branch has ", t.outputs.size(), " outputs and else_branch ",
                   e.outputs.size(), "; the node has ", c.num_outputs()));
  for (size_t i = 0; i < c.num_outputs(); ++i) {
    TensorType m = merge(body_output(c, t, i), body_output(c, e, i));
    if (m.dtype == DType::undefined) c.fail(str_cat("output ", i, " has no element type"));
    c.set_output(i, m);
  }
}

void infer_loop(InferContext& c) {
  const Graph& body = subgraph_attr(c.node(), "body");
  const size_t ex = explicit_inputs(c.node());
  if (ex < 2) c.fail("Loop needs the inputs M and cond (either may be empty)");
  const size_t n = ex - 2;  // loop-carried values
  if (body.outputs.size() < 1 + n || c.num_outputs() < n ||
      body.outputs.size() - 1 - n != c.num_outputs() - n)
    c.fail(str_cat("body outputs (", body.outputs.size(), ") must be cond, ", n,
                   " loop-carried values and one per scan output (node outputs ", c.num_outputs(),
                   ")"));
  for (size_t i = 0; i < n; ++i)
    c.set_output(i, merge(c.input_type(2 + i), body_output(c, body, 1 + i)));
  for (size_t k = n; k < c.num_outputs(); ++k) {
    const TensorType& b = body_output(c, body, 1 + k);
    if (b.has_rank) {
      Shape dims{-1};
      dims.insert(dims.end(), b.dims.begin(), b.dims.end());
      c.set_output(k, b.dtype, dims);
    } else {
      c.set_output_rank_unknown(k, b.dtype);
    }
  }
}

void infer_scan(InferContext& c) {
  const Graph& body = subgraph_attr(c.node(), "body");
  const size_t ex = explicit_inputs(c.node());
  const int64_t m = c.node().attr_i("num_scan_inputs", -1);
  const size_t lead = c.opset() < 9 ? 1 : 0;  // opset 8: sequence_lens first
  if (m < 1 || static_cast<size_t>(m) + lead > ex)
    c.fail("num_scan_inputs must be within 1..inputs");
  const size_t n = ex - lead - static_cast<size_t>(m);
  if (body.outputs.size() != c.num_outputs() || c.num_outputs() < n)
    c.fail(str_cat("body has ", body.outputs.size(), " outputs, the node ", c.num_outputs()));
  if (lead) {
    // Opset 8: states and scan inputs carry a batch axis; scan outputs are [batch, seq, ...].
    const TensorType& s0 = c.input_type(1 + n);
    const int64_t batch = s0.has_rank && !s0.dims.empty() ? s0.dims[0] : -1;
    const int64_t len = s0.has_rank && s0.dims.size() > 1 ? s0.dims[1] : -1;
    for (size_t i = 0; i < n; ++i) c.set_output(i, c.input_type(1 + i));
    for (size_t k = n; k < c.num_outputs(); ++k) {
      const TensorType& b = body_output(c, body, k);
      if (!b.has_rank) {
        c.set_output_rank_unknown(k, b.dtype);
        continue;
      }
      Shape dims{batch, len};
      dims.insert(dims.end(), b.dims.begin(), b.dims.end());
      c.set_output(k, b.dtype, dims);
    }
    return;
  }
  // The sequence length, when the first scan input's shape gives it.
  int64_t len = -1;
  const TensorType& s0 = c.input_type(n);
  std::vector<int64_t> in_axes = c.node().attr_is("scan_input_axes");
  if (s0.has_rank) {
    int64_t a = in_axes.empty() ? 0 : in_axes[0];
    a = c.axis(a, static_cast<int64_t>(s0.dims.size()));
    len = s0.dims[a];
  }
  for (size_t i = 0; i < n; ++i) c.set_output(i, merge(c.input_type(i), body_output(c, body, i)));
  std::vector<int64_t> out_axes = c.node().attr_is("scan_output_axes");
  for (size_t k = n; k < c.num_outputs(); ++k) {
    const TensorType& b = body_output(c, body, k);
    if (!b.has_rank) {
      c.set_output_rank_unknown(k, b.dtype);
      continue;
    }
    const size_t j = k - n;
    int64_t a = j < out_axes.size() ? out_axes[j] : 0;
    a = c.axis(a, static_cast<int64_t>(b.dims.size()) + 1);
    Shape dims = b.dims;
    dims.insert(dims.begin() + a, len);
    c.set_output(k, b.dtype, dims);
  }
}

}  // namespace

void register_control_flow_ops(OpRegistry& r) {
  // Outputs depend on which branch runs or how many iterations: never folded at compile time.
  r.add({"If", infer_if, {}, 1}).not_foldable();
  r.add({"Loop", infer_loop, {}, 1}).needs(0).not_foldable();
  r.add({"Scan", infer_scan, {}, 8}).needs(0).not_foldable();  // opset 8: sequence_lens optional
}

}  // namespace visionrt
