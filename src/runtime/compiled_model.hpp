// The compiled model's state and the compile pipeline, apart from the infer-request state
// machine (core.cpp): validation (every unsupported op reported at once), the default and CPU
// passes, kernel selection with its fallbacks (f32 when a bf16 graph finds no kernel, plain
// layouts when a blocked one does not), the static memory plan, releasing weights the kernels
// copied, THROUGHPUT's stream cap and the stream executor.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graph/graph.hpp"
#include "kernels/kernel.hpp"
#include "passes/passes.hpp"
#include "runtime/exec_plan.hpp"
#include "runtime/properties.hpp"
#include "runtime/stream_executor.hpp"
#include "visionrt/core.hpp"

namespace visionrt {
namespace detail {

struct ModelImpl {
  std::shared_ptr<const Graph> graph;
  std::vector<PortInfo> inputs, outputs;
};

struct CompiledImpl {
  Graph graph;
  std::vector<PortInfo> inputs, outputs;
  std::vector<std::unique_ptr<Kernel>> kernels;  // one per node
  std::vector<std::string> kernel_names;
  std::vector<std::string> decisions;
  std::vector<std::string> layouts;  // per node, for profiles
  ExecPlan plan;
  CpuPassStats pass_stats;
  size_t released_constant_bytes = 0;  // weights the kernels copied, dropped from the graph
  CompileSettings settings;            // what the Config asked for (runtime/properties.hpp)
  int num_streams = 1;                 // settings' count after THROUGHPUT's memory cap
  std::shared_ptr<StreamExecutor> streams;
};

// Compiles `model` (whose unsupported ops, by "domain::op" with their reasons, are given) under
// `config`. Throws Error for a bad Config, ModelError for a model no kernel set can run.
std::shared_ptr<CompiledImpl> compile(const ModelImpl& model,
                                      const std::map<std::string, std::string>& unsupported,
                                      const Config& config);

// Graph values as the public API describes them.
std::vector<PortInfo> ports(const Graph& g, const std::vector<int>& ids);
// Gives the heap glibc keeps after large temporaries back to the system.
void return_free_heap();
int hardware_cores();

}  // namespace detail
}  // namespace visionrt
