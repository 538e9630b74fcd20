// Deformable sampling beyond the reference kernels: the fast DeformConv (kernels/dnnl/
// deform_conv: bilinear im2col + sgemm) and GridSample (kernels/cpu/grid_sample: tap tables)
// against the references on awkward cases, and mmcv's custom ops (MMCVModulatedDeformConv2d /
// MMCVDeformConv2d, as mmdeploy exports DCNv2/DCNv1 at opset 11) lowered at load and computed as
// DeformConv. The references themselves are checked against torchvision's numbers and hand
// computations in ops_misc_test.
#include <gtest/gtest.h>

#include <random>

#include "kernels/node_runner.hpp"
#include "onnx/builder.hpp"
#include "test_util.hpp"
#include "visionrt/core.hpp"
#include "visionrt/error.hpp"

using namespace visionrt;

namespace {

Tensor random_tensor(const Shape& s, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  size_t n = 1;
  for (int64_t d : s) n *= static_cast<size_t>(d);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return Tensor::from_vector<float>(s, v);
}

struct Case {
  Shape x;        // N, C, H, W
  int64_t oc, k;  // output channels, square kernel
  int64_t stride, pad_begin, pad_end, dil, group, og;
  bool bias, mask;
  float offset_range;  // offsets uniform in +-range (pixels)
};

int64_t out_size(int64_t in, const Case& c) {
  return (in + c.pad_begin + c.pad_end - c.dil * (c.k - 1) - 1) / c.stride + 1;
}

struct Built {
  std::string bytes;
  std::vector<Tensor> inputs;  // x, offset[, mask]
  Node node;                   // the same DeformConv for the reference
  Tensor w, b;
};

Built build(const Case& c, uint32_t seed) {
  std::mt19937 rng(seed);
  const int64_t oh = out_size(c.x[2], c), ow = out_size(c.x[3], c), taps = c.k * c.k;
  Built r;
  r.w = random_tensor({c.oc, c.x[1] / c.group, c.k, c.k}, rng, -0.5f, 0.5f);
  r.b = random_tensor({c.oc}, rng, -0.3f, 0.3f);
  r.inputs.push_back(random_tensor(c.x, rng, -1.f, 1.f));
  r.inputs.push_back(
      random_tensor({c.x[0], c.og * taps * 2, oh, ow}, rng, -c.offset_range, c.offset_range));
  if (c.mask) r.inputs.push_back(random_tensor({c.x[0], c.og * taps, oh, ow}, rng, 0.f, 1.f));
  std::map<std::string, Attribute> attrs = {
      {"strides", attr_ints({c.stride, c.stride})},
      {"pads", attr_ints({c.pad_begin, c.pad_begin, c.pad_end, c.pad_end})},
      {"dilations", attr_ints({c.dil, c.dil})},
      {"group", attr_int(c.group)},
      {"offset_group", attr_int(c.og)}};
  ModelBuilder b(19);
  b.input("x", DType::f32, c.x);
  b.input("offset", DType::f32, r.inputs[1].shape());
  if (c.mask) b.input("mask", DType::f32, r.inputs[2].shape());
  b.initializer("w", r.w);
  if (c.bias) b.initializer("b", r.b);
  b.node("DeformConv", {"x", "w", "offset", c.bias ? "b" : "", c.mask ? "mask" : ""}, {"y"}, attrs);
  b.output("y", DType::f32);
  r.bytes = b.serialize();
  r.node = make_node("DeformConv", 5, 1, attrs);
  return r;
}

Tensor reference(const Built& m, const Case& c) {
  const Tensor* mask = c.mask ? &m.inputs[2] : nullptr;
  return run_node_ref(m.node, 19,
                      {&m.inputs[0], &m.w, &m.inputs[1], c.bias ? &m.b : nullptr, mask})[0];
}

struct Compiled {
  Tensor y;
  std::vector<std::string> decisions;
};

Compiled run_compiled(const std::string& bytes, const std::vector<Tensor>& inputs, int threads) {
  Core core;
  CompiledModel cm = core.compile_model(
      core.read_model_from_memory(bytes, "deform.onnx"),
      {{"INFERENCE_NUM_THREADS", std::to_string(threads)}, {"INFERENCE_PRECISION", "f32"}});
  InferRequest r = cm.create_infer_request();
  for (size_t i = 0; i < inputs.size(); ++i) r.set_input_tensor(i, inputs[i]);
  r.infer();
  return {r.get_output_tensor(0).clone(), cm.kernel_decisions()};
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double worst = 0;
  for (size_t i = 0; i < a.numel() && i < b.numel(); ++i)
    worst = std::max(worst, std::fabs(a.at_f64(i) - b.at_f64(i)));
  return worst;
}

bool chose(const std::vector<std::string>& decisions, const std::string& op,
           const std::string& kernel) {
  for (const auto& d : decisions)
    if (d.find(op) != std::string::npos && d.find(": " + kernel) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST(DeformConvFast, MatchesTheReferenceOnAwkwardCases) {
  const std::vector<Case> cases = {
      // DCNv2 3x3, mask and bias, offsets within a pixel.
      {{1, 8, 9, 11}, 6, 3, 1, 1, 1, 1, 1, 1, true, true, 0.9f},
      // Batch 2, weight groups and offset groups, stride 2, asymmetric padding, no bias, offsets
      // of several pixels (samples leave the image on every side).
      {{2, 6, 7, 10}, 4, 3, 2, 1, 0, 1, 2, 3, false, true, 4.f},
      // DCNv1 (no mask), dilation 2, 1x1 output rows.
      {{1, 4, 5, 5}, 3, 3, 1, 2, 2, 2, 1, 2, true, false, 1.5f},
      // Many channels: the column tile covers only part of the positions (tiling).
      {{1, 64, 44, 40}, 16, 3, 1, 1, 1, 1, 1, 1, true, true, 2.f},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    Built m = build(c, 100 + static_cast<uint32_t>(i));
    const Tensor want = reference(m, c);
    for (int threads : {1, 2}) {
      Compiled r = run_compiled(m.bytes, m.inputs, threads);
      EXPECT_TRUE(chose(r.decisions, "DeformConv", "dnnl")) << "case " << i;
      EXPECT_LT(max_abs_diff(r.y, want), 2e-5) << "case " << i << ", " << threads << " threads";
    }
  }
}

TEST(DeformConvFast, ZeroOffsetsAndUnitMaskEqualAPlainConvolution) {
  // An independent check of the tap order and geometry: with offsets 0 and mask 1 DCNv2 is Conv.
  Case c{{1, 5, 8, 9}, 7, 3, 2, 1, 1, 1, 1, 1, true, true, 1.f};
  Built m = build(c, 7);
  for (size_t i = 0; i < m.inputs[1].numel(); ++i) m.inputs[1].data<float>()[i] = 0.f;
  for (size_t i = 0; i < m.inputs[2].numel(); ++i) m.inputs[2].data<float>()[i] = 1.f;
  ModelBuilder conv(17);
  conv.input("x", DType::f32, c.x);
  conv.initializer("w", m.w);
  conv.initializer("b", m.b);
  conv.node("Conv", {"x", "w", "b"}, {"y"},
            {{"strides", attr_ints({2, 2})}, {"pads", attr_ints({1, 1, 1, 1})}});
  conv.output("y", DType::f32);
  Compiled d = run_compiled(m.bytes, m.inputs, 1);
  Compiled k = run_compiled(conv.serialize(), {m.inputs[0]}, 1);
  EXPECT_LT(max_abs_diff(d.y, k.y), 1e-5);
}

TEST(MmcvDeformConv, ModulatedAndPlainLowerToDeformConvAtOpset11) {
  // mmdeploy's DCNv2: inputs (input, offset, mask, weight, bias), _pair attributes.
  Case c{{1, 4, 6, 7}, 6, 3, 1, 1, 1, 1, 2, 2, true, true, 1.2f};
  Built m = build(c, 11);
  ModelBuilder b(11);
  b.input("x", DType::f32, c.x);
  b.input("offset", DType::f32, m.inputs[1].shape());
  b.input("mask", DType::f32, m.inputs[2].shape());
  b.initializer("w", m.w);
  b.initializer("b", m.b);
  b.node("mmcv::MMCVModulatedDeformConv2d", {"x", "offset", "mask", "w", "b"}, {"y"},
         {{"stride", attr_ints({1, 1})},
          {"padding", attr_ints({1, 1})},
          {"dilation", attr_ints({1, 1})},
          {"groups", attr_int(2)},
          {"deform_groups", attr_int(2)}});
  b.output("y", DType::f32);
  Core core;
  Model model = core.read_model_from_memory(b.serialize(), "dcnv2.onnx");
  EXPECT_TRUE(model.unsupported_ops().empty());
  Compiled r = run_compiled(b.serialize(), m.inputs, 2);
  EXPECT_TRUE(chose(r.decisions, "DeformConv", "dnnl"));
  EXPECT_LT(max_abs_diff(r.y, reference(m, c)), 2e-5);

  // DCNv1: (input, offset, weight), no bias; against DeformConv without mask and bias.
  Case v1{{1, 4, 6, 7}, 5, 3, 2, 1, 1, 1, 1, 1, false, false, 1.2f};
  Built m1 = build(v1, 12);
  ModelBuilder b1(11);
  b1.input("x", DType::f32, v1.x);
  b1.input("offset", DType::f32, m1.inputs[1].shape());
  b1.initializer("w", m1.w);
  b1.node("mmcv::MMCVDeformConv2d", {"x", "offset", "w"}, {"y"},
          {{"stride", attr_ints({2, 2})},
           {"padding", attr_ints({1, 1})},
           {"dilation", attr_ints({1, 1})},
           {"groups", attr_int(1)},
           {"deform_groups", attr_int(1)},
           {"bias", attr_int(0)},
           {"im2col_step", attr_int(32)}});
  b1.output("y", DType::f32);
  EXPECT_LT(max_abs_diff(run_compiled(b1.serialize(), m1.inputs, 1).y, reference(m1, v1)), 2e-5);
}

TEST(MmcvDeformConv, MalformedNodesAndReservedNamesAreClearErrors) {
  Core core;
  {  // three inputs for the modulated op: the message names the node and the count
    ModelBuilder b(11);
    b.input("x", DType::f32, {1, 2, 4, 4});
    b.input("o", DType::f32, {1, 18, 4, 4});
    b.initializer("w", Tensor::zeros(DType::f32, {2, 2, 3, 3}));
    b.node("mmcv::MMCVModulatedDeformConv2d", {"x", "o", "w"}, {"y"}, {}, "dcn");
    b.output("y", DType::f32);
    const std::string e = test::error_of<ModelError>(
        [&] { core.read_model_from_memory(b.serialize(), "bad_dcn.onnx"); });
    EXPECT_NE(e.find("bad_dcn.onnx"), std::string::npos) << e;
    EXPECT_NE(e.find("takes 4 or 5 inputs, not 3"), std::string::npos) << e;
  }
  {  // another mmcv op stays unsupported, named with its domain
    ModelBuilder b(11);
    b.input("x", DType::f32, {1, 2, 4, 4});
    b.node("mmcv::MMCVCornerPool", {"x"}, {"y"});
    b.output("y", DType::f32);
    Model m = core.read_model_from_memory(b.serialize(), "pool.onnx");
    ASSERT_EQ(m.unsupported_ops().size(), 1u);
    EXPECT_NE(m.unsupported_ops().begin()->second.find("custom domain 'mmcv'"), std::string::npos);
  }
  {  // internal op names in a file are refused at load
    ModelBuilder b(17);
    b.input("x", DType::f32, {1, 2, 4, 4});
    b.node("visionrt.Activation", {"x"}, {"y"});
    b.output("y", DType::f32);
    const std::string e = test::error_of<ModelError>(
        [&] { core.read_model_from_memory(b.serialize(), "internal.onnx"); });
    EXPECT_NE(e.find("reserved"), std::string::npos) << e;
  }
}

TEST(GridSampleFast, EveryModePaddingAndAlignmentMatchesTheReference) {
  // Batch 2, odd sizes, a grid reaching 30 % beyond the image on every side (padding matters),
  // an output larger than the input (DSConv's snake maps sample K positions per pixel).
  std::mt19937 rng(21);
  const Tensor x = random_tensor({2, 5, 7, 9}, rng, -1.f, 1.f);
  const Tensor grid = random_tensor({2, 11, 13, 2}, rng, -1.3f, 1.3f);
  for (const char* mode : {"nearest", "bilinear", "bicubic", "linear", "cubic"})
    for (const char* pad : {"zeros", "border", "reflection"})
      for (int64_t align : {0, 1}) {
        const int64_t opset =
            std::string(mode) == "linear" || std::string(mode) == "cubic" ? 20 : 16;
        std::map<std::string, Attribute> attrs = {{"mode", attr_string(mode)},
                                                  {"padding_mode", attr_string(pad)},
                                                  {"align_corners", attr_int(align)}};
        ModelBuilder b(opset);
        b.input("x", DType::f32, x.shape());
        b.input("grid", DType::f32, grid.shape());
        b.node("GridSample", {"x", "grid"}, {"y"}, attrs);
        b.output("y", DType::f32);
        const Tensor want =
            run_node_ref(make_node("GridSample", 2, 1, attrs), opset, {&x, &grid})[0];
        Compiled r = run_compiled(b.serialize(), {x, grid}, 2);
        const std::string what = std::string(mode) + "/" + pad + "/" + std::to_string(align);
        EXPECT_TRUE(chose(r.decisions, "GridSample", "cpu")) << what;
        EXPECT_LT(max_abs_diff(r.y, want), 2e-5) << what;
      }
}
