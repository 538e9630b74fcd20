// Window geometry for Conv/ConvTranspose/pooling and MatMul shapes (see nn_shapes.hpp).
#include "ops/nn_shapes.hpp"

#include <algorithm>

#include "common/checked_math.hpp"
#include "common/strings.hpp"
#include "ops/op_registry.hpp"

namespace visionrt {

// An explicit kernel_shape must agree with the weights' spatial dims (unknown dims aside):
// kernels index the weights with it.
static bool kernel_matches(const std::vector<int64_t>& attr, const std::vector<int64_t>& weights,
                           std::string* err) {
  bool ok = attr.size() == weights.size();
  for (size_t i = 0; ok && i < attr.size(); ++i) ok = weights[i] < 0 || attr[i] == weights[i];
  if (!ok)
    *err = str_cat("kernel_shape ", shape_str(attr), " does not match the weights' ",
                   shape_str(weights));
  return ok;
}

static bool attrs_common(const Node& n, size_t nd, WindowParams* p, std::string* err) {
  p->strides = n.attr_is("strides", std::vector<int64_t>(nd, 1));
  p->dilations = n.attr_is("dilations", std::vector<int64_t>(nd, 1));
  if (p->strides.size() != nd || p->dilations.size() != nd || p->kernel.size() != nd) {
    *err = "kernel_shape/strides/dilations must have one value per spatial dimension";
    return false;
  }
  for (size_t i = 0; i < nd; ++i)
    if (p->strides[i] <= 0 || p->dilations[i] <= 0 || p->kernel[i] <= 0) {
      *err = "kernel_shape, strides and dilations must be positive";
      return false;
    }
  return true;
}

bool conv_window(const Node& n, const Shape& x, const std::vector<int64_t>& kernel, bool pooling,
                 WindowParams* p, std::string* err) {
  size_t nd = x.size() - 2;
  p->kernel = n.attr_is("kernel_shape", kernel);
  if (!pooling && !kernel_matches(p->kernel, kernel, err)) return false;
  if (!attrs_common(n, nd, p, err)) return false;
  Shape spatial(x.begin() + 2, x.end());
  try {
    resolve_pads(n, spatial, p->kernel, p->strides, p->dilations, &p->pads_begin, &p->pads_end);
  } catch (const ModelError& e) {
    *err = e.what();
    return false;
  }
  bool ceil_mode = pooling && n.attr_i("ceil_mode", 0) != 0;
  std::string auto_pad = n.attr_s("auto_pad", "NOTSET");
  p->out.clear();
  for (size_t i = 0; i < nd; ++i) {
    if (spatial[i] < 0) {
      p->out.push_back(-1);
      continue;
    }
    if (p->pads_begin[i] < 0 || p->pads_end[i] < 0) {
      *err = "negative pads";
      return false;
    }
    int64_t o;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER")
      o = (spatial[i] + p->strides[i] - 1) / p->strides[i];
    else
      o = conv_out_dim(spatial[i], p->kernel[i], p->strides[i], p->pads_begin[i], p->pads_end[i],
                       p->dilations[i], ceil_mode);
    if (o <= 0) {
      *err = str_cat("window larger than the padded input (spatial dim ", i, ")");
      return false;
    }
    p->out.push_back(o);
  }
  return true;
}

bool conv_transpose_window(const Node& n, const Shape& x, const std::vector<int64_t>& kernel,
                           WindowParams* p, std::string* err) {
  size_t nd = x.size() - 2;
  p->kernel = n.attr_is("kernel_shape", kernel);
  if (!kernel_matches(p->kernel, kernel, err)) return false;
  if (!attrs_common(n, nd, p, err)) return false;
  p->output_padding = n.attr_is("output_padding", std::vector<int64_t>(nd, 0));
  std::vector<int64_t> pads = n.attr_is("pads", std::vector<int64_t>(2 * nd, 0));
  std::vector<int64_t> out_shape = n.attr_is("output_shape");
  std::string auto_pad = n.attr_s("auto_pad", "NOTSET");
  if (p->output_padding.size() != nd || pads.size() != 2 * nd) {
    *err = "pads/output_padding have the wrong length";
    return false;
  }
  if (out_shape.size() == nd + 2) out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
  if (!out_shape.empty() && out_shape.size() != nd) {
    *err = "output_shape has the wrong length";
    return false;
  }
  p->pads_begin.assign(pads.begin(), pads.begin() + static_cast<int64_t>(nd));
  p->pads_end.assign(pads.begin() + static_cast<int64_t>(nd), pads.end());
  p->out.clear();
  for (size_t i = 0; i < nd; ++i) {
    int64_t in = x[2 + i];
    int64_t eff = dim_add(dim_mul(p->kernel[i] - 1, p->dilations[i]), 1);
    int64_t target = -1;
    if (!out_shape.empty())
      target = out_shape[i];
    else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER")
      target = dim_mul(in, p->strides[i]);
    if (target >= 0 ||
        (!out_shape.empty() || auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER")) {
      if (in >= 0 && target >= 0) {
        int64_t total = dim_add(
            dim_add(dim_add(dim_mul(p->strides[i], in - 1), p->output_padding[i]), eff), -target);
        // Floor division (the ONNX reference is Python): a negative total (output_shape larger
        // than the natural size) leaves pads_begin at 0 and extends the end.
        int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
        if (auto_pad == "SAME_UPPER") {
          p->pads_begin[i] = half;
          p->pads_end[i] = total - half;
        } else {
          p->pads_begin[i] = total - half;
          p->pads_end[i] = half;
        }
      }
      p->out.push_back(target);
      continue;
    }
    if (in < 0) {
      p->out.push_back(-1);
      continue;
    }
    int64_t o =
        dim_add(dim_add(dim_add(dim_add(dim_mul(p->strides[i], in - 1), p->output_padding[i]), eff),
                        -p->pads_begin[i]),
                -p->pads_end[i]);
    if (o <= 0) {
      *err = "ConvTranspose output size is not positive";
      return false;
    }
    p->out.push_back(o);
  }
  return true;
}

bool matmul_shape(const Shape& a0, const Shape& b0, Shape* out, std::string* err) {
  if (a0.empty() || b0.empty()) {
    *err = "MatMul operands must have rank >= 1";
    return false;
  }
  Shape a = a0, b = b0;
  if (a.size() == 1) a.insert(a.begin(), 1);
  if (b.size() == 1) b.push_back(1);
  int64_t ka = a.back(), kb = b[b.size() - 2];
  if (ka >= 0 && kb >= 0 && ka != kb) {
    *err = str_cat("inner dimensions differ: ", shape_str(a0), " x ", shape_str(b0));
    return false;
  }
  Shape batch;
  if (!broadcast_shapes(Shape(a.begin(), a.end() - 2), Shape(b.begin(), b.end() - 2), &batch)) {
    *err = str_cat("batch dimensions do not broadcast: ", shape_str(a0), " x ", shape_str(b0));
    return false;
  }
  Shape o = batch;
  if (a0.size() > 1) o.push_back(a[a.size() - 2]);
  if (b0.size() > 1) o.push_back(b.back());
  *out = o;
  return true;
}

Window2d window_2d(const Shape& x, const Shape& y, const WindowParams& p) {
  Window2d w;
  w.ih = x[2];
  w.iw = x[3];
  w.oh = y[2];
  w.ow = y[3];
  w.kh = p.kernel[0];
  w.kw = p.kernel[1];
  w.sh = p.strides[0];
  w.sw = p.strides[1];
  w.ph = p.pads_begin[0];
  w.pw = p.pads_begin[1];
  return w;
}

}  // namespace visionrt
