// The ONNX side of post-training quantization (`visionrt quantize`, src/quant/): finds the
// convolutions of a float model, gives a copy with extra outputs to calibrate on, and writes the
// standard QDQ model (QuantizeLinear/DequantizeLinear pairs, as ORT's quantize_static writes
// them, so ORT and any other QDQ-aware runtime runs it too). Protobuf stays in src/onnx.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace visionrt {

// One convolution that can run in INT8: a Conv node (or a one-group ConvTranspose) with
// constant f32 4-D weights (and an optional constant f32 bias) reading an f32 activation.
struct QdqSite {
  std::string node;         // node name ("Conv#index" when the model leaves it empty)
  std::string input;        // the activation tensor it reads
  bool transposed = false;  // ConvTranspose: weights [C_in, C_out, k, k], scales along axis 1
  // Reads a value computed from a graph input through no weighted layer (no Conv, MatMul or
  // Gemm): one of the model's first layers.
  bool first_layer = false;
};

// Calibrated range of an activation tensor (float values; widened to include 0 when written).
struct ActivationRange {
  float lo = 0, hi = 0;
};

// Which convolutions get 7-bit weights ([-64, 64]), as NNCF's overflow_fix: CPUs without VNNI
// add pairs of u8 x s8 products in saturating 16 bits, and no pair of 7-bit weights overflows
// (see int8_pairs_saturate in kernels/kernel.hpp). first_layer (NNCF's default): only the first
// layers, whose image inputs fill pairs all the time; all: every convolution (exact everywhere,
// one bit poorer); none: 8 bits ([-127, 127]) everywhere, for VNNI targets.
enum class OverflowFix { none, first_layer, all };

class QdqWriter {
 public:
  // Throws IoError / ModelError naming the file; ModelError if the default-domain opset is below
  // 13 (per-channel DequantizeLinear).
  explicit QdqWriter(const std::string& path);
  ~QdqWriter();
  QdqWriter(const QdqWriter&) = delete;
  QdqWriter& operator=(const QdqWriter&) = delete;

  const std::vector<QdqSite>& sites() const;
  const std::vector<std::string>& graph_inputs() const;
  // The model's metadata_props (key -> value).
  std::map<std::string, std::string> metadata() const;
  // Sets a metadata_props entry in every model written after this call (class names that came
  // from a file beside the float model, so the INT8 model carries them itself; provenance).
  void set_metadata(const std::string& key, const std::string& value);
  // Which weights the models written after this call quantize to 7 bits (default first_layer).
  void set_overflow_fix(OverflowFix fix);
  // Whether `site` gets 7-bit weights under that fix.
  bool seven_bit_weights(const QdqSite& site) const;
  // Serialized copy of the model with `extra` tensors added to its outputs (calibration runs).
  std::string with_outputs(const std::vector<std::string>& extra) const;
  // The QDQ model for `sites` (a subset of sites()): u8 asymmetric activations from `ranges`
  // (every site's input must have one; one Q/DQ pair per tensor, shared by its readers),
  // per-output-channel symmetric int8 weights in [-127, 127] (or 7 bits, set_overflow_fix), int32
  // bias in x_scale * w_scale units. Returns the serialized model.
  std::string quantized(const std::vector<QdqSite>& sites,
                        const std::map<std::string, ActivationRange>& ranges) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// u8 asymmetric quantization parameters of a range (widened to include 0; a zero-width range gets
// scale 1): scale = (hi - lo) / 255, zero point = round(-lo / scale) clamped to [0, 255].
void u8_params(ActivationRange r, float* scale, int* zero_point);

}  // namespace visionrt
