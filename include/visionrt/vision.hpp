// Task pipelines: image in, detections / instance masks / label map / text boxes out, with the
// pre- and post-processing each model family was trained with (Ultralytics letterbox, SSD
// resize, DeepLab normalization, PaddleOCR's DB post-processing, torchvision's and mmdeploy's
// end-to-end detectors).
//
//   visionrt::PredictOptions opt;
//   opt.conf = 0.25f;
//   visionrt::Predictor yolo("yolov8n.onnx", opt);           // family and task from the model
//   visionrt::Prediction p = yolo.predict(cv::imread("bus.jpg"));
//   for (const visionrt::Detection& d : p.detections)
//     std::printf("%s %.2f [%.0f %.0f %.0f %.0f]\n", d.label.c_str(), d.score, d.x1, d.y1, d.x2,
//                 d.y2);
//
// A Predictor compiles its model once (per input size for models with dynamic height/width,
// such as PaddleOCR's detector) and is not thread-safe: use one per thread.
#pragma once
#include <array>
#include <functional>
#include <memory>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

namespace visionrt {

// What the pipeline produces.
enum class Task { detect, segment, semantic, text };
const char* task_name(Task t);

// How an image becomes the input tensor. Values are normalized as (pixel - mean) / std per channel,
// in the channel order the model takes (after the optional BGR->RGB swap).
struct PreprocessConfig {
  enum class Resize {
    letterbox,  // keep aspect ratio, centre, pad (Ultralytics LetterBox, the classic SSD one)
    stretch,    // resize to the input size, aspect ratio not kept (TF SSD, DeepLab)
    multiple,   // PaddleOCR's DetResizeForTest: longest side <= limit, both sides rounded to 32
  };
  Resize resize = Resize::letterbox;
  int width = 640, height = 640;  // network input (for `multiple`: the side limit in width)
  int pad_value = 114;
  // Shrink with area averaging (cv::INTER_AREA) instead of bilinear (cv::INTER_LINEAR, as
  // Ultralytics). The TF-converted SSD/DeepLab reference numbers were measured antialiased.
  bool antialias = false;
  bool rgb = true;
  std::array<float, 3> mean{0.f, 0.f, 0.f};
  std::array<float, 3> std{255.f, 255.f, 255.f};
  std::string describe() const;
};

struct Detection {
  // Box in original image pixels (x2, y2 exclusive edges, as Ultralytics and COCO use them).
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  float score = 0;
  int class_id = 0;  // model class index (for SSD TF models: the COCO category id)
  std::string label;
  // Instance mask (task segment): CV_8UC1, 0/1, covering `mask_roi` of the original image; the
  // rest of the image is outside the mask.
  cv::Mat mask;
  cv::Rect mask_roi;
  // Task text: the quadrilateral, clockwise from top-left, in original image pixels.
  std::vector<cv::Point2f> polygon;
};

struct Prediction {
  Task task = Task::detect;
  cv::Size image_size;
  std::vector<Detection> detections;  // detect, segment, text; highest score first
  cv::Mat labels;                     // semantic: CV_32SC1 class per pixel, image-sized
  double preprocess_ms = 0, inference_ms = 0, postprocess_ms = 0;
  double compile_ms = 0;  // compiling for a new input size (dynamic models), not in inference_ms
};

struct PredictOptions {
  float conf = 0.25f;  // minimum score kept (detect, segment; text uses db_box_thresh)
  float iou = 0.7f;    // NMS IoU threshold
  int max_det = 300;   // at most this many detections per image
  bool agnostic_nms = false;
  bool multi_label = false;  // YOLO: every class above conf per box (Ultralytics val), not the best
  std::vector<int> classes;  // keep only these class ids (empty: all)
  bool retina_masks = false;       // segment: upsample the mask logits first, crop at native size
  int imgsz = 0;                   // 0: the model's own input size (dynamic models: 640; text: 960)
  std::string family;              // "" auto; one of model_family_names()
  std::vector<std::string> names;  // class names; empty: model metadata or a .names beside it
  int threads = 0;                 // intra-op threads, 0 = all cores
  // INFERENCE_PRECISION: f32, bf16, or empty for the runtime's default (bf16 where this CPU's
  // probe measures it faster).
  std::string precision;
  std::optional<PreprocessConfig> preprocess;  // override the family's default
  // Called with the family's default (after `preprocess`) to change single fields.
  std::function<void(PreprocessConfig&)> preprocess_edit;
  // DB text detection (PaddleOCR DBPostProcess parameters).
  float db_thresh = 0.3f;
  std::optional<float> db_box_thresh;  // default 0.6
  float db_unclip_ratio = 1.5f;
  int db_max_candidates = 1000;
};

// The model families the Predictor knows, in the order auto-detection tries them: rcnn
// (end-to-end detectors: torchvision Faster/Mask R-CNN, RetinaNet, FCOS, SSD exports; mmdeploy
// end2end), ssd, yolov8, yolov5, db (PaddleOCR text detection), semantic.
std::vector<std::string> model_family_names();

class Predictor {
 public:
  explicit Predictor(const std::string& model_path, const PredictOptions& options = {});
  // Reads the model and settles its family, task, names and pre-processing without compiling it
  // (tools that only need those: quantize, dataset checks); predict() compiles on first use.
  static Predictor inspect(const std::string& model_path, const PredictOptions& options = {});
  // A model held in memory (serialized ONNX); `name` stands for its path in messages and where
  // a names file is looked for.
  static Predictor from_memory(const std::string& bytes, const std::string& name,
                               const PredictOptions& options = {});
  ~Predictor();
  Predictor(Predictor&&) noexcept;
  Predictor& operator=(Predictor&&) noexcept;

