// `visionrt benchmark -m MODEL`: OpenVINO benchmark_app's flags and step layout over the stream
// executor (sync or async API, nstreams / nireq / nthreads / pinning, hints, time or iteration
// limits, latency percentiles, per-node counters, CSV/JSON reports); `--sweep` measures a grid
// of settings and names the best one for throughput and for latency; `--peer ort` runs ONNX
// Runtime on the same model and input in the same run, alternating, and prints the ratio.
#include <fmt/core.h>

#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <thread>

#include "cli_util.hpp"
#include "commands.hpp"
#include "common/file_io.hpp"
#include "common/npy.hpp"
#include "common/random_input.hpp"
#include "data/image_io.hpp"
#include "vision/preprocess.hpp"
#include "visionrt/core.hpp"
#include "visionrt/error.hpp"

namespace visionrt::cli {

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

struct BenchOpts {
  std::string model, device = "CPU", hint = "latency", api = "async", shape, input, precision,
                     report_type = "no_counters", report_folder, peer, shared_dir;
  int nstreams = 0, nireq = 0, nthreads = 0, batch = 0, percentile = 50, niter = 0;
  double seconds = 0;
  std::string pin = "NO";
  bool pc = false, json_stats = false;
  std::vector<std::string> sweep;
};

struct Result {
  int64_t count = 0;
  double duration_ms = 0, first_ms = 0;
  double median = 0, avg = 0, min = 0, max = 0, pct = 0, fps = 0;
  int streams = 0, nireq = 0, threads = 0;
  std::string precision;  // INFERENCE_PRECISION as compiled
  std::vector<ProfilingInfo> counters;
};

double percentile(std::vector<double> v, int p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t k = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, k == 0 ? 0 : k - 1)];
}

// Inputs: images (-i file or folder) letterboxed to the input size as Ultralytics does, or
// seeded random values; one set per request, images taken round-robin.
std::vector<std::vector<Tensor>> make_inputs(const BenchOpts& o, const std::vector<PortInfo>& ins,
                                             int nireq) {
  std::vector<fs::path> images;
  if (!o.input.empty()) {
    if (fs::is_directory(o.input)) {
      for (const auto& e : fs::directory_iterator(o.input))
        if (e.is_regular_file()) images.push_back(e.path());
      std::sort(images.begin(), images.end());
    } else if (fs::exists(o.input)) {
      images.push_back(o.input);
    } else {
      throw IoError(fmt::format("-i {}: no such file or folder", o.input));
    }
    if (images.empty()) throw InputError(fmt::format("-i {}: no images", o.input));
  }
  std::vector<std::vector<Tensor>> out(static_cast<size_t>(nireq));
  Lcg rng(1);
  for (int r = 0; r < nireq; ++r)
    for (const PortInfo& p : ins) {
      Shape s = p.shape;
      for (auto& d : s)
        if (d < 0) d = 1;
      if (!images.empty() && s.size() == 4 && s[1] == 3 && p.dtype == DType::f32) {
        const fs::path& f = images[static_cast<size_t>(r) % images.size()];
        cv::Mat img = read_image(f.string());
        PreprocessConfig cfg;
        cfg.width = static_cast<int>(s[3]);
        cfg.height = static_cast<int>(s[2]);
        Tensor one = make_input_tensor(img, cfg, compute_geometry(cfg, img.cols, img.rows));
        Tensor t = Tensor::zeros(DType::f32, s);
        for (int64_t b = 0; b < s[0]; ++b)
          std::memcpy(t.data<float>() + b * one.numel(), one.data<float>(), one.nbytes());
        out[static_cast<size_t>(r)].push_back(t);
      } else {
        out[static_cast<size_t>(r)].push_back(random_tensor(p.dtype, s, rng));
      }
    }
  return out;
}

Config device_config(const BenchOpts& o, int nstreams, int nthreads) {
  Config c;
  if (o.hint == "latency") c["PERFORMANCE_HINT"] = "LATENCY";
  if (o.hint == "throughput") c["PERFORMANCE_HINT"] = "THROUGHPUT";
  if (nstreams > 0) c["NUM_STREAMS"] = std::to_string(nstreams);
  if (nthreads > 0) c["INFERENCE_NUM_THREADS"] = std::to_string(nthreads);
  c["ENABLE_CPU_PINNING"] = o.pin;
  if (o.pc || o.report_type != "no_counters") c["PERF_COUNT"] = "YES";
  if (!o.precision.empty()) c["INFERENCE_PRECISION"] = o.precision;
  return c;
}

