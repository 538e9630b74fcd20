// YOLOv8 modules (yolo.hpp), following Ultralytics' yolov8.yaml and nn/modules.
#include "train/yolo.hpp"

#include <algorithm>
#include <cmath>

#include "common/strings.hpp"
#include "visionrt/error.hpp"

namespace visionrt::train {

namespace F = torch::nn::functional;

YoloSpec YoloSpec::scale(char s, const std::string& task, int64_t nc) {
  YoloSpec y;
  y.task = task;
  y.nc = nc;
  switch (s) {
    case 'n':
      y.depth = 0.33, y.width = 0.25, y.max_channels = 1024;
      break;
    case 's':
      y.depth = 0.33, y.width = 0.50, y.max_channels = 1024;
      break;
    case 'm':
      y.depth = 0.67, y.width = 0.75, y.max_channels = 768;
      break;
    case 'l':
      y.depth = 1.00, y.width = 1.00, y.max_channels = 512;
      break;
    case 'x':
      y.depth = 1.00, y.width = 1.25, y.max_channels = 512;
      break;
    default:
      throw InputError(str_cat("unknown YOLOv8 scale '", std::string(1, s), "' (n, s, m, l, x)"));
  }
  return y;
}

std::string YoloSpec::describe() const {
  std::string d, sn;
  for (size_t i = 0; i < dcn.size(); ++i) d += str_cat(i ? ", " : "", dcn[i]);
  for (size_t i = 0; i < dsconv.size(); ++i) sn += str_cat(i ? ", " : "", dsconv[i]);
  return str_cat("YOLOv8 ", task, ", ", nc, " classes, depth ", depth, ", width ", width,
                 ", max channels ", max_channels, d.empty() ? "" : ", DCNv2 in C2f layers " + d,
                 sn.empty() ? "" : ", snake convolutions in C2f layers " + sn);
}

int64_t scaled_channels(const YoloSpec& s, int64_t c) {
  const double v = static_cast<double>(std::min(c, s.max_channels)) * s.width;
  return static_cast<int64_t>(std::ceil(v / 8.0)) * 8;
}

int64_t scaled_depth(const YoloSpec& s, int64_t n) {
  return n > 1 ? std::max<int64_t>(static_cast<int64_t>(std::llround(n * s.depth)), 1) : n;
}

torch::Tensor modulated_deform_conv2d(const torch::Tensor& x, const torch::Tensor& weight,
                                      const torch::Tensor& bias, const torch::Tensor& offset,
                                      const torch::Tensor& mask, int64_t stride, int64_t pad,
                                      int64_t dilation) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t co = weight.size(0), kh = weight.size(2), kw = weight.size(3), kk = kh * kw;
  const int64_t ho = offset.size(2), wo = offset.size(3);
  if (weight.size(1) != c || offset.size(1) != 2 * kk || mask.size(1) != kk)
    throw InputError(str_cat("deformable convolution: input ", str_cat(x.sizes()), ", weight ",
                             str_cat(weight.sizes()), ", offset ", str_cat(offset.sizes()),
                             ", mask ", str_cat(mask.sizes())));
  const auto o = x.options();
  const torch::Tensor ys = (torch::arange(ho, o) * stride - pad).view({1, 1, ho, 1});
  const torch::Tensor xs = (torch::arange(wo, o) * stride - pad).view({1, 1, 1, wo});
  const torch::Tensor ti =
      (torch::arange(kh, o) * dilation).repeat_interleave(kw).view({1, kk, 1, 1});
  const torch::Tensor tj = (torch::arange(kw, o) * dilation).repeat({kh}).view({1, kk, 1, 1});
  const torch::Tensor off = offset.view({n, kk, 2, ho, wo});
  const torch::Tensor py = ys + ti + off.select(2, 0), px = xs + tj + off.select(2, 1);
  // grid_sample with align_corners false reads pixel p at (2p + 1) / size - 1; its zero
  // padding is DCN's bilinear sampling with the corners outside the image read as 0.
  const torch::Tensor grid = torch::stack({(2 * px + 1) / static_cast<double>(w) - 1,
                                           (2 * py + 1) / static_cast<double>(h) - 1},
                                          -1)
                                 .view({n, kk * ho, wo, 2});
  torch::Tensor cols = F::grid_sample(x, grid,
                                      F::GridSampleFuncOptions()
                                          .mode(torch::kBilinear)
                                          .padding_mode(torch::kZeros)
                                          .align_corners(false));  // [n, c, kk * ho, wo]
  cols =
      (cols.view({n, c, kk, ho, wo}) * mask.view({n, 1, kk, ho, wo})).reshape({n, c * kk, ho * wo});
  torch::Tensor y = torch::matmul(weight.reshape({co, c * kk}), cols);
  if (bias.defined()) y = y + bias.view({1, co, 1});
  return y.view({n, co, ho, wo});
}

