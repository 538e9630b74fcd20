// Op behaviour the conformance data does not cover: data-dependent errors (indices out of
// range, impossible shapes) must be clean InputError/ModelError, never UB; plus hand-computed
// cases for NMS ordering, Resize and Conv padding.
#include <gtest/gtest.h>

#include "kernels/node_runner.hpp"
#include "ops/op_registry.hpp"

using namespace visionrt;

namespace {
std::vector<float> floats(const Tensor& t) {
  std::vector<float> v(t.numel());
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(t.at_f64(i));
  return v;
}
}  // namespace

TEST(Ops, GatherAndScatterRejectOutOfRangeIndices) {
  Tensor data = Tensor::from_vector<float>({3}, {1, 2, 3});
  Tensor idx = Tensor::from_vector<int64_t>({2}, {-1, 3});
  EXPECT_THROW(run_node_ref(make_node("Gather", 2, 1), 17, {&data, &idx}), InputError);
  Tensor ok = Tensor::from_vector<int64_t>({2}, {-1, 0});
  EXPECT_EQ(floats(run_node_ref(make_node("Gather", 2, 1), 17, {&data, &ok})[0]),
            (std::vector<float>{3, 1}));
  Tensor nd_idx = Tensor::from_vector<int64_t>({1, 1}, {7});
  Tensor upd = Tensor::from_vector<float>({1}, {9});
  EXPECT_THROW(run_node_ref(make_node("ScatterND", 3, 1), 17, {&data, &nd_idx, &upd}), InputError);
  Tensor ge_idx = Tensor::from_vector<int64_t>({1}, {-4});
  EXPECT_THROW(run_node_ref(make_node("GatherElements", 2, 1), 17, {&data, &ge_idx}), InputError);
}

TEST(Ops, ImpossibleShapesAreModelErrors) {
  Tensor x = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor bad = Tensor::from_vector<int64_t>({2}, {4, -1});
  EXPECT_THROW(run_node_ref(make_node("Reshape", 2, 1), 17, {&x, &bad}), ModelError);
  Tensor two_infer = Tensor::from_vector<int64_t>({2}, {-1, -1});
  EXPECT_THROW(run_node_ref(make_node("Reshape", 2, 1), 17, {&x, &two_infer}), ModelError);
  Tensor y = Tensor::from_vector<float>({3, 2}, {1, 2, 3, 4, 5, 6});
  EXPECT_THROW(run_node_ref(make_node("Concat", 2, 1, {{"axis", attr_int(0)}}), 17, {&x, &y}),
               ModelError);
  EXPECT_THROW(run_node_ref(make_node("Add", 2, 1), 17, {&x, &y}), ModelError);
  EXPECT_THROW(run_node_ref(make_node("MatMul", 2, 1), 17, {&x, &x}), ModelError);
  Tensor w = Tensor::from_vector<float>({1, 1, 5, 5}, std::vector<float>(25, 1));
  Tensor img = Tensor::from_vector<float>({1, 1, 2, 2}, {1, 2, 3, 4});
  EXPECT_THROW(run_node_ref(make_node("Conv", 2, 1), 17, {&img, &w}),
               ModelError);  // window > input
}

TEST(Ops, NmsKeepsHigherScoreAndLowerIndexOnTies) {
  // Boxes 0 and 1 overlap (IoU 90/100 = 0.9), box 2 is apart; boxes 0 and 1 tie on score.
  Tensor boxes =
      Tensor::from_vector<float>({1, 3, 4}, {0, 0, 10, 10, 0, 1, 10, 10, 20, 20, 30, 30});
  Tensor scores = Tensor::from_vector<float>({1, 1, 3}, {0.9f, 0.9f, 0.5f});
  Tensor max_out = Tensor::from_vector<int64_t>({1}, {10});
  Tensor iou = Tensor::from_vector<float>({1}, {0.5f});
  auto out =
      run_node_ref(make_node("NonMaxSuppression", 4, 1), 17, {&boxes, &scores, &max_out, &iou});
  EXPECT_EQ(out[0].to_i64_vector(), (std::vector<int64_t>{0, 0, 0, 0, 0, 2}));
  // With a threshold above their IoU both survive, in index order.
  Tensor loose = Tensor::from_vector<float>({1}, {0.95f});
  out = run_node_ref(make_node("NonMaxSuppression", 4, 1), 17, {&boxes, &scores, &max_out, &loose});
  EXPECT_EQ(out[0].to_i64_vector(), (std::vector<int64_t>{0, 0, 0, 0, 0, 1, 0, 0, 2}));
  Tensor bad = Tensor::from_vector<float>({1, 2, 3}, {0, 0, 0, 0, 0, 0});
  EXPECT_THROW(
      run_node_ref(make_node("NonMaxSuppression", 4, 1), 17, {&bad, &scores, &max_out, &iou}),
      InputError);
}

