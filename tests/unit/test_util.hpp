// Helpers shared by the unit tests: paths to ../shared and the peers, temp dirs, running the CLI.
#pragma once
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

namespace visionrt::test {

inline std::string shared_dir() {
  const char* env = std::getenv("VISIONRT_SHARED");
  return env ? env : VISIONRT_SHARED_DIR;
}

inline std::string peers_dir() {
  const char* env = std::getenv("VISIONRT_PEERS");
  if (env) return env;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/root") + "/.cache/visionrt-peers";
}

inline std::filesystem::path temp_dir(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() /
           ("visionrt_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}

// The message of the E that f throws, or "(no error)".
template <typename E>
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "(no error)";
}

// Runs a shell command, returns its exit status and captures stdout+stderr into *out.
int run_command(const std::string& cmd, std::string* out);

}  // namespace visionrt::test
