// Best-of-N wall time of a callable, after one warm-up call (bench/dnnl_precision_probe).
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

}  // namespace visionrt
