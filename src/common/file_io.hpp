// Whole-file reads and atomic writes shared by every format visionrt reads or writes.
#pragma once
#include <string>
#include <vector>

namespace visionrt {

// The file's bytes; gzip files (magic 1f 8b) are decompressed. Throws IoError naming the file.
std::string read_file(const std::string& path);

// Writes `bytes` to a temporary file next to `path` and renames it into place, so `path` is
// either the old file or the complete new one, never half-written. Throws IoError.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Class names, one per line, spaces trimmed, trailing empty lines ignored. Throws IoError for an
// unreadable file and InputError for one without names.
std::vector<std::string> read_names_list(const std::string& path);

}  // namespace visionrt
