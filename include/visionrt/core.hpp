// The runtime's public API, in the spirit of OpenVINO 2.0:
//   visionrt::Core core;
//   auto compiled = core.compile_model("model.onnx");
//   auto request = compiled.create_infer_request();
//   request.set_input_tensor(0, input);
//   request.infer();
//   visionrt::Tensor out = request.get_output_tensor(0);
// A CompiledModel is immutable and shared by its InferRequests; each InferRequest owns its
// intermediate buffers, so different requests may run concurrently.
#pragma once
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "visionrt/tensor.hpp"

namespace visionrt {

namespace detail {
struct ModelImpl;
struct CompiledImpl;
struct RequestImpl;
}  // namespace detail

using Config = std::map<std::string, std::string>;

struct PortInfo {
  std::string name;
  DType dtype = DType::undefined;
  Shape shape;                         // -1 for a dynamic dimension; empty with has_rank=false
  std::vector<std::string> dim_names;  // symbolic names of dynamic dims ("" where none)
  bool has_rank = true;
};

// A loaded (not yet compiled) model: what `visionrt info` prints.
class Model {
 public:
  const std::string& path() const;
  const std::vector<PortInfo>& inputs() const;
  const std::vector<PortInfo>& outputs() const;
  // metadata_props of the ModelProto (Ultralytics stores names, stride, imgsz, task there).
  const std::map<std::string, std::string>& metadata() const;
  int64_t opset() const;  // default-domain opset
  int64_t ir_version() const;
  std::string producer() const;  // "pytorch 2.1.0"
  size_t num_nodes() const;
  size_t num_parameters() const;  // elements in initializers
  std::map<std::string, int> op_histogram() const;
  // Ops with no kernel (or unsupported at this opset), by name with the reason.
  std::map<std::string, std::string> unsupported_ops() const;
  // A copy with the given inputs' dynamic dimensions fixed (OpenVINO's Model::reshape), so that
  // compile_model builds the static fast path for that shape. Throws InputError for an unknown
  // input, a rank mismatch or a dimension that disagrees with a static one.
  Model reshape(const std::map<std::string, Shape>& shapes) const;

 private:
  friend class Core;
  std::shared_ptr<const detail::ModelImpl> impl_;
};

class InferRequest;

class CompiledModel {
 public:
  const std::vector<PortInfo>& inputs() const;
  const std::vector<PortInfo>& outputs() const;
  const std::map<std::string, std::string>& metadata() const;
  InferRequest create_infer_request() const;
  // Reads back a compile-time choice: PERFORMANCE_HINT, NUM_STREAMS, INFERENCE_NUM_THREADS
  // (over all streams), ENABLE_CPU_PINNING, OPTIMAL_NUMBER_OF_INFER_REQUESTS, PERF_COUNT,
  // INFERENCE_PRECISION; throws Error if unknown.
  std::string get_property(const std::string& key) const;
  // Every name get_property answers (OpenVINO's SUPPORTED_PROPERTIES), in table order.
  std::vector<std::string> property_names() const;
  // Kernel chosen per node and why others declined (ARCHITECTURE practice 2).
  std::vector<std::string> kernel_decisions() const;
  // Static memory plan: arena size, its lower bound, node counts per execution step.
  std::string plan_summary() const;

 private:
  friend class Core;
  std::shared_ptr<const detail::CompiledImpl> impl_;
};

// Per-node execution counters (compile with PERF_COUNT=YES), as OpenVINO's get_profiling_info.
struct ProfilingInfo {
  std::string node, op, kernel;
  std::string layout;  // memory layout the kernel ran on
  std::string step;    // "static" (planned memory), "view" (no copy), "dynamic" (shape at run time)
  double total_ms = 0;  // summed over `count` runs
  int64_t count = 0;
};

class InferRequest {
 public:
  InferRequest();
  ~InferRequest();
  InferRequest(InferRequest&&) noexcept;
  InferRequest& operator=(InferRequest&&) noexcept;

  void set_input_tensor(size_t index, const Tensor& t);
  void set_tensor(const std::string& input_name, const Tensor& t);
  // Runs the model and waits for it (on one of the compiled model's streams). Throws InputError
  // for missing or ill-shaped inputs and whatever the inference threw.
  void infer();
  // Asynchronous inference, as OpenVINO's: start_async queues the request on the compiled
  // model's streams and returns; wait blocks until it finished (and its callback returned) and
  // rethrows its error; wait_for gives up after `ms` milliseconds and returns false if not done.
  // A busy request refuses start_async, inputs and outputs (Error). The callback runs on the
  // stream's thread with the error (null on success); it may restart the request, it must not
  // destroy it. Destroying a request waits for its inference to finish.
  void start_async();
  void wait();
  bool wait_for(int64_t ms);
  void set_callback(std::function<void(std::exception_ptr)> callback);
  // Outputs are views of this request's output buffers: valid until the next infer() on this
  // request, which overwrites them (as in OpenVINO). clone() what must outlive it.
  Tensor get_output_tensor(size_t index) const;
  Tensor get_tensor(const std::string& output_name) const;
  // Per-node timings accumulated over every infer() so far; requires PERF_COUNT=YES.
  std::vector<ProfilingInfo> get_profiling_info() const;

 private:
  friend class CompiledModel;
  std::unique_ptr<detail::RequestImpl> impl_;
};

class Core {
 public:
  // Loads and checks an ONNX file (external data resolved next to it). Throws ModelError/IoError.
  Model read_model(const std::string& path) const;
  Model read_model_from_memory(const std::string& bytes,
                               const std::string& name = "<memory>") const;
  // Properties (OpenVINO's names): PERFORMANCE_HINT LATENCY (default: one stream with all
  // threads) or THROUGHPUT (one single-threaded stream per core); NUM_STREAMS (a number or AUTO);
  // INFERENCE_NUM_THREADS (threads over all streams, 0 = all cores); ENABLE_CPU_PINNING (YES/NO);
  // PERF_COUNT (YES/NO: per-node timing); INFERENCE_PRECISION (f32 only for now).
  CompiledModel compile_model(const Model& model, const Config& config = {}) const;
  CompiledModel compile_model(const std::string& path, const Config& config = {}) const;
};

}  // namespace visionrt
