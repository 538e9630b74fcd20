// Reference kernels for the detection op family.
#include "kernels/ref/ref_util.hpp"

namespace visionrt {

void register_ref_detection(KernelRegistry& r) { (void)r; }

}  // namespace visionrt
