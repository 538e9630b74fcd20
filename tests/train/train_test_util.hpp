// Helpers the training tests share: a model run by visionrt's runtime (the independent judge of
// what libtorch computes) and the comparison of the two.
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "train/tensor_convert.hpp"
#include "train/yolo.hpp"
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

// Seeded random BatchNorm scales, shifts and statistics, DCNv2 offsets and snake-convolution
// offsets and fuse weights: a YOLOv8 (yolo.hpp) in which every path of the export is exercised.
inline void randomize_yolo(torch::nn::Module& m, uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard ng;
  for (auto& p : m.named_parameters(true)) {
    const std::string& n = p.key();
    if (n.find("bn.") != std::string::npos) {
      if (n.find("weight") != std::string::npos)
        p.value().uniform_(0.5, 1.5);
      else
        p.value().normal_(0, 0.1);
    } else if (n.find("conv_offset") != std::string::npos) {
      p.value().normal_(0, 0.1);
    } else if (n.find(".offset.") != std::string::npos || n.find(".fuse.") != std::string::npos) {
      p.value().normal_(0, 0.3);  // bent snake kernels and a live snake branch
    }
  }
  for (auto& b : m.named_buffers(true)) {
    if (b.key().find("running_mean") != std::string::npos) b.value().normal_(0, 0.1);
    if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 1.5);
  }
}

// A seeded random YOLOv8 of `spec` (64x96 input) equals its own export run by visionrt (every
// output within 1e-4), and the export's spec and weights load back into an equal network.
// Returns the spec read back from the export.
inline train::YoloSpec expect_export_round_trip(const train::YoloSpec& spec,
                                                const std::filesystem::path& dir,
                                                const std::string& what) {
  torch::manual_seed(1);
  train::YoloV8 net(spec);
  randomize_yolo(*net, 2);
  net->eval();
  const torch::Tensor x = torch::rand({1, 3, 64, 96});
  std::vector<torch::Tensor> want;
  {
    torch::NoGradGuard ng;
    want = net->forward(x);
  }
  const std::string path = (dir / "model.onnx").string();
  std::vector<std::string> names;
  for (int64_t i = 0; i < spec.nc; ++i) names.push_back("c" + std::to_string(i));
  train::export_onnx(*net, path, 64, 96, names);
  const std::vector<torch::Tensor> got = run_visionrt(path, x);
  EXPECT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    const double e = worst(got[i], want[i]);
    std::printf("[train] %s, output %zu: worst relative difference %.2e\n", what.c_str(), i, e);
    EXPECT_LT(e, 1e-4) << what << " output " << i;
  }
  const train::YoloSpec back = train::spec_from_onnx(path);
  train::YoloV8 again(back);
  train::load_onnx_weights(*again, path);
  again->eval();
  torch::NoGradGuard ng;
  EXPECT_LT(worst(again->forward(x)[0], want[0]), 1e-4) << what << ": weights read back";
  return back;
}

}  // namespace visionrt::test
