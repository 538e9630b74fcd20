// Whole-graph static shape inference: runs each op's pure inference function in node order.
#include "common/strings.hpp"
#include "ops/op_registry.hpp"
#include "passes/passes.hpp"

namespace visionrt {

// Declared types (value_info, graph outputs) only stand in where inference knows nothing at all
// (no rank). They never fill a dimension inference left unknown: such a dimension depends on a
// dynamic input or on data, and a declared value cannot be checked before it misleads a kernel
// planned for it (a graph output declared [0,3,30,30] fed by an input [?,3,28,28] became a static
// MaxPool writing a batch of 1 into an empty output).
static TensorType merge(const TensorType& inferred, const TensorType& declared) {
  if (inferred.has_rank) return inferred;
  TensorType t = declared;
  for (int64_t& d : t.dims) d = -1;
  if (inferred.dtype != DType::undefined) t.dtype = inferred.dtype;
  return t;
}

// A static value that cannot be allocated fails here, before kernel selection: oneDNN's
// primitive creation for a convolution 50 million pixels wide allocated without bound.
static void check_size(const Graph& g, const Node& n, const Value& v) {
  if (!v.type.fully_known() || v.type.dtype == DType::undefined) return;
  const std::string what = str_cat("output '", v.name, "' ", shape_str(v.type.dims));
  try {
    // shape_numel refuses counts whose bytes could overflow.
    check_allocation(shape_numel(v.type.dims) * dtype_size(v.type.dtype), what);
  } catch (const InputError& e) {
    throw ModelError(str_cat(g.path, ": node ", n.label(), ": ", e.what()));
  }
}

void infer_node(Graph& g, const Node& n) {
  const int64_t opset = g.opset();
  {
    const OpDef* def = OpRegistry::instance().find(n.domain, n.op_type);
    if (!def || opset < min_supported_opset(*def)) return;  // reported as unsupported
    try {
      check_arity(n);
    } catch (const ModelError& e) {
      throw ModelError(str_cat(g.path, ": ", e.what()));
    }
    std::vector<TensorType> types;
    std::vector<const Tensor*> values;
    for (int i : n.inputs) {
      types.push_back(i >= 0 ? g.values[i].type : TensorType{});
      values.push_back(i >= 0 && g.values[i].constant ? &*g.values[i].constant : nullptr);
    }
    // Inputs whose dtype is unknown (unsupported producer) make inference meaningless here.
    bool known = true;
    for (size_t k = 0; k < n.inputs.size(); ++k)
      if (n.inputs[k] >= 0 && types[k].dtype == DType::undefined) known = false;
    if (!known) return;
    InferContext ctx(n, opset, std::move(types), std::move(values));
    try {
      def->infer(ctx);
    } catch (const ModelError& e) {
      std::string msg = e.what();
      if (msg.rfind("node ", 0) != 0) msg = str_cat("node ", n.label(), ": ", msg);
      throw ModelError(str_cat(g.path, ": ", msg));
    }
    for (size_t o = 0; o < n.outputs.size(); ++o) {
      if (n.outputs[o] < 0) continue;
      Value& v = g.values[n.outputs[o]];
      v.type = merge(ctx.output_types()[o], v.type);
      check_size(g, n, v);
    }
  }
}

void infer_shapes(Graph& g) {
  for (const Node& n : g.nodes) infer_node(g, n);
}

}  // namespace visionrt
