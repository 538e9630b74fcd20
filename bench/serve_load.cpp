// A bounded load generator for `visionrt serve` (or any KServe v2 REST server): reads the model's
// metadata, builds one seeded-random input per input port, then sends --requests requests over
// --clients threads, each with its own keep-alive connection (TCP_NODELAY, as curl's and the
// Triton clients'), and prints the count, errors, wall time, throughput (successful requests over
// the wall time) and the successful requests' latency percentiles (sorted[floor(p * n)], as
// common/latency_stats.hpp). JSON inputs are formatted as the server formats outputs
// (serve::tensor_json_data: a float in its shortest exact form), so both modes send equal values.
//
// Modes: json (tensors as JSON arrays), binary (the binary tensor extension both ways:
// Inference-Header-Content-Length, binary_data_size, binary_data_output) and predict (an encoded
// image to /predict). One warm-up request, not counted, comes first; with --check its outputs are
// the reference every later reply must equal exactly (JSON outputs compared after parsing, binary
// outputs byte for byte; /predict: everything but timing_ms).
// An error is a transport failure, a status other than 200, or (--check) different outputs.
// Exit code: 0 without errors, 1 with any, 2 for bad usage or an unusable model.
//
// Usage: serve_load --url http://127.0.0.1:PORT --model NAME [--requests 2000] [--clients 16]
//                   [--mode json|binary|predict] [--image IMG] [--seed 1] [--shape NAME=1x3x64x64]
//                   [--json OUT.json] [--check]
#include <fmt/core.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "serve/kserve.hpp"
#include "visionrt/tensor.hpp"

namespace {

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;
using visionrt::DType;
using visionrt::Tensor;

struct Options {
  std::string url, model, mode = "binary", image, json_out;
  int requests = 2000, clients = 16;
  uint32_t seed = 1;
  bool check = false;
  std::map<std::string, visionrt::Shape> shapes;  // --shape overrides
};

const char* kUsage =
    "usage: serve_load --url http://HOST:PORT --model NAME [--requests N] [--clients C]\n"
    "                  [--mode json|binary|predict] [--image IMG] [--seed S]\n"
    "                  [--shape NAME=1x3x640x640]... [--json OUT.json] [--check]\n";

[[noreturn]] void usage_error(const std::string& msg) {
  fmt::print(stderr, "serve_load: {}\n{}", msg, kUsage);
  std::exit(2);
}

[[noreturn]] void fatal(const std::string& msg) {
  fmt::print(stderr, "serve_load: {}\n", msg);
  std::exit(2);
}

int positive_int(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  const long n = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || n < 1 || n > 100000000)
    usage_error(fmt::format("{} takes a positive integer, not '{}'", flag, v));
  return static_cast<int>(n);
}

visionrt::Shape parse_dims(const std::string& s) {
  visionrt::Shape shape;
  std::stringstream in(s);
  std::string d;
  while (std::getline(in, d, 'x')) {
    char* end = nullptr;
    const long long v = std::strtoll(d.c_str(), &end, 10);
    if (d.empty() || *end != '\0' || v < 0) usage_error(fmt::format("bad --shape dims '{}'", s));
    shape.push_back(v);
  }
  if (shape.empty()) usage_error(fmt::format("bad --shape dims '{}'", s));
  return shape;
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--url")
      o.url = value();
    else if (a == "--model")
      o.model = value();
    else if (a == "--requests")
      o.requests = positive_int(a, value());
    else if (a == "--clients")
      o.clients = positive_int(a, value());
    else if (a == "--mode")
      o.mode = value();
    else if (a == "--image")
      o.image = value();
    else if (a == "--seed")
      o.seed = static_cast<uint32_t>(positive_int(a, value()));
    else if (a == "--json")
      o.json_out = value();
    else if (a == "--check")
      o.check = true;
    else if (a == "--shape") {
      const std::string v = value();
      const auto eq = v.find('=');
      if (eq == std::string::npos || eq == 0) usage_error("--shape takes NAME=DxDx...");
      o.shapes[v.substr(0, eq)] = parse_dims(v.substr(eq + 1));
    } else if (a == "-h" || a == "--help") {
      fmt::print("{}", kUsage);
      std::exit(0);
    } else
      usage_error(fmt::format("unknown argument '{}'", a));
  }
  if (o.url.empty() || o.model.empty()) usage_error("--url and --model are required");
  if (o.mode != "json" && o.mode != "binary" && o.mode != "predict")
    usage_error(fmt::format("--mode is json, binary or predict, not '{}'", o.mode));
  if (o.mode == "predict" && o.image.empty()) usage_error("--mode predict needs --image IMG");
  return o;
}