// One measurement: nireq requests (async: restarted from their callbacks; sync: one request in
// a loop), until `seconds` elapsed or `niter` inferences ran.
Result measure(const BenchOpts& o, const CompiledModel& cm, int nireq, double seconds,
               int64_t niter) {
  const bool async = o.api == "async";
  if (!async) nireq = 1;
  Result res;
  res.streams = std::stoi(cm.get_property("NUM_STREAMS"));
  res.threads = std::stoi(cm.get_property("INFERENCE_NUM_THREADS"));
  res.nireq = nireq;
  std::vector<std::vector<Tensor>> inputs = make_inputs(o, cm.inputs(), nireq);
  std::vector<InferRequest> reqs;
  for (int r = 0; r < nireq; ++r) {
    reqs.push_back(cm.create_infer_request());
    for (size_t i = 0; i < inputs[static_cast<size_t>(r)].size(); ++i)
      reqs.back().set_input_tensor(i, inputs[static_cast<size_t>(r)][i]);
  }
  auto f0 = clock_type::now();
  reqs[0].infer();  // warm-up, reported as the first inference
  res.first_ms = std::chrono::duration<double, std::milli>(clock_type::now() - f0).count();
  for (size_t r = 1; r < reqs.size(); ++r) reqs[r].infer();
  std::vector<double> lat;
  std::mutex lat_mu;
  const auto t0 = clock_type::now();
  auto expired = [&](int64_t started) {
    if (niter > 0) return started >= niter;
    return std::chrono::duration<double>(clock_type::now() - t0).count() >= seconds;
  };
  auto last = t0;
  if (async) {
    std::atomic<int64_t> started{0};
    std::vector<clock_type::time_point> begin(reqs.size());
    std::exception_ptr failure;
    std::atomic<bool> failed{false};
    for (size_t r = 0; r < reqs.size(); ++r) {
      reqs[r].set_callback([&, r](std::exception_ptr e) {
        auto now = clock_type::now();
        {
          std::lock_guard<std::mutex> lock(lat_mu);
          if (e && !failed.exchange(true)) failure = e;
          lat.push_back(std::chrono::duration<double, std::milli>(now - begin[r]).count());
          last = std::max(last, now);
        }
        if (failed.load() || expired(started.fetch_add(1))) return;
        begin[r] = clock_type::now();
        reqs[r].start_async();
      });
    }
    for (size_t r = 0; r < reqs.size(); ++r) {
      if (expired(started.fetch_add(1))) break;
      begin[r] = clock_type::now();
      reqs[r].start_async();
    }
    for (auto& r : reqs) {
      try {
        r.wait();
      } catch (...) {
      }
    }
    if (failure) std::rethrow_exception(failure);
  } else {
    int64_t started = 0;
    while (!expired(started++)) {
      auto a = clock_type::now();
      reqs[0].infer();
      last = clock_type::now();
      lat.push_back(std::chrono::duration<double, std::milli>(last - a).count());
    }
  }
  res.count = static_cast<int64_t>(lat.size());
  res.duration_ms = std::chrono::duration<double, std::milli>(last - t0).count();
  if (!lat.empty()) {
    res.median = percentile(lat, 50);
    res.pct = percentile(lat, o.percentile);
    res.min = *std::min_element(lat.begin(), lat.end());
    res.max = *std::max_element(lat.begin(), lat.end());
    double sum = 0;
    for (double v : lat) sum += v;
    res.avg = sum / static_cast<double>(lat.size());
  }
  const int64_t batch = cm.inputs().empty() || cm.inputs()[0].shape.empty()
                            ? 1
                            : std::max<int64_t>(1, cm.inputs()[0].shape[0]);
  // benchmark_app: sync FPS from the median latency, async from count over duration.
  res.fps = async ? (res.duration_ms > 0
                         ? static_cast<double>(batch * res.count) * 1000.0 / res.duration_ms
                         : 0)
                  : (res.median > 0 ? static_cast<double>(batch) * 1000.0 / res.median : 0);
  if (o.pc || o.report_type != "no_counters") res.counters = reqs[0].get_profiling_info();
  return res;
}

