// Best-of-N wall time of a callable, after one warm-up call (bench/dnnl_precision_probe, the
// kernels' timed choices at compile).
#pragma once
#include <algorithm>
#include <chrono>

namespace visionrt {

template <typename F>
double best_ms(int repeats, F&& f) {
  f();
  double best = 1e30;
  for (int i = 0; i < repeats; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(
        best,
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

// The same in seconds, where a warm-up call longer than `enough_s` is the answer itself (a long
// layer: one run tells, and compile does not wait for more).
template <typename F>
double best_seconds(int repeats, double enough_s, F&& f) {
  auto timed = [&f] {
    auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  const double warm = timed();
  if (warm > enough_s) return warm;
  double best = 1e30;
  for (int i = 0; i < repeats; ++i) best = std::min(best, timed());
  return best;
}

}  // namespace visionrt
