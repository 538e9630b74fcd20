// SSD training pieces: the ONNX graph as a libtorch module (against visionrt's runtime, itself
// judged by the ONNX conformance data), the box coder read off a decode graph, SSD matching and
// the multibox loss against hand computations, the trained model written back, and a run of
// `visionrt train` on an SSD built here. With ../shared: the TF SSD MobileNet's anchors as read
// off its graph equal the anchors file published beside it.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "../unit/test_util.hpp"
#include "common/npy.hpp"
#include "onnx/builder.hpp"
#include "runtime/model_loader.hpp"
#include "train/onnx_module.hpp"
#include "train/ssd_loss.hpp"
#include "train/ssd_task.hpp"
#include "train/tensor_convert.hpp"
#include "train_test_util.hpp"
#include "visionrt/core.hpp"
#include "visionrt/error.hpp"

namespace fs = std::filesystem;
using namespace visionrt;
using namespace visionrt::train;

using visionrt::test::run_visionrt;
using visionrt::test::worst;

namespace {

Tensor seeded(const Shape& s, uint64_t seed, float scale = 0.3f) {
  torch::manual_seed(seed);
  std::vector<int64_t> d(s.begin(), s.end());
  return from_torch(torch::randn(d) * scale);
}

// The anchors of the tiny SSD: two maps (8x8 and 4x4 on a 64x64 input), two anchors per cell,
// as TF writes them: [yc, xc, h, w] normalized.
std::vector<float> tiny_anchors() {
  std::vector<float> a;
  for (int f : {8, 4})
    for (int i = 0; i < f; ++i)
      for (int j = 0; j < f; ++j)
        for (float s : {1.5f / f, 3.0f / f})
          a.insert(a.end(), {(i + 0.5f) / f, (j + 0.5f) / f, s, s * 0.75f});
  return a;
}

// A TF Object Detection API style SSD (as the shared SSD MobileNet): Conv/Clip backbone with
// TF's asymmetric "SAME" pads, box and class heads per map, NHWC reshapes with a leading 1, the
// raw encodings [ty, tx, th, tw] (scales 10, 5), sigmoid scores over `classes` columns (0 is
// background), and the decode to x1, y1, x2, y2 in the graph. Outputs boxes, scores, raw_boxes.
void write_tiny_ssd(const std::string& path, int64_t classes, uint64_t seed) {
  ModelBuilder b(13, 7);
  b.input("input", DType::f32, {1, 3, 64, 64});
  int k = 0;
  auto conv = [&](const std::string& x, int64_t cin, int64_t cout, int64_t kk, int64_t s,
                  std::vector<int64_t> pads, int64_t group, bool clip) {
    const std::string n = "c" + std::to_string(k++);
    b.initializer(n + "_w", seeded({cout, cin / group, kk, kk}, seed + k, 0.4f));
    b.initializer(n + "_b", seeded({cout}, seed + 100 + k, 0.1f));
    b.node("Conv", {x, n + "_w", n + "_b"}, {n},
           {{"kernel_shape", attr_ints({kk, kk})},
            {"strides", attr_ints({s, s})},
            {"pads", attr_ints(pads)},
            {"group", attr_int(group)}});
    if (!clip) return n;
    b.node("Clip", {n, "lo", "hi"}, {n + "_r"});
    return n + "_r";
  };
  b.initializer("lo", Tensor::scalar(0.f)).initializer("hi", Tensor::scalar(6.f));
  std::string x = conv("input", 3, 8, 3, 2, {0, 0, 1, 1}, 1, true);  // 32
  x = conv(x, 8, 8, 3, 2, {0, 0, 1, 1}, 8, true);                    // 16, depthwise
  x = conv(x, 8, 16, 1, 1, {0, 0, 0, 0}, 1, true);
  const std::string f1 = conv(x, 16, 16, 3, 2, {1, 1, 1, 1}, 1, true);   // 8
  const std::string f2 = conv(f1, 16, 16, 3, 2, {0, 0, 1, 1}, 1, true);  // 4
  std::vector<std::string> locs, confs;
  int m = 0;
  for (const std::string& f : {f1, f2}) {
    const std::string l = conv(f, 16, 8, 1, 1, {0, 0, 0, 0}, 1, false);
    const std::string c = conv(f, 16, 2 * classes, 1, 1, {0, 0, 0, 0}, 1, false);
    const std::string sm = "shape" + std::to_string(m++);
    b.initializer(sm + "l", Tensor::from_vector<int64_t>({4}, {1, -1, 1, 4}));
    b.initializer(sm + "c", Tensor::from_vector<int64_t>({3}, {1, -1, classes}));
    b.node("Transpose", {l}, {l + "_t"}, {{"perm", attr_ints({0, 2, 3, 1})}});
    b.node("Reshape", {l + "_t", sm + "l"}, {l + "_r"});
    locs.push_back(l + "_r");
    b.node("Transpose", {c}, {c + "_t"}, {{"perm", attr_ints({0, 2, 3, 1})}});
    b.node("Reshape", {c + "_t", sm + "c"}, {c + "_r"});
    confs.push_back(c + "_r");
  }
  b.node("Concat", locs, {"loc4"}, {{"axis", attr_int(1)}});
  b.initializer("sq", Tensor::from_vector<int64_t>({1}, {2}));
  b.node("Squeeze", {"loc4", "sq"}, {"raw_boxes"});
  b.node("Concat", confs, {"logits"}, {{"axis", attr_int(1)}});
  b.node("Sigmoid", {"logits"}, {"scores"});
  const std::vector<float> a = tiny_anchors();
  const int64_t n = static_cast<int64_t>(a.size() / 4);
  std::vector<float> yx, hw;
  for (int64_t i = 0; i < n; ++i) {
    yx.insert(yx.end(), {a[i * 4], a[i * 4 + 1]});
    hw.insert(hw.end(), {a[i * 4 + 2], a[i * 4 + 3]});
  }
  b.initializer("anchor_yx", Tensor::from_vector<float>({1, n, 2}, yx));
  b.initializer("anchor_hw", Tensor::from_vector<float>({1, n, 2}, hw));
  b.initializer("split", Tensor::from_vector<int64_t>({2}, {2, 2}));
  b.initializer("scale_yx", Tensor::from_vector<float>({2}, {0.1f, 0.1f}));
  b.initializer("scale_hw", Tensor::from_vector<float>({2}, {0.2f, 0.2f}));
  b.initializer("half", Tensor::scalar(0.5f));
  b.initializer("perm", Tensor::from_vector<int64_t>({4}, {1, 0, 3, 2}));
  b.node("Split", {"raw_boxes", "split"}, {"t_yx", "t_hw"}, {{"axis", attr_int(2)}});
  b.node("Mul", {"t_yx", "scale_yx"}, {"t_yx_s"});
  b.node("Mul", {"t_yx_s", "anchor_hw"}, {"d_yx"});
  b.node("Add", {"d_yx", "anchor_yx"}, {"ctr"});
  b.node("Mul", {"t_hw", "scale_hw"}, {"t_hw_s"});
  b.node("Exp", {"t_hw_s"}, {"e_hw"});
  b.node("Mul", {"e_hw", "anchor_hw"}, {"size"});
  b.node("Mul", {"size", "half"}, {"half_size"});
  b.node("Sub", {"ctr", "half_size"}, {"p1"});
  b.node("Add", {"ctr", "half_size"}, {"p2"});
  b.node("Concat", {"p1", "p2"}, {"yxyx"}, {{"axis", attr_int(2)}});
  b.node("Gather", {"yxyx", "perm"}, {"boxes"}, {{"axis", attr_int(2)}});
  b.output("boxes", DType::f32, {1, n, 4})
      .output("scores", DType::f32, {1, n, classes})
      .output("raw_boxes", DType::f32, {1, n, 4});
  std::string names = "{0: 'background'";
  for (int64_t c = 1; c < classes; ++c)
    names += ", " + std::to_string(c) + ": 'class" + std::to_string(c) + "'";
  b.metadata("names", names + "}");
  b.save(path);
}

// Many of the operators OnnxModule runs, in one graph (shapes odd on purpose).
void write_op_zoo(const std::string& path) {
  ModelBuilder b(17, 8);
  b.input("x", DType::f32, {1, 5, 13, 11});
  b.initializer("w0", seeded({6, 5, 3, 3}, 1)).initializer("b0", seeded({6}, 2, 0.1f));
  b.node("Conv", {"x", "w0", "b0"}, {"c0"},
         {{"kernel_shape", attr_ints({3, 3})},
          {"pads", attr_ints({1, 0, 2, 1})},
          {"strides", attr_ints({2, 1})}});
  b.initializer("bn_s", seeded({6}, 3)).initializer("bn_b", seeded({6}, 4));
  b.initializer("bn_m", seeded({6}, 5)).initializer("bn_v", from_torch(torch::rand({6}) + 0.5));
  b.node("BatchNormalization", {"c0", "bn_s", "bn_b", "bn_m", "bn_v"}, {"bn"},
         {{"epsilon", attr_float(1e-3f)}});
  b.node("HardSwish", {"bn"}, {"hs"});
  b.node("MaxPool", {"hs"}, {"mp"},
         {{"kernel_shape", attr_ints({3, 3})},
          {"strides", attr_ints({2, 2})},
          {"pads", attr_ints({0, 0, 1, 1})}});
  b.initializer("scales", Tensor::from_vector<float>({4}, {1, 1, 2, 2}));
  b.node("Resize", {"mp", "", "scales"}, {"up"},
         {{"mode", attr_string("nearest")},
          {"coordinate_transformation_mode", attr_string("asymmetric")},
          {"nearest_mode", attr_string("floor")}});
  b.initializer("split", Tensor::from_vector<int64_t>({2}, {3, 3}));
  b.node("Split", {"up", "split"}, {"s0", "s1"}, {{"axis", attr_int(1)}});
  b.node("HardSigmoid", {"s0"}, {"hsg"},
         {{"alpha", attr_float(0.25f)}, {"beta", attr_float(0.4f)}});
  b.node("LeakyRelu", {"s1"}, {"lr"}, {{"alpha", attr_float(0.1f)}});
  b.initializer("st", Tensor::from_vector<int64_t>({2}, {-1, 1}));
  b.initializer("en", Tensor::from_vector<int64_t>({2}, {-100, 100}));
  b.initializer("ax", Tensor::from_vector<int64_t>({2}, {1, 3}));
  b.initializer("sp", Tensor::from_vector<int64_t>({2}, {-1, 2}));
  b.node("Slice", {"lr", "st", "en", "ax", "sp"}, {"sl"});  // channels reversed, every 2nd column
  b.node("ReduceMean", {"sl"}, {"rm"}, {{"axes", attr_ints({3})}, {"keepdims", attr_int(1)}});
  b.node("Mul", {"hsg", "rm"}, {"mu"});
  b.node("Concat", {"mu", "sl"}, {"cat"}, {{"axis", attr_int(3)}});
  b.initializer("pads", Tensor::from_vector<int64_t>({8}, {0, 0, 1, 2, 0, 0, 2, 1}));
  b.node("Pad", {"cat", "pads"}, {"pad"}, {{"mode", attr_string("reflect")}});
  b.initializer("wt", seeded({3, 2, 2, 2}, 6));
  b.node("ConvTranspose", {"pad", "wt"}, {"ct"},
         {{"kernel_shape", attr_ints({2, 2})}, {"strides", attr_ints({2, 2})}});
  b.node("Shape", {"ct"}, {"shp"});
  b.initializer("i0", Tensor::from_vector<int64_t>({1}, {0}));
  b.node("Gather", {"shp", "i0"}, {"batch"}, {{"axis", attr_int(0)}});
  b.initializer("m1", Tensor::from_vector<int64_t>({1}, {-1}));
  b.node("Concat", {"batch", "m1"}, {"flat_shape"}, {{"axis", attr_int(0)}});
  b.node("Reshape", {"ct", "flat_shape"}, {"flat"});
  b.node("GlobalAveragePool", {"pad"}, {"gap"});
  b.node("Flatten", {"gap"}, {"gf"}, {{"axis", attr_int(1)}});
  b.initializer("wg", seeded({5, 3}, 7)).initializer("bg", seeded({5}, 8));
  b.node("Gemm", {"gf", "wg", "bg"}, {"gm"},
         {{"transB", attr_int(1)}, {"alpha", attr_float(0.7f)}});
  b.node("Softmax", {"gm"}, {"sm"}, {{"axis", attr_int(-1)}});
  b.initializer("wm", seeded({5, 4}, 9));
  b.node("MatMul", {"sm", "wm"}, {"mm"});
  b.initializer("two", Tensor::scalar(2.f));
  b.node("Pow", {"mm", "two"}, {"pw"});
  b.node("Div", {"pw", "two"}, {"dv"});
  b.output("flat", DType::f32).output("dv", DType::f32);
  b.save(path);
}

}  // namespace

