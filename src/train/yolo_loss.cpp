// YOLOv8 loss and task-aligned assignment (yolo_loss.hpp), tensor for tensor as Ultralytics.
#include "train/yolo_loss.hpp"

#include <cmath>

#include "common/strings.hpp"
#include "visionrt/error.hpp"

namespace visionrt::train {

namespace F = torch::nn::functional;
using torch::indexing::Slice;

torch::Tensor bbox_ciou(const torch::Tensor& b1, const torch::Tensor& b2, double eps) {
  auto c1 = b1.chunk(4, -1), c2 = b2.chunk(4, -1);
  const torch::Tensor &x1 = c1[0], &y1 = c1[1], &x2 = c1[2], &y2 = c1[3];
  const torch::Tensor &u1 = c2[0], &v1 = c2[1], &u2 = c2[2], &v2 = c2[3];
  torch::Tensor w1 = x2 - x1, h1 = (y2 - y1).clamp_min(eps);
  torch::Tensor w2 = u2 - u1, h2 = (v2 - v1).clamp_min(eps);
  torch::Tensor inter = (torch::minimum(x2, u2) - torch::maximum(x1, u1)).clamp_min(0) *
                        (torch::minimum(y2, v2) - torch::maximum(y1, v1)).clamp_min(0);
  torch::Tensor uni = w1 * h1 + w2 * h2 - inter + eps;
  torch::Tensor iou = inter / uni;
  torch::Tensor cw = torch::maximum(x2, u2) - torch::minimum(x1, u1);
  torch::Tensor ch = torch::maximum(y2, v2) - torch::minimum(y1, v1);
  torch::Tensor c2d = cw.pow(2) + ch.pow(2) + eps;
  torch::Tensor rho2 = ((u1 + u2 - x1 - x2).pow(2) + (v1 + v2 - y1 - y2).pow(2)) / 4;
  torch::Tensor v = (4 / (M_PI * M_PI)) * (torch::atan(w2 / h2) - torch::atan(w1 / h1)).pow(2);
  torch::Tensor a;
  {
    torch::NoGradGuard ng;
    a = v / (v - iou + (1 + eps));
  }
  return iou - (rho2 / c2d + v * a);
}

void make_anchors(const std::vector<std::pair<int64_t, int64_t>>& sizes,
                  const std::vector<int64_t>& strides, torch::Tensor* points,
                  torch::Tensor* stride_tensor) {
  std::vector<torch::Tensor> pts, sts;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const auto [h, w] = sizes[i];
    torch::Tensor sx = torch::arange(w, torch::kFloat32) + 0.5f;
    torch::Tensor sy = torch::arange(h, torch::kFloat32) + 0.5f;
    auto g = torch::meshgrid({sy, sx}, "ij");
    pts.push_back(torch::stack({g[1], g[0]}, -1).view({-1, 2}));
    sts.push_back(torch::full({h * w, 1}, static_cast<float>(strides[i])));
  }
  *points = torch::cat(pts);
  *stride_tensor = torch::cat(sts);
}

namespace {

// [b, n, A]: anchor centre strictly inside the object's box.
torch::Tensor candidates_in_gts(const torch::Tensor& centers, const torch::Tensor& gt_bboxes,
                                double eps) {
  const int64_t b = gt_bboxes.size(0), n = gt_bboxes.size(1), a = centers.size(0);
  auto lr = gt_bboxes.view({-1, 1, 4}).chunk(2, 2);
  torch::Tensor deltas = torch::cat({centers.unsqueeze(0) - lr[0], lr[1] - centers.unsqueeze(0)}, 2)
                             .view({b, n, a, -1});
  return deltas.amin(3).gt(eps);
}

}  // namespace

