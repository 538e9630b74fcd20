// The axes a Reduce* node reduces, as the kernels see it at compile time.
#pragma once
#include <string>
#include <vector>

#include "kernels/kernel.hpp"

namespace visionrt {

// Per input axis, 1 where reduced: the attribute before opset 18 (ReduceSum: 13), input 1 after
// (must be a constant i64 tensor); empty axes mean all of them unless noop_with_empty_axes.
// False with *why when the axes are unknown, out of range, or the reduction is a no-op.
bool reduced_axes(const KernelQuery& q, std::vector<char>* red, std::string* why);

}  // namespace visionrt
