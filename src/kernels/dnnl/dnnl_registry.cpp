// The list of oneDNN kernel families; each registers ahead of the reference kernels.
#include "kernels/kernel.hpp"

namespace visionrt {

void register_dnnl_kernels(KernelRegistry& r) {
  register_dnnl_conv(r);
  register_dnnl_eltwise(r);
  register_dnnl_pool(r);
  register_dnnl_data(r);
  register_dnnl_matmul(r);
  register_dnnl_norm_reduce(r);
  register_dnnl_quant(r);
  register_dnnl_deform_conv(r);
}

}  // namespace visionrt
