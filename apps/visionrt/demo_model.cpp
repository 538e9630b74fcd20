// `visionrt demo-model OUT.onnx`: writes the built-in tiny detector, so the CLI can be tried
// on any machine without downloading a model.
#include <fmt/core.h>

#include "commands.hpp"
#include "onnx/builder.hpp"

namespace visionrt::cli {

std::function<int()> add_demo_model(CLI::App& app) {
  auto* cmd = app.add_subcommand("demo-model", "Write the built-in tiny YOLO-style demo model");
  auto out = std::make_shared<std::string>();
  cmd->add_option("OUT", *out, "Output .onnx path")->required();
  return [out]() {
    make_demo_detector().save(*out);
    fmt::print("wrote {}\n", *out);
    return 0;
  };
}

}  // namespace visionrt::cli
