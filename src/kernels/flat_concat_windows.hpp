// visionrt.FlatConcat's geometry as its kernels (kernels/cpu/flat_concat.cpp, the oneDNN
// fallback in kernels/dnnl/data.cpp) check it at compile time.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/kernel.hpp"

namespace visionrt {

// Input k, [N, C_k, H, W] (or [N, C_k, L_k]), goes to the window
// [:, channel_offset : channel_offset + channels, position_offset : position_offset + length]
// of the static plain f32 [N, C, L] output (length = H*W or L_k).
struct FlatConcatWindow {
  int64_t channels = 0, length = 0, channel_offset = 0, position_offset = 0;
};

struct FlatConcatGeometry {
  int64_t n = 0, c = 0, l = 0;  // the output's dims
  std::vector<FlatConcatWindow> windows;
};

// The output and the windows of q's inputs; false with *why when the output is not a static
// plain 3-D f32 tensor, the offsets are not one pair per input, an input is not static 3-D or
// 4-D of the output's batch (3-D ones plain), its type is not f32 (or bf16 when `bf16_inputs`),
// or a window lies outside the output. Layouts of 4-D inputs are the caller's to check.
bool flat_concat_geometry(const KernelQuery& q, bool bf16_inputs, FlatConcatGeometry* g,
                          std::string* why);

}  // namespace visionrt
