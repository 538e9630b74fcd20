// COCO's 80 detection classes: YOLO/Ultralytics class index <-> COCO category id (the 91-id
// space with gaps at 12, 26, 29, 30, 45, 66, 68, 69, 71, 83), and a test for the COCO-80 name
// list in either Ultralytics' or darknet's spelling.
#pragma once
#include <string>
#include <vector>

namespace visionrt {

inline const int* coco80_to_91() {
  static const int kTable[80] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 13, 14, 15, 16, 17,
                                 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32, 33, 34, 35, 36,
                                 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53,
                                 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73,
                                 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90};
  return kTable;
}

// 80 names starting "person", "bicycle", "car" and ending "toothbrush".
inline bool is_coco80_names(const std::vector<std::string>& names) {
  return names.size() == 80 && names[0] == "person" && names[1] == "bicycle" && names[2] == "car" &&
         names[79] == "toothbrush";
}

}  // namespace visionrt
