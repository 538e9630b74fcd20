// Shape and type inference for the elementwise op family.
#include "ops/op_registry.hpp"

namespace visionrt {

void register_elementwise_ops(OpRegistry& r) { (void)r; }

}  // namespace visionrt
