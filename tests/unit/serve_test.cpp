// `visionrt serve` (src/serve): the KServe v2 protocol driven without sockets, then over real
// loopback HTTP (cpp-httplib's client), and the CLI process for SIGTERM. Results are checked
// against the runtime called directly and against `visionrt run` on the same input.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <random>
#include <thread>

#include "common/npy.hpp"
#include "common/strings.hpp"
#include "onnx/builder.hpp"
#include "serve/http_server.hpp"
#include "serve/kserve.hpp"
#include "test_util.hpp"
#include "visionrt/core.hpp"
#include "visionrt/vision.hpp"

namespace visionrt::serve {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

const std::string& demo_model_path() {
  static const std::string path = [] {
    fs::path dir = test::temp_dir("serve_model");
    const std::string p = (dir / "tiny.onnx").string();
    make_demo_detector().save(p);
    return p;
  }();
  return path;
}

ServeOptions small_options() {
  ServeOptions o;
  o.threads = 2;
  return o;
}

KServeHandler& demo_handler() {
  static KServeHandler* h = [] {
    auto* k = new KServeHandler();
    k->add_model("tiny", demo_model_path(), small_options());
    return k;
  }();
  return *h;
}

Request post(const std::string& path, std::string body,
             std::map<std::string, std::string> headers = {}) {
  Request r;
  r.method = "POST";
  r.path = path;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

Request get(const std::string& path) {
  Request r;
  r.method = "GET";
  r.path = path;
  return r;
}

Tensor random_input(uint32_t seed) {
  Tensor t(DType::f32, {1, 3, 64, 64});
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  for (size_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(gen);
  return t;
}

json infer_json(const Tensor& t) {
  std::vector<float> v(t.data<float>(), t.data<float>() + t.numel());
  return json{
      {"id", "q1"},
      {"inputs", {{{"name", "images"}, {"shape", t.shape()}, {"datatype", "FP32"}, {"data", v}}}}};
}

Tensor direct_output(const Tensor& in) {
  Core core;
  CompiledModel cm = core.compile_model(demo_model_path(), {{"INFERENCE_NUM_THREADS", "1"}});
  InferRequest r = cm.create_infer_request();
  r.set_input_tensor(0, in);
  r.infer();
  return r.get_output_tensor(0).clone();
}

void expect_close(const std::vector<float>& got, const Tensor& want) {
  ASSERT_EQ(got.size(), want.numel());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::abs(double(got[i]) - double(want.data<float>()[i])) /
                                (1.0 + std::abs(double(want.data<float>()[i]))));
  EXPECT_LT(worst, 1e-5);
}

// The error reply's status and message, checking it is the protocol's JSON shape.
std::pair<int, std::string> error_of_reply(const Reply& r) {
  json j = json::parse(r.body, nullptr, false);
  EXPECT_TRUE(j.is_object() && j.contains("error")) << r.body;
  return {r.status, j.is_object() && j.contains("error") ? j["error"].get<std::string>() : ""};
}

TEST(Serve, MetadataHealthAndRepositoryIndex) {
  KServeHandler& h = demo_handler();
  Reply r = h.handle(get("/v2"));
  ASSERT_EQ(r.status, 200);
  json j = json::parse(r.body);
  EXPECT_EQ(j["name"], "visionrt");
  EXPECT_TRUE(j["extensions"].is_array());
  EXPECT_EQ(h.handle(get("/v2/health/live")).status, 200);
  EXPECT_EQ(h.handle(get("/v2/health/ready")).status, 200);
  j = json::parse(h.handle(get("/v2/models/tiny")).body);
  EXPECT_EQ(j["name"], "tiny");
  EXPECT_EQ(j["versions"], json({"1"}));
  EXPECT_EQ(j["inputs"][0],
            json({{"name", "images"}, {"datatype", "FP32"}, {"shape", {1, 3, 64, 64}}}));
  EXPECT_EQ(j["outputs"][0]["name"], "output0");
  EXPECT_EQ(json::parse(h.handle(get("/v2/models/tiny/versions/1")).body)["name"], "tiny");
  EXPECT_EQ(json::parse(h.handle(get("/v2/models/tiny/ready")).body)["ready"], true);
  j = json::parse(h.handle(post("/v2/repository/index", "{}")).body);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["name"], "tiny");
  EXPECT_EQ(j[0]["state"], "READY");
  EXPECT_EQ(j[0]["task"], "detect");
  Reply page = h.handle(get("/"));
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.content_type.find("text/html"), std::string::npos);
  EXPECT_NE(page.body.find("visionrt serve"), std::string::npos);
}

