// QDQ fusion: the QuantizeLinear/DequantizeLinear pairs of a QDQ model (ORT's quantize_static,
// NNCF, TensorRT-style exports, `visionrt quantize`) say which convolutions run in INT8. The
// pattern, after the activation fusion:
//
//   Conv / FusedConv(+act)( DequantizeLinear(xq, sx, zx),
//                           DequantizeLinear(wq, sw, 0),
//                           [bias: f32 constant, or DequantizeLinear(int32, sx*sw)] )
//     -> [QuantizeLinear(sy, zy) -> yq]
//
// becomes one visionrt.QConv(xq, sx, zx, wq, sw, zw, [sy, zy], [B]) computing in int8 with int32
// accumulation (kernels/dnnl/quant.cpp) and writing int8 when a QuantizeLinear followed (the next
// layer's DequantizeLinear then reads it directly), f32 otherwise. xq is u8/i8 with a scalar
// scale and zero point; wq is i8 with a per-tensor or per-output-channel scale and zero zero
// points (symmetric, as every quantizer writes weights for CPUs). The int32 bias is kept in
// accumulator units when its scale is sx*sw (as quantizers write it), else dequantized to f32.
// A Q whose output is read by anything else (or is a graph output) still gets its value: the
// fused node writes it. Weight DequantizeLinear nodes left over (convolutions that did not match)
// are folded to f32 constants at the end: fold_constants leaves them for this pass.
#include <algorithm>
#include <cmath>

#include "common/strings.hpp"
#include "kernels/node_runner.hpp"
#include "passes/passes.hpp"
#include "passes/pattern.hpp"

