#include "serve/kserve.hpp"

#include <fmt/core.h>

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <optional>
#include <thread>

#include "common/strings.hpp"
#include "data/image_io.hpp"
#include "geometry/rle.hpp"

namespace visionrt::serve {

using json = nlohmann::json;

namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

const char* kVersion = "0.1.0";

Reply json_reply(int status, const json& j) {
  Reply r;
  r.status = status;
  // Messages quote what the client sent (a path, a header, the bytes where JSON parsing
  // stopped), which need not be UTF-8: such bytes become U+FFFD instead of dump() throwing
  // type_error 316 (from handle()'s catch clauses: out of handle(), a 500 from cpp-httplib).
  r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

Reply error_reply(int status, const std::string& message) {
  return json_reply(status, json{{"error", message}});
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) parts.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return parts;
}

json shape_json(const PortInfo& p) {
  json s = json::array();
  if (p.has_rank)
    for (int64_t d : p.shape) s.push_back(d < 0 ? -1 : d);
  return s;
}

json port_json(const PortInfo& p) {
  return json{{"name", p.name}, {"datatype", kserve_datatype(p.dtype)}, {"shape", shape_json(p)}};
}

template <typename T>
void format_elements(const Tensor& t, std::string* out) {
  const T* p = static_cast<const T*>(t.raw());
  for (size_t i = 0; i < t.numel(); ++i) {
    if (i) out->push_back(',');
    if constexpr (std::is_same_v<T, bool>) {
      out->append(p[i] ? "true" : "false");
    } else if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      if (std::isfinite(p[i]))
        out->append(fmt::format("{}", p[i]));
      else
        out->append("null");
    } else if constexpr (std::is_same_v<T, f16> || std::is_same_v<T, bf16>) {
      const float v = static_cast<float>(p[i]);
      if (std::isfinite(v))
        out->append(fmt::format("{}", v));
      else
        out->append("null");
    } else {
      out->append(fmt::format("{}", p[i]));
    }
  }
}

// Parses a non-negative decimal integer header/parameter strictly.
std::optional<uint64_t> parse_u64(const std::string& s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

// A client's JSON value in an error message, at most 40 characters and never dumped deeper than
// one level: dump() recurses as deep as the value nests, and "shape": [[[[... (or an element
// {"a":{"a":... in "data") in a body of a few hundred KB overflowed the stack (the server died).
std::string shown(const json& v) {
  if (v.is_structured())
    for (const json& e : v)
      if (e.is_structured()) return v.is_array() ? "[[...]]" : "{...}";
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 40) s = s.substr(0, 40) + "...";
  return s;
}

// Flattens nested JSON arrays (row-major) into `t`, checking every element's type and range.
class Filler {
 public:
  Filler(Tensor* t, const std::string& input) : t_(t), input_(input) {}

  void fill(const json& data) {
    walk(data, 0);
    if (n_ != t_->numel())
      throw HttpError(400, str_cat("input '", input_, "': data has ", n_,
                                   " elements, its shape holds ", t_->numel()));
  }

 private:
  void walk(const json& v, int depth) {
    if (v.is_array()) {
      if (depth > 64) throw HttpError(400, str_cat("input '", input_, "': data nests too deep"));
      for (const json& e : v) walk(e, depth + 1);
      return;
    }
    if (n_ >= t_->numel())
      throw HttpError(400, str_cat("input '", input_, "': data has more elements than its shape (",
                                   shape_str(t_->shape()), ") holds"));
    put(v);
    ++n_;
  }

  [[noreturn]] void bad(const json& v, const char* want) const {
    throw HttpError(400, str_cat("input '", input_, "': element ", n_, " is ", shown(v), ", ", want,
                                 " expected for ", kserve_datatype(t_->dtype())));
  }

  template <typename T>
  void put_int(const json& v) {
    T* p = static_cast<T*>(t_->raw());
    if (v.is_number_integer()) {
      if (v.is_number_unsigned()) {
        const uint64_t u = v.get<uint64_t>();
        if (u > static_cast<uint64_t>(std::numeric_limits<T>::max())) bad(v, "a value in range");
        p[n_] = static_cast<T>(u);
      } else {
        const int64_t s = v.get<int64_t>();
        if (s < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
            (s > 0 &&
             static_cast<uint64_t>(s) > static_cast<uint64_t>(std::numeric_limits<T>::max())))
          bad(v, "a value in range");
        p[n_] = static_cast<T>(s);
      }
      return;
    }
    bad(v, "an integer");
  }

