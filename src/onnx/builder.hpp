// Writes ONNX models from code: tests and demos build their own tiny models with it, so they run
// on any machine. The interface hides protobuf.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graph/graph.hpp"

namespace visionrt {

class ModelBuilder {
 public:
  explicit ModelBuilder(int64_t opset = 17, int64_t ir_version = 8);
  ~ModelBuilder();
  ModelBuilder(ModelBuilder&&) noexcept;
  ModelBuilder& operator=(ModelBuilder&&) noexcept;
  // -1 dims become symbolic (named by dim_names when given).
  ModelBuilder& input(const std::string& name, DType t, const Shape& shape,
                      const std::vector<std::string>& dim_names = {});
  // An output with unknown shape (inference fills it in).
  ModelBuilder& output(const std::string& name, DType t);
  // An output with a declared shape (-1 dims symbolic), as exporters write them.
  ModelBuilder& output(const std::string& name, DType t, const Shape& declared);
  ModelBuilder& initializer(const std::string& name, const Tensor& value);
  // `op` may be "domain::Op" for a custom-domain node (mmcv::MMCVModulatedDeformConv2d).
  ModelBuilder& node(const std::string& op, const std::vector<std::string>& inputs,
                     const std::vector<std::string>& outputs,
                     const std::map<std::string, Attribute>& attrs = {},
                     const std::string& name = "");
  // A node with subgraph attributes (If's branches, Loop/Scan's body): each is the graph of
  // another builder (its inputs, outputs, initializers and nodes; names it reads but does not
  // define refer to the enclosing graph, as ONNX's outer scope).
  ModelBuilder& node_with_graphs(const std::string& op, const std::vector<std::string>& inputs,
                                 const std::vector<std::string>& outputs,
                                 const std::map<std::string, const ModelBuilder*>& graphs,
                                 const std::map<std::string, Attribute>& attrs = {});
  ModelBuilder& metadata(const std::string& key, const std::string& value);
  ModelBuilder& producer(const std::string& name);
  // Marks `initializer` for external storage in file `location` (relative) on save().
  ModelBuilder& external(const std::string& initializer, const std::string& location);
  std::string serialize() const;
  // Writes the model (and external data files) next to it; temp file + rename.
  void save(const std::string& path) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Built-in demo model: a tiny YOLO-style detector (Conv/SiLU/MaxPool/Resize/Concat/Reshape/
// Transpose/Softmax/Sigmoid), seeded weights, input "images" [1,3,64,64], output "output0".
ModelBuilder make_demo_detector();

// SSD300 with a VGG16 backbone (the original Caffe architecture; seeded random weights, ~31
// GFLOPs): input "images" [1,3,300,300], outputs "boxes" [1,8732,4], "scores" [1,8732,classes].
// `trainable`: the raw head as ssd.pytorch has it, outputs "loc" [1,8732,4] (encodings against
// the SSD300 priors) and "conf" [1,8732,classes] (logits, column 0 background), the heads
// initialised small (N(0, 0.01)) so that training starts from near-uniform scores.
ModelBuilder make_ssd300_vgg16(int64_t num_classes = 21, bool trainable = false);

// SSDlite with a MobileNetV2 backbone at 320x320 (BatchNorm after every convolution, ReLU6),
// raw heads "loc" [1,3234,4] and "conf" [1,3234,classes] on torchvision's SSDlite priors, for
// training from scratch (`visionrt train --cfg` with model: ssdlite320_mobilenet_v2).
ModelBuilder make_ssdlite320_mobilenet_v2(int64_t num_classes);

}  // namespace visionrt