Assignment TaskAlignedAssigner::operator()(const torch::Tensor& pd_scores,
                                           const torch::Tensor& pd_bboxes,
                                           const torch::Tensor& anc_points,
                                           const torch::Tensor& gt_labels,
                                           const torch::Tensor& gt_bboxes,
                                           const torch::Tensor& mask_gt) const {
  torch::NoGradGuard ng;
  const int64_t b = pd_scores.size(0), a = pd_scores.size(1), n = gt_bboxes.size(1);
  Assignment r;
  if (n == 0) {
    r.target_bboxes = torch::zeros_like(pd_bboxes);
    r.target_scores = torch::zeros_like(pd_scores);
    r.fg_mask = torch::zeros({b, a}, torch::kBool);
    r.target_gt_idx = torch::zeros({b, a}, torch::kLong);
    return r;
  }
  // Positive candidates: inside the object and real (mask_gt).
  torch::Tensor mask_in = candidates_in_gts(anc_points, gt_bboxes, eps).to(torch::kFloat32);
  torch::Tensor cand = (mask_in * mask_gt).to(torch::kBool);  // [b, n, A]
  // Alignment metric: score of the object's class ^ alpha * CIoU ^ beta, over candidates only.
  torch::Tensor labels = gt_labels.squeeze(-1).to(torch::kLong).clamp_min(0);  // [b, n]
  torch::Tensor scores_t = pd_scores.permute({0, 2, 1});                       // [b, C, A]
  torch::Tensor cls_scores = scores_t.gather(1, labels.unsqueeze(-1).expand({b, n, a}));
  torch::Tensor pd = pd_bboxes.unsqueeze(1).expand({b, n, a, 4});
  torch::Tensor gt = gt_bboxes.unsqueeze(2).expand({b, n, a, 4});
  torch::Tensor overlaps = bbox_ciou(gt, pd).squeeze(-1).clamp_min(0) * cand;
  torch::Tensor bbox_scores = cls_scores * cand;
  torch::Tensor align = bbox_scores.pow(alpha) * overlaps.pow(beta);  // [b, n, A]
  // Top-k anchors per object (padded objects pick index 0, then dropped by mask_gt).
  const int64_t k = std::min<int64_t>(topk, a);
  torch::Tensor topk_idx = std::get<1>(align.topk(k, -1, true, true));  // [b, n, k]
  torch::Tensor keep = mask_gt.to(torch::kBool).expand({b, n, k});
  topk_idx = topk_idx.masked_fill(~keep, 0);
  torch::Tensor count = torch::zeros({b, n, a}, torch::kInt8);
  count.scatter_add_(-1, topk_idx, torch::ones_like(topk_idx, torch::kInt8));
  count = count.masked_fill(count > 1, 0);
  torch::Tensor mask_pos = count.to(torch::kFloat32) * mask_in * mask_gt;  // [b, n, A]
  // An anchor claimed by several objects goes to the one it overlaps most.
  torch::Tensor fg = mask_pos.sum(-2);  // [b, A]
  if (fg.max().item<float>() > 1) {
    torch::Tensor multi = (fg.unsqueeze(1) > 1).expand({b, n, a});
    torch::Tensor best = overlaps.argmax(1);  // [b, A]
    torch::Tensor is_best = F::one_hot(best, n).permute({0, 2, 1}).to(torch::kFloat32);
    mask_pos = torch::where(multi, is_best, mask_pos);
    fg = mask_pos.sum(-2);
  }
  torch::Tensor gt_idx = mask_pos.argmax(-2);  // [b, A]
  // Targets of the assigned objects.
  torch::Tensor flat_idx = gt_idx + torch::arange(b, torch::kLong).unsqueeze(-1) * n;
  torch::Tensor t_labels = labels.flatten().index({flat_idx});            // [b, A]
  torch::Tensor t_bboxes = gt_bboxes.reshape({-1, 4}).index({flat_idx});  // [b, A, 4]
  torch::Tensor t_scores = F::one_hot(t_labels, num_classes).to(torch::kFloat32);
  t_scores = t_scores * (fg > 0).unsqueeze(-1).to(torch::kFloat32);
  // Normalize: each object's best anchor gets that object's best overlap.
  align = align * mask_pos;
  torch::Tensor pos_align = align.amax(-1, true);  // [b, n, 1]
  torch::Tensor pos_overlap = (overlaps * mask_pos).amax(-1, true);
  torch::Tensor norm =
      (align * pos_overlap / (pos_align + eps)).amax(-2).unsqueeze(-1);  // [b, A, 1]
  r.target_scores = t_scores * norm;
  r.target_bboxes = t_bboxes;
  r.fg_mask = fg > 0;
  r.target_gt_idx = gt_idx;
  return r;
}

torch::Tensor df_loss(const torch::Tensor& logits, const torch::Tensor& target) {
  torch::Tensor tl = target.to(torch::kLong), tr = tl + 1;
  torch::Tensor wl = tr.to(torch::kFloat32) - target, wr = 1 - wl;
  auto ce = [&](const torch::Tensor& t) {
    return F::cross_entropy(logits, t.view(-1),
                            F::CrossEntropyFuncOptions().reduction(torch::kNone))
        .view(t.sizes());
  };
  return ce(tl) * wl + ce(tr) * wr;
}

