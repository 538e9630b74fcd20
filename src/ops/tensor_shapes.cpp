// Shape arithmetic for Reshape, Slice and Pad (see tensor_shapes.hpp).
#include "ops/tensor_shapes.hpp"

#include <algorithm>
#include <limits>

#include "common/checked_math.hpp"
#include "common/strings.hpp"

namespace visionrt {

bool reshape_target(const Shape* in, const std::vector<int64_t>& target, bool allowzero, Shape* out,
                    std::string* err) {
  Shape o(target.size());
  int infer_at = -1;
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t t = target[i];
    if (t == -1) {
      if (infer_at >= 0) {
        *err = "more than one -1 in the target shape";
        return false;
      }
      infer_at = static_cast<int>(i);
      o[i] = -1;
    } else if (t == 0 && !allowzero) {
      if (in && i >= in->size()) {
        *err = str_cat("target copies dimension ", i, " that the input does not have");
        return false;
      }
      o[i] = in ? (*in)[i] : -1;
    } else if (t < -1) {
      *err = str_cat("invalid target dimension ", t);
      return false;
    } else {
      o[i] = t;
    }
  }
  if (infer_at >= 0 && in) {
    int64_t total = 1, known = 1;
    bool ok = true;
    for (int64_t d : *in) {
      if (d < 0)
        ok = false;
      else
        total = dim_mul(total, d);
    }
    for (size_t i = 0; i < o.size(); ++i)
      if (static_cast<int>(i) != infer_at) {
        if (o[i] < 0)
          ok = false;
        else
          known = dim_mul(known, o[i]);
      }
    if (ok) {
      if (known == 0 || total % known != 0) {
        *err = str_cat("cannot reshape ", shape_str(*in), " to ",
                       shape_str(Shape(target.begin(), target.end())));
        return false;
      }
      o[infer_at] = total / known;
    }
  }
  if (in && infer_at < 0) {
    bool all = true;
    int64_t a = 1, b = 1;
    for (int64_t d : *in) {
      if (d < 0) all = false;
      a = dim_mul(a, std::max<int64_t>(d, 0));
    }
    for (int64_t d : o) {
      if (d < 0) all = false;
      b = dim_mul(b, std::max<int64_t>(d, 0));
    }
    if (all && a != b) {
      *err = str_cat("cannot reshape ", shape_str(*in), " (", a, " elements) to ", shape_str(o),
                     " (", b, ")");
      return false;
    }
  }
  *out = o;
  return true;
}

bool slice_params(const Node& n, int64_t opset, const std::function<const Tensor*(size_t)>& value,
                  SliceParams* p) {
  if (opset < 10) {
    p->starts = n.attr_is("starts");
    p->ends = n.attr_is("ends");
    p->axes = n.attr_is("axes");
    return true;
  }
  for (size_t i = 1; i <= 4; ++i)
    if (i < n.inputs.size() && n.inputs[i] >= 0 && !value(i)) return false;
  if (n.inputs.size() < 3 || n.inputs[1] < 0 || n.inputs[2] < 0) return false;
  p->starts = value(1)->to_i64_vector();
  p->ends = value(2)->to_i64_vector();
  if (n.inputs.size() > 3 && n.inputs[3] >= 0) p->axes = value(3)->to_i64_vector();
  if (n.inputs.size() > 4 && n.inputs[4] >= 0) p->steps = value(4)->to_i64_vector();
  return true;
}

bool slice_plan(const Shape& in, SliceParams* p, Shape* out, std::string* err) {
  size_t r = in.size();
  size_t n = p->starts.size();
  if (p->ends.size() != n) {
    *err = "starts and ends differ in length";
    return false;
  }
  std::vector<int64_t> axes = p->axes;
  if (axes.empty())
    for (size_t i = 0; i < n; ++i) axes.push_back(static_cast<int64_t>(i));
  std::vector<int64_t> steps = p->steps;
  if (steps.empty()) steps.assign(n, 1);
  if (axes.size() != n || steps.size() != n) {
    *err = "axes/steps lengths differ from starts";
    return false;
  }
  p->start.assign(r, 0);
  p->step.assign(r, 1);
  *out = in;
  std::vector<bool> seen(r, false);
  for (size_t i = 0; i < n; ++i) {
    int64_t a = axes[i] < 0 ? axes[i] + static_cast<int64_t>(r) : axes[i];
    if (a < 0 || a >= static_cast<int64_t>(r) || seen[a]) {
      *err = str_cat("bad or repeated axis ", axes[i]);
      return false;
    }
    seen[a] = true;
    // |step| beyond 2^62 behaves like 2^62 for any real dimension and cannot overflow below.
    int64_t dim = in[a],
            step = std::clamp<int64_t>(steps[i], -(int64_t{1} << 62), int64_t{1} << 62);
    if (step == 0) {
      *err = "step is zero";
      return false;
    }
    if (dim < 0) {
      (*out)[a] = -1;
      continue;
    }
    int64_t s = p->starts[i], e = p->ends[i];
    if (s < 0) s += dim;
    if (e < 0 && e > std::numeric_limits<int64_t>::min() / 2) e += dim;
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      (*out)[a] = e > s ? (e - s - 1) / step + 1 : 0;
    } else {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      (*out)[a] = s > e ? (s - e - 1) / (-step) + 1 : 0;
    }
    p->start[a] = s;
    p->step[a] = step;
  }
  return true;
}

bool pad_plan(size_t rank, const std::vector<int64_t>& pads, const std::vector<int64_t>& axes,
              std::vector<int64_t>* full, std::string* err) {
  full->assign(2 * rank, 0);
  std::vector<int64_t> ax = axes;
  if (ax.empty())
    for (size_t i = 0; i < rank; ++i) ax.push_back(static_cast<int64_t>(i));
  if (pads.size() != 2 * ax.size()) {
    *err = str_cat("pads has ", pads.size(), " values, expected ", 2 * ax.size());
    return false;
  }
  for (size_t i = 0; i < ax.size(); ++i) {
    int64_t a = ax[i] < 0 ? ax[i] + static_cast<int64_t>(rank) : ax[i];
    if (a < 0 || a >= static_cast<int64_t>(rank)) {
      *err = str_cat("bad axis ", ax[i]);
      return false;
    }
    (*full)[a] = pads[i];
    (*full)[a + rank] = pads[i + ax.size()];
  }
  return true;
}

void shape_range(const Node& n, int64_t opset, int64_t rank, int64_t* start, int64_t* end) {
  int64_t s = opset >= 15 ? n.attr_i("start", 0) : 0;
  int64_t e = opset >= 15 ? n.attr_i("end", rank) : rank;
  if (s < 0) s += rank;
  if (e < 0) e += rank;
  *start = std::clamp<int64_t>(s, 0, rank);
  *end = std::max(*start, std::clamp<int64_t>(e, 0, rank));
}

}  // namespace visionrt
