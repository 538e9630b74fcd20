// Stream executor (see stream_executor.hpp).
#include "runtime/stream_executor.hpp"

#include <pthread.h>
#include <sched.h>

namespace visionrt {

StreamExecutor::StreamExecutor(int streams, int threads_per_stream, bool pin)
    : threads_per_stream_(threads_per_stream), pin_(pin) {
  for (int i = 0; i < streams; ++i) threads_.emplace_back([this, i] { worker(i); });
}

StreamExecutor::~StreamExecutor() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void StreamExecutor::submit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
}

void StreamExecutor::worker(int index) {
  if (pin_) {
    const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int k = 0; k < threads_per_stream_; ++k)
      CPU_SET((index * threads_per_stream_ + k) % hw, &set);
    // Best effort: a container may forbid some cores; the stream then runs unpinned.
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  }
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

}  // namespace visionrt
