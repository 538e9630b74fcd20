// YOLOv8 weights in from an Ultralytics ONNX export and the eval-mode network out as ONNX
// (yolo.hpp), through visionrt's own loader and model builder (libtorch cannot export).
#include <cmath>
#include <map>

#include "common/strings.hpp"
#include "onnx/builder.hpp"
#include "runtime/model_loader.hpp"
#include "train/tensor_convert.hpp"
#include "train/yolo.hpp"
#include "visionrt/error.hpp"

namespace visionrt::train {

namespace {

std::map<std::string, Tensor> initializers(const std::string& path) {
  std::shared_ptr<Graph> g = load_model_file(path);
  std::map<std::string, Tensor> r;
  for (const Value& v : g->values)
    if (v.constant && v.constant->dtype() == DType::f32) r.emplace(v.name, *v.constant);
  return r;
}

const Tensor& need(const std::map<std::string, Tensor>& w, const std::string& name,
                   const std::string& path) {
  auto it = w.find(name);
  if (it == w.end())
    throw ModelError(
        str_cat(path, ": not an Ultralytics YOLOv8 export (no initializer '", name, "')"));
  return it->second;
}

int64_t count_blocks(const std::map<std::string, Tensor>& w, const std::string& layer) {
  int64_t n = 0;
  while (w.count(str_cat(layer, ".m.", n, ".cv1.conv.weight"))) ++n;
  return n;
}

// "model.8.m.0.cv1" -> "/model.8/m.0/cv1" (Ultralytics' node scopes: list indices stay attached).
std::string scope(const std::string& path) {
  std::string out;
  size_t a = 0;
  while (a <= path.size()) {
    size_t b = path.find('.', a);
    if (b == std::string::npos) b = path.size();
    const std::string tok = path.substr(a, b - a);
    const bool index = !tok.empty() && std::all_of(tok.begin(), tok.end(), ::isdigit);
    out += (index ? "." : "/") + tok;
    a = b + 1;
  }
  return out;
}

// Builds the eval-mode graph node by node, naming initializers by parameter path.
class Writer {
 public:
  Writer(const std::map<const torch::nn::Module*, std::string>& names, int64_t opset)
      : b(opset), names_(names) {}
  ModelBuilder b;

