// The one way kernels go parallel (ARCHITECTURE practice 9): parallel_for splits [0, n) into
// contiguous chunks over at most `threads` threads. Each index is processed by exactly one
// thread in a fixed order, so results do not depend on the thread count. This version starts
// threads per call (fine for the reference kernels); the stream executor replaces the team.
#pragma once
#include <algorithm>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

namespace visionrt {

template <typename F>
void parallel_for(int64_t n, int threads, F&& fn) {
  int64_t t = std::min<int64_t>(std::max(threads, 1), n);
  if (t <= 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::vector<std::thread> team;
  std::vector<std::exception_ptr> errors(static_cast<size_t>(t));
  int64_t chunk = (n + t - 1) / t;
  for (int64_t k = 0; k < t; ++k) {
    team.emplace_back([&, k] {
      try {
        for (int64_t i = k * chunk; i < std::min(n, (k + 1) * chunk); ++i) fn(i);
      } catch (...) {
        errors[static_cast<size_t>(k)] = std::current_exception();
      }
    });
  }
  for (auto& th : team) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace visionrt
