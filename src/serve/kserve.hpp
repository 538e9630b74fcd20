// The KServe v2 inference protocol (REST) over visionrt's runtime, without the transport: the
// HTTP server (serve/http_server.hpp) hands each request's method, path, headers and body to
// KServeHandler::handle and sends back its Reply. Keeping the protocol here lets the tests and
// the fuzzer drive it without sockets.
//
// Endpoints (https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/):
//   GET  /v2                                   server metadata
//   GET  /v2/health/live | /v2/health/ready    liveness, readiness
//   GET  /v2/models/{m}[/versions/{v}]         model metadata
//   GET  /v2/models/{m}[/versions/{v}]/ready   model readiness
//   POST /v2/models/{m}[/versions/{v}]/infer   inference: JSON tensors, or the binary tensor
//                                              extension (Inference-Header-Content-Length)
//   POST /v2/repository/index                  the model repository extension's index
//   POST /v2/models/{m}/predict                visionrt's task endpoint: an encoded image in,
//                                              detections / masks / label maps out as JSON
// Every error is a JSON {"error": "..."} with a 4xx status (5xx only for a failure of ours).
#pragma once
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "visionrt/core.hpp"
#include "visionrt/error.hpp"
#include "visionrt/vision.hpp"

namespace visionrt::serve {

// An error the client caused (or a missing model): status and message go back as they are.
class HttpError : public Error {
 public:
  HttpError(int status, const std::string& msg) : Error(msg), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query
  std::map<std::string, std::string> query;
  std::map<std::string, std::string> headers;  // names lower-case
  std::string body;
};

struct Reply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::map<std::string, std::string> headers;
};

// KServe v2 datatype names <-> DType ("FP32" <-> f32). BYTES has no DType (unsupported).
const char* kserve_datatype(DType t);
DType dtype_from_kserve(const std::string& name);  // undefined if unknown

struct ServeOptions {
  // Compile settings of every model: OpenVINO's hint (THROUGHPUT: one stream per core, so that
  // concurrent requests run side by side; LATENCY: one stream with every thread).
  std::string hint = "THROUGHPUT";
  int threads = 0;        // INFERENCE_NUM_THREADS over all streams (0: every core)
  std::string precision;  // INFERENCE_PRECISION ("": the runtime's default)
  // Task endpoint: predictors per model (each compiles its own copy), 0 = one per stream.
  int task_workers = 0;
  // A model without a task endpoint (raw tensors only) is fine; `require_task` makes it an error.
  bool require_task = false;
  size_t max_image_pixels = 64u << 20;  // decoded image limit of /predict
};

// One model under a name: a compiled model with a pool of infer requests for /infer, and a pool
// of Predictors for /predict (when its family is known).
class ServedModel {
 public:
  ServedModel(const std::string& name, const std::string& path, const ServeOptions& options);
  ~ServedModel();
  const std::string& name() const;
  const std::string& path() const;
  const CompiledModel& compiled() const;
  // "" when /predict is unavailable; task_reason() then says why.
  std::string task() const;
  std::string family() const;
  const std::string& task_reason() const;
  const std::vector<std::string>& names() const;

  // Runs one inference on a free request from the pool (waits for one). Outputs are copies.
  std::vector<Tensor> infer(const std::vector<std::pair<std::string, Tensor>>& inputs);
  Prediction predict(const cv::Mat& bgr, const PredictOptions& call);
  size_t num_requests() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class KServeHandler {
 public:
  KServeHandler() = default;
  // Loads and compiles; throws (with the file named) if the model cannot be served.
  void add_model(const std::string& name, const std::string& path, const ServeOptions& options);
  // Never throws: errors become 4xx/5xx replies with {"error": ...}.
  Reply handle(const Request& request);
  // Readiness goes false while shutting down (new requests still get answers).
  void set_ready(bool ready) { ready_ = ready; }
  size_t num_models() const { return models_.size(); }
  bool ready() const { return ready_; }
  // The model served under `name` (version "" or "1"); HttpError 404 otherwise.
  ServedModel& find_model(const std::string& name, const std::string& version);
  const std::vector<std::unique_ptr<ServedModel>>& models() const { return models_; }
  // The web page served at "/" (embedded at build time).
  static const std::string& index_html();

 private:
  Reply route(const Request& r);
  Reply model_metadata(ServedModel& m) const;
  Reply infer(ServedModel& m, const Request& r);
  Reply predict(ServedModel& m, const Request& r);
  Reply repository_index() const;

  std::vector<std::unique_ptr<ServedModel>> models_;
  std::atomic<bool> ready_{true};
  size_t max_image_pixels_ = 64u << 20;
};

// Checks shared by the REST and gRPC front ends (HttpError 400 naming the problem):
// A zero-filled input tensor for `name` with the request's datatype and shape, checked against
// the model's port; `given` holds the inputs read so far (a name given twice is an error).
Tensor new_input(const ServedModel& m, const std::string& name, const std::string& datatype,
                 const Shape& shape, const std::vector<std::pair<std::string, Tensor>>& given);
void check_inputs_complete(const ServedModel& m,
                           const std::vector<std::pair<std::string, Tensor>>& given);
size_t output_index(const ServedModel& m, const std::string& name);

// Helpers, public for the tests.
std::string base64_encode(const std::string& bytes);
// JSON text of a tensor's elements, flattened row-major ([1,2.5,...]; NaN and infinities, which
// JSON cannot hold, as null).
std::string tensor_json_data(const Tensor& t);

}  // namespace visionrt::serve
