// Tensor conversions (tensor_convert.hpp).
#include "train/tensor_convert.hpp"

#include "common/strings.hpp"
#include "visionrt/error.hpp"

namespace visionrt::train {

namespace {

torch::Dtype torch_dtype(DType t) {
  switch (t) {
    case DType::f32:
      return torch::kFloat32;
    case DType::f64:
      return torch::kFloat64;
    case DType::i64:
      return torch::kInt64;
    case DType::i32:
      return torch::kInt32;
    case DType::i8:
      return torch::kInt8;
    case DType::u8:
      return torch::kUInt8;
    case DType::boolean:
      return torch::kBool;
    default:
      break;
  }
  throw ModelError(str_cat("element type ", dtype_name(t), " is not supported for training"));
}

}  // namespace

torch::Tensor to_torch(const Tensor& t) {
  std::vector<int64_t> dims(t.shape().begin(), t.shape().end());
  return torch::from_blob(const_cast<void*>(t.raw()), dims, torch_dtype(t.dtype())).clone();
}

Tensor from_torch(const torch::Tensor& t) {
  torch::Tensor c = t.detach().to(torch::kFloat32).contiguous();
  Shape s(c.sizes().begin(), c.sizes().end());
  return Tensor::from_bytes(DType::f32, s, c.data_ptr<float>(),
                            static_cast<size_t>(c.numel()) * sizeof(float));
}

}  // namespace visionrt::train
