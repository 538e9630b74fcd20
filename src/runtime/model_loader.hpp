// Indirection between the runtime and the ONNX importer: runtime/ never includes protobuf, and
// visionrt_core does not link it; the definitions live in src/onnx/model_loader.cpp.
#pragma once
#include <memory>
#include <string>

#include "graph/graph.hpp"

namespace visionrt {
std::shared_ptr<Graph> load_model_file(const std::string& path);
std::shared_ptr<Graph> load_model_bytes(const std::string& bytes, const std::string& name);
}  // namespace visionrt
