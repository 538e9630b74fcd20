// The semantic segmentation family (family_semantic.hpp).
#include "vision/family_semantic.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <opencv2/imgproc.hpp>

#include "common/strings.hpp"
#include "vision/family.hpp"
#include "vision/postprocess.hpp"
#include "visionrt/error.hpp"

namespace visionrt {

namespace {
struct AxisMap {
  std::vector<int> i0, i1;
  std::vector<float> f;
};
// Original pixel -> logit-map sample position, through the letterbox or stretch.
AxisMap axis_map(int src, int new_sz, int pad, int net, int64_t logit_sz) {
  AxisMap m;
  m.i0.resize(src);
  m.i1.resize(src);
  m.f.resize(src);
  for (int x = 0; x < src; ++x) {
    double xn = (x + 0.5) * new_sz / src + pad;
    axis_weights(xn * logit_sz / net - 0.5, static_cast<int>(logit_sz), &m.i0[x], &m.i1[x],
                 &m.f[x]);
  }
  return m;
}
}  // namespace

cv::Mat semantic_from_logits(const float* logits, int64_t c, int64_t lh, int64_t lw,
                             const ImageGeometry& g) {
  AxisMap mx = axis_map(g.src_w, g.new_w, g.left, g.net_w, lw);
  AxisMap my = axis_map(g.src_h, g.new_h, g.top, g.net_h, lh);
  cv::Mat labels(g.src_h, g.src_w, CV_32SC1);
  const size_t plane = static_cast<size_t>(lh) * lw;
  std::vector<float> best(g.src_w);
  for (int y = 0; y < g.src_h; ++y) {
    int32_t* out = labels.ptr<int32_t>(y);
    std::fill(best.begin(), best.end(), -INFINITY);
    std::fill(out, out + g.src_w, 0);
    for (int64_t k = 0; k < c; ++k) {
      const float* r0 = logits + k * plane + static_cast<size_t>(my.i0[y]) * lw;
      const float* r1 = logits + k * plane + static_cast<size_t>(my.i1[y]) * lw;
      const float wy = my.f[y];
      for (int x = 0; x < g.src_w; ++x) {
        float wx = mx.f[x];
        float t = r0[mx.i0[x]] * (1 - wx) + r0[mx.i1[x]] * wx;
        float b = r1[mx.i0[x]] * (1 - wx) + r1[mx.i1[x]] * wx;
        float v = t * (1 - wy) + b * wy;
        if (v > best[x]) {  // first maximum wins, as argmax
          best[x] = v;
          out[x] = static_cast<int32_t>(k);
        }
      }
    }
  }
  return labels;
}

cv::Mat semantic_from_labels(const int64_t* lab, int64_t lh, int64_t lw, const ImageGeometry& g) {
  cv::Mat labels(g.src_h, g.src_w, CV_32SC1);
  std::vector<int> xs(g.src_w);
  for (int x = 0; x < g.src_w; ++x) {
    double xn = (x + 0.5) * g.new_w / g.src_w + g.left;
    xs[x] =
        std::min<int>(static_cast<int>(lw) - 1, std::max(0, static_cast<int>(xn * lw / g.net_w)));
  }
  for (int y = 0; y < g.src_h; ++y) {
    double yn = (y + 0.5) * g.new_h / g.src_h + g.top;
    int ys =
        std::min<int>(static_cast<int>(lh) - 1, std::max(0, static_cast<int>(yn * lh / g.net_h)));
    int32_t* out = labels.ptr<int32_t>(y);
    for (int x = 0; x < g.src_w; ++x) out[x] = static_cast<int32_t>(lab[ys * lw + xs[x]]);
  }
  return labels;
}

// ---- the family ----
namespace {

// Class names of the two label sets semantic models are trained on, by class count.
const std::vector<std::string> kVoc = {
    "background", "aeroplane", "bicycle",     "bird",  "boat",        "bottle", "bus",
    "car",        "cat",       "chair",       "cow",   "diningtable", "dog",    "horse",
    "motorbike",  "person",    "pottedplant", "sheep", "sofa",        "train",  "tvmonitor"};
const std::vector<std::string> kCityscapes = {
    "road",         "sidewalk",   "building", "wall",       "fence",  "pole",  "traffic light",
    "traffic sign", "vegetation", "terrain",  "sky",        "person", "rider", "car",
    "truck",        "bus",        "train",    "motorcycle", "bicycle"};

// Output 0: logits [1, C, h, w] (f32) or labels [1, h, w] / [1, 1, h, w] (integers), covering
// the network input.
class SemanticFamily : public Family {
 public:
  SemanticFamily(const ModelView& m, FamilySetup* s) {
    PreprocessConfig& pre = s->pre;
    pre.resize = PreprocessConfig::Resize::stretch;
    pre.antialias = true;
    pre.mean = {123.675f, 116.28f, 103.53f};  // ImageNet (torchvision, PaddleSeg)
    pre.std = {58.395f, 57.12f, 57.375f};
    normalization_from_metadata(m, &pre);
    s->task = Task::semantic;
    const int64_t c = m.rank(0) == 4 ? m.dim(0, 1) : -1;
    if (c == 21) {
      s->default_names = kVoc;
      s->default_names_source = "Pascal VOC (21 classes)";
    } else if (c == 19) {
      s->default_names = kCityscapes;
      s->default_names_source = "Cityscapes (19 classes)";
    }
  }

  void decode(InferRequest& req, const DecodeContext& c, Prediction* out) const override {
    Tensor t = req.get_output_tensor(0);
    if (t.dtype() == DType::f32 && t.rank() == 4 && t.dim(0) == 1) {
      out->labels = semantic_from_logits(t.data<float>(), t.dim(1), t.dim(2), t.dim(3), c.g);
    } else if ((t.dtype() == DType::i64 || t.dtype() == DType::i32) &&
               (t.rank() == 3 || (t.rank() == 4 && t.dim(1) == 1)) && t.dim(0) == 1) {
      std::vector<int64_t> lab(t.numel());
      for (size_t i = 0; i < t.numel(); ++i) lab[i] = static_cast<int64_t>(t.at_f64(i));
      out->labels = semantic_from_labels(lab.data(), t.dim(t.rank() - 2), t.dim(t.rank() - 1), c.g);
    } else {
      throw InputError(str_cat(c.path, ": semantic output ", shape_str(t.shape()), " ",
                               dtype_name(t.dtype()),
                               " is neither [1,C,H,W] logits nor [1,H,W] labels"));
    }
  }
};

// The catch-all: a rank-4 or rank-3 first output.
bool recognise(const ModelView& m) { return m.rank(0) == 4 || m.rank(0) == 3; }

}  // namespace

FamilyInfo semantic_family() {
  return {"semantic", recognise, [](const ModelView& m, FamilySetup* s) {
            return std::unique_ptr<Family>(new SemanticFamily(m, s));
          }};
}

}  // namespace visionrt
