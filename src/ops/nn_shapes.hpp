// Window geometry shared by inference and the reference kernels of Conv, ConvTranspose and
// pooling (explicit pads, auto_pad, dilations, ceil_mode, output_shape/output_padding).
#pragma once
#include <string>
#include <vector>

#include "graph/graph.hpp"

namespace visionrt {

struct WindowParams {
  std::vector<int64_t> kernel, strides, dilations, pads_begin, pads_end, output_padding;
  Shape out;  // spatial output dims (-1 where the input dim is unknown)
};

// Conv and pooling: x is N,C,spatial...; kernel the spatial kernel dims. Pooling honours
// ceil_mode; Conv takes kernel_shape from the weights when the attribute is absent.
bool conv_window(const Node& n, const Shape& x, const std::vector<int64_t>& kernel, bool pooling,
                 WindowParams* p, std::string* err);
// ConvTranspose, including output_shape (which sets the pads) and output_padding.
bool conv_transpose_window(const Node& n, const Shape& x, const std::vector<int64_t>& kernel,
                           WindowParams* p, std::string* err);
// A 2-D window's sizes as own kernels loop over them: input and output height/width (dims 2 and
// 3 of the NCHW shapes x and y), kernel, strides and begin pads from `p` (2-D).
struct Window2d {
  int64_t ih = 0, iw = 0, oh = 0, ow = 0, kh = 0, kw = 0, sh = 0, sw = 0, ph = 0, pw = 0;
};
Window2d window_2d(const Shape& x, const Shape& y, const WindowParams& p);
// numpy matmul output shape (1-D operands promoted and their dims removed).
bool matmul_shape(const Shape& a, const Shape& b, Shape* out, std::string* err);

}  // namespace visionrt