torch::Tensor snake_deviation(const torch::Tensor& off) {
  const int64_t k = off.size(1), c = k / 2;
  if (k % 2 == 0) throw InputError(str_cat("snake convolution with ", k, " taps (odd expected)"));
  std::vector<float> right(static_cast<size_t>(k), 0.f), left(static_cast<size_t>(k), 0.f);
  for (int64_t i = 0; i < k; ++i)
    (i > c ? right : left)[static_cast<size_t>(i)] = i == c ? 0.f : 1.f;
  std::vector<int64_t> view(static_cast<size_t>(off.dim()), 1);
  view[1] = k;
  const torch::Tensor mr = torch::tensor(right).view(view).to(off.device());
  const torch::Tensor ml = torch::tensor(left).view(view).to(off.device());
  // Right of c: running sum from c+1; left of c: running sum from c-1 down (a reversed cumsum).
  return torch::cumsum(off * mr, 1) + torch::cumsum((off * ml).flip({1}), 1).flip({1});
}

SnakeConvImpl::SnakeConvImpl(int64_t c1, int64_t c2, int64_t k_, int morph_)
    : k(k_), morph(morph_) {
  if (k % 2 == 0 || k < 3) throw InputError(str_cat("snake convolution with ", k, " taps"));
  offset = register_module(
      "offset", torch::nn::Conv2d(torch::nn::Conv2dOptions(c1, k, 3).padding(1).bias(false)));
  offset_bn = register_module(
      "offset_bn",
      torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(k).eps(1e-3).momentum(0.03)));
  {
    torch::NoGradGuard ng;
    offset->weight.zero_();
  }
  const std::vector<int64_t> ks =
      morph == 0 ? std::vector<int64_t>{1, k} : std::vector<int64_t>{k, 1};
  conv = register_module(
      "conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(c1, c2, ks).stride(ks).bias(false)));
  bn = register_module(
      "bn", torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(c2).eps(1e-3).momentum(0.03)));
}

torch::Tensor SnakeConvImpl::grid(const torch::Tensor& dev) const {
  const int64_t n = dev.size(0), h = dev.size(2), w = dev.size(3), c = k / 2;
  if (h < 2 || w < 2)
    throw InputError(str_cat("snake convolution on a ", w, "x", h, " map (2x2 at least)"));
  const auto opts = dev.options();
  const double sx = 2.0 / static_cast<double>(w - 1), sy = 2.0 / static_cast<double>(h - 1);
  const torch::Tensor taps = torch::arange(k, opts) - static_cast<double>(c);  // [K]
  if (morph == 0) {
    // Tap t of output (y, x) sits at (x + t - c, y + dev_t): [N, H, W, K] -> [N, H, W*K].
    const torch::Tensor col = torch::arange(w, opts).view({1, 1, w, 1}) + taps.view({1, 1, 1, k});
    const torch::Tensor row = torch::arange(h, opts).view({1, h, 1, 1}) + dev.permute({0, 2, 3, 1});
    const torch::Tensor gx = (col * sx - 1).expand({n, h, w, k}).reshape({n, h, w * k});
    const torch::Tensor gy = (row * sy - 1).reshape({n, h, w * k});
    return torch::stack({gx, gy}, -1);
  }
  // Tap t of output (y, x) sits at (x + dev_t, y + t - c): [N, H, K, W] -> [N, H*K, W].
  const torch::Tensor row = torch::arange(h, opts).view({1, h, 1, 1}) + taps.view({1, 1, k, 1});
  const torch::Tensor col = torch::arange(w, opts).view({1, 1, 1, w}) + dev.permute({0, 2, 1, 3});
  const torch::Tensor gx = (col * sx - 1).reshape({n, h * k, w});
  const torch::Tensor gy = (row * sy - 1).expand({n, h, k, w}).reshape({n, h * k, w});
  return torch::stack({gx, gy}, -1);
}

