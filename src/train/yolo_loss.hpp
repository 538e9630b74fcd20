// YOLOv8's training objective as Ultralytics computes it (ultralytics/utils/loss.py v8DetectionLoss
// and utils/tal.py TaskAlignedAssigner, 8.0 series): anchors assigned by task alignment
// (score^alpha * CIoU^beta, top 10 per object among the anchors whose centre lies inside it, an
// anchor claimed twice going to the object it overlaps most), then BCE on all class logits
// against alignment-scaled one-hot targets, CIoU and distribution focal loss on the assigned
// anchors, with gains box 7.5, cls 0.5, dfl 1.5. Shapes follow Ultralytics' (b images, A anchors,
// n objects per image padded with mask_gt).
#pragma once
#include <torch/torch.h>

#include <vector>

namespace visionrt::train {

// CIoU of boxes xyxy (broadcasting, last dim 4): IoU - (centre distance^2 / enclosing
// diagonal^2 + v * alpha), v the aspect-ratio term, alpha = v / (v - IoU + 1) without gradient.
torch::Tensor bbox_ciou(const torch::Tensor& b1, const torch::Tensor& b2, double eps = 1e-7);

// Anchor centres [A, 2] and strides [A, 1] of feature maps of the given sizes ((h, w) per level).
void make_anchors(const std::vector<std::pair<int64_t, int64_t>>& sizes,
                  const std::vector<int64_t>& strides, torch::Tensor* points,
                  torch::Tensor* stride_tensor);

struct Assignment {
  torch::Tensor target_bboxes;  // [b, A, 4] xyxy, pixels
  torch::Tensor target_scores;  // [b, A, C] one-hot * normalized alignment
  torch::Tensor fg_mask;        // [b, A] bool
  torch::Tensor target_gt_idx;  // [b, A] object index
};

struct TaskAlignedAssigner {
  int64_t topk = 10, num_classes = 80;
  double alpha = 0.5, beta = 6.0, eps = 1e-9;
  // pd_scores [b, A, C] (sigmoid), pd_bboxes [b, A, 4] xyxy pixels, anc_points [A, 2] pixels,
  // gt_labels [b, n, 1], gt_bboxes [b, n, 4] xyxy pixels, mask_gt [b, n, 1] (1 for real objects).
  Assignment operator()(const torch::Tensor& pd_scores, const torch::Tensor& pd_bboxes,
                        const torch::Tensor& anc_points, const torch::Tensor& gt_labels,
                        const torch::Tensor& gt_bboxes, const torch::Tensor& mask_gt) const;
};

// Distribution focal loss of logits [m, reg_max] against continuous targets [m] in
// [0, reg_max - 1): cross entropy to the two neighbouring bins weighted by closeness.
torch::Tensor df_loss(const torch::Tensor& logits, const torch::Tensor& target);

struct DetectionLossParts {
  torch::Tensor total;  // (box + seg + cls + dfl) * batch size, as Ultralytics backpropagates
  double box = 0, cls = 0, dfl = 0, seg = 0;  // the gained parts, for logs
  int64_t foreground = 0;                     // anchors assigned to an object
};

// YOLOv8-seg's extra inputs (v8SegmentationLoss): mask coefficients [b, nm, A], prototypes
// [b, nm, mh, mw], and one ground-truth mask [mh, mw] (0/1) per target row, in the rows' order.
// Each assigned anchor's mask (coefficients x prototypes) is compared by BCE with its object's
// mask inside the object's box, averaged over the map and divided by the box's normalized area,
// summed, times box gain / batch size.
struct SegmentationInputs {
  torch::Tensor coefs, protos, masks;
};

struct DetectionLoss {
  int64_t nc = 80, reg_max = 16;
  std::vector<int64_t> strides{8, 16, 32};
  double box_gain = 7.5, cls_gain = 0.5, dfl_gain = 1.5;
  TaskAlignedAssigner assigner;
  // levels: the network's train-mode outputs [b, 4*reg_max + nc, h, w] per level. targets: [m, 6]
  // rows (image index, class, cx, cy, w, h normalized to the image), the YOLO label format.
  // With `seg`, YOLOv8-seg's mask term joins.
  DetectionLossParts operator()(const std::vector<torch::Tensor>& levels,
                                const torch::Tensor& targets,
                                const SegmentationInputs* seg = nullptr) const;
};

}  // namespace visionrt::train
