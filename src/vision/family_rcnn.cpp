// The end-to-end detector family, "rcnn" (family_rcnn.hpp).
#include "vision/family_rcnn.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/strings.hpp"
#include "vision/family.hpp"
#include "visionrt/error.hpp"

namespace visionrt {

const std::vector<std::string>& torchvision_coco_names() {
  static const std::vector<std::string> k = {"__background__",
                                             "person",
                                             "bicycle",
                                             "car",
                                             "motorcycle",
                                             "airplane",
                                             "bus",
                                             "train",
                                             "truck",
                                             "boat",
                                             "traffic light",
                                             "fire hydrant",
                                             "N/A",
                                             "stop sign",
                                             "parking meter",
                                             "bench",
                                             "bird",
                                             "cat",
                                             "dog",
                                             "horse",
                                             "sheep",
                                             "cow",
                                             "elephant",
                                             "bear",
                                             "zebra",
                                             "giraffe",
                                             "N/A",
                                             "backpack",
                                             "umbrella",
                                             "N/A",
                                             "N/A",
                                             "handbag",
                                             "tie",
                                             "suitcase",
                                             "frisbee",
                                             "skis",
                                             "snowboard",
                                             "sports ball",
                                             "kite",
                                             "baseball bat",
                                             "baseball glove",
                                             "skateboard",
                                             "surfboard",
                                             "tennis racket",
                                             "bottle",
                                             "N/A",
                                             "wine glass",
                                             "cup",
                                             "fork",
                                             "knife",
                                             "spoon",
                                             "bowl",
                                             "banana",
                                             "apple",
                                             "sandwich",
                                             "orange",
                                             "broccoli",
                                             "carrot",
                                             "hot dog",
                                             "pizza",
                                             "donut",
                                             "cake",
                                             "chair",
                                             "couch",
                                             "potted plant",
                                             "bed",
                                             "N/A",
                                             "dining table",
                                             "N/A",
                                             "N/A",
                                             "toilet",
                                             "N/A",
                                             "tv",
                                             "laptop",
                                             "mouse",
                                             "remote",
                                             "keyboard",
                                             "cell phone",
                                             "microwave",
                                             "oven",
                                             "toaster",
                                             "sink",
                                             "refrigerator",
                                             "N/A",
                                             "book",
                                             "clock",
                                             "vase",
                                             "scissors",
                                             "teddy bear",
                                             "hair drier",
                                             "toothbrush"};
  return k;
}

cv::Mat paste_soft_mask(const float* mask, int64_t mh, int64_t mw, const ImageGeometry& g,
                        const BoxXYXY* box_net, cv::Rect* roi) {
  *roi &= cv::Rect(0, 0, g.src_w, g.src_h);
  cv::Mat out = cv::Mat::zeros(std::max(roi->height, 0), std::max(roi->width, 0), CV_8UC1);
  if (roi->empty() || mh <= 0 || mw <= 0) return out;
  // Per axis: the two neighbours and weights of every output pixel (-1: outside, weight 0).
  struct Axis {
    std::vector<int> i0, i1;
    std::vector<float> w0, w1;
  };
  auto axis = [&](int n, int off, double gain, int pad, int net, int64_t len, bool per_box,
                  float b0, float b1) {
    Axis a;
    a.i0.resize(n);
    a.i1.resize(n);
    a.w0.resize(n);
    a.w1.resize(n);
    for (int k = 0; k < n; ++k) {
      const double xn = (off + k + 0.5) * gain + pad;  // network pixels, continuous
      if (!per_box) {  // interpolate over the input-sized map: clamp at the edges
        float f;
        axis_weights(xn * static_cast<double>(len) / net - 0.5, static_cast<int>(len), &a.i0[k],
                     &a.i1[k], &f);
        a.w0[k] = 1 - f;
        a.w1[k] = f;
      } else {  // grid_sample over the box, zeros outside
        const double u = (xn - b0) / std::max(1e-6, static_cast<double>(b1 - b0)) * len - 0.5;
        const double fl = std::floor(u);
        const int j = static_cast<int>(std::max(-2.0, std::min(fl, static_cast<double>(len))));
        const float f = static_cast<float>(u - fl);
        a.i0[k] = j >= 0 && j < len ? j : -1;
        a.i1[k] = j + 1 >= 0 && j + 1 < len ? j + 1 : -1;
        a.w0[k] = a.i0[k] >= 0 ? 1 - f : 0.f;
        a.w1[k] = a.i1[k] >= 0 ? f : 0.f;
        if (a.i0[k] < 0) a.i0[k] = 0;
        if (a.i1[k] < 0) a.i1[k] = 0;
      }
    }
    return a;
  };
  const bool per_box = box_net != nullptr;
  const Axis ax = axis(roi->width, roi->x, g.gain_x, g.left, g.net_w, mw, per_box,
                       per_box ? box_net->x1 : 0.f, per_box ? box_net->x2 : 0.f);
  const Axis ay = axis(roi->height, roi->y, g.gain_y, g.top, g.net_h, mh, per_box,
                       per_box ? box_net->y1 : 0.f, per_box ? box_net->y2 : 0.f);
  for (int y = 0; y < roi->height; ++y) {
    const float* r0 = mask + static_cast<size_t>(ay.i0[y]) * mw;
    const float* r1 = mask + static_cast<size_t>(ay.i1[y]) * mw;
    uint8_t* row = out.ptr<uint8_t>(y);
    for (int x = 0; x < roi->width; ++x) {
      const float t = r0[ax.i0[x]] * ax.w0[x] + r0[ax.i1[x]] * ax.w1[x];
      const float b = r1[ax.i0[x]] * ax.w0[x] + r1[ax.i1[x]] * ax.w1[x];
      row[x] = t * ay.w0[y] + b * ay.w1[y] > 0.5f ? 1 : 0;
    }
  }
  return out;
}

// ---- the family ----
namespace {

bool is_int(DType t) { return t == DType::i64 || t == DType::i32; }

struct Layout {
  bool mmdeploy = false;  // dets [1,N,5] + labels [1,N]; else boxes [N,4] + labels + scores [N]
  int boxes = -1, labels = -1, scores = -1, masks = -1;
};

// torchvision: a rank-2 [N,4] f32 output, a rank-1 integer output (labels) and a rank-1 f32 one
// (scores); optional masks [N,1,H,W]. mmdeploy: [1,N,5] f32 dets and a rank-2 integer output;
// optional masks [1,N,h,w].
Layout find_layout(const ModelView& m) {
  Layout l;
  const auto& outs = m.model.outputs();
  auto dtype = [&](int i) { return outs[i].dtype; };
  const int n = m.num_outputs();
  for (int i = 0; i < n && l.boxes < 0; ++i)
    if (m.rank(i) == 2 && m.dim(i, 1) == 4 && dtype(i) == DType::f32) l.boxes = i;
  if (l.boxes >= 0) {
    for (int i = 0; i < n; ++i) {
      if (m.rank(i) == 1 && is_int(dtype(i)) && l.labels < 0) l.labels = i;
      if (m.rank(i) == 1 && dtype(i) == DType::f32 && l.scores < 0) l.scores = i;
      if (m.rank(i) == 4 && m.dim(i, 1) == 1 && dtype(i) == DType::f32 && l.masks < 0) l.masks = i;
    }
    if (l.labels < 0 || l.scores < 0) l.boxes = -1;
    return l;
  }
  for (int i = 0; i < n && l.boxes < 0; ++i)
    if (m.rank(i) == 3 && m.dim(i, 2) == 5 && dtype(i) == DType::f32) l.boxes = i;
  if (l.boxes < 0) return l;
  l.mmdeploy = true;
  for (int i = 0; i < n; ++i) {
    if (m.rank(i) == 2 && is_int(dtype(i)) && l.labels < 0) l.labels = i;
    if (m.rank(i) == 4 && dtype(i) == DType::f32 && l.masks < 0) l.masks = i;
  }
  if (l.labels < 0) l.boxes = -1;
  return l;
}

class RcnnFamily : public Family {
 public:
  RcnnFamily(const ModelView& m, FamilySetup* s) : l_(find_layout(m)) {
    if (l_.boxes < 0)
      throw ModelError(str_cat(m.path,
                               ": rcnn needs boxes [N,4] f32, labels [N] int and scores [N] f32 "
                               "outputs (torchvision) or dets [1,N,5] f32 and labels [1,N] int "
                               "(mmdeploy)"));
    s->task = l_.masks >= 0 ? Task::segment : Task::detect;
    PreprocessConfig& pre = s->pre;
    if (l_.mmdeploy) {  // mmdetection's data_preprocessor: ImageNet mean/std on RGB
      pre.mean = {123.675f, 116.28f, 103.53f};
      pre.std = {58.395f, 57.12f, 57.375f};
    } else {  // torchvision normalizes and resizes inside the graph: RGB in 0..1
      s->default_names = torchvision_coco_names();
      s->default_names_source = "torchvision's COCO categories (default for this layout)";
    }
    normalization_from_metadata(m, &pre);
  }

