// visionrt Tensor <-> torch::Tensor copies, for the training code and its tests.
#pragma once
#include <torch/torch.h>

#include "visionrt/tensor.hpp"

namespace visionrt::train {

// A copy as a torch tensor (f32, f64, i64, i32, i8, u8, bool); ModelError for other types.
torch::Tensor to_torch(const Tensor& t);
// A contiguous f32 copy of `t` (detached; converted from any floating type).
Tensor from_torch(const torch::Tensor& t);

}  // namespace visionrt::train
