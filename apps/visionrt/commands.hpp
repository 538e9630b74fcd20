// Subcommand registration: one file per subcommand, each a thin layer over the library.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>

namespace visionrt::cli {

// Each returns the action to run when its subcommand was chosen (exit code).
std::function<int()> add_info(CLI::App& app);
std::function<int()> add_run(CLI::App& app);
std::function<int()> add_demo_model(CLI::App& app);
std::function<int()> add_eval(CLI::App& app);
std::function<int()> add_predict(CLI::App& app);
std::function<int()> add_demo_image(CLI::App& app);
std::function<int()> add_convert(CLI::App& app);
std::function<int()> add_benchmark(CLI::App& app);
std::function<int()> add_quantize(CLI::App& app);
std::function<int()> add_serve(CLI::App& app);

}  // namespace visionrt::cli