TEST(OnnxModule, MatchesTheRuntimeOnManyOperatorsAndAnyBatch) {
  const fs::path dir = test::temp_dir("onnx_module");
  const std::string path = (dir / "zoo.onnx").string();
  write_op_zoo(path);
  OnnxModule m(path);
  torch::manual_seed(11);
  const torch::Tensor x = torch::randn({2, 5, 13, 11});
  auto both = m->run({x}, {"flat", "dv"});
  for (int64_t i = 0; i < 2; ++i) {
    const std::vector<torch::Tensor> ref = run_visionrt(path, x.slice(0, i, i + 1));
    EXPECT_LT(worst(both.at("flat").slice(0, i, i + 1), ref[0]), 1e-5) << "image " << i;
    EXPECT_LT(worst(both.at("dv").slice(0, i, i + 1), ref[1]), 1e-5) << "image " << i;
  }
  // Gradients reach every parameter (Conv, BatchNorm, ConvTranspose, Gemm, MatMul).
  (both.at("flat").sum() + both.at("dv").sum()).backward();
  int with_grad = 0;
  for (const auto& p : m->named_parameters()) {
    EXPECT_TRUE(p.value().grad().defined()) << p.key();
    if (p.value().grad().defined() && p.value().grad().abs().sum().item<double>() > 0) ++with_grad;
  }
  EXPECT_EQ(with_grad, 8);                   // w0 b0 bn_s bn_b wt wg bg wm
  EXPECT_EQ(m->named_buffers().size(), 2u);  // bn_m bn_v
}

