// `visionrt info MODEL`: inputs/outputs, opset, metadata, op histogram, unsupported ops.
#include <fmt/core.h>

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
  cmd->add_option("MODEL", *model, "ONNX model file")->required();
  return [model]() {
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
    return 0;
  };
}

}  // namespace visionrt::cli
