// Load-time lowering of the custom-domain ops that deployment toolkits write into otherwise
// standard models, onto the op that has the same semantics: mmcv/mmdeploy's deformable
// convolutions (mmcv::MMCVModulatedDeformConv2d, DCNv2 with a mask; mmcv::MMCVDeformConv2d,
// DCNv1) become DeformConv's semantics (same offset layout: per tap, dy then dx) as the internal
// op visionrt.DeformConv, which does not depend on the model's opset (these exports are opset
// 11..17; DeformConv entered ONNX at 19).
#include "common/strings.hpp"
#include "passes/passes.hpp"

namespace visionrt {

namespace {

// mmcv's stride/padding/dilation: one value per spatial axis (_pair), or one for both.
std::vector<int64_t> pair_attr(const Graph& g, const Node& n, const char* name, int64_t dflt) {
  if (!n.has_attr(name)) return {dflt, dflt};
  const Attribute& a = n.attrs.at(name);
  std::vector<int64_t> v =
      a.kind == Attribute::Kind::i ? std::vector<int64_t>{a.i} : n.attr_is(name);
  if (v.size() == 1) v.push_back(v[0]);
  if (v.size() != 2)
    throw ModelError(str_cat(g.path, ": node ", n.label(), ": attribute '", name, "' has ",
                             v.size(), " values; mmcv writes one per spatial axis"));
  return v;
}

void lower_mmcv_deform_conv(const Graph& g, Node& n, bool modulated) {
  // Modulated: input, offset, mask, weight[, bias]. Plain: input, offset, weight.
  const size_t need = modulated ? 4 : 3;
  if (n.inputs.size() < need || n.inputs.size() > need + (modulated ? 1 : 0))
    throw ModelError(str_cat(g.path, ": node ", n.label(), ": ", n.op_type, " takes ", need,
                             modulated ? " or 5" : "", " inputs, not ", n.inputs.size()));
  if (!modulated && n.attr_i("bias", 0) != 0)
    throw ModelError(str_cat(g.path, ": node ", n.label(),
                             ": MMCVDeformConv2d with bias=1 has no bias input to read"));
  const int x = n.inputs[0], offset = n.inputs[1];
  const int mask = modulated ? n.inputs[2] : -1;
  const int weight = n.inputs[modulated ? 3 : 2];
  const int bias = modulated && n.inputs.size() == 5 ? n.inputs[4] : -1;
  const std::vector<int64_t> stride = pair_attr(g, n, "stride", 1);
  const std::vector<int64_t> pad = pair_attr(g, n, "padding", 0);
  const std::vector<int64_t> dil = pair_attr(g, n, "dilation", 1);
  const int64_t groups = n.attr_i("groups", 1), dg = n.attr_i("deform_groups", 1);
  n.domain.clear();
  n.op_type = "visionrt.DeformConv";
  n.inputs = {x, weight, offset, bias, mask};
  while (!n.inputs.empty() && n.inputs.back() < 0) n.inputs.pop_back();
  n.attrs.clear();
  n.attrs["strides"] = attr_ints(stride);
  n.attrs["pads"] = attr_ints({pad[0], pad[1], pad[0], pad[1]});
  n.attrs["dilations"] = attr_ints(dil);
  n.attrs["group"] = attr_int(groups);
  n.attrs["offset_group"] = attr_int(dg);
}

}  // namespace

size_t lower_custom_ops(Graph& g) {
  size_t lowered = 0;
  for (Node& n : g.nodes) {
    if (n.domain != "mmcv") continue;
    if (n.op_type == "MMCVModulatedDeformConv2d" || n.op_type == "MMCVDeformConv2d") {
      lower_mmcv_deform_conv(g, n, n.op_type == "MMCVModulatedDeformConv2d");
      ++lowered;
    }
  }
  if (lowered) g.relink();
  return lowered;
}

}  // namespace visionrt
