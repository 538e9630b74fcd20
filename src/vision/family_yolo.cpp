// The YOLOv8 and YOLOv5 families (family_yolo.hpp).
#include "vision/family_yolo.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <opencv2/imgproc.hpp>

#include "common/strings.hpp"
#include "vision/family.hpp"
#include "visionrt/error.hpp"

namespace visionrt {

std::vector<Candidate> decode_yolo(const float* pred, int64_t n, int64_t nc, int64_t nm, bool v5,
                                   const NmsParams& p) {
  const int64_t ch = (v5 ? 5 : 4) + nc + nm;
  auto at = [&](int64_t k, int64_t i) { return v5 ? pred[i * ch + k] : pred[k * n + i]; };
  const int64_t c0 = v5 ? 5 : 4;
  std::vector<Candidate> cand;
  for (int64_t i = 0; i < n; ++i) {
    float obj = 1.f;
    if (v5) {
      obj = at(4, i);
      if (!(obj > p.conf)) continue;
    }
    Candidate c;
    float cx = at(0, i), cy = at(1, i), w = at(2, i), h = at(3, i);
    c.box = {cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2};
    c.anchor = static_cast<int32_t>(i);
    if (p.multi_label) {
      for (int64_t j = 0; j < nc; ++j) {
        float s = at(c0 + j, i) * obj;
        if (s > p.conf && class_wanted(p.classes, static_cast<int>(j))) {
          c.score = s;
          c.cls = static_cast<int32_t>(j);
          cand.push_back(c);
        }
      }
      continue;
    }
    int64_t best = 0;
    float best_s = -INFINITY;
    for (int64_t j = 0; j < nc; ++j) {
      float s = at(c0 + j, i) * obj;
      if (s > best_s) {
        best_s = s;
        best = j;
      }
    }
    if (!(best_s > p.conf) || !class_wanted(p.classes, static_cast<int>(best))) continue;
    c.score = best_s;
    c.cls = static_cast<int32_t>(best);
    cand.push_back(c);
  }
  return run_nms(std::move(cand), p);
}

// ---- instance masks ----
namespace {

// Bilinear sample (PyTorch interpolate, align_corners=False: negative source coordinates
// clamp to 0, the far neighbour clamps to the last index) of a region of logits.
struct LogitPatch {
  cv::Mat m;  // CV_32F logits of proto rows r0.., cols c0..
  int r0 = 0, c0 = 0;
  int rows_max = 0, cols_max = 0;  // valid index range of the whole map (exclusive)
  float at(int r, int c) const {
    r -= r0;
    c -= c0;
    if (r < 0 || c < 0 || r >= m.rows || c >= m.cols) return 0.f;
    return m.at<float>(r, c);
  }
};

}  // namespace

cv::Mat instance_mask(const float* protos, int64_t nm, int64_t mh, int64_t mw, const float* coefs,
                      int64_t coef_stride, const BoxXYXY& bn, const BoxXYXY& bs,
                      const ImageGeometry& g, bool retina, cv::Rect* roi) {
  const double sx = static_cast<double>(mw) / g.net_w, sy = static_cast<double>(mh) / g.net_h;
  const cv::Rect image(0, 0, g.src_w, g.src_h);
  // Region of the proto map that the original image maps onto, and the ROI of the output.
  double reg_x0, reg_y0, reg_w, reg_h;
  cv::Rect out;
  if (retina) {
    double gain = std::min(static_cast<double>(mh) / g.src_h, static_cast<double>(mw) / g.src_w);
    double pw = (mw - g.src_w * gain) / 2, ph = (mh - g.src_h * gain) / 2;
    int left = static_cast<int>(pw), top = static_cast<int>(ph);
    int right = static_cast<int>(mw - pw), bottom = static_cast<int>(mh - ph);
    reg_x0 = left;
    reg_y0 = top;
    reg_w = right - left;
    reg_h = bottom - top;
    // crop_mask at native resolution keeps x1 <= x < x2.
    int x0 = static_cast<int>(std::ceil(bs.x1)), y0 = static_cast<int>(std::ceil(bs.y1));
    int x1 = static_cast<int>(std::ceil(bs.x2)), y1 = static_cast<int>(std::ceil(bs.y2));
    out = cv::Rect(x0, y0, std::max(0, x1 - x0), std::max(0, y1 - y0)) & image;
  } else {
    reg_x0 = g.left * sx;
    reg_y0 = g.top * sy;
    reg_w = g.new_w * sx;
    reg_h = g.new_h * sy;
    // Bilinear reaches one proto cell beyond the crop: margin of one cell in source pixels.
    double mx = (reg_w > 0 ? g.src_w / reg_w : 1) + 1, my = (reg_h > 0 ? g.src_h / reg_h : 1) + 1;
    int x0 = static_cast<int>(std::floor(bs.x1 - mx)),
        y0 = static_cast<int>(std::floor(bs.y1 - my));
    int x1 = static_cast<int>(std::ceil(bs.x2 + mx)), y1 = static_cast<int>(std::ceil(bs.y2 + my));
    out = cv::Rect(x0, y0, std::max(0, x1 - x0), std::max(0, y1 - y0)) & image;
  }
  *roi = out;
  cv::Mat mask(out.height, out.width, CV_8UC1, cv::Scalar(0));
  if (out.empty() || reg_w <= 0 || reg_h <= 0) return mask;
  // Per-column and per-row sampling positions in the proto map.
  std::vector<int> cx0(out.width), cx1(out.width), ry0(out.height), ry1(out.height);
  std::vector<float> fx(out.width), fy(out.height);
  const int mwi = static_cast<int>(mw), mhi = static_cast<int>(mh);
  // Output pixel p (of src_len along one axis) -> proto cells and weight. Retina: the integer
  // padding-free region resized to the image (clamped inside it); otherwise the fractional
  // region mapped onto the whole map (clamped to the map).
  auto sample = [&](int p, double reg0, double reg_len, int src_len, int map_len, int* i0, int* i1,
                    float* f) {
    const double u = (p + 0.5) * reg_len / src_len - 0.5;
    if (retina) {
      axis_weights(u, static_cast<int>(std::lround(reg_len)), i0, i1, f);
      *i0 += static_cast<int>(reg0);
      *i1 += static_cast<int>(reg0);
    } else {
      axis_weights(reg0 + u, map_len, i0, i1, f);
    }
  };
  for (int x = 0; x < out.width; ++x)
    sample(out.x + x, reg_x0, reg_w, g.src_w, mwi, &cx0[x], &cx1[x], &fx[x]);
  for (int y = 0; y < out.height; ++y)
    sample(out.y + y, reg_y0, reg_h, g.src_h, mhi, &ry0[y], &ry1[y], &fy[y]);
  // Logits of the proto cells the samples touch.
  LogitPatch lp;
  lp.c0 = *std::min_element(cx0.begin(), cx0.end());
  int c_end = *std::max_element(cx1.begin(), cx1.end()) + 1;
  lp.r0 = *std::min_element(ry0.begin(), ry0.end());
  int r_end = *std::max_element(ry1.begin(), ry1.end()) + 1;
  lp.m = cv::Mat(r_end - lp.r0, c_end - lp.c0, CV_32F, cv::Scalar(0));
  // process_mask's crop at proto resolution: keep column c when x1 <= c < x2 (box scaled).
  const double bx1 = bn.x1 * sx, bx2 = bn.x2 * sx, by1 = bn.y1 * sy, by2 = bn.y2 * sy;
  const size_t plane = static_cast<size_t>(mh) * mw;
  for (int r = lp.r0; r < r_end; ++r)
    for (int c = lp.c0; c < c_end; ++c) {
      if (!retina && !(c >= bx1 && c < bx2 && r >= by1 && r < by2)) continue;
      const float* p = protos + static_cast<size_t>(r) * mw + c;
      float acc = 0;
      for (int64_t k = 0; k < nm; ++k) acc += coefs[k * coef_stride] * p[k * plane];
      lp.m.at<float>(r - lp.r0, c - lp.c0) = acc;
    }
  for (int y = 0; y < out.height; ++y) {
    uint8_t* row = mask.ptr<uint8_t>(y);
    const float wy = fy[y];
    const int ys = out.y + y;
    for (int x = 0; x < out.width; ++x) {
      if (retina) {  // crop_mask at native resolution
        int xs = out.x + x;
        if (!(xs >= bs.x1 && xs < bs.x2 && ys >= bs.y1 && ys < bs.y2)) continue;
      }
      const float wx = fx[x];
      float top = lp.at(ry0[y], cx0[x]) * (1 - wx) + lp.at(ry0[y], cx1[x]) * wx;
      float bot = lp.at(ry1[y], cx0[x]) * (1 - wx) + lp.at(ry1[y], cx1[x]) * wx;
      row[x] = (top * (1 - wy) + bot * wy) > 0.f ? 1 : 0;
    }
  }
  return mask;
}

// ---- the families ----
namespace {

bool ultralytics_task(const ModelView& m) {
  const std::string t = m.meta("task");
  return t == "detect" || t == "segment";
}

// Ultralytics' [1, 4 + nc + nm, n] head (YOLOv8) or [1, n, 5 + nc + nm] (YOLOv5), prototypes
// [1, nm, mh, mw] in a rank-4 output for segmentation models.
class YoloFamily : public Family {
 public:
  YoloFamily(const ModelView& m, FamilySetup* s, bool v5) : v5_(v5) {
    const char* fam = v5 ? "yolov5" : "yolov8";
    if (m.rank(0) != 3) throw ModelError(str_cat(m.path, ": ", fam, " output 0 must be rank 3"));
    const int64_t ch = v5 ? m.dim(0, 2) : m.dim(0, 1);
    for (int i = 1; i < m.num_outputs(); ++i)
      if (m.rank(i) == 4) out_protos_ = i;
    nm_ = out_protos_ >= 0 ? m.dim(out_protos_, 1) : 0;
    nc_ = ch - (v5 ? 5 : 4) - nm_;
    if (ch < 0 || nc_ <= 0 || nm_ < 0)
      throw ModelError(str_cat(m.path, ": ", fam, " output ", shape_str(m.model.outputs()[0].shape),
                               " has no room for classes"));
    s->task = out_protos_ >= 0 ? Task::segment : Task::detect;
  }

