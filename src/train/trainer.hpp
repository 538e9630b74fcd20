// The training loop (Ultralytics' recipe): batches through the same pre-processing the predictor
// uses (plus horizontal flips and HSV jitter), SGD with Nesterov momentum or
// AdamW over three parameter groups (BatchNorm weights and biases without weight decay), linear
// warm-up then linear decay of the learning rate, an exponential moving average of the weights
// that is what gets validated and exported, validation after every epoch through a callback
// (the CLI evaluates the exported ONNX with visionrt's COCO evaluator), results.csv and
// best/last ONNX files written atomically.
#pragma once
#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "geometry/rle.hpp"
#include "train/yolo.hpp"
#include "visionrt/vision.hpp"

namespace visionrt::train {

struct Sample {
  std::string path;                          // image file
  std::vector<std::array<float, 5>> labels;  // model class, x1, y1, x2, y2 in image pixels
  std::vector<Rle> masks;                    // segment: one per label, over the whole image
};

struct TrainOptions {
  int epochs = 10, imgsz = 640, batch = 16;
  std::string optimizer = "SGD";  // SGD (momentum, Nesterov) or AdamW
  double lr0 = 0.01, lrf = 0.01, momentum = 0.937, weight_decay = 5e-4;
  double warmup_epochs = 3.0;
  int64_t warmup_min_iterations = 100;  // Ultralytics: at least 100 warm-up iterations
  double warmup_bias_lr = 0.1;          // biases warm up from this rate (Ultralytics 0.1)
  double fliplr = 0.5;
  // Ultralytics' geometric augmentation (augment.hpp), for letterboxed square inputs: mosaic
  // probability, switched off for the last `close_mosaic` epochs (never when the run is shorter,
  // as Ultralytics), and the random affine step (degrees, translation fraction, scale gain range,
  // shear degrees). All 0: the plain letterbox.
  double mosaic = 1.0;
  int close_mosaic = 10;
  double degrees = 0, translate = 0.1, scale = 0.5, shear = 0;
  std::array<double, 3> hsv{0.015, 0.7, 0.4};  // hue, saturation, value gain ranges
  bool ema = true;
  // Re-estimate BatchNorm statistics on the first batches before training (for weights loaded
  // from a folded export: see recalibrate_batchnorm).
  bool recalibrate_bn = false;
  uint64_t seed = 0;
  int threads = 0;  // 0: libtorch's default
  std::string out;  // run folder: weights/, results.csv
  bool quiet = false;
  // Continue the run in `out` from weights/last.pt (written atomically after every epoch: the
  // network, its EMA, the optimizer, the epoch and best so far) up to `epochs`.
  bool resume = false;
};

struct EpochResult {
  int epoch = 0;
  std::vector<double> losses;   // mean of each TrainTask::loss_names term over the epoch
  double map50 = -1, map = -1;  // validation (-1 when not run)
  double lr = 0, seconds = 0;
};

// Ultralytics' HSV augmentation with the given gains (hue, saturation, value multipliers; hue
// wraps at 180 as OpenCV's 8-bit hue), through lookup tables; all gains 1 leave it unchanged.
void augment_hsv(cv::Mat& bgr, const std::array<double, 3>& gains);

// mAP50 and mAP50-95 of an exported ONNX model.
using Validator = std::function<std::pair<double, double>(const std::string& onnx)>;

// What the training loop needs from a model family: the network, how images become its input,
// its loss and its export.
struct TrainTask {
  torch::nn::Module* net = nullptr;
  // A second network of the same structure (the EMA; its parameters are overwritten).
  std::function<std::shared_ptr<torch::nn::Module>()> make_copy;
  std::string identity;                 // a checkpoint must match it to be resumed
  std::vector<std::string> loss_names;  // the loss terms: progress, results.csv, results.svg
  bool masks = false;                   // a mask per object (segmentation), mask metrics
  int64_t first_class = 0, nc = 0;      // labels must lie in [first_class, nc)
  PreprocessConfig pre;                 // image -> network input (its size is the input's)
  // The total loss and its terms on images [B, 3, H, W], targets [T, 6] (image in batch, class,
  // cx, cy, w, h in units of the input size) and masks [T, H/4, W/4] (0/1, when `masks`).
  std::function<std::pair<torch::Tensor, std::vector<double>>(
      torch::nn::Module&, const torch::Tensor&, const torch::Tensor&, const torch::Tensor&)>
      loss;
  std::function<void(torch::nn::Module&, const std::string&)> export_onnx;
  // Optional, before the first epoch of a fresh run: returns the layers it touched.
  std::function<int(torch::nn::Module&, const std::vector<torch::Tensor>&)> recalibrate;
};

// Trains `task.net` in place on `samples` and returns one result per epoch run. Writes
// out/weights/last.pt (checkpoint), out/results.svg (loss and metric curves) and
// out/weights/last.onnx every epoch and out/weights/best.onnx when the validation mAP50-95
// improves (or every epoch without a validator), and out/results.csv. Throws InputError for
// options or labels out of range and IoError for unreadable images.
std::vector<EpochResult> train(const TrainTask& task, const std::vector<Sample>& samples,
                               const TrainOptions& opt, const Validator& validate);

// YOLOv8 detect/segment: Ultralytics' loss, letterbox at opt.imgsz, export through our builder
// with `names` in the metadata.
TrainTask yolo_task(YoloV8Impl& net, const std::vector<std::string>& names, int imgsz);

}  // namespace visionrt::train
