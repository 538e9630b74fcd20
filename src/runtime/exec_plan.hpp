// Compile once, run many (ARCHITECTURE practice 4). ExecPlan is decided at compile time from the
// optimized graph: which nodes have static output shapes (their outputs live at fixed offsets of
// one arena per request, planned from liveness), which nodes are pure views (Reshape, Flatten,
// Squeeze, Unsqueeze, Identity: no kernel runs, the output aliases the input's memory), and which
// must infer shapes and allocate at run time (data-dependent shapes: NonZero, NMS, and whatever
// follows them). Executor is one request's state: arena, output buffers and the prebuilt
// argument lists, so a static network executes without allocating or inferring anything.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "graph/graph.hpp"
#include "kernels/kernel.hpp"
#include "visionrt/core.hpp"

namespace visionrt {

struct ExecPlan {
  enum class Step : uint8_t { kStatic, kDynamic, kView };
  std::vector<Step> steps;           // per node
  std::vector<char> zero_fill;       // per node: reference kernel, zero its planned outputs
  std::vector<int> value_buffer;     // per value: planned buffer holding it (-1: none)
  std::vector<size_t> value_offset;  // per value: byte offset inside that buffer
  std::vector<char> in_place;        // per node: a Concat whose inputs were written in place
  std::vector<int> last_use;         // per value: last node reading it (-1: none)
  std::vector<char> graph_output;    // per value
  struct Buffer {
    size_t bytes = 0, offset = 0;
    bool pinned = false;  // holds a graph output: own allocation, never shared
  };
  std::vector<Buffer> buffers;
  size_t arena_bytes = 0;        // one arena per request
  size_t arena_lower_bound = 0;  // busiest step: no plan can do with less
  size_t pinned_bytes = 0;
  size_t planned_bytes = 0;  // sum of planned buffers without reuse

  std::vector<int> scratch_buffer;  // per node: buffer of its kernel's scratch (-1: none)
  static ExecPlan build(const Graph& g, const std::vector<std::string>& kernel_names,
                        const std::vector<size_t>& scratch_bytes = {});
  std::string summary() const;  // "arena 12.3 MiB (lower bound ...), ..."
};

using NodeProfile = ProfilingInfo;

class Executor {
 public:
  Executor(const Graph& g, const ExecPlan& plan, const std::vector<std::unique_ptr<Kernel>>& k);
  // inputs: one per graph input (already validated); outputs: one per graph output, views of
  // this request's buffers valid until the next run.
  void run(const std::vector<Tensor>& inputs, int num_threads, std::vector<Tensor>* outputs);
  void enable_profiling(const std::vector<std::string>& kernel_names,
                        const std::vector<std::string>& layouts);
  const std::vector<NodeProfile>& profile() const { return profile_; }

 private:
  void build_buffers();
  const Tensor* slot(int value) const;
  // The outs_ element a node output value lives in (value must have a producer).
  Tensor& produced(int value) { return outs_[g_.values[value].producer][output_index(value)]; }
  size_t output_index(int value) const;  // position among its producer's outputs

  const Graph& g_;
  const ExecPlan& plan_;
  const std::vector<std::unique_ptr<Kernel>>& kernels_;
  std::shared_ptr<void> arena_;
  std::vector<std::shared_ptr<void>> pinned_;
  std::vector<std::vector<Tensor>> outs_;          // per node
  std::vector<KernelContext> ctxs_;                // per node, prebuilt for static nodes
  std::vector<std::vector<void*>> planned_ptr_;    // per node output, for static nodes
  std::vector<std::vector<Tensor>> planned_view_;  // per node output, for static nodes
  std::vector<char> view_ready_;                   // per node: view precomputed over the arena
  std::vector<const Tensor*> input_slots_;         // per graph input index -> request tensor
  std::vector<int> input_index_;                   // per value: graph input index or -1
  bool built_ = false;
  bool profiling_ = false;
  std::vector<NodeProfile> profile_;
};

}  // namespace visionrt