std::unique_ptr<httplib::Client> make_client(const std::string& url) {
  auto c = std::make_unique<httplib::Client>(url);
  if (!c->is_valid()) usage_error(fmt::format("cannot use the URL '{}'", url));
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true);  // as curl, requests and the Triton clients do
  c->set_connection_timeout(60, 0);
  c->set_read_timeout(60, 0);
  c->set_write_timeout(60, 0);
  return c;
}

// Seeded values in a range that any model takes: [0, 1) for floats, 0..9 for integers.
void fill_random(Tensor* t, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::uniform_int_distribution<int> k(0, 9);
  for (size_t i = 0; i < t->numel(); ++i) switch (t->dtype()) {
      case DType::f32:
        t->data<float>()[i] = u(gen);
        break;
      case DType::f64:
        t->data<double>()[i] = u(gen);
        break;
      case DType::f16:
        static_cast<visionrt::f16*>(t->raw())[i] = visionrt::f16(u(gen));
        break;
      case DType::bf16:
        static_cast<visionrt::bf16*>(t->raw())[i] = visionrt::bf16(u(gen));
        break;
      case DType::boolean:
        static_cast<bool*>(t->raw())[i] = k(gen) & 1;
        break;
      case DType::i8:
        static_cast<int8_t*>(t->raw())[i] = static_cast<int8_t>(k(gen));
        break;
      case DType::u8:
        static_cast<uint8_t*>(t->raw())[i] = static_cast<uint8_t>(k(gen));
        break;
      case DType::i16:
        static_cast<int16_t*>(t->raw())[i] = static_cast<int16_t>(k(gen));
        break;
      case DType::u16:
        static_cast<uint16_t*>(t->raw())[i] = static_cast<uint16_t>(k(gen));
        break;
      case DType::i32:
        static_cast<int32_t*>(t->raw())[i] = k(gen);
        break;
      case DType::u32:
        static_cast<uint32_t*>(t->raw())[i] = static_cast<uint32_t>(k(gen));
        break;
      case DType::i64:
        static_cast<int64_t*>(t->raw())[i] = k(gen);
        break;
      case DType::u64:
        static_cast<uint64_t*>(t->raw())[i] = static_cast<uint64_t>(k(gen));
        break;
      case DType::undefined:
        break;
    }
}

struct Payload {
  std::string path, body, content_type;
  httplib::Headers headers;
};

