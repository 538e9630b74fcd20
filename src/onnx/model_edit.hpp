// Edits of an existing ONNX file that keep everything else as it was (nodes, names, opsets,
// metadata): the training path writes a fine-tuned model as the original with new weights.
#pragma once
#include <map>
#include <string>

#include "visionrt/tensor.hpp"

namespace visionrt {

// The serialized model at `path` with the initializers (or Constant node values) named in
// `values` replaced (same dtype and shape required), every tensor stored in an external file read
// in and written inline (the result is self-contained, wherever it is saved), and the
// `metadata` entries set. Throws IoError / ModelError naming the file and the tensor.
std::string model_with_initializers(const std::string& path,
                                    const std::map<std::string, Tensor>& values,
                                    const std::map<std::string, std::string>& metadata = {});

}  // namespace visionrt
