// Reference kernels for reductions, ArgMax/ArgMin, TopK and the two losses. Accumulation in
// double; reducing an empty extent gives the reduction's identity (e.g. -inf for ReduceMax).
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "common/strings.hpp"
#include "kernels/ref/ref_util.hpp"

namespace visionrt {

std::vector<int64_t> reduce_axes(const Node& n, int64_t opset, int64_t rank,
                                 const Tensor* axes_input, bool has_axes_input, bool* known,
                                 bool* noop);  // ops/reduce_basic.cpp

namespace {

// Maps every input element to its output slot (reduced axes collapse).
std::vector<int64_t> reduce_map_strides(const Shape& in, const std::vector<bool>& red) {
  Shape kept = in;
  for (size_t d = 0; d < in.size(); ++d)
    if (red[d]) kept[d] = 1;
  auto ks = ref::strides_of(kept);
  for (size_t d = 0; d < in.size(); ++d)
    if (red[d]) ks[d] = 0;
  return ks;
}

void reduce_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  Tensor& y = c.output(0);
  const std::string& op = c.node->op_type;
  bool known, noop;
  std::vector<int64_t> axes =
      reduce_axes(*c.node, c.opset, static_cast<int64_t>(x.rank()),
                  c.has_input(1) ? &c.input(1) : nullptr, c.has_input(1), &known, &noop);
  if (noop) {
    std::memcpy(y.raw(), x.raw(), x.nbytes());
    return;
  }
  std::vector<bool> red(x.rank(), false);
  for (int64_t a : axes) red[a] = true;
  size_t outn = y.numel();
  double init = 0;
  if (op == "ReduceProd") init = 1;
  if (op == "ReduceMax" || op == "ReduceLogSumExp") init = -std::numeric_limits<double>::infinity();
  if (op == "ReduceMin") init = std::numeric_limits<double>::infinity();
  std::vector<double> acc(outn, init);
  std::vector<double> count(outn, 0);
  // LogSumExp: first pass finds the max for stability.
  std::vector<double> mx(outn, -std::numeric_limits<double>::infinity());
  ref::MultiIndex it(x.shape(), {reduce_map_strides(x.shape(), red)});
  if (op == "ReduceLogSumExp") {
    ref::MultiIndex it0(x.shape(), {reduce_map_strides(x.shape(), red)});
    for (size_t i = 0; i < x.numel(); ++i, it0.next())
      mx[it0.offset(0)] = std::max(mx[it0.offset(0)], x.at_f64(i));
    std::fill(acc.begin(), acc.end(), 0.0);
  }
  for (size_t i = 0; i < x.numel(); ++i, it.next()) {
    double v = x.at_f64(i);
    double& a = acc[it.offset(0)];
    count[it.offset(0)] += 1;
    if (op == "ReduceSum" || op == "ReduceMean")
      a += v;
    else if (op == "ReduceProd")
      a *= v;
    else if (op == "ReduceMax")
      a = (std::isnan(v) || v > a) ? v : a;
    else if (op == "ReduceMin")
      a = (std::isnan(v) || v < a) ? v : a;
    else if (op == "ReduceL1")
      a += std::fabs(v);
    else if (op == "ReduceL2" || op == "ReduceSumSquare")
      a += v * v;
    else if (op == "ReduceLogSum")
      a += v;
    else if (op == "ReduceLogSumExp")
      a += std::exp(v - mx[it.offset(0)]);
  }
  for (size_t o = 0; o < outn; ++o) {
    if (op == "ReduceMean")
      acc[o] = count[o] ? acc[o] / count[o] : NAN;
    else if (op == "ReduceL2")
      acc[o] = std::sqrt(acc[o]);
    else if (op == "ReduceLogSum")
      acc[o] = std::log(acc[o]);
    else if (op == "ReduceLogSumExp")
      acc[o] = count[o] ? std::log(acc[o]) + mx[o] : -std::numeric_limits<double>::infinity();
  }
  ref::from_doubles(y, acc);
}

void arg_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  Tensor& y = c.output(0);
  bool is_max = c.node->op_type == "ArgMax";
  bool last = c.node->attr_i("select_last_index", 0) != 0;
  int64_t axis = ref::norm_axis(c.node->attr_i("axis", 0), static_cast<int64_t>(x.rank()));
  int64_t n = x.dim(axis), outer = 1, inner = 1;
  if (n == 0) c.fail("cannot take ArgMax/ArgMin over an empty axis");
  outer = ref::outer_size(x.shape(), axis);
  inner = ref::inner_size(x.shape(), axis);
  int64_t* o = y.data<int64_t>();
  for (int64_t p = 0; p < outer; ++p)
    for (int64_t q = 0; q < inner; ++q) {
      int64_t best = 0;
      double bv = x.at_f64(static_cast<size_t>(p * n * inner + q));
      for (int64_t k = 1; k < n; ++k) {
        double v = x.at_f64(static_cast<size_t>((p * n + k) * inner + q));
        bool better = is_max ? (v > bv || (last && v == bv)) : (v < bv || (last && v == bv));
        if (better) {
          bv = v;
          best = k;
        }
      }
      o[p * inner + q] = best;
    }
}

