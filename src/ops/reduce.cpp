// Shape and type inference for the reduce op family.
#include "ops/op_registry.hpp"

namespace visionrt {

void register_reduce_ops(OpRegistry& r) { (void)r; }

}  // namespace visionrt
