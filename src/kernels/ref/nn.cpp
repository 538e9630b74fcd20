// Reference kernels for the nn op family.
#include "kernels/ref/ref_util.hpp"

namespace visionrt {

void register_ref_nn(KernelRegistry& r) { (void)r; }

}  // namespace visionrt
