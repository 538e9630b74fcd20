// Reading a Pad node's parameters at compile time (opset < 11 attributes, >= 11 inputs).
#pragma once

#include <vector>

#include "graph/graph.hpp"

namespace visionrt {

// Pads ([begin..., end...] over all axes) and the constant value of a constant-mode Pad, when
// both are known at compile time (and no opset-18 axes input); false otherwise.
bool constant_pads(const Graph& g, const Node& n, std::vector<int64_t>* pads, float* value);

}  // namespace visionrt