  std::string summary() const override { return str_cat(nc_, " classes"); }

  void decode(InferRequest& req, const DecodeContext& c, Prediction* out) const override {
    const char* fam = v5_ ? "yolov5" : "yolov8";
    const ImageGeometry& g = c.g;
    Tensor pred = req.get_output_tensor(0);
    c.check(pred, 3, "prediction", fam);
    const int64_t ch = v5_ ? pred.dim(2) : pred.dim(1), n = v5_ ? pred.dim(1) : pred.dim(2);
    if (ch != (v5_ ? 5 : 4) + nc_ + nm_)
      throw InputError(str_cat(c.path, ": prediction output ", shape_str(pred.shape()),
                               " does not have ", (v5_ ? 5 : 4) + nc_ + nm_, " channels"));
    NmsParams np = c.nms();
    std::vector<Candidate> dets = decode_yolo(pred.data<float>(), n, nc_, nm_, v5_, np);
    Tensor protos;
    if (nm_ > 0) {
      protos = req.get_output_tensor(out_protos_);
      c.check(protos, 4, "prototype", fam);
      if (protos.dim(1) != nm_)
        throw InputError(
            str_cat(c.path, ": prototype output has ", protos.dim(1), " channels, not ", nm_));
    }
    for (const Candidate& k : dets) {
      Detection d;
      c.box_to_image(k.box, &d);
      d.score = k.score;
      d.class_id = k.cls;
      d.label = c.label_of(k.cls);
      if (nm_ > 0) {
        const float* pd = pred.data<float>();
        const int64_t base = v5_ ? 5 + nc_ : 4 + nc_;
        const float* coefs = v5_ ? pd + k.anchor * ch + base : pd + base * n + k.anchor;
        d.mask = instance_mask(protos.data<float>(), nm_, protos.dim(2), protos.dim(3), coefs,
                               v5_ ? 1 : n, k.box, {d.x1, d.y1, d.x2, d.y2}, g, c.opt.retina_masks,
                               &d.mask_roi);
      }
      out->detections.push_back(std::move(d));
    }
  }

