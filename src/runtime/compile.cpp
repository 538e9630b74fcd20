// The compile pipeline (see compiled_model.hpp).
#include "runtime/compiled_model.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>  // malloc_trim
#endif

#include "common/strings.hpp"
#include "kernels/node_runner.hpp"

namespace visionrt {
namespace detail {
namespace {

// Constants that every reader copied into its kernel at compile time (reordered convolution
// and matmul weights) are released from the compiled graph: it would otherwise hold every weight
// twice (and Winograd's transformed weights are up to 4x larger). Each becomes an empty tensor
// (the value's type stays); only static steps qualify, since a dynamic step infers shapes from
// its inputs at run time. Storage shared with the Model stays until the Model goes.
size_t release_copied_constants(Graph& g, const std::vector<std::unique_ptr<Kernel>>& kernels,
                                const ExecPlan& plan) {
  std::vector<char> keep(g.values.size(), 0);
  for (int o : g.outputs) keep[o] = 1;
  for (size_t n = 0; n < g.nodes.size(); ++n) {
    const auto& ins = g.nodes[n].inputs;
    const bool fixed = n < plan.steps.size() && plan.steps[n] == ExecPlan::Step::kStatic &&
                       n < kernels.size() && kernels[n];
    for (size_t i = 0; i < ins.size(); ++i)
      if (ins[i] >= 0 && (!fixed || kernels[n]->reads_at_run_time(i))) keep[ins[i]] = 1;
  }
  size_t released = 0;
  for (size_t v = 0; v < g.values.size(); ++v) {
    Value& val = g.values[v];
    if (keep[v] || !val.constant || val.constant->empty() || !val.constant->raw()) continue;
    released += val.constant->nbytes();
    val.constant = Tensor();
  }
  return released;
}

PortInfo port_of(const Graph& g, int id) {
  const Value& v = g.values[id];
  PortInfo p;
  p.name = v.name;
  p.dtype = v.type.dtype;
  p.has_rank = v.type.has_rank;
  p.shape = v.type.dims;
  p.dim_names = v.dim_names;
  p.dim_names.resize(p.shape.size());
  return p;
}

}  // namespace

std::vector<PortInfo> ports(const Graph& g, const std::vector<int>& ids) {
  std::vector<PortInfo> r;
  for (int id : ids) r.push_back(port_of(g, id));
  return r;
}

// The model file's bytes and the parsed protobuf (as large as the weights) would otherwise stay
// resident, and the compiled kernels' weights would come on top of them.
void return_free_heap() {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

int hardware_cores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

std::shared_ptr<CompiledImpl> compile(const ModelImpl& model,
                                      const std::map<std::string, std::string>& unsupported,
                                      const Config& config) {
  auto c = std::make_shared<CompiledImpl>();
  c->settings = parse_compile_config(config, hardware_cores());
  c->num_streams = c->settings.num_streams;
  c->graph = *model.graph;
  Graph& g = c->graph;
  // Unsupported ops are reported all at once, before any work.
  const std::map<std::string, std::string>& bad = unsupported;
  if (!bad.empty()) {
    std::string list;
    for (const auto& kv : bad) {
      std::string where;
      for (const auto& n : g.nodes)
        if ((n.domain.empty() ? n.op_type : n.domain + "::" + n.op_type) == kv.first) {
          where = n.name;
          break;
        }
      list += str_cat(list.empty() ? "" : "; ", kv.first, " (node '", where, "'): ", kv.second);
    }
    throw ModelError(str_cat(g.path, ": unsupported ops: ", list));
  }
  run_default_passes(g);
  // oneDNN primitives (created by the layout probes and kernel selection) take their thread
  // count from the creating thread.
  KernelThreadsScope threads_scope(c->settings.threads_per_stream);
  const Graph folded = g;
  const bool bf16 = c->settings.precision == "bf16";
  c->pass_stats = run_cpu_passes(g, preferred_layout_block(), bf16);
  c->inputs = ports(g, g.inputs);
  c->outputs = ports(g, g.outputs);
  // Kernel selection; returns the first node no kernel accepts (empty when all are covered).
  auto select_all = [&]() -> std::string {
    c->decisions.clear();
    c->kernel_names.clear();
    c->kernels.clear();
    for (const Node& n : g.nodes) {
      KernelQuery q = query_for(g, n);
      std::string chosen, why;
      auto k = select_kernel(q, "", &chosen, &why);
      if (!k) return str_cat(g.path, ": node ", n.label(), ": no kernel accepts it: ", why);
      c->decisions.push_back(
          str_cat(n.label(), ": ", chosen, why.empty() ? "" : " (declined: " + why + ")"));
      c->kernel_names.push_back(chosen);
      c->kernels.push_back(std::move(k));
    }
    return "";
  };
  std::string failed = select_all();
  if (!failed.empty() && c->pass_stats.bf16_compute) {
    // A bf16 tensor no kernel accepts (the precision pass's checks are the kernels' own, so
    // this means a kernel disagreed with its layout probe): f32 everywhere, and say why.
    g = folded;
    c->pass_stats = run_cpu_passes(g, preferred_layout_block(), false);
    c->settings.precision = "f32";
    c->settings.precision_reason = str_cat("bf16 failed: ", failed);
    failed = select_all();
  }
  if (!failed.empty() && c->pass_stats.blocked_nodes) {
    // A blocked layout no kernel accepts: plain layouts everywhere, and say why.
    g = folded;
    c->pass_stats = run_cpu_passes(g, 0, c->settings.precision == "bf16");
    std::string again = select_all();
    if (!again.empty()) throw ModelError(again);
    c->decisions.push_back(str_cat("layouts: plain everywhere because ", failed));
  } else if (!failed.empty()) {
    throw ModelError(failed);
  }
  if (!c->settings.precision_reason.empty())
    c->decisions.push_back(
        str_cat("precision: ", c->settings.precision, " (", c->settings.precision_reason, ")"));
  // VISIONRT_VERBOSE=1 prints every kernel decision (ARCHITECTURE practice 2).
  if (const char* v = std::getenv("VISIONRT_VERBOSE"); v && std::string(v) != "0")
    for (const auto& d : c->decisions) std::fprintf(stderr, "visionrt: kernel %s\n", d.c_str());
  std::vector<size_t> scratch;
  for (const auto& k : c->kernels) scratch.push_back(k->scratch_bytes());
  c->plan = ExecPlan::build(g, c->kernel_names, scratch);
  c->layouts.resize(g.nodes.size());
  for (size_t n = 0; n < g.nodes.size(); ++n)
    c->layouts[n] = c->kernels[n] ? c->kernels[n]->layout() : "";
  c->released_constant_bytes = release_copied_constants(g, c->kernels, c->plan);
  // THROUGHPUT's second criterion, model size: the optimal number of requests (one per stream)
  // must keep their arenas within a quarter of physical memory (VISIONRT_MEMORY_BUDGET_BYTES
  // overrides the budget). The streams keep the threads they were compiled for.
  if (c->settings.hint == "THROUGHPUT" && c->settings.streams == 0) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    double budget = pages > 0 && page > 0 ? static_cast<double>(pages) * page / 4 : 1e18;
    if (const char* env = std::getenv("VISIONRT_MEMORY_BUDGET_BYTES")) budget = std::atof(env);
    const double per_request = static_cast<double>(std::max<size_t>(c->plan.arena_bytes, 1));
    const int cap = static_cast<int>(std::max(1.0, std::min(1e6, budget / per_request)));
    c->num_streams = std::min(c->num_streams, cap);
  }
  c->streams = std::make_shared<StreamExecutor>(c->num_streams, c->settings.threads_per_stream,
                                                c->settings.pinning);
  return_free_heap();
  return c;
}

}  // namespace detail
}  // namespace visionrt
