// Latency statistics of a timed benchmark, shared by `visionrt run --seconds` and the peer
// benches: per-worker latencies pooled, percentiles as ort_bench.js takes them
// (sorted[floor(p * n)]), throughput as the sum of each worker's inferences per second.
#pragma once
#include <algorithm>
#include <vector>

namespace visionrt {

struct LatencyStats {
  double median_ms = 0, p90_ms = 0, mean_ms = 0, fps = 0;
  size_t count = 0;
};

inline LatencyStats latency_stats(const std::vector<std::vector<double>>& per_worker_ms,
                                  const std::vector<double>& elapsed_s) {
  LatencyStats s;
  std::vector<double> all;
  for (size_t k = 0; k < per_worker_ms.size(); ++k) {
    all.insert(all.end(), per_worker_ms[k].begin(), per_worker_ms[k].end());
    if (k < elapsed_s.size() && elapsed_s[k] > 0)
      s.fps += static_cast<double>(per_worker_ms[k].size()) / elapsed_s[k];
  }
  if (all.empty()) return s;
  std::sort(all.begin(), all.end());
  auto q = [&](double p) {
    return all[std::min(all.size() - 1, static_cast<size_t>(p * static_cast<double>(all.size())))];
  };
  s.median_ms = q(0.5);
  s.p90_ms = q(0.9);
  for (double v : all) s.mean_ms += v;
  s.mean_ms /= static_cast<double>(all.size());
  s.count = all.size();
  return s;
}

}  // namespace visionrt