  template <typename T>
  void put_float(const json& v) {
    if (!v.is_number()) bad(v, "a number");
    static_cast<T*>(t_->raw())[n_] = T(static_cast<float>(v.get<double>()));
  }

  void put(const json& v) {
    switch (t_->dtype()) {
      case DType::f32:
        if (!v.is_number()) bad(v, "a number");
        t_->data<float>()[n_] = static_cast<float>(v.get<double>());
        return;
      case DType::f64:
        if (!v.is_number()) bad(v, "a number");
        t_->data<double>()[n_] = v.get<double>();
        return;
      case DType::f16:
        return put_float<f16>(v);
      case DType::bf16:
        return put_float<bf16>(v);
      case DType::i8:
        return put_int<int8_t>(v);
      case DType::u8:
        return put_int<uint8_t>(v);
      case DType::i16:
        return put_int<int16_t>(v);
      case DType::u16:
        return put_int<uint16_t>(v);
      case DType::i32:
        return put_int<int32_t>(v);
      case DType::u32:
        return put_int<uint32_t>(v);
      case DType::i64:
        return put_int<int64_t>(v);
      case DType::u64:
        return put_int<uint64_t>(v);
      case DType::boolean:
        if (!v.is_boolean()) bad(v, "true or false");
        t_->data<bool>()[n_] = v.get<bool>();
        return;
      case DType::undefined:
        break;
    }
    bad(v, "a supported datatype");
  }

  Tensor* t_;
  const std::string& input_;
  size_t n_ = 0;
};

// A JSON object's member of a given kind, or a 400 naming it.
const json* member(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

double query_number(const Request& r, const char* key, double def, double lo, double hi) {
  auto it = r.query.find(key);
  if (it == r.query.end() || it->second.empty()) return def;
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  if (end != it->second.c_str() + it->second.size() || !std::isfinite(v) || v < lo || v > hi)
    throw HttpError(400, str_cat("query parameter ", key, "='", it->second,
                                 "' must be a number in ", lo, "..", hi));
  return v;
}

bool query_flag(const Request& r, const char* key) {
  auto it = r.query.find(key);
  if (it == r.query.end()) return false;
  const std::string& v = it->second;
  if (v.empty() || v == "1" || v == "true" || v == "yes") return true;
  if (v == "0" || v == "false" || v == "no") return false;
  throw HttpError(400, str_cat("query parameter ", key, "='", v, "' must be 0/1 or true/false"));
}

}  // namespace

const char* kserve_datatype(DType t) {
  switch (t) {
    case DType::boolean:
      return "BOOL";
    case DType::u8:
      return "UINT8";
    case DType::u16:
      return "UINT16";
    case DType::u32:
      return "UINT32";
    case DType::u64:
      return "UINT64";
    case DType::i8:
      return "INT8";
    case DType::i16:
      return "INT16";
    case DType::i32:
      return "INT32";
    case DType::i64:
      return "INT64";
    case DType::f16:
      return "FP16";
    case DType::bf16:
      return "BF16";
    case DType::f32:
      return "FP32";
    case DType::f64:
      return "FP64";
    case DType::undefined:
      break;
  }
  return "UNKNOWN";
}

DType dtype_from_kserve(const std::string& name) {
  static const std::pair<const char*, DType> table[] = {
      {"BOOL", DType::boolean}, {"UINT8", DType::u8},   {"UINT16", DType::u16},
      {"UINT32", DType::u32},   {"UINT64", DType::u64}, {"INT8", DType::i8},
      {"INT16", DType::i16},    {"INT32", DType::i32},  {"INT64", DType::i64},
      {"FP16", DType::f16},     {"BF16", DType::bf16},  {"FP32", DType::f32},
      {"FP64", DType::f64}};
  for (const auto& [n, t] : table)
    if (name == n) return t;
  return DType::undefined;
}

std::string base64_encode(const std::string& in) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v =
        (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
    out += {tbl[v >> 18], tbl[(v >> 12) & 63], tbl[(v >> 6) & 63], tbl[v & 63]};
  }
  if (i + 1 == in.size()) {
    const uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    out += {tbl[v >> 18], tbl[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8);
    out += {tbl[v >> 18], tbl[(v >> 12) & 63], tbl[(v >> 6) & 63], '='};
  }
  return out;
}

