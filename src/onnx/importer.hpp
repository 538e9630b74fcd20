// ONNX ModelProto -> Graph. Initializers (raw_data and typed fields), external data next to the
// model, Constant nodes folded to constants, optional inputs/outputs, metadata_props.
#pragma once
#include <memory>
#include <string>

#include "graph/graph.hpp"

namespace visionrt {

// Opsets below 7 load; ops whose semantics changed since are rejected per op (min_supported_opset).
constexpr int64_t kMinOpset = 1;
constexpr int64_t kMaxOpset = 20;

// Throws IoError if the file can't be read, ModelError if it is not a valid model we support.
std::shared_ptr<Graph> load_onnx_file(const std::string& path);
// `base_dir` resolves external data ("" = none allowed); `name` is used in messages.
std::shared_ptr<Graph> load_onnx_bytes(const std::string& bytes, const std::string& name,
                                       const std::string& base_dir);
// A serialized TensorProto file (the conformance data's input_N.pb / output_N.pb).
Tensor load_tensor_pb(const std::string& path, std::string* name = nullptr);

}  // namespace visionrt
