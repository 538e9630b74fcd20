// The CPU pass pipeline compile runs after folding: activations and layer norms written out as
// element-wise chains recognised, BatchNorm and per-channel affine ops into
// convolutions, conv fusions (activation; QDQ convolutions into INT8 ones; residual sum, then an
// activation after the sum), then
// layout selection and the channels-last head transposes and flat head concatenations it
// enables, then bf16 where asked.
#include "passes/passes.hpp"

namespace visionrt {

CpuPassStats run_cpu_passes(Graph& g, int block, bool bf16) {
  CpuPassStats s;
  remove_noops(g);
  fold_pad(g);
  s.patterns_fused = fuse_activation_patterns(g);
  s.layer_norms = fuse_layer_norm(g);
  fuse_softmax_expectation(g);
  s.affine_folded = fold_conv_affine(g);
  s.scale_shifts = fuse_scale_shift(g);
  s.deconvs_as_convs = deconv_as_conv(g);
  s.activations_fused = fuse_conv_activation(g) + fuse_matmul(g);
  s.qconvs = fuse_qdq(g);
  s.qconv_residuals = fuse_qconv_residual(g);
  mark_first_layer_qconvs(g);
  s.sums_fused = fuse_conv_sum(g);
  s.activations_fused += fuse_conv_activation(g);
  s.blocked_nodes = select_layouts(g, block);
  fuse_channels_last(g);
  fuse_flat_concat(g);
  if (bf16) s.bf16_compute = assign_bf16(g);
  for (const Node& n : g.nodes)
    if (n.op_type == "visionrt.Reorder") ++s.reorders;
#ifndef NDEBUG
  verify_graph(g);
#endif
  return s;
}

}  // namespace visionrt