TEST(OnnxModule, WritesTheTrainedWeightsBackIntoTheOriginal) {
  const fs::path dir = test::temp_dir("onnx_module_write");
  const std::string path = (dir / "ssd.onnx").string(), out = (dir / "trained.onnx").string();
  write_tiny_ssd(path, 6, 5);
  OnnxModule m(path);
  {
    torch::NoGradGuard ng;
    for (auto& p : m->parameters()) p.add_(0.05);
  }
  m->write_onnx(out, {{"author", "test"}});
  torch::manual_seed(3);
  const torch::Tensor x = torch::rand({1, 3, 64, 64});
  auto mine = m->run({x}, {"boxes", "scores", "raw_boxes"});
  const std::vector<torch::Tensor> ref = run_visionrt(out, x), orig = run_visionrt(path, x);
  EXPECT_LT(worst(mine.at("boxes"), ref[0]), 1e-5);
  EXPECT_LT(worst(mine.at("scores"), ref[1]), 1e-5);
  EXPECT_LT(worst(mine.at("raw_boxes"), ref[2]), 1e-5);
  EXPECT_GT(worst(ref[1], orig[1]), 1e-3);  // the weights did change
  Core core;
  CompiledModel cm = core.compile_model(out);
  EXPECT_EQ(cm.metadata().at("author"), "test");
  EXPECT_NE(cm.metadata().at("names").find("'class2'"), std::string::npos);  // kept
}

