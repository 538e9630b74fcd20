// Cast from the integer types quantized graphs produce (int32 accumulators of ConvInteger /
// MatMulInteger, u8/i8 quantized tensors) to f32: one vectorizable conversion loop, in parallel
// for large tensors. Every int8 value and every int32 up to 2^24 converts exactly; larger int32
// values round to nearest even, as the reference's conversion does. Other casts stay with the
// reference kernel (saturation and NaN rules of the float-to-integer direction live there).
#include <algorithm>

#include "common/parallel.hpp"
#include "kernels/cpu/vec_math.hpp"
#include "kernels/kernel.hpp"

namespace visionrt {
namespace {

// One function per type: clang's target_clones takes no templates.
VISIONRT_MULTIVERSION void i32_to_f32(const int32_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(x[i]);
}
VISIONRT_MULTIVERSION void u8_to_f32(const uint8_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(x[i]);
}
VISIONRT_MULTIVERSION void i8_to_f32(const int8_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(x[i]);
}

class CastToF32 : public Kernel {
 public:
  CastToF32(DType from, int64_t n) : from_(from), n_(n) {}
  void execute(KernelContext& ctx) override {
    float* y = ctx.output(0).data<float>();
    const void* x = ctx.input(0).raw();
    const int64_t chunk = 1 << 16, chunks = (n_ + chunk - 1) / chunk;
    const int threads = n_ >= (1 << 17) ? ctx.num_threads : 1;
    parallel_for(chunks, threads, [&](int64_t c) {
      const int64_t b = c * chunk, len = std::min(chunk, n_ - b);
      switch (from_) {
        case DType::i32:
          i32_to_f32(static_cast<const int32_t*>(x) + b, y + b, len);
          break;
        case DType::u8:
          u8_to_f32(static_cast<const uint8_t*>(x) + b, y + b, len);
          break;
        default:
          i8_to_f32(static_cast<const int8_t*>(x) + b, y + b, len);
          break;
      }
    });
  }
  std::string layout() const override { return "plain"; }

 private:
  DType from_;
  int64_t n_;
};

std::unique_ptr<Kernel> create(const KernelQuery& q, std::string* why) {
  const TensorType& x = q.input_types[0];
  if (x.dtype != DType::i32 && x.dtype != DType::u8 && x.dtype != DType::i8)
    return *why = "only i32/u8/i8 sources", nullptr;
  if (q.output_types[0].dtype != DType::f32) return *why = "only to f32", nullptr;
  if (!x.fully_known()) return *why = "static shapes only", nullptr;
  if (q.any_blocked()) return *why = "plain layouts only", nullptr;
  const int64_t n = static_cast<int64_t>(shape_numel(x.dims));
  if (n == 0) return *why = "empty input", nullptr;
  return std::make_unique<CastToF32>(x.dtype, n);
}

}  // namespace

void register_cpu_cast(KernelRegistry& r) { r.add("Cast", {"cpu", create, nullptr}); }

}  // namespace visionrt
