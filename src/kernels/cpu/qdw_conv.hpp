// INT8 depthwise convolution (one filter per channel, channel multiplier 1) on channels-last
// u8/s8 tensors with AVX-512 VNNI: MobileNet's, EfficientNet's and DeepLab's 3x3 and 5x5
// depthwise layers, which oneDNN 2.6's int8 kernels run at a tenth of their pointwise
// neighbours' rate (DeepLabV3+ MobileNetV2 INT8 at one thread here: 17 depthwise layers 1.72 ms
// of 7.0; SSD MobileNet about 1 ms of 5.6).
//
// vpdpbusd multiplies four u8 by four s8 and adds the four products into one int32 lane. A
// depthwise filter has no input channels to sum over, so the four bytes of each lane are four
// taps of one kernel row instead: each source row is transformed once into, for every output
// column and channel, the dword (x[ix], x[ix + d], x[ix + 2d], x[ix + 3d]) (wider kernels take
// several dwords), kept in a ring of the rows the next output rows need, and each output row is
// then one vpdpbusd per kernel row and 16 channels. Positions outside the image hold the zero
// point, so the zero point's correction is one constant per channel that starts the sum; an s8
// source is moved to u8 by adding 128 to values and zero point alike. The accumulator is then
// exactly oneDNN's: (acc + bias) * x_scale * w_scale[c], the activation, and for an 8-bit
// output v / y_scale + y_zero_point rounded half to even and saturated (kernels/dnnl/quant.cpp).
// Channels go in blocks of 64, so narrow layers (16, 24 channels) waste lanes, and on a core
// with 256-bit vector units (this EPYC) the shuffles and the epilogue cost about as much as the
// products: measured here it beats oneDNN on wide layers (DeepLab's 192-480 channels at 33x33:
// 0.085 -> 0.058 ms, 0.19 -> 0.13-0.16 ms) and loses on narrow or strided ones (16 channels at
// 129x129: 0.09 -> 0.25 ms), so quant.cpp times both per layer and keeps the faster.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/activation.hpp"

namespace visionrt {

struct QDwConvSpec {
  int64_t batch = 1, channels = 0, h = 0, w = 0, oh = 0, ow = 0, kh = 0, kw = 0;
  int64_t stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1, pad_top = 0, pad_left = 0;
  bool src_signed = false;
  int32_t src_zero_point = 0;
  std::vector<int8_t> weights;  // [channels][kh][kw]
  std::vector<float> scale;     // x_scale * w_scale[c], one per channel
  std::vector<float> bias;      // accumulator units, one per channel (empty: none)
  Activation act;
  enum class Out { u8, s8, f32 } out = Out::u8;
  float inv_out_scale = 1, out_zero_point = 0;
};

class QDwConv {
 public:
  // Part of the remembered choice's key (kernels/tuning_cache.hpp): a change of this kernel's
  // speed bumps it, so that choices timed against an older version are made again.
  static constexpr int kVersion = 2;
  // AVX-512 (F, BW, VL) with VNNI on this CPU.
  static bool available();
  // The activations the epilogue computes (others stay with oneDNN's post-ops).
  static bool supports(const Activation& a);
  // Kernels up to 16 wide and transformed-row rings up to 64 rows; false otherwise.
  static bool supports(const QDwConvSpec& s);

  // `threads`: the most threads run() will be given (sizes the scratch memory).
  QDwConv(QDwConvSpec spec, int threads);
  size_t scratch_bytes() const { return part_bytes_ * static_cast<size_t>(max_parts_); }
  // x: [batch][h][w][channels] bytes; y: [batch][oh][ow][channels] of the output type; scratch:
  // scratch_bytes(), 64-byte aligned.
  void run(const void* x, void* y, void* scratch, int threads) const;

 private:
  void run_part(const uint8_t* x, char* y, char* scratch, int64_t first, int64_t last,
                int64_t row_chunks) const;

  QDwConvSpec s_;
  int64_t groups_ = 1;  // dwords of taps per kernel row: ceil(kw / 4)
  int64_t slots_ = 1;   // transformed source rows kept: (kh - 1) * dil_h + 1
  int64_t blocks_ = 1;  // 64-channel blocks
  int max_parts_ = 1;
  size_t slot_bytes_ = 0, part_bytes_ = 0;
  // Per block: [kh][groups][4 vectors][16 lanes][4 taps] (zero past kw and past the channels).
  std::vector<int8_t> packed_;
  std::vector<int32_t> neg_comp_;  // -zero_point * sum of the filter, per (padded) channel
  std::vector<float> mul_, add_;   // acc * mul + add, per (padded) channel
  bool fold_ = false;              // activation folded into the clamp [lo_, hi_]
  float lo_ = 0, hi_ = 0;
  bool float_clamp_ = false;  // 8-bit values could leave the int32 range: clamp floats too
};

}  // namespace visionrt
