// The compile property table (see properties.hpp).
#include "runtime/properties.hpp"

#include <algorithm>
#include <cmath>

#include "common/strings.hpp"
#include "kernels/kernel.hpp"

namespace visionrt {
namespace {

int parse_int(const char* key, const std::string& value, int lo, int hi) {
  int v = lo - 1;
  try {
    size_t pos = 0;
    v = std::stoi(value, &pos);
    if (pos != value.size()) v = lo - 1;
  } catch (const std::exception&) {
    v = lo - 1;
  }
  if (v < lo || v > hi) throw Error(str_cat(key, " '", value, "' must be ", lo, " .. ", hi));
  return v;
}

bool parse_yes_no(const char* key, const std::string& value) {
  if (value == "YES" || value == "true") return true;
  if (value == "NO" || value == "false") return false;
  throw Error(str_cat(key, " '", value, "' must be YES or NO"));
}

const char* yes_no(bool b) { return b ? "YES" : "NO"; }

std::vector<PropertyDef> make_table() {
  return {
      {"PERFORMANCE_HINT",
       [](const std::string& v, int, CompileSettings* s) {
         if (v != "LATENCY" && v != "THROUGHPUT")
           throw Error(str_cat("PERFORMANCE_HINT '", v, "' must be LATENCY or THROUGHPUT"));
         s->hint = v;
       },
       [](const CompiledState& c) { return c.settings->hint; }},
      {"NUM_STREAMS",
       [](const std::string& v, int hw, CompileSettings* s) {
         s->streams = v == "AUTO" ? 0 : parse_int("NUM_STREAMS", v, 1, 4 * hw);
       },
       [](const CompiledState& c) { return std::to_string(c.num_streams); }},
      {"INFERENCE_NUM_THREADS",
       [](const std::string& v, int hw, CompileSettings* s) {
         s->total_threads = parse_int("INFERENCE_NUM_THREADS", v, 0, 4 * hw);
       },
       [](const CompiledState& c) {
         return std::to_string(c.settings->threads_per_stream * c.num_streams);
       }},
      {"ENABLE_CPU_PINNING",
       [](const std::string& v, int, CompileSettings* s) {
         s->pinning = parse_yes_no("ENABLE_CPU_PINNING", v);
       },
       [](const CompiledState& c) { return std::string(yes_no(c.settings->pinning)); }},
      {"PERF_COUNT",
       [](const std::string& v, int, CompileSettings* s) {
         if (v != "YES" && v != "NO")
           throw Error(str_cat("PERF_COUNT '", v, "' must be YES or NO"));
         s->perf_count = v == "YES";
       },
       [](const CompiledState& c) { return std::string(yes_no(c.settings->perf_count)); }},
      {"INFERENCE_PRECISION",
       [](const std::string& v, int, CompileSettings* s) {
         if (v != "f32" && v != "bf16")
           throw Error(str_cat("INFERENCE_PRECISION '", v, "' must be f32 or bf16"));
         if (v == "bf16" && !cpu_supports_bf16())
           throw Error(
               "INFERENCE_PRECISION bf16 needs a CPU with AVX512-BF16 or AMX; this one has "
               "neither (use f32)");
         s->precision = v;
       },
       [](const CompiledState& c) { return c.settings->precision; }},
      {"OPTIMAL_NUMBER_OF_INFER_REQUESTS", nullptr,
       [](const CompiledState& c) { return std::to_string(c.num_streams); }},
  };
}

}  // namespace

const std::vector<PropertyDef>& compile_properties() {
  static const std::vector<PropertyDef> table = make_table();
  return table;
}

std::string default_precision(std::string* reason) {
  // bf16 where this CPU measurably runs it faster (OpenVINO enables bf16 by default on capable
  // CPUs; we ask the probe, machines of one kind differ).
  const double gain = cpu_supports_bf16() ? bf16_speedup() : 0;
  if (reason)
    *reason = gain > 0
                  ? str_cat("default: bf16 convolutions measured ", std::round(gain * 100) / 100,
                            "x f32 on this CPU", gain >= kBf16DefaultGain ? "" : " (below the bar)")
                  : std::string("default: no native bf16 on this CPU");
  if (reason && gain >= kBf16DefaultGain) {
    const double deconv = bf16_deconv_speedup();
    *reason += str_cat("; transposed convolutions ", std::round(deconv * 100) / 100, "x",
                       deconv >= 1.0 ? "" : " (kept in f32)");
  }
  return gain >= kBf16DefaultGain ? "bf16" : "f32";
}

CompileSettings parse_compile_config(const Config& config, int hw) {
  CompileSettings s;
  const std::vector<PropertyDef>& t = compile_properties();
  for (const auto& entry : config) {
    // Not a structured binding: clang (C++17) refuses to capture one in the lambda below.
    const std::string& key = entry.first;
    const std::string& value = entry.second;
    auto it = std::find_if(t.begin(), t.end(), [&](const PropertyDef& p) { return key == p.name; });
    if (it != t.end() && !it->parse) throw Error(str_cat("property '", key, "' is read-only"));
    if (it == t.end()) {
      std::string known;
      for (const PropertyDef& p : t)
        if (p.parse) known += str_cat(known.empty() ? "" : ", ", p.name);
      throw Error(str_cat("unknown property '", key, "' (known: ", known, ")"));
    }
    it->parse(value, hw, &s);
  }
  if (s.precision.empty()) s.precision = default_precision(&s.precision_reason);
  const int total = s.total_threads == 0 ? hw : s.total_threads;
  s.num_streams = s.streams > 0 ? s.streams : (s.hint == "THROUGHPUT" ? total : 1);
  s.threads_per_stream = std::max(1, total / s.num_streams);
  return s;
}

std::string read_property(const CompiledState& c, const std::string& key) {
  for (const PropertyDef& p : compile_properties())
    if (key == p.name) return p.get(c);
  throw Error(str_cat("unknown property '", key, "'"));
}

}  // namespace visionrt