DetectionLossParts DetectionLoss::operator()(const std::vector<torch::Tensor>& levels,
                                             const torch::Tensor& targets,
                                             const SegmentationInputs* seg) const {
  if (levels.size() != strides.size())
    throw InputError(
        str_cat("detection loss: ", levels.size(), " levels for ", strides.size(), " strides"));
  const int64_t bs = levels[0].size(0), no = nc + 4 * reg_max;
  std::vector<torch::Tensor> flat;
  std::vector<std::pair<int64_t, int64_t>> sizes;
  for (const auto& l : levels) {
    if (l.size(1) != no)
      throw InputError(str_cat("detection loss: level with ", l.size(1), " channels, not ", no));
    flat.push_back(l.view({bs, no, -1}));
    sizes.push_back({l.size(2), l.size(3)});
  }
  auto split = torch::cat(flat, 2).split_with_sizes({4 * reg_max, nc}, 1);
  torch::Tensor pred_distri = split[0].permute({0, 2, 1}).contiguous();  // [b, A, 4*reg_max]
  torch::Tensor pred_scores = split[1].permute({0, 2, 1}).contiguous();  // [b, A, nc]
  const int64_t a = pred_scores.size(1);
  const double img_h = static_cast<double>(sizes[0].first * strides[0]);
  const double img_w = static_cast<double>(sizes[0].second * strides[0]);
  torch::Tensor anchors, stride_t;
  make_anchors(sizes, strides, &anchors, &stride_t);
  // Targets [m, 6] -> per image [b, n_max, 5] (class, xyxy pixels), padded with zeros.
  torch::Tensor gt_labels, gt_bboxes, mask_gt;
  {
    int64_t n_max = 0;
    std::vector<int64_t> counts(static_cast<size_t>(bs), 0);
    torch::Tensor img = targets.size(0) ? targets.select(1, 0).to(torch::kLong) : torch::Tensor();
    for (int64_t i = 0; i < targets.size(0); ++i) {
      const int64_t j = img[i].item<int64_t>();
      if (j < 0 || j >= bs) throw InputError(str_cat("detection loss: target of image ", j));
      n_max = std::max(n_max, ++counts[static_cast<size_t>(j)]);
    }
    torch::Tensor out = torch::zeros({bs, n_max, 5});
    std::vector<int64_t> fill(static_cast<size_t>(bs), 0);
    for (int64_t i = 0; i < targets.size(0); ++i) {
      const int64_t j = img[i].item<int64_t>();
      out[j][fill[static_cast<size_t>(j)]++] = targets[i].narrow(0, 1, 5);
    }
    torch::Tensor xywh =
        out.narrow(2, 1, 4) * torch::tensor({img_w, img_h, img_w, img_h}, torch::kFloat32);
    torch::Tensor xy = xywh.narrow(2, 0, 2), wh = xywh.narrow(2, 2, 2);
    gt_labels = out.narrow(2, 0, 1);
    gt_bboxes = torch::cat({xy - wh / 2, xy + wh / 2}, 2);
    mask_gt = gt_bboxes.sum(2, true).gt(0).to(torch::kFloat32);
  }
  // Decode predicted distances (grid units) into xyxy boxes.
  torch::Tensor proj = torch::arange(reg_max, torch::kFloat32);
  torch::Tensor dist = pred_distri.view({bs, a, 4, reg_max}).softmax(3).matmul(proj);  // [b, A, 4]
  torch::Tensor pred_bboxes =
      torch::cat({anchors - dist.narrow(2, 0, 2), anchors + dist.narrow(2, 2, 2)}, 2);
  Assignment as = assigner(pred_scores.detach().sigmoid(), pred_bboxes.detach() * stride_t,
                           anchors * stride_t, gt_labels, gt_bboxes, mask_gt);
  const double score_sum = std::max(as.target_scores.sum().item<double>(), 1.0);
  torch::Tensor loss_cls = F::binary_cross_entropy_with_logits(
                               pred_scores, as.target_scores,
                               F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone))
                               .sum() /
                           score_sum;
  torch::Tensor loss_box = torch::zeros({}), loss_dfl = torch::zeros({});
  if (as.fg_mask.any().item<bool>()) {
    torch::Tensor fg = as.fg_mask;
    torch::Tensor tb = as.target_bboxes / stride_t;  // grid units
    torch::Tensor weight = as.target_scores.sum(-1).index({fg}).unsqueeze(-1);
    torch::Tensor iou = bbox_ciou(pred_bboxes.index({fg}), tb.index({fg}));
    loss_box = ((1.0 - iou) * weight).sum() / score_sum;
    // bbox2dist: distances of the target box from the anchor, clamped below reg_max - 1.
    auto tc = tb.chunk(2, -1);
    torch::Tensor ltrb = torch::cat({anchors - tc[0], tc[1] - anchors}, -1)
                             .clamp(0, static_cast<double>(reg_max - 1) - 0.01);
    torch::Tensor logits = pred_distri.index({fg}).view({-1, reg_max});
    torch::Tensor d = df_loss(logits, ltrb.index({fg}).reshape({-1})).view({-1, 4}).mean(-1, true);
    loss_dfl = (d * weight).sum() / score_sum;
  }
  torch::Tensor loss_seg = torch::zeros({});
  if (seg) {
    const int64_t nm = seg->coefs.size(1), mh = seg->protos.size(2), mw = seg->protos.size(3);
    if (seg->coefs.size(2) != a || seg->masks.size(0) != targets.size(0) ||
        (seg->masks.size(0) && (seg->masks.size(1) != mh || seg->masks.size(2) != mw)))
      throw InputError(str_cat("segmentation loss: coefficients ", str_cat(seg->coefs.sizes()),
                               ", masks ", str_cat(seg->masks.sizes()), " for ", a, " anchors, ",
                               targets.size(0), " targets, prototypes ", mh, "x", mw));
    torch::Tensor pm = seg->coefs.permute({0, 2, 1});  // [b, A, nm]
    torch::Tensor img_of =
        targets.size(0) ? targets.select(1, 0).to(torch::kLong) : torch::Tensor();
    torch::Tensor scale = torch::tensor({img_w, img_h, img_w, img_h}, torch::kFloat32);
    torch::Tensor cols = torch::arange(mw, torch::kFloat32).view({1, 1, mw});
    torch::Tensor rows_t = torch::arange(mh, torch::kFloat32).view({1, mh, 1});
    for (int64_t i = 0; i < bs; ++i) {
      torch::Tensor fg_i = as.fg_mask[i];
      if (!fg_i.any().item<bool>()) {
        loss_seg = loss_seg + (seg->protos * 0).sum() + (pm * 0).sum();  // keep the graph whole
        continue;
      }
      torch::Tensor mine = torch::nonzero(img_of == i).squeeze(1);  // this image's target rows
      torch::Tensor idx = as.target_gt_idx[i].index({fg_i});
      torch::Tensor gt = seg->masks.index({mine}).index({idx}).to(torch::kFloat32);  // [k, mh, mw]
      torch::Tensor xyxyn = as.target_bboxes[i].index({fg_i}) / scale;
      torch::Tensor area =
          (xyxyn.select(1, 2) - xyxyn.select(1, 0)) * (xyxyn.select(1, 3) - xyxyn.select(1, 1));
      torch::Tensor m = xyxyn * torch::tensor({static_cast<float>(mw), static_cast<float>(mh),
                                               static_cast<float>(mw), static_cast<float>(mh)});
      torch::Tensor pred =
          pm[i].index({fg_i}).matmul(seg->protos[i].view({nm, -1})).view({-1, mh, mw});
      torch::Tensor bce = F::binary_cross_entropy_with_logits(
          pred, gt, F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone));
      // crop_mask: zero outside the box (pixel index >= x1 and < x2, as Ultralytics).
      auto c = [&](int k) { return m.select(1, k).view({-1, 1, 1}); };
      torch::Tensor inside = (cols >= c(0)) * (cols < c(2)) * (rows_t >= c(1)) * (rows_t < c(3));
      loss_seg = loss_seg + ((bce * inside).mean({1, 2}) / area).sum();
    }
  }
  DetectionLossParts r;
  torch::Tensor lb = loss_box * box_gain, lc = loss_cls * cls_gain, ld = loss_dfl * dfl_gain;
  // Ultralytics (8.1 and later) v8SegmentationLoss: the mask term is a mean over the assigned
  // anchors of the whole batch (sum / fg_mask.sum()), times the box gain.
  const double fg_total =
      static_cast<double>(std::max<int64_t>(as.fg_mask.sum().item<int64_t>(), 1));
  torch::Tensor ls = loss_seg * (box_gain / fg_total);
  r.total = (lb + ls + lc + ld) * static_cast<double>(bs);
  r.seg = ls.item<double>();
  r.foreground = as.fg_mask.sum().item<int64_t>();
  r.box = lb.item<double>();
  r.cls = lc.item<double>();
  r.dfl = ld.item<double>();
  return r;
}

}  // namespace visionrt::train
