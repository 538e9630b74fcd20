// visionrt CLI entry: parses the subcommand, runs it, and turns every error into one clear line
// on stderr with a non-zero exit.
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "cli_util.hpp"
#include "commands.hpp"
#include "visionrt/error.hpp"

namespace {

// `visionrt train ...` runs visionrt-train (built beside this binary when libtorch-dev is
// installed), so that only training loads libtorch.
int forward_to_train(int argc, char** argv) {
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) self = argv[0];
  const std::filesystem::path exe = self.parent_path() / "visionrt-train";
  if (!std::filesystem::exists(exe, ec)) {
    std::cerr << "visionrt: error: this build has no training: " << exe.string()
              << " is absent (libtorch-dev was not installed when visionrt was configured; "
                 "scripts/setup installs it, then rebuild)\n";
    return 1;
  }
  std::vector<std::string> args{exe.string()};
  for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
  std::vector<char*> ptrs;
  for (auto& a : args) ptrs.push_back(a.data());
  ptrs.push_back(nullptr);
  execv(exe.c_str(), ptrs.data());
  std::cerr << "visionrt: error: cannot run " << exe.string() << ": " << std::strerror(errno)
            << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "train") return forward_to_train(argc, argv);
  CLI::App app{"visionrt: run detection and segmentation models fast on CPUs"};
  app.require_subcommand(1);
  std::vector<std::pair<CLI::App*, std::function<int()>>> cmds;
  auto add = [&](std::function<int()> (*f)(CLI::App&)) {
    size_t before = app.get_subcommands({}).size();
    auto action = f(app);
    cmds.emplace_back(app.get_subcommands({})[before], std::move(action));
  };
  add(visionrt::cli::add_info);
  add(visionrt::cli::add_run);
  add(visionrt::cli::add_demo_model);
  add(visionrt::cli::add_eval);
  add(visionrt::cli::add_predict);
  add(visionrt::cli::add_demo_image);
  add(visionrt::cli::add_convert);
  add(visionrt::cli::add_benchmark);
  add(visionrt::cli::add_quantize);
  add(visionrt::cli::add_serve);
  // benchmark takes benchmark_app's single-dash long flags (-nstreams 2): CLI11 spells them
  // with two dashes.
  std::vector<std::string> args(argv, argv + argc);
  if (argc > 1 && args[1] == "benchmark")
    for (size_t i = 2; i < args.size(); ++i)
      if (args[i].size() > 2 && args[i][0] == '-' && args[i][1] != '-' &&
          std::isalpha(static_cast<unsigned char>(args[i][1])))
        args[i] = "-" + args[i];
  std::vector<char*> ptrs;
  for (auto& a : args) ptrs.push_back(a.data());
  try {
    app.parse(static_cast<int>(ptrs.size()), ptrs.data());
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  for (auto& [sub, action] : cmds)
    if (sub->parsed()) return visionrt::cli::run_reporting_errors(action);
  return 0;
}