TEST(Ops, ResizeBilinearHalfPixelByHand) {
  // 1x1x1x2 [0, 4] upsampled x2 with half_pixel: x_orig = (x + 0.5) / 2 - 0.5
  // -> [-0.25, 0.25, 0.75, 1.25] -> clamped -> [0, 1, 3, 4].
  Tensor x = Tensor::from_vector<float>({1, 1, 1, 2}, {0, 4});
  Tensor scales = Tensor::from_vector<float>({4}, {1, 1, 1, 2});
  auto out = run_node_ref(make_node("Resize", 3, 1, {{"mode", attr_string("linear")}}), 13,
                          {&x, nullptr, &scales});
  EXPECT_EQ(floats(out[0]), (std::vector<float>{0, 1, 3, 4}));
}

TEST(Ops, ConvAsymmetricPaddingByHand) {
  // Input [1,2,3], kernel [1,1], pads left 2, right 0: padded [0,0,1,2,3] -> [0,1,3,5].
  Tensor x = Tensor::from_vector<float>({1, 1, 1, 3}, {1, 2, 3});
  Tensor w = Tensor::from_vector<float>({1, 1, 1, 2}, {1, 1});
  auto out =
      run_node_ref(make_node("Conv", 2, 1, {{"pads", attr_ints({0, 2, 0, 0})}}), 17, {&x, &w});
  EXPECT_EQ(out[0].shape(), (Shape{1, 1, 1, 4}));
  EXPECT_EQ(floats(out[0]), (std::vector<float>{0, 1, 3, 5}));
}

TEST(Ops, MissingRequiredInputIsModelError) {
  Tensor x = Tensor::from_vector<float>({1}, {1});
  EXPECT_THROW(run_node_ref(make_node("Add", 1, 1), 17, {&x}), ModelError);
  EXPECT_THROW(run_node_ref(make_node("Conv", 2, 1), 17, {&x, nullptr}), Error);
}

TEST(Ops, FactsComeFromTheOneRegistration) {
  // Arity, minimum opset and the view / element-moving flags are read from each op's
  // registration (ops/<family>.cpp): spot checks against the ONNX spec.
  EXPECT_EQ(required_inputs("Conv"), 2);
  EXPECT_EQ(required_inputs("BatchNormalization"), 5);
  EXPECT_EQ(required_inputs("QLinearConv"), 8);
  EXPECT_EQ(required_inputs("Relu"), 1);
  EXPECT_EQ(required_inputs("NoSuchOp"), 1);
  const OpRegistry& r = OpRegistry::instance();
  EXPECT_EQ(min_supported_opset(*r.find("", "Cast")), 6);
  EXPECT_EQ(min_supported_opset(*r.find("", "Clip")), 6);
  EXPECT_EQ(min_supported_opset(*r.find("", "Reshape")), 5);
  for (const char* v : {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"}) {
    EXPECT_TRUE(is_view_op(v)) << v;
    EXPECT_TRUE(moves_elements_only(v)) << v;
  }
  EXPECT_FALSE(is_view_op("Transpose"));
  EXPECT_TRUE(moves_elements_only("Transpose"));
  EXPECT_FALSE(moves_elements_only("Add"));
  // Every registered op's facts are sane: a view moves elements only; arity within the spec's
  // largest (QLinearConv's 8 required inputs).
  for (const std::string& name : r.names()) {
    const OpDef* d = r.find("", name);
    ASSERT_TRUE(d) << name;
    EXPECT_TRUE(!d->is_view || d->moves_only) << name;
    EXPECT_GE(d->required_inputs, 0) << name;
    EXPECT_LE(d->required_inputs, 8) << name;
    EXPECT_GE(d->min_opset, 1) << name;
  }
}
