// The list of visionrt's own optimized kernels. register_cpu_kernels: tried before oneDNN's
// (they decline everything oneDNN does well); register_cpu_fallback_kernels: after oneDNN's and
// before the reference (a wider domain than oneDNN's: Resize's align_corners, any broadcast of
// binary ops, ...).
#include "kernels/kernel.hpp"

namespace visionrt {

void register_cpu_kernels(KernelRegistry& r) {
  register_cpu_softmax(r);
  register_cpu_concat_split(r);
  register_cpu_channels_last(r);
  register_cpu_scale_shift(r);
  register_cpu_slice(r);
  register_cpu_pad(r);
  register_cpu_depth_to_space(r);
  register_cpu_instance_norm(r);
  register_cpu_reduce(r);
  register_cpu_dynamic_quantize(r);
  register_cpu_quantize(r);
  register_cpu_flat_concat(r);
  register_cpu_cast(r);
  register_cpu_roi_align(r);
  register_cpu_grid_sample(r);
  register_cpu_expand_scatter(r);
  register_cpu_topk_nonzero(r);
  register_cpu_gemv(r);
  register_cpu_max_pool(r);
  register_cpu_group4_conv(r);
}

void register_cpu_fallback_kernels(KernelRegistry& r) {
  register_cpu_resize(r);
  register_cpu_binary(r);
  register_cpu_transpose(r);
  register_shape_specialized(r);
}

}  // namespace visionrt
