// The throughput engine: properties and the stream/thread rule, asynchronous requests under
// concurrency (callbacks, wait_for timeouts, errors carried to callbacks and to wait, busy
// requests, restarts from callbacks, destruction with requests in flight), and outputs that are
// bit-identical whatever the setting. Built also with ThreadSanitizer (scripts/test), where the
// models run one thread per stream (libgomp is not instrumented).
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "kernels/kernel.hpp"
#include "onnx/builder.hpp"
#include "runtime/properties.hpp"
#include "test_util.hpp"
#include "visionrt/core.hpp"
#include "visionrt/error.hpp"

using namespace visionrt;

namespace {

int cores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

// Under ThreadSanitizer every stream runs single-threaded: libgomp's barriers are not
// instrumented, so a multi-threaded team would be reported as racing with itself.
#if defined(__SANITIZE_THREAD__)
constexpr bool kTsan = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool kTsan = true;
#else
constexpr bool kTsan = false;
#endif
#else
constexpr bool kTsan = false;
#endif

Config tsan_safe(Config c) {
  if (!kTsan) return c;
  if (c.count("PERFORMANCE_HINT") && c["PERFORMANCE_HINT"] == "THROUGHPUT") {
    c.erase("INFERENCE_NUM_THREADS");
    return c;
  }
  c["INFERENCE_NUM_THREADS"] = c.count("NUM_STREAMS") ? c["NUM_STREAMS"] : "1";
  return c;
}

Model demo_model() {
  static const std::string bytes = make_demo_detector().serialize();
  return Core().read_model_from_memory(bytes, "demo.onnx");
}

Tensor demo_input(unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0, 1);
  std::vector<float> v(3 * 64 * 64);
  for (auto& x : v) x = u(rng);
  return Tensor::from_vector<float>({1, 3, 64, 64}, v);
}

std::vector<float> to_vec(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

std::vector<float> run_sync(const CompiledModel& cm, const Tensor& in) {
  InferRequest r = cm.create_infer_request();
  r.set_input_tensor(0, in);
  r.infer();
  return to_vec(r.get_output_tensor(0));
}

// A model whose run fails for some inputs: Reshape of a dynamic vector to [2, 3].
Model failing_model() {
  ModelBuilder b;
  b.input("x", DType::f32, {-1}, {"n"});
  b.initializer("shape", Tensor::from_vector<int64_t>({2}, {2, 3}));
  b.node("Reshape", {"x", "shape"}, {"y"}, {}, "reshape");
  b.output("y", DType::f32);
  return Core().read_model_from_memory(b.serialize(), "failing.onnx");
}

}  // namespace

