// The Resize plan of a kernel query whose scales/sizes are constants (both the oneDNN and the
// own Resize kernels need it at compile time).
#pragma once
#include <string>

#include "kernels/kernel.hpp"
#include "ops/resample_shapes.hpp"

namespace visionrt {

inline bool constant_resize_plan(const KernelQuery& q, ResizePlan* plan, std::string* why) {
  const Tensor* scales = q.input_constants.size() > 2 ? q.input_constants[2] : nullptr;
  const Tensor* sizes = q.input_constants.size() > 3 ? q.input_constants[3] : nullptr;
  if (scales && scales->numel() == 0) scales = nullptr;
  if (sizes && sizes->numel() == 0) sizes = nullptr;
  if (!scales && !sizes) return *why = "scales/sizes are not constant", false;
  return resize_plan(*q.node, q.opset, q.input_types[0].dims, scales, sizes, plan, why);
}

}  // namespace visionrt
