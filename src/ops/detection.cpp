// Shape and type inference for the detection op family.
#include "ops/op_registry.hpp"

namespace visionrt {

void register_detection_ops(OpRegistry& r) { (void)r; }

}  // namespace visionrt
