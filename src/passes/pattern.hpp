// Small helpers for rewriting passes: who reads a value, and replacing a chain of nodes by one.
#pragma once
#include <algorithm>
#include <vector>

#include "graph/graph.hpp"

namespace visionrt {

struct Uses {
  std::vector<std::vector<int>> readers;  // per value: node indices reading it (once per node)
  std::vector<char> graph_output;         // per value
  explicit Uses(const Graph& g) : readers(g.values.size()), graph_output(g.values.size(), 0) {
    for (size_t n = 0; n < g.nodes.size(); ++n)
      for (int i : g.nodes[n].inputs)
        if (i >= 0 && (readers[i].empty() || readers[i].back() != static_cast<int>(n)))
          readers[i].push_back(static_cast<int>(n));
    for (int o : g.outputs) graph_output[o] = 1;
  }
  // Read only by node `n` (and not a graph output).
  bool only_reader(int v, int n) const {
    return !graph_output[v] && readers[v].size() == 1 && readers[v][0] == n;
  }
};

// Removes nodes marked dead (keeping order) and recomputes producers.
inline void erase_dead(Graph& g, const std::vector<char>& dead) {
  std::vector<Node> kept;
  kept.reserve(g.nodes.size());
  for (size_t n = 0; n < g.nodes.size(); ++n)
    if (!dead[n]) kept.push_back(std::move(g.nodes[n]));
  g.nodes = std::move(kept);
  g.relink();
}

// The value a single-input, single-output node reads, or -1.
inline int sole_input(const Node& n) {
  int v = -1;
  for (size_t k = 0; k < n.inputs.size(); ++k)
    if (n.inputs[k] >= 0) {
      if (k > 0) return -1;
      v = n.inputs[k];
    }
  return n.outputs.size() == 1 ? v : -1;
}

// Sweeps the nodes until a sweep rewrites nothing. `rewrite(ci, uses, dead, touched)` looks
// at node ci, and when it rewrites, marks the nodes it removed in `dead` and the ones it changed
// in `touched` (neither is looked at again in this sweep) and returns true. Dead nodes are
// erased after each sweep. Returns the number of rewrites.
template <typename F>
size_t rewrite_to_fixpoint(Graph& g, F&& rewrite) {
  size_t n = 0;
  for (bool changed = true; changed;) {
    changed = false;
    Uses u(g);
    std::vector<char> dead(g.nodes.size(), 0), touched(g.nodes.size(), 0);
    for (size_t ci = 0; ci < g.nodes.size(); ++ci)
      if (!touched[ci] && !dead[ci] && rewrite(ci, u, dead, touched)) ++n, changed = true;
    if (changed) erase_dead(g, dead);
  }
  return n;
}

}  // namespace visionrt