void print_result(const Result& r, const BenchOpts& o) {
  fmt::print("Count:               {} iterations\n", r.count);
  fmt::print("Duration:            {:.2f} ms\n", r.duration_ms);
  fmt::print("Latency:\n");
  if (o.percentile != 50) fmt::print("   {}th percentile: {:.2f} ms\n", o.percentile, r.pct);
  fmt::print("   Median:           {:.2f} ms\n", r.median);
  fmt::print("   Average:          {:.2f} ms\n", r.avg);
  fmt::print("   Min:              {:.2f} ms\n", r.min);
  fmt::print("   Max:              {:.2f} ms\n", r.max);
  fmt::print("Throughput:          {:.2f} FPS\n", r.fps);
}

nlohmann::json result_json(const Result& r) {
  return {{"count", r.count},
          {"duration_ms", r.duration_ms},
          {"first_inference_ms", r.first_ms},
          {"median_ms", r.median},
          {"avg_ms", r.avg},
          {"min_ms", r.min},
          {"max_ms", r.max},
          {"percentile_ms", r.pct},
          {"fps", r.fps},
          {"nstreams", r.streams},
          {"nireq", r.nireq},
          {"nthreads", r.threads},
          {"precision", r.precision}};
}

// "f32,bf16": INFERENCE_PRECISION values for --sweep precision=...
std::vector<std::string> parse_precisions(const std::string& v) {
  std::vector<std::string> out;
  size_t a = 0;
  while (true) {
    size_t b = v.find(',', a);
    std::string p = v.substr(a, b == std::string::npos ? std::string::npos : b - a);
    if (p == "int8")
      throw InputError(
          "--sweep precision=int8: INT8 runs quantized (QDQ) models; sweep the quantized file "
          "with precision=f32");
    if (p != "f32" && p != "bf16")
      throw InputError(fmt::format("--sweep precision={}: '{}' is not f32 or bf16", v, p));
    out.push_back(p);
    if (b == std::string::npos) break;
    a = b + 1;
  }
  return out;
}

// "1..8", "1,2,4" or "3".
std::vector<int> parse_values(const std::string& key, const std::string& v) {
  std::vector<int> out;
  size_t a = 0;
  while (a <= v.size()) {
    size_t b = v.find(',', a);
    std::string part = v.substr(a, b == std::string::npos ? std::string::npos : b - a);
    size_t dots = part.find("..");
    try {
      if (dots != std::string::npos) {
        int lo = std::stoi(part.substr(0, dots)), hi = std::stoi(part.substr(dots + 2));
        if (lo > hi || hi - lo > 256) throw std::invalid_argument("range");
        for (int x = lo; x <= hi; ++x) out.push_back(x);
      } else {
        size_t used = 0;
        out.push_back(std::stoi(part, &used));
        if (used != part.size()) throw std::invalid_argument("junk");
      }
    } catch (const std::exception&) {
      throw InputError(fmt::format("--sweep {}={}: '{}' is not a number, list or range like 1..8",
                                   key, v, part));
    }
    if (b == std::string::npos) break;
    a = b + 1;
  }
  for (int x : out)
    if (x < 1) throw InputError(fmt::format("--sweep {}: values must be >= 1", key));
  return out;
}

// FPS per (nstreams x nthreads) row and nireq column, as the published OpenVINO tuning studies.
void write_heatmap_svg(const std::string& path, const std::vector<Result>& rs,
                       const std::vector<std::string>& precisions, const std::vector<int>& streams,
                       const std::vector<int>& threads, const std::vector<int>& nireqs,
                       const std::string& model) {
  const int cw = 64, ch = 32, left = 190, top = 60;
  const int W = left + cw * static_cast<int>(nireqs.size()) + 20;
  const int H =
      top + ch * static_cast<int>(precisions.size() * streams.size() * threads.size()) + 40;
  double best = 0;
  for (const auto& r : rs) best = std::max(best, r.fps);
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
      "font-family=\"sans-serif\" "
      "font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"10\" y=\"20\" font-size=\"14\">FPS, {} (rows: precision, streams x threads, "
      "columns: infer requests)</text>\n",
      W, H, fs::path(model).filename().string());
  for (size_t c = 0; c < nireqs.size(); ++c)
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">nireq {}</text>\n",
                       left + cw * static_cast<int>(c) + cw / 2, top - 8, nireqs[c]);
  int row = 0;
  for (const std::string& p : precisions)
    for (int s : streams)
      for (int t : threads) {
        svg += fmt::format(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{} {} streams x {} threads</text>\n",
            left - 8, top + row * ch + ch / 2 + 4, p, s, t);
        for (size_t c = 0; c < nireqs.size(); ++c) {
          const Result* r = nullptr;
          for (const auto& x : rs)
            if (x.precision == p && x.streams == s && x.threads == t && x.nireq == nireqs[c])
              r = &x;
          double f = r ? r->fps : 0;
          double v = best > 0 ? f / best : 0;
          int red = static_cast<int>(255 * (1 - v)), green = static_cast<int>(120 + 135 * v);
          svg += fmt::format(
              "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"rgb({},{},90)\" "
              "stroke=\"white\"/><text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
              left + cw * static_cast<int>(c), top + row * ch, cw, ch, red, green,
              left + cw * static_cast<int>(c) + cw / 2, top + row * ch + ch / 2 + 4,
              r ? fmt::format("{:.1f}", f) : std::string("-"));
        }
        ++row;
      }
  svg += "</svg>\n";
  write_file_atomic(path, svg);
}

