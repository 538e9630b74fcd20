#include "kernels/flat_concat_windows.hpp"

#include "common/strings.hpp"

namespace visionrt {

bool flat_concat_geometry(const KernelQuery& q, bool bf16_inputs, FlatConcatGeometry* g,
                          std::string* why) {
  const TensorType& y = q.output_types[0];
  if (!y.fully_known() || y.dims.size() != 3 || y.dtype != DType::f32 || q.output_layout(0))
    return *why = "output is not a static plain 3-D f32 tensor", false;
  const std::vector<int64_t> co = q.node->attr_is("channel_offsets");
  const std::vector<int64_t> po = q.node->attr_is("position_offsets");
  const size_t n = q.input_types.size();
  if (co.size() != n || po.size() != n) return *why = "one offset pair per input", false;
  g->n = y.dims[0];
  g->c = y.dims[1];
  g->l = y.dims[2];
  g->windows.clear();
  for (size_t k = 0; k < n; ++k) {
    const TensorType& x = q.input_types[k];
    const Shape& d = x.dims;
    if (!x.fully_known() || (x.dtype != DType::f32 && !(bf16_inputs && x.dtype == DType::bf16)) ||
        (d.size() != 4 && d.size() != 3) || d[0] != g->n || (d.size() == 3 && q.input_layout(k)))
      return *why = str_cat("inputs are not static ", bf16_inputs ? "f32/bf16" : "f32",
                            " [N,C,H,W] or plain [N,C,L] of the output's batch"),
             false;
    const int64_t len = d.size() == 4 ? d[2] * d[3] : d[2];
    if (co[k] < 0 || po[k] < 0 || co[k] + d[1] > g->c || po[k] + len > g->l)
      return *why = "an input's window lies outside the output", false;
    g->windows.push_back({d[1], len, co[k], po[k]});
  }
  return true;
}

}  // namespace visionrt
