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

// Coordinate geometry of Resize/Upsample, shared by the reference kernel (any rank, double) and
// the fast f32 kernel: one output coordinate maps to taps (input index, weight) per axis.
struct Tap {
  int64_t index;
  double weight;
};
struct ResizeAttrs {
  std::string mode, coord, nearest;
  double cubic_a = -0.75, extrapolation = 0;
  bool exclude_outside = false, legacy = false;  // legacy: Upsample / Resize-10
  std::vector<double> roi;                       // tf_crop_and_resize: starts..., ends...
};
// Attributes of a Resize/Upsample node ("bilinear" normalized to "linear"); roi not filled.
ResizeAttrs resize_attrs(const Node& n, int64_t opset);
// Maps output coordinate x (axis of input length `in`, output `out`, scale `s`) to the input.
double to_original(const ResizeAttrs& a, double x, int64_t in, int64_t out, double s, size_t axis,
                   size_t rank, bool* outside);
int64_t nearest_index(const ResizeAttrs& a, double x, double scale);
// Keys cubic convolution weight for |t| in [0, 2] with coefficient a.
double cubic_weight(double t, double a);
// x reflected into [lo, hi] (GridSample's reflection padding; as many bounces as it takes).
double reflect(double x, double lo, double hi);
// Taps of one output coordinate along one axis; `outside` marks extrapolation.
std::vector<Tap> axis_taps(const ResizeAttrs& a, int64_t x, int64_t in, int64_t out, double s,
                           size_t axis, size_t rank, bool* outside);

}  // namespace visionrt