// The request body of every request, from the model's metadata.
Payload build_payload(const Options& o, const json& meta) {
  Payload p;
  if (o.mode == "predict") {
    std::ifstream f(o.image, std::ios::binary);
    if (!f) fatal(fmt::format("{}: cannot read the image", o.image));
    p.body.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    p.path = fmt::format("/v2/models/{}/predict", o.model);
    p.content_type = "application/octet-stream";
    return p;
  }
  const bool binary = o.mode == "binary";
  // Written by hand around the data arrays (large; a float in its shortest exact form).
  std::string head = "{\"inputs\":[", blobs;
  for (const auto& [name, dims] : o.shapes)
    if (std::none_of(meta.at("inputs").begin(), meta.at("inputs").end(),
                     [&](const json& port) { return port.value("name", "") == name; }))
      fatal(fmt::format("--shape {}: the model has no input '{}'", name, name));
  uint32_t k = 0;
  for (const json& port : meta.at("inputs")) {
    const std::string name = port.at("name").get<std::string>();
    const std::string datatype = port.at("datatype").get<std::string>();
    const DType dt = visionrt::serve::dtype_from_kserve(datatype);
    if (dt == DType::undefined)
      fatal(
          fmt::format("input '{}' has datatype {}, which serve_load cannot make", name, datatype));
    visionrt::Shape shape;
    if (auto it = o.shapes.find(name); it != o.shapes.end()) {
      shape = it->second;
    } else {
      for (const json& d : port.at("shape")) shape.push_back(d.get<int64_t>());
      const bool dynamic =
          shape.empty() || std::any_of(shape.begin(), shape.end(), [](int64_t d) { return d < 0; });
      if (dynamic)
        fatal(
            fmt::format("input '{}' has the dynamic shape {}: serve a static model, or give "
                        "--shape {}=1x3x640x640",
                        name, port.at("shape").dump(), name));
    }
    Tensor t(dt, shape);
    fill_random(&t, o.seed + k);
    head += fmt::format("{}{{\"name\":{},\"datatype\":{},\"shape\":{}", k ? "," : "",
                        json(name).dump(), json(datatype).dump(), json(shape).dump());
    if (binary) {
      head += fmt::format(",\"parameters\":{{\"binary_data_size\":{}}}}}", t.nbytes());
      blobs.append(static_cast<const char*>(t.raw()), t.nbytes());
    } else {
      head += ",\"data\":" + visionrt::serve::tensor_json_data(t) + "}";
    }
    ++k;
  }
  head += binary ? "],\"parameters\":{\"binary_data_output\":true}}" : "]}";
  p.path = fmt::format("/v2/models/{}/infer", o.model);
  if (binary) {
    p.headers.emplace("Inference-Header-Content-Length", std::to_string(head.size()));
    p.body = head + blobs;
    p.content_type = "application/octet-stream";
  } else {
    p.body = std::move(head);
    p.content_type = "application/json";
  }
  return p;
}