void topk_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  Tensor& vals = c.output(0);
  Tensor& idx = c.output(1);
  int64_t axis = ref::norm_axis(c.node->attr_i("axis", -1), static_cast<int64_t>(x.rank()));
  bool largest = c.node->attr_i("largest", 1) != 0;
  int64_t n = x.dim(axis), k = vals.dim(axis), outer = 1, inner = 1;
  outer = ref::outer_size(x.shape(), axis);
  inner = ref::inner_size(x.shape(), axis);
  size_t es = dtype_size(x.dtype());
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t p = 0; p < outer; ++p)
    for (int64_t q = 0; q < inner; ++q) {
      for (int64_t j = 0; j < n; ++j) v[j] = x.at_f64(static_cast<size_t>((p * n + j) * inner + q));
      std::iota(order.begin(), order.end(), 0);
      // Ties keep the lower index first (stable), as the ONNX reference does.
      std::stable_sort(order.begin(), order.end(),
                       [&](int64_t a, int64_t b) { return largest ? v[a] > v[b] : v[a] < v[b]; });
      for (int64_t j = 0; j < k; ++j) {
        int64_t src = (p * n + order[j]) * inner + q, dst = (p * k + j) * inner + q;
        std::memcpy(static_cast<char*>(vals.raw()) + dst * static_cast<int64_t>(es),
                    static_cast<const char*>(x.raw()) + src * static_cast<int64_t>(es), es);
        idx.data<int64_t>()[dst] = order[j];
      }
    }
}

// NegativeLogLikelihoodLoss on log-probabilities `lp` [N, C, d...] and labels [N, d...].
void nll(KernelContext& c, const std::vector<double>& lp, const Shape& xs, const Tensor& labels,
         Tensor& out) {
  std::string red = c.node->attr_s("reduction", "mean");
  bool has_ignore = c.node->has_attr("ignore_index");
  int64_t ignore = c.node->attr_i("ignore_index", 0);
  int64_t n = xs[0], ch = xs[1], sp = 1;
  for (size_t d = 2; d < xs.size(); ++d) sp *= xs[d];
  std::vector<double> w;
  if (c.has_input(2)) {
    const Tensor& wt = c.input(2);
    if (static_cast<int64_t>(wt.numel()) != ch) c.fail("weight must have one value per class");
    for (size_t i = 0; i < wt.numel(); ++i) w.push_back(wt.at_f64(i));
  }
  if (static_cast<int64_t>(labels.numel()) != n * sp)
    c.fail("target has the wrong number of elements");
  std::vector<double> loss(static_cast<size_t>(n * sp), 0);
  double wsum = 0;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < sp; ++i) {
      int64_t t = labels.at_i64(static_cast<size_t>(b * sp + i));
      if (has_ignore && t == ignore) continue;
      if (t < 0 || t >= ch) c.fail(str_cat("target class ", t, " out of range [0, ", ch, ")"));
      double wt = w.empty() ? 1.0 : w[t];
      loss[b * sp + i] = -lp[(b * ch + t) * sp + i] * wt;
      wsum += wt;
    }
  std::vector<double> res;
  if (red == "none")
    res = loss;
  else {
    double s = std::accumulate(loss.begin(), loss.end(), 0.0);
    res = {red == "sum" ? s : (wsum != 0 ? s / wsum : 0.0)};
  }
  ref::from_doubles(out, res);
}

void nll_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  std::vector<double> lp(x.numel());
  for (size_t i = 0; i < lp.size(); ++i) lp[i] = x.at_f64(i);
  nll(c, lp, x.shape(), c.input(1), c.output(0));
}

void sce_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  int64_t n = x.dim(0), ch = x.dim(1), sp = 1;
  for (size_t d = 2; d < x.rank(); ++d) sp *= x.dim(d);
  std::vector<double> lp(x.numel());
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < sp; ++i) {
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t k = 0; k < ch; ++k)
        mx = std::max(mx, x.at_f64(static_cast<size_t>((b * ch + k) * sp + i)));
      double s = 0;
      for (int64_t k = 0; k < ch; ++k)
        s += std::exp(x.at_f64(static_cast<size_t>((b * ch + k) * sp + i)) - mx);
      for (int64_t k = 0; k < ch; ++k) {
        size_t o = static_cast<size_t>((b * ch + k) * sp + i);
        lp[o] = x.at_f64(o) - mx - std::log(s);
      }
    }
  nll(c, lp, x.shape(), c.input(1), c.output(0));
  if (c.num_outputs() > 1 && !c.output(1).empty()) ref::from_doubles(c.output(1), lp);
}

}  // namespace

void register_ref_reduce_basic(KernelRegistry& r) {
  for (const char* op :
       {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
        "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"})
    r.add_ref(op, reduce_kernel);
  r.add_ref("ArgMax", arg_kernel);
  r.add_ref("ArgMin", arg_kernel);
  r.add_ref("TopK", topk_kernel);
  r.add_ref("NegativeLogLikelihoodLoss", nll_kernel);
  r.add_ref("SoftmaxCrossEntropyLoss", sce_kernel);
}

}  // namespace visionrt