torch::Tensor SnakeConvImpl::forward(const torch::Tensor& x) {
  last_h = x.size(2);
  last_w = x.size(3);
  const torch::Tensor dev = snake_deviation(torch::tanh(offset_bn(offset(x))));
  const torch::Tensor sampled = F::grid_sample(x, grid(dev),
                                               F::GridSampleFuncOptions()
                                                   .mode(torch::kBilinear)
                                                   .padding_mode(torch::kZeros)
                                                   .align_corners(true));
  return F::silu(bn(conv(sampled)));
}

ConvBnActImpl::ConvBnActImpl(int64_t c1, int64_t c2, int64_t k_, int64_t s_, int64_t g_, bool act_,
                             bool deform_, bool snake_)
    : deform(deform_), snake(snake_), act(act_), k(k_), s(s_), g(g_) {
  if (deform && g != 1) throw InputError("a deformable convolution with groups");
  if (snake && (s != 1 || g != 1)) throw InputError("a snake convolution with stride or groups");
  conv = register_module(
      "conv",
      torch::nn::Conv2d(
          torch::nn::Conv2dOptions(c1, c2, k).stride(s).padding(k / 2).groups(g).bias(false)));
  if (deform) {
    conv_offset = register_module(
        "conv_offset",
        torch::nn::Conv2d(torch::nn::Conv2dOptions(c1, 3 * k * k, k).stride(s).padding(k / 2)));
    torch::NoGradGuard ng;
    conv_offset->weight.zero_();
    conv_offset->bias.zero_();
  }
  if (snake) {
    snake_x = register_module("snake_x", SnakeConv(c1, c2, 9, 0));
    snake_y = register_module("snake_y", SnakeConv(c1, c2, 9, 1));
    fuse = register_module("fuse",
                           torch::nn::Conv2d(torch::nn::Conv2dOptions(2 * c2, c2, 1).bias(false)));
    torch::NoGradGuard ng;
    fuse->weight.zero_();
  }
  bn = register_module(
      "bn", torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(c2).eps(1e-3).momentum(0.03)));
}

torch::Tensor ConvBnActImpl::convolve(const torch::Tensor& x) {
  if (!deform) return conv(x);
  const torch::Tensor om = conv_offset(x);
  const int64_t kk = k * k;
  return modulated_deform_conv2d(x, conv->weight, torch::Tensor(), om.slice(1, 0, 2 * kk),
                                 torch::sigmoid(om.slice(1, 2 * kk, 3 * kk)), s, k / 2);
}

torch::Tensor ConvBnActImpl::forward(const torch::Tensor& x) {
  torch::Tensor z = convolve(x);
  if (calibrating) {
    torch::Tensor zd = z.detach().to(torch::kFloat64);
    torch::Tensor s1 = zd.sum({0, 2, 3}), s2 = (zd * zd).sum({0, 2, 3});
    sum = sum.defined() ? sum + s1 : s1;
    sumsq = sumsq.defined() ? sumsq + s2 : s2;
    count += z.size(0) * z.size(2) * z.size(3);
  }
  torch::Tensor y = bn(z);
  if (snake) y = y + fuse(torch::cat({snake_x(x), snake_y(x)}, 1));
  return act ? F::silu(y) : y;
}

int recalibrate_batchnorm(YoloV8Impl& net, const std::vector<torch::Tensor>& batches) {
  std::vector<ConvBnActImpl*> layers;
  for (auto& m : net.modules(false))
    if (auto* c = dynamic_cast<ConvBnActImpl*>(m.get())) layers.push_back(c);
  for (auto* c : layers) {
    c->calibrating = true;
    c->sum = c->sumsq = torch::Tensor();
    c->count = 0;
  }
  const bool was_training = net.is_training();
  net.eval();
  {
    torch::NoGradGuard ng;
    for (const auto& b : batches) net.forward(b);
  }
  int updated = 0;
  {
    torch::NoGradGuard ng;
    for (auto* c : layers) {
      c->calibrating = false;
      if (c->count == 0) continue;
      torch::Tensor mean = c->sum / static_cast<double>(c->count);
      torch::Tensor var = (c->sumsq / static_cast<double>(c->count) - mean * mean).clamp_min(0);
      auto& bn = *c->bn;
      const double eps = bn.options.eps();
      // Eval before: gamma * (z - m0) / sqrt(v0 + eps) + beta. Keep it with the new m, v.
      torch::Tensor a0 = bn.weight / torch::sqrt(bn.running_var + eps);
      torch::Tensor b0 = bn.bias - bn.running_mean * a0;  // y = a0 z + b0
      torch::Tensor m = mean.to(torch::kFloat32), v = var.to(torch::kFloat32);
      torch::Tensor sd = torch::sqrt(v + eps);
      bn.running_mean.copy_(m);
      bn.running_var.copy_(v);
      bn.weight.copy_(a0 * sd);
      bn.bias.copy_(b0 + a0 * m);
      c->sum = c->sumsq = torch::Tensor();
      ++updated;
    }
  }
  if (was_training) net.train();
  return updated;
}

