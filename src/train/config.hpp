// Model configs for `visionrt train --cfg FILE.yaml`: which network to build, at which scale, with
// which blocks, and optionally which export to take weights from.
//
//   model: yolov8      # yolov8 (detect/segment), ssd300_vgg16 or ssdlite320_mobilenet_v2 (keys:
//                      # model, nc)
//   scale: n           # Ultralytics' n, s, m, l, x
//   task: segment      # detect or segment
//   nc: 3              # classes (default: the dataset's categories, or the weights' classes)
//   dcn: [6, 8]        # C2f layers whose bottlenecks use DCNv2 (2, 4, 6, 8, 12, 15, 18, 21)
//   dsconv: [4]        # C2f layers whose bottlenecks add dynamic snake convolutions
//   weights: yolov8n-seg.onnx   # optional: start from an export (by name; relative to the file)
#pragma once
#include <string>

#include "train/yolo.hpp"

namespace visionrt::train {

struct TrainConfig {
  std::string model = "yolov8";  // yolov8, ssd300_vgg16 or ssdlite320_mobilenet_v2
  YoloSpec spec;                 // yolov8; the SSDs use spec.nc (classes, background not counted)
  bool nc_given = false;
  std::string weights;  // "" for none; resolved against the config's folder
};

// Throws IoError (unreadable) or InputError naming the file and the key for anything malformed,
// unknown keys included (a typo must not silently train another network).
TrainConfig read_train_config(const std::string& path);

}  // namespace visionrt::train
