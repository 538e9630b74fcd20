// Greedy-by-size best-fit offset assignment (see memory_plan.hpp).
#include "runtime/memory_plan.hpp"

#include <algorithm>
#include <limits>
#include <numeric>

namespace visionrt {

MemoryPlan plan_memory(const std::vector<BufferRequest>& requests, size_t alignment) {
  MemoryPlan plan;
  const size_t n = requests.size();
  plan.offsets.assign(n, 0);
  auto aligned = [&](size_t b) { return (b + alignment - 1) / alignment * alignment; };
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  // Largest first; ties by earlier start, then index, so plans are deterministic.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (requests[a].bytes != requests[b].bytes) return requests[a].bytes > requests[b].bytes;
    return requests[a].first < requests[b].first;
  });
  std::vector<size_t> placed;  // indices already assigned, kept sorted by offset
  for (size_t r : order) {
    const BufferRequest& q = requests[r];
    const size_t need = aligned(std::max<size_t>(q.bytes, 1));
    size_t best = std::numeric_limits<size_t>::max(), best_gap = best, cursor = 0;
    for (size_t p : placed) {
      const BufferRequest& o = requests[p];
      if (o.last < q.first || q.last < o.first) continue;  // lifetimes disjoint
      if (plan.offsets[p] >= cursor) {
        size_t gap = plan.offsets[p] - cursor;
        if (gap >= need && gap < best_gap) best = cursor, best_gap = gap;
      }
      cursor = std::max(cursor, plan.offsets[p] + aligned(std::max<size_t>(o.bytes, 1)));
    }
    if (best == std::numeric_limits<size_t>::max()) best = cursor;
    plan.offsets[r] = best;
    plan.arena_bytes = std::max(plan.arena_bytes, best + need);
    placed.insert(
        std::upper_bound(placed.begin(), placed.end(), r,
                         [&](size_t a, size_t b) { return plan.offsets[a] < plan.offsets[b]; }),
        r);
  }
  // Lower bound: the busiest step.
  int steps = 0;
  for (const auto& q : requests) steps = std::max(steps, q.last + 1);
  std::vector<size_t> live(static_cast<size_t>(steps) + 1, 0);
  for (const auto& q : requests)
    for (int s = q.first; s <= q.last; ++s) live[static_cast<size_t>(s)] += aligned(q.bytes);
  for (size_t v : live) plan.lower_bound = std::max(plan.lower_bound, v);
  return plan;
}

}  // namespace visionrt
