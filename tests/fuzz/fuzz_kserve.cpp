// libFuzzer entry for the KServe v2 protocol (src/serve/kserve.cpp) without sockets: the demo
// detector is served as "tiny" (built once, one thread) and the input becomes a request. The first
// byte picks how (modulo 4):
//   0: the rest is the body of POST /v2/models/tiny/infer;
//   1: the same with an Inference-Header-Content-Length derived from the next 4 bytes (the
//      binary tensor extension; lengths up to one past the body, or the raw 32-bit value);
//   2: the rest is the body of POST /v2/models/tiny/predict (an encoded image);
//   3: /predict with query parameters: the rest up to the first '\n' is a query string
//      (conf=..&iou=..&classes=..), the body follows.
// Every reply must be 200 or 4xx (5xx means a failure of ours), and a JSON reply (or a binary
// reply's JSON header) must parse. Crashes, hangs, leaks and UB are bugs too.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "onnx/builder.hpp"
#include "serve/kserve.hpp"

namespace {

namespace fs = std::filesystem;
using visionrt::serve::KServeHandler;
using visionrt::serve::Reply;
using visionrt::serve::Request;

std::string model_path;

void remove_model() {
  std::error_code ec;
  fs::remove_all(fs::path(model_path).parent_path(), ec);
}

KServeHandler& handler() {
  static KServeHandler* h = [] {
    const fs::path dir =
        fs::temp_directory_path() / ("fuzz_kserve_" + std::to_string(static_cast<long>(getpid())));
    fs::create_directories(dir);
    model_path = (dir / "tiny.onnx").string();
    visionrt::make_demo_detector().save(model_path);
    std::atexit(remove_model);
    visionrt::serve::ServeOptions o;
    o.threads = 1;
    auto* k = new KServeHandler();
    k->add_model("tiny", model_path, o);
    return k;
  }();
  return *h;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void parse_query(const std::string& q, Request* r) {
  size_t i = 0;
  while (i <= q.size()) {
    size_t j = q.find('&', i);
    if (j == std::string::npos) j = q.size();
    const std::string kv = q.substr(i, j - i);
    const size_t eq = kv.find('=');
    if (!kv.empty())
      r->query.emplace(kv.substr(0, eq), eq == std::string::npos ? "" : kv.substr(eq + 1));
    i = j + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  handler();  // compile before the first input, outside its timing
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Request r;
  r.method = "POST";
  const uint8_t mode = data[0] % 4;
  std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  if (mode == 0) {
    r.path = "/v2/models/tiny/infer";
    r.body = std::move(rest);
  } else if (mode == 1) {
    if (rest.size() < 4) return 0;
    const uint32_t v = uint32_t(uint8_t(rest[0])) | (uint32_t(uint8_t(rest[1])) << 8) |
                       (uint32_t(uint8_t(rest[2])) << 16) | (uint32_t(uint8_t(rest[3])) << 24);
    r.path = "/v2/models/tiny/infer";
    r.body = rest.substr(4);
    const uint64_t len = (v & 0x80000000u) ? v : v % (r.body.size() + 2);
    r.headers["inference-header-content-length"] = std::to_string(len);
    r.headers["content-type"] = "application/octet-stream";
  } else {
    r.path = "/v2/models/tiny/predict";
    if (mode == 3) {
      const size_t nl = rest.find('\n');
      if (nl == std::string::npos) return 0;
      parse_query(rest.substr(0, nl), &r);
      rest.erase(0, nl + 1);
    }
    r.body = std::move(rest);
  }

  const Reply reply = handler().handle(r);
  if (reply.status != 200 && (reply.status < 400 || reply.status > 499)) __builtin_trap();
  const std::string type = lower(reply.content_type);
  if (type.find("application/json") != std::string::npos) {
    if (!nlohmann::json::accept(reply.body)) __builtin_trap();
  } else if (type == "application/octet-stream") {
    // A binary reply: its JSON header first, the length in the header.
    auto it = reply.headers.find("Inference-Header-Content-Length");
    if (it == reply.headers.end()) __builtin_trap();
    const size_t n = std::stoul(it->second);
    if (n > reply.body.size() || !nlohmann::json::accept(reply.body.substr(0, n))) __builtin_trap();
  } else {
    __builtin_trap();  // /infer and /predict answer JSON or binary tensors only
  }
  return 0;
}