// Conv -> BatchNormalization (momentum 0.8) -> Relu, the BN statistics not the batch's.
TEST(OnnxModule, BatchNormTrainsOnBatchStatisticsOnlyWhenAsked) {
  const fs::path dir = test::temp_dir("onnx_module_bn");
  const std::string path = (dir / "bn.onnx").string(), out = (dir / "trained.onnx").string();
  torch::manual_seed(5);
  const torch::Tensor w = torch::randn({4, 3, 3, 3}) * 0.3;
  const torch::Tensor mean0 = torch::full({4}, 0.5f), var0 = torch::full({4}, 2.f);
  const torch::Tensor gamma = torch::rand({4}) + 0.5, beta = torch::randn({4});
  ModelBuilder b;
  b.input("x", DType::f32, {-1, 3, 8, 8})
      .initializer("w", from_torch(w))
      .initializer("g", from_torch(gamma))
      .initializer("b", from_torch(beta))
      .initializer("m", from_torch(mean0))
      .initializer("v", from_torch(var0))
      .node("Conv", {"x", "w"}, {"c"}, {{"pads", attr_ints({1, 1, 1, 1})}})
      .node("BatchNormalization", {"c", "g", "b", "m", "v"}, {"n"},
            {{"epsilon", attr_float(1e-5f)}, {"momentum", attr_float(0.8f)}})
      .node("Relu", {"n"}, {"y"})
      .output("y", DType::f32);
  b.save(path);
  const torch::Tensor x = torch::randn({4, 3, 8, 8});
  const torch::Tensor c = torch::conv2d(x, w, {}, 1, 1);

  OnnxModule frozen(path);
  frozen->train();
  const torch::Tensor yf = frozen->run({x}, {"y"}).at("y");
  const torch::Tensor ref_frozen =
      torch::relu(torch::batch_norm(c, gamma, beta, mean0, var0, false, 0, 1e-5, false));
  EXPECT_LT(worst(yf, ref_frozen), 1e-5);

  OnnxModule m(path);
  m->train_batchnorm = true;
  m->train();
  const torch::Tensor y = m->run({x}, {"y"}).at("y");
  // By hand: normalised by the batch's mean and (biased) variance per channel ...
  const torch::Tensor bm = c.mean({0, 2, 3}), bv = c.var({0, 2, 3}, false);
  const torch::Tensor want =
      torch::relu((c - bm.view({1, 4, 1, 1})) / torch::sqrt(bv.view({1, 4, 1, 1}) + 1e-5) *
                      gamma.view({1, 4, 1, 1}) +
                  beta.view({1, 4, 1, 1}));
  EXPECT_LT(worst(y, want), 1e-4);
  // ... the running statistics moved by ONNX's momentum (0.8 of the old value; torch's variance
  // is the unbiased one) and go into the written model, which visionrt then runs with them.
  const double n = 4.0 * 8 * 8;
  const torch::Tensor mean1 = mean0 * 0.8 + bm * 0.2, var1 = var0 * 0.8 + bv * (n / (n - 1)) * 0.2;
  m->write_onnx(out);
  m->eval();
  const torch::Tensor ye = m->run({x}, {"y"}).at("y");
  const torch::Tensor ref_eval =
      torch::relu(torch::batch_norm(c, gamma, beta, mean1, var1, false, 0, 1e-5, false));
  EXPECT_LT(worst(ye, ref_eval), 1e-4);
  EXPECT_LT(worst(run_visionrt(out, x)[0], ref_eval), 1e-4);
  EXPECT_GT(worst(ref_eval, ref_frozen), 1e-2);  // the statistics did change
}

