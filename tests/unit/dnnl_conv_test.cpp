// The oneDNN Conv candidate against the reference kernel on awkward shapes (ARCHITECTURE
// practice 1): odd sizes, batch > 1, channels not a multiple of 8/16, groups and depthwise,
// dilation, stride 2, asymmetric pads, 1x1 spatial. Seeded random data.
#include <gtest/gtest.h>

#include <random>

#include "kernels/node_runner.hpp"

using namespace visionrt;

namespace {

struct Case {
  Shape x, w;
  int64_t group;
  std::vector<int64_t> strides, pads, dilations;
  bool bias;
};

Tensor random(Shape s, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  Tensor t(DType::f32, std::move(s));
  for (size_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

}  // namespace

TEST(DnnlConv, MatchesReferenceOnAwkwardShapes) {
  std::vector<Case> cases = {
      {{1, 3, 17, 13}, {5, 3, 3, 3}, 1, {1, 1}, {1, 1, 1, 1}, {1, 1}, true},
      {{2, 6, 9, 11}, {10, 3, 3, 3}, 2, {2, 2}, {0, 1, 2, 0}, {1, 1}, true},    // groups, asym pads
      {{1, 17, 8, 8}, {17, 1, 3, 3}, 17, {1, 1}, {2, 2, 2, 2}, {2, 2}, false},  // depthwise dilated
      {{3, 5, 1, 1}, {7, 5, 1, 1}, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}, true},      // 1x1 spatial
      {{1, 16, 20, 20}, {32, 16, 1, 1}, 1, {2, 2}, {0, 0, 0, 0}, {1, 1}, false},
      {{1, 3, 15, 15}, {4, 3, 5, 2}, 1, {3, 1}, {2, 0, 1, 1}, {1, 2}, true},  // rectangular kernel
  };
  std::mt19937 rng(42);
  for (const Case& c : cases) {
    Tensor x = random(c.x, rng), w = random(c.w, rng), b = random({c.w[0]}, rng);
    Node n = make_node("Conv", c.bias ? 3 : 2, 1,
                       {{"group", attr_int(c.group)},
                        {"strides", attr_ints(c.strides)},
                        {"pads", attr_ints(c.pads)},
                        {"dilations", attr_ints(c.dilations)}});
    std::vector<const Tensor*> ins = {&x, &w};
    if (c.bias) ins.push_back(&b);
    KernelQuery q;
    q.node = &n;
    q.opset = 17;
    for (const Tensor* t : ins) {
      q.input_types.push_back({t->dtype(), true, t->shape()});
      q.input_constants.push_back(t == &x ? nullptr : t);
    }
    q.output_types = infer_node_types(n, 17, ins);
    std::string chosen, why;
    auto fast = select_kernel(q, "dnnl", &chosen, &why);
    ASSERT_TRUE(fast) << "dnnl declined " << shape_str(c.x) << ": " << why;
    auto ref = select_kernel(q, "ref", &chosen, &why);
    ASSERT_TRUE(ref);
    Tensor got = execute_node(*fast, n, 17, ins, 2)[0];
    Tensor want = execute_node(*ref, n, 17, ins, 1)[0];
    ASSERT_EQ(got.shape(), want.shape());
    double max_err = 0, max_ref = 0;
    for (size_t i = 0; i < want.numel(); ++i) {
      max_err = std::max(max_err, std::fabs(got.at_f64(i) - want.at_f64(i)));
      max_ref = std::max(max_ref, std::fabs(want.at_f64(i)));
    }
    EXPECT_LE(max_err, 1e-5 * std::max(1.0, max_ref)) << shape_str(c.x) << " x " << shape_str(c.w);
  }
}

TEST(DnnlConv, DeclinesWithReasons) {
  Tensor x(DType::f32, {1, 2, 5, 5, 5}), w(DType::f32, {2, 2, 1, 1, 1});
  Node n = make_node("Conv", 2, 1);
  KernelQuery q;
  q.node = &n;
  q.opset = 17;
  q.input_types = {{DType::f32, true, x.shape()}, {DType::f32, true, w.shape()}};
  q.input_constants = {nullptr, &w};
  q.output_types = {{DType::f32, true, {1, 2, 5, 5, 5}}};
  std::string chosen, why;
  EXPECT_FALSE(select_kernel(q, "dnnl", &chosen, &why));
  EXPECT_NE(why.find("2-D"), std::string::npos) << why;
  q.input_types = {{DType::f32, true, {1, 2, -1, 5}}, {DType::f32, true, {2, 2, 1, 1}}};
  EXPECT_FALSE(select_kernel(q, "dnnl", &chosen, &why));
  EXPECT_NE(why.find("static"), std::string::npos) << why;
  // Sizes known only at run time: the kernel built per concrete size takes it, with the direct
  // kernel's reason recorded.
  EXPECT_TRUE(select_kernel(q, "", &chosen, &why));
  EXPECT_EQ(chosen, "per_size");
  EXPECT_NE(why.find("dnnl:"), std::string::npos) << why;
  // A 3-D convolution: no oneDNN path; the reference accepts, the reasons recorded.
  q.input_types = {{DType::f32, true, x.shape()}, {DType::f32, true, w.shape()}};
  EXPECT_TRUE(select_kernel(q, "", &chosen, &why));
  EXPECT_EQ(chosen, "ref");
  EXPECT_NE(why.find("dnnl:"), std::string::npos) << why;
  EXPECT_NE(why.find("per_size:"), std::string::npos) << why;
}