  std::string name_of(const torch::nn::Module& m) const {
    auto it = names_.find(&m);
    return it == names_.end() ? std::string("anon") : it->second;
  }
  std::string fresh(const std::string& p) { return str_cat(p, "_", next_++); }
  std::string init(const std::string& name, const Tensor& t) {
    b.initializer(name, t);
    return name;
  }
  std::string constant_i64(const std::vector<int64_t>& v) {
    return init(fresh("/const"), Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v));
  }
  std::string op(const std::string& type, const std::vector<std::string>& ins,
                 const std::string& node, std::map<std::string, Attribute> attrs = {}) {
    const std::string y = node + "_output_0";
    b.node(type, ins, {y}, attrs, node);
    return y;
  }
  std::string conv(const std::string& x, const std::string& s, const torch::Tensor& w,
                   const torch::Tensor& bias, int64_t k, int64_t stride, int64_t group,
                   const std::string& wname) {
    const int64_t p = k / 2;
    std::vector<std::string> ins{x, init(wname + ".weight", from_torch(w))};
    if (bias.defined()) ins.push_back(init(wname + ".bias", from_torch(bias)));
    return op("Conv", ins, s + "/Conv",
              {{"kernel_shape", attr_ints({k, k})},
               {"strides", attr_ints({stride, stride})},
               {"pads", attr_ints({p, p, p, p})},
               {"dilations", attr_ints({1, 1})},
               {"group", attr_int(group)}});
  }
  // Conv + BN folded + SiLU as Sigmoid * x (Ultralytics' export).
  std::string cba(ConvBnActImpl& m, const std::string& x) {
    const std::string path = name_of(m), s = scope(path);
    torch::NoGradGuard ng;
    auto& bn = *m.bn;
    torch::Tensor inv = bn.weight / torch::sqrt(bn.running_var + bn.options.eps());
    torch::Tensor w = m.conv->weight * inv.view({-1, 1, 1, 1});
    torch::Tensor bias = bn.bias - bn.running_mean * inv;
    std::string y;
    if (m.deform) {
      // DCNv2: offsets and mask logits from conv_offset, then ONNX DeformConv (opset 19).
      const int64_t kk = m.k * m.k, p = m.k / 2;
      const std::string om = plain_conv(*m.conv_offset, x, m.s);
      const std::string off = s + "/Split_output_0", logits = s + "/Split_output_1";
      b.node("Split", {om, constant_i64({2 * kk, kk})}, {off, logits}, {{"axis", attr_int(1)}},
             s + "/Split");
      const std::string mask = op("Sigmoid", {logits}, s + "/mask/Sigmoid");
      y = op("DeformConv",
             {x, init(path + ".conv.weight", from_torch(w)), off,
              init(path + ".conv.bias", from_torch(bias)), mask},
             s + "/conv/DeformConv",
             {{"kernel_shape", attr_ints({m.k, m.k})},
              {"strides", attr_ints({m.s, m.s})},
              {"pads", attr_ints({p, p, p, p})},
              {"dilations", attr_ints({1, 1})},
              {"group", attr_int(1)},
              {"offset_group", attr_int(1)}});
    } else {
      y = conv(x, s + "/conv", w, bias, m.k, m.s, m.g, path + ".conv");
    }
    if (m.snake) {
      const std::string sn = op("Concat", {snake(*m.snake_x, x), snake(*m.snake_y, x)},
                                s + "/snake/Concat", {{"axis", attr_int(1)}});
      y = op("Add", {y, plain_conv(*m.fuse, sn)}, s + "/snake/Add");
    }
    if (!m.act) return y;
    std::string sg = op("Sigmoid", {y}, s + "/act/Sigmoid");
    return op("Mul", {y, sg}, s + "/act/Mul");
  }
  // A snake convolution (yolo.hpp) at the size its last forward saw: offsets (Conv + BN folded,
  // Tanh), deviations (two CumSums), the grid (constants and one Mul + Add), GridSample, the
  // strided Kx1 / 1xK Conv (BN folded) and SiLU.
  std::string snake(SnakeConvImpl& m, const std::string& x) {
    const std::string path = name_of(m), s = scope(path);
    const int64_t k = m.k, c = k / 2, h = m.last_h, wd = m.last_w;
    if (h < 2 || wd < 2)
      throw InputError(str_cat(path, ": no forward pass recorded the size of its input"));
    torch::NoGradGuard ng;
    auto fold = [](torch::nn::Conv2dImpl& cv, torch::nn::BatchNorm2dImpl& bn) {
      torch::Tensor inv = bn.weight / torch::sqrt(bn.running_var + bn.options.eps());
      return std::make_pair(cv.weight * inv.view({-1, 1, 1, 1}), bn.bias - bn.running_mean * inv);
    };
    auto [ow, ob] = fold(*m.offset, *m.offset_bn);
    const std::string off =
        op("Tanh", {conv(x, s + "/offset", ow, ob, 3, 1, 1, path + ".offset")}, s + "/Tanh");
    std::vector<float> right(static_cast<size_t>(k), 0.f), left(static_cast<size_t>(k), 0.f);
    for (int64_t i = 0; i < k; ++i)
      (i > c ? right : left)[static_cast<size_t>(i)] = i == c ? 0.f : 1.f;
    const std::string axis = init(fresh("/axis"), Tensor::scalar<int64_t>(1));
    const std::string r =
        op("CumSum",
           {op("Mul", {off, init(path + ".right", Tensor::from_vector<float>({1, k, 1, 1}, right))},
               s + "/Mul"),
            axis},
           s + "/CumSum");
    const std::string l =
        op("CumSum",
           {op("Mul", {off, init(path + ".left", Tensor::from_vector<float>({1, k, 1, 1}, left))},
               s + "/Mul_1"),
            axis},
           s + "/CumSum_1", {{"reverse", attr_int(1)}});
    const std::string dev = op("Add", {r, l}, s + "/Add");
    const float sx = 2.f / static_cast<float>(wd - 1), sy = 2.f / static_cast<float>(h - 1);
    std::vector<float> base;
    std::string flat;
    std::vector<float> scale;
    Shape gshape;
    if (m.morph == 0) {  // [1, H, W*K, 2]: (x + t - c, y + dev_t)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t xx = 0; xx < wd; ++xx)
          for (int64_t t = 0; t < k; ++t) {
            base.push_back(static_cast<float>(xx + t - c) * sx - 1.f);
            base.push_back(static_cast<float>(y) * sy - 1.f);
          }
      gshape = {1, h, wd * k, 2};
      flat = op("Transpose", {dev}, s + "/Transpose", {{"perm", attr_ints({0, 2, 3, 1})}});
      flat = op("Reshape", {flat, constant_i64({1, h, wd * k, 1})}, s + "/Reshape");
      scale = {0.f, sy};
    } else {  // [1, H*K, W, 2]: (x + dev_t, y + t - c)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t t = 0; t < k; ++t)
          for (int64_t xx = 0; xx < wd; ++xx) {
            base.push_back(static_cast<float>(xx) * sx - 1.f);
            base.push_back(static_cast<float>(y + t - c) * sy - 1.f);
          }
      gshape = {1, h * k, wd, 2};
      flat = op("Transpose", {dev}, s + "/Transpose", {{"perm", attr_ints({0, 2, 1, 3})}});
      flat = op("Reshape", {flat, constant_i64({1, h * k, wd, 1})}, s + "/Reshape");
      scale = {sx, 0.f};
    }
    const std::string grid =
        op("Add",
           {op("Mul", {flat, init(path + ".grid_scale", Tensor::from_vector<float>({2}, scale))},
               s + "/grid/Mul"),
            init(path + ".grid_base", Tensor::from_vector<float>(gshape, base))},
           s + "/grid/Add");
    const std::string sampled = op("GridSample", {x, grid}, s + "/GridSample",
                                   {{"mode", attr_string("bilinear")},
                                    {"padding_mode", attr_string("zeros")},
                                    {"align_corners", attr_int(1)}});
    auto [cw, cb] = fold(*m.conv, *m.bn);
    const std::vector<int64_t> ks =
        m.morph == 0 ? std::vector<int64_t>{1, k} : std::vector<int64_t>{k, 1};
    const std::string y = op("Conv",
                             {sampled, init(path + ".conv.weight", from_torch(cw)),
                              init(path + ".conv.bias", from_torch(cb))},
                             s + "/conv/Conv",
                             {{"kernel_shape", attr_ints(ks)},
                              {"strides", attr_ints(ks)},
                              {"pads", attr_ints({0, 0, 0, 0})},
                              {"dilations", attr_ints({1, 1})},
                              {"group", attr_int(1)}});
    const std::string sg = op("Sigmoid", {y}, s + "/act/Sigmoid");
    return op("Mul", {y, sg}, s + "/act/Mul");
  }
  std::string plain_conv(torch::nn::Conv2dImpl& m, const std::string& x, int64_t stride = 1) {
    const std::string path = name_of(m);
    const int64_t k = m.options.kernel_size()->at(0);
    return conv(x, scope(path), m.weight, m.options.bias() ? m.bias : torch::Tensor(), k, stride, 1,
                path);
  }