TEST(OnnxModule, AModelWithExternalDataIsWrittenSelfContained) {
  // Weights in a file beside the model: the trained copy, written in another folder, carries
  // them inline and runs there.
  const fs::path dir = test::temp_dir("onnx_module_external");
  fs::create_directories(dir / "a");
  fs::create_directories(dir / "b");
  ModelBuilder b(13, 7);
  b.input("x", DType::f32, {1, 3, 8, 8});
  // w is a parameter (replaced on writing); k, a plain constant, is not.
  b.initializer("w", seeded({4, 3, 3, 3}, 1)).initializer("k", seeded({1, 4, 1, 1}, 2));
  b.node("Conv", {"x", "w"}, {"y"}, {{"kernel_shape", attr_ints({3, 3})}});
  b.node("Mul", {"y", "k"}, {"z"});
  b.output("z", DType::f32);
  b.external("w", "weights.bin").external("k", "weights_k.bin");
  b.save((dir / "a" / "m.onnx").string());
  OnnxModule m((dir / "a" / "m.onnx").string());
  const std::string out = (dir / "b" / "trained.onnx").string();
  m->write_onnx(out);
  torch::manual_seed(2);
  const torch::Tensor x = torch::rand({1, 3, 8, 8});
  torch::NoGradGuard ng;
  EXPECT_LT(worst(m->run({x}, {"z"}).at("z"), run_visionrt(out, x)[0]), 1e-5);
  EXPECT_FALSE(fs::exists(dir / "b" / "weights.bin"));
}

TEST(SsdCoder, ReadOffTheDecodeGraphAndRoundTrips) {
  const fs::path dir = test::temp_dir("ssd_coder");
  const std::string path = (dir / "ssd.onnx").string();
  write_tiny_ssd(path, 6, 1);
  SsdModel s = load_ssd(path);
  EXPECT_TRUE(s.sigmoid);
  EXPECT_EQ(s.encodings, "raw_boxes");
  EXPECT_EQ(s.logits, "logits");
  EXPECT_EQ(s.classes, 6);
  // TF's order (ty, tx, th, tw) and scales 10 / 5, anchors as written (yc, xc, h, w).
  EXPECT_EQ(s.coder.order, (std::array<int, 4>{1, 0, 3, 2}));
  for (int k = 0; k < 4; ++k) EXPECT_NEAR(s.coder.variance[k], k < 2 ? 0.1 : 0.2, 1e-6);
  const std::vector<float> a = tiny_anchors();
  ASSERT_EQ(s.coder.anchors.size(0), static_cast<int64_t>(a.size() / 4));
  auto acc = s.coder.anchors.accessor<float, 2>();
  for (int64_t i = 0; i < s.coder.anchors.size(0); ++i) {
    EXPECT_NEAR(acc[i][0], a[i * 4 + 1], 1e-6);
    EXPECT_NEAR(acc[i][1], a[i * 4], 1e-6);
    EXPECT_NEAR(acc[i][2], a[i * 4 + 3], 1e-6);
    EXPECT_NEAR(acc[i][3], a[i * 4 + 2], 1e-6);
  }
  // encode then decode gives the boxes back; the graph's own decode agrees with ours.
  const torch::Tensor boxes = torch::tensor({{0.1f, 0.2f, 0.5f, 0.45f}, {0.6f, 0.05f, 0.9f, 0.7f}});
  const torch::Tensor anchors = s.coder.anchors.slice(0, 3, 5);
  const torch::Tensor enc = s.coder.encode(boxes, anchors);
  SsdCoder two = s.coder;
  two.anchors = anchors;
  EXPECT_LT((two.decode(enc) - boxes).abs().max().item<double>(), 1e-6);
  torch::Tensor full = torch::zeros({1, s.coder.anchors.size(0), 4});
  full.slice(1, 3, 5).copy_(enc.unsqueeze(0));
  torch::NoGradGuard ng;
  auto out = s.net->run({torch::zeros({1, 3, 64, 64})}, {"boxes"}, {{"raw_boxes", full}});
  EXPECT_LT((out.at("boxes")[0].slice(0, 3, 5) - boxes).abs().max().item<double>(), 1e-6);
}

