// Helpers the training tests share: a model run by visionrt's runtime (the independent judge of
// what libtorch computes) and the comparison of the two.
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "train/tensor_convert.hpp"
#include "visionrt/core.hpp"

namespace visionrt::test {

// Outputs of the ONNX file at `path` run by visionrt in f32 on input `x`.
inline std::vector<torch::Tensor> run_visionrt(const std::string& path, const torch::Tensor& x) {
  Core core;
  CompiledModel cm = core.compile_model(path, {{"INFERENCE_PRECISION", "f32"}});
  InferRequest r = cm.create_infer_request();
  r.set_input_tensor(0, train::from_torch(x));
  r.infer();
  std::vector<torch::Tensor> out;
  for (size_t i = 0; i < cm.outputs().size(); ++i)
    out.push_back(train::to_torch(r.get_output_tensor(i)));
  return out;
}

// Largest |a - b| / (1 + |b|); a shape mismatch fails the test.
inline double worst(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1e30;
  return ((a - b).abs() / (b.abs() + 1)).max().item<double>();
}

}  // namespace visionrt::test
