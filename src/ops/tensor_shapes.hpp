// Shape arithmetic shared by inference and the reference kernels of data-movement ops, so the
// two can never disagree on Reshape targets, Slice ranges or Pad amounts.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "graph/graph.hpp"

#include "visionrt/tensor.hpp"

namespace visionrt {

// Resolves 0 (copy, unless allowzero) and -1 (infer) in a Reshape target. `in` may be null
// (unknown input shape) or contain -1 dims; unresolvable dims come out as -1.
bool reshape_target(const Shape* in, const std::vector<int64_t>& target, bool allowzero, Shape* out,
                    std::string* err);

struct SliceParams {
  std::vector<int64_t> starts, ends, axes, steps;
  // Filled by slice_plan: per input dim, the clamped start and step (step 1 for untouched dims).
  std::vector<int64_t> start, step;
};
// Reads a Slice node's starts/ends/axes/steps: attributes before opset 10, inputs 1-4 after
// (`value(i)`: input i's tensor, nullptr when absent or unknown). False when a needed input's
// value is unknown.
bool slice_params(const Node& n, int64_t opset, const std::function<const Tensor*(size_t)>& value,
                  SliceParams* p);
// Normalizes axes/steps, clamps starts/ends per ONNX, computes the output shape.
bool slice_plan(const Shape& in, SliceParams* p, Shape* out, std::string* err);

// The dims [*start, *end) of a rank-`rank` shape that a Shape node returns (opset >= 15 start/end
// attributes, negative from the back, clamped; end < start gives an empty range).
void shape_range(const Node& n, int64_t opset, int64_t rank, int64_t* start, int64_t* end);

// Expands pads (begin..., end...) given for `axes` (all dims when empty) to 2*rank values.
bool pad_plan(size_t rank, const std::vector<int64_t>& pads, const std::vector<int64_t>& axes,
              std::vector<int64_t>* full, std::string* err);

}  // namespace visionrt