std::string tensor_json_data(const Tensor& t) {
  std::string s = "[";
  switch (t.dtype()) {
    case DType::f32:
      format_elements<float>(t, &s);
      break;
    case DType::f64:
      format_elements<double>(t, &s);
      break;
    case DType::f16:
      format_elements<f16>(t, &s);
      break;
    case DType::bf16:
      format_elements<bf16>(t, &s);
      break;
    case DType::i8:
      format_elements<int8_t>(t, &s);
      break;
    case DType::u8:
      format_elements<uint8_t>(t, &s);
      break;
    case DType::i16:
      format_elements<int16_t>(t, &s);
      break;
    case DType::u16:
      format_elements<uint16_t>(t, &s);
      break;
    case DType::i32:
      format_elements<int32_t>(t, &s);
      break;
    case DType::u32:
      format_elements<uint32_t>(t, &s);
      break;
    case DType::i64:
      format_elements<int64_t>(t, &s);
      break;
    case DType::u64:
      format_elements<uint64_t>(t, &s);
      break;
    case DType::boolean:
      format_elements<bool>(t, &s);
      break;
    case DType::undefined:
      break;
  }
  s += "]";
  return s;
}

Tensor new_input(const ServedModel& m, const std::string& name, const std::string& datatype,
                 const Shape& shape, const std::vector<std::pair<std::string, Tensor>>& given) {
  const auto& ports = m.compiled().inputs();
  auto port =
      std::find_if(ports.begin(), ports.end(), [&](const PortInfo& p) { return p.name == name; });
  if (port == ports.end()) {
    std::string known;
    for (const auto& p : ports) known += (known.empty() ? "" : ", ") + p.name;
    throw HttpError(
        400, str_cat("model '", m.name(), "' has no input '", name, "' (inputs: ", known, ")"));
  }
  for (const auto& g : given)
    if (g.first == name) throw HttpError(400, str_cat("input '", name, "' is given twice"));
  const DType dt = dtype_from_kserve(datatype);
  if (dt == DType::undefined)
    throw HttpError(400, str_cat("input '", name, "': datatype '", datatype, "' is not supported",
                                 datatype == "BYTES" ? " (the model takes numeric tensors)" : ""));
  if (dt != port->dtype)
    throw HttpError(400, str_cat("input '", name, "' has datatype ", datatype, ", the model takes ",
                                 kserve_datatype(port->dtype)));
  for (int64_t d : shape)
    if (d < 0 || d > (int64_t(1) << 40))
      throw HttpError(400, str_cat("input '", name, "': shape ", shape_str(shape),
                                   " must hold non-negative integers"));
  if (port->has_rank) {
    bool ok = shape.size() == port->shape.size();
    for (size_t i = 0; ok && i < shape.size(); ++i)
      ok = port->shape[i] < 0 || port->shape[i] == shape[i];
    if (!ok)
      throw HttpError(400, str_cat("input '", name, "': shape ", shape_str(shape),
                                   " does not fit the model's ", shape_str(port->shape)));
  }
  const size_t numel = shape_numel(shape);
  check_allocation(numel * dtype_size(dt), str_cat("input '", name, "'"));
  return Tensor(dt, shape);
}

void check_inputs_complete(const ServedModel& m,
                           const std::vector<std::pair<std::string, Tensor>>& given) {
  for (const PortInfo& p : m.compiled().inputs())
    if (std::none_of(given.begin(), given.end(), [&](const auto& g) { return g.first == p.name; }))
      throw HttpError(400, str_cat("input '", p.name, "' is missing"));
}

size_t output_index(const ServedModel& m, const std::string& name) {
  const auto& ports = m.compiled().outputs();
  for (size_t i = 0; i < ports.size(); ++i)
    if (ports[i].name == name) return i;
  throw HttpError(400, str_cat("model '", m.name(), "' has no output '", name, "'"));
}

// ---------------------------------------------------------------------------------------------
// ServedModel

