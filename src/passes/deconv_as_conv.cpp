// A ConvTranspose whose kernel equals its stride (the windows do not overlap: U-Net's and
// YOLOv8-seg's 2x2 stride-2 upsampling, learned 4x4/4 upsampling heads) is a 1x1 convolution to
// C_out·s² channels followed by a DepthToSpace (DCR) of block s:
//
//   y[n, co, h·s+i, w·s+j] = b[co] + Σ_ci x[n, ci, h, w] · W[ci, co, i, j]
//   t[n, (i·s+j)·C_out + co, h, w] = the same sum, W'[(i·s+j)·C_out + co, ci] = W[ci, co, i, j]
//
// oneDNN's deconvolution ran yolov8n-seg's 64->64 2x2/2 at 80x80 in 7.0 ms against ~1.5 ms for
// the 1x1 convolution and DepthToSpace, which (DCR, C_out a multiple of the block) moves whole
// channel blocks or channels-last pixels. A 1x1 stride-1 ConvTranspose becomes a plain 1x1 conv.
// The weights are an f32 constant or the DequantizeLinear of an i8 constant (per tensor, or per
// output channel along axis 1 as quantizers write ConvTranspose weights); the conv then fuses
// with the QDQ around it (fuse_qdq) like any other, and when the only reader of the output is a
// per-tensor QuantizeLinear, it moves before the DepthToSpace (a permutation commutes with it):
// the conv writes int8 and the DepthToSpace moves bytes. Group 1, no padding, no dilation, the
// output exactly s times the input; anything else stays a deconvolution.
#include <cstring>

#include "common/strings.hpp"
#include "passes/passes.hpp"
#include "passes/pattern.hpp"