TEST(Serve, JsonInferEqualsTheRuntimeCalledDirectly) {
  const Tensor in = random_input(7);
  Reply r = demo_handler().handle(post("/v2/models/tiny/infer", infer_json(in).dump()));
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["model_name"], "tiny");
  EXPECT_EQ(j["id"], "q1");
  ASSERT_EQ(j["outputs"].size(), 1u);
  EXPECT_EQ(j["outputs"][0]["name"], "output0");
  EXPECT_EQ(j["outputs"][0]["datatype"], "FP32");
  EXPECT_EQ(j["outputs"][0]["shape"], json({1, 6, 1024}));
  expect_close(j["outputs"][0]["data"].get<std::vector<float>>(), direct_output(in));
}

TEST(Serve, NestedJsonDataIsReadRowMajor) {
  const Tensor in = random_input(8);
  json nested = json::array();
  size_t k = 0;
  json batch = json::array();
  for (int c = 0; c < 3; ++c) {
    json plane = json::array();
    for (int y = 0; y < 64; ++y) {
      json row = json::array();
      for (int x = 0; x < 64; ++x) row.push_back(in.data<float>()[k++]);
      plane.push_back(row);
    }
    batch.push_back(plane);
  }
  nested.push_back(batch);
  json req = infer_json(in);
  req["inputs"][0]["data"] = nested;
  Reply r = demo_handler().handle(post("/v2/models/tiny/infer", req.dump()));
  ASSERT_EQ(r.status, 200) << r.body;
  expect_close(json::parse(r.body)["outputs"][0]["data"].get<std::vector<float>>(),
               direct_output(in));
}

TEST(Serve, BinaryTensorExtensionInAndOut) {
  const Tensor in = random_input(9);
  json head{{"inputs",
             {{{"name", "images"},
               {"shape", in.shape()},
               {"datatype", "FP32"},
               {"parameters", {{"binary_data_size", in.nbytes()}}}}}},
            {"outputs", {{{"name", "output0"}, {"parameters", {{"binary_data", true}}}}}}};
  const std::string h = head.dump();
  std::string body = h + std::string(static_cast<const char*>(in.raw()), in.nbytes());
  Reply r =
      demo_handler().handle(post("/v2/models/tiny/infer", body,
                                 {{"inference-header-content-length", std::to_string(h.size())}}));
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
  EXPECT_EQ(r.content_type, "application/octet-stream");
  const size_t n = std::stoul(r.headers.at("Inference-Header-Content-Length"));
  json j = json::parse(r.body.substr(0, n));
  const size_t size = j["outputs"][0]["parameters"]["binary_data_size"];
  ASSERT_EQ(size, 6u * 1024 * 4);
  ASSERT_EQ(r.body.size(), n + size);
  std::vector<float> out(size / 4);
  std::memcpy(out.data(), r.body.data() + n, size);
  expect_close(out, direct_output(in));
}