struct ServedModel::Impl {
  std::string name, path;
  ServeOptions opt;
  Core core;
  CompiledModel cm;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<InferRequest> free_requests;
  size_t num_requests = 0;
  // Task endpoint.
  std::string task, family, task_reason;
  std::vector<std::string> names;
  PredictOptions popt;
  std::vector<std::unique_ptr<Predictor>> free_predictors;
  size_t predictors_made = 0, max_predictors = 1;

  InferRequest take_request() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return !free_requests.empty(); });
    InferRequest r = std::move(free_requests.back());
    free_requests.pop_back();
    return r;
  }
  void give_request(InferRequest r) {
    {
      std::lock_guard<std::mutex> lock(mu);
      free_requests.push_back(std::move(r));
    }
    cv.notify_one();
  }
  std::unique_ptr<Predictor> take_predictor() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return !free_predictors.empty() || predictors_made < max_predictors; });
    if (!free_predictors.empty()) {
      auto p = std::move(free_predictors.back());
      free_predictors.pop_back();
      return p;
    }
    ++predictors_made;
    lock.unlock();
    try {
      return std::make_unique<Predictor>(path, popt);
    } catch (...) {
      lock.lock();
      --predictors_made;
      lock.unlock();
      cv.notify_all();
      throw;
    }
  }
  void give_predictor(std::unique_ptr<Predictor> p) {
    {
      std::lock_guard<std::mutex> lock(mu);
      free_predictors.push_back(std::move(p));
    }
    cv.notify_all();
  }
};

ServedModel::ServedModel(const std::string& name, const std::string& path,
                         const ServeOptions& options)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.name = name;
  m.path = path;
  m.opt = options;
  Config config{{"PERFORMANCE_HINT", options.hint},
                {"INFERENCE_NUM_THREADS", std::to_string(options.threads)}};
  if (!options.precision.empty()) config["INFERENCE_PRECISION"] = options.precision;
  m.cm = m.core.compile_model(path, config);
  m.num_requests = static_cast<size_t>(
      std::max(1, std::stoi(m.cm.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))));
  for (size_t i = 0; i < m.num_requests; ++i)
    m.free_requests.push_back(m.cm.create_infer_request());

  const int streams = std::max(1, std::stoi(m.cm.get_property("NUM_STREAMS")));
  const int total_threads =
      options.threads > 0 ? options.threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  m.max_predictors = static_cast<size_t>(options.task_workers > 0 ? options.task_workers : streams);
  m.popt.threads = std::max(1, total_threads / static_cast<int>(m.max_predictors));
  m.popt.precision = options.precision;
  try {
    Predictor probe = Predictor::inspect(path, m.popt);
    m.task = task_name(probe.task());
    m.family = probe.family();
    m.names = probe.names();
  } catch (const Error& e) {
    if (options.require_task) throw;
    m.task_reason = e.what();
  }
  if (!m.task.empty()) {  // compile the first predictor now: ready means ready
    m.free_predictors.push_back(std::make_unique<Predictor>(path, m.popt));
    m.predictors_made = 1;
  }
}

ServedModel::~ServedModel() = default;
const std::string& ServedModel::name() const { return impl_->name; }
const std::string& ServedModel::path() const { return impl_->path; }
const CompiledModel& ServedModel::compiled() const { return impl_->cm; }
std::string ServedModel::task() const { return impl_->task; }
std::string ServedModel::family() const { return impl_->family; }
const std::string& ServedModel::task_reason() const { return impl_->task_reason; }
const std::vector<std::string>& ServedModel::names() const { return impl_->names; }
size_t ServedModel::num_requests() const { return impl_->num_requests; }

std::vector<Tensor> ServedModel::infer(const std::vector<std::pair<std::string, Tensor>>& inputs) {
  Impl& m = *impl_;
  InferRequest req = m.take_request();
  std::vector<Tensor> outs;
  try {
    for (const auto& [name, t] : inputs) req.set_tensor(name, t);
    req.infer();
    for (size_t i = 0; i < m.cm.outputs().size(); ++i)
      outs.push_back(req.get_output_tensor(i).clone());
  } catch (...) {
    m.give_request(std::move(req));
    throw;
  }
  m.give_request(std::move(req));
  return outs;
}

