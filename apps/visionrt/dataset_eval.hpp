// End-to-end evaluation shared by `eval --model` and `quantize --max-drop`: ground truth read
// from a dataset, a Predictor run over its images with Ultralytics' validation settings, and the
// detections as COCO results ready for evaluate_coco.
#pragma once
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "visionrt/vision.hpp"

namespace visionrt::cli {

struct EvalData {
  std::string data, format, images, names_file, split;
  size_t limit = 0;   // the first N images (0 = all)
  bool segm = false;  // masks: polygons rasterized for segm evaluation
  bool quiet = false;
  bool strict = false;  // a dataset that needs repairs is an error (DatasetReadOptions::strict)
};
// Reads the dataset (format guessed when empty), keeps `split` and the first `limit` images,
// and prints what it read (unless quiet).
CocoDataset load_ground_truth(const EvalData& e);
// The images of one split (and their annotations); InputError when it has none.
CocoDataset select_split(const CocoDataset& gt, const std::string& split);
bool has_split(const CocoDataset& gt, const std::string& split);
// Keeps the first n images of d and their annotations.
void limit_images(CocoDataset* d, size_t n);
// Polygon segmentations rasterized to masks for segm evaluation (as pycocotools' annToRLE).
void rasterize(CocoDataset* d);
// Model class index -> dataset category id: by name (case-insensitive) where the names agree,
// else by position when the counts agree (with a note on stdout unless quiet); InputError
// otherwise.
std::vector<int64_t> class_map(const std::vector<std::string>& model_names, const CocoDataset& d,
                               const std::string& model, bool quiet = false);

// Ultralytics' val settings: conf 0.001, iou 0.7, max_det 300, multi-label.
PredictOptions validation_options();

struct DatasetRun {
  std::vector<CocoAnnotation> dt;
  double preprocess_ms = 0, inference_ms = 0, postprocess_ms = 0;  // sums over the images
  size_t images = 0;
  double inference_ms_per_image() const { return images ? inference_ms / images : 0; }
  std::string speed() const;  // "speed: ... ms preprocess, ... per image (N images)"
};
// Runs `pred` (a detection or segmentation model) on every image of gt; detections of classes
// the dataset lacks are dropped; masks as RLE when segm. quiet: no progress bar, no class note.
DatasetRun predict_dataset(Predictor& pred, const CocoDataset& gt, bool segm,
                           const std::string& model, bool quiet = false);

}  // namespace visionrt::cli
