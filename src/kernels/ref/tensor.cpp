// Reference kernels for the tensor op family.
#include "kernels/ref/ref_util.hpp"

namespace visionrt {

void register_ref_tensor(KernelRegistry& r) { (void)r; }

}  // namespace visionrt
