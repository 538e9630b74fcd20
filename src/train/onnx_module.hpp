// An ONNX model as a trainable libtorch module: the graph (read by visionrt's own loader) is
// executed node by node with libtorch operators, so autograd flows through it; the float weights
// of Conv / ConvTranspose / Gemm / MatMul / BatchNormalization are the parameters. Fine-tuning a
// model this way keeps its exact architecture, input and output signature and metadata: the
// trained model is the original file with new initializer values (write_onnx), which every tool
// that took the original takes as it is. YOLOv8 has its own module (yolo.hpp); this serves the
// detectors trained through their export (SSD, see ssd_loss.hpp).
//
// Semantics while training: BatchNormalization normalises with its stored statistics (frozen,
// as fine-tuning folded or small-batch models wants); graphs exported for batch 1 run at any
// batch (a Reshape's leading 1 follows the data's batch).
#pragma once
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graph/graph.hpp"

namespace visionrt::train {

struct OnnxModuleImpl : torch::nn::Module {
  // Throws ModelError naming the file and the first operator it cannot run.
  explicit OnnxModuleImpl(const std::string& path);

  // Runs the graph on the model's inputs (in graph input order) and returns the values named in
  // `wanted` (graph outputs or any intermediate tensor). `overrides` replace values (by name)
  // wherever they are produced: probing a decode sub-graph with chosen box encodings.
  std::map<std::string, torch::Tensor> run(
      const std::vector<torch::Tensor>& inputs, const std::vector<std::string>& wanted,
      const std::map<std::string, torch::Tensor>& overrides = {});

  // The trained model: the original file with the parameters' current values (and `metadata`
  // entries set), written atomically.
  void write_onnx(const std::string& path,
                  const std::map<std::string, std::string>& metadata = {}) const;

  const Graph& graph() const { return *graph_; }
  const std::string& path() const { return path_; }
  // The node producing `value` (nullptr for inputs, constants and unknown names).
  const Node* producer(const std::string& value) const;
  int64_t num_parameters() const;

  // In train mode, BatchNormalization normalizes by the batch's statistics and updates its running
  // ones with the node's momentum (training from scratch); off (the default), the statistics stay
  // frozen at the file's values in both modes (fine-tuning on small batches).
  bool train_batchnorm = false;

 private:
  torch::Tensor constant(int value) const;
  std::string path_;
  std::shared_ptr<Graph> graph_;
  std::map<int, torch::Tensor> params_;     // value id -> parameter or buffer (trained weights)
  std::map<int, torch::Tensor> constants_;  // other constants, converted once
  std::vector<std::pair<int, std::string>> written_;  // parameters written back, by value id
};
TORCH_MODULE(OnnxModule);

}  // namespace visionrt::train