Prediction ServedModel::predict(const cv::Mat& bgr, const PredictOptions& call) {
  Impl& m = *impl_;
  if (m.task.empty())
    throw HttpError(400, str_cat("model '", m.name, "' has no task endpoint (", m.task_reason,
                                 "); use /v2/models/", m.name, "/infer"));
  std::unique_ptr<Predictor> p = m.take_predictor();
  try {
    Prediction out = p->predict(bgr, call);
    m.give_predictor(std::move(p));
    return out;
  } catch (...) {
    m.give_predictor(std::move(p));
    throw;
  }
}

// ---------------------------------------------------------------------------------------------
// KServeHandler

void KServeHandler::add_model(const std::string& name, const std::string& path,
                              const ServeOptions& options) {
  if (name.empty() || name.find('/') != std::string::npos)
    throw InputError(str_cat("model name '", name, "' must be non-empty and without '/'"));
  for (const auto& m : models_)
    if (m->name() == name)
      throw InputError(str_cat("two models are named '", name, "' (", m->path(), ", ", path, ")"));
  // OpenCV refuses to decode larger images before allocating them (read once, at first use).
  max_image_pixels_ = options.max_image_pixels;
  setenv("OPENCV_IO_MAX_IMAGE_PIXELS", std::to_string(max_image_pixels_).c_str(), 0);
  models_.push_back(std::make_unique<ServedModel>(name, path, options));
}

ServedModel& KServeHandler::find_model(const std::string& name, const std::string& version) {
  for (auto& m : models_)
    if (m->name() == name) {
      if (!version.empty() && version != "1")
        throw HttpError(404,
                        str_cat("model '", name, "' has no version '", version, "' (versions: 1)"));
      return *m;
    }
  std::string known;
  for (const auto& m : models_) known += (known.empty() ? "" : ", ") + m->name();
  throw HttpError(404, str_cat("unknown model '", name, "' (served: ", known, ")"));
}

Reply KServeHandler::handle(const Request& request) {
  try {
    return route(request);
  } catch (const HttpError& e) {
    return error_reply(e.status(), e.what());
  } catch (const InputError& e) {
    return error_reply(400, e.what());
  } catch (const json::exception& e) {
    return error_reply(400, str_cat("bad JSON: ", e.what()));
  } catch (const std::bad_alloc&) {
    return error_reply(507, "out of memory for this request");
  } catch (const std::exception& e) {
    return error_reply(500, e.what());
  }
}

Reply KServeHandler::route(const Request& r) {
  const std::vector<std::string> p = split_path(r.path);
  const bool get = r.method == "GET" || r.method == "HEAD";
  const bool post = r.method == "POST";
  auto wrong_method = [&]() -> Reply {
    return error_reply(405, str_cat(r.method, " is not allowed on ", r.path));
  };
  if (p.empty() || (p.size() == 1 && p[0] == "index.html")) {
    if (!get) return wrong_method();
    Reply html;
    html.content_type = "text/html; charset=utf-8";
    html.body = index_html();
    return html;
  }
  if (p[0] != "v2") return error_reply(404, str_cat("no such endpoint: ", r.path));
  if (p.size() == 1) {
    if (!get) return wrong_method();
    return json_reply(200, json{{"name", "visionrt"},
                                {"version", kVersion},
                                {"extensions", {"binary_tensor_data", "model_repository"}}});
  }
  if (p[1] == "health" && p.size() == 3 && (p[2] == "live" || p[2] == "ready")) {
    if (!get) return wrong_method();
    const bool ok = p[2] == "live" || ready_.load();
    return json_reply(ok ? 200 : 503, json{{p[2], ok}});
  }
  if (p[1] == "repository" && p.size() == 3 && p[2] == "index") {
    if (!post && !get) return wrong_method();
    return repository_index();
  }
  if (p[1] == "models" && p.size() >= 3) {
    // /v2/models/{m}[/versions/{v}][/ready|/infer|/predict]
    std::string version;
    size_t k = 3;
    if (p.size() >= 5 && p[3] == "versions") {
      version = p[4];
      k = 5;
    }
    if (p.size() > k + 1) return error_reply(404, str_cat("no such endpoint: ", r.path));
    ServedModel& m = find_model(p[2], version);
    const std::string what = p.size() == k + 1 ? p[k] : "";
    if (what.empty()) {
      if (!get) return wrong_method();
      return model_metadata(m);
    }
    if (what == "ready") {
      if (!get) return wrong_method();
      return json_reply(200, json{{"name", m.name()}, {"ready", true}});
    }
    if (what == "infer") {
      if (!post) return wrong_method();
      return infer(m, r);
    }
    if (what == "predict") {
      if (!post) return wrong_method();
      return predict(m, r);
    }
  }
  return error_reply(404, str_cat("no such endpoint: ", r.path));
}

