// The list of visionrt's own optimized kernels (tried before oneDNN's). The dnnl Resize is
// registered after this one but is preferred where it applies: it runs on blocked layouts.
#include "kernels/kernel.hpp"

namespace visionrt {

void register_cpu_kernels(KernelRegistry& r) { register_cpu_softmax(r); }

// Candidates registered after oneDNN's (fallbacks with a wider domain than oneDNN's).
void register_cpu_fallback_kernels(KernelRegistry& r) { register_cpu_resize(r); }

}  // namespace visionrt
