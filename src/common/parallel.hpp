// The one way visionrt's own kernels go parallel (ARCHITECTURE practice 9): parallel_for splits
// [0, n) into contiguous chunks over at most `threads` threads. Each index is processed by
// exactly one thread in a fixed order, so results do not depend on the thread count.
// The team is GNU OpenMP's, the same pool oneDNN's primitives use: threads are created once and
// reused (starting threads per call costs about a millisecond on this VM: fresh stack pages).
// libgomp's entry point is called directly, so no -fopenmp is needed (clang builds included).
#pragma once
#include <algorithm>
#include <cstdint>
#include <exception>
#include <vector>

extern "C" void GOMP_parallel(void (*fn)(void*), void* data, unsigned num_threads, unsigned flags);
extern "C" int omp_get_thread_num() noexcept;
extern "C" int omp_get_num_threads() noexcept;

namespace visionrt {

template <typename F>
void parallel_for(int64_t n, int threads, F&& fn) {
  int64_t t = std::min<int64_t>(std::max(threads, 1), n);
  if (t <= 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  struct Job {
    F* fn;
    int64_t n, chunk;
    std::vector<std::exception_ptr> errors;
  } job{&fn, n, (n + t - 1) / t, std::vector<std::exception_ptr>(static_cast<size_t>(t))};
  GOMP_parallel(
      [](void* p) {
        Job& j = *static_cast<Job*>(p);
        // Chunks are fixed by the requested count; a smaller team (thread limits, nesting)
        // takes several each, so every chunk runs exactly once.
        const int64_t chunks = static_cast<int64_t>(j.errors.size());
        for (int64_t c = omp_get_thread_num(); c < chunks; c += omp_get_num_threads()) {
          try {
            for (int64_t i = c * j.chunk; i < std::min(j.n, (c + 1) * j.chunk); ++i) (*j.fn)(i);
          } catch (...) {
            j.errors[static_cast<size_t>(c)] = std::current_exception();
          }
        }
      },
      &job, static_cast<unsigned>(t), 0);
  for (auto& e : job.errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace visionrt