 private:
  const std::map<const torch::nn::Module*, std::string>& names_;
  int next_ = 0;
};

std::string c2f_graph(Writer& w, C2fImpl& m, const std::string& x) {
  const std::string s = scope(w.name_of(m));
  std::string y = w.cba(*m.cv1, x);
  const std::string a = s + "/Split_output_0", b = s + "/Split_output_1";
  w.b.node("Split", {y, w.constant_i64({m.c, m.c})}, {a, b}, {{"axis", attr_int(1)}}, s + "/Split");
  std::vector<std::string> parts{a, b};
  for (size_t i = 0; i < m.blocks.size(); ++i) {
    BottleneckImpl& bl = *m.blocks[i];
    std::string t = w.cba(*bl.cv2, w.cba(*bl.cv1, parts.back()));
    if (bl.add) t = w.op("Add", {parts.back(), t}, scope(w.name_of(bl)) + "/Add");
    parts.push_back(t);
  }
  return w.cba(*m.cv2, w.op("Concat", parts, s + "/Concat", {{"axis", attr_int(1)}}));
}

}  // namespace

YoloSpec spec_from_onnx(const std::string& path) {
  const std::map<std::string, Tensor> w = initializers(path);
  YoloSpec s;
  const int64_t c0 = need(w, "model.0.conv.weight", path).dim(0);
  const int64_t c9 = need(w, "model.9.cv2.conv.weight", path).dim(0);
  s.width = static_cast<double>(c0) / 64.0;
  s.max_channels = static_cast<int64_t>(std::llround(static_cast<double>(c9) / s.width));
  const int64_t blocks = count_blocks(w, "model.2");
  if (blocks <= 0)
    throw ModelError(str_cat(path, ": not an Ultralytics YOLOv8 export (no C2f at model.2)"));
  s.depth = static_cast<double>(blocks) / 3.0;
  s.nc = need(w, "model.22.cv3.0.2.weight", path).dim(0);
  s.reg_max = need(w, "model.22.cv2.0.2.weight", path).dim(0) / 4;
  if (w.count("model.22.proto.cv1.conv.weight")) {
    s.task = "segment";
    s.nm = need(w, "model.22.cv4.0.2.weight", path).dim(0);
    const int64_t npr = w.at("model.22.proto.cv1.conv.weight").dim(0);
    s.npr = static_cast<int64_t>(std::llround(static_cast<double>(npr) / s.width));
  }
  for (int64_t l : {2, 4, 6, 8, 12, 15, 18, 21}) {
    if (w.count(str_cat("model.", l, ".m.0.cv2.conv_offset.weight"))) s.dcn.push_back(l);
    if (w.count(str_cat("model.", l, ".m.0.cv2.fuse.weight"))) s.dsconv.push_back(l);
  }
  if (scaled_channels(s, 64) != c0 || scaled_channels(s, 1024) != c9)
    throw ModelError(
        str_cat(path, ": layer widths ", c0, "/", c9, " do not follow YOLOv8's channel rule"));
  return s;
}