BottleneckImpl::BottleneckImpl(int64_t c1, int64_t c2, bool shortcut, bool deform, bool snake) {
  cv1 = register_module("cv1", ConvBnAct(c1, c2, 3));
  cv2 = register_module("cv2", ConvBnAct(c2, c2, 3, 1, 1, true, deform, snake));
  add = shortcut && c1 == c2;
}

torch::Tensor BottleneckImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = cv2(cv1(x));
  return add ? x + y : y;
}

C2fImpl::C2fImpl(int64_t c1, int64_t c2, int64_t n, bool shortcut, bool deform, bool snake) {
  c = c2 / 2;
  cv1 = register_module("cv1", ConvBnAct(c1, 2 * c, 1));
  cv2 = register_module("cv2", ConvBnAct((2 + n) * c, c2, 1));
  for (int64_t i = 0; i < n; ++i) {
    blocks.push_back(Bottleneck(c, c, shortcut, deform, snake));
    m->push_back(blocks.back());
  }
  register_module("m", m);
}

torch::Tensor C2fImpl::forward(const torch::Tensor& x) {
  std::vector<torch::Tensor> y = cv1(x).chunk(2, 1);
  for (auto& b : blocks) y.push_back(b(y.back()));
  return cv2(torch::cat(y, 1));
}

SppfImpl::SppfImpl(int64_t c1, int64_t c2, int64_t k_) : k(k_) {
  cv1 = register_module("cv1", ConvBnAct(c1, c1 / 2, 1));
  cv2 = register_module("cv2", ConvBnAct(c1 / 2 * 4, c2, 1));
}

torch::Tensor SppfImpl::forward(const torch::Tensor& x) {
  auto pool = [&](const torch::Tensor& t) {
    return F::max_pool2d(t, F::MaxPool2dFuncOptions(k).stride(1).padding(k / 2));
  };
  torch::Tensor a = cv1(x), b = pool(a), c = pool(b);
  return cv2(torch::cat({a, b, c, pool(c)}, 1));
}

HeadBranchImpl::HeadBranchImpl(int64_t c1, int64_t c_mid, int64_t c_out) {
  // Named as the children of Ultralytics' nn.Sequential: 0, 1, 2.
  b0 = register_module("0", ConvBnAct(c1, c_mid, 3));
  b1 = register_module("1", ConvBnAct(c_mid, c_mid, 3));
  b2 = register_module("2", torch::nn::Conv2d(torch::nn::Conv2dOptions(c_mid, c_out, 1)));
}

torch::Tensor HeadBranchImpl::forward(const torch::Tensor& x) { return b2(b1(b0(x))); }

ProtoImpl::ProtoImpl(int64_t c1, int64_t c_, int64_t c2) {
  cv1 = register_module("cv1", ConvBnAct(c1, c_, 3));
  upsample = register_module(
      "upsample",
      torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(c_, c_, 2).stride(2)));
  cv2 = register_module("cv2", ConvBnAct(c_, c_, 3));
  cv3 = register_module("cv3", ConvBnAct(c_, c2, 1));
}

torch::Tensor ProtoImpl::forward(const torch::Tensor& x) { return cv3(cv2(upsample(cv1(x)))); }

