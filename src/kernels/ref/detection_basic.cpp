// Reference kernels for Resize/Upsample (every mode and coordinate transformation),
// NonMaxSuppression, RoiAlign and GridSample. Interpolation is computed in double.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/strings.hpp"
#include "geometry/nms.hpp"
#include "kernels/ref/ref_util.hpp"
#include "ops/resample_shapes.hpp"

namespace visionrt {
namespace {

void resize_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  Tensor& y = c.output(0);
  const Node& n = *c.node;
  bool upsample = n.op_type == "Upsample";
  ResizeAttrs a = resize_attrs(n, c.opset);
  const Tensor* scales = nullptr;
  const Tensor* sizes = nullptr;
  Tensor attr_scales;
  if (upsample && c.opset < 9) {
    attr_scales = Tensor::from_vector<float>({static_cast<int64_t>(n.attr_fs("scales").size())},
                                             n.attr_fs("scales"));
    scales = &attr_scales;
  } else if (a.legacy) {
    scales = &c.input(1);
  } else {
    if (c.has_input(1) && c.input(1).numel() > 0) a.roi = ref::to_doubles(c.input(1));
    if (c.has_input(2)) scales = &c.input(2);
    if (c.has_input(3)) sizes = &c.input(3);
  }
  ResizePlan plan;
  std::string err;
  if (!resize_plan(n, c.opset, x.shape(), scales, sizes, &plan, &err)) c.fail(err);
  size_t r = x.rank();
  // Per axis, per output coordinate: taps and the extrapolation flag.
  std::vector<std::vector<std::vector<Tap>>> taps(r);
  std::vector<std::vector<char>> outside(r);
  for (size_t d = 0; d < r; ++d) {
    taps[d].resize(static_cast<size_t>(y.dim(d)));
    outside[d].resize(static_cast<size_t>(y.dim(d)));
    for (int64_t o = 0; o < y.dim(d); ++o) {
      bool out = false;
      taps[d][o] = axis_taps(a, o, x.dim(d), y.dim(d), plan.scale[d], d, r, &out);
      outside[d][o] = out;
    }
  }
  auto xs = ref::strides_of(x.shape());
  std::vector<double> xv = ref::to_doubles(x), res(y.numel());
  ref::MultiIndex it(y.shape(), {});
  for (size_t i = 0; i < y.numel(); ++i, it.next()) {
    const auto& idx = it.index();
    bool extrap = false;
    for (size_t d = 0; d < r; ++d) extrap |= outside[d][idx[d]] != 0;
    if (extrap && a.coord == "tf_crop_and_resize") {
      res[i] = a.extrapolation;
      continue;
    }
    // Sum over the product of per-axis taps (odometer over tap positions).
    std::vector<size_t> pos(r, 0);
    double acc = 0;
    while (true) {
      double w = 1;
      int64_t off = 0;
      for (size_t d = 0; d < r; ++d) {
        const Tap& t = taps[d][idx[d]][pos[d]];
        w *= t.weight;
        off += t.index * xs[d];
      }
      acc += w * xv[static_cast<size_t>(off)];
      size_t d = r;
      while (d > 0) {
        --d;
        if (++pos[d] < taps[d][idx[d]].size()) break;
        pos[d] = 0;
        if (d == 0) {
          d = r + 1;
          break;
        }
      }
      if (d == r + 1 || r == 0) break;
    }
    res[i] = acc;
  }
  ref::from_doubles(y, res, /*round_ints=*/true);
}

bool resize_accepts(const KernelQuery& q, std::string* why) {
  const Node& n = *q.node;
  std::string mode = n.attr_s("mode", "nearest");
  if (mode != "nearest" && mode != "linear" && mode != "cubic" && mode != "bilinear") {
    *why = "unknown mode '" + mode + "'";
    return false;
  }
  if (q.opset >= 18 && n.attr_i("antialias", 0) != 0) {
    *why = "antialias is not supported";
    return false;
  }
  static const char* kCoords[] = {
      "half_pixel",         "pytorch_half_pixel",        "align_corners",
      "asymmetric",         "tf_half_pixel_for_nearest", "tf_half_pixel_for_nn",
      "tf_crop_and_resize", "half_pixel_symmetric"};
  std::string coord = n.attr_s("coordinate_transformation_mode", "half_pixel");
  if (std::find(std::begin(kCoords), std::end(kCoords), coord) == std::end(kCoords)) {
    *why = "unsupported coordinate_transformation_mode '" + coord + "'";
    return false;
  }
  static const char* kNearest[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
  std::string nm = n.attr_s("nearest_mode", "round_prefer_floor");
  if (std::find(std::begin(kNearest), std::end(kNearest), nm) == std::end(kNearest)) {
    *why = "unsupported nearest_mode '" + nm + "'";
    return false;
  }
  return true;
}

// ---- NonMaxSuppression ----
void nms_kernel(KernelContext& c) {
  const Tensor& boxes = c.input(0);
  const Tensor& scores = c.input(1);
  if (boxes.rank() != 3 || boxes.dim(2) != 4) c.fail("boxes must be [batch, boxes, 4]");
  if (scores.rank() != 3 || scores.dim(0) != boxes.dim(0) || scores.dim(2) != boxes.dim(1))
    c.fail(str_cat("scores ", shape_str(scores.shape()), " do not match boxes ",
                   shape_str(boxes.shape())));
  int64_t max_out = c.has_input(2) && c.input(2).numel() ? c.input(2).at_i64(0) : 0;
  double iou_th = c.has_input(3) && c.input(3).numel() ? c.input(3).at_f64(0) : 0;
  bool has_score_th = c.has_input(4) && c.input(4).numel();
  double score_th = has_score_th ? c.input(4).at_f64(0) : 0;
  bool center = c.node->attr_i("center_point_box", 0) != 0;
  int64_t nb = boxes.dim(0), nbox = boxes.dim(1), ncls = scores.dim(1);
  std::vector<double> bv = ref::to_doubles(boxes), sv = ref::to_doubles(scores);
  std::vector<int64_t> selected;
  // Corners normalized to x1 <= x2, y1 <= y2 (ONNX allows either diagonal), then the shared NMS
  // (geometry/nms.hpp) per batch and class over the boxes scoring above the threshold.
  std::vector<BoxXYXY> all(static_cast<size_t>(nb * nbox));
  for (int64_t i = 0; i < nb * nbox; ++i) {
    const double* p = &bv[static_cast<size_t>(i * 4)];
    BoxXYXY& r = all[static_cast<size_t>(i)];
    if (center) {
      r = {float(p[0] - p[2] / 2), float(p[1] - p[3] / 2), float(p[0] + p[2] / 2),
           float(p[1] + p[3] / 2)};
    } else {
      r = {float(std::min(p[1], p[3])), float(std::min(p[0], p[2])), float(std::max(p[1], p[3])),
           float(std::max(p[0], p[2]))};
    }
  }
  if (max_out > 0) {
    std::vector<int64_t> index;
    std::vector<BoxXYXY> cand;
    std::vector<float> cand_scores;
    for (int64_t b = 0; b < nb; ++b)
      for (int64_t k = 0; k < ncls; ++k) {
        const double* s = &sv[static_cast<size_t>((b * ncls + k) * nbox)];
        index.clear();
        cand.clear();
        cand_scores.clear();
        for (int64_t i = 0; i < nbox; ++i)
          if (!has_score_th || s[i] > score_th) {
            index.push_back(i);
            cand.push_back(all[static_cast<size_t>(b * nbox + i)]);
            cand_scores.push_back(static_cast<float>(s[i]));
          }
        for (int32_t j : nms(cand, cand_scores, {}, static_cast<float>(iou_th), max_out))
          selected.insert(selected.end(), {b, k, index[static_cast<size_t>(j)]});
      }
  }
  c.set_output(
      0, Tensor::from_vector<int64_t>({static_cast<int64_t>(selected.size() / 3), 3}, selected));
}

// ---- RoiAlign ----
void roialign_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  const Tensor& rois = c.input(1);
  const Tensor& bidx = c.input(2);
  Tensor& y = c.output(0);
  if (x.rank() != 4) c.fail("X must be 4-D");
  if (rois.rank() != 2 || rois.dim(1) != 4) c.fail("rois must be [num_rois, 4]");
  if (static_cast<int64_t>(bidx.numel()) != rois.dim(0))
    c.fail("batch_indices must have one value per roi");
  const Node& n = *c.node;
  bool max_mode = n.attr_s("mode", "avg") == "max";
  int64_t oh = y.dim(2), ow = y.dim(3), sr = n.attr_i("sampling_ratio", 0);
  double scale = n.attr_f("spatial_scale", 1.0f);
  bool half =
      c.opset >= 16 && n.attr_s("coordinate_transformation_mode", "half_pixel") == "half_pixel";
  int64_t ch = x.dim(1), h = x.dim(2), w = x.dim(3);
  std::vector<double> xv = ref::to_doubles(x), rv = ref::to_doubles(rois), out(y.numel());
  double offset = half ? 0.5 : 0.0;
  for (int64_t r = 0; r < rois.dim(0); ++r) {
    int64_t b = bidx.at_i64(static_cast<size_t>(r));
    if (b < 0 || b >= x.dim(0)) c.fail(str_cat("batch index ", b, " out of range"));
    double x1 = rv[r * 4] * scale - offset, y1 = rv[r * 4 + 1] * scale - offset;
    double x2 = rv[r * 4 + 2] * scale - offset, y2 = rv[r * 4 + 3] * scale - offset;
    double rw = x2 - x1, rh = y2 - y1;
    if (!half) {
      rw = std::max(rw, 1.0);
      rh = std::max(rh, 1.0);
    }
    double bh = rh / static_cast<double>(oh), bw = rw / static_cast<double>(ow);
    int64_t gh = sr > 0 ? sr : static_cast<int64_t>(std::ceil(rh / static_cast<double>(oh)));
    int64_t gw = sr > 0 ? sr : static_cast<int64_t>(std::ceil(rw / static_cast<double>(ow)));
    gh = std::max<int64_t>(gh, 1);
    gw = std::max<int64_t>(gw, 1);
    double count = static_cast<double>(gh * gw);
    for (int64_t k = 0; k < ch; ++k) {
      const double* plane = &xv[static_cast<size_t>((b * ch + k) * h * w)];
      for (int64_t ph = 0; ph < oh; ++ph)
        for (int64_t pw = 0; pw < ow; ++pw) {
          double acc = 0;
          bool first = true;
          for (int64_t iy = 0; iy < gh; ++iy) {
            double yy = y1 + static_cast<double>(ph) * bh +
                        (static_cast<double>(iy) + 0.5) * bh / static_cast<double>(gh);
            for (int64_t ix = 0; ix < gw; ++ix) {
              double xx = x1 + static_cast<double>(pw) * bw +
                          (static_cast<double>(ix) + 0.5) * bw / static_cast<double>(gw);
              double v = 0;
              double vals[4] = {0, 0, 0, 0};
              if (!(yy < -1.0 || yy > static_cast<double>(h) || xx < -1.0 ||
                    xx > static_cast<double>(w))) {
                double ycl = std::max(yy, 0.0), xcl = std::max(xx, 0.0);
                int64_t y0 = static_cast<int64_t>(ycl), x0 = static_cast<int64_t>(xcl), y1i, x1i;
                if (y0 >= h - 1) {
                  y0 = y1i = h - 1;
                  ycl = static_cast<double>(y0);
                } else
                  y1i = y0 + 1;
                if (x0 >= w - 1) {
                  x0 = x1i = w - 1;
                  xcl = static_cast<double>(x0);
                } else
                  x1i = x0 + 1;
                double ly = ycl - static_cast<double>(y0), lx = xcl - static_cast<double>(x0),
                       hy = 1 - ly, hx = 1 - lx;
                vals[0] = hy * hx * plane[y0 * w + x0];
                vals[1] = hy * lx * plane[y0 * w + x1i];
                vals[2] = ly * hx * plane[y1i * w + x0];
                vals[3] = ly * lx * plane[y1i * w + x1i];
              }
              if (max_mode) {
                // As ONNX Runtime and the ONNX reference: max over the weighted corner values.
                v = std::max(std::max(vals[0], vals[1]), std::max(vals[2], vals[3]));
                acc = first ? v : std::max(acc, v);
              } else {
                acc += vals[0] + vals[1] + vals[2] + vals[3];
              }
              first = false;
            }
          }
          out[static_cast<size_t>(((r * ch + k) * oh + ph) * ow + pw)] =
              max_mode ? acc : acc / count;
        }
    }
  }
  ref::from_doubles(y, out, /*round_ints=*/true);
}

// ---- GridSample ----
// GridSample's interpolation in opset 16's names: opset 20 renamed bilinear/bicubic to
// linear/cubic (and its default with them).
std::string gridsample_mode(const Node& n) {
  std::string m = n.attr_s("mode", "bilinear");
  if (m == "linear") return "bilinear";
  if (m == "cubic") return "bicubic";
  return m;
}

void gridsample_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  const Tensor& grid = c.input(1);
  Tensor& y = c.output(0);
  const Node& n = *c.node;
  std::string mode = gridsample_mode(n), pad = n.attr_s("padding_mode", "zeros");
  bool ac = n.attr_i("align_corners", 0) != 0;
  if (grid.dim(0) != x.dim(0) || grid.dim(3) != 2) c.fail("grid must be [N, H_out, W_out, 2]");
  int64_t nb = x.dim(0), ch = x.dim(1), h = x.dim(2), w = x.dim(3), oh = grid.dim(1),
          ow = grid.dim(2);
  std::vector<double> xv = ref::to_doubles(x), gv = ref::to_doubles(grid), out(y.numel());
  auto denorm = [&](double g, int64_t size) {
    return ac ? (g + 1) / 2 * static_cast<double>(size - 1)
              : ((g + 1) * static_cast<double>(size) - 1) / 2;
  };
  auto bound = [&](double v, int64_t size) {
    if (pad == "border") return std::clamp(v, 0.0, static_cast<double>(size - 1));
    if (pad == "reflection") {
      v = ac ? reflect(v, 0, static_cast<double>(size - 1))
             : reflect(v, -0.5, static_cast<double>(size) - 0.5);
      return std::clamp(v, 0.0, static_cast<double>(size - 1));
    }
    return v;
  };
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t k = 0; k < ch; ++k) {
      const double* plane = &xv[static_cast<size_t>((b * ch + k) * h * w)];
      auto pixel = [&](int64_t yy, int64_t xx) {
        if (pad != "zeros") {
          xx = static_cast<int64_t>(bound(static_cast<double>(xx), w));
          yy = static_cast<int64_t>(bound(static_cast<double>(yy), h));
        }
        if (yy < 0 || yy >= h || xx < 0 || xx >= w) return 0.0;
        return plane[yy * w + xx];
      };
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          const double* g = &gv[static_cast<size_t>(((b * oh + i) * ow + j) * 2)];
          double xx = denorm(g[0], w), yy = denorm(g[1], h);
          double v;
          if (mode == "nearest") {
            xx = bound(xx, w);
            yy = bound(yy, h);
            v = pixel(static_cast<int64_t>(std::nearbyint(yy)),
                      static_cast<int64_t>(std::nearbyint(xx)));
          } else if (mode == "bilinear") {
            xx = bound(xx, w);
            yy = bound(yy, h);
            int64_t x0 = static_cast<int64_t>(std::floor(xx)),
                    y0 = static_cast<int64_t>(std::floor(yy));
            double lx = xx - static_cast<double>(x0), ly = yy - static_cast<double>(y0);
            v = (1 - ly) * ((1 - lx) * pixel(y0, x0) + lx * pixel(y0, x0 + 1)) +
                ly * ((1 - lx) * pixel(y0 + 1, x0) + lx * pixel(y0 + 1, x0 + 1));
          } else {  // bicubic: taps are bounded individually by the padding mode
            int64_t x0 = static_cast<int64_t>(std::floor(xx)),
                    y0 = static_cast<int64_t>(std::floor(yy));
            double tx = xx - static_cast<double>(x0), ty = yy - static_cast<double>(y0);
            v = 0;
            for (int64_t p = -1; p <= 2; ++p)
              for (int64_t q = -1; q <= 2; ++q)
                v += cubic_weight(ty - static_cast<double>(p), -0.75) *
                     cubic_weight(tx - static_cast<double>(q), -0.75) * pixel(y0 + p, x0 + q);
          }
          out[static_cast<size_t>(((b * ch + k) * oh + i) * ow + j)] = v;
        }
    }
  ref::from_doubles(y, out, /*round_ints=*/true);
}

bool gridsample_accepts(const KernelQuery& q, std::string* why) {
  std::string mode = gridsample_mode(*q.node), pad = q.node->attr_s("padding_mode", "zeros");
  if ((mode != "bilinear" && mode != "nearest" && mode != "bicubic") ||
      (pad != "zeros" && pad != "border" && pad != "reflection")) {
    *why = "unsupported mode '" + mode + "' or padding_mode '" + pad + "'";
    return false;
  }
  return true;
}

}  // namespace

void register_ref_detection_basic(KernelRegistry& r) {
  r.add_ref("Resize", resize_accepts, resize_kernel);
  r.add_ref("Upsample", resize_accepts, resize_kernel);
  r.add_ref("NonMaxSuppression", nms_kernel);
  r.add_ref("RoiAlign", roialign_kernel);
  r.add_ref("GridSample", gridsample_accepts, gridsample_kernel);
}

}  // namespace visionrt
