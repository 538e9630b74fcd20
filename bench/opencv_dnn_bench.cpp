// OpenCV DNN (Debian's 4.x, CPU backend) as a benchmark peer, with the same interface and output
// as ../shared/peers/ort_bench.js: P networks in P threads, each with T threads, for S seconds
// after a 1 s warm-up, one JSON line (median/p90/mean latency ms, FPS). Prints
// {"error": ...} and exits 3 when OpenCV cannot load or run the model.
// Usage: opencv_dnn_bench MODEL.onnx [--threads T] [--parallel P] [--seconds S] NAME=in.npy...
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "common/latency_stats.hpp"
#include "common/npy.hpp"

namespace {

std::string json_escape(std::string s) {
  std::string r;
  for (char c : s) {
    if (c == '"' || c == '\\') r += '\\';
    if (c == '\n') {
      r += "\\n";
      continue;
    }
    r += c;
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s MODEL.onnx [--threads T] [--parallel P] [--seconds S] NAME=in.npy...\n",
                 argv[0]);
    return 2;
  }
  std::string model = argv[1];
  int threads = 1, parallel = 1;
  double seconds = 10;
  std::vector<std::pair<std::string, std::string>> feeds;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc)
      threads = std::atoi(argv[++i]);
    else if (a == "--parallel" && i + 1 < argc)
      parallel = std::atoi(argv[++i]);
    else if (a == "--seconds" && i + 1 < argc)
      seconds = std::atof(argv[++i]);
    else if (a.find('=') != std::string::npos)
      feeds.push_back({a.substr(0, a.find('=')), a.substr(a.find('=') + 1)});
    else {
      std::fprintf(stderr, "opencv_dnn_bench: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (threads < 1 || parallel < 1 || seconds <= 0) {
    std::fprintf(stderr,
                 "opencv_dnn_bench: --threads, --parallel and --seconds must be positive\n");
    return 2;
  }
  // OpenCV's thread pool is process-wide: P parallel networks share T * P threads.
  cv::setNumThreads(threads * parallel);
  try {
    std::vector<std::pair<std::string, cv::Mat>> inputs;
    for (const auto& [name, file] : feeds) {
      visionrt::Tensor t = visionrt::read_npy(file);
      if (t.dtype() != visionrt::DType::f32) throw std::runtime_error(file + ": only f32 inputs");
      std::vector<int> dims(t.shape().begin(), t.shape().end());
      cv::Mat m(static_cast<int>(dims.size()), dims.data(), CV_32F);
      std::memcpy(m.data, t.raw(), t.nbytes());
      inputs.push_back({name, m});
    }
    std::vector<cv::dnn::Net> nets;
    for (int p = 0; p < parallel; ++p) {
      nets.push_back(cv::dnn::readNetFromONNX(model));
      nets.back().setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
      nets.back().setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    }
    using clock = std::chrono::steady_clock;
    std::vector<std::vector<double>> lat(static_cast<size_t>(parallel));
    std::vector<double> elapsed(static_cast<size_t>(parallel));
    std::vector<std::string> errors(static_cast<size_t>(parallel));
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    auto run_once = [&](cv::dnn::Net& net) {
      for (const auto& [name, m] : inputs) net.setInput(m, name);
      std::vector<cv::Mat> outs;
      net.forward(outs, net.getUnconnectedOutLayersNames());
    };
    auto worker = [&](size_t k) {
      try {
        auto w0 = clock::now();
        do run_once(nets[k]);
        while (std::chrono::duration<double>(clock::now() - w0).count() < 1.0);
      } catch (const std::exception& e) {
        errors[k] = e.what();
      }
      ready++;
      while (!go.load()) std::this_thread::yield();
      if (!errors[k].empty()) return;
      auto t0 = clock::now();
      while (true) {
        auto a = clock::now();
        run_once(nets[k]);
        auto b = clock::now();
        lat[k].push_back(std::chrono::duration<double, std::milli>(b - a).count());
        if (std::chrono::duration<double>(b - t0).count() >= seconds && lat[k].size() >= 3) break;
      }
      elapsed[k] = std::chrono::duration<double>(clock::now() - t0).count();
    };
    std::vector<std::thread> team;
    for (size_t k = 0; k < static_cast<size_t>(parallel); ++k) team.emplace_back(worker, k);
    while (ready.load() < parallel) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    go = true;
    for (auto& t : team) t.join();
    for (const auto& e : errors)
      if (!e.empty()) throw std::runtime_error(e);
    visionrt::LatencyStats st = visionrt::latency_stats(lat, elapsed);
    std::printf(
        "{\"runtime\":\"opencv-dnn %s\",\"threads\":%d,\"parallel\":%d,\"median_ms\":%.3f,"
        "\"p90_ms\":%.3f,\"mean_ms\":%.3f,\"fps\":%.2f,\"count\":%zu}\n",
        CV_VERSION, threads, parallel, st.median_ms, st.p90_ms, st.mean_ms, st.fps, st.count);
  } catch (const std::exception& e) {
    std::printf("{\"error\":\"%s\"}\n", json_escape(e.what()).c_str());
    return 3;
  }
  return 0;
}
