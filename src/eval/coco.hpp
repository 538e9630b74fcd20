// COCO instances files (ground truth) and COCO results files (detections), read with the checks
// pycocotools makes plus the ones it does not (every problem names the file and the
// annotation): .json or .json.gz.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "geometry/box.hpp"
#include "geometry/rle.hpp"

namespace visionrt {

struct CocoImage {
  int64_t id = 0;
  std::string file_name;
  int64_t width = 0, height = 0;
  // Dataset conversion only: the image file on disk and the split it belongs to.
  std::string path, split;
};

struct CocoCategory {
  int64_t id = 0;
  std::string name, supercategory;
};

struct CocoAnnotation {
  int64_t id = 0, image_id = 0, category_id = 0;
  BoxXYWH bbox;
  double area = 0;
  bool iscrowd = false;
  double score = 0;  // results only
  Rle mask;          // segmentation, read when masks are requested (or a kept RLE)
  bool has_mask = false;
  // Kept segmentation (CocoReadMode::keep_segmentation): polygons in pixels as in the file; an
  // RLE segmentation goes to `mask`.
  std::vector<std::vector<double>> polygons;
  bool difficult = false, truncated = false;  // Pascal VOC flags (extra keys in COCO files)
};

// What reading an instances file repaired, as pycocotools reads the same file: annotations of
// images or categories the file does not declare are dropped (pycocotools never evaluates them),
// a repeated image or category id keeps its last entry (pycocotools' dicts), and every
// annotation repeating an id is evaluated as the last one with that id (pycocotools' loadAnns by
// id). With `strict` reading, each of these is an error instead.
struct CocoReadReport {
  size_t unknown_image = 0, unknown_category = 0;
  size_t duplicate_images = 0, duplicate_categories = 0, duplicate_annotations = 0;
  std::vector<std::string> findings;  // the first few, each naming the annotation or entry
  bool any() const;
  std::string summary() const;  // one line: "N annotation(s) of undeclared categories dropped, ..."
};

struct CocoDataset {
  std::string path;
  CocoReadReport read_report;  // what reading the file repaired (see CocoReadReport)
  std::vector<CocoImage> images;
  std::vector<CocoCategory> categories;
  std::vector<CocoAnnotation> annotations;
  const CocoImage* find_image(int64_t id) const;
  std::map<int64_t, size_t> image_index;  // id -> position in images
};

// Reads a COCO instances file. Throws IoError (unreadable) or InputError (malformed: names the
// file and the annotation index/id). With `masks`, every annotation's segmentation (polygons,
// merged by union, on the image's height x width; uncompressed or compressed RLE) becomes a mask.
// `strict`: what CocoReadReport counts is an error naming the file and the entry.
CocoDataset read_coco_instances(const std::string& path, bool masks = false, bool strict = false);
// For conversion: polygons kept as polygons, RLE as `mask`, VOC flags read; nothing rasterized.
CocoDataset read_coco_instances_for_conversion(const std::string& path, bool strict = false);
// COCO instances JSON of a dataset (images, categories, annotations with bbox, area, iscrowd,
// polygon or compressed-RLE segmentation, and difficult/truncated when set).
std::string coco_instances_json(const CocoDataset& d);

// What reading a results file noticed; nothing is dropped without being counted here.
struct CocoResultsReport {
  size_t read = 0;
  size_t unknown_category = 0;  // category not in the ground truth: never evaluated
};

// Reads a COCO results file (a JSON list of {image_id, category_id, score, bbox or
// segmentation}) against `gt` as pycocotools' loadRes does: ids 1..N in file order; when the
// first result has a box, area = w * h (and a missing segmentation is the box), otherwise area
// and box come from the mask. Results for images that are not in `gt`, NaN/negative/infinite
// scores and malformed boxes or masks are errors. `masks`: read segmentations (segm evaluation).
std::vector<CocoAnnotation> read_coco_results(const std::string& path, const CocoDataset& gt,
                                              CocoResultsReport* report = nullptr,
                                              bool masks = false);

// The same from text already in memory; `path` names it in messages.
CocoDataset parse_coco_instances(const std::string& text, const std::string& path,
                                 bool masks = false, bool keep_segmentation = false,
                                 bool strict = false);
std::vector<CocoAnnotation> parse_coco_results(const std::string& text, const std::string& path,
                                               const CocoDataset& gt,
                                               CocoResultsReport* report = nullptr,
                                               bool masks = false);

}  // namespace visionrt
