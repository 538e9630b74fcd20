// COCO detection evaluation with pycocotools' COCOeval semantics exactly (bbox and segm: mask
// IoU with maskApi's rules, geometry/rle.hpp): 10 IoU
// thresholds 0.50:0.05:0.95 and 101 recall thresholds as numpy.linspace makes them, area ranges
// all/small/medium/large from the ground truth's `area` (bounds inclusive), maxDets 1/10/100,
// crowd ground truth matched by intersection-over-detection and ignored, greedy matching in
// score order with stable sorts, interpolated precision sampled at the recall thresholds, -1
// where a setting has no ground truth. Summary in pycocotools' 12-line layout.
#pragma once
#include <array>
#include <string>
#include <vector>

#include "eval/coco.hpp"

namespace visionrt {

struct CocoEvalParams {
  std::vector<double> iou_thrs, rec_thrs;  // numpy.linspace values, bit for bit
  std::vector<int> max_dets = {1, 10, 100};
  std::vector<std::array<double, 2>> area_rngs = {
      {0, 1e10}, {0, 32.0 * 32}, {32.0 * 32, 96.0 * 96}, {96.0 * 96, 1e10}};
  std::vector<std::string> area_names = {"all", "small", "medium", "large"};
  CocoEvalParams();
};

struct CocoEvalResult {
  CocoEvalParams params;
  std::vector<int64_t> cat_ids;  // ascending: the K axis
  size_t T = 0, R = 0, K = 0, A = 0, M = 0;
  // precision[t][r][k][a][m], scores likewise, recall[t][k][a][m]; -1 where no ground truth.
  std::vector<double> precision, scores, recall;
  std::array<double, 12> stats{};
  double precision_at(size_t t, size_t r, size_t k, size_t a, size_t m) const {
    return precision[(((t * R + r) * K + k) * A + a) * M + m];
  }
  double recall_at(size_t t, size_t k, size_t a, size_t m) const {
    return recall[((t * K + k) * A + a) * M + m];
  }
  // Mean of precision entries > -1 over the selected axes (t < 0: all thresholds), or -1.
  double mean_precision(int t, int k, size_t a, size_t m) const;
  double mean_recall(int t, int k, size_t a, size_t m) const;
};

enum class CocoIouType { bbox, segm };

// gt/dt must have been read with masks for segm (read_coco_instances(path, true), ...).
CocoEvalResult evaluate_coco(const CocoDataset& gt, const std::vector<CocoAnnotation>& dt,
                             CocoIouType type = CocoIouType::bbox);

// pycocotools' summarize() lines, values formatted %0.3f.
std::vector<std::string> coco_summary_lines(const CocoEvalResult& r);
extern const char* const kCocoStatNames[12];  // AP, AP50, AP75, APs, APm, APl, AR1, ... ARl

}  // namespace visionrt