  std::string summary() const override {
    return l_.mmdeploy ? "mmdeploy end2end outputs" : "torchvision detection outputs";
  }

  void decode(InferRequest& req, const DecodeContext& c, Prediction* out) const override {
    const ImageGeometry& g = c.g;
    Tensor bt = req.get_output_tensor(l_.boxes), lt = req.get_output_tensor(l_.labels);
    Tensor st, mt;
    int64_t n = 0;
    if (l_.mmdeploy) {
      c.check(bt, 3, "dets", "rcnn");
      n = bt.dim(1);
      if (bt.dim(2) != 5 || lt.numel() != static_cast<size_t>(n))
        throw InputError(str_cat(c.path, ": dets ", shape_str(bt.shape()), " and labels ",
                                 shape_str(lt.shape()), " disagree"));
    } else {
      n = bt.rank() == 2 ? bt.dim(0) : -1;
      st = req.get_output_tensor(l_.scores);
      if (bt.dtype() != DType::f32 || bt.rank() != 2 || bt.dim(1) != 4 ||
          st.dtype() != DType::f32 || st.numel() != static_cast<size_t>(n) ||
          lt.numel() != static_cast<size_t>(n))
        throw InputError(str_cat(c.path, ": boxes ", shape_str(bt.shape()), ", labels ",
                                 shape_str(lt.shape()), " and scores ", shape_str(st.shape()),
                                 " disagree"));
    }
    int64_t mh = 0, mw = 0;
    bool per_box = false;
    if (l_.masks >= 0) {
      mt = req.get_output_tensor(l_.masks);
      const bool ok =
          mt.dtype() == DType::f32 && mt.rank() == 4 &&
          (l_.mmdeploy ? mt.dim(0) == 1 && mt.dim(1) == n : mt.dim(0) == n && mt.dim(1) == 1);
      if (!ok)
        throw InputError(str_cat(c.path, ": masks output ", shape_str(mt.shape()), " does not fit ",
                                 n, " detections"));
      mh = mt.dim(2);
      mw = mt.dim(3);
      // Masks the size of the network input are pasted already; smaller ones cover their box.
      per_box = !(mh == g.net_h && mw == g.net_w);
    }
    const float* b = bt.data<float>();
    const int64_t bstride = l_.mmdeploy ? 5 : 4;
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    auto score = [&](int64_t i) { return l_.mmdeploy ? b[i * 5 + 4] : st.data<float>()[i]; };
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t z) { return score(a) > score(z); });
    for (int64_t i : order) {
      if (static_cast<int64_t>(out->detections.size()) >= c.opt.max_det) break;
      const float s = score(i);
      const int cls = static_cast<int>(lt.at_f64(static_cast<size_t>(i)));
      if (!(s > c.opt.conf) || !class_wanted(c.opt.classes, cls)) continue;
      const BoxXYXY bn{b[i * bstride], b[i * bstride + 1], b[i * bstride + 2], b[i * bstride + 3]};
      if (!(std::isfinite(bn.x1) && std::isfinite(bn.y1) && std::isfinite(bn.x2) &&
            std::isfinite(bn.y2)))
        continue;
      Detection d;
      c.box_to_image(bn, &d);
      d.score = s;
      d.class_id = cls;
      d.label = c.label_of(cls);
      if (l_.masks >= 0) {
        // The pasted mask reaches a little beyond its box (torchvision widens the box by 2/28).
        const float mx = 0.05f * (d.x2 - d.x1) + 2, my = 0.05f * (d.y2 - d.y1) + 2;
        const int x0 = static_cast<int>(std::floor(d.x1 - mx)),
                  y0 = static_cast<int>(std::floor(d.y1 - my));
        d.mask_roi = cv::Rect(x0, y0, static_cast<int>(std::ceil(d.x2 + mx)) - x0,
                              static_cast<int>(std::ceil(d.y2 + my)) - y0);
        d.mask = paste_soft_mask(mt.data<float>() + static_cast<size_t>(i) * mh * mw, mh, mw, g,
                                 per_box ? &bn : nullptr, &d.mask_roi);
      }
      out->detections.push_back(std::move(d));
    }
  }

 private:
  Layout l_;
};

bool recognise(const ModelView& m) { return find_layout(m).boxes >= 0; }

}  // namespace

FamilyInfo rcnn_family() {
  return {"rcnn", recognise, [](const ModelView& m, FamilySetup* s) {
            return std::unique_ptr<Family>(new RcnnFamily(m, s));
          }};
}

}  // namespace visionrt
