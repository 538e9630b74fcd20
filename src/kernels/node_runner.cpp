// Single-node execution shared by the executor, constant folding and op tests.
#include "kernels/node_runner.hpp"

#include "common/strings.hpp"
#include "ops/op_registry.hpp"

namespace visionrt {

static TensorType type_of(const Tensor& t) {
  TensorType tt;
  tt.dtype = t.dtype();
  tt.has_rank = true;
  tt.dims = t.shape();
  return tt;
}

std::vector<TensorType> infer_node_types(const Node& node, int64_t opset,
                                         const std::vector<const Tensor*>& inputs) {
  const OpDef* def = OpRegistry::instance().find(node.domain, node.op_type);
  if (!def) throw ModelError(str_cat("node ", node.label(), ": unsupported op"));
  check_arity(node);
  std::vector<TensorType> types;
  for (const Tensor* t : inputs) types.push_back(t ? type_of(*t) : TensorType{});
  InferContext ctx(node, opset, std::move(types), inputs);
  try {
    def->infer(ctx);
  } catch (const ModelError& e) {
    std::string msg = e.what();
    if (msg.rfind("node ", 0) == 0) throw;
    throw ModelError(str_cat("node ", node.label(), ": ", msg));
  }
  return ctx.output_types();
}

KernelQuery query_for(const Graph& g, const Node& n) {
  KernelQuery q;
  q.node = &n;
  q.opset = g.opset();
  for (int i : n.inputs) {
    q.input_types.push_back(i >= 0 ? g.values[i].type : TensorType{});
    q.input_constants.push_back(i >= 0 && g.values[i].constant ? &*g.values[i].constant : nullptr);
    q.input_layouts.push_back(i >= 0 ? g.values[i].layout_block : 0);
  }
  for (int o : n.outputs) {
    q.output_types.push_back(o >= 0 ? g.values[o].type : TensorType{});
    q.output_layouts.push_back(o >= 0 ? g.values[o].layout_block : 0);
  }
  return q;
}

std::unique_ptr<Kernel> select_kernel(const KernelQuery& q, const std::string& only,
                                      std::string* chosen, std::string* why) {
  const auto* cands = KernelRegistry::instance().find(q.node->op_type);
  if (!cands || cands->empty()) {
    if (why) *why = "no kernel implements this op";
    return nullptr;
  }
  std::string reasons;
  for (const auto& c : *cands) {
    if (!only.empty() && c.name != only) continue;
    std::string reason;
    auto k = c.create(q, &reason);
    if (k) {
      if (chosen) *chosen = c.name;
      if (why) *why = reasons;
      return k;
    }
    reasons +=
        str_cat(reasons.empty() ? "" : "; ", c.name, ": ", reason.empty() ? "declined" : reason);
  }
  if (why) *why = reasons;
  return nullptr;
}

std::vector<Tensor> execute_node(Kernel& kernel, const Node& node, int64_t opset,
                                 const std::vector<const Tensor*>& inputs, int num_threads) {
  std::vector<TensorType> types = infer_node_types(node, opset, inputs);
  std::vector<Tensor> outs(node.outputs.size());
  for (size_t i = 0; i < outs.size() && i < types.size(); ++i)
    if (types[i].fully_known()) outs[i] = Tensor(types[i].dtype, types[i].dims);
  KernelContext ctx;
  ctx.node = &node;
  ctx.opset = opset;
  ctx.inputs = inputs;
  ctx.outputs = &outs;
  ctx.num_threads = num_threads;
  // Dynamic steps have no planned memory: the kernel's scratch is allocated here.
  OwnedScratch scratch(kernel.scratch_bytes());
  ctx.scratch = scratch.get();
  kernel.execute(ctx);
  for (size_t i = 0; i < outs.size(); ++i) {
    if (node.outputs[i] < 0) continue;
    if (outs[i].empty())
      throw InputError(str_cat("node ", node.label(), ": kernel produced no output ", i));
  }
  return outs;
}

std::vector<Tensor> run_node_ref(const Node& node, int64_t opset,
                                 const std::vector<const Tensor*>& inputs) {
  KernelQuery q;
  q.node = &node;
  q.opset = opset;
  for (const Tensor* t : inputs) {
    q.input_types.push_back(t ? type_of(*t) : TensorType{});
    q.input_constants.push_back(t);
  }
  q.output_types = infer_node_types(node, opset, inputs);
  std::string why;
  auto k = select_kernel(q, "ref", nullptr, &why);
  if (!k) throw ModelError(str_cat("node ", node.label(), ": no reference kernel: ", why));
  return execute_node(*k, node, opset, inputs);
}

Node make_node(const std::string& op, size_t n_inputs, size_t n_outputs,
               std::map<std::string, Attribute> attrs) {
  Node n;
  n.name = op + "_test";
  n.op_type = op;
  for (size_t i = 0; i < n_inputs; ++i) n.inputs.push_back(static_cast<int>(i));
  for (size_t i = 0; i < n_outputs; ++i) n.outputs.push_back(static_cast<int>(n_inputs + i));
  n.attrs = std::move(attrs);
  return n;
}

}  // namespace visionrt