TEST(Serve, BadRequestsGetA4xxWithAMessageAndTheServerGoesOn) {
  KServeHandler& h = demo_handler();
  const Tensor in = random_input(1);
  const std::string good = infer_json(in).dump();
  auto with = [&](const std::function<void(json&)>& edit) {
    json j = infer_json(in);
    edit(j);
    return j.dump();
  };
  struct Case {
    std::string what, path, body;
    int status;
    std::string says;
    std::map<std::string, std::string> headers;
  };
  const std::string head = json{{"inputs",
                                 {{{"name", "images"},
                                   {"shape", {1, 3, 64, 64}},
                                   {"datatype", "FP32"},
                                   {"parameters", {{"binary_data_size", 3 * 64 * 64 * 4}}}}}}}
                               .dump();
  const std::vector<Case> cases = {
      {"malformed JSON", "/v2/models/tiny/infer", "{\"inputs\": [", 400, "malformed JSON", {}},
      {"not an object", "/v2/models/tiny/infer", "[1,2]", 400, "JSON object", {}},
      {"no inputs", "/v2/models/tiny/infer", "{}", 400, "\"inputs\"", {}},
      {"unknown model", "/v2/models/nope/infer", good, 404, "unknown model 'nope'", {}},
      {"unknown version", "/v2/models/tiny/versions/7/infer", good, 404, "no version '7'", {}},
      {"unknown input",
       "/v2/models/tiny/infer",
       with([](json& j) { j["inputs"][0]["name"] = "x"; }),
       400,
       "no input 'x'",
       {}},
      {"wrong dtype",
       "/v2/models/tiny/infer",
       with([](json& j) { j["inputs"][0]["datatype"] = "INT64"; }),
       400,
       "the model takes FP32",
       {}},
      {"unknown dtype",
       "/v2/models/tiny/infer",
       with([](json& j) { j["inputs"][0]["datatype"] = "FP8"; }),
       400,
       "'FP8' is not supported",
       {}},
      {"wrong shape",
       "/v2/models/tiny/infer",
       with([](json& j) {
         j["inputs"][0]["shape"] = {1, 3, 32, 128};
       }),
       400,
       "does not fit",
       {}},
      {"negative dim",
       "/v2/models/tiny/infer",
       with([](json& j) {
         j["inputs"][0]["shape"] = {1, 3, -64, 64};
       }),
       400,
       "non-negative",
       {}},
      {"too few elements",
       "/v2/models/tiny/infer",
       with([](json& j) {
         j["inputs"][0]["data"] = {1, 2, 3};
       }),
       400,
       "data has 3 elements",
       {}},
      {"a string element",
       "/v2/models/tiny/infer",
       with([](json& j) { j["inputs"][0]["data"][5] = "x"; }),
       400,
       "element 5 is \"x\"",
       {}},
      {"no data",
       "/v2/models/tiny/infer",
       with([](json& j) { j["inputs"][0].erase("data"); }),
       400,
       "neither \"data\"",
       {}},
      {"input twice",
       "/v2/models/tiny/infer",
       with([](json& j) { j["inputs"].push_back(j["inputs"][0]); }),
       400,
       "given twice",
       {}},
      {"unknown output",
       "/v2/models/tiny/infer",
       with([](json& j) {
         j["outputs"] = {{{"name", "y"}}};
       }),
       400,
       "no output 'y'",
       {}},
      {"truncated binary",
       "/v2/models/tiny/infer",
       head + std::string(1000, '\0'),
       400,
       "truncated",
       {{"inference-header-content-length", std::to_string(head.size())}}},
      {"extra binary",
       "/v2/models/tiny/infer",
       head + std::string(3 * 64 * 64 * 4 + 5, '\0'),
       400,
       "5 bytes of binary data",
       {{"inference-header-content-length", std::to_string(head.size())}}},
      {"header length beyond the body",
       "/v2/models/tiny/infer",
       good,
       400,
       "Inference-Header-Content-Length",
       {{"inference-header-content-length", "99999999"}}},
      {"header length not a number",
       "/v2/models/tiny/infer",
       good,
       400,
       "Inference-Header-Content-Length",
       {{"inference-header-content-length", "-3"}}},
      {"no such endpoint", "/v2/models/tiny/explode", "{}", 404, "no such endpoint", {}},
      {"not an image", "/v2/models/tiny/predict", "hello", 400, "cannot decode the image", {}},
      {"empty image body", "/v2/models/tiny/predict", "", 400, "encoded image", {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    auto [status, msg] = error_of_reply(h.handle(post(c.path, c.body, c.headers)));
    EXPECT_EQ(status, c.status);
    EXPECT_NE(msg.find(c.says), std::string::npos) << msg;
  }
  // Client bytes quoted in a message need not be UTF-8 (they become U+FFFD), and a value nested
  // far deeper than any tensor is refused without recursing into it (both crashed the server:
  // found by tests/fuzz/fuzz_kserve.cpp and by reading that path).
  EXPECT_EQ(h.handle(post("/v2/models/tiny/infer", "{\"inputs\": [\x85]}")).status, 400);
  EXPECT_EQ(h.handle(get("/v2/\x85")).status, 404);
  {
    const std::string deep = std::string(200000, '[') + std::string(200000, ']');
    json j = infer_json(in);
    std::string body = j.dump();
    const std::string shape = "\"shape\":[1,3,64,64]";
    body.replace(body.find(shape), shape.size(), "\"shape\":" + deep);
    auto [status, msg] = error_of_reply(h.handle(post("/v2/models/tiny/infer", body)));
    EXPECT_EQ(status, 400);
    EXPECT_NE(msg.find("[[...]]"), std::string::npos) << msg.substr(0, 200);
  }
  Request put = post("/v2/models/tiny", "{}");
  EXPECT_EQ(h.handle(put).status, 405);
  Request q = post("/v2/models/tiny/predict", "x");
  q.query["conf"] = "lots";
  EXPECT_NE(error_of_reply(h.handle(q)).second.find("conf='lots'"), std::string::npos);
  // Still serving.
  EXPECT_EQ(h.handle(post("/v2/models/tiny/infer", good)).status, 200);
}

cv::Mat test_image() {
  cv::Mat img(120, 160, CV_8UC3);
  cv::randu(img, 0, 255);
  return img;
}

TEST(Serve, PredictEqualsThePredictorOnTheSameImage) {
  const cv::Mat img = test_image();
  std::vector<uint8_t> png;
  ASSERT_TRUE(cv::imencode(".png", img, png));
  Request r = post("/v2/models/tiny/predict", std::string(png.begin(), png.end()));
  r.query = {{"conf", "0.05"}, {"iou", "0.5"}, {"max_det", "50"}, {"draw", "1"}};
  Reply rep = demo_handler().handle(r);
  ASSERT_EQ(rep.status, 200) << rep.body;
  json j = json::parse(rep.body);
  EXPECT_EQ(j["task"], "detect");
  EXPECT_EQ(j["image"], json({{"width", 160}, {"height", 120}}));
  EXPECT_EQ(j["overlay"].get<std::string>().rfind("data:image/jpeg;base64,", 0), 0u);

  PredictOptions o;
  o.conf = 0.05f;
  o.iou = 0.5f;
  o.max_det = 50;
  o.threads = 1;
  Predictor p(demo_model_path(), o);
  const Prediction want = p.predict(img);
  ASSERT_FALSE(want.detections.empty());
  ASSERT_EQ(j["detections"].size(), want.detections.size());
  for (size_t i = 0; i < want.detections.size(); ++i) {
    const Detection& d = want.detections[i];
    const json& g = j["detections"][i];
    EXPECT_NEAR(g["box"][0].get<double>(), d.x1, 1e-3);
    EXPECT_NEAR(g["box"][3].get<double>(), d.y2, 1e-3);
    EXPECT_NEAR(g["score"].get<double>(), d.score, 1e-5);
    EXPECT_EQ(g["class_id"], d.class_id);
  }
  // The settings are each request's own: the same predictor serves a stricter request.
  r.query = {{"conf", "0.93"}, {"iou", "0.3"}, {"max_det", "1000"}};
  json strict = json::parse(demo_handler().handle(r).body);
  PredictOptions o2 = o;
  o2.conf = 0.93f;
  o2.iou = 0.3f;
  o2.max_det = 1000;
  const size_t want_strict = Predictor(demo_model_path(), o2).predict(img).detections.size();
  EXPECT_EQ(strict["detections"].size(), want_strict);
  EXPECT_NE(want_strict, want.detections.size());
  for (const json& d : strict["detections"]) EXPECT_GE(d["score"].get<double>(), 0.93);
}

TEST(Serve, Base64MatchesRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

// ---- over real HTTP on the loopback

struct LiveServer {
  explicit LiveServer(HttpOptions o = {}) {
    o.host = "127.0.0.1";
    o.port = 0;
    server = std::make_unique<HttpServer>(demo_handler(), o);
    port = server->bind();
    thread = std::thread([this] { server->run(); });
  }
  ~LiveServer() {
    server->stop();
    thread.join();
  }
  std::unique_ptr<HttpServer> server;
  int port = 0;
  std::thread thread;
};

// Sends raw bytes on a fresh connection; returns what came back before the server closed it
// (or after `wait_ms`).
std::string raw_exchange(int port, const std::string& bytes, int wait_ms) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return "(connect failed)";
  }
  (void)!::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  timeval tv{wait_ms / 1000, (wait_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string got;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) got.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return got;
}

TEST(Serve, HttpClientGetsWhatVisionrtRunComputes) {
  LiveServer live;
  httplib::Client c("127.0.0.1", live.port);
  const Tensor in = random_input(11);
  auto res = c.Post("/v2/models/tiny/infer", infer_json(in).dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  std::vector<float> got = json::parse(res->body)["outputs"][0]["data"].get<std::vector<float>>();

  // The same input through `visionrt run` (its own process, its own compile).
  const fs::path dir = test::temp_dir("serve_run");
  write_npy((dir / "in.npy").string(), in);
  std::string out;
  ASSERT_EQ(test::run_command(str_cat(VISIONRT_CLI, " run ", demo_model_path(),
                                      " --input images=", (dir / "in.npy").string(),
                                      " --save-outputs ", (dir / "out").string()),
                              &out),
            0)
      << out;
  expect_close(got, read_npy((dir / "out" / "output0.npy").string()));
}

TEST(Serve, HttpLimitsSlowAndBrokenClients) {
  HttpOptions o;
  o.max_body_bytes = 1000000;
  o.read_timeout_s = 1;
  LiveServer live(o);
  httplib::Client c("127.0.0.1", live.port);
  // A body over the limit: 413 with a JSON error.
  auto big = c.Post("/v2/models/tiny/infer", std::string(2000000, ' '), "application/json");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  EXPECT_NE(big->body.find("larger than the 1000000 bytes"), std::string::npos) << big->body;
  // A curl-style upload (form-urlencoded type) larger than cpp-httplib's 8 KiB form cap.
  cv::Mat img(200, 200, CV_8UC3);
  cv::randu(img, 0, 255);
  std::vector<uint8_t> png;
  cv::imencode(".png", img, png);
  ASSERT_GT(png.size(), 8192u);
  auto form = c.Post("/v2/models/tiny/predict", std::string(png.begin(), png.end()),
                     "application/x-www-form-urlencoded");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->status, 200) << form->body;
  // A client that promises 5000 bytes, sends 10, and goes quiet: dropped after the timeout,
  // while others are served meanwhile.
  std::thread slow([&] {
    raw_exchange(live.port,
                 "POST /v2/models/tiny/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"
                 "{\"inputs\":",
                 3000);
  });
  // Garbage instead of HTTP.
  const std::string junk = raw_exchange(live.port, "\x16\x03\x01 hello\r\n\r\n", 2000);
  EXPECT_EQ(junk.find("200 OK"), std::string::npos);
  auto t0 = std::chrono::steady_clock::now();
  auto ok = c.Get("/v2/health/ready");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 0.9);
  slow.join();
  auto after =
      c.Post("/v2/models/tiny/infer", infer_json(random_input(3)).dump(), "application/json");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
}

TEST(Serve, ASecondServerCannotTakeTheSamePort) {
  LiveServer live;
  HttpOptions o;
  o.host = "127.0.0.1";
  o.port = live.port;
  HttpServer second(demo_handler(), o);
  EXPECT_NE(test::error_of<IoError>([&] { second.bind(); }).find("cannot listen"),
            std::string::npos);
}

TEST(Serve, ConcurrentClientsAllSucceed) {
  LiveServer live;
  const std::string body = infer_json(random_input(5)).dump();
  const std::string want =
      json::parse(demo_handler().handle(post("/v2/models/tiny/infer", body)).body)["outputs"]
          .dump();
  std::atomic<int> ok{0}, bad{0};
  std::vector<std::thread> clients;
  for (int k = 0; k < 8; ++k)
    clients.emplace_back([&] {
      httplib::Client c("127.0.0.1", live.port);
      for (int i = 0; i < 15; ++i) {
        auto res = c.Post("/v2/models/tiny/infer", body, "application/json");
        if (res && res->status == 200 && json::parse(res->body)["outputs"].dump() == want)
          ++ok;
        else
          ++bad;
      }
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 120);
  EXPECT_EQ(bad.load(), 0);
}

// The CLI process: SIGTERM while a request is still uploading; the request completes, then the
// process exits 0.
TEST(ServeCli, RequireTaskRefusesAModelOfRawTensors) {
  // An Add of two tensors has no task pipeline: by default it is served for /infer only; with
  // --require-task the server refuses to start and says which model and why. (ServeCli: it runs
  // the CLI, which the TSan build of scripts/test does not build.)
  const fs::path dir = test::temp_dir("serve_raw");
  ModelBuilder b;
  b.input("a", DType::f32, {1, 4}).input("b", DType::f32, {1, 4}).output("y", DType::f32);
  b.node("Add", {"a", "b"}, {"y"});
  const std::string model = (dir / "raw_add.onnx").string();
  std::ofstream(model, std::ios::binary) << b.serialize();
  KServeHandler plain;
  plain.add_model("raw", model, small_options());
  EXPECT_EQ(json::parse(plain.handle(get("/v2/models/raw/ready")).body)["ready"], true);
  std::string out;
  const int rc = test::run_command(
      str_cat(VISIONRT_CLI, " serve -m ", model, " --port 0 --require-task"), &out);
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("raw_add.onnx"), std::string::npos) << out;
  EXPECT_NE(out.find("visionrt: error:"), std::string::npos) << out;
  fs::remove_all(dir);
}

TEST(Serve, SigtermFinishesInFlightRequestsThenExits) {
  const fs::path dir = test::temp_dir("serve_sigterm");
  const std::string port_file = (dir / "port").string();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string log = (dir / "log.txt").string();
    freopen(log.c_str(), "w", stderr);
    execl(VISIONRT_CLI, VISIONRT_CLI, "serve", "-m", demo_model_path().c_str(), "--port", "0",
          "--port-file", port_file.c_str(), "--threads", "1", static_cast<char*>(nullptr));
    _exit(127);
  }
  int port = 0;
  for (int i = 0; i < 200 && port == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream f(port_file);
    f >> port;
  }
  ASSERT_GT(port, 0) << "the server did not start";
  const std::string body = infer_json(random_input(2)).dump();
  const std::string head = str_cat(
      "POST /v2/models/tiny/infer HTTP/1.1\r\nHost: x\r\nContent-Type: "
      "application/json\r\nConnection: close\r\nContent-Length: ",
      body.size(), "\r\n\r\n");
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  const std::string first = head + body.substr(0, body.size() / 2);
  ASSERT_EQ(::send(fd, first.data(), first.size(), MSG_NOSIGNAL), ssize_t(first.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::string rest = body.substr(body.size() / 2);
  ASSERT_EQ(::send(fd, rest.data(), rest.size(), MSG_NOSIGNAL), ssize_t(rest.size()));
  std::string got;
  char buf[65536];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) got.append(buf, static_cast<size_t>(n));
  ::close(fd);
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got.substr(0, 200);
  EXPECT_NE(got.find("\"output0\""), std::string::npos);
  int status = 0;
  for (int i = 0; i < 200; ++i) {
    if (waitpid(pid, &status, WNOHANG) == pid) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (i == 199) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      FAIL() << "the server did not exit within 10 s of SIGTERM";
    }
  }
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  // And it no longer listens.
  EXPECT_EQ(raw_exchange(port, "GET /v2 HTTP/1.1\r\n\r\n", 500), "(connect failed)");
}

}  // namespace
}  // namespace visionrt::serve
