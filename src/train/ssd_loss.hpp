// SSD training: the box coder of a model's head and the multibox loss (Liu et al. 2016, as
// ssd.pytorch and the TF Object Detection API implement it).
//
// Box coding: an anchor (cx, cy, w, h) and an encoding e give the box with centre
// cx + e_x * v_x * w, cy + e_y * v_y * h and size w * exp(e_w * v_w), h * exp(e_h * v_h);
// variances 0.1 / 0.2 (TF: scale factors 10 / 5). Exports differ in the order of e (torchvision
// and ssd.pytorch x, y, w, h; TF y, x, h, w), which `order` records.
//
// Matching: every ground-truth box takes its best anchor, and every anchor with IoU >= 0.5 with
// some box takes the best such box; the rest are background. Loss: smooth-L1 on the encodings of
// the matched anchors plus classification over the matched anchors and the hardest negatives
// (three per positive, by their own classification loss), both divided by the number of matched
// anchors. Classification is a softmax cross-entropy (column 0 background: ssd.pytorch,
// torchvision) or, for heads whose scores come out of a sigmoid (TF's SSD MobileNet), a sigmoid
// cross-entropy summed over the columns against the one-hot class (all zeros for background:
// column 0 is never a target, as in the TF models, whose column 0 stays near 0).
#pragma once
#include <torch/torch.h>

#include <array>
#include <string>
#include <vector>

namespace visionrt::train {

struct OnnxModuleImpl;

struct SsdCoder {
  torch::Tensor anchors;                 // [N, 4] cx, cy, w, h, in units of the input size
  std::array<int, 4> order{0, 1, 2, 3};  // position in the encoding of e_x, e_y, e_w, e_h
  std::array<double, 4> variance{0.1, 0.1, 0.2, 0.2};  // v_x, v_y, v_w, v_h

  // Encodings [M, 4] (in the model's order) of boxes [M, 4] (x1, y1, x2, y2) against anchors
  // [M, 4] (cx, cy, w, h).
  torch::Tensor encode(const torch::Tensor& boxes, const torch::Tensor& anchors) const;
  // Boxes [..., 4] x1, y1, x2, y2 from encodings [..., N, 4].
  torch::Tensor decode(const torch::Tensor& enc) const;
  std::string describe() const;
};

// The coder of an export that decodes its boxes itself (TF OD API exports: outputs `boxes`
// x1, y1, x2, y2 normalized, plus the raw encodings): anchors and coding are read off the graph
// by evaluating its decode on chosen encodings (zeros give the anchors, unit vectors each
// component's role and variance). Throws ModelError when the decode is not of this form.
// `inputs`: any valid model inputs (the decode does not depend on them).
SsdCoder probe_ssd_coder(OnnxModuleImpl& model, const std::vector<torch::Tensor>& inputs,
                         const std::string& encodings, const std::string& boxes);

struct MultiboxParts {
  torch::Tensor total;
  double box = 0, cls = 0;  // the two terms (total = box + cls)
  int64_t positives = 0;
};

struct MultiboxLoss {
  double iou_threshold = 0.5;
  int64_t neg_pos = 3;  // hard negatives per positive
  bool sigmoid = false;
  // Sigmoid heads: > 0 replaces hard-negative mining by the focal loss over every anchor (Lin et
  // al. 2017: alpha_t (1 - p_t)^gamma times the cross-entropy, alpha for the positive target),
  // the objective TF's SSD MobileNet v1 0.75 / quantized configs train with (alpha 0.75, gamma
  // 2), still divided by the number of matched anchors.
  double focal_gamma = 0, focal_alpha = 0.75;
  // `enc` [B, N, 4] encodings, `logits` [B, N, C] (column 0 background), `targets` [T, 6] rows of
  // (image in batch, class column >= 1, cx, cy, w, h in units of the input size).
  MultiboxParts operator()(const torch::Tensor& enc, const torch::Tensor& logits,
                           const torch::Tensor& targets, const SsdCoder& coder) const;
};

// IoU of boxes a [M, 4] and b [N, 4] (x1, y1, x2, y2): [M, N].
torch::Tensor box_iou_matrix(const torch::Tensor& a, const torch::Tensor& b);

// Per anchor: the matched box index (-1 background) under SSD's rule (see above).
torch::Tensor ssd_match(const torch::Tensor& gt_xyxy, const torch::Tensor& anchors_xyxy,
                        double iou_threshold);

}  // namespace visionrt::train
