// Helpers shared by the control-flow op definitions and kernels (If, Loop, Scan).
#pragma once
#include <string>

#include "graph/graph.hpp"

namespace visionrt {

// The subgraph attribute `name` of n; ModelError naming the node when it is missing.
const Graph& subgraph_attr(const Node& n, const std::string& name);
// Inputs of n before the appended outer-scope captures.
size_t explicit_inputs(const Node& n);

}  // namespace visionrt
