// Model families behind one interface. A family knows how to recognise its models from their
// inputs, outputs and metadata, which pre-processing they were trained with, and how their
// outputs become detections, masks, label maps or text boxes. Each family is one file
// (family_*.cpp) and one row of the table in family.cpp; the Predictor only talks to this
// interface, so a family is added without editing the others.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "vision/postprocess.hpp"
#include "vision/preprocess.hpp"
#include "visionrt/core.hpp"
#include "visionrt/vision.hpp"

namespace visionrt {

// What recognition and set-up see of a model. Ranks and dimensions come from the model's
// declared/inferred ports: -1 where unknown.
struct ModelView {
  const std::string& path;
  const Model& model;
  const PredictOptions& opt;

  int num_outputs() const { return static_cast<int>(model.outputs().size()); }
  int rank(int i) const;
  int64_t dim(int i, int d) const;  // -1 when unknown or out of range
  const std::string& output_name(int i) const { return model.outputs()[i].name; }
  std::string meta(const std::string& key) const;  // "" when absent
  const Shape& input_shape() const { return model.inputs()[0].shape; }
};

// Decided at set-up besides the family object. On entry `pre` holds the input size (the model's
// own, or --imgsz for dynamic models) and default letterbox/0..1 RGB normalization.
struct FamilySetup {
  Task task = Task::detect;
  PreprocessConfig pre;
  // Class names when neither the options, the model's metadata nor a names file give them.
  std::vector<std::string> default_names;
  std::string default_names_source;
};

// What one image's post-processing sees.
struct DecodeContext {
  const std::string& path;  // the model, for messages
  const PredictOptions& opt;
  const ImageGeometry& g;
  const std::vector<std::string>& names;
  std::string label_of(int c) const;  // the name, or the number when there is none
  // The options' conf, iou, max_det, agnostic, multi-label and class filter as NMS settings.
  NmsParams nms() const;
  // A box in network input pixels mapped back to the original image (undoing the letterbox or
  // stretch) and clamped to it: d's x1, y1, x2, y2.
  void box_to_image(const BoxXYXY& net, Detection* d) const;
  // Throws InputError unless `t` is f32 of the given rank with batch 1.
  void check(const Tensor& t, size_t rank, const char* what, const char* family) const;
};

class Family {
 public:
  virtual ~Family() = default;
  // Output tensors of one inference -> out->detections / out->labels in original image pixels.
  virtual void decode(InferRequest& req, const DecodeContext& c, Prediction* out) const = 0;
  // Extra words for Predictor::describe(), e.g. "80 classes"; "" for none.
  virtual std::string summary() const { return ""; }
};

struct FamilyInfo {
  const char* name;
  // Auto-detection: the table is tried in order and the first family that recognises the
  // model is taken (more specific layouts first).
  bool (*recognise)(const ModelView& m);
  // Settles outputs, task and pre-processing; throws ModelError when the model does not fit.
  std::unique_ptr<Family> (*create)(const ModelView& m, FamilySetup* setup);
};

// "(pixel - 127.5) / 127.5" and "RGB"/"BGR" in the model's `input` metadata (as the shared
// TF-converted models record their normalization) into `c`; false when absent.
bool normalization_from_metadata(const ModelView& m, PreprocessConfig* c);

// The registration table (family.cpp), in recognition order.
const std::vector<FamilyInfo>& model_families();
const FamilyInfo* find_family(const std::string& name);
std::string family_names();  // "rcnn, ssd, yolov8, ..." for messages and --help

// The families' rows (one per family file).
FamilyInfo rcnn_family();
FamilyInfo ssd_family();
FamilyInfo yolov8_family();
FamilyInfo yolov5_family();
FamilyInfo db_family();
FamilyInfo semantic_family();

}  // namespace visionrt
