// DCNv2 in the trainable YOLOv8: the deformable convolution against torch's convolution and a
// hand computation, a YOLOv8 with DCNv2 bottlenecks against its own export run by visionrt
// (ONNX DeformConv, whose kernel is checked against torchvision's numbers), weights of a plain
// export loading into a DCN network without changing its function, and model configs.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "../unit/test_util.hpp"
#include "train/config.hpp"
#include "train/tensor_convert.hpp"
#include "train/yolo.hpp"
#include "train_test_util.hpp"
#include "visionrt/core.hpp"
#include "visionrt/error.hpp"

namespace fs = std::filesystem;
using namespace visionrt;
using namespace visionrt::train;

using visionrt::test::run_visionrt;
using visionrt::test::worst;

TEST(Dcn, ZeroOffsetsAndUnitMaskAreTheConvolution) {
  torch::manual_seed(0);
  const torch::Tensor x = torch::randn({2, 5, 9, 11}), w = torch::randn({7, 5, 3, 3});
  const torch::Tensor b = torch::randn({7});
  for (int64_t stride : {1, 2}) {
    const torch::Tensor ref = torch::conv2d(x, w, b, stride, 1);
    const torch::Tensor off = torch::zeros({2, 18, ref.size(2), ref.size(3)});
    const torch::Tensor mask = torch::ones({2, 9, ref.size(2), ref.size(3)});
    // Float rounding of two summation orders: relative to the largest output (about 10).
    EXPECT_LT(
        (modulated_deform_conv2d(x, w, b, off, mask, stride, 1) - ref).abs().max().item<double>(),
        2e-6 * std::max(1.0, ref.abs().max().item<double>()))
        << "stride " << stride;
  }
}

TEST(Dcn, BilinearSamplingByHand) {
  // One channel 3x3 = 0..8, a 1x1 kernel of weight 1: each output samples x at its position plus
  // the offset. Output (0,0) offset (dy 0.5, dx 0.25): 0.5*0.75*0 + 0.5*0.25*1 + 0.5*0.75*3 +
  // 0.5*0.25*4 = 1.75. Output (2,2) offset (0.5, 0.5): three of its four corners are outside (0):
  // 0.25 * 8 = 2. Output (1,1) with mask 0.5 and offset (-1, 0): 0.5 * x[0][1] = 0.5.
  const torch::Tensor x = torch::arange(9, torch::kFloat32).view({1, 1, 3, 3});
  const torch::Tensor w = torch::ones({1, 1, 1, 1});
  torch::Tensor off = torch::zeros({1, 2, 3, 3}), mask = torch::ones({1, 1, 3, 3});
  off[0][0][0][0] = 0.5, off[0][1][0][0] = 0.25;
  off[0][0][2][2] = 0.5, off[0][1][2][2] = 0.5;
  off[0][0][1][1] = -1.f;
  mask[0][0][1][1] = 0.5;
  const torch::Tensor y = modulated_deform_conv2d(x, w, torch::Tensor(), off, mask, 1, 0);
  EXPECT_NEAR(y[0][0][0][0].item<float>(), 1.75f, 1e-6);
  EXPECT_NEAR(y[0][0][2][2].item<float>(), 2.0f, 1e-6);
  EXPECT_NEAR(y[0][0][1][1].item<float>(), 0.5f, 1e-6);
  EXPECT_NEAR(y[0][0][0][1].item<float>(), 1.0f, 1e-6);  // no offset: x itself
}

TEST(Dcn, YoloWithDcnMatchesItsExportOnVisionrt) {
  fs::path dir = test::temp_dir("train_dcn");
  YoloSpec s = YoloSpec::scale('n', "segment", 3);
  s.width = 0.125;  // 8..128 channels: small, and spec_from_onnx reads it back
  s.dcn = {2, 15};
  // The export says where its DCN layers are.
  EXPECT_EQ(test::expect_export_round_trip(s, dir, "YOLOv8-seg with DCNv2").dcn,
            (std::vector<int64_t>{2, 15}));
  fs::remove_all(dir);
}

TEST(Dcn, PlainWeightsLoadIntoDcnLayersWithoutChangingTheFunction) {
  fs::path dir = test::temp_dir("train_dcn_plain");
  YoloSpec s = YoloSpec::scale('n', "detect", 2);
  s.width = 0.125;  // 8..128 channels: small, and spec_from_onnx reads it back
  torch::manual_seed(4);
  YoloV8 plain(s);
  test::randomize_yolo(*plain, 5);
  plain->eval();
  const std::string path = (dir / "plain.onnx").string();
  export_onnx(*plain, path, 64, 64, {"a", "b"});
  YoloSpec d = spec_from_onnx(path);
  EXPECT_TRUE(d.dcn.empty());
  d.dcn = {4, 18};
  YoloV8 dcn(d);
  load_onnx_weights(*dcn, path);
  dcn->eval();
  const torch::Tensor x = torch::rand({1, 3, 64, 64});
  torch::NoGradGuard ng;
  const std::vector<torch::Tensor> a = plain->forward(x), b = dcn->forward(x);
  EXPECT_LT(worst(b[0], run_visionrt(path, x)[0]), 1e-4);
  EXPECT_LT(worst(b[0], a[0]), 1e-4);
  fs::remove_all(dir);
}

TEST(TrainConfig, ReadsKeysAndRefusesTyposAndBadLayers) {
  fs::path dir = test::temp_dir("train_cfg");
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  };
  TrainConfig c = read_train_config(write(
      "ok.yaml", "model: yolov8\nscale: s\ntask: segment\nnc: 3\ndcn: [6, 8]\nweights: w.onnx\n"));
  EXPECT_EQ(c.spec.task, "segment");
  EXPECT_DOUBLE_EQ(c.spec.width, 0.5);
  EXPECT_EQ(c.spec.nc, 3);
  EXPECT_TRUE(c.nc_given);
  EXPECT_EQ(c.spec.dcn, (std::vector<int64_t>{6, 8}));
  EXPECT_EQ(c.weights, (dir / "w.onnx").string());
  auto error = [&](const std::string& text) {
    return test::error_of<InputError>([&] { read_train_config(write("bad.yaml", text)); });
  };
  EXPECT_NE(error("scale: n\ndnc: [6]\n").find("unknown key 'dnc'"), std::string::npos);
  EXPECT_NE(error("dcn: [7]\n").find("dcn layer 7 is not a C2f layer"), std::string::npos);
  EXPECT_NE(error("scale: q\n").find("bad.yaml"), std::string::npos);
  EXPECT_NE(error("model: rcnn\n").find("model 'rcnn'"), std::string::npos);
  EXPECT_NE(error("[1, 2").find("malformed YAML"), std::string::npos);
  fs::remove_all(dir);
}
