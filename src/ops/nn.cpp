// Shape and type inference for the nn op family.
#include "ops/op_registry.hpp"

namespace visionrt {

void register_nn_ops(OpRegistry& r) { (void)r; }

}  // namespace visionrt
