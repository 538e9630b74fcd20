// `visionrt demo-model OUT.onnx`: writes the built-in tiny detector, so the CLI can be tried
// on any machine without downloading a model.
#include <fmt/core.h>

#include "commands.hpp"
#include "onnx/builder.hpp"

namespace visionrt::cli {

std::function<int()> add_demo_model(CLI::App& app) {
  auto* cmd = app.add_subcommand("demo-model", "Write the built-in tiny YOLO-style demo model");
  auto out = std::make_shared<std::string>();
  auto kind = std::make_shared<std::string>("tiny-detector");
  cmd->add_option("OUT", *out, "Output .onnx path")->required();
  cmd->add_option(
         "--kind", *kind,
         "tiny-detector (default: the built-in YOLO-style demo) or ssd300-vgg16 (the "
         "original SSD300 architecture with seeded random weights, ~100 MB, for benchmarks)")
      ->check(CLI::IsMember({"tiny-detector", "ssd300-vgg16"}));
  return [out, kind]() {
    (*kind == "ssd300-vgg16" ? make_ssd300_vgg16() : make_demo_detector()).save(*out);
    fmt::print("wrote {}\n", *out);
    return 0;
  };
}

}  // namespace visionrt::cli
