// The persistent tuning cache: see tuning_cache.hpp.
#include "kernels/tuning_cache.hpp"

#include <fcntl.h>
#include <oneapi/dnnl/dnnl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "common/strings.hpp"

namespace visionrt {
namespace {

constexpr const char* kFormat = "visionrt tuning cache v1";

std::string cpu_model_name() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 1);
    }
  return "unknown cpu";
}

// What the choices were timed on: they hold for this CPU model and oneDNN build only.
std::string machine_description() {
  const dnnl_version_t* v = dnnl_version();
  return str_cat(kFormat, "; cpu", cpu_model_name(), "; oneDNN ", v->major, ".", v->minor, ".",
                 v->patch, " ", v->hash ? v->hash : "");
}

bool env_off(const char* v) { return std::string(v) == "0" || std::string(v) == "off"; }

struct Cache {
  std::mutex mu;
  bool loaded = false;
  std::map<std::string, std::string> chosen;
};

Cache& cache() {
  static Cache c;
  return c;
}

void verbose(const std::string& msg) {
  const char* v = std::getenv("VISIONRT_VERBOSE");
  if (v && std::string(v) != "0") std::fprintf(stderr, "visionrt: %s\n", msg.c_str());
}

// Appends `text` with one write() on an O_APPEND descriptor (lines of concurrent writers stay
// whole); false when the file cannot be written.
bool append(const std::string& path, const std::string& text) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  std::string all = text;
  if (::lseek(fd, 0, SEEK_END) == 0) all = str_cat("# ", machine_description(), "\n", text);
  const ssize_t n = ::write(fd, all.data(), all.size());
  ::close(fd);
  return n == static_cast<ssize_t>(all.size());
}

}  // namespace

std::map<std::string, std::string> parse_tuning_cache(const std::string& text) {
  std::map<std::string, std::string> out;
  size_t at = 0;
  while (at < text.size()) {
    const size_t end = text.find('\n', at);
    if (end == std::string::npos) break;  // a last line cut short
    const std::string line = text.substr(at, end - at);
    at = end + 1;
    const size_t tab = line.find('\t');
    if (line.empty() || line[0] == '#' || tab == std::string::npos || tab == 0) continue;
    out.emplace(line.substr(0, tab), line.substr(tab + 1));
  }
  return out;
}

const std::string& tuning_cache_path() {
  static const std::string path = []() -> std::string {
    if (const char* env = std::getenv("VISIONRT_TUNING_CACHE"); env && *env)
      return env_off(env) ? std::string() : std::string(env);
    std::string base;
    if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
      base = x;
    else if (const char* h = std::getenv("HOME"); h && *h)
      base = std::string(h) + "/.cache";
    else
      return "";
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016zx", std::hash<std::string>()(machine_description()));
    return str_cat(base, "/visionrt/tuning/", hex, ".tsv");
  }();
  return path;
}

std::string remembered_choice(const std::string& key, const std::function<std::string()>& decide) {
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    if (!c.loaded) {
      c.loaded = true;
      const std::string& path = tuning_cache_path();
      std::ifstream f(path, std::ios::binary);
      if (!path.empty() && f) {
        std::stringstream ss;
        ss << f.rdbuf();
        c.chosen = parse_tuning_cache(ss.str());
        verbose(str_cat("tuning cache ", path, ": ", c.chosen.size(), " timed choices loaded"));
      }
    }
    auto it = c.chosen.find(key);
    if (it != c.chosen.end()) return it->second;
  }
  std::string choice = decide();
  std::lock_guard<std::mutex> lock(c.mu);
  auto [it, fresh] = c.chosen.emplace(key, std::move(choice));  // a concurrent first one wins
  const std::string& path = tuning_cache_path();
  if (fresh && !path.empty() && key.find_first_of("\t\n") == std::string::npos &&
      it->second.find_first_of("\t\n") == std::string::npos &&
      !append(path, str_cat(key, "\t", it->second, "\n")))
    verbose(
        str_cat("tuning cache ", path, ": cannot write; choices are kept in this process only"));
  return it->second;
}

}  // namespace visionrt
