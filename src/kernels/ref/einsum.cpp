// Reference Einsum: iterate over every assignment of every label, multiply the operands'
// elements and accumulate into the output element (double). Exponential in the number of
// labels by design: obviously correct, for tests and rare small uses.
#include "ops/einsum.hpp"
#include "common/strings.hpp"
#include "kernels/ref/ref_util.hpp"

namespace visionrt {

void register_ref_einsum(KernelRegistry& r) {
  r.add_ref("Einsum", [](KernelContext& c) {
    std::vector<Shape> shapes;
    for (size_t i = 0; i < c.num_inputs(); ++i) shapes.push_back(c.input(i).shape());
    EinsumPlan plan;
    std::string err;
    if (!einsum_plan(c.node->attr_s("equation", ""), shapes, &plan, &err)) c.fail(err);
    Tensor& y = c.output(0);
    size_t nl = plan.label_size.size();
    std::vector<std::vector<int64_t>> st(c.num_inputs());
    for (size_t t = 0; t < c.num_inputs(); ++t) {
      auto s = ref::strides_of(shapes[t]);
      st[t].assign(nl, 0);
      for (size_t d = 0; d < shapes[t].size(); ++d)
        if (shapes[t][d] != 1)
          st[t][plan.operand_labels[t][d]] += s[d];  // repeated label = diagonal
    }
    auto ys = ref::strides_of(y.shape());
    std::vector<int64_t> yst(nl, 0);
    for (size_t d = 0; d < plan.output_labels.size(); ++d) yst[plan.output_labels[d]] = ys[d];
    std::vector<double> out(y.numel(), 0);
    std::vector<std::vector<double>> in(c.num_inputs());
    for (size_t t = 0; t < c.num_inputs(); ++t) {
      in[t].resize(c.input(t).numel());
      for (size_t i = 0; i < in[t].size(); ++i) in[t][i] = c.input(t).at_f64(i);
    }
    Shape all(plan.label_size.begin(), plan.label_size.end());
    std::vector<std::vector<int64_t>> strides = st;
    strides.push_back(yst);
    ref::MultiIndex it(all, strides);
    size_t total = shape_numel(all);
    for (size_t k = 0; k < total; ++k, it.next()) {
      double p = 1;
      for (size_t t = 0; t < in.size(); ++t) p *= in[t][static_cast<size_t>(it.offset(t))];
      out[static_cast<size_t>(it.offset(in.size()))] += p;
    }
    ref::dispatch_numeric(y.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* o = y.data<T>();
      for (size_t i = 0; i < out.size(); ++i) o[i] = ref::store<T>(out[i]);
    });
  });
}

}  // namespace visionrt
