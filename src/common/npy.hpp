// NumPy .npy (v1/v2/v3, little-endian, C order) reading and writing for visionrt::Tensor.
#pragma once
#include <string>

#include "visionrt/tensor.hpp"

namespace visionrt {

// Throws IoError naming the file for unreadable, truncated or unsupported files.
Tensor read_npy(const std::string& path);
// Writes to a temporary file and renames it into place (never a half-written file).
void write_npy(const std::string& path, const Tensor& t);

}  // namespace visionrt
