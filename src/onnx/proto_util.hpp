// TensorProto <-> Tensor for the code in src/onnx that edits models (ModelBuilder, the QDQ
// writer). Includes protobuf: only src/onnx may include this header.
#pragma once
#include <onnx/onnx_pb.h>

#include <string>

#include "visionrt/tensor.hpp"

namespace visionrt {

// raw_data or the typed fields, external data resolved against `base_dir` ("" = none allowed);
// ModelError naming `name` on anything malformed. Defined in importer.cpp.
Tensor tensor_from_proto(const onnx::TensorProto& t, const std::string& name,
                         const std::string& base_dir);
// `t` as raw_data under `name`. Defined in builder.cpp.
void fill_tensor(onnx::TensorProto* p, const std::string& name, const Tensor& t);

}  // namespace visionrt