namespace visionrt {
namespace {

bool int8(DType t) { return t == DType::u8 || t == DType::i8; }

// Scalar constant scale (> 0) and optional scalar constant zero point of a Q/DQ node.
bool scalar_params(const Graph& g, const Node& n) {
  const Tensor* s = graph_constant(g, input_or_none(n, 1));
  if (!s || s->numel() != 1 || !(s->at_f64(0) > 0)) return false;
  int z = input_or_none(n, 2);
  if (z < 0) return true;
  const Tensor* zt = graph_constant(g, z);
  return zt && zt->numel() == 1;
}

// The QuantizeLinear (scalar parameters, an int8 zero point) that is the only reader of `v`, or -1.
int requantizer(const Graph& g, const Uses& u, int v) {
  if (u.graph_output[v] || u.readers[v].size() != 1) return -1;
  const Node& qn = g.nodes[static_cast<size_t>(u.readers[v][0])];
  const int zq = input_or_none(qn, 2);
  if (qn.op_type != "QuantizeLinear" || !qn.domain.empty() || input_or_none(qn, 0) != v ||
      !scalar_params(g, qn) || zq < 0 || !int8(g.values[zq].type.dtype) || qn.outputs.size() != 1 ||
      qn.outputs[0] < 0)
    return -1;
  return u.readers[v][0];
}

}  // namespace

bool zero_points_zero(const Graph& g, const Node& n) {
  const int z = input_or_none(n, 2);
  if (z < 0) return true;
  const Tensor* zt = graph_constant(g, z);
  if (!zt) return false;
  for (size_t i = 0; i < zt->numel(); ++i)
    if (zt->at_f64(i) != 0) return false;
  return true;
}

bool symmetric_int8_weights(const Graph& g, const Node& dq, int64_t axis) {
  const Tensor* wq = graph_constant(g, input_or_none(dq, 0));
  const Tensor* sw = graph_constant(g, input_or_none(dq, 1));
  if (!wq || wq->dtype() != DType::i8 || wq->rank() != 4 || !sw) return false;
  if (sw->numel() != 1) {
    int64_t a = dq.attr_i("axis", 1);
    if (a < 0) a += 4;
    if (a != axis || static_cast<int64_t>(sw->numel()) != wq->dim(static_cast<size_t>(axis)))
      return false;
  }
  return zero_points_zero(g, dq);
}

size_t fuse_qdq(Graph& g) {
  Uses u(g);
  std::vector<char> dead(g.nodes.size(), 0);
  size_t fused = 0;
  for (size_t ci = 0; ci < g.nodes.size(); ++ci) {
    Node& c = g.nodes[ci];
    if (c.op_type != "Conv" && c.op_type != "visionrt.FusedConv") continue;
    if (input_or_none(c, 3) >= 0 || c.outputs.size() != 1 || c.outputs[0] < 0)
      continue;  // residual
    const Node* dx = dq_producer(g, input_or_none(c, 0));
    const Node* dw = dq_producer(g, input_or_none(c, 1));
    if (!dx || !dw) continue;
    // Activation: u8/i8 with a scalar scale and zero point.
    if (!int8(g.values[dx->inputs[0]].type.dtype) || !scalar_params(g, *dx)) continue;
    // Weights: constant i8 4-D, per-tensor or per-output-channel scale (axis 0), zero points 0.
    if (!symmetric_int8_weights(g, *dw, 0)) continue;
    const Tensor* sw = graph_constant(g, dw->inputs[1]);
    const int64_t oc = graph_constant(g, dw->inputs[0])->dim(0);
    // Bias: f32 constant (real units), or a DequantizeLinear of int32 (accumulator units when
    // its scale is x_scale * w_scale, as quantizers write it; real units otherwise).
    int bias = input_or_none(c, 2);
    if (bias >= 0 && !graph_constant(g, bias)) {
      const Node* db = dq_producer(g, bias);
      const Tensor* bq = db ? graph_constant(g, db->inputs[0]) : nullptr;
      const Tensor* sb = db ? graph_constant(g, input_or_none(*db, 1)) : nullptr;
      const Tensor* zb = db ? graph_constant(g, input_or_none(*db, 2)) : nullptr;
      if (!bq || bq->dtype() != DType::i32 || !sb || static_cast<int64_t>(bq->numel()) != oc ||
          (input_or_none(*db, 2) >= 0 && !zb))
        continue;
      const float sx = static_cast<float>(graph_constant(g, dx->inputs[1])->at_f64(0));
      bool acc_units = zero_points_zero(g, *db);
      for (int64_t m = 0; m < oc && acc_units; ++m) {
        float want = sx * static_cast<float>(sw->at_f64(sw->numel() == 1 ? 0 : m));
        float have = static_cast<float>(sb->at_f64(sb->numel() == 1 ? 0 : m));
        acc_units = std::fabs(want - have) <= 1e-6f * std::fabs(want);
      }
      if (acc_units) {
        bias = db->inputs[0];
      } else {
        std::vector<const Tensor*> ins;
        for (int i : db->inputs) ins.push_back(graph_constant(g, i));
        std::vector<Tensor> real = run_node_ref(*db, g.opset(), ins);
        bias = add_constant(g, str_cat(g.values[bias].name, "/f32"), real[0].cast(DType::f32));
      }
    } else if (bias >= 0 && graph_constant(g, bias)->dtype() != DType::f32) {
      continue;
    }
    // Output: requantized by a QuantizeLinear that reads only it, else f32.
    const int y = c.outputs[0];
    int out = y, sy = -1, zy = -1;
    if (const int qi = requantizer(g, u, y); qi >= 0) {
      const Node& qn = g.nodes[static_cast<size_t>(qi)];
      out = qn.outputs[0];
      sy = qn.inputs[1];
      zy = qn.inputs[2];
      dead[static_cast<size_t>(qi)] = 1;
    }
    Node q;
    q.name = c.name;
    q.op_type = "visionrt.QConv";
    q.attrs = c.attrs;
    q.attrs.erase("sum_first");
    q.inputs = {dx->inputs[0],
                dx->inputs[1],
                input_or_none(*dx, 2),
                dw->inputs[0],
                dw->inputs[1],
                input_or_none(*dw, 2),
                sy,
                zy,
                bias};
    q.outputs = {out};
    c = std::move(q);
    ++fused;
  }
  size_t concats = 0;
  // Concat -> QuantizeLinear (YOLOv8's C2f: the split halves and the bottleneck outputs are f32,
  // the next quantized convolution reads the concatenation): one visionrt.QConcat quantizing
  // every input into its slice of the int8 output.
  for (size_t qi = 0; qi < g.nodes.size(); ++qi) {
    Node& qn = g.nodes[qi];
    if (dead[qi] || qn.op_type != "QuantizeLinear" || !qn.domain.empty() ||
        qn.outputs.size() != 1 || qn.outputs[0] < 0 || !scalar_params(g, qn))
      continue;
    const int x = input_or_none(qn, 0), zq = input_or_none(qn, 2);
    if (x < 0 || zq < 0 || !int8(g.values[zq].type.dtype) || g.values[x].producer < 0 ||
        u.graph_output[x] || u.readers[x].size() != 1)
      continue;
    const size_t ci = static_cast<size_t>(g.values[x].producer);
    const Node& c = g.nodes[ci];
    if (dead[ci] || c.op_type != "Concat" || !c.domain.empty() || c.outputs.size() != 1 ||
        c.inputs.empty())
      continue;
    bool f32 = true;
    for (int v : c.inputs) f32 = f32 && v >= 0 && g.values[v].type.dtype == DType::f32;
    if (!f32) continue;
    Node q;
    q.name = qn.name;
    q.op_type = "visionrt.QConcat";
    q.attrs["axis"] = attr_int(c.attr_i("axis", 0));
    q.inputs = c.inputs;
    q.inputs.push_back(qn.inputs[1]);
    q.inputs.push_back(zq);
    q.outputs = qn.outputs;
    qn = std::move(q);
    dead[ci] = 1;
    ++concats;
  }
  if (fused || concats) {
    erase_dead(g, dead);
    g.eliminate_dead_nodes();
  }
  // Leftover weight DequantizeLinear nodes (fold_constants kept them for this pass) become f32
  // constants; a float model has none and pays no second folding sweep.
  bool leftover = false;
  for (const Node& n : g.nodes) {
    if (n.op_type != "DequantizeLinear") continue;
    bool all_const = true;
    for (int i : n.inputs) all_const = all_const && (i < 0 || g.values[i].constant);
    leftover = leftover || all_const;
  }
  if (leftover) {
    fold_constants(g, size_t(64) << 20, false);
    g.eliminate_dead_nodes();
  }
  return fused;
}

// A float residual added to an INT8 convolution's f32 result (MobileNetV2 and ResNet blocks as
// `visionrt quantize` leaves them: the Add stays float):
//
//   Add(visionrt.QConv(...) [f32, no y_scale], r [f32, same shape]) [-> QuantizeLinear(sy, zy)]
//
// becomes the QConv with r as input 9, added to the real-valued result after its activation.
// Where a QuantizeLinear is the sum's only reader, it goes in too (y_scale/y_zero_point) and the
// convolution writes int8; where the sum is read by more (the next block's residual as well),
// the convolution writes the f32 sum and the QuantizeLinear stays. The fused node takes the
// Add's place in the node order (r may be computed after the QConv).
size_t fuse_qconv_residual(Graph& g) {
  Uses u(g);
  std::vector<char> dead(g.nodes.size(), 0);
  size_t fused = 0;
  for (size_t ai = 0; ai < g.nodes.size(); ++ai) {
    Node& add = g.nodes[ai];
    if (dead[ai] || add.op_type != "Add" || !add.domain.empty() || add.inputs.size() != 2 ||
        add.outputs.size() != 1 || add.outputs[0] < 0)
      continue;
    int qi = requantizer(g, u, add.outputs[0]);
    if (qi >= 0 && dead[static_cast<size_t>(qi)]) qi = -1;
    for (int side = 0; side < 2; ++side) {
      const int y = add.inputs[side], r = add.inputs[1 - side];
      if (y < 0 || r < 0 || y == r || g.values[y].producer < 0) continue;
      const size_t ci = static_cast<size_t>(g.values[y].producer);
      const Node& c = g.nodes[ci];
      if (dead[ci] || c.op_type != "visionrt.QConv" || input_or_none(c, 6) >= 0 ||
          input_or_none(c, 9) >= 0 || !u.only_reader(y, static_cast<int>(ai)))
        continue;
      const TensorType &yt = g.values[y].type, &rt = g.values[r].type;
      if (yt.dtype != DType::f32 || rt.dtype != DType::f32 || !yt.fully_known() ||
          !rt.fully_known() || yt.dims != rt.dims)
        continue;
      Node q = c;
      q.inputs.resize(10, -1);
      q.inputs[9] = r;
      if (qi >= 0) {
        const Node& qn = g.nodes[static_cast<size_t>(qi)];
        q.inputs[6] = qn.inputs[1];
        q.inputs[7] = qn.inputs[2];
        q.outputs = qn.outputs;
        dead[static_cast<size_t>(qi)] = 1;
      } else {
        q.outputs = add.outputs;
      }
      add = std::move(q);  // the Add's place
      dead[ci] = 1;
      ++fused;
      break;
    }
  }
  if (fused) {
    erase_dead(g, dead);
    g.eliminate_dead_nodes();
  }
  return fused;
}

// The int8 convolutions (QConv, QLinearConv) that are a model's first layers: their source is
// computed from a graph input through no weighted layer (no convolution, product or Gemm; a
// QuantizeLinear, a normalization or a Pad may come between). They get the int attribute
// visionrt_first_layer = 1: on CPUs without VNNI their weights run halved (kernels/dnnl/quant.cpp),
// as NNCF's overflow fix "first_layer_only" quantizes them.
size_t mark_first_layer_qconvs(Graph& g) {
  std::vector<char> raw(g.values.size(), 0);  // computed from a graph input, no weights between
  for (int v : g.inputs) raw[static_cast<size_t>(v)] = 1;
  // Nodes are in topological order; repeat until nothing changes in case a pass did not keep it.
  for (bool changed = true; changed;) {
    changed = false;
    for (const Node& n : g.nodes) {
      if (is_weighted_op(n.op_type)) continue;
      const bool any = std::any_of(n.inputs.begin(), n.inputs.end(),
                                   [&](int v) { return v >= 0 && raw[static_cast<size_t>(v)]; });
      for (int o : n.outputs)
        if (any && o >= 0 && !raw[static_cast<size_t>(o)]) {
          raw[static_cast<size_t>(o)] = 1;
          changed = true;
        }
    }
  }
  size_t marked = 0;
  for (Node& n : g.nodes)
    if ((n.op_type == "visionrt.QConv" || n.op_type == "QLinearConv") && !n.inputs.empty() &&
        n.inputs[0] >= 0 && raw[static_cast<size_t>(n.inputs[0])]) {
      n.attrs["visionrt_first_layer"] = attr_int(1);
      ++marked;
    }
  return marked;
}

}  // namespace visionrt
