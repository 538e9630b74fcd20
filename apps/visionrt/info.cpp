// `visionrt info MODEL`: inputs/outputs, opset, metadata, op histogram, unsupported ops.
#include <fmt/core.h>

#include <map>

#include "commands.hpp"
#include "visionrt/core.hpp"

namespace visionrt::cli {

static std::string port_shape(const PortInfo& p) {
  if (!p.has_rank) return "[*]";
  std::string s = "[";
  for (size_t i = 0; i < p.shape.size(); ++i) {
    if (i) s += ",";
    if (p.shape[i] >= 0)
      s += std::to_string(p.shape[i]);
    else
      s += p.dim_names[i].empty() ? "?" : p.dim_names[i];
  }
  return s + "]";
}

std::function<int()> add_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Describe a model: I/O, opset, metadata, ops, support");
  auto model = std::make_shared<std::string>();
  auto compiled = std::make_shared<bool>(false);
  auto verbose = std::make_shared<bool>(false);
  auto threads = std::make_shared<int>(0);
  cmd->add_option("MODEL", *model, "ONNX model file")->required();
  cmd->add_flag("--compiled", *compiled,
                "Also compile for this CPU: memory plan (arena size), fusions, blocked-layout "
                "nodes, reorders, kernels chosen per op");
  cmd->add_flag("--decisions", *verbose,
                "With --compiled: every node's kernel and why others declined");
  cmd->add_option("--threads", *threads, "With --compiled: intra-op threads (0 = all cores)")
      ->check(CLI::Range(0, 1024));
  return [model, compiled, verbose, threads]() {
    Core core;
    Model m = core.read_model(*model);
    fmt::print("model:      {}\n", m.path());
    fmt::print("producer:   {}\n", m.producer().empty() ? "(none)" : m.producer());
    fmt::print("ir_version: {}\nopset:      {}\n", m.ir_version(), m.opset());
    fmt::print("nodes:      {}\nparameters: {}\n", m.num_nodes(), m.num_parameters());
    fmt::print("inputs:\n");
    for (const auto& p : m.inputs())
      fmt::print("  {:<24} {:<5} {}\n", p.name, dtype_name(p.dtype), port_shape(p));
    fmt::print("outputs:\n");
    for (const auto& p : m.outputs())
      fmt::print("  {:<24} {:<5} {}\n", p.name,
                 p.dtype == DType::undefined ? "?" : dtype_name(p.dtype), port_shape(p));
    if (!m.metadata().empty()) {
      fmt::print("metadata:\n");
      for (const auto& [k, v] : m.metadata()) {
        std::string shown = v.size() > 200 ? v.substr(0, 200) + "..." : v;
        fmt::print("  {}: {}\n", k, shown);
      }
    }
    fmt::print("ops:\n");
    for (const auto& [op, n] : m.op_histogram()) fmt::print("  {:<24} {}\n", op, n);
    auto bad = m.unsupported_ops();
    if (bad.empty()) {
      fmt::print("unsupported ops: none\n");
    } else {
      fmt::print("unsupported ops:\n");
      for (const auto& [op, why] : bad) fmt::print("  {:<24} {}\n", op, why);
    }
    if (*compiled) {
      CompiledModel cm =
          core.compile_model(m, {{"INFERENCE_NUM_THREADS", std::to_string(*threads)}});
      fmt::print("compiled ({} threads):\n  {}\n", cm.get_property("INFERENCE_NUM_THREADS"),
                 cm.plan_summary());
      std::map<std::string, int> per_kernel;
      for (const auto& d : cm.kernel_decisions()) {
        // "Op 'name': kernel (declined: ...)"
        auto q = d.find("': ");
        if (q == std::string::npos) continue;
        std::string op = d.substr(0, d.find(' '));
        std::string k = d.substr(q + 3, d.find(' ', q + 3) - (q + 3));
        per_kernel[op + " [" + k + "]"]++;
      }
      fmt::print("kernels:\n");
      for (const auto& [k, n] : per_kernel) fmt::print("  {:<40} {}\n", k, n);
      if (*verbose)
        for (const auto& d : cm.kernel_decisions()) fmt::print("  {}\n", d);
    }
    return 0;
  };
}

}  // namespace visionrt::cli
