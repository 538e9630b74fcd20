// Reference kernels for the reduce op family.
#include "kernels/ref/ref_util.hpp"

namespace visionrt {

void register_ref_reduce(KernelRegistry& r) { (void)r; }

}  // namespace visionrt
