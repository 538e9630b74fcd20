// The own AVX-512 loops of the transcendental activations (kernels/cpu/scale_shift.cpp) for other
// kernels: a oneDNN convolution whose eltwise post-op is slower on this machine than its output
// followed by this pass (kernels/dnnl/conv.cpp decides by timing both).
#pragma once
#include <cstdint>

#include "kernels/activation.hpp"

namespace visionrt {

// True where this CPU has the AVX-512 loop for `a` and a(0) == 0 (the zero padding lanes of a
// blocked tensor stay zero): swish, tanh, ELU, both GELUs and mish.
bool own_activation_in_place_available(const Activation& a);

// y[i] = a(y[i]) for i < n, on `threads` threads; only where the above is true.
void own_activation_in_place(const Activation& a, float* y, int64_t n, int threads);

// q[i] = saturate(round_half_even(swish(x[i]) * inv_scale + zero_point)) as u8 (`is_unsigned`)
// or s8, for i < n: the quantized output of an INT8 convolution's swish (kernels/dnnl/quant.cpp
// runs it on row bands of the convolution's f32 result while they are in cache). swish here is
// within about 3e-7 of the exact value relative (kernels/cpu/swish_quantize.cpp). Only where
// swish_quantize_available(): AVX-512.
bool swish_quantize_available();
void swish_quantize(const float* x, void* q, int64_t n, float inv_scale, float zero_point,
                    bool is_unsigned);

}  // namespace visionrt
