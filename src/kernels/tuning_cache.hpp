// The machine's timed kernel choices, kept across processes. Compile times some choices per
// layer signature (which oneDNN implementation of a convolution, Winograd or direct, an
// activation as a post-op or as our own pass: kernels/dnnl/). Near-ties can go either way from
// one measurement to the next, and the choices differ in the last bits of the results, so a
// choice once made is written to a file and every later process on this machine reads it
// instead of timing again: the same model gives bit-identical results run after run (and
// compiles faster).
//
// The file: $VISIONRT_TUNING_CACHE (a path; "0" or "off": nothing is read or written), else
// $XDG_CACHE_HOME/visionrt/tuning/<fingerprint>.tsv, else ~/.cache/visionrt/tuning/...; the
// fingerprint hashes the CPU's model name, the oneDNN version and the file format, so another
// CPU or library never reads choices timed for this one. One "key<TAB>choice" line per choice,
// appended with a single write (concurrent processes never interleave lines; a process killed
// mid-line leaves a last line without newline, which is ignored, as are lines without a tab
// and "#" comments). When two processes time the same key at once, the first line wins for
// every later reader. A directory or file that cannot be written only loses the persistence.
#pragma once
#include <functional>
#include <map>
#include <string>

namespace visionrt {

// Parses the cache file's text: complete "key\tchoice" lines, the first of a key winning.
std::map<std::string, std::string> parse_tuning_cache(const std::string& text);

// The file this process reads and appends to ("" when persistence is off or no home is known).
const std::string& tuning_cache_path();

// The choice remembered for `key` (in this process, or in the file from an earlier one); else
// runs `decide` once, remembers its result and appends it to the file. Thread-safe.
std::string remembered_choice(const std::string& key, const std::function<std::string()>& decide);

}  // namespace visionrt