namespace visionrt {
namespace {

TensorType known(DType t, Shape dims) {
  TensorType r;
  r.dtype = t;
  r.has_rank = true;
  r.dims = std::move(dims);
  return r;
}

bool all_zero(const std::vector<int64_t>& v) {
  for (int64_t x : v)
    if (x) return false;
  return true;
}

// Block s when `n` is such a ConvTranspose (its output shape known and s times its input's), else
// 0.
int64_t non_overlapping_block(const Graph& g, const Node& n) {
  if (n.op_type != "ConvTranspose" || !n.domain.empty() || n.outputs.size() != 1 ||
      n.outputs[0] < 0 || input_or_none(n, 0) < 0 || input_or_none(n, 1) < 0)
    return 0;
  const TensorType& xt = g.values[n.inputs[0]].type;
  const TensorType& yt = g.values[n.outputs[0]].type;
  if (xt.dtype != DType::f32 || !xt.fully_known() || !yt.fully_known() || xt.dims.size() != 4 ||
      yt.dims.size() != 4)
    return 0;
  if (n.attr_i("group", 1) != 1) return 0;
  const std::vector<int64_t> k = n.attr_is("kernel_shape", {});
  const std::vector<int64_t> s = n.attr_is("strides", {1, 1});
  if (s.size() != 2 || s[0] != s[1] || s[0] < 1) return 0;
  if (!k.empty() && (k.size() != 2 || k[0] != s[0] || k[1] != s[0])) return 0;
  if (!all_zero(n.attr_is("pads", {})) || !all_zero(n.attr_is("output_padding", {}))) return 0;
  for (int64_t d : n.attr_is("dilations", {}))
    if (d != 1) return 0;
  const int64_t b = s[0];
  if (yt.dims[0] != xt.dims[0] || yt.dims[2] != xt.dims[2] * b || yt.dims[3] != xt.dims[3] * b)
    return 0;
  return b;
}

// The weights [C_in, C_out, s, s] permuted to the 1x1 conv's [(i·s+j)·C_out + co, C_in, 1, 1]
// (element size of `w`'s dtype: f32 or i8).
Tensor permuted_weights(const Tensor& w, int64_t b) {
  const int64_t ci = w.dim(0), co = w.dim(1);
  Tensor out(w.dtype(), {co * b * b, ci, 1, 1});
  const size_t es = dtype_size(w.dtype());
  const char* src = static_cast<const char*>(w.raw());
  char* dst = static_cast<char*>(out.raw());
  for (int64_t c = 0; c < ci; ++c)
    for (int64_t o = 0; o < co; ++o)
      for (int64_t i = 0; i < b; ++i)
        for (int64_t j = 0; j < b; ++j)
          std::memcpy(dst + (((i * b + j) * co + o) * ci + c) * es,
                      src + (((c * co + o) * b + i) * b + j) * es, es);
  return out;
}

// Per-output-channel values [C_out] repeated for every (i, j): [(i·s+j)·C_out + co].
Tensor tiled(const Tensor& v, int64_t b) {
  const int64_t co = static_cast<int64_t>(v.numel());
  Tensor out(v.dtype(), {co * b * b});
  const size_t es = dtype_size(v.dtype());
  for (int64_t r = 0; r < b * b; ++r)
    std::memcpy(static_cast<char*>(out.raw()) + static_cast<size_t>(r * co) * es, v.raw(),
                static_cast<size_t>(co) * es);
  return out;
}

// The bias as f32 [C_out]: an f32 constant, or the DequantizeLinear of an int32 constant with
// a zero zero point (what quantizers write). False for anything else.
bool real_bias(const Graph& g, int v, int64_t co, Tensor* out) {
  if (const Tensor* b = graph_constant(g, v)) {
    if (b->dtype() != DType::f32 || static_cast<int64_t>(b->numel()) != co) return false;
    *out = *b;
    return true;
  }
  const Node* dq = dq_producer(g, v);
  if (!dq || !zero_points_zero(g, *dq)) return false;
  const Tensor* q = graph_constant(g, dq->inputs[0]);
  const Tensor* s = graph_constant(g, dq->inputs[1]);
  if (!q || !s || q->dtype() != DType::i32 || static_cast<int64_t>(q->numel()) != co) return false;
  if (s->numel() != 1 && static_cast<int64_t>(s->numel()) != co) return false;
  Tensor r(DType::f32, {co});
  for (int64_t c = 0; c < co; ++c)
    r.data<float>()[c] =
        static_cast<float>(q->at_f64(static_cast<size_t>(c)) *
                           s->at_f64(s->numel() == 1 ? 0 : static_cast<size_t>(c)));
  *out = std::move(r);
  return true;
}

}  // namespace

size_t deconv_as_conv(Graph& g) {
  Uses u(g);
  std::vector<char> dead(g.nodes.size(), 0);
  std::vector<std::vector<Node>> before(g.nodes.size());  // nodes replacing node k, in order
  size_t rewritten = 0;
  for (size_t di = 0; di < g.nodes.size(); ++di) {
    const Node& d = g.nodes[di];
    const int64_t b = non_overlapping_block(g, d);
    if (!b) continue;
    // Copies: adding constants below moves g.values.
    const Shape xd = g.values[d.inputs[0]].type.dims;
    const int64_t co = g.values[d.outputs[0]].type.dims[1];
    // Weights: f32 constant, or DequantizeLinear(i8 constant, scale, zero zero point).
    const int wv = d.inputs[1];
    int new_w = -1;
    if (const Tensor* w = constant_f32(g, wv)) {
      if (w->rank() != 4 || w->dim(0) != xd[1] || w->dim(1) != co || w->dim(2) != b ||
          w->dim(3) != b)
        continue;
      new_w = add_constant(g, str_cat(g.values[wv].name, "/as_conv"), permuted_weights(*w, b));
    } else if (const Node* dqp = dq_producer(g, wv); dqp && symmetric_int8_weights(g, *dqp, 1)) {
      const Node& dq = *dqp;
      const Tensor* wq = graph_constant(g, dq.inputs[0]);
      const Tensor* sw = graph_constant(g, dq.inputs[1]);
      if (wq->dim(0) != xd[1] || wq->dim(1) != co || wq->dim(2) != b || wq->dim(3) != b) continue;
      const bool per_channel = sw->numel() != 1;
      Node ndq;
      ndq.name = str_cat(dq.name, "/as_conv");
      ndq.op_type = "DequantizeLinear";
      Tensor wq_t = permuted_weights(*wq, b);
      Tensor sw_t = per_channel ? tiled(*sw, b) : Tensor();
      const int wq2 =
          add_constant(g, str_cat(g.values[dq.inputs[0]].name, "/as_conv"), std::move(wq_t));
      const int sw2 =
          per_channel
              ? add_constant(g, str_cat(g.values[dq.inputs[1]].name, "/as_conv"), std::move(sw_t))
              : dq.inputs[1];
      ndq.inputs = {wq2, sw2};
      if (per_channel) ndq.attrs["axis"] = attr_int(0);
      new_w = g.add_value(str_cat(g.values[wv].name, "/as_conv"));
      g.values[new_w].type = known(DType::f32, {co * b * b, xd[1], 1, 1});
      ndq.outputs = {new_w};
      before[di].push_back(std::move(ndq));
    } else {
      continue;
    }
    int new_b = -1;
    if (input_or_none(d, 2) >= 0) {
      Tensor bias;
      if (!real_bias(g, d.inputs[2], co, &bias)) {
        before[di].clear();
        continue;
      }
      new_b = add_constant(g, str_cat(g.values[d.inputs[2]].name, "/as_conv"), tiled(bias, b));
    }
    Node conv;
    conv.name = str_cat(d.name, "/as_conv");
    conv.op_type = "Conv";
    conv.inputs = {d.inputs[0], new_w};
    if (new_b >= 0) conv.inputs.push_back(new_b);
    conv.attrs["kernel_shape"] = attr_ints({1, 1});
    const int y = d.outputs[0];
    if (b == 1) {
      conv.outputs = {y};
      before[di].push_back(std::move(conv));
      dead[di] = 1;
      ++rewritten;
      continue;
    }
    const int t = g.add_value(str_cat(g.values[y].name, "/depth"));
    g.values[t].type = known(DType::f32, {xd[0], co * b * b, xd[2], xd[3]});
    conv.outputs = {t};
    before[di].push_back(std::move(conv));
    Node d2s;
    d2s.name = str_cat(d.name, "/to_space");
    d2s.op_type = "DepthToSpace";
    d2s.attrs["blocksize"] = attr_int(b);
    d2s.attrs["mode"] = attr_string("DCR");
    d2s.inputs = {t};
    d2s.outputs = {y};
    // A per-tensor QuantizeLinear reading only y moves before the DepthToSpace.
    if (!u.graph_output[y] && u.readers[y].size() == 1) {
      const size_t qi = static_cast<size_t>(u.readers[y][0]);
      const Node& q = g.nodes[qi];
      const Tensor* sq = graph_constant(g, input_or_none(q, 1));
      const int zv = input_or_none(q, 2);
      const Tensor* zq = graph_constant(g, zv);
      if (q.op_type == "QuantizeLinear" && q.inputs[0] == y && q.outputs.size() == 1 &&
          q.outputs[0] >= 0 && sq && sq->numel() == 1 && (zv < 0 || (zq && zq->numel() == 1))) {
        Node q2 = q;
        q2.name = str_cat(q.name, "/before_space");
        q2.inputs[0] = t;
        const int tq = g.add_value(str_cat(g.values[q.outputs[0]].name, "/depth"));
        g.values[tq].type = known(g.values[q.outputs[0]].type.dtype, g.values[t].type.dims);
        q2.outputs = {tq};
        d2s.inputs = {tq};
        d2s.outputs = q.outputs;
        before[di].push_back(std::move(q2));
        dead[qi] = 1;
      }
    }
    before[di].push_back(std::move(d2s));
    dead[di] = 1;
    ++rewritten;
  }
  if (!rewritten) return 0;
  std::vector<Node> nodes;
  nodes.reserve(g.nodes.size() + 3 * rewritten);
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    for (Node& n : before[k]) nodes.push_back(std::move(n));
    if (!dead[k]) nodes.push_back(std::move(g.nodes[k]));
  }
  g.nodes = std::move(nodes);
  g.relink();
  g.eliminate_dead_nodes();
  return rewritten;
}

}  // namespace visionrt
