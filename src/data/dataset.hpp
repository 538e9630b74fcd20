// Datasets in COCO, Pascal VOC and YOLO layouts, read into and written from one in-memory model
// (CocoDataset: COCO is the superset of the three), with a validation report that counts every
// repair and drop. Readers never modify the source; writers build the whole output in a
// temporary folder next to the destination and rename it into place.
#pragma once
#include <string>
#include <vector>

#include "eval/coco.hpp"
#include "geometry/polygon.hpp"  // merge_polygon_parts, for the callers of this header

namespace visionrt {

enum class DatasetFormat { coco, voc, yolo };
DatasetFormat parse_dataset_format(const std::string& s);  // throws InputError
const char* dataset_format_name(DatasetFormat f);

struct DatasetReport {
  size_t images = 0, objects = 0;
  size_t missing_images = 0;          // labelled but the image file is absent (dropped)
  size_t images_without_labels = 0;   // background images (kept)
  size_t boxes_clipped = 0;           // coordinates outside the image, clipped
  size_t boxes_dropped = 0;           // empty or degenerate after clipping (dropped)
  size_t unknown_classes = 0;         // class id or name not in the class list (dropped)
  size_t unknown_images = 0;          // COCO: annotations of images not in 'images' (dropped)
  size_t duplicates = 0;              // duplicate ids or label lines (dropped)
  size_t polygons_dropped = 0;        // polygons with fewer than 3 points (dropped)
  size_t crowd_dropped = 0;           // crowd RLE regions the target cannot hold (dropped)
  std::vector<std::string> findings;  // the first problems, each with file and id/line
  void note(const std::string& what);
  bool any_problem() const;
  std::string summary() const;  // multi-line, one count per line
};

struct DatasetReadOptions {
  std::string images_dir;          // COCO: folder of the images (default: guessed, see README)
  std::string split;               // COCO: split name (default from instances_<split>.json)
  std::vector<std::string> names;  // class names (YOLO without data.yaml, VOC order)
  // Every repair or drop the report counts is an error instead: InputError with the counts and
  // the first finding.
  bool strict = false;
};

// COCO: an instances JSON. VOC: a root with Annotations/ (+ JPEGImages/, ImageSets/Main/).
// YOLO: a data.yaml, or a root with images/ and labels/ (split sub-folders optional).
CocoDataset read_dataset(DatasetFormat f, const std::string& src, const DatasetReadOptions& opt,
                         DatasetReport* report);

struct DatasetWriteOptions {
  bool copy_images = true;  // hard link where possible, else copy
};

// Writes into `dst`, which must not exist or be empty: COCO annotations/instances_<split>.json
// + images/<split>/; VOC Annotations/, JPEGImages/, ImageSets/Main/<split>.txt; YOLO
// images/<split>/, labels/<split>/ (boxes, or segments where the object has polygons or a mask)
// and data.yaml.
void write_dataset(const CocoDataset& d, DatasetFormat f, const std::string& dst,
                   const DatasetWriteOptions& opt, DatasetReport* report);

// Width and height from the file header (JPEG, PNG, BMP), else by decoding. Throws IoError.
void image_size(const std::string& path, int64_t* width, int64_t* height);

}  // namespace visionrt
