// Binds the runtime's model-loading hooks to the ONNX importer.
#include "runtime/model_loader.hpp"

#include "onnx/importer.hpp"

namespace visionrt {
std::shared_ptr<Graph> load_model_file(const std::string& path) { return load_onnx_file(path); }
std::shared_ptr<Graph> load_model_bytes(const std::string& bytes, const std::string& name) {
  return load_onnx_bytes(bytes, name, "");
}
}  // namespace visionrt