DetectImpl::DetectImpl(const YoloSpec& spec, const std::vector<int64_t>& ch)
    : nc(spec.nc), reg_max(spec.reg_max), nm(spec.task == "segment" ? spec.nm : 0) {
  no = nc + 4 * reg_max;
  const int64_t c2 = std::max({int64_t(16), ch[0] / 4, reg_max * 4});
  const int64_t c3 = std::max(ch[0], std::min<int64_t>(nc, 100));
  for (int64_t c : ch) {
    box.push_back(HeadBranch(c, c2, 4 * reg_max));
    cv2->push_back(box.back());
    cls.push_back(HeadBranch(c, c3, nc));
    cv3->push_back(cls.back());
  }
  register_module("cv2", cv2);
  register_module("cv3", cv3);
  dfl = register_module("dfl",
                        torch::nn::Conv2d(torch::nn::Conv2dOptions(reg_max, 1, 1).bias(false)));
  {
    torch::NoGradGuard ng;
    dfl->weight.copy_(torch::arange(reg_max, torch::kFloat32).view({1, reg_max, 1, 1}));
  }
  dfl->weight.set_requires_grad(false);
  if (nm > 0) {
    const int64_t npr = scaled_channels(spec, spec.npr);
    proto = register_module("proto", Proto(ch[0], npr, nm));
    const int64_t c4 = std::max(ch[0] / 4, nm);
    for (int64_t c : ch) {
      coef.push_back(HeadBranch(c, c4, nm));
      cv4->push_back(coef.back());
    }
    register_module("cv4", cv4);
  }
}

YoloV8Impl::YoloV8Impl(const YoloSpec& s) : spec(s) {
  if (spec.task != "detect" && spec.task != "segment")
    throw InputError(str_cat("YOLOv8 task '", spec.task, "' (detect or segment)"));
  if (spec.nc <= 0 || spec.nc > 100000)
    throw InputError(str_cat("YOLOv8 with ", spec.nc, " classes"));
  auto C = [&](int64_t c) { return scaled_channels(spec, c); };
  auto D = [&](int64_t n) { return scaled_depth(spec, n); };
  auto conv = [&](int64_t c1, int64_t c2, int64_t k, int64_t st) {
    convs.push_back(ConvBnAct(c1, c2, k, st));
    model->push_back(convs.back());
  };
  for (const auto* list : {&spec.dcn, &spec.dsconv})
    for (int64_t l : *list)
      if (l != 2 && l != 4 && l != 6 && l != 8 && l != 12 && l != 15 && l != 18 && l != 21)
        throw InputError(str_cat(list == &spec.dcn ? "DCNv2" : "snake convolution", " in layer ", l,
                                 ": YOLOv8's C2f layers are 2, 4, 6, 8, 12, 15, 18 and 21"));
  auto c2f = [&](int64_t c1, int64_t c2, int64_t n, bool shortcut) {
    const int64_t index = static_cast<int64_t>(model->size());
    const bool deform = std::find(spec.dcn.begin(), spec.dcn.end(), index) != spec.dcn.end();
    const bool snake =
        std::find(spec.dsconv.begin(), spec.dsconv.end(), index) != spec.dsconv.end();
    c2fs.push_back(C2f(c1, c2, n, shortcut, deform, snake));
    model->push_back(c2fs.back());
  };
  auto placeholder = [&] { model->push_back(torch::nn::Identity()); };  // Upsample, Concat
  conv(3, C(64), 3, 2);                                                 // 0
  conv(C(64), C(128), 3, 2);                                            // 1
  c2f(C(128), C(128), D(3), true);                                      // 2
  conv(C(128), C(256), 3, 2);                                           // 3
  c2f(C(256), C(256), D(6), true);                                      // 4  P3
  conv(C(256), C(512), 3, 2);                                           // 5
  c2f(C(512), C(512), D(6), true);                                      // 6  P4
  conv(C(512), C(1024), 3, 2);                                          // 7
  c2f(C(1024), C(1024), D(3), true);                                    // 8
  sppf = Sppf(C(1024), C(1024), 5);                                     // 9  P5
  model->push_back(sppf);
  placeholder();                                                       // 10 upsample
  placeholder();                                                       // 11 concat P4
  c2f(C(1024) + C(512), C(512), D(3), false);                          // 12
  placeholder();                                                       // 13 upsample
  placeholder();                                                       // 14 concat P3
  c2f(C(512) + C(256), C(256), D(3), false);                           // 15 small
  conv(C(256), C(256), 3, 2);                                          // 16
  placeholder();                                                       // 17 concat 12
  c2f(C(256) + C(512), C(512), D(3), false);                           // 18 medium
  conv(C(512), C(512), 3, 2);                                          // 19
  placeholder();                                                       // 20 concat 9
  c2f(C(512) + C(1024), C(1024), D(3), false);                         // 21 large
  head = Detect(spec, std::vector<int64_t>{C(256), C(512), C(1024)});  // 22
  model->push_back(head);
  register_module("model", model);
}