// What --check compares: the parsed outputs (JSON), with the binary tail for binary replies.
// nullopt (and `why`) when the reply is not a well-formed answer.
std::optional<std::string> outputs_of(const Options& o, const httplib::Response& res,
                                      std::string* why) {
  size_t head_len = res.body.size();
  if (res.has_header("Inference-Header-Content-Length")) {
    const std::string v = res.get_header_value("Inference-Header-Content-Length");
    char* end = nullptr;
    const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || n > res.body.size()) {
      *why = fmt::format("bad Inference-Header-Content-Length '{}'", v);
      return std::nullopt;
    }
    head_len = static_cast<size_t>(n);
  }
  json j = json::parse(res.body.begin(), res.body.begin() + static_cast<std::ptrdiff_t>(head_len),
                       nullptr, false);
  if (!j.is_object()) {
    *why = "the reply is not a JSON object";
    return std::nullopt;
  }
  if (o.mode == "predict") {
    j.erase("timing_ms");
    return j.dump();
  }
  if (!j.contains("outputs") || !j["outputs"].is_array()) {
    *why = "the reply has no \"outputs\" array";
    return std::nullopt;
  }
  return j["outputs"].dump() + res.body.substr(head_len);
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  return sorted[std::min(sorted.size() - 1,
                         static_cast<size_t>(p * static_cast<double>(sorted.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_args(argc, argv);
  std::unique_ptr<httplib::Client> first = make_client(o.url);
  const std::string meta_path = fmt::format("/v2/models/{}", o.model);
  auto meta_res = first->Get(meta_path);
  if (!meta_res) {
    fmt::print(stderr, "serve_load: GET {}{}: {}\n", o.url, meta_path,
               httplib::to_string(meta_res.error()));
    return 2;
  }
  if (meta_res->status != 200) {
    fmt::print(stderr, "serve_load: GET {}{}: HTTP {} {}\n", o.url, meta_path, meta_res->status,
               meta_res->body);
    return 2;
  }
  json meta = json::parse(meta_res->body, nullptr, false);
  if (!meta.is_object() || !meta.contains("inputs") || !meta["inputs"].is_array()) {
    fmt::print(stderr, "serve_load: the metadata of '{}' has no \"inputs\": {}\n", o.model,
               meta_res->body.substr(0, 200));
    return 2;
  }
  Payload payload;
  try {
    payload = build_payload(o, meta);
  } catch (const std::exception& e) {  // metadata of an unexpected form, a tensor too large
    fmt::print(stderr, "serve_load: cannot build a request from the metadata of '{}': {}\n",
               o.model, e.what());
    return 2;
  }

  // Warm-up (not counted): its outputs are the reference of --check.
  auto warm = first->Post(payload.path, payload.headers, payload.body, payload.content_type);
  std::string why;
  std::optional<std::string> reference;
  if (warm && warm->status == 200) reference = outputs_of(o, *warm, &why);
  if (!warm || warm->status != 200 || !reference) {
    fmt::print(stderr, "serve_load: the warm-up request failed: {}\n",
               !warm ? httplib::to_string(warm.error())
               : warm->status != 200
                   ? fmt::format("HTTP {} {}", warm->status, warm->body.substr(0, 300))
                   : why);
    return 1;
  }

  std::atomic<int> next{0};
  std::vector<std::vector<double>> latencies(static_cast<size_t>(o.clients));
  std::vector<int> errors(static_cast<size_t>(o.clients), 0);
  std::mutex log_mu;
  std::map<std::string, int> error_kinds;  // message -> count
  auto note = [&](const std::string& what) {
    std::lock_guard<std::mutex> lock(log_mu);
    ++error_kinds[what];
  };
  const auto t0 = clock_type::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < o.clients; ++c)
    threads.emplace_back([&, c] {
      std::unique_ptr<httplib::Client> client = make_client(o.url);
      auto& lat = latencies[static_cast<size_t>(c)];
      while (next.fetch_add(1) < o.requests) {
        const auto s = clock_type::now();
        auto res = client->Post(payload.path, payload.headers, payload.body, payload.content_type);
        const double ms = std::chrono::duration<double, std::milli>(clock_type::now() - s).count();
        std::string err;
        if (!res) {
          err = "transport: " + httplib::to_string(res.error());
        } else if (res->status != 200) {
          err = fmt::format("HTTP {}: {}", res->status, res->body.substr(0, 200));
        } else if (o.check) {
          std::string w;
          auto got = outputs_of(o, *res, &w);
          if (!got)
            err = w;
          else if (*got != *reference)
            err = "outputs differ from the first reply's";
        }
        if (err.empty()) {
          lat.push_back(ms);
        } else {
          ++errors[static_cast<size_t>(c)];
          note(err);
        }
      }
    });
  for (auto& t : threads) t.join();
  const double wall_s = std::chrono::duration<double>(clock_type::now() - t0).count();

  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  int n_errors = 0;
  for (int e : errors) n_errors += e;
  double mean = 0;
  for (double v : all) mean += v;
  if (!all.empty()) mean /= static_cast<double>(all.size());
  const double rps = static_cast<double>(all.size()) / wall_s;
  const double p50 = percentile(all, 0.5), p90 = percentile(all, 0.9), p99 = percentile(all, 0.99),
               mx = all.empty() ? 0 : all.back();

  fmt::print("serve_load: {} mode {}, {} clients, request body {} bytes{}\n", o.model, o.mode,
             o.clients, payload.body.size(), o.check ? ", outputs checked" : "");
  fmt::print("requests    {}\n", o.requests);
  fmt::print("errors      {}\n", n_errors);
  fmt::print("wall        {:.3f} s\n", wall_s);
  fmt::print("throughput  {:.2f} req/s\n", rps);
  fmt::print("latency ms  p50 {:.2f}  p90 {:.2f}  p99 {:.2f}  max {:.2f}  mean {:.2f}\n", p50, p90,
             p99, mx, mean);
  for (const auto& [what, n] : error_kinds) fmt::print("  {} x {}\n", n, what);

  if (!o.json_out.empty()) {
    json j{{"model", o.model},
           {"mode", o.mode},
           {"clients", o.clients},
           {"requests", o.requests},
           {"errors", n_errors},
           {"wall_s", wall_s},
           {"throughput_rps", rps},
           {"p50_ms", p50},
           {"p90_ms", p90},
           {"p99_ms", p99},
           {"max_ms", mx},
           {"mean_ms", mean},
           {"checked", o.check},
           {"request_bytes", payload.body.size()},
           {"error_kinds", error_kinds}};
    std::ofstream f(o.json_out);
    f << j.dump(2) << "\n";
    if (!f) {
      fmt::print(stderr, "serve_load: cannot write {}\n", o.json_out);
      return 1;
    }
  }
  return n_errors ? 1 : 0;
}