TEST(Streams, HintsAndPropertiesFollowTheDocumentedRule) {
  Core core;
  Model m = demo_model();
  CompiledModel lat = core.compile_model(m);
  EXPECT_EQ(lat.get_property("PERFORMANCE_HINT"), "LATENCY");
  EXPECT_EQ(lat.get_property("NUM_STREAMS"), "1");
  EXPECT_EQ(lat.get_property("INFERENCE_NUM_THREADS"), std::to_string(cores()));
  EXPECT_EQ(lat.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"), "1");
  CompiledModel tput = core.compile_model(m, {{"PERFORMANCE_HINT", "THROUGHPUT"}});
  EXPECT_EQ(tput.get_property("NUM_STREAMS"), std::to_string(cores()));
  EXPECT_EQ(tput.get_property("INFERENCE_NUM_THREADS"), std::to_string(cores()));
  EXPECT_EQ(tput.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"), std::to_string(cores()));
  CompiledModel two = core.compile_model(
      m, {{"NUM_STREAMS", "2"}, {"INFERENCE_NUM_THREADS", "4"}, {"ENABLE_CPU_PINNING", "YES"}});
  EXPECT_EQ(two.get_property("NUM_STREAMS"), "2");
  EXPECT_EQ(two.get_property("INFERENCE_NUM_THREADS"), "4");  // 2 per stream
  EXPECT_EQ(two.get_property("ENABLE_CPU_PINNING"), "YES");
  for (const Config& bad : std::vector<Config>{{{"NUM_STREAMS", "0"}},
                                               {{"NUM_STREAMS", "two"}},
                                               {{"NUM_STREAMS", std::to_string(100 * cores())}},
                                               {{"PERFORMANCE_HINT", "FAST"}},
                                               {{"ENABLE_CPU_PINNING", "maybe"}},
                                               {{"INFERENCE_NUM_THREADS", "-1"}},
                                               {{"INFERENCE_PRECISION", "f64"}},
                                               {{"PERF_COUNT", "1"}},
                                               {{"OPTIMAL_NUMBER_OF_INFER_REQUESTS", "2"}},
                                               {{"NUM_STREMS", "2"}}}) {
    std::string msg = test::error_of<Error>([&] { core.compile_model(m, bad); });
    EXPECT_NE(
        msg.find(bad.begin()->first == "NUM_STREMS" ? "unknown property" : bad.begin()->first),
        std::string::npos)
        << msg;
  }
  EXPECT_THROW(lat.get_property("NOPE"), Error);
  // Every listed property reads back; the two that were set read back as set.
  const std::vector<std::string> names = two.property_names();
  EXPECT_EQ(names.size(), 7u);
  for (const std::string& k : names) EXPECT_FALSE(two.get_property(k).empty()) << k;
  EXPECT_EQ(two.get_property("PERF_COUNT"), "NO");
  // Unset, INFERENCE_PRECISION follows this CPU's bf16 probe (runtime/properties.hpp).
  const bool bf16_default = cpu_supports_bf16() && bf16_speedup() >= kBf16DefaultGain;
  EXPECT_EQ(two.get_property("INFERENCE_PRECISION"), bf16_default ? "bf16" : "f32");
  EXPECT_EQ(
      core.compile_model(m, {{"INFERENCE_PRECISION", "f32"}}).get_property("INFERENCE_PRECISION"),
      "f32");
  EXPECT_NE(test::error_of<Error>([&] {
              core.compile_model(m, {{"OPTIMAL_NUMBER_OF_INFER_REQUESTS", "2"}});
            }).find("read-only"),
            std::string::npos);
  // THROUGHPUT's memory criterion: a budget smaller than two request arenas leaves one stream.
  setenv("VISIONRT_MEMORY_BUDGET_BYTES", "1000", 1);
  CompiledModel small = core.compile_model(m, {{"PERFORMANCE_HINT", "THROUGHPUT"}});
  unsetenv("VISIONRT_MEMORY_BUDGET_BYTES");
  EXPECT_EQ(small.get_property("NUM_STREAMS"), "1");
}

TEST(Streams, OutputsAreBitIdenticalWhateverTheSetting) {
  Core core;
  Model m = demo_model();
  Tensor in = demo_input(1);
  std::vector<float> want =
      run_sync(core.compile_model(m, tsan_safe({{"INFERENCE_NUM_THREADS", "1"}})), in);
  for (const Config& c : std::vector<Config>{{{"INFERENCE_NUM_THREADS", "2"}},
                                             {{"PERFORMANCE_HINT", "THROUGHPUT"}},
                                             {{"NUM_STREAMS", "3"}, {"INFERENCE_NUM_THREADS", "3"}},
                                             {{"ENABLE_CPU_PINNING", "YES"}}}) {
    CompiledModel cm = core.compile_model(m, tsan_safe(c));
    EXPECT_EQ(run_sync(cm, in), want) << c.begin()->first << "=" << c.begin()->second;
    // Asynchronous requests on every stream at once give the same bits.
    std::vector<InferRequest> reqs;
    for (int i = 0; i < 6; ++i) {
      reqs.push_back(cm.create_infer_request());
      reqs.back().set_input_tensor(0, in);
    }
    for (auto& r : reqs) r.start_async();
    for (auto& r : reqs) {
      r.wait();
      EXPECT_EQ(to_vec(r.get_output_tensor(0)), want);
    }
  }
}

TEST(Streams, ManyRequestsWithCallbacksAndRestarts) {
  Core core;
  CompiledModel cm = core.compile_model(
      demo_model(), tsan_safe({{"NUM_STREAMS", "3"}, {"INFERENCE_NUM_THREADS", "3"}}));
  const int nreq = 8, rounds = 5;
  std::vector<Tensor> inputs;
  std::vector<std::vector<float>> want;
  for (int i = 0; i < nreq; ++i) {
    inputs.push_back(demo_input(static_cast<unsigned>(10 + i)));
    want.push_back(run_sync(cm, inputs.back()));
  }
  std::vector<InferRequest> reqs(nreq);
  std::vector<std::atomic<int>> done(nreq);
  std::atomic<int> wrong{0}, errors{0};
  for (int i = 0; i < nreq; ++i) {
    reqs[i] = cm.create_infer_request();
    reqs[i].set_input_tensor(0, inputs[i]);
    // The callback checks the result and restarts the request until `rounds` are done.
    reqs[i].set_callback([&, i](std::exception_ptr e) {
      if (e) ++errors;
      if (to_vec(reqs[i].get_output_tensor(0)) != want[i]) ++wrong;
      if (++done[i] < rounds) reqs[i].start_async();
    });
  }
  for (auto& r : reqs) r.start_async();
  for (auto& r : reqs) r.wait();
  for (int i = 0; i < nreq; ++i) EXPECT_EQ(done[i].load(), rounds) << i;
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(errors.load(), 0);
}

TEST(Streams, WaitForTimesOutAndBusyRequestsRefuse) {
  Core core;
  CompiledModel cm = core.compile_model(demo_model(), tsan_safe({{"NUM_STREAMS", "1"}}));
  InferRequest a = cm.create_infer_request(), b = cm.create_infer_request();
  a.set_input_tensor(0, demo_input(1));
  b.set_input_tensor(0, demo_input(2));
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::promise<void> entered;
  a.set_callback([&](std::exception_ptr) {
    entered.set_value();
    gate.wait();  // holds the only stream
  });
  a.start_async();
  entered.get_future().wait();
  EXPECT_FALSE(a.wait_for(20));  // its callback is still running
  b.start_async();               // queued behind a on the single stream
  EXPECT_FALSE(b.wait_for(20));
  EXPECT_NE(test::error_of<Error>([&] { b.start_async(); }).find("busy"), std::string::npos);
  EXPECT_NE(test::error_of<Error>([&] { b.set_input_tensor(0, demo_input(3)); }).find("busy"),
            std::string::npos);
  EXPECT_NE(test::error_of<Error>([&] { b.get_output_tensor(0); }).find("busy"), std::string::npos);
  EXPECT_NE(test::error_of<Error>([&] { b.set_callback(nullptr); }).find("busy"),
            std::string::npos);
  release.set_value();
  EXPECT_TRUE(a.wait_for(10000));
  EXPECT_TRUE(b.wait_for(10000));
  EXPECT_EQ(b.get_output_tensor(0).shape(), (Shape{1, 6, 1024}));
}

TEST(Streams, ErrorsReachCallbacksAndWait) {
  Core core;
  CompiledModel cm = core.compile_model(failing_model(), tsan_safe({{"NUM_STREAMS", "2"}}));
  InferRequest r = cm.create_infer_request();
  std::promise<std::string> seen;
  r.set_callback([&](std::exception_ptr e) {
    try {
      if (e) std::rethrow_exception(e);
      seen.set_value("(no error)");
    } catch (const std::exception& x) {
      seen.set_value(x.what());
    }
  });
  r.set_input_tensor(0, Tensor::from_vector<float>({5}, {1, 2, 3, 4, 5}));
  r.start_async();
  std::string msg = seen.get_future().get();
  EXPECT_NE(msg.find("reshape"), std::string::npos) << msg;
  EXPECT_THROW(r.wait(), InputError);
  EXPECT_THROW(r.get_output_tensor(0), Error);  // no result after a failure
  // The same request then succeeds with a fitting input; sync infer throws the same way.
  r.set_callback(nullptr);
  r.set_input_tensor(0, Tensor::from_vector<float>({6}, {1, 2, 3, 4, 5, 6}));
  r.start_async();
  r.wait();
  EXPECT_EQ(r.get_output_tensor(0).shape(), (Shape{2, 3}));
  r.set_input_tensor(0, Tensor::from_vector<float>({4}, {1, 2, 3, 4}));
  EXPECT_THROW(r.infer(), InputError);
  // Missing inputs are refused at once, not in the callback.
  InferRequest empty = cm.create_infer_request();
  EXPECT_THROW(empty.start_async(), InputError);
}

TEST(Streams, DestructionWithRequestsInFlight) {
  std::atomic<int> callbacks{0};
  {
    Core core;
    CompiledModel cm = core.compile_model(
        demo_model(), tsan_safe({{"NUM_STREAMS", "2"}, {"INFERENCE_NUM_THREADS", "2"}}));
    std::vector<InferRequest> reqs;
    for (int i = 0; i < 10; ++i) {
      reqs.push_back(cm.create_infer_request());
      reqs.back().set_input_tensor(0, demo_input(static_cast<unsigned>(i)));
      reqs.back().set_callback([&](std::exception_ptr) { ++callbacks; });
      reqs.back().start_async();
    }
    // The compiled model goes first; the requests keep what they need alive, and each
    // destructor waits for its inference.
    cm = CompiledModel();
    reqs.erase(reqs.begin(), reqs.begin() + 5);
  }
  EXPECT_EQ(callbacks.load(), 10);
}

TEST(BenchmarkCli, SyncAsyncIterationsReportsSweepAndBadFlags) {
  namespace fs = std::filesystem;
  fs::path dir = test::temp_dir("bench_cli");
  std::string model = (dir / "tiny.onnx").string();
  std::ofstream(model, std::ios::binary) << make_demo_detector().serialize();
  const std::string cli = std::string(VISIONRT_CLI) + " benchmark -m " + model;
  std::string out;
  ASSERT_EQ(test::run_command(cli + " -api sync -niter 25", &out), 0) << out;
  EXPECT_NE(out.find("[Step 11/11]"), std::string::npos) << out;
  EXPECT_NE(out.find("Count:               25 iterations"), std::string::npos) << out;
  ASSERT_EQ(test::run_command(cli +
                                  " -nstreams 2 -nthreads 2 -nireq 3 -niter 40 -pc "
                                  "-latency_percentile 90 -json_stats -report_folder " +
                                  (dir / "rep").string(),
                              &out),
            0)
      << out;
  EXPECT_NE(out.find("Count:               40 iterations"), std::string::npos) << out;
  EXPECT_NE(out.find("90th percentile"), std::string::npos) << out;
  EXPECT_NE(out.find("NUM_STREAMS: 2"), std::string::npos) << out;
  EXPECT_NE(out.find("avg ms"), std::string::npos) << out;  // per-node counters
  auto j = nlohmann::json::parse(std::ifstream(dir / "rep" / "benchmark_report.json"));
  EXPECT_EQ(j["count"], 40);
  EXPECT_EQ(j["nireq"], 3);
  ASSERT_EQ(test::run_command(cli +
                                  " --sweep nstreams=1,2 nireq=1..2 nthreads=2 -niter 10 "
                                  "-report_folder " +
                                  (dir / "sweep").string(),
                              &out),
            0)
      << out;
  EXPECT_NE(out.find("best throughput"), std::string::npos) << out;
  std::ifstream csv(dir / "sweep" / "benchmark_sweep.csv");
  int lines = 0;
  for (std::string l; std::getline(csv, l);) ++lines;
  EXPECT_EQ(lines, 1 + 2 * 2);  // header + 2 stream counts x 2 request counts
  EXPECT_TRUE(fs::exists(dir / "sweep" / "benchmark_sweep.svg"));
  // A precision axis (issue 13): one row per precision, the precision in every CSV line.
  if (cpu_supports_bf16()) {
    ASSERT_EQ(test::run_command(cli + " --sweep precision=f32,bf16 nthreads=1 -niter 5 " +
                                    "-report_folder " + (dir / "prec").string(),
                                &out),
              0)
        << out;
    std::ifstream pcsv(dir / "prec" / "benchmark_sweep.csv");
    std::vector<std::string> rows;
    for (std::string l; std::getline(pcsv, l);) rows.push_back(l);
    ASSERT_EQ(rows.size(), 3u) << out;
    EXPECT_EQ(rows[1].rfind("f32,", 0), 0u) << rows[1];
    EXPECT_EQ(rows[2].rfind("bf16,", 0), 0u) << rows[2];
  }
  EXPECT_NE(test::run_command(cli + " --sweep precision=f16 -niter 5", &out), 0);
  EXPECT_NE(out.find("'f16' is not f32 or bf16"), std::string::npos) << out;
  // Impossible settings: a clear message and a non-zero exit, never a hang.
  for (const char* bad :
       {" -nireq 0", " -nthreads 100000", " -nstreams 2 -nthreads 1", " -api sync -nireq 4",
        " -shape [1,3,32,32]", " --sweep nireq=0", " --sweep cores=2", " -hint fastest"}) {
    EXPECT_NE(test::run_command(cli + bad + " -niter 5", &out), 0) << bad;
    EXPECT_FALSE(out.empty()) << bad;
  }
  EXPECT_NE(out.find("fastest"), std::string::npos) << out;
  fs::remove_all(dir);
}

TEST(BenchmarkCli, Bf16NeedsTheInstructionsAndTheDefaultFollowsTheProbe) {
  // ONEDNN_MAX_CPU_ISA caps oneDNN below AVX512-BF16: a machine without it, on any x86 CPU.
  namespace fs = std::filesystem;
  fs::path dir = test::temp_dir("bf16_cli");
  std::string model = (dir / "tiny.onnx").string();
  std::ofstream(model, std::ios::binary) << make_demo_detector().serialize();
  const std::string run = std::string(VISIONRT_CLI) + " run " + model + " --random --threads 1";
  const std::string capped = "ONEDNN_MAX_CPU_ISA=AVX512_CORE VISIONRT_VERBOSE=1 ";
  std::string out;
  EXPECT_NE(test::run_command(capped + run + " --precision bf16", &out), 0) << out;
  EXPECT_NE(out.find("INFERENCE_PRECISION bf16 needs a CPU with AVX512-BF16 or AMX"),
            std::string::npos)
      << out;
  ASSERT_EQ(test::run_command(capped + run, &out), 0) << out;
  EXPECT_NE(out.find("precision: f32 (default: no native bf16 on this CPU)"), std::string::npos)
      << out;
  if (cpu_supports_bf16()) {
    ASSERT_EQ(test::run_command("VISIONRT_VERBOSE=1 " + run, &out), 0) << out;
    EXPECT_NE(out.find("default: bf16 convolutions measured"), std::string::npos) << out;
    ASSERT_EQ(test::run_command(run + " --precision bf16", &out), 0) << out;
  }
  fs::remove_all(dir);
}
