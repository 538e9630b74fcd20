// Graph passes, one per file. Each leaves the graph valid (the verifier runs after every pass in
// debug builds) and unchanged when it cannot apply.
#pragma once
#include <cstddef>

#include "graph/graph.hpp"

namespace visionrt {

// Static type/shape inference over the whole graph from graph inputs and constants. Unknown ops
// leave their outputs untyped (compile reports them). Throws ModelError on inconsistent models.
void infer_shapes(Graph& g);
// One node's output types from its inputs' (infer_shapes' step; constant folding infers each node
// as it reaches it, so a chain of shape computations folds in one sweep).
void infer_node(Graph& g, const Node& n);

// Runs nodes whose inputs are all constant through the reference kernels and replaces them with
// constants (ARCHITECTURE practice 7). Skips outputs larger than `max_bytes`. Returns nodes folded.
// keep_weight_dq leaves DequantizeLinear nodes that feed a convolution's weights or bias
// (QDQ models) for fuse_qdq, which folds the ones it does not fuse.
size_t fold_constants(Graph& g, size_t max_bytes = size_t(64) << 20, bool keep_weight_dq = true);

// Load-time normalization of pre-opset-7 forms (legacy broadcast attributes, PRelu-6 slopes,
// BatchNormalization-6 attributes) into today's semantics. No-op for opset >= 7.
void upgrade_legacy_ops(Graph& g);

// Load-time lowering of custom-domain ops with a standard equivalent (mmcv's deformable
// convolutions -> visionrt.DeformConv). Returns nodes lowered.
size_t lower_custom_ops(Graph& g);

// Runs fp16 graphs in fp32 (casts at graph inputs/outputs only). Returns whether it applied.
bool convert_fp16_to_fp32(Graph& g);

// Folds BatchNormalization and per-channel constant Mul/Add/Sub/Div after a Conv into its
// weights and bias. Returns ops folded.
size_t fold_conv_affine(Graph& g);

// Folds the activation after a Conv (Relu, Clip, LeakyRelu, Sigmoid, Tanh, HardSwish, Elu and
// the x*Sigmoid(x) / x*HardSigmoid(x) patterns) into visionrt.FusedConv. Returns fusions made.
size_t fuse_conv_activation(Graph& g);

// Replaces element-wise chains that compute a known activation (GELU's Erf and tanh forms,
// hard-swish/hard-sigmoid written with Add/Clip/Div/Mul, swish and mish outside a conv, ...) by
// one visionrt.Activation, matched by evaluating the chain. Returns chains replaced.
size_t fuse_activation_patterns(Graph& g);

// Layer normalization written out (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, then the
// optional Mul/Add of scale and bias) over the last axis becomes LayerNormalization. Returns
// patterns replaced.
size_t fuse_layer_norm(Graph& g);

// Nodes that compute their input unchanged (Identity, inference Dropout, all-zero Pad, Cast to
// the same dtype) disappear, their readers reading the input. Returns nodes removed.
size_t remove_noops(Graph& g);

// Zero constant spatial pads move into the Conv (or padding-counting AveragePool) that alone
// reads them. Returns nodes rewritten.
size_t fold_pad(Graph& g);
// ConvTranspose whose kernel equals its stride (group 1, no padding or dilation; f32 or
// DequantizeLinear'd int8 weights) -> 1x1 Conv to C_out*s*s channels + DepthToSpace (DCR), a
// per-tensor QuantizeLinear after it moved before the DepthToSpace (passes/deconv_as_conv.cpp).
// Returns deconvolutions rewritten.
size_t deconv_as_conv(Graph& g);

// Standalone BatchNormalization and per-channel affine chains (after fold_conv_affine) become
// visionrt.ScaleShift with the following activation folded in. Returns nodes rewritten.
size_t fuse_scale_shift(Graph& g);

// MatMul by constant weights, then a constant bias Add along the last axis and/or an
// activation, becomes visionrt.FusedMatMul. Returns fusions made.
size_t fuse_matmul(Graph& g);

// QDQ convolutions (DequantizeLinear on activation and weights, optional QuantizeLinear after)
// into visionrt.QConv, and Concat -> QuantizeLinear into visionrt.QConcat (passes/fuse_qdq.cpp).
// Returns the convolutions fused.
size_t fuse_qdq(Graph& g);
// After fuse_qdq: Add(QConv f32 result, f32 residual) into the QConv with the residual as input
// 9, with the QuantizeLinear after it where that is the sum's only reader (passes/fuse_qdq.cpp).
// Returns the adds fused.
size_t fuse_qconv_residual(Graph& g);
// After fuse_qdq: int8 convolutions whose source comes from a graph input through no weighted
// layer get visionrt_first_layer = 1 (their weights are halved on CPUs without VNNI). Returns
// how many (passes/fuse_qdq.cpp).
size_t mark_first_layer_qconvs(Graph& g);

// Softmax(axis 1) of a 4-D tensor read only by a 1x1 convolution to one channel (DFL box
// decoding) into visionrt.SoftmaxExpectation (passes/fuse_softmax_expectation.cpp).
size_t fuse_softmax_expectation(Graph& g);

// Folds a residual Add of a Conv's output into visionrt.FusedConv's sum input.
size_t fuse_conv_sum(Graph& g);

// Chooses blocked layouts (block 8 or 16; 0 does nothing) where oneDNN kernels can keep them and
// inserts visionrt.Reorder nodes where plain is needed. Returns nodes running blocked.
size_t select_layouts(Graph& g, int block);

// Reorder-to-plain [-> Reshape] -> Transpose chains moving a blocked tensor's channels last
// become visionrt.ChannelsLast (after select_layouts). Returns chains replaced.
size_t fuse_channels_last(Graph& g);
// Concat(axis 2) of Reshape(N, C, -1) of Reorder-to-plain of blocked/channels-last level maps
// (and the level Concats along the channels before them) into one visionrt.FlatConcat reading
// the maps in their layouts (passes/fuse_flat_concat.cpp). Runs after select_layouts.
size_t fuse_flat_concat(Graph& g);

// INFERENCE_PRECISION bf16 (after the layout passes): convolutions and products by constant
// weights with a fast bf16 kernel read bf16, bf16 tensors flow through copies, pooling,
// resampling, activations and feature-map products/sums, everything else reads f32 through
// type-converting visionrt.Reorder nodes. Returns compute nodes in bf16.
size_t assign_bf16(Graph& g);
// CPU execution pipeline run by compile after the default passes: fusions, then layouts, then
// (with `bf16`) precisions.
struct CpuPassStats {
  size_t qconvs = 0, qconv_residuals = 0, deconvs_as_convs = 0;
  size_t patterns_fused = 0, layer_norms = 0, affine_folded = 0, scale_shifts = 0,
         activations_fused = 0, sums_fused = 0, blocked_nodes = 0, reorders = 0, bf16_compute = 0;
};
CpuPassStats run_cpu_passes(Graph& g, int block, bool bf16 = false);

// The default pipeline used by compile: fp16->fp32, fold, eliminate dead nodes, infer shapes.
void run_default_passes(Graph& g);

}  // namespace visionrt
