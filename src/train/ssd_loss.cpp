// SSD box coder and multibox loss (ssd_loss.hpp).
#include "train/ssd_loss.hpp"

#include <cmath>

#include "common/strings.hpp"
#include "train/onnx_module.hpp"
#include "visionrt/error.hpp"

namespace visionrt::train {

namespace {

torch::Tensor xyxy_of(const torch::Tensor& cxcywh) {
  auto c = cxcywh.unbind(-1);
  return torch::stack({c[0] - c[2] / 2, c[1] - c[3] / 2, c[0] + c[2] / 2, c[1] + c[3] / 2}, -1);
}

}  // namespace

torch::Tensor SsdCoder::encode(const torch::Tensor& boxes, const torch::Tensor& a) const {
  auto b = boxes.unbind(-1);
  auto p = a.unbind(-1);
  const torch::Tensor w = (b[2] - b[0]).clamp_min(1e-6), h = (b[3] - b[1]).clamp_min(1e-6);
  std::array<torch::Tensor, 4> e{((b[0] + b[2]) / 2 - p[0]) / (p[2] * variance[0]),
                                 ((b[1] + b[3]) / 2 - p[1]) / (p[3] * variance[1]),
                                 torch::log(w / p[2]) / variance[2],
                                 torch::log(h / p[3]) / variance[3]};
  std::array<torch::Tensor, 4> ordered;
  for (int k = 0; k < 4; ++k)
    ordered[static_cast<size_t>(order[static_cast<size_t>(k)])] = e[static_cast<size_t>(k)];
  return torch::stack({ordered[0], ordered[1], ordered[2], ordered[3]}, -1);
}

torch::Tensor SsdCoder::decode(const torch::Tensor& enc) const {
  auto e = enc.unbind(-1);
  auto p = anchors.unbind(-1);
  const torch::Tensor cx = p[0] + e[static_cast<size_t>(order[0])] * variance[0] * p[2];
  const torch::Tensor cy = p[1] + e[static_cast<size_t>(order[1])] * variance[1] * p[3];
  const torch::Tensor w = p[2] * torch::exp(e[static_cast<size_t>(order[2])] * variance[2]);
  const torch::Tensor h = p[3] * torch::exp(e[static_cast<size_t>(order[3])] * variance[3]);
  return xyxy_of(torch::stack({cx, cy, w, h}, -1));
}

std::string SsdCoder::describe() const {
  static const char* role[] = {"x", "y", "w", "h"};
  std::string ord(4, '?');
  for (int k = 0; k < 4; ++k) ord[static_cast<size_t>(order[static_cast<size_t>(k)])] = role[k][0];
  return str_cat(anchors.size(0), " anchors, encodings (", ord, "), variances ", variance[0], "/",
                 variance[1], "/", variance[2], "/", variance[3]);
}

SsdCoder probe_ssd_coder(OnnxModuleImpl& m, const std::vector<torch::Tensor>& inputs,
                         const std::string& encodings, const std::string& boxes) {
  torch::NoGradGuard ng;
  const torch::Tensor e_shape = m.run(inputs, {encodings}).at(encodings);
  if (e_shape.dim() != 3 || e_shape.size(0) != 1 || e_shape.size(2) != 4)
    throw ModelError(str_cat(m.path(), ": encodings '", encodings, "' are not [1, N, 4]"));
  const int64_t n = e_shape.size(1);
  auto decoded = [&](const torch::Tensor& e) {
    return m.run(inputs, {boxes}, {{encodings, e}}).at(boxes).reshape({n, 4}).to(torch::kFloat64);
  };
  auto fail = [&](const std::string& why) {
    return ModelError(str_cat(m.path(), ": cannot read the SSD box decoding from '", encodings,
                              "' to '", boxes, "': ", why));
  };
  const torch::Tensor d0 = decoded(torch::zeros({1, n, 4}));
  auto c0 = d0.unbind(1);
  const torch::Tensor cx = (c0[0] + c0[2]) / 2, cy = (c0[1] + c0[3]) / 2;
  const torch::Tensor w = c0[2] - c0[0], h = c0[3] - c0[1];
  if (!(w.min().item<double>() > 0 && h.min().item<double>() > 0))
    throw fail("zero encodings give empty anchors");
  SsdCoder c;
  c.anchors = torch::stack({cx, cy, w, h}, 1).to(torch::kFloat32);
  std::array<bool, 4> found{false, false, false, false};
  for (int k = 0; k < 4; ++k) {
    torch::Tensor e = torch::zeros({1, n, 4});
    e.select(2, k).fill_(1);
    auto ck = decoded(e).unbind(1);
    const std::array<torch::Tensor, 4> change{
        ((ck[0] + ck[2]) / 2 - cx) / w, ((ck[1] + ck[3]) / 2 - cy) / h,
        torch::log((ck[2] - ck[0]) / w), torch::log((ck[3] - ck[1]) / h)};
    int role = -1;
    for (int r = 0; r < 4; ++r) {
      const double mean = change[static_cast<size_t>(r)].mean().item<double>();
      if (std::abs(mean) < 1e-6) continue;
      const double spread =
          (change[static_cast<size_t>(r)] - mean).abs().max().item<double>() / std::abs(mean);
      if (role >= 0 || spread > 1e-3)
        throw fail(str_cat("encoding component ", k, " does not act on one coordinate alone"));
      role = r;
      c.variance[static_cast<size_t>(r)] = mean;
    }
    if (role < 0 || found[static_cast<size_t>(role)])
      throw fail(str_cat("encoding component ", k, " has no role of its own"));
    found[static_cast<size_t>(role)] = true;
    c.order[static_cast<size_t>(role)] = k;
  }
  return c;
}

torch::Tensor box_iou_matrix(const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor area_a =
      (a.select(1, 2) - a.select(1, 0)) * (a.select(1, 3) - a.select(1, 1));
  const torch::Tensor area_b =
      (b.select(1, 2) - b.select(1, 0)) * (b.select(1, 3) - b.select(1, 1));
  const torch::Tensor lt = torch::max(a.slice(1, 0, 2).unsqueeze(1), b.slice(1, 0, 2).unsqueeze(0));
  const torch::Tensor rb = torch::min(a.slice(1, 2, 4).unsqueeze(1), b.slice(1, 2, 4).unsqueeze(0));
  const torch::Tensor wh = (rb - lt).clamp_min(0);
  const torch::Tensor inter = wh.select(2, 0) * wh.select(2, 1);
  return inter / (area_a.unsqueeze(1) + area_b.unsqueeze(0) - inter).clamp_min(1e-12);
}

torch::Tensor ssd_match(const torch::Tensor& gt, const torch::Tensor& anchors_xyxy,
                        double iou_threshold) {
  const int64_t n = anchors_xyxy.size(0);
  if (gt.size(0) == 0) return torch::full({n}, -1, torch::kInt64);
  const torch::Tensor iou = box_iou_matrix(gt, anchors_xyxy);  // [M, N]
  auto [best_truth_iou, best_truth] = iou.max(0);              // per anchor
  const torch::Tensor best_anchor = std::get<1>(iou.max(1));   // per box
  torch::Tensor m =
      torch::where(best_truth_iou >= iou_threshold, best_truth, torch::full_like(best_truth, -1));
  // Each box keeps its best anchor (later boxes win a shared one, as ssd.pytorch's loop).
  auto ba = best_anchor.accessor<int64_t, 1>();
  auto ma = m.accessor<int64_t, 1>();
  for (int64_t j = 0; j < gt.size(0); ++j) ma[ba[j]] = j;
  return m;
}

MultiboxParts MultiboxLoss::operator()(const torch::Tensor& enc, const torch::Tensor& logits,
                                       const torch::Tensor& targets, const SsdCoder& coder) const {
  const int64_t b = enc.size(0), n = enc.size(1), c = logits.size(2);
  const torch::Tensor anchors_xyxy = xyxy_of(coder.anchors);
  std::vector<torch::Tensor> loc_t, cls_t, pos_m;
  for (int64_t i = 0; i < b; ++i) {
    const torch::Tensor rows = targets.index({targets.select(1, 0) == i});
    const torch::Tensor gt = xyxy_of(rows.slice(1, 2, 6));
    const torch::Tensor m = ssd_match(gt, anchors_xyxy, iou_threshold);
    const torch::Tensor pos = m >= 0;
    const torch::Tensor idx = m.clamp_min(0);
    torch::Tensor labels = torch::zeros({n}, torch::kInt64);
    if (rows.size(0) > 0) {
      labels = torch::where(pos, rows.select(1, 1).to(torch::kInt64).index_select(0, idx),
                            torch::zeros_like(idx));
      loc_t.push_back(coder.encode(gt.index_select(0, idx), coder.anchors));
    } else {
      loc_t.push_back(torch::zeros({n, 4}));
    }
    cls_t.push_back(labels);
    pos_m.push_back(pos);
  }
  const torch::Tensor loc_target = torch::stack(loc_t), labels = torch::stack(cls_t);
  const torch::Tensor pos = torch::stack(pos_m);  // [B, N]
  const int64_t num_pos = pos.sum().item<int64_t>();
  const double denom = static_cast<double>(std::max<int64_t>(num_pos, 1));
  torch::Tensor loss_l = torch::zeros({});
  if (num_pos > 0)
    loss_l = torch::nn::functional::smooth_l1_loss(
        enc.index({pos}), loc_target.index({pos}),
        torch::nn::functional::SmoothL1LossFuncOptions().reduction(torch::kSum));
  // Per-anchor classification loss.
  torch::Tensor per, loss_c;
  if (sigmoid) {
    // One-hot targets without the background column: TF's sigmoid heads never learn column 0
    // (the shared SSD MobileNet gives it ~0.004 everywhere) and every decoder skips it.
    torch::Tensor onehot = torch::one_hot(labels, c).to(logits.dtype());
    onehot.select(2, 0).zero_();
    torch::Tensor bce = torch::nn::functional::binary_cross_entropy_with_logits(
        logits, onehot,
        torch::nn::functional::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone));
    if (focal_gamma > 0) {
      const torch::Tensor p = torch::sigmoid(logits);
      const torch::Tensor p_t = p * onehot + (1 - p) * (1 - onehot);
      const torch::Tensor a_t = onehot * focal_alpha + (1 - onehot) * (1 - focal_alpha);
      loss_c = (a_t * torch::pow(1 - p_t, focal_gamma) * bce).sum();
    } else {
      per = bce.sum(2);
    }
  } else {
    per = -torch::log_softmax(logits, 2).gather(2, labels.unsqueeze(2)).squeeze(2);
  }
  if (!loss_c.defined()) {
    // Hard negatives: per image the neg_pos * positives negatives of highest loss.
    torch::Tensor neg;
    {
      torch::NoGradGuard ng;
      const torch::Tensor l = per.detach().masked_fill(pos, -1);
      const torch::Tensor rank =
          torch::argsort(torch::argsort(l, int64_t{1}, true), int64_t{1}, false);
      const torch::Tensor k = (pos.sum(1, true) * neg_pos).clamp_max(n - 1);
      neg = (rank < k) & pos.logical_not();
    }
    loss_c = per.index({pos | neg}).sum();
  }
  MultiboxParts r;
  const torch::Tensor lb = loss_l / denom, lc = loss_c / denom;
  r.total = lb + lc;
  r.box = lb.item<double>();
  r.cls = lc.item<double>();
  r.positives = num_pos;
  return r;
}

}  // namespace visionrt::train
