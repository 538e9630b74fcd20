// src/train's YOLOv8 against independent implementations of the same network: visionrt's
// runtime on the ONNX this library writes (a seeded tiny model with random BatchNorm statistics,
// so the folding is exercised), and on Ultralytics' own export of yolov8n-seg from ../shared
// (weights loaded by name; skipped where ../shared is absent).
#include <gtest/gtest.h>

#include <filesystem>

#include "../unit/test_util.hpp"
#include "onnx/builder.hpp"
#include "train/tensor_convert.hpp"
#include "train/yolo.hpp"
#include "train_test_util.hpp"
#include "visionrt/core.hpp"
#include "visionrt/error.hpp"

namespace fs = std::filesystem;
using namespace visionrt;
using visionrt::train::from_torch;
using visionrt::train::to_torch;
using visionrt::train::YoloSpec;
using visionrt::train::YoloV8;

using visionrt::test::run_visionrt;
using visionrt::test::worst;

TEST(TrainYolo, SpecScalesFollowUltralytics) {
  YoloSpec n = YoloSpec::scale('n');
  EXPECT_EQ(train::scaled_channels(n, 64), 16);
  EXPECT_EQ(train::scaled_channels(n, 1024), 256);
  EXPECT_EQ(train::scaled_depth(n, 3), 1);
  EXPECT_EQ(train::scaled_depth(n, 6), 2);
  YoloSpec m = YoloSpec::scale('m');
  EXPECT_EQ(train::scaled_channels(m, 1024), 576);  // max_channels 768 * 0.75
  EXPECT_EQ(train::scaled_depth(m, 3), 2);
  EXPECT_THROW(YoloSpec::scale('q'), InputError);
  // yolov8n: Ultralytics prints "225 layers, 3157200 parameters, 3157184 gradients".
  torch::manual_seed(0);
  YoloV8 net(YoloSpec::scale('n'));
  int64_t params = 0;
  for (auto& p : net->parameters()) params += p.numel();
  EXPECT_EQ(params, 3157200);  // 3,157,184 with gradients: the DFL weights are fixed
}

TEST(TrainYolo, ExportedOnnxMatchesLibtorchOnVisionrt) {
  fs::path dir = test::temp_dir("train_yolo");
  for (const char* task : {"detect", "segment"}) {
    YoloSpec s = YoloSpec::scale('n', task, 3);
    s.width = 0.0625;  // 8..64 channels: a tiny network
    torch::manual_seed(1);
    YoloV8 net(s);
    test::randomize_yolo(*net, 2);
    net->eval();
    torch::Tensor x = torch::rand({1, 3, 64, 96});
    std::vector<torch::Tensor> want;
    {
      torch::NoGradGuard ng;
      want = net->forward(x);
    }
    const std::string path = (dir / (std::string(task) + ".onnx")).string();
    train::export_onnx(*net, path, 64, 96, {"a", "b's", "c"});
    std::vector<torch::Tensor> got = run_visionrt(path, x);
    ASSERT_EQ(got.size(), want.size()) << task;
    EXPECT_EQ(want[0].size(1), 4 + 3 + (std::string(task) == "segment" ? 32 : 0));
    EXPECT_EQ(want[0].size(2), 8 * 12 + 4 * 6 + 2 * 3);  // anchors of strides 8, 16, 32
    for (size_t i = 0; i < got.size(); ++i) {
      const double e = worst(got[i], want[i]);
      std::printf("[train] tiny %s, output %zu: worst relative difference %.2e\n", task, i, e);
      EXPECT_LT(e, 1e-4) << task << i;
    }
    Core core;
    Model m = core.read_model(path);
    EXPECT_EQ(m.metadata().at("task"), task);
    EXPECT_EQ(m.metadata().at("names"), "{0: 'a', 1: 'b\\'s', 2: 'c'}");
    // Its weights load back by name.
    EXPECT_EQ(train::spec_from_onnx(path).task, task);
  }
  EXPECT_THROW(
      train::export_onnx(*YoloV8(YoloSpec::scale('n')), (dir / "x.onnx").string(), 65, 64, {}),
      InputError);
  fs::remove_all(dir);
}

TEST(TrainYolo, UltralyticsWeightsLoadByNameAndReproduceTheExport) {
  const std::string model = test::shared_dir() + "/models/yolov8n-seg/yolov8n-seg.onnx";
  if (!fs::exists(model)) GTEST_SKIP() << model << " absent (../shared not on this machine)";
  YoloSpec s = train::spec_from_onnx(model);
  EXPECT_EQ(s.task, "segment");
  EXPECT_EQ(s.nc, 80);
  EXPECT_DOUBLE_EQ(s.width, 0.25);
  YoloV8 net(s);
  train::load_onnx_weights(*net, model);
  net->eval();
  torch::manual_seed(3);
  torch::Tensor x = torch::rand({1, 3, 640, 640});
  std::vector<torch::Tensor> want;
  {
    torch::NoGradGuard ng;
    want = net->forward(x);
  }
  std::vector<torch::Tensor> got = run_visionrt(model, x);
  ASSERT_EQ(got.size(), 2u);
  const double e0 = worst(got[0], want[0]), e1 = worst(got[1], want[1]);
  std::printf("[train] yolov8n-seg weights: worst relative difference %.2e, prototypes %.2e\n", e0,
              e1);
  EXPECT_LT(e0, 2e-4);  // boxes in pixels, probabilities, coefficients
  EXPECT_LT(e1, 1e-4);  // prototypes
  // Written back by this library: the same outputs from visionrt as Ultralytics' own export.
  fs::path dir = test::temp_dir("train_yolo_bad");
  const std::string again = (dir / "again.onnx").string();
  train::export_onnx(*net, again, 640, 640, {});
  std::vector<torch::Tensor> round = run_visionrt(again, x);
  ASSERT_EQ(round.size(), 2u);
  EXPECT_LT(worst(round[0], got[0]), 2e-4);
  EXPECT_LT(worst(round[1], got[1]), 1e-4);
  // BatchNorm statistics re-estimated on a batch: the eval-mode function is unchanged, and in
  // train mode (batch statistics) the same batch gives the same outputs.
  torch::manual_seed(4);
  torch::Tensor batch = torch::rand({2, 3, 320, 320});
  std::vector<torch::Tensor> before;
  {
    torch::NoGradGuard ng;
    before = net->forward(batch);
  }
  EXPECT_EQ(train::recalibrate_batchnorm(*net, {batch}), 66);  // Conv+BN layers of yolov8n-seg
  {
    torch::NoGradGuard ng;
    std::vector<torch::Tensor> after = net->forward(batch);
    EXPECT_LT(worst(after[0], before[0]), 2e-4);
    net->train();
    std::vector<torch::Tensor> t = net->forward(batch);
    net->eval();
    torch::Tensor decoded = net->decode({t[0], t[1], t[2]});
    EXPECT_LT(worst(decoded, before[0].narrow(1, 0, 84)), 2e-3);
  }
  // A model that is not a YOLOv8 export: the message names the file and what is missing.
  ModelBuilder b(17);
  b.input("x", DType::f32, {1, 3, 8, 8});
  b.node("Relu", {"x"}, {"y"});
  b.output("y", DType::f32);
  const std::string bad = (dir / "relu.onnx").string();
  b.save(bad);
  const std::string msg = test::error_of<ModelError>([&] { train::spec_from_onnx(bad); });
  EXPECT_NE(msg.find("relu.onnx: not an Ultralytics YOLOv8 export"), std::string::npos) << msg;
  fs::remove_all(dir);
}
