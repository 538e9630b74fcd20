// Pascal VOC detection AP (the official devkit's VOCevaldet rules) and semantic-segmentation
// metrics (confusion matrix, per-class IoU, mIoU, pixel accuracy, ignore index).
//
// VOC AP, per class: detections in descending confidence (stable: file order among ties); each
// takes the ground truth on its image with the highest IoU; IoU >= the threshold (0.5) makes it a
// true positive if that GT is not yet taken, a false positive if it is (duplicate), and neither
// if the GT is `difficult`; anything else is a false positive. Boxes are VOC's inclusive pixel
// coordinates, so widths and heights carry the devkit's +1. Recall is over non-difficult GT.
// VOC2007 AP is the 11-point interpolation (mean over recall 0, 0.1, ..., 1 of the best precision
// at recall >= r); VOC2010+ AP is the area under the monotone precision envelope.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace visionrt {

struct VocBox {
  double x1 = 0, y1 = 0, x2 = 0, y2 = 0;  // inclusive pixel coordinates
};

struct VocGroundTruth {
  int64_t image = 0;
  VocBox box;
  bool difficult = false;
};

struct VocDetection {
  int64_t image = 0;
  double confidence = 0;
  VocBox box;
};

struct VocApResult {
  double ap07 = 0, ap = 0;  // 11-point (VOC2007) and all-point (VOC2010+)
  // Per counted detection in confidence order (detections matched to a difficult GT count as
  // neither, so they add no point: the devkit's entry for them repeats the previous point).
  std::vector<double> recall, precision;
  int64_t num_positives = 0;  // non-difficult ground truth
};

// One class. Throws InputError on NaN confidences or inverted boxes.
VocApResult voc_ap(const std::vector<VocGroundTruth>& gt, const std::vector<VocDetection>& dt,
                   double iou_threshold = 0.5);

// IoU with the devkit's +1 on widths and heights.
double voc_iou(const VocBox& a, const VocBox& b);

// Semantic segmentation: accumulate label maps into a confusion matrix (rows: ground truth,
// columns: prediction); ground-truth pixels equal to `ignore` are skipped.
class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int num_classes, int ignore = 255);
  // Throws InputError when sizes differ or a label is outside [0, num_classes) (and not ignore).
  void add(const std::vector<int32_t>& gt, const std::vector<int32_t>& pred);
  int num_classes() const { return n_; }
  int64_t at(int gt, int pred) const { return m_[static_cast<size_t>(gt) * n_ + pred]; }
  // Per class TP / (TP + FP + FN); -1 for a class absent from both ground truth and prediction.
  std::vector<double> iou() const;
  double mean_iou() const;        // over classes whose IoU is defined
  double pixel_accuracy() const;  // correct / counted pixels
  double mean_accuracy() const;   // mean over classes with ground truth of TP / GT pixels
  int64_t ignored() const { return ignored_; }

 private:
  int n_, ignore_;
  std::vector<int64_t> m_;
  int64_t ignored_ = 0;
};

}  // namespace visionrt