 private:
  bool v5_;
  int out_protos_ = -1;
  int64_t nc_ = 0, nm_ = 0;
};

// With Ultralytics' task metadata the head's orientation tells v5 from v8; without it, a rank-3
// first output with known dimensions is taken as a YOLO head (channels fewer than anchors: v8).
bool recognise_v8(const ModelView& m) {
  const bool wide = m.rank(0) == 3 && m.dim(0, 1) > m.dim(0, 2);
  if (ultralytics_task(m)) return !wide;
  return m.rank(0) == 3 && m.dim(0, 1) > 0 && m.dim(0, 2) > 0 && m.dim(0, 1) < m.dim(0, 2);
}

bool recognise_v5(const ModelView& m) {
  if (ultralytics_task(m)) return m.rank(0) == 3 && m.dim(0, 1) > m.dim(0, 2);
  return m.rank(0) == 3 && m.dim(0, 1) > 0 && m.dim(0, 2) > 0 && m.dim(0, 1) >= m.dim(0, 2);
}

}  // namespace

FamilyInfo yolov8_family() {
  return {"yolov8", recognise_v8, [](const ModelView& m, FamilySetup* s) {
            return std::unique_ptr<Family>(new YoloFamily(m, s, false));
          }};
}

FamilyInfo yolov5_family() {
  return {"yolov5", recognise_v5, [](const ModelView& m, FamilySetup* s) {
            return std::unique_ptr<Family>(new YoloFamily(m, s, true));
          }};
}

}  // namespace visionrt