Reply KServeHandler::model_metadata(ServedModel& m) const {
  json ins = json::array(), outs = json::array();
  for (const PortInfo& p : m.compiled().inputs()) ins.push_back(port_json(p));
  for (const PortInfo& p : m.compiled().outputs()) outs.push_back(port_json(p));
  return json_reply(200, json{{"name", m.name()},
                              {"versions", {"1"}},
                              {"platform", "onnx"},
                              {"inputs", ins},
                              {"outputs", outs}});
}

Reply KServeHandler::repository_index() const {
  json a = json::array();
  for (const auto& m : models_) {
    json e{{"name", m->name()}, {"version", "1"}, {"state", "READY"}, {"reason", ""}};
    e["task"] = m->task().empty() ? json() : json(m->task());
    e["family"] = m->family().empty() ? json() : json(m->family());
    a.push_back(std::move(e));
  }
  return json_reply(200, a);
}

Reply KServeHandler::infer(ServedModel& m, const Request& r) {
  const auto t0 = clock_type::now();
  // The binary tensor extension: the JSON header first, binary tensors after it.
  size_t json_len = r.body.size();
  if (auto h = r.headers.find("inference-header-content-length"); h != r.headers.end()) {
    auto v = parse_u64(h->second);
    if (!v || *v > r.body.size())
      throw HttpError(400,
                      str_cat("Inference-Header-Content-Length '", h->second,
                              "' is not a length within the body's ", r.body.size(), " bytes"));
    json_len = static_cast<size_t>(*v);
  }
  json j;
  try {
    j = json::parse(r.body.begin(), r.body.begin() + static_cast<std::ptrdiff_t>(json_len));
  } catch (const json::parse_error& e) {
    throw HttpError(400, str_cat("malformed JSON in the inference request: ", e.what()));
  }
  if (!j.is_object()) throw HttpError(400, "the inference request must be a JSON object");
  const json* jin = member(j, "inputs");
  if (!jin || !jin->is_array() || jin->empty())
    throw HttpError(400, "the inference request needs a non-empty \"inputs\" array");

  std::vector<std::pair<std::string, Tensor>> inputs;
  size_t binary_at = json_len;
  for (const json& ji : *jin) {
    if (!ji.is_object()) throw HttpError(400, "every element of \"inputs\" must be an object");
    const json* jn = member(ji, "name");
    if (!jn || !jn->is_string()) throw HttpError(400, "an input has no \"name\" string");
    const std::string name = jn->get<std::string>();
    const json* jd = member(ji, "datatype");
    if (!jd || !jd->is_string())
      throw HttpError(400, str_cat("input '", name, "' has no \"datatype\" string"));
    const std::string dt_name = jd->get<std::string>();
    const json* js = member(ji, "shape");
    if (!js || !js->is_array())
      throw HttpError(400, str_cat("input '", name, "' has no \"shape\" array"));
    Shape shape;
    for (const json& d : *js) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0)
        throw HttpError(400, str_cat("input '", name, "': shape ", shown(*js),
                                     " must hold non-negative integers"));
      shape.push_back(d.get<int64_t>());
    }
    Tensor t = new_input(m, name, dt_name, shape, inputs);
    const json* jp = member(ji, "parameters");
    const json* jsize = jp && jp->is_object() ? member(*jp, "binary_data_size") : nullptr;
    if (jsize) {
      if (!jsize->is_number_unsigned())
        throw HttpError(400, str_cat("input '", name, "': binary_data_size must be a count"));
      const uint64_t n = jsize->get<uint64_t>();
      if (n != t.nbytes())
        throw HttpError(400, str_cat("input '", name, "': binary_data_size ", n, " but ", dt_name,
                                     shape_str(shape), " needs ", t.nbytes(), " bytes"));
      if (n > r.body.size() - binary_at)
        throw HttpError(400, str_cat("input '", name, "': the binary data is truncated (",
                                     r.body.size() - binary_at, " bytes left, ", n, " needed)"));
      if (n) std::memcpy(t.raw(), r.body.data() + binary_at, n);
      binary_at += n;
    } else {
      const json* data = member(ji, "data");
      if (!data)
        throw HttpError(400, str_cat("input '", name,
                                     "' has neither \"data\" nor a binary_data_size parameter"));
      Filler(&t, name).fill(*data);
    }
    inputs.emplace_back(name, std::move(t));
  }
  if (binary_at != r.body.size())
    throw HttpError(400, str_cat(r.body.size() - binary_at,
                                 " bytes of binary data follow the inputs that no input claims"));
  check_inputs_complete(m, inputs);

  // Which outputs, and which of them binary.
  bool binary_default = false;
  if (const json* jp = member(j, "parameters"); jp && jp->is_object())
    if (const json* b = member(*jp, "binary_data_output"); b && b->is_boolean())
      binary_default = b->get<bool>();
  const auto& oports = m.compiled().outputs();
  std::vector<std::pair<size_t, bool>> wanted;  // output index, binary
  if (const json* jo = member(j, "outputs"); jo && !jo->is_null()) {
    if (!jo->is_array()) throw HttpError(400, "\"outputs\" must be an array");
    for (const json& o : *jo) {
      const json* on = o.is_object() ? member(o, "name") : nullptr;
      if (!on || !on->is_string()) throw HttpError(400, "every requested output needs a \"name\"");
      const std::string name = on->get<std::string>();
      const size_t index = output_index(m, name);
      bool bin = binary_default;
      if (const json* op = member(o, "parameters"); op && op->is_object())
        if (const json* b = member(*op, "binary_data"); b && b->is_boolean()) bin = b->get<bool>();
      wanted.emplace_back(index, bin);
    }
  } else {
    for (size_t i = 0; i < oports.size(); ++i) wanted.emplace_back(i, binary_default);
  }

  std::vector<Tensor> outs = m.infer(inputs);

  // The response, written by hand around the data arrays (a float prints in its shortest form).
  std::string head = str_cat("{\"model_name\":", json(m.name()).dump(), ",\"model_version\":\"1\"");
  if (const json* id = member(j, "id"); id && id->is_string())
    head += str_cat(",\"id\":", id->dump());
  head += ",\"outputs\":[";
  std::string binary;
  for (size_t k = 0; k < wanted.size(); ++k) {
    const Tensor& t = outs[wanted[k].first];
    json shape = json::array();
    for (int64_t d : t.shape()) shape.push_back(d);
    head += str_cat(k ? "," : "", "{\"name\":", json(oports[wanted[k].first].name).dump(),
                    ",\"datatype\":\"", kserve_datatype(t.dtype()), "\",\"shape\":", shape.dump());
    if (wanted[k].second) {
      head += str_cat(",\"parameters\":{\"binary_data_size\":", t.nbytes(), "}}");
      binary.append(static_cast<const char*>(t.raw()), t.nbytes());
    } else {
      head += ",\"data\":" + tensor_json_data(t) + "}";
    }
  }
  head += str_cat("],\"parameters\":{\"visionrt_ms\":", fmt::format("{:.3f}", ms_since(t0)), "}}");
  Reply reply;
  if (std::any_of(wanted.begin(), wanted.end(), [](const auto& w) { return w.second; })) {
    reply.content_type = "application/octet-stream";
    reply.headers["Inference-Header-Content-Length"] = std::to_string(head.size());
    reply.body = std::move(head) + binary;
  } else {
    reply.body = std::move(head);
  }
  return reply;
}

