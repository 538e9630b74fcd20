// Synthetic models with published architectures and seeded random weights, for benchmarks and
// tests that need a realistic network on any machine (no download, nothing committed).
#include <cmath>
#include <random>

#include "common/strings.hpp"
#include "onnx/builder.hpp"

namespace visionrt {

ModelBuilder make_ssd300_vgg16(int64_t num_classes, bool trainable) {
  // The original SSD300 (Liu et al. 2016, Caffe): VGG16 to conv5_3 with pool5 3x3/1, dilated
  // fc6 (3x3, dilation 6) and fc7 (1x1) as convolutions, extra layers conv8..conv11, and 3x3
  // loc/conf heads on six maps (38, 19, 10, 5, 3, 1) with 4/6/6/6/4/4 boxes: 8732 priors.
  // (conv4_3's L2Norm is left out: it does not change the cost.) He-initialised weights.
  std::mt19937 rng(300);
  ModelBuilder b(17);
  b.producer("visionrt synthetic")
      .metadata("task", "detect")
      .metadata("architecture", "ssd300_vgg16");
  b.input("images", DType::f32, {1, 3, 300, 300});
  int id = 0;
  auto conv = [&](const std::string& x, int64_t cin, int64_t cout, int64_t k, int64_t stride,
                  int64_t pad, int64_t dil, bool relu, float std_dev = 0) {
    std::string n = str_cat("conv", id++);
    Tensor w(DType::f32, {cout, cin, k, k}), bias(DType::f32, {cout});
    std::normal_distribution<float> nd(
        0.f, std_dev > 0 ? std_dev : std::sqrt(2.0f / static_cast<float>(cin * k * k)));
    for (size_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = nd(rng);
    for (size_t i = 0; i < bias.numel(); ++i) bias.data<float>()[i] = 0.01f * nd(rng);
    b.initializer(n + ".w", w).initializer(n + ".b", bias);
    b.node("Conv", {x, n + ".w", n + ".b"}, {n},
           {{"kernel_shape", attr_ints({k, k})},
            {"strides", attr_ints({stride, stride})},
            {"pads", attr_ints({pad, pad, pad, pad})},
            {"dilations", attr_ints({dil, dil})}});
    if (!relu) return n;
    b.node("Relu", {n}, {n + ".relu"});
    return n + ".relu";
  };
  auto pool = [&](const std::string& x, int64_t k, int64_t s, int64_t p, bool ceil) {
    std::string n = str_cat("pool", id++);
    b.node("MaxPool", {x}, {n},
           {{"kernel_shape", attr_ints({k, k})},
            {"strides", attr_ints({s, s})},
            {"pads", attr_ints({p, p, p, p})},
            {"ceil_mode", attr_int(ceil ? 1 : 0)}});
    return n;
  };
  std::string x = "images";
  const int64_t vgg[][2] = {{3, 64},    {64, 64},   {0, 0},     {64, 128},  {128, 128},
                            {0, 0},     {128, 256}, {256, 256}, {256, 256}, {0, 0},
                            {256, 512}, {512, 512}, {512, 512}};
  for (const auto& l : vgg)
    x = l[1] ? conv(x, l[0], l[1], 3, 1, 1, 1, true) : pool(x, 2, 2, 0, true);
  std::vector<std::pair<std::string, int64_t>> maps = {{x, 512}};  // conv4_3: 38x38
  x = pool(x, 2, 2, 0, true);
  for (int i = 0; i < 3; ++i) x = conv(x, 512, 512, 3, 1, 1, 1, true);
  x = pool(x, 3, 1, 1, false);
  x = conv(x, 512, 1024, 3, 1, 6, 6, true);   // fc6, dilated
  x = conv(x, 1024, 1024, 1, 1, 0, 1, true);  // fc7: 19x19
  maps.push_back({x, 1024});
  x = conv(conv(x, 1024, 256, 1, 1, 0, 1, true), 256, 512, 3, 2, 1, 1, true);  // 10x10
  maps.push_back({x, 512});
  x = conv(conv(x, 512, 128, 1, 1, 0, 1, true), 128, 256, 3, 2, 1, 1, true);  // 5x5
  maps.push_back({x, 256});
  x = conv(conv(x, 256, 128, 1, 1, 0, 1, true), 128, 256, 3, 1, 0, 1, true);  // 3x3
  maps.push_back({x, 256});
  x = conv(conv(x, 256, 128, 1, 1, 0, 1, true), 128, 256, 3, 1, 0, 1, true);  // 1x1
  maps.push_back({x, 256});
  const int64_t boxes[] = {4, 6, 6, 6, 4, 4};
  std::vector<std::string> locs, confs;
  b.initializer("shape_loc", Tensor::from_vector<int64_t>({3}, {1, -1, 4}));
  b.initializer("shape_conf", Tensor::from_vector<int64_t>({3}, {1, -1, num_classes}));
  for (size_t m = 0; m < maps.size(); ++m) {
    for (int head = 0; head < 2; ++head) {
      int64_t per = head == 0 ? 4 : num_classes;
      std::string h = conv(maps[m].first, maps[m].second, boxes[m] * per, 3, 1, 1, 1, false,
                           trainable ? 0.01f : 0.f);
      b.node("Transpose", {h}, {h + ".nhwc"}, {{"perm", attr_ints({0, 2, 3, 1})}});
      b.node("Reshape", {h + ".nhwc", head == 0 ? "shape_loc" : "shape_conf"}, {h + ".flat"});
      (head == 0 ? locs : confs).push_back(h + ".flat");
    }
  }
  if (trainable) {
    b.node("Concat", locs, {"loc"}, {{"axis", attr_int(1)}});
    b.node("Concat", confs, {"conf"}, {{"axis", attr_int(1)}});
    b.output("loc", DType::f32, {1, 8732, 4}).output("conf", DType::f32, {1, 8732, num_classes});
    return b;
  }
  b.node("Concat", locs, {"boxes"}, {{"axis", attr_int(1)}});
  b.node("Concat", confs, {"logits"}, {{"axis", attr_int(1)}});
  b.node("Softmax", {"logits"}, {"scores"}, {{"axis", attr_int(-1)}});
  b.output("boxes", DType::f32).output("scores", DType::f32);
  return b;
}

}  // namespace visionrt
