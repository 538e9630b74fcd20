// Output sizes of Resize/Upsample, shared by inference and the reference kernel: scales or
// sizes (with opset-18 axes and keep_aspect_ratio_policy), and the effective per-axis scale used
// by the coordinate transformation.
#pragma once
#include <string>
#include <vector>

#include "graph/graph.hpp"

namespace visionrt {

struct ResizePlan {
  Shape out;
  std::vector<double> scale;  // per axis, output / input as the coordinate transform uses it
};

// `scales`/`sizes` may be null (absent or empty). Returns false with *err on invalid input;
// `in` must be fully known.
bool resize_plan(const Node& n, int64_t opset, const Shape& in, const Tensor* scales,
                 const Tensor* sizes, ResizePlan* plan, std::string* err);

}  // namespace visionrt
