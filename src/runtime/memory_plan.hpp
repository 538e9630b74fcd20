// Static memory planning: every intermediate tensor whose size is known at compile time gets an
// offset in one arena, chosen from liveness so that tensors alive at the same time never
// overlap. Greedy by size, best fit: the largest buffers are placed first, each in the smallest
// gap left by already placed buffers whose lifetimes intersect its own (the strategy TFLite's
// and OpenVINO's planners use; within a few percent of the lower bound on CNNs).
#pragma once
#include <cstddef>
#include <vector>

namespace visionrt {

struct BufferRequest {
  size_t bytes = 0;
  int first = 0;  // index of the step that writes it
  int last = 0;   // index of the last step that reads it (>= first)
};

struct MemoryPlan {
  std::vector<size_t> offsets;  // per request, multiples of `alignment`
  size_t arena_bytes = 0;
  // The largest total size of buffers alive at one step: no plan can use less.
  size_t lower_bound = 0;
};

MemoryPlan plan_memory(const std::vector<BufferRequest>& requests, size_t alignment = 64);

}  // namespace visionrt