  // `bgr`: 8-bit, 1, 3 or 4 channels (as cv::imread gives). Throws InputError for an empty or
  // unsupported image.
  Prediction predict(const cv::Mat& bgr);
  // As predict(bgr) with this call's post-processing settings in place of the construction's:
  // conf, iou, max_det, agnostic_nms, multi_label, classes, retina_masks and the DB thresholds
  // (a server's requests each bring their own). Other fields of `call` are ignored. Throws
  // InputError for a value out of range.
  Prediction predict(const cv::Mat& bgr, const PredictOptions& call);

  Task task() const;
  const std::string& family() const;  // one of model_family_names()
  const std::vector<std::string>& names() const;
  const PreprocessConfig& preprocess() const;
  const PredictOptions& options() const;  // as constructed
  std::string describe() const;           // one line: model, family, task, input, preprocessing

 private:
  Predictor(const std::string& model_path, const PredictOptions& options, bool compile,
            const std::string* bytes);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The ARCHITECTURE sketch: boxes (and masks, for segmentation models) only.
class Detector {
 public:
  explicit Detector(const std::string& model_path, const PredictOptions& options = {})
      : p_(model_path, options) {}
  std::vector<Detection> detect(const cv::Mat& bgr) { return p_.predict(bgr).detections; }
  Predictor& predictor() { return p_; }

 private:
  Predictor p_;
};

// A detection's instance mask on the whole image (CV_8UC1, 0/1, `image_size`); all zeros when it
// has no mask or its mask_roi leaves the image.
cv::Mat image_mask(const Detection& d, cv::Size image_size);

// Label-map colours: Pascal VOC's colour map (class 0 = background, left undrawn) or
// Cityscapes' 19 train-id colours (every class drawn); automatic picks Cityscapes for 19 names.
enum class Palette { automatic, voc, cityscapes };
// BGR colour of a class in a palette (automatic as VOC).
cv::Vec3b palette_color(Palette palette, int label);

// Drawing (vision/draw): boxes in per-class colours with "label conf", instance masks and
// semantic label maps blended with `alpha`, a legend for semantic maps, text quadrilaterals.
// Line width and font scale grow with the image size.
void draw_prediction(cv::Mat& bgr, const Prediction& p, const std::vector<std::string>& names,
                     float alpha = 0.5f, Palette palette = Palette::automatic);

}  // namespace visionrt