// ONNX Runtime through ../shared/peers/ort_bench.js on the same input; its JSON line parsed.
nlohmann::json run_ort(const BenchOpts& o, const std::string& input_npy, int threads, int parallel,
                       double seconds) {
  std::string script = o.shared_dir + "/peers/ort_bench.js";
  if (!fs::exists(script))
    throw IoError(
        fmt::format("{}: not found (set VISIONRT_SHARED or --shared to the folder that "
                    "holds peers/)",
                    script));
  std::string cmd = fmt::format("node '{}' '{}' --threads {} --parallel {} --seconds {} {} 2>&1",
                                script, o.model, threads, parallel, seconds, input_npy);
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw IoError("cannot start node for the ONNX Runtime peer");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int rc = pclose(p);
  size_t brace = out.rfind('{');
  if (rc != 0 || brace == std::string::npos)
    throw IoError(fmt::format("ONNX Runtime peer failed (exit {}): {}", rc, out.substr(0, 400)));
  try {
    return nlohmann::json::parse(out.substr(brace));
  } catch (const std::exception&) {
    throw IoError(fmt::format("ONNX Runtime peer printed no JSON: {}", out.substr(0, 400)));
  }
}

}  // namespace

std::function<int()> add_benchmark(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "benchmark",
      "Measure latency and throughput (OpenVINO benchmark_app's flags; -flag or --flag)");
  auto o = std::make_shared<BenchOpts>();
  cmd->add_option("-m,--model", o->model, "Model (.onnx)")->required();
  cmd->add_option("-d,--device", o->device, "Device (CPU)")->check(CLI::IsMember({"CPU"}));
  cmd->add_option("--hint", o->hint, "latency (default), throughput or none")
      ->check(CLI::IsMember({"latency", "throughput", "none"}));
  cmd->add_option("--nstreams", o->nstreams, "Streams (overrides the hint)")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--nireq", o->nireq, "Infer requests (default: the optimal number)")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--nthreads", o->nthreads, "Threads over all streams (default: all cores)")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--pin", o->pin, "Pin stream threads to cores: YES or NO")
      ->check(CLI::IsMember({"YES", "NO"}));
  cmd->add_option("--api", o->api, "sync or async (default)")
      ->check(CLI::IsMember({"sync", "async"}));
  cmd->add_option("-b,--batch", o->batch, "Batch size (models with a dynamic batch)")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--shape", o->shape,
                  "Input shape for dynamic models: [1,3,640,640] or name[1,3,640,640]");
  cmd->add_option("-t,--time", o->seconds, "Seconds to run (default 60; 3 per point in sweeps)")
      ->check(CLI::Range(0.0, 86400.0));
  cmd->add_option("--niter", o->niter, "Iterations to run (instead of -t)")
      ->check(CLI::Range(1, 100000000));
  cmd->add_option("-i,--input", o->input,
                  "Image or folder of images (letterboxed); default random");
  cmd->add_option("--infer_precision", o->precision,
                  "f32 or bf16 (default: bf16 where this CPU measurably runs it faster)");
  cmd->add_flag("--pc", o->pc, "Per-node time, kernel and layout");
  cmd->add_option("--report_type", o->report_type,
                  "no_counters, average_counters or detailed_counters")
      ->check(CLI::IsMember({"no_counters", "average_counters", "detailed_counters"}));
  cmd->add_option("--report_folder", o->report_folder,
                  "Folder for benchmark_report.csv/.json and sweep files");
  cmd->add_flag("--json_stats", o->json_stats, "Also write benchmark_report.json");
  cmd->add_option("--latency_percentile", o->percentile, "Latency percentile to report (1..100)")
      ->check(CLI::Range(1, 100));
  cmd->add_option("--sweep", o->sweep,
                  "Grid: nstreams=1,2 nireq=1..8 nthreads=1,2 precision=f32,bf16 (CSV, JSON, SVG "
                  "heatmap)")
      ->expected(1, 4);
  cmd->add_option("--peer", o->peer, "Also run this peer on the same model and input: ort")
      ->check(CLI::IsMember({"ort"}));
  cmd->add_option("--shared", o->shared_dir,
                  "Folder with peers/ (default: $VISIONRT_SHARED or ../shared)");
  return [o]() {
    const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    if (o->shared_dir.empty()) {
      const char* env = std::getenv("VISIONRT_SHARED");
      o->shared_dir = env ? env : "../shared";
    }
    if (o->nthreads > 4 * hw)
      throw InputError(
          fmt::format("-nthreads {}: more than 4x this machine's {} cores", o->nthreads, hw));
    if (o->nstreams > 0 && o->nthreads > 0 && o->nthreads < o->nstreams)
      throw InputError(fmt::format("-nstreams {} with -nthreads {}: every stream needs a thread",
                                   o->nstreams, o->nthreads));
    if (o->api == "sync" && o->nireq > 1)
      throw InputError("-api sync runs one request; -nireq needs -api async");
    const std::string folder = o->report_folder.empty() ? "." : o->report_folder;
    fmt::print("[Step 1/11] Parsing and validating input arguments\n");
    fmt::print("[Step 2/11] Loading visionrt\n[Step 3/11] Setting device configuration\n");
    fmt::print("[Step 4/11] Reading model files\n");
    Core core;
    auto t_read = clock_type::now();
    Model model = core.read_model(o->model);
    fmt::print("Read model took {:.2f} ms\n",
               std::chrono::duration<double, std::milli>(clock_type::now() - t_read).count());
    fmt::print("[Step 5/11] Resizing model to match image sizes and given batch\n");
    if (!o->shape.empty() || o->batch > 0) {
      const PortInfo& in0 = model.inputs().at(0);
      std::string name = in0.name, dims = o->shape;
      size_t br = o->shape.find('[');
      if (br != std::string::npos && br > 0) {
        name = o->shape.substr(0, br);
        dims = o->shape.substr(br);
      }
      Shape s = dims.empty() ? in0.shape : parse_shape(dims);
      if (o->batch > 0 && !s.empty()) s[0] = o->batch;
      for (int64_t d : s)
        if (d < 0) throw InputError(fmt::format("-shape: give every dimension of '{}'", name));
      model = model.reshape({{name, s}});  // refuses shapes that disagree with a static model
    }
    fmt::print("[Step 6/11] Configuring input of the model\n");
    for (const auto& p : model.inputs())
      fmt::print("    {} ({}) {}\n", p.name, dtype_name(p.dtype), shape_str(p.shape));
    if (!o->sweep.empty()) {
      std::map<std::string, std::vector<int>> grid = {
          {"nstreams", {1}}, {"nireq", {1}}, {"nthreads", {hw}}};
      // The precision axis: -infer_precision's value, or the default's.
      std::vector<std::string> precisions = {o->precision};
      for (const auto& item : o->sweep) {
        size_t eq = item.find('=');
        std::string key = item.substr(0, eq);
        if (eq != std::string::npos && key == "precision") {
          precisions = parse_precisions(item.substr(eq + 1));
          continue;
        }
        if (eq == std::string::npos || !grid.count(key))
          throw InputError(fmt::format(
              "--sweep '{}': expected nstreams=..., nireq=..., nthreads=... or precision=...",
              item));
        grid[key] = parse_values(key, item.substr(eq + 1));
      }
      BenchOpts so = *o;
      so.api = "async";
      const double secs = o->niter > 0 ? 0 : (o->seconds > 0 ? o->seconds : 3.0);
      std::vector<Result> rs;
      std::string csv = "precision,nstreams,nthreads,nireq,fps,median_ms,avg_ms,p" +
                        std::to_string(o->percentile) + "_ms,count\n";
      fmt::print(
          "[Step 7-10/11] Sweep: {} settings, {} per setting\n",
          precisions.size() * grid["nstreams"].size() * grid["nthreads"].size() *
              grid["nireq"].size(),
          o->niter > 0 ? fmt::format("{} iterations", o->niter) : fmt::format("{:.1f} s", secs));
      fmt::print("{:>9} {:>9} {:>9} {:>6} {:>9} {:>11}\n", "precision", "nstreams", "nthreads",
                 "nireq", "FPS", "median ms");
      std::vector<std::string> shown;  // precisions as compiled, for the heatmap's rows
      for (const std::string& prec : precisions)
        for (int s : grid["nstreams"])
          for (int t : grid["nthreads"]) {
            if (t < s || t > 4 * hw) {
              fmt::print("{:>9} {:>9} {:>9} {:>6} skipped: {}\n", prec.empty() ? "default" : prec,
                         s, t, "-",
                         t < s ? "fewer threads than streams" : "more than 4x the cores");
              continue;
            }
            BenchOpts po = so;
            po.precision = prec;
            CompiledModel cm = core.compile_model(model, device_config(po, s, t));
            const std::string got = cm.get_property("INFERENCE_PRECISION");
            if (std::find(shown.begin(), shown.end(), got) == shown.end()) shown.push_back(got);
            for (int q : grid["nireq"]) {
              Result r = measure(so, cm, q, secs, o->niter);
              r.threads = t;
              r.precision = got;
              fmt::print("{:>9} {:>9} {:>9} {:>6} {:>9.2f} {:>11.2f}\n", got, s, t, q, r.fps,
                         r.median);
              csv += fmt::format("{},{},{},{},{:.3f},{:.3f},{:.3f},{:.3f},{}\n", got, s, t, q,
                                 r.fps, r.median, r.avg, r.pct, r.count);
              rs.push_back(r);
            }
          }
      if (rs.empty()) throw InputError("--sweep: no valid setting in the grid");
      auto best_fps =
          *std::max_element(rs.begin(), rs.end(), [](auto& a, auto& b) { return a.fps < b.fps; });
      auto best_lat = *std::min_element(rs.begin(), rs.end(),
                                        [](auto& a, auto& b) { return a.median < b.median; });
      fmt::print("[Step 11/11] Dumping statistics report\n");
      fmt::print(
          "best throughput: {:.2f} FPS with -nstreams {} -nthreads {} -nireq {} "
          "-infer_precision {}\n",
          best_fps.fps, best_fps.streams, best_fps.threads, best_fps.nireq, best_fps.precision);
      fmt::print(
          "best latency:    {:.2f} ms median with -nstreams {} -nthreads {} -nireq {} "
          "-infer_precision {}\n",
          best_lat.median, best_lat.streams, best_lat.threads, best_lat.nireq, best_lat.precision);
      fs::create_directories(folder);
      nlohmann::json j = {{"model", o->model},
                          {"results", nlohmann::json::array()},
                          {"best_throughput", result_json(best_fps)},
                          {"best_latency", result_json(best_lat)}};
      for (const auto& r : rs) j["results"].push_back(result_json(r));
      write_file_atomic(folder + "/benchmark_sweep.csv", csv);
      write_file_atomic(folder + "/benchmark_sweep.json", j.dump(1));
      write_heatmap_svg(folder + "/benchmark_sweep.svg", rs, shown, grid["nstreams"],
                        grid["nthreads"], grid["nireq"], o->model);
      fmt::print("wrote {0}/benchmark_sweep.csv, .json and .svg\n", folder);
      return 0;
    }
    fmt::print("[Step 7/11] Loading the model to the device\n");
    auto t_comp = clock_type::now();
    CompiledModel cm = core.compile_model(model, device_config(*o, o->nstreams, o->nthreads));
    model = Model();  // the compiled model holds what it needs (weights in its kernels)
    fmt::print("Compile model took {:.2f} ms\n",
               std::chrono::duration<double, std::milli>(clock_type::now() - t_comp).count());
    fmt::print("[Step 8/11] Querying optimal runtime parameters\n");
    for (const std::string& k : cm.property_names())
      fmt::print("    {}: {}\n", k, cm.get_property(k));
    int nireq =
        o->nireq > 0 ? o->nireq : std::stoi(cm.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"));
    if (o->api == "sync") nireq = 1;
    fmt::print("[Step 9/11] Creating infer requests and preparing input tensors\n");
    const double secs = o->niter > 0 ? 0 : (o->seconds > 0 ? o->seconds : 60.0);
    fmt::print(
        "[Step 10/11] Measuring performance (Start inference {}, {} inference request{}, limits: "
        "{})\n",
        o->api == "async" ? "asynchronously" : "synchronously", nireq, nireq > 1 ? "s" : "",
        o->niter > 0 ? fmt::format("{} iterations", o->niter)
                     : fmt::format("{:.0f} ms duration", secs * 1000));
    Result r = measure(*o, cm, nireq, secs, o->niter);
    fmt::print("First inference took {:.2f} ms\n", r.first_ms);
    fmt::print("[Step 11/11] Dumping statistics report\n");
    if (!r.counters.empty())
      print_counters(r.counters, o->report_type == "detailed_counters" ? 0 : 20);
    print_result(r, *o);
    nlohmann::json j = result_json(r);
    j["model"] = o->model;
    j["api"] = o->api;
    if (!o->peer.empty()) {
      // Same input for both: request 0's tensors as .npy; alternate A B A B, medians of both.
      fs::path tmp = fs::temp_directory_path() / ("visionrt_bench_" + std::to_string(::getpid()));
      fs::create_directories(tmp);
      std::string args;
      std::vector<std::vector<Tensor>> ins = make_inputs(*o, cm.inputs(), 1);
      for (size_t i = 0; i < ins[0].size(); ++i) {
        std::string f = (tmp / ("in" + std::to_string(i) + ".npy")).string();
        write_npy(f, ins[0][i]);
        args += fmt::format(" '{}={}'", cm.inputs()[i].name, f);
      }
      const int streams = std::stoi(cm.get_property("NUM_STREAMS"));
      const int per = std::max(1, std::stoi(cm.get_property("INFERENCE_NUM_THREADS")) / streams);
      const double ps = std::min(secs > 0 ? secs : 5.0, 10.0);
      std::vector<double> ort_fps, vr_fps;
      for (int round = 0; round < 2; ++round) {
        nlohmann::json oj = run_ort(*o, args, per, streams, ps);
        ort_fps.push_back(oj.value("fps", 0.0));
        Result again = measure(*o, cm, std::max(nireq, streams), ps, 0);
        vr_fps.push_back(again.fps);
      }
      fs::remove_all(tmp);
      double of = (ort_fps[0] + ort_fps[1]) / 2, vf = (vr_fps[0] + vr_fps[1]) / 2;
      fmt::print(
          "peer ONNX Runtime ({} x {} threads, {:.0f} s x 2 rounds, alternating): {:.2f} FPS; "
          "visionrt {:.2f} FPS; ratio visionrt/ORT {:.2f}\n",
          streams, per, ps, of, vf, of > 0 ? vf / of : 0.0);
      j["peer"] = {{"name", "onnxruntime"},
                   {"fps", of},
                   {"visionrt_fps", vf},
                   {"ratio", of > 0 ? vf / of : 0.0}};
    }
    if (o->json_stats || o->report_type != "no_counters" || !o->report_folder.empty()) {
      fs::create_directories(folder);
      std::string csv = "Command line parameters\nmodel;" + o->model + "\napi;" + o->api +
                        "\n\nExecution results\n" +
                        fmt::format(
                            "count;{}\nduration_ms;{:.3f}\nmedian_ms;{:.3f}\navg_ms;{:.3f}\n"
                            "min_ms;{:.3f}\nmax_ms;{:.3f}\nfps;{:.3f}\n",
                            r.count, r.duration_ms, r.median, r.avg, r.min, r.max, r.fps);
      if (!r.counters.empty()) {
        csv += "\nlayerName;opType;kernel;layout;step;avgMs\n";
        for (const auto& p : r.counters)
          csv += fmt::format("{};{};{};{};{};{:.4f}\n", p.node, p.op, p.kernel, p.layout, p.step,
                             p.count ? p.total_ms / static_cast<double>(p.count) : 0.0);
      }
      write_file_atomic(folder + "/benchmark_report.csv", csv);
      if (o->json_stats) write_file_atomic(folder + "/benchmark_report.json", j.dump(1));
      fmt::print("reports in {}\n", folder);
    }
    return 0;
  };
}

}  // namespace visionrt::cli
