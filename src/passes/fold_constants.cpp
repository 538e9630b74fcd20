// Constant folding through the reference kernels: any node whose inputs are all constant is run
// once at compile time and replaced by its outputs (this also resolves Shape->Gather->Reshape
// chains once shapes are static).
#include <algorithm>

#include "common/checked_math.hpp"
#include "common/strings.hpp"
#include "kernels/node_runner.hpp"
#include "ops/op_registry.hpp"
#include "ops/tensor_shapes.hpp"
#include "passes/passes.hpp"

namespace visionrt {

size_t fold_constants(Graph& g, size_t max_bytes, bool keep_weight_dq) {
  const int64_t opset = g.opset();
  std::vector<bool> conv_param(g.values.size(), false);
  if (keep_weight_dq)
    for (const Node& n : g.nodes)
      if (n.op_type == "Conv" || n.op_type == "visionrt.FusedConv" ||
          n.op_type == "ConvTranspose")  // deconv_as_conv's, then fuse_qdq's
        for (size_t k = 1; k < 3 && k < n.inputs.size(); ++k)
          if (n.inputs[k] >= 0) conv_param[n.inputs[k]] = true;
  size_t folded = 0;
  std::vector<Node> kept;
  for (Node& n : g.nodes) {
    infer_node(g, n);  // inputs folded earlier in this sweep may make the shapes static
    bool all_const = !n.inputs.empty() || n.op_type == "ConstantOfShape" || n.op_type == "Range";
    // Shape/Size only need the input's static shape, not its value.
    bool shape_only = (n.op_type == "Shape" || n.op_type == "Size") && n.inputs.size() == 1 &&
                      n.inputs[0] >= 0 && g.values[n.inputs[0]].type.fully_known();
    std::vector<const Tensor*> ins;
    for (int i : n.inputs) {
      if (i < 0) {
        ins.push_back(nullptr);
        continue;
      }
      if (!g.values[i].constant) all_const = false;
      ins.push_back(g.values[i].constant ? &*g.values[i].constant : nullptr);
    }
    bool domain_ok = n.domain.empty();
    if (keep_weight_dq && n.op_type == "DequantizeLinear" && n.outputs.size() == 1 &&
        n.outputs[0] >= 0 && conv_param[n.outputs[0]])
      all_const = false;  // fuse_qdq's

    bool folded_this = false;
    if (domain_ok && shape_only && !all_const) {
      const TensorType& t = g.values[n.inputs[0]].type;
      int64_t r = static_cast<int64_t>(t.dims.size());
      Tensor out;
      if (n.op_type == "Size") {
        int64_t s = 1;
        for (int64_t d : t.dims) s *= d;
        out = Tensor::scalar<int64_t>(s);
      } else {
        int64_t start, end;
        shape_range(n, opset, r, &start, &end);
        std::vector<int64_t> dims(t.dims.begin() + start, t.dims.begin() + end);
        out = Tensor::from_vector<int64_t>({static_cast<int64_t>(dims.size())}, dims);
      }
      if (n.outputs[0] >= 0) {
        Value& v = g.values[n.outputs[0]];
        v.type = {DType::i64, true, out.shape()};
        v.constant = std::move(out);
      }
      folded_this = true;
    } else if (const OpDef* def =
                   domain_ok && all_const ? OpRegistry::instance().find("", n.op_type) : nullptr;
               def && def->foldable) {
      bool small = true;
      for (int o : n.outputs) {
        if (o < 0) continue;
        const TensorType& t = g.values[o].type;
        if (t.fully_known()) {
          int64_t elems = 1;
          for (int64_t d : t.dims) elems = dim_mul(elems, d);
          if (static_cast<size_t>(elems) * dtype_size(t.dtype) > max_bytes) small = false;
        }
      }
      if (small) {
        std::vector<Tensor> outs;
        try {
          outs = run_node_ref(n, opset, ins);
        } catch (const InputError& e) {
          // Bad constant data is a model error found at compile time.
          throw ModelError(str_cat(g.path, ": ", e.what()));
        }
        for (size_t o = 0; o < n.outputs.size(); ++o) {
          if (n.outputs[o] < 0) continue;
          Value& v = g.values[n.outputs[o]];
          v.type = {outs[o].dtype(), true, outs[o].shape()};
          v.constant = std::move(outs[o]);
        }
        folded_this = true;
      }
    }
    if (folded_this)
      ++folded;
    else
      kept.push_back(std::move(n));
  }
  g.nodes = std::move(kept);
  g.relink();
  return folded;
}

void run_default_passes(Graph& g) {
  // Folding needs static shapes (Shape nodes) and shapes need folded values (Reshape targets):
  // alternate until nothing changes.
  convert_fp16_to_fp32(g);
  infer_shapes(g);
  // Each round that folds removes nodes, so this ends; folding infers each node's shapes as it
  // reaches it, so chains of shape computations (Swin's window partition and shift masks, stage
  // after stage: ~30 rounds otherwise) fold in one or two.
  for (;;) {
    size_t n = fold_constants(g);
    g.eliminate_dead_nodes();
    infer_shapes(g);
    if (n == 0) break;
  }
#ifndef NDEBUG
  verify_graph(g);
#endif
}

}  // namespace visionrt
