// One allocation path for everything sized by a model (tensors, the activation arena, pinned
// outputs): checked against max_allocation_bytes(), 64-byte aligned, zero-filled so every page
// is touched once at allocation and never during inference.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

namespace visionrt {

// `what` names the block in errors ("tensor f32[1,3]", "the activation arena").
std::shared_ptr<void> zeroed_block(size_t bytes, const std::string& what);

}  // namespace visionrt
