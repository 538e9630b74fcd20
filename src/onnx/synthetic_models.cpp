// Synthetic models with published architectures and seeded random weights, for benchmarks and
// tests that need a realistic network on any machine (no download, nothing committed).
#include <cmath>
#include <random>

#include "common/strings.hpp"
#include "onnx/builder.hpp"

namespace visionrt {

namespace {

enum class Bias { none, zeros, small_random };

// A Conv named `name` with He-initialised weights (N(0, std_dev) when std_dev > 0) drawn from
// rng, and a bias as asked (small_random: 0.01 N(0, the weights' deviation), drawn after them).
std::string he_conv(ModelBuilder& b, std::mt19937& rng, const std::string& name,
                    const std::string& x, int64_t cin, int64_t cout, int64_t k, int64_t stride,
                    int64_t pad, int64_t dilation, int64_t groups, Bias bias, float std_dev) {
  const int64_t per_group = cin / groups;
  Tensor w(DType::f32, {cout, per_group, k, k});
  std::normal_distribution<float> nd(
      0.f, std_dev > 0 ? std_dev : std::sqrt(2.0f / static_cast<float>(per_group * k * k)));
  for (size_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = nd(rng);
  b.initializer(name + ".w", w);
  std::vector<std::string> ins{x, name + ".w"};
  if (bias != Bias::none) {
    Tensor t(DType::f32, {cout});
    if (bias == Bias::small_random)
      for (size_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = 0.01f * nd(rng);
    b.initializer(name + ".b", t);
    ins.push_back(name + ".b");
  }
  b.node("Conv", ins, {name},
         {{"kernel_shape", attr_ints({k, k})},
          {"strides", attr_ints({stride, stride})},
          {"pads", attr_ints({pad, pad, pad, pad})},
          {"dilations", attr_ints({dilation, dilation})},
          {"group", attr_int(groups)}});
  return name;
}

// An SSD head's map [1, boxes * per, H, W] as [1, H * W * boxes, per] (`shape` holds
// {1, -1, per}): the rows of its priors in the order of the prior generator.
std::string flatten_head(ModelBuilder& b, const std::string& h, const std::string& shape) {
  b.node("Transpose", {h}, {h + ".nhwc"}, {{"perm", attr_ints({0, 2, 3, 1})}});
  b.node("Reshape", {h + ".nhwc", shape}, {h + ".flat"});
  return h + ".flat";
}

}  // namespace

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
    const std::string n = he_conv(b, rng, str_cat("conv", id++), x, cin, cout, k, stride, pad, dil,
                                  1, Bias::small_random, std_dev);
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
      (head == 0 ? locs : confs)
          .push_back(flatten_head(b, h, head == 0 ? "shape_loc" : "shape_conf"));
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

ModelBuilder make_ssdlite320_mobilenet_v2(int64_t num_classes) {
  // SSDlite (Sandler et al. 2018) on MobileNetV2 at 320x320: the inverted-residual backbone
  // (expansion 6, ReLU6, BatchNorm after every convolution), SSD heads on the stride-16 map (96
  // channels, 20x20) and the final 1x1 to 1280 (10x10), four extra blocks (1x1 reduce, 3x3
  // depthwise stride 2, 1x1 expand) down to 5, 3, 2 and 1; SSDlite heads (3x3 depthwise + BN +
  // ReLU6, then 1x1) with 6 boxes per location: 3234 priors, torchvision's SSDlite layout.
  // He-initialised, BatchNorm at identity, class head N(0, 0.01): for training from scratch.
  std::mt19937 rng(320);
  ModelBuilder b(17);
  b.producer("visionrt synthetic")
      .metadata("task", "detect")
      .metadata("architecture", "ssdlite320_mobilenet_v2");
  b.input("images", DType::f32, {1, 3, 320, 320});
  b.initializer("relu6.min", Tensor::scalar<float>(0.f))
      .initializer("relu6.max", Tensor::scalar<float>(6.f));
  int id = 0;
  auto conv = [&](const std::string& x, int64_t cin, int64_t cout, int64_t k, int64_t stride,
                  int64_t groups, bool bn, bool relu6, float std_dev = 0) {
    const std::string n = he_conv(b, rng, str_cat("conv", id++), x, cin, cout, k, stride, k / 2, 1,
                                  groups, bn ? Bias::none : Bias::zeros, std_dev);
    std::string y = n;
    if (bn) {
      std::vector<float> one(static_cast<size_t>(cout), 1.f), zero(static_cast<size_t>(cout), 0.f);
      b.initializer(n + ".gamma", Tensor::from_vector<float>({cout}, one))
          .initializer(n + ".beta", Tensor::from_vector<float>({cout}, zero))
          .initializer(n + ".mean", Tensor::from_vector<float>({cout}, zero))
          .initializer(n + ".var", Tensor::from_vector<float>({cout}, one));
      b.node("BatchNormalization", {n, n + ".gamma", n + ".beta", n + ".mean", n + ".var"},
             {n + ".bn"}, {{"epsilon", attr_float(1e-3f)}, {"momentum", attr_float(0.97f)}});
      y = n + ".bn";
    }
    if (relu6) {
      b.node("Clip", {y, "relu6.min", "relu6.max"}, {y + ".relu6"});
      y += ".relu6";
    }
    return y;
  };
  std::string x = conv("images", 3, 32, 3, 2, 1, true, true);  // 160x160
  int64_t c = 32;
  std::vector<std::pair<std::string, int64_t>> maps;
  const int64_t stages[][4] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                               {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  for (const auto& st : stages) {
    for (int64_t i = 0; i < st[2]; ++i) {
      const int64_t stride = i == 0 ? st[3] : 1, hidden = c * st[0];
      std::string y = st[0] == 1 ? x : conv(x, c, hidden, 1, 1, 1, true, true);
      y = conv(y, hidden, hidden, 3, stride, hidden, true, true);
      y = conv(y, hidden, st[1], 1, 1, 1, true, false);
      if (stride == 1 && c == st[1]) {
        b.node("Add", {x, y}, {y + ".res"});
        y += ".res";
      }
      x = y;
      c = st[1];
    }
    if (st[1] == 96) maps.push_back({x, 96});  // stride 16: 20x20
  }
  x = conv(x, 320, 1280, 1, 1, 1, true, true);  // 10x10
  maps.push_back({x, 1280});
  const int64_t extras[][2] = {{1280, 512}, {512, 256}, {256, 256}, {256, 128}};
  for (const auto& e : extras) {  // 5, 3, 2, 1
    const int64_t mid = e[1] / 2;
    std::string y = conv(x, e[0], mid, 1, 1, 1, true, true);
    y = conv(y, mid, mid, 3, 2, mid, true, true);
    x = conv(y, mid, e[1], 1, 1, 1, true, true);
    maps.push_back({x, e[1]});
  }
  const int64_t per_location = 6;
  std::vector<std::string> locs, confs;
  b.initializer("shape_loc", Tensor::from_vector<int64_t>({3}, {1, -1, 4}));
  b.initializer("shape_conf", Tensor::from_vector<int64_t>({3}, {1, -1, num_classes}));
  for (const auto& [map, ch] : maps) {
    for (int head = 0; head < 2; ++head) {
      const int64_t per = head == 0 ? 4 : num_classes;
      std::string h = conv(map, ch, ch, 3, 1, ch, true, true);
      h = conv(h, ch, per_location * per, 1, 1, 1, false, false, head == 0 ? 0.f : 0.01f);
      (head == 0 ? locs : confs)
          .push_back(flatten_head(b, h, head == 0 ? "shape_loc" : "shape_conf"));
    }
  }
  b.node("Concat", locs, {"loc"}, {{"axis", attr_int(1)}});
  b.node("Concat", confs, {"conf"}, {{"axis", attr_int(1)}});
  b.output("loc", DType::f32, {1, 3234, 4}).output("conf", DType::f32, {1, 3234, num_classes});
  return b;
}

}  // namespace visionrt