TEST(SsdMatch, EveryBoxKeepsItsBestAnchorAndOverlapsAboveHalfMatch) {
  // Anchors: 0 = [0,0,1,1], 1 = [0,0,0.5,1], 2 = [0.5,0,1,1], 3 = [0.9,0.9,1,1].
  const torch::Tensor anchors = torch::tensor(
      {{0.f, 0.f, 1.f, 1.f}, {0.f, 0.f, .5f, 1.f}, {.5f, 0.f, 1.f, 1.f}, {.9f, .9f, 1.f, 1.f}});
  // Box A = [0,0,0.6,1]: IoU with 0 is 0.6, with 1 is 0.5/0.6 = 0.833, with 2 is 0.1/1 = 0.1.
  // Box B = [0.8,0.8,1,1]: IoU with 3 is 0.01/0.04 = 0.25 (its best: forced), with 0 0.04.
  const torch::Tensor gt = torch::tensor({{0.f, 0.f, .6f, 1.f}, {.8f, .8f, 1.f, 1.f}});
  const torch::Tensor iou = box_iou_matrix(gt, anchors);
  EXPECT_NEAR(iou[0][0].item<float>(), 0.6f, 1e-6);
  EXPECT_NEAR(iou[0][1].item<float>(), 0.5f / 0.6f, 1e-6);
  EXPECT_NEAR(iou[1][3].item<float>(), 0.25f, 1e-6);
  const torch::Tensor m = ssd_match(gt, anchors, 0.5);
  EXPECT_EQ(m[0].item<int64_t>(), 0);   // 0.6 >= 0.5
  EXPECT_EQ(m[1].item<int64_t>(), 0);   // best anchor of A
  EXPECT_EQ(m[2].item<int64_t>(), -1);  // 0.1
  EXPECT_EQ(m[3].item<int64_t>(), 1);   // forced: B's best, though 0.25 < 0.5
}

TEST(MultiboxLoss, EqualsAHandComputation) {
  // One image, four anchors (cx, cy, w, h), one box equal to anchor 0 shifted by 0.01 in x.
  SsdCoder c;
  c.anchors = torch::tensor({{.25f, .25f, .5f, .5f},
                             {.75f, .75f, .5f, .5f},
                             {.25f, .75f, .5f, .5f},
                             {.75f, .25f, .5f, .5f}});
  const torch::Tensor targets = torch::tensor({{0.f, 2.f, .26f, .25f, .5f, .5f}});
  const torch::Tensor enc = torch::tensor(
      {{{0.3f, 0.f, 0.f, 2.f}, {1.f, 1.f, 1.f, 1.f}, {0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}}});
  const torch::Tensor logits =
      torch::tensor({{{0.f, 1.f, 2.f}, {3.f, 0.f, 0.f}, {0.f, 2.f, 0.f}, {1.f, 1.f, 0.f}}});
  MultiboxLoss loss;
  loss.neg_pos = 1;  // one hard negative for the one positive
  MultiboxParts p = loss(enc, logits, targets, c);
  EXPECT_EQ(p.positives, 1);
  // Target encoding of anchor 0: x (0.26 - 0.25) / (0.5 * 0.1) = 0.2, the rest 0.
  // Smooth-L1: |0.3 - 0.2| = 0.1 -> 0.5 * 0.01 = 0.005; |2 - 0| = 2 -> 1.5. Sum 1.505.
  EXPECT_NEAR(p.box, 1.505, 1e-5);
  // Softmax cross-entropy: positive anchor 0 class 2; negatives' background loss: anchor 1
  // log(e^3 + 2) - 3, anchor 2 log(2 + e^2) - 0 (the hardest), anchor 3 log(2e + 1) - 1.
  auto lse = [](std::vector<double> v) {
    double s = 0;
    for (double x : v) s += std::exp(x);
    return std::log(s);
  };
  const double pos = lse({0, 1, 2}) - 2, hard = lse({0, 2, 0});
  EXPECT_GT(hard, lse({3, 0, 0}) - 3);
  EXPECT_GT(hard, lse({1, 1, 0}) - 1);
  EXPECT_NEAR(p.cls, pos + hard, 1e-5);
  EXPECT_NEAR(p.total.item<double>(), 1.505 + pos + hard, 1e-5);
  // Sigmoid: per anchor the binary cross-entropy summed over the columns against the one-hot
  // class; a negative's target is all zeros (column 0 is never a target).
  loss.sigmoid = true;
  p = loss(enc, logits, targets, c);
  auto bce = [](double z, double t) {
    return std::log1p(std::exp(-std::abs(z))) + std::max(z, 0.0) - z * t;
  };
  const double pos_s = bce(0, 0) + bce(1, 0) + bce(2, 1);
  double neg_s = 0;
  for (auto row : std::vector<std::vector<double>>{{3, 0, 0}, {0, 2, 0}, {1, 1, 0}}) {
    const double l = bce(row[0], 0) + bce(row[1], 0) + bce(row[2], 0);
    neg_s = std::max(neg_s, l);
  }
  EXPECT_NEAR(p.cls, pos_s + neg_s, 1e-5);
}