Reply KServeHandler::predict(ServedModel& m, const Request& r) {
  const auto t0 = clock_type::now();
  if (m.task().empty())
    throw HttpError(400, str_cat("model '", m.name(), "' has no task endpoint (", m.task_reason(),
                                 "); use /v2/models/", m.name(), "/infer"));
  PredictOptions call;
  call.conf = static_cast<float>(query_number(r, "conf", 0.25, 0, 1));
  call.iou = static_cast<float>(query_number(r, "iou", 0.7, 0, 1));
  call.max_det = static_cast<int>(query_number(r, "max_det", 300, 1, 100000));
  call.agnostic_nms = query_flag(r, "agnostic");
  call.retina_masks = query_flag(r, "retina_masks");
  if (auto it = r.query.find("classes"); it != r.query.end() && !it->second.empty()) {
    size_t i = 0;
    const std::string& s = it->second;
    while (i <= s.size()) {
      size_t j = s.find(',', i);
      if (j == std::string::npos) j = s.size();
      auto v = parse_u64(s.substr(i, j - i));
      if (!v || *v > 100000)
        throw HttpError(400, str_cat("query parameter classes='", s,
                                     "' must be class ids separated by commas"));
      call.classes.push_back(static_cast<int>(*v));
      i = j + 1;
    }
  }
  const bool draw = query_flag(r, "draw");
  const double alpha = query_number(r, "alpha", 0.5, 0, 1);
  if (r.body.empty())
    throw HttpError(400, "the request body must be an encoded image (JPEG, PNG, ...)");

  // Only the formats the message names reach OpenCV (data/image_io.hpp): a request must never
  // stop the server.
  cv::Mat img = decode_image(r.body.data(), r.body.size());
  if (img.empty())
    throw HttpError(400, str_cat("cannot decode the image (", r.body.size(),
                                 " bytes; JPEG, PNG, BMP, TIFF, WebP or PNM expected, at most ",
                                 max_image_pixels_, " pixels)"));
  if (img.total() > max_image_pixels_)
    throw HttpError(413, str_cat("image of ", img.cols, "x", img.rows,
                                 " pixels is larger than the ", max_image_pixels_, " allowed"));
  const double decode_ms = ms_since(t0);
  Prediction p = m.predict(img, call);

  json dets = json::array();
  const auto& names = m.names();
  for (const Detection& d : p.detections) {
    json jd{{"box", {d.x1, d.y1, d.x2, d.y2}}, {"score", d.score}, {"class_id", d.class_id}};
    jd["label"] = !d.label.empty() ? d.label
                  : (d.class_id >= 0 && static_cast<size_t>(d.class_id) < names.size())
                      ? names[static_cast<size_t>(d.class_id)]
                      : std::to_string(d.class_id);
    if (!d.mask.empty()) {
      cv::Mat full = image_mask(d, p.image_size);
      Rle rle = rle_encode(std::vector<uint8_t>(full.data, full.data + full.total()),
                           static_cast<uint32_t>(full.rows), static_cast<uint32_t>(full.cols));
      jd["mask"] = {{"size", {full.rows, full.cols}}, {"counts", rle_to_string(rle)}};
    }
    if (!d.polygon.empty()) {
      json poly = json::array();
      for (const auto& q : d.polygon) poly.push_back({q.x, q.y});
      jd["polygon"] = std::move(poly);
    }
    dets.push_back(std::move(jd));
  }
  json out{{"model_name", m.name()},
           {"task", m.task()},
           {"family", m.family()},
           {"image", {{"width", p.image_size.width}, {"height", p.image_size.height}}},
           {"detections", std::move(dets)}};
  if (p.task == Task::semantic && !p.labels.empty()) {
    std::map<int, int64_t> pixels;
    for (int y = 0; y < p.labels.rows; ++y) {
      const int32_t* l = p.labels.ptr<int32_t>(y);
      for (int x = 0; x < p.labels.cols; ++x) ++pixels[l[x]];
    }
    json classes = json::array(), counts = json::array(), labels = json::array();
    for (const auto& [c, n] : pixels) {
      classes.push_back(c);
      counts.push_back(n);
      labels.push_back(c >= 0 && static_cast<size_t>(c) < names.size()
                           ? names[static_cast<size_t>(c)]
                           : std::to_string(c));
    }
    out["labels"] = {{"size", {p.labels.rows, p.labels.cols}},
                     {"classes", classes},
                     {"names", labels},
                     {"pixels", counts}};
  }
  if (draw) {
    cv::Mat vis = img.clone();
    draw_prediction(vis, p, names, static_cast<float>(alpha));
    std::vector<uint8_t> jpg;
    cv::imencode(".jpg", vis, jpg, {cv::IMWRITE_JPEG_QUALITY, 90});
    out["overlay"] = "data:image/jpeg;base64," + base64_encode(std::string(jpg.begin(), jpg.end()));
  }
  out["timing_ms"] = {{"decode", decode_ms},
                      {"preprocess", p.preprocess_ms},
                      {"inference", p.inference_ms},
                      {"postprocess", p.postprocess_ms},
                      {"total", ms_since(t0)}};
  return json_reply(200, out);
}

}  // namespace visionrt::serve
