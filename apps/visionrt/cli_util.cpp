// Helpers shared by the CLI's subcommands (see cli_util.hpp).
#include "cli_util.hpp"

#include <filesystem>

#include <fmt/core.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>

#include "visionrt/error.hpp"

namespace visionrt::cli {

Shape parse_shape(const std::string& given) {
  std::string s = given;
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  Shape shape;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find_first_of("x,", start);
    std::string part = s.substr(start, end == std::string::npos ? std::string::npos : end - start);
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != part.size() || part.empty() || v <= 0 || v > (1LL << 31))
      throw Error(
          fmt::format("shape '{}': dimensions must be positive integers like 1x3x640x640", s));
    shape.push_back(v);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return shape;
}

// Per-node table sorted by time (slowest first), then per op type and kernel.
void print_counters(std::vector<ProfilingInfo> prof, int top) {
  double total = 0;
  for (const auto& p : prof) total += p.total_ms;
  std::map<std::string, std::pair<double, int>> by_type;
  for (const auto& p : prof) {
    auto& e = by_type[p.op + " [" + p.kernel + "]"];
    e.first += p.total_ms;
    e.second++;
  }
  std::stable_sort(prof.begin(), prof.end(), [](const ProfilingInfo& a, const ProfilingInfo& b) {
    return a.total_ms > b.total_ms;
  });
  fmt::print("{:<40} {:<18} {:<8} {:<7} {:<48} {:>10} {:>6}\n", "node", "op", "kernel", "step",
             "layout", "avg ms", "%");
  size_t shown = 0;
  for (const auto& p : prof) {
    if (top > 0 && shown++ >= static_cast<size_t>(top)) break;
    double avg = p.count ? p.total_ms / static_cast<double>(p.count) : 0;
    fmt::print("{:<40} {:<18} {:<8} {:<7} {:<48} {:>10.4f} {:>6.2f}\n", p.node.substr(0, 40), p.op,
               p.kernel, p.step, p.layout.substr(0, 48), avg,
               total > 0 ? 100 * p.total_ms / total : 0);
  }
  std::vector<std::pair<std::string, std::pair<double, int>>> types(by_type.begin(), by_type.end());
  std::stable_sort(types.begin(), types.end(),
                   [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  int64_t runs = prof.empty() ? 1 : std::max<int64_t>(1, prof[0].count);
  fmt::print("\n{:<40} {:>6} {:>12} {:>6}\n", "op [kernel]", "nodes", "ms per run", "%");
  for (const auto& [name, e] : types)
    fmt::print("{:<40} {:>6} {:>12.3f} {:>6.2f}\n", name, e.second,
               e.first / static_cast<double>(runs), total > 0 ? 100 * e.first / total : 0);
  fmt::print("total node time per run: {:.3f} ms\n", total / static_cast<double>(runs));
}

double peak_rss_mib() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // KiB on Linux
}

std::string guess_dataset_format(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path p(path);
  return p.extension() == ".json" || p.extension() == ".gz" ? "coco"
         : fs::is_directory(p / "Annotations")              ? "voc"
                                                            : "yolo";
}

void print_progress(const std::string& label, size_t done, size_t total) {
  static const bool tty = isatty(STDERR_FILENO);
  if (!tty || total <= 1) return;
  const size_t width = 30;
  const size_t filled = width * std::min(done, total) / total;
  fmt::print(stderr, "\r{} [{}{}] {}/{}", label, std::string(filled, '='),
             std::string(width - filled, ' '), done, total);
  if (done == total) fmt::print(stderr, "\n");
  std::fflush(stderr);
}

// An unused folder: DIR, DIR2, DIR3... (as Ultralytics' runs/predict numbering).
std::filesystem::path fresh_dir(const std::filesystem::path& base) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(base, ec)) return base;
  for (int i = 2; i < 100000; ++i) {
    fs::path p = base.string() + std::to_string(i);
    if (!fs::exists(p, ec)) return p;
  }
  throw IoError(fmt::format("{}: no free output folder name", base.string()));
}

int run_reporting_errors(const std::function<int()>& action) {
  try {
    return action();
  } catch (const visionrt::Error& e) {
    std::cerr << "visionrt: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "visionrt: internal error: " << e.what() << "\n";
    return 3;
  }
}

}  // namespace visionrt::cli