TEST(SsdTraining, LossFallsOnAFixedBatchThroughTheGraph) {
  const fs::path dir = test::temp_dir("ssd_fit");
  const std::string path = (dir / "ssd.onnx").string();
  write_tiny_ssd(path, 6, 9);
  SsdModel s = load_ssd(path);
  torch::manual_seed(0);
  const torch::Tensor x = torch::rand({2, 3, 64, 64});
  const torch::Tensor targets = torch::tensor({{0.f, 1.f, .3f, .3f, .3f, .25f},
                                               {1.f, 2.f, .6f, .5f, .4f, .4f},
                                               {1.f, 1.f, .2f, .8f, .2f, .2f}});
  MultiboxLoss loss;
  loss.sigmoid = s.sigmoid;
  torch::optim::SGD opt(s.net->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
  double first = 0, last = 0;
  for (int i = 0; i < 30; ++i) {
    opt.zero_grad();
    auto out = s.net->run({x}, {s.encodings, s.logits});
    MultiboxParts p = loss(out.at(s.encodings), out.at(s.logits), targets, s.coder);
    if (i == 0) first = p.total.item<double>();
    last = p.total.item<double>();
    p.total.backward();
    opt.step();
  }
  EXPECT_LT(last, 0.5 * first) << "first " << first << " last " << last;
}

TEST(SsdTraining, NotAnSsdOrNoEncodingsIsOneClearError) {
  const fs::path dir = test::temp_dir("ssd_bad");
  const std::string path = (dir / "zoo.onnx").string();
  write_op_zoo(path);
  const std::string e = test::error_of<ModelError>([&] { load_ssd(path); });
  EXPECT_NE(e.find("zoo.onnx"), std::string::npos) << e;
}

TEST(SsdTrainCli, FineTunesAnSsdAndExportsWhatPredictTakes) {
  const fs::path dir = test::temp_dir("ssd_cli");
  const std::string model = (dir / "ssd.onnx").string();
  write_tiny_ssd(model, 6, 2);
  for (int i = 0; i < 4; ++i) {
    cv::Mat img(64, 80, CV_8UC3, cv::Scalar(90, 90, 90));
    const int x = 8 + 10 * i, y = 6 + 6 * i;
    cv::rectangle(img, {x, y, 26, 22}, i % 2 ? cv::Scalar(0, 0, 255) : cv::Scalar(255, 0, 0),
                  cv::FILLED);
    const std::string stem = "im" + std::to_string(i);
    fs::create_directories(dir / "images" / "train");
    fs::create_directories(dir / "labels" / "train");
    cv::imwrite((dir / "images" / "train" / (stem + ".png")).string(), img);
    std::ofstream(dir / "labels" / "train" / (stem + ".txt"))
        << (i % 2) << " " << (x + 13) / 80.0 << " " << (y + 11) / 64.0 << " " << 26 / 80.0 << " "
        << 22 / 64.0 << "\n";
  }
  std::ofstream(dir / "data.yaml")
      << "path: .\ntrain: images/train\nval: images/train\nnames:\n  0: class1\n  1: class2\n";
  const std::string cli = std::string(VISIONRT_CLI);
  std::string out;
  int rc = test::run_command(
      cli + " train --model " + model + " --data " + (dir / "data.yaml").string() +
          " --epochs 2 --batch 2 --threads 1 -q --out " + (dir / "run").string(),
      &out);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("SSD ssd.onnx: 5 classes + background (sigmoid)"), std::string::npos) << out;
  EXPECT_NE(out.find("before training (at 64)"), std::string::npos) << out;
  std::ifstream csv(dir / "run" / "results.csv");
  std::string header;
  std::getline(csv, header);
  EXPECT_EQ(header,
            "epoch,train/box_loss,train/cls_loss,metrics/mAP50(B),metrics/mAP50-95(B),lr/pg0,time");
  const std::string best = (dir / "run" / "weights" / "best.onnx").string();
  rc = test::run_command(cli + " predict --model " + best + " " +
                             (dir / "images" / "train" / "im0.png").string() +
                             " --conf 0.01 --no-save --out " + (dir / "pred").string(),
                         &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("ssd"), std::string::npos) << out;
  // --imgsz cannot change an SSD's fixed input.
  rc = test::run_command(cli + " train --model " + model + " --data " +
                             (dir / "data.yaml").string() + " --imgsz 128 --epochs 1 --out " +
                             (dir / "run2").string(),
                         &out);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("fixed at 64x64"), std::string::npos) << out;
}

TEST(SsdShared, MobileNetAnchorsReadOffTheGraphEqualThePublishedFile) {
  const fs::path dir = fs::path(test::shared_dir()) / "models" / "ssd_mobilenet_v1_075_coco";
  const fs::path model = dir / "ssd_mobilenet_v1_075_coco_300.onnx";
  if (!fs::exists(model)) GTEST_SKIP() << model << " absent (a fresh machine)";
  SsdModel s = load_ssd(model.string());
  EXPECT_TRUE(s.sigmoid);
  EXPECT_EQ(s.classes, 91);
  EXPECT_EQ(s.coder.order, (std::array<int, 4>{1, 0, 3, 2}));
  const Tensor npy = read_npy((dir / "anchors_1917x4_yxhw.npy").string());
  ASSERT_EQ(npy.shape(), (Shape{1917, 4}));
  const torch::Tensor yxhw = to_torch(npy);
  const torch::Tensor xywh =
      torch::stack({yxhw.select(1, 1), yxhw.select(1, 0), yxhw.select(1, 3), yxhw.select(1, 2)}, 1);
  EXPECT_LT((s.coder.anchors - xywh).abs().max().item<double>(), 1e-5);
  // The graph in libtorch equals the runtime on a real image's input.
  torch::manual_seed(4);
  const torch::Tensor x = torch::rand({1, 3, 300, 300}) * 2 - 1;
  const std::vector<torch::Tensor> ref = run_visionrt(model.string(), x);
  torch::NoGradGuard ng;
  auto mine = s.net->run({x}, {"boxes", "scores"});
  EXPECT_LT(worst(mine.at("boxes"), ref[0]), 1e-4);
  EXPECT_LT(worst(mine.at("scores"), ref[1]), 1e-4);
}