std::vector<torch::Tensor> YoloV8Impl::forward(const torch::Tensor& x) {
  if (x.dim() != 4 || x.size(1) != 3 || x.size(2) % 32 || x.size(3) % 32)
    throw InputError(str_cat("YOLOv8 input must be [N,3,H,W] with H, W multiples of 32"));
  auto up = [](const torch::Tensor& t) {
    return F::interpolate(t, F::InterpolateFuncOptions()
                                 .scale_factor(std::vector<double>{2.0, 2.0})
                                 .mode(torch::kNearest));
  };
  torch::Tensor y = convs[1](convs[0](x));
  y = c2fs[0](y);
  torch::Tensor p3 = c2fs[1](convs[2](y));
  torch::Tensor p4 = c2fs[2](convs[3](p3));
  torch::Tensor p5 = sppf(c2fs[3](convs[4](p4)));
  torch::Tensor h12 = c2fs[4](torch::cat({up(p5), p4}, 1));
  torch::Tensor h15 = c2fs[5](torch::cat({up(h12), p3}, 1));
  torch::Tensor h18 = c2fs[6](torch::cat({convs[5](h15), h12}, 1));
  torch::Tensor h21 = c2fs[7](torch::cat({convs[6](h18), p5}, 1));
  const std::vector<torch::Tensor> feats{h15, h18, h21};
  std::vector<torch::Tensor> levels;
  for (size_t i = 0; i < feats.size(); ++i)
    levels.push_back(torch::cat({head->box[i](feats[i]), head->cls[i](feats[i])}, 1));
  std::vector<torch::Tensor> out;
  torch::Tensor coefs, protos;
  if (head->nm > 0) {
    std::vector<torch::Tensor> mc;
    for (size_t i = 0; i < feats.size(); ++i) mc.push_back(head->coef[i](feats[i]).flatten(2));
    coefs = torch::cat(mc, 2);
    protos = head->proto(h15);
  }
  if (is_training()) {
    out = levels;
    if (head->nm > 0) {
      out.push_back(coefs);
      out.push_back(protos);
    }
    return out;
  }
  torch::Tensor pred = decode(levels);
  if (head->nm > 0) pred = torch::cat({pred, coefs}, 1);
  out.push_back(pred);
  if (head->nm > 0) out.push_back(protos);
  return out;
}

torch::Tensor YoloV8Impl::decode(const std::vector<torch::Tensor>& levels) {
  const int64_t n = levels[0].size(0), rm = head->reg_max;
  std::vector<torch::Tensor> flat, anchors, stride_rows;
  for (size_t i = 0; i < levels.size(); ++i) {
    const int64_t h = levels[i].size(2), w = levels[i].size(3);
    flat.push_back(levels[i].flatten(2));
    torch::Tensor sx = torch::arange(w, torch::kFloat32) + 0.5f;
    torch::Tensor sy = torch::arange(h, torch::kFloat32) + 0.5f;
    std::vector<torch::Tensor> grid = torch::meshgrid({sy, sx}, "ij");
    anchors.push_back(torch::stack({grid[1].flatten(), grid[0].flatten()}, 0));  // [2, h*w]
    stride_rows.push_back(torch::full({1, h * w}, static_cast<float>(strides[i])));
  }
  torch::Tensor x = torch::cat(flat, 2);  // [n, no, A]
  const int64_t a = x.size(2);
  torch::Tensor box = x.narrow(1, 0, 4 * rm), cls = x.narrow(1, 4 * rm, head->nc);
  torch::Tensor dist =
      head->dfl(box.view({n, 4, rm, a}).transpose(2, 1).softmax(1)).view({n, 4, a});
  torch::Tensor anc = torch::cat(anchors, 1).unsqueeze(0), st = torch::cat(stride_rows, 1);
  torch::Tensor lt = dist.narrow(1, 0, 2), rb = dist.narrow(1, 2, 2);
  torch::Tensor x1y1 = anc - lt, x2y2 = anc + rb;
  torch::Tensor dbox = torch::cat({(x1y1 + x2y2) / 2, x2y2 - x1y1}, 1) * st;
  return torch::cat({dbox, cls.sigmoid()}, 1);
}

}  // namespace visionrt::train
