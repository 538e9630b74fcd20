// libFuzzer entry for the COCO readers and the evaluator: the first byte picks what the rest
// is (a ground-truth file evaluated with no results, or a results file against a fixed ground
// truth with polygons, RLE strings, RLE lists and a crowd), and whether masks are read (segm).
// Bit 2: the rest is a ground-truth file read for conversion (polygons kept) and written back
// as COCO JSON, whose re-read must succeed. Bit 3: the rest is a YOLO label file.
// Any visionrt::Error is an accepted outcome; crashes, hangs, leaks and UB are bugs.
#include <cstddef>
#include <cstdint>
#include <string>

#include "data/yolo_labels.hpp"
#include "eval/coco_eval.hpp"
#include "visionrt/error.hpp"

namespace {

const char* kGroundTruth = R"({
 "images": [{"id": 1, "width": 20, "height": 16}, {"id": 7, "width": 9, "height": 5}],
 "categories": [{"id": 1, "name": "a"}, {"id": 3, "name": "b"}],
 "annotations": [
  {"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 2, 6, 5], "area": 24, "iscrowd": 0,
   "segmentation": [[2, 2, 8, 2, 8, 7, 2, 7], [10, 10, 12, 14, 9, 15]]},
  {"id": 2, "image_id": 1, "category_id": 3, "bbox": [0, 0, 20, 16], "area": 80, "iscrowd": 1,
   "segmentation": {"size": [16, 20], "counts": [40, 80, 200]}},
  {"id": 3, "image_id": 7, "category_id": 1, "bbox": [1, 1, 3, 2], "area": 6, "iscrowd": 0,
   "segmentation": {"size": [5, 9], "counts": "6230m0"}}
 ]})";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool masks = data[0] & 2;
  const visionrt::CocoIouType type =
      masks ? visionrt::CocoIouType::segm : visionrt::CocoIouType::bbox;
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    if (data[0] & 8) {
      visionrt::parse_yolo_labels(text, "fuzz.txt");
      return 0;
    }
    if (data[0] & 4) {
      visionrt::CocoDataset d = visionrt::parse_coco_instances(text, "fuzz.json", false, true);
      std::string again = visionrt::coco_instances_json(d);
      try {
        visionrt::parse_coco_instances(again, "again.json", false, true);
      } catch (const visionrt::Error&) {
        __builtin_trap();  // what we write must read back
      }
      return 0;
    }
    if (data[0] & 1) {
      visionrt::CocoDataset gt = visionrt::parse_coco_instances(kGroundTruth, "gt.json", masks);
      auto dt = visionrt::parse_coco_results(text, "fuzz.json", gt, nullptr, masks);
      visionrt::evaluate_coco(gt, dt, type);
    } else {
      visionrt::CocoDataset gt = visionrt::parse_coco_instances(text, "fuzz.json", masks);
      visionrt::evaluate_coco(gt, {}, type);
    }
  } catch (const visionrt::Error&) {
  }
  return 0;
}