TEST(SsdTrainCli, SsdConfigsBuildTrainFromScratchAndPredict) {
  // Four classes of coloured rectangles; `model: ssd300_vgg16` builds the original SSD300 (raw
  // loc/conf head on the 8732 SSD300 priors, softmax with background in column 0),
  // `model: ssdlite320_mobilenet_v2` SSDlite on MobileNetV2 (3234 SSDlite priors, BatchNorm
  // everywhere); each trains one epoch and predict takes what it wrote.
  const fs::path dir = test::temp_dir("ssd300_cfg");
  const cv::Scalar colours[] = {{255, 0, 0}, {0, 0, 255}, {0, 255, 0}, {0, 255, 255}};
  fs::create_directories(dir / "images" / "train");
  fs::create_directories(dir / "labels" / "train");
  for (int i = 0; i < 4; ++i) {
    cv::Mat img(120, 160, CV_8UC3, cv::Scalar(90, 90, 90));
    const int x = 20 + 20 * i, y = 15 + 10 * i;
    cv::rectangle(img, {x, y, 50, 40}, colours[i], cv::FILLED);
    const std::string stem = "im" + std::to_string(i);
    cv::imwrite((dir / "images" / "train" / (stem + ".png")).string(), img);
    std::ofstream(dir / "labels" / "train" / (stem + ".txt"))
        << i << " " << (x + 25) / 160.0 << " " << (y + 20) / 120.0 << " " << 50 / 160.0 << " "
        << 40 / 120.0 << "\n";
  }
  std::ofstream(dir / "data.yaml") << "path: .\ntrain: images/train\nval: images/train\nnames:\n"
                                      "  0: blue\n  1: red\n  2: green\n  3: yellow\n";
  const std::string cli = std::string(VISIONRT_CLI);
  std::string out;
  int rc = 0;
  for (const char* model : {"ssd300_vgg16", "ssdlite320_mobilenet_v2"}) {
    SCOPED_TRACE(model);
    const bool lite = std::string(model) != "ssd300_vgg16";
    std::ofstream(dir / "ssd.yaml") << "model: " << model << "\n";
    const fs::path run = dir / (std::string("run_") + model);
    rc = test::run_command(cli + " train --cfg " + (dir / "ssd.yaml").string() + " --data " +
                               (dir / "data.yaml").string() +
                               " --epochs 1 --batch 2 --threads 2 -q --out " + run.string(),
                           &out);
    ASSERT_EQ(rc, 0) << out;
    EXPECT_NE(out.find(lite ? "3234 anchors" : "8732 anchors, encodings (xywh)"), std::string::npos)
        << out;
    EXPECT_NE(out.find("SSD init.onnx: 4 classes + background (softmax)"), std::string::npos)
        << out;
    const std::string best = (run / "weights" / "best.onnx").string();
    rc = test::run_command(cli + " predict --model " + best + " " +
                               (dir / "images" / "train" / "im0.png").string() +
                               " --no-save --out " + (dir / "pred").string(),
                           &out);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("ssd"), std::string::npos) << out;
    if (lite) {
      // Built from scratch, its BatchNorms trained on batch statistics (--bn auto): the running
      // means written into the model moved away from their initial zeros.
      std::shared_ptr<Graph> g = load_model_file(best);
      double moved = 0;
      for (const Value& v : g->values)
        if (v.constant && v.name.size() > 5 && v.name.compare(v.name.size() - 5, 5, ".mean") == 0)
          for (size_t i = 0; i < v.constant->numel(); ++i)
            moved = std::max(moved, std::abs(v.constant->at_f64(i)));
      EXPECT_GT(moved, 1e-3);
    }
  }
  // Keys that belong to YOLOv8 are refused for it.
  std::ofstream(dir / "bad.yaml") << "model: ssd300_vgg16\ndcn: [6]\n";
  rc = test::run_command(cli + " train --cfg " + (dir / "bad.yaml").string() + " --data " +
                             (dir / "data.yaml").string(),
                         &out);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("'dcn' does not apply to ssd300_vgg16"), std::string::npos) << out;
}