void load_onnx_weights(YoloV8Impl& net, const std::string& path) {
  const std::map<std::string, Tensor> w = initializers(path);
  torch::NoGradGuard ng;
  auto copy = [&](torch::Tensor& dst, const Tensor& src, const std::string& name) {
    torch::Tensor t = to_torch(src);
    if (t.sizes() != dst.sizes())
      throw ModelError(str_cat(path, ": '", name, "' is ", shape_str(src.shape()),
                               ", the network's parameter has ", dst.sizes().size(), " dims ",
                               str_cat(dst.sizes())));
    dst.copy_(t);
  };
  auto ends = [](const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  // A layer's snake convolutions, by the layer's "fuse" weight in the export.
  auto snake_layer = [](const std::string& n) -> std::string {
    for (const char* part : {".snake_x.", ".snake_y.", ".fuse."}) {
      const size_t at = n.find(part);
      if (at != std::string::npos) return n.substr(0, at);
    }
    return "";
  };
  for (auto& p : net.named_parameters(true)) {
    const std::string& n = p.key();
    torch::Tensor& t = p.value();
    const std::string sl = snake_layer(n);
    if (!sl.empty() && !w.count(sl + ".fuse.weight")) continue;  // not in the export: as built
    if (ends(n, ".offset_bn.weight")) {
      t.fill_(1.f);
    } else if (ends(n, ".offset_bn.bias")) {
      const std::string conv = n.substr(0, n.size() - 15) + ".offset.bias";
      copy(t, need(w, conv, path), conv);
    } else if (ends(n, ".bn.weight")) {
      t.fill_(1.f);
    } else if (ends(n, ".bn.bias")) {
      const std::string conv = n.substr(0, n.size() - 8) + ".conv.bias";
      copy(t, need(w, conv, path), conv);
    } else if (ends(n, "dfl.weight")) {
      copy(t, need(w, "model.22.dfl.conv.weight", path), "model.22.dfl.conv.weight");
    } else if (n.find(".conv_offset.") != std::string::npos && !w.count(n)) {
      // A DCNv2 layer the export lacks: zero offsets (see below for its weight).
      t.zero_();
    } else {
      copy(t, need(w, n, path), n);
    }
  }
  // ... and its mask sigmoid(0) = 1/2 against a doubled weight: the plain convolution.
  for (auto& m : net.named_modules("", false))
    if (auto* c = dynamic_cast<ConvBnActImpl*>(m.value().get()))
      if (c->deform && !w.count(m.key() + ".conv_offset.weight")) c->conv->weight.mul_(2);
  for (auto& b : net.named_buffers(true)) {
    const std::string& n = b.key();
    if (ends(n, ".running_mean")) b.value().zero_();
    if (ends(n, ".running_var")) b.value().fill_(1.f - 1e-3f);  // BN eps: sqrt(var + eps) = 1
  }
}

void export_onnx(YoloV8Impl& net, const std::string& path, int64_t height, int64_t width,
                 const std::vector<std::string>& names) {
  if (height <= 0 || width <= 0 || height % 32 || width % 32 || height > 8192 || width > 8192)
    throw InputError(str_cat("export size ", width, "x", height, " must be multiples of 32"));
  if (!net.spec.dsconv.empty()) {  // snake convolutions take their grid size from a forward
    torch::NoGradGuard ng;
    const bool was_training = net.is_training();
    net.eval();
    net.forward(torch::zeros({1, 3, height, width}));
    if (was_training) net.train();
  }
  std::map<const torch::nn::Module*, std::string> module_names;
  for (auto& m : net.named_modules("", false)) module_names[m.value().get()] = m.key();
  Writer w(module_names, net.spec.dcn.empty() ? 17 : 19);
  const YoloSpec& spec = net.spec;
  w.b.input("images", DType::f32, {1, 3, height, width});
  auto up = [&](const std::string& x, const std::string& s) {
    return w.op("Resize",
                {x, "", w.init(w.fresh("/scales"), Tensor::from_vector<float>({4}, {1, 1, 2, 2}))},
                s + "/Resize",
                {{"mode", attr_string("nearest")},
                 {"coordinate_transformation_mode", attr_string("asymmetric")},
                 {"nearest_mode", attr_string("floor")}});
  };
  auto cat = [&](const std::vector<std::string>& xs, const std::string& s, int64_t axis = 1) {
    return w.op("Concat", xs, s + "/Concat", {{"axis", attr_int(axis)}});
  };
  std::string y = w.cba(*net.convs[1], w.cba(*net.convs[0], "images"));
  y = c2f_graph(w, *net.c2fs[0], y);
  const std::string p3 = c2f_graph(w, *net.c2fs[1], w.cba(*net.convs[2], y));
  const std::string p4 = c2f_graph(w, *net.c2fs[2], w.cba(*net.convs[3], p3));
  std::string p5 = c2f_graph(w, *net.c2fs[3], w.cba(*net.convs[4], p4));
  {  // SPPF
    SppfImpl& sp = *net.sppf;
    const std::string s = scope(w.name_of(sp));
    const std::string a = w.cba(*sp.cv1, p5);
    auto pool = [&](const std::string& x, int i) {
      const int64_t k = sp.k, p = k / 2;
      return w.op("MaxPool", {x}, str_cat(s, "/m/MaxPool", i ? "_" + std::to_string(i) : ""),
                  {{"kernel_shape", attr_ints({k, k})},
                   {"strides", attr_ints({1, 1})},
                   {"pads", attr_ints({p, p, p, p})},
                   {"dilations", attr_ints({1, 1})},
                   {"ceil_mode", attr_int(0)}});
    };
    const std::string b1 = pool(a, 0), b2 = pool(b1, 1), b3 = pool(b2, 2);
    p5 = w.cba(*sp.cv2, cat({a, b1, b2, b3}, s));
  }
  const std::string h12 = c2f_graph(w, *net.c2fs[4], cat({up(p5, "/model.10"), p4}, "/model.11"));
  const std::string h15 = c2f_graph(w, *net.c2fs[5], cat({up(h12, "/model.13"), p3}, "/model.14"));
  const std::string h18 =
      c2f_graph(w, *net.c2fs[6], cat({w.cba(*net.convs[5], h15), h12}, "/model.17"));
  const std::string h21 =
      c2f_graph(w, *net.c2fs[7], cat({w.cba(*net.convs[6], h18), p5}, "/model.20"));
  DetectImpl& d = *net.head;
  const std::vector<std::string> feats{h15, h18, h21};
  auto branch = [&](HeadBranchImpl& hb, const std::string& x) {
    return w.plain_conv(*hb.b2, w.cba(*hb.b1, w.cba(*hb.b0, x)));
  };
  std::vector<std::string> flat;
  std::vector<float> anchors_x, anchors_y, stride_row;
  for (size_t i = 0; i < feats.size(); ++i) {
    const std::string lv = cat({branch(*d.box[i], feats[i]), branch(*d.cls[i], feats[i])},
                               str_cat("/model.22/level", i));
    flat.push_back(w.op("Reshape", {lv, w.constant_i64({1, d.no, -1})},
                        str_cat("/model.22/Reshape", i ? "_" + std::to_string(i) : "")));
    const int64_t s = net.strides[i], gh = height / s, gw = width / s;
    for (int64_t r = 0; r < gh; ++r)
      for (int64_t c = 0; c < gw; ++c) {
        anchors_x.push_back(static_cast<float>(c) + 0.5f);
        anchors_y.push_back(static_cast<float>(r) + 0.5f);
        stride_row.push_back(static_cast<float>(s));
      }
  }
  const int64_t a = static_cast<int64_t>(anchors_x.size()), rm = d.reg_max;
  const std::string xcat = cat(flat, "/model.22", 2);
  const std::string box = "/model.22/Split_output_0", cls = "/model.22/Split_output_1";
  w.b.node("Split", {xcat, w.constant_i64({4 * rm, d.nc})}, {box, cls}, {{"axis", attr_int(1)}},
           "/model.22/Split");
  std::string dist = w.op("Reshape", {box, w.constant_i64({1, 4, rm, a})}, "/model.22/dfl/Reshape");
  dist = w.op("Transpose", {dist}, "/model.22/dfl/Transpose", {{"perm", attr_ints({0, 2, 1, 3})}});
  dist = w.op("Softmax", {dist}, "/model.22/dfl/Softmax", {{"axis", attr_int(1)}});
  dist = w.conv(dist, "/model.22/dfl/conv", d.dfl->weight, torch::Tensor(), 1, 1, 1,
                "model.22.dfl.conv");
  dist = w.op("Reshape", {dist, w.constant_i64({1, 4, a})}, "/model.22/dfl/Reshape_1");
  std::vector<float> anc = anchors_x;
  anc.insert(anc.end(), anchors_y.begin(), anchors_y.end());
  const std::string anchors =
      w.init("/model.22/anchors", Tensor::from_vector<float>({1, 2, a}, anc));
  const std::string strides =
      w.init("/model.22/strides", Tensor::from_vector<float>({1, a}, stride_row));
  const std::string lt =
      w.op("Slice", {dist, w.constant_i64({0}), w.constant_i64({2}), w.constant_i64({1})},
           "/model.22/Slice");
  const std::string rb =
      w.op("Slice", {dist, w.constant_i64({2}), w.constant_i64({4}), w.constant_i64({1})},
           "/model.22/Slice_1");
  const std::string x1y1 = w.op("Sub", {anchors, lt}, "/model.22/Sub");
  const std::string x2y2 = w.op("Add", {anchors, rb}, "/model.22/Add");
  const std::string sum = w.op("Add", {x1y1, x2y2}, "/model.22/Add_1");
  const std::string cxy =
      w.op("Div", {sum, w.init("/model.22/two", Tensor::scalar<float>(2.f))}, "/model.22/Div");
  const std::string wh = w.op("Sub", {x2y2, x1y1}, "/model.22/Sub_1");
  const std::string dbox = w.op("Mul", {cat({cxy, wh}, "/model.22/box"), strides}, "/model.22/Mul");
  std::vector<std::string> out{dbox, w.op("Sigmoid", {cls}, "/model.22/Sigmoid")};
  if (d.nm > 0) {
    std::vector<std::string> mc;
    for (size_t i = 0; i < feats.size(); ++i)
      mc.push_back(w.op("Reshape", {branch(*d.coef[i], feats[i]), w.constant_i64({1, d.nm, -1})},
                        str_cat("/model.22/cv4_reshape", i)));
    out.push_back(cat(mc, "/model.22/mc", 2));
  }
  w.b.node("Concat", out, {"output0"}, {{"axis", attr_int(1)}}, "/model.22/Concat_out");
  w.b.output("output0", DType::f32, {1, 4 + d.nc + d.nm, a});
  if (d.nm > 0) {
    ProtoImpl& pr = *d.proto;
    const std::string ps = scope(w.name_of(pr));
    std::string t = w.cba(*pr.cv1, h15);
    t = w.op("ConvTranspose",
             {t, w.init("model.22.proto.upsample.weight", from_torch(pr.upsample->weight)),
              w.init("model.22.proto.upsample.bias", from_torch(pr.upsample->bias))},
             ps + "/upsample/ConvTranspose",
             {{"kernel_shape", attr_ints({2, 2})},
              {"strides", attr_ints({2, 2})},
              {"pads", attr_ints({0, 0, 0, 0})},
              {"dilations", attr_ints({1, 1})},
              {"group", attr_int(1)}});
    t = w.cba(*pr.cv3, w.cba(*pr.cv2, t));
    w.b.node("Identity", {t}, {"output1"}, {}, "/model.22/proto/out");
    w.b.output("output1", DType::f32, {1, d.nm, height / 4, width / 4});
  }
  const std::string dict = names_metadata(names);
  w.b.metadata("author", "visionrt train");
  w.b.metadata("task", spec.task);
  w.b.metadata("stride", "32");
  w.b.metadata("batch", "1");
  w.b.metadata("imgsz", str_cat("[", height, ", ", width, "]"));
  if (!names.empty()) w.b.metadata("names", dict);
  w.b.producer("visionrt");
  w.b.save(path);
}

std::string names_metadata(const std::vector<std::string>& names) {
  std::string dict = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    std::string esc;
    for (char c : names[i]) {
      if (c == '\'' || c == '\\') esc += '\\';
      esc += c;
    }
    dict += str_cat(i ? ", " : "", i, ": '", esc, "'");
  }
  return dict + "}";
}

}  // namespace visionrt::train
