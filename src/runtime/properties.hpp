// Compile properties (OpenVINO's names) in one table: each entry names the property, the values
// it takes, how a Config value is parsed into CompileSettings and how the compiled model reports
// it. compile_model validates and parses through the table; CompiledModel::get_property reads
// through it; `visionrt benchmark` prints every readable one. Adding a property is one entry.
#pragma once
#include <string>
#include <vector>

#include "visionrt/core.hpp"

namespace visionrt {

// What a Config asks for, parsed and checked; derived values (threads per stream, the stream
// count THROUGHPUT picks) are resolved by parse_compile_config.
struct CompileSettings {
  std::string hint = "LATENCY";  // PERFORMANCE_HINT: LATENCY or THROUGHPUT
  int total_threads = 0;         // INFERENCE_NUM_THREADS over all streams; 0 = every core
  int streams = 0;               // NUM_STREAMS; 0 = AUTO (from the hint)
  bool pinning = false;          // ENABLE_CPU_PINNING
  bool perf_count = false;       // PERF_COUNT
  // INFERENCE_PRECISION: f32 or bf16; unset ("") resolves from the CPU's bf16 probe.
  std::string precision;
  std::string precision_reason;  // why the default resolved as it did (empty when asked for)
  // Resolved:
  int num_streams = 1;
  int threads_per_stream = 1;
};

// The state a compiled model reports its properties from.
struct CompiledState {
  const CompileSettings* settings;
  int num_streams;  // after THROUGHPUT's memory cap
};

struct PropertyDef {
  const char* name;
  // Parses `value` into `s` (hw = hardware cores) or throws Error naming the property; null for
  // read-only properties.
  void (*parse)(const std::string& value, int hw, CompileSettings* s);
  std::string (*get)(const CompiledState& c);
};

const std::vector<PropertyDef>& compile_properties();

// An unset INFERENCE_PRECISION becomes bf16 where bf16_speedup() reaches this: the probe's
// convolutions, not whole models (conversions at the f32 ops cost a little).
constexpr double kBf16DefaultGain = 1.2;

// The precision an unset INFERENCE_PRECISION resolves to on this CPU ("bf16" or "f32"), and why.
std::string default_precision(std::string* reason = nullptr);

// Parses a Config through the table (unknown names and bad values throw Error) and resolves
// streams and threads against `hw` cores: LATENCY runs one stream on all threads, THROUGHPUT one
// single-threaded stream per thread (on this class of machine two independent inferences outrun
// one two-threaded one: fewer synchronizations, no idle core at the end of small layers), an
// explicit NUM_STREAMS divides the threads among streams. README, Throughput, documents them.
CompileSettings parse_compile_config(const Config& config, int hw);

// The property's value as get_property reports it; throws Error for an unknown name.
std::string read_property(const CompiledState& c, const std::string& key);

}  // namespace visionrt
