// Shape and type inference for the tensor op family.
#include "ops/op_registry.hpp"

namespace visionrt {

void register_tensor_ops(OpRegistry& r) { (void)r; }

}  // namespace visionrt
