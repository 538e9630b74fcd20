// Graph passes, one per file. Each leaves the graph valid (the verifier runs after every pass in
// debug builds) and unchanged when it cannot apply.
#pragma once
#include <cstddef>

#include "graph/graph.hpp"

namespace visionrt {

// Static type/shape inference over the whole graph from graph inputs and constants. Unknown ops
// leave their outputs untyped (compile reports them). Throws ModelError on inconsistent models.
void infer_shapes(Graph& g);

// Runs nodes whose inputs are all constant through the reference kernels and replaces them with
// constants (ARCHITECTURE practice 7). Skips outputs larger than `max_bytes`. Returns nodes folded.
size_t fold_constants(Graph& g, size_t max_bytes = size_t(64) << 20);

// Load-time normalization of pre-opset-7 forms (legacy broadcast attributes, PRelu-6 slopes,
// BatchNormalization-6 attributes) into today's semantics. No-op for opset >= 7.
void upgrade_legacy_ops(Graph& g);

// Runs fp16 graphs in fp32 (casts at graph inputs/outputs only). Returns whether it applied.
bool convert_fp16_to_fp32(Graph& g);

// The default pipeline used by compile: fp16->fp32, fold, eliminate dead nodes, infer shapes.
void run_default_passes(Graph& g);

}  // namespace visionrt
