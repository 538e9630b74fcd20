// The SSD family (family_ssd.hpp).
#include "vision/family_ssd.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <opencv2/imgproc.hpp>

#include "common/strings.hpp"
#include "vision/family.hpp"
#include "visionrt/error.hpp"

namespace visionrt {

std::vector<std::array<float, 4>> ssd_priors(const SsdPriorConfig& c) {
  const size_t k_n = c.feature_maps.size();
  if (c.steps.size() != k_n || c.min_sizes.size() != k_n || c.max_sizes.size() != k_n ||
      c.aspect_ratios.size() != k_n)
    throw InputError(
        "SSD prior config: feature_maps, steps, sizes and aspect ratios differ in length");
  std::vector<std::array<float, 4>> out;
  auto clip = [&](float v) { return c.clip ? std::min(1.f, std::max(0.f, v)) : v; };
  for (size_t k = 0; k < k_n; ++k) {
    const int f = c.feature_maps[k];
    const double f_k = static_cast<double>(c.image_size) / c.steps[k];
    const double s_k = c.min_sizes[k] / c.image_size;
    const double s_kp = std::sqrt(s_k * (c.max_sizes[k] / c.image_size));
    for (int i = 0; i < f; ++i)
      for (int j = 0; j < f; ++j) {
        float cx = static_cast<float>((j + 0.5) / f_k), cy = static_cast<float>((i + 0.5) / f_k);
        auto add = [&](double w, double h) {
          out.push_back(
              {clip(cx), clip(cy), clip(static_cast<float>(w)), clip(static_cast<float>(h))});
        };
        add(s_k, s_k);
        add(s_kp, s_kp);
        for (float ar : c.aspect_ratios[k]) {
          double r = std::sqrt(static_cast<double>(ar));
          add(s_k * r, s_k / r);
          add(s_k / r, s_k * r);
        }
      }
  }
  return out;
}

std::vector<std::array<float, 4>> torchvision_default_boxes(
    const std::vector<std::vector<float>>& aspect_ratios, const std::vector<int>& grid_sizes,
    float min_ratio, float max_ratio, bool clip) {
  const size_t n = aspect_ratios.size();
  if (grid_sizes.size() != n || n < 2)
    throw InputError("default boxes: one grid size per aspect-ratio list (at least two)");
  std::vector<double> scales;
  for (size_t k = 0; k < n; ++k)
    scales.push_back(min_ratio + (max_ratio - min_ratio) * k / (n - 1.0));
  scales.push_back(1.0);
  std::vector<std::array<float, 4>> out;
  for (size_t k = 0; k < n; ++k) {
    std::vector<std::pair<float, float>> wh;
    float s = static_cast<float>(scales[k]);
    float sp = static_cast<float>(std::sqrt(scales[k] * scales[k + 1]));
    wh.push_back({s, s});
    wh.push_back({sp, sp});
    for (float ar : aspect_ratios[k]) {
      float q = std::sqrt(ar);
      float w = s * q, h = s / q;
      wh.push_back({w, h});
      wh.push_back({h, w});
    }
    if (clip)
      for (auto& p : wh) {
        p.first = std::min(1.f, std::max(0.f, p.first));
        p.second = std::min(1.f, std::max(0.f, p.second));
      }
    const int f = grid_sizes[k];
    for (int i = 0; i < f; ++i)
      for (int j = 0; j < f; ++j)
        for (const auto& p : wh)
          out.push_back({static_cast<float>((j + 0.5) / f), static_cast<float>((i + 0.5) / f),
                         p.first, p.second});
  }
  return out;
}

std::vector<BoxXYXY> decode_ssd_boxes(const float* loc,
                                      const std::vector<std::array<float, 4>>& priors, float v0,
                                      float v1, bool yx) {
  const float clamp = std::log(1000.f / 16);
  std::vector<BoxXYXY> out(priors.size());
  for (size_t i = 0; i < priors.size(); ++i) {
    const float* l = loc + i * 4;
    const auto& p = priors[i];
    float pcx = yx ? p[1] : p[0], pcy = yx ? p[0] : p[1];
    float pw = yx ? p[3] : p[2], ph = yx ? p[2] : p[3];
    float lx = yx ? l[1] : l[0], ly = yx ? l[0] : l[1];
    float lw = yx ? l[3] : l[2], lh = yx ? l[2] : l[3];
    float cx = pcx + lx * v0 * pw, cy = pcy + ly * v0 * ph;
    float w = pw * std::exp(std::min(lw * v1, clamp)), h = ph * std::exp(std::min(lh * v1, clamp));
    out[i] = {cx - 0.5f * w, cy - 0.5f * h, cx + 0.5f * w, cy + 0.5f * h};
  }
  return out;
}

void softmax_rows(float* x, int64_t n, int64_t c) {
  for (int64_t i = 0; i < n; ++i) {
    float* r = x + i * c;
    float m = *std::max_element(r, r + c), s = 0;
    for (int64_t j = 0; j < c; ++j) s += (r[j] = std::exp(r[j] - m));
    for (int64_t j = 0; j < c; ++j) r[j] /= s;
  }
}

std::vector<Candidate> ssd_select(const std::vector<BoxXYXY>& boxes, const float* scores, int64_t n,
                                  int64_t c, int background, const NmsParams& p) {
  // Per class: scores above conf, the best `per_class_topk` of them (ssd.pytorch's top_k 200,
  // torchvision's topk_candidates), then per-class NMS over all classes and max_det overall.
  std::vector<Candidate> cand, cls;
  for (int64_t j = 0; j < c; ++j) {
    if (j == background || !class_wanted(p.classes, static_cast<int>(j))) continue;
    cls.clear();
    for (int64_t i = 0; i < n; ++i) {
      float s = scores[i * c + j];
      if (s > p.conf)
        cls.push_back(
            {boxes[static_cast<size_t>(i)], s, static_cast<int32_t>(j), static_cast<int32_t>(i)});
    }
    if (p.per_class_topk > 0 && static_cast<int64_t>(cls.size()) > p.per_class_topk) {
      std::stable_sort(cls.begin(), cls.end(),
                       [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
      cls.resize(static_cast<size_t>(p.per_class_topk));
    }
    cand.insert(cand.end(), cls.begin(), cls.end());
  }
  NmsParams q = p;
  q.max_nms = 0;
  return run_nms(std::move(cand), q);
}

std::vector<std::array<float, 4>> ssd_head_priors(int64_t n, int width, const std::string& path) {
  std::vector<std::array<float, 4>> priors;
  if (n == 8732 && width == 300) {
    priors = ssd_priors(SsdPriorConfig{});
  } else {
    std::vector<int> grids;
    int f = (width + 15) / 16;
    for (int k = 0; k < 6; ++k) {
      grids.push_back(f);
      f = (f + 1) / 2;
    }
    priors = torchvision_default_boxes(std::vector<std::vector<float>>(6, {2.f, 3.f}), grids, 0.2f,
                                       0.95f);
  }
  if (static_cast<int64_t>(priors.size()) != n)
    throw ModelError(str_cat(path, ": SSD head has ", n,
                             " boxes; the known prior layouts (SSD300 8732, SSDlite) give ",
                             priors.size()));
  return priors;
}

// ---- the family ----
namespace {

// The first [1, N, 4] output is the boxes, the first other [1, N, C>4] the scores.
void find_outputs(const ModelView& m, int* boxes, int* scores) {
  *boxes = *scores = -1;
  for (int i = 0; i < m.num_outputs() && *boxes < 0; ++i)
    if (m.rank(i) == 3 && m.dim(i, 2) == 4) *boxes = i;
  for (int i = 0; i < m.num_outputs() && *boxes >= 0 && *scores < 0; ++i)
    if (i != *boxes && m.rank(i) == 3 && m.dim(i, 1) == m.dim(*boxes, 1) && m.dim(i, 2) > 4)
      *scores = i;
}

// Raw heads (box encodings against priors, logits: classic SSD300 and torchvision's SSDlite) or
// decoded boxes and probabilities (TF Object Detection API exports, outputs named boxes /
// detection_boxes).
class SsdFamily : public Family {
 public:
  SsdFamily(const ModelView& m, FamilySetup* s) {
    PreprocessConfig& pre = s->pre;
    pre.resize = PreprocessConfig::Resize::stretch;
    pre.antialias = true;
    find_outputs(m, &out_boxes_, &out_scores_);
    if (out_boxes_ < 0 || out_scores_ < 0)
      throw ModelError(str_cat(m.path, ": SSD needs a [1,N,4] box and a [1,N,C] score output"));
    nc_ = m.dim(out_scores_, 2);
    const int64_t n = m.dim(out_boxes_, 1);
    const std::string& bname = m.output_name(out_boxes_);
    raw_ = bname != "boxes" && bname != "detection_boxes";
    if (raw_) {
      softmax_ = true;
      if (n == 8732 && pre.width == 300) {
        pre.mean = {123.f, 117.f, 104.f};  // ssd.pytorch: BGR mean (104,117,123), then RGB
        pre.std = {1.f, 1.f, 1.f};
      } else {
        pre.mean = {127.5f, 127.5f, 127.5f};
        pre.std = {127.5f, 127.5f, 127.5f};
      }
      priors_ = ssd_head_priors(n, pre.width, m.path);
    } else {
      pre.mean = {127.5f, 127.5f, 127.5f};
      pre.std = {127.5f, 127.5f, 127.5f};
    }
    normalization_from_metadata(m, &pre);
    s->task = Task::detect;
  }

  std::string summary() const override { return str_cat(nc_, " classes"); }

  void decode(InferRequest& req, const DecodeContext& c, Prediction* out) const override {
    const ImageGeometry& g = c.g;
    Tensor bt = req.get_output_tensor(out_boxes_), st = req.get_output_tensor(out_scores_);
    c.check(bt, 3, "box", "ssd");
    c.check(st, 3, "score", "ssd");
    const int64_t n = bt.dim(1);
    if (st.dim(1) != n || bt.dim(2) != 4)
      throw InputError(str_cat(c.path, ": SSD outputs ", shape_str(bt.shape()), " and ",
                               shape_str(st.shape()), " disagree"));
    std::vector<BoxXYXY> boxes;
    if (raw_) {
      if (static_cast<int64_t>(priors_.size()) != n)
        throw InputError(
            str_cat(c.path, ": SSD head gave ", n, " boxes for ", priors_.size(), " priors"));
      boxes = decode_ssd_boxes(bt.data<float>(), priors_, 0.1f, 0.2f, false);
    } else {
      const float* b = bt.data<float>();
      boxes.resize(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i)
        boxes[i] = {b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]};
    }
    std::vector<float> scores(st.data<float>(), st.data<float>() + st.numel());
    if (softmax_) softmax_rows(scores.data(), n, st.dim(2));
    NmsParams np = c.nms();
    np.max_nms = 0;
    for (const Candidate& k : ssd_select(boxes, scores.data(), n, st.dim(2), 0, np)) {
      Detection d;
      const float nw = static_cast<float>(g.net_w), nh = static_cast<float>(g.net_h);
      c.box_to_image({k.box.x1 * nw, k.box.y1 * nh, k.box.x2 * nw, k.box.y2 * nh}, &d);
      d.score = k.score;
      d.class_id = k.cls;
      d.label = c.label_of(k.cls);
      out->detections.push_back(std::move(d));
    }
  }

 private:
  int out_boxes_ = -1, out_scores_ = -1;
  int64_t nc_ = 0;
  bool raw_ = false, softmax_ = false;
  std::vector<std::array<float, 4>> priors_;
};

bool recognise(const ModelView& m) {
  int boxes, scores;
  find_outputs(m, &boxes, &scores);
  return boxes >= 0 && scores >= 0;
}

}  // namespace

FamilyInfo ssd_family() {
  return {"ssd", recognise, [](const ModelView& m, FamilySetup* s) {
            return std::unique_ptr<Family>(new SsdFamily(m, s));
          }};
}

}  // namespace visionrt
