// Einsum equation parsing shared by inference and the reference kernel: labels per operand
// (ellipsis expanded to internal labels, right-aligned across operands), output labels
// (explicit or numpy's implicit order) and the size of every label.
#pragma once
#include <string>
#include <vector>

#include "visionrt/tensor.hpp"

namespace visionrt {

struct EinsumPlan {
  std::vector<std::vector<int>> operand_labels;  // per operand, per dim
  std::vector<int> output_labels;
  std::vector<int64_t> label_size;  // indexed by label id (0..num_labels-1); -1 unknown
};

// Fails (false + *err) on a malformed equation or inconsistent sizes. `shapes` may hold -1.
bool einsum_plan(const std::string& equation, const std::vector<Shape>& shapes, EinsumPlan* plan,
                 std::string* err);

}  // namespace visionrt
