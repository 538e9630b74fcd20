// YOLO label files (Ultralytics layout: one object per line, normalized 0..1): boxes
// "cls cx cy w h [conf]" or segments "cls x1 y1 x2 y2 ... xn yn" (n >= 3). Every problem names
// the file and the line; what is repaired (clipped coordinates, duplicate lines) is counted.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace visionrt {

struct YoloObject {
  int cls = 0;
  double cx = 0, cy = 0, w = 0, h = 0;  // normalized box (a segment's tight box)
  std::vector<double> polygon;          // normalized x, y pairs; empty for a box line
  double conf = -1;                     // predictions written with confidence; -1 if absent
};

struct YoloReadReport {
  size_t clipped = 0;     // objects with coordinates outside 0..1, clipped
  size_t duplicates = 0;  // identical lines, dropped (as Ultralytics' verify_image_label)
  size_t degenerate = 0;  // zero width or height after clipping, dropped
};

// Parses a label file's text; `path` names it in errors (InputError "path:line: ...").
std::vector<YoloObject> parse_yolo_labels(const std::string& text, const std::string& path,
                                          YoloReadReport* report = nullptr);
// Reads a label file; a missing file is an image without objects (Ultralytics' background
// images), reported through *missing when given.
std::vector<YoloObject> read_yolo_labels(const std::string& path, YoloReadReport* report = nullptr,
                                         bool* missing = nullptr);

}  // namespace visionrt
