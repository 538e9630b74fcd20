// visionrt's internal ops, created by graph passes and never accepted from a model file (the
// "visionrt." prefix is reserved; compile rejects models that use it):
//   visionrt.FusedConv(X, W, [B], [Sum]) : Conv with its attributes, then the post-ops a fusion
//     pass folded into it: `activation` (relu, leaky_relu, clip, sigmoid, swish, tanh,
//     hard_swish, elu; parameters `alpha`, `beta`) and a residual `Sum` input added to the
//     result, before the activation when `sum_first` is 1, after it otherwise.
//   visionrt.Reorder(X) : the same tensor in another memory layout (plain <-> blocked); the
//     layouts are the graph values' own (Value::layout_block).
#include "ops/op_registry.hpp"

namespace visionrt {

void register_internal_ops(OpRegistry& r) {
  r.add({"visionrt.FusedConv",
         [](InferContext& c) {
           const OpDef* conv = OpRegistry::instance().find("", "Conv");
           conv->infer(c);
         },
         {},
         1});
  r.add({"visionrt.Reorder", [](InferContext& c) { infer_same_as_input(c); }, {}, 1});
}

}  // namespace visionrt
