// Fine-tuning an SSD export (TF Object Detection API's SSD MobileNet with its decoded boxes and
// sigmoid scores; ssd.pytorch's SSD300 and torchvision's SSDlite with raw heads): the ONNX graph
// itself is the network (OnnxModule), the multibox loss reads its box encodings and class logits,
// and the trained model is the original file with new weights, so `visionrt predict/eval` take
// it exactly as they took the original.
#pragma once
#include <string>

#include "train/onnx_module.hpp"
#include "train/ssd_loss.hpp"
#include "train/trainer.hpp"

namespace visionrt::train {

struct SsdModel {
  std::string path;
  OnnxModule net{nullptr};
  std::string encodings, logits;  // the tensors the loss reads
  bool sigmoid = false;           // scores = sigmoid(logits) (else softmax)
  // Sigmoid heads: the focal loss (TF's SSD MobileNet recipe) instead of 3:1 hard negatives.
  bool focal = true;
  SsdCoder coder;
  PreprocessConfig pre;  // the predictor's pre-processing of this model
  int64_t classes = 0;   // score columns, column 0 background
  std::string describe() const;
};

// Reads an SSD export for training; ModelError naming the file when it is not one, or when it
// decodes its boxes without also giving the encodings it decodes from.
SsdModel load_ssd(const std::string& path);

// The training task: multibox loss (IoU 0.5 matching, smooth-L1, 3:1 hard negatives), the
// model's own pre-processing at its input size, frozen BatchNorm statistics. The exported model
// carries `names` in its metadata (so it needs no names file beside it).
TrainTask ssd_task(SsdModel& model, const std::vector<std::string>& names);

}  // namespace visionrt::train
