// `visionrt run MODEL`: runs a model on given or seeded-random inputs, prints per-output
// statistics, optionally saves outputs as .npy and times repeated runs.
#include <fmt/core.h>

#include <sys/resource.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <thread>

#include "cli_util.hpp"
#include "commands.hpp"
#include "common/latency_stats.hpp"
#include "common/npy.hpp"
#include "common/random_input.hpp"
#include "visionrt/core.hpp"

namespace visionrt::cli {
namespace {

std::string sanitize(const std::string& name) {
  std::string s = name;
  for (char& c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) c = '_';
  return s;
}

std::pair<std::string, std::string> split_eq(const std::string& s, const char* what) {
  auto pos = s.find('=');
  if (pos == std::string::npos || pos == 0 || pos + 1 == s.size())
    throw Error(fmt::format("{} '{}' must look like NAME=VALUE", what, s));
  return {s.substr(0, pos), s.substr(pos + 1)};
}

// P requests in P threads for `seconds` after a 1 s warm-up; per-inference latencies pooled.
template <typename Opts>
int timed_benchmark(const Opts& o, const CompiledModel& cm, InferRequest& first,
                    const std::vector<Tensor>& inputs, double load_ms) {
  using clock = std::chrono::steady_clock;
  std::vector<InferRequest> reqs;
  for (int p = 1; p < o.parallel; ++p) {
    reqs.push_back(cm.create_infer_request());
    for (size_t i = 0; i < inputs.size(); ++i) reqs.back().set_input_tensor(i, inputs[i]);
  }
  std::vector<std::vector<double>> lat(static_cast<size_t>(o.parallel));
  std::vector<double> elapsed(static_cast<size_t>(o.parallel));
  std::vector<std::exception_ptr> errors(static_cast<size_t>(o.parallel));
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  auto worker = [&](size_t k, InferRequest& r) {
    try {
      auto w0 = clock::now();
      while (std::chrono::duration<double>(clock::now() - w0).count() < 1.0) r.infer();
      ready++;
      while (!go.load()) std::this_thread::yield();
      auto t0 = clock::now();
      while (true) {
        auto a = clock::now();
        r.infer();
        auto b = clock::now();
        lat[k].push_back(std::chrono::duration<double, std::milli>(b - a).count());
        if (std::chrono::duration<double>(b - t0).count() >= o.seconds && lat[k].size() >= 3) break;
      }
      elapsed[k] = std::chrono::duration<double>(clock::now() - t0).count();
    } catch (...) {
      errors[k] = std::current_exception();
      ready++;
    }
  };
  // P client threads, one request each; the inferences themselves run on the compiled model's
  // P streams (one OpenMP team per stream thread, see runtime/stream_executor.hpp).
  std::vector<std::thread> team;
  for (size_t k = 1; k < static_cast<size_t>(o.parallel); ++k)
    team.emplace_back(worker, k, std::ref(reqs[k - 1]));
  std::thread starter([&] {
    while (ready.load() < o.parallel) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    go = true;
  });
  worker(0, first);
  starter.join();
  for (auto& t : team) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  LatencyStats st = latency_stats(lat, elapsed);
  if (o.json) {
    fmt::print(
        "{{\"runtime\":\"visionrt\",\"model\":\"{}\",\"threads\":{},\"parallel\":{},"
        "\"median_ms\":{:.3f},\"p90_ms\":{:.3f},\"mean_ms\":{:.3f},\"fps\":{:.2f},\"count\":{},"
        "\"load_ms\":{:.1f},\"peak_rss_mib\":{:.1f}}}\n",
        std::filesystem::path(o.model).filename().string(),
        std::stoi(cm.get_property("INFERENCE_NUM_THREADS")) / o.parallel, o.parallel, st.median_ms,
        st.p90_ms, st.mean_ms, st.fps, st.count, load_ms, peak_rss_mib());
  } else {
    fmt::print("load to first inference: {:.1f} ms; peak RSS {:.1f} MiB\n", load_ms,
               peak_rss_mib());
    fmt::print("{} request(s) x {} thread(s), {:.1f} s: {} inferences, {:.2f} FPS\n", o.parallel,
               cm.get_property("INFERENCE_NUM_THREADS"), o.seconds, st.count, st.fps);
    fmt::print("latency: median {:.3f} ms  p90 {:.3f} ms  mean {:.3f} ms\n", st.median_ms,
               st.p90_ms, st.mean_ms);
  }
  return 0;
}

}  // namespace

std::function<int()> add_run(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "Run a model on .npy or seeded random inputs");
  struct Opts {
    std::string model, save_dir;
    std::vector<std::string> inputs, shapes;
    bool random = false;
    uint32_t seed = 0;
    int threads = 0, repeat = 0, pc_top = 0, parallel = 1;
    double seconds = 0;
    bool pc = false, json = false;
    std::string precision;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("MODEL", o->model, "ONNX model file")->required();
  cmd->add_option("--input", o->inputs, "NAME=FILE.npy (repeatable); other inputs are random");
  cmd->add_flag("--random", o->random, "Fill every input not given with seeded random values");
  cmd->add_option("--seed", o->seed, "Random seed (same generator as the ORT peer script)");
  cmd->add_option("--shape", o->shapes, "NAME=1x3x640x640 for inputs with dynamic dimensions");
  cmd->add_option("--save-outputs", o->save_dir, "Write each output to DIR/<output name>.npy");
  cmd->add_option("--threads", o->threads, "Intra-op threads (0 = all cores)")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--repeat", o->repeat, "Time N runs after one warm-up; print median and p90")
      ->check(CLI::Range(0, 1000000));
  cmd->add_flag("--pc", o->pc,
                "Per-node performance counters over all runs: time, kernel, layout (as "
                "OpenVINO's -pc), then totals per op type");
  cmd->add_option("--pc-top", o->pc_top, "With --pc: print only the N slowest nodes (0 = all)")
      ->check(CLI::Range(0, 1000000));
  cmd->add_option(
         "--seconds", o->seconds,
         "Benchmark: run for S seconds after a 1 s warm-up (as ../shared/peers/ort_bench.js)")
      ->check(CLI::Range(0.0, 86400.0));
  cmd->add_option("--parallel", o->parallel,
                  "Benchmark: P requests in P threads, each with --threads intra-op threads")
      ->check(CLI::Range(1, 256));
  cmd->add_flag("--json", o->json,
                "Benchmark: one JSON line (median/p90/mean ms, fps, load-to-first-inference ms, "
                "peak RSS MiB) instead of the text report");
  cmd->add_option("--precision", o->precision,
                  "Inference precision: f32 or bf16 (default: bf16 where this CPU measurably "
                  "runs it faster)")
      ->check(CLI::IsMember({"f32", "bf16"}));
  return [o]() {
    using clock = std::chrono::steady_clock;
    const auto t_load = clock::now();
    Core core;
    Model model = core.read_model(o->model);
    // One stream per parallel request, each with --threads (0: all cores) intra-op threads.
    const int per_request =
        o->threads > 0 ? o->threads
                       : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    Config config{{"INFERENCE_NUM_THREADS", std::to_string(per_request * o->parallel)},
                  {"NUM_STREAMS", std::to_string(o->parallel)},
                  {"PERF_COUNT", o->pc ? "YES" : "NO"}};
    if (!o->precision.empty()) config["INFERENCE_PRECISION"] = o->precision;
    std::map<std::string, std::string> files;
    std::map<std::string, Shape> shapes;
    auto port = [&](const std::string& n) -> const PortInfo* {
      for (const auto& p : model.inputs())
        if (p.name == n) return &p;
      return nullptr;
    };
    for (const auto& s : o->inputs) {
      auto [n, f] = split_eq(s, "--input");
      if (!port(n))
        throw InputError(fmt::format("--input {}: the model has no input named '{}'", s, n));
      files[n] = f;
    }
    for (const auto& s : o->shapes) {
      auto [n, v] = split_eq(s, "--shape");
      if (!port(n))
        throw InputError(fmt::format("--shape {}: the model has no input named '{}'", s, n));
      shapes[n] = parse_shape(v);
    }
    // Inputs with dynamic dimensions are fixed to the given shape (or the .npy file's) before
    // compiling, so the static fast path is built for it.
    std::map<std::string, Tensor> file_tensors;
    for (const auto& [n, f] : files) {
      file_tensors[n] = read_npy(f);
      const PortInfo* p = port(n);
      bool dynamic = !p->has_rank;
      for (int64_t d : p->shape) dynamic |= d < 0;
      if (dynamic && !shapes.count(n)) shapes[n] = file_tensors[n].shape();
    }
    if (!shapes.empty()) model = model.reshape(shapes);
    CompiledModel cm = core.compile_model(model, config);
    model = Model();  // the compiled model holds what it needs (weights in its kernels)
    InferRequest req = cm.create_infer_request();
    Lcg rng(o->seed);
    std::vector<Tensor> given(cm.inputs().size());
    for (size_t i = 0; i < cm.inputs().size(); ++i) {
      const PortInfo& p = cm.inputs()[i];
      if (files.count(p.name)) {
        Tensor t = file_tensors[p.name];
        given[i] = t;
        try {
          req.set_input_tensor(i, t);
        } catch (const InputError& e) {
          throw InputError(fmt::format("{}: {}", files[p.name], e.what()));
        }
        continue;
      }
      Shape shape = p.shape;
      if (shapes.count(p.name)) {
        shape = shapes[p.name];
      } else {
        if (!p.has_rank)
          throw InputError(
              fmt::format("input '{}' has unknown rank: give --shape or --input", p.name));
        for (auto& d : shape)
          if (d < 0) d = 1;
      }
      given[i] = random_tensor(p.dtype, shape, rng);
      req.set_input_tensor(i, given[i]);
    }
    auto t0 = clock::now();
    req.infer();
    double first_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    double load_ms = std::chrono::duration<double, std::milli>(clock::now() - t_load).count();
    if (o->seconds > 0) return timed_benchmark(*o, cm, req, given, load_ms);
    if (!o->save_dir.empty()) std::filesystem::create_directories(o->save_dir);
    for (size_t i = 0; i < cm.outputs().size(); ++i) {
      Tensor t = req.get_output_tensor(i);
      double mn = std::numeric_limits<double>::infinity(), mx = -mn, sum = 0;
      size_t nan = 0;
      for (size_t k = 0; k < t.numel(); ++k) {
        double v = t.at_f64(k);
        if (std::isnan(v)) {
          ++nan;
          continue;
        }
        mn = std::min(mn, v);
        mx = std::max(mx, v);
        sum += v;
      }
      size_t n = t.numel() - nan;
      fmt::print("{}  {}  {}  min {:.6g}  max {:.6g}  mean {:.6g}{}\n", cm.outputs()[i].name,
                 dtype_name(t.dtype()), shape_str(t.shape()), n ? mn : NAN, n ? mx : NAN,
                 n ? sum / static_cast<double>(n) : NAN, nan ? fmt::format("  nan {}", nan) : "");
      if (!o->save_dir.empty())
        write_npy((std::filesystem::path(o->save_dir) / (sanitize(cm.outputs()[i].name) + ".npy"))
                      .string(),
                  t);
    }
    fmt::print("first run: {:.2f} ms ({} threads)\n", first_ms,
               cm.get_property("INFERENCE_NUM_THREADS"));
    if (o->repeat > 0) {
      std::vector<double> ms;
      req.infer();  // warm-up
      for (int r = 0; r < o->repeat; ++r) {
        auto a = clock::now();
        req.infer();
        ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - a).count());
      }
      std::sort(ms.begin(), ms.end());
      auto q = [&](double p) {
        return ms[std::min(ms.size() - 1, static_cast<size_t>(p * static_cast<double>(ms.size())))];
      };
      fmt::print("latency over {} runs: median {:.3f} ms  p90 {:.3f} ms\n", o->repeat, q(0.5),
                 q(0.9));
    }
    if (o->pc) print_counters(req.get_profiling_info(), o->pc_top);
    fmt::print("plan: {}\n", cm.plan_summary());
    return 0;
  };
}

}  // namespace visionrt::cli
