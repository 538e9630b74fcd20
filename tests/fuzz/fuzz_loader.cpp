// libFuzzer entry: arbitrary bytes -> ONNX loader -> compile -> one inference on zeros for small
// models. Any visionrt::Error is an accepted outcome; crashes, hangs, leaks and UB are bugs.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "visionrt/core.hpp"

// Tensors above 1 GiB become clean errors instead of libFuzzer out-of-memory reports.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("VISIONRT_MAX_TENSOR_BYTES", "1073741824", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    visionrt::Core core;
    visionrt::Model m = core.read_model_from_memory(bytes, "fuzz.onnx");
    visionrt::CompiledModel cm = core.compile_model(m, {{"INFERENCE_NUM_THREADS", "1"}});
    visionrt::InferRequest req = cm.create_infer_request();
    for (size_t i = 0; i < cm.inputs().size(); ++i) {
      const auto& p = cm.inputs()[i];
      if (!p.has_rank || p.dtype == visionrt::DType::undefined) return 0;
      visionrt::Shape s = p.shape;
      size_t n = 1;
      for (auto& d : s) {
        if (d < 0) d = 1;
        n *= static_cast<size_t>(d);
        if (n > 4096) return 0;  // keep each execution cheap
      }
      req.set_input_tensor(i, visionrt::Tensor(p.dtype, s));
    }
    req.infer();
  } catch (const visionrt::Error&) {
  }
  return 0;
}
