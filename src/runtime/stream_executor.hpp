// Stream executor (ARCHITECTURE practice 9): `streams` worker threads, each running whole
// inferences one at a time with its own OpenMP team of `threads_per_stream` (libgomp keeps one
// team per calling thread, so every inference runs on the same threads and teams never
// compete; running inferences on arbitrary caller threads made two teams spin against each
// other and halved the speed). With pinning, stream i's thread (and the team it creates, which
// inherits the mask) is bound to cores [i*t, (i+1)*t) modulo the machine's cores.
#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace visionrt {

class StreamExecutor {
 public:
  StreamExecutor(int streams, int threads_per_stream, bool pin);
  ~StreamExecutor();  // runs what is queued, then joins the workers
  StreamExecutor(const StreamExecutor&) = delete;
  StreamExecutor& operator=(const StreamExecutor&) = delete;

  // Queues a task; the first idle stream runs it. Tasks must not throw.
  void submit(std::function<void()> task);
  int streams() const { return static_cast<int>(threads_.size()); }
  int threads_per_stream() const { return threads_per_stream_; }
  bool pinned() const { return pin_; }

 private:
  void worker(int index);
  int threads_per_stream_;
  bool pin_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace visionrt
