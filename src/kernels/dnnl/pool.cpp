// oneDNN pooling (MaxPool without indices, AveragePool, GlobalAveragePool, GlobalMaxPool) and
// resampling (Resize where oneDNN's coordinate rule equals ONNX's: nearest with integer
// up-sampling factors under asymmetric+floor or half_pixel+round_*; linear with half_pixel).
// 2-D, f32 or bf16 (the same type in and out), static shapes; plain or blocked layouts.
#include <cmath>

#include "common/strings.hpp"
#include "kernels/dnnl/dnnl_common.hpp"
#include "kernels/resize_query.hpp"
#include "ops/nn_shapes.hpp"

namespace visionrt {
namespace {

using namespace dnnl_k;

bool common_checks(const KernelQuery& q, std::string* why) {
  if (!all_static_float(q, why, 1)) return false;
  if (q.input_types[0].dims.size() != 4) return *why = "only 2-D (NCHW) tensors", false;
  if (q.output_types.size() != 1) return *why = "only the first output", false;
  if (q.input_types[0].dtype != q.output_types[0].dtype)
    return *why = "input and output types differ", false;
  const int bi = q.input_layout(0);
  const int bo = q.output_layout(0);
  if (bi != bo) return *why = "input and output layouts differ", false;
  return true;
}

std::unique_ptr<Kernel> create_pool(const KernelQuery& q, std::string* why) {
  if (!common_checks(q, why)) return nullptr;
  const Node& n = *q.node;
  const std::string& op = n.op_type;
  const Shape& x = q.input_types[0].dims;
  const Shape& y = q.output_types[0].dims;
  const int block = q.input_layout(0);
  memory::dims strides, kernel, pl, pr;
  dnnl::algorithm alg = dnnl::algorithm::pooling_max;
  if (op == "GlobalAveragePool" || op == "GlobalMaxPool") {
    strides = {1, 1};
    kernel = {x[2], x[3]};
    pl = pr = {0, 0};
    if (op == "GlobalAveragePool") alg = dnnl::algorithm::pooling_avg_exclude_padding;
  } else {
    WindowParams p;
    std::string err;
    if (!conv_window(n, x, n.attr_is("kernel_shape"), true, &p, &err)) return *why = err, nullptr;
    for (int64_t d : p.dilations)
      if (d != 1) return *why = "dilated pooling", nullptr;
    bool include_pad = n.attr_i("count_include_pad", 0) != 0;
    if (op == "AveragePool")
      alg = include_pad ? dnnl::algorithm::pooling_avg_include_padding
                        : dnnl::algorithm::pooling_avg_exclude_padding;
    for (int a = 0; a < 2; ++a) {
      strides.push_back(p.strides[a]);
      kernel.push_back(p.kernel[a]);
      pl.push_back(p.pads_begin[a]);
      // ceil_mode: the last window may start inside the input and reach past the end pad.
      int64_t need = (y[2 + a] - 1) * p.strides[a] + p.kernel[a] - x[2 + a] - p.pads_begin[a];
      int64_t r = std::max(p.pads_end[a], need);
      if (r != p.pads_end[a] && op == "AveragePool" && include_pad)
        return *why = "count_include_pad with ceil_mode counts differently", nullptr;
      pr.push_back(r);
    }
  }
  try {
    dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_inference, alg,
                                  md_of(q.input_types[0], block), md_of(q.output_types[0], block),
                                  strides, kernel, pl, pr);
    dnnl::pooling_forward::primitive_desc pd(d, user_scratchpad(), engine());
    std::string impl = pd.impl_info_str();
    if (impl.find("ref") != std::string::npos)
      return *why = str_cat("oneDNN offers only its reference implementation (", impl, ")"),
             nullptr;
    return std::make_unique<SrcDstKernel<dnnl::pooling_forward>>(
        std::move(pd), str_cat(layout_name(block, 4), " ", impl));
  } catch (const dnnl::error& e) {
    return *why = str_cat("oneDNN: ", e.what()), nullptr;
  }
}

// Resize semantics oneDNN reproduces exactly; see the file comment.
bool resize_supported(const KernelQuery& q, dnnl::algorithm* alg, std::string* why) {
  const Node& n = *q.node;
  if (q.opset < 11) return *why = "Resize before opset 11", false;
  const Shape& x = q.input_types[0].dims;
  const Shape& y = q.output_types[0].dims;
  if (x[0] != y[0] || x[1] != y[1]) return *why = "resizes batch or channels", false;
  if (n.attr_i("antialias", 0) != 0) return *why = "antialias", false;
  ResizePlan plan;
  if (!constant_resize_plan(q, &plan, why)) return false;
  for (int a = 2; a < 4; ++a)
    if (std::fabs(plan.scale[a] - static_cast<double>(y[a]) / static_cast<double>(x[a])) > 1e-9)
      return *why = "the coordinate scale differs from output/input size", false;
  const std::string mode = n.attr_s("mode", "nearest");
  const std::string ct = n.attr_s("coordinate_transformation_mode", "half_pixel");
  if (mode == "nearest") {
    for (int a = 2; a < 4; ++a)
      if (y[a] % x[a] != 0) return *why = "nearest with a non-integer up-sampling factor", false;
    const std::string nm = n.attr_s("nearest_mode", "round_prefer_floor");
    bool ok = (ct == "asymmetric" && nm == "floor") ||
              ((ct == "half_pixel" || ct == "pytorch_half_pixel") &&
               (nm == "round_prefer_floor" || nm == "round_prefer_ceil"));
    if (!ok) return *why = str_cat("nearest with ", ct, "/", nm), false;
    *alg = dnnl::algorithm::resampling_nearest;
    return true;
  }
  if (mode == "linear") {
    bool ok = ct == "half_pixel" || (ct == "pytorch_half_pixel" && y[2] > 1 && y[3] > 1);
    if (!ok) return *why = str_cat("linear with ", ct), false;
    *alg = dnnl::algorithm::resampling_linear;
    return true;
  }
  return *why = str_cat("mode ", mode), false;
}

std::unique_ptr<Kernel> create_resize(const KernelQuery& q, std::string* why) {
  if (!common_checks(q, why)) return nullptr;
  dnnl::algorithm alg;
  if (!resize_supported(q, &alg, why)) return nullptr;
  const int block = q.input_layout(0);
  try {
    dnnl::resampling_forward::desc d(dnnl::prop_kind::forward_inference, alg,
                                     md_of(q.input_types[0], block),
                                     md_of(q.output_types[0], block));
    dnnl::resampling_forward::primitive_desc pd(d, user_scratchpad(), engine());
    std::string impl = pd.impl_info_str();
    return std::make_unique<SrcDstKernel<dnnl::resampling_forward>>(
        std::move(pd), str_cat(layout_name(block, 4), " ", impl));
  } catch (const dnnl::error& e) {
    return *why = str_cat("oneDNN: ", e.what()), nullptr;
  }
}

bool resize_layouts(const KernelQuery& q) {
  std::string why;
  dnnl::algorithm alg;
  return common_checks(q, &why) && resize_supported(q, &alg, &why);
}

}  // namespace

void register_dnnl_pool(KernelRegistry& r) {
  for (const char* op : {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"})
    r.add(op, KernelCandidate::checked_by_create("dnnl", create_pool));
  r.add("Resize", {"dnnl", create_resize, resize_layouts});
}

}  // namespace visionrt
