// Shape and type inference for resampling and detection ops: Resize, Upsample,
// NonMaxSuppression, RoiAlign, GridSample.
#include "common/strings.hpp"
#include "ops/op_registry.hpp"
#include "ops/resample_shapes.hpp"

namespace visionrt {
namespace {

void infer_resize(InferContext& c) {
  const TensorType& x = c.input_type(0);
  bool upsample = c.node().op_type == "Upsample";
  const Tensor* scales = nullptr;
  const Tensor* sizes = nullptr;
  Tensor attr_scales;
  bool known = true;
  if (upsample && c.opset() < 9) {
    attr_scales = Tensor::from_vector<float>(
        {static_cast<int64_t>(c.node().attr_fs("scales").size())}, c.node().attr_fs("scales"));
    scales = &attr_scales;
  } else if (upsample || c.opset() < 11) {
    scales = c.input_value(1);
    known = scales != nullptr;
  } else {
    if (c.has_input(2)) {
      scales = c.input_value(2);
      known &= scales != nullptr;
    }
    if (c.has_input(3)) {
      sizes = c.input_value(3);
      known &= sizes != nullptr;
    }
  }
  if (!x.has_rank) return c.set_output_rank_unknown(0, x.dtype);
  if (!known || !x.fully_known()) return c.set_output(0, x.dtype, Shape(x.dims.size(), -1));
  ResizePlan plan;
  std::string err;
  if (!resize_plan(c.node(), c.opset(), x.dims, scales, sizes, &plan, &err)) c.fail(err);
  c.set_output(0, x.dtype, plan.out);
}

void infer_nms(InferContext& c) { c.set_output(0, DType::i64, {-1, 3}); }

void infer_roialign(InferContext& c) {
  const TensorType& x = c.input_type(0);
  const TensorType& rois = c.input_type(1);
  int64_t oh = c.node().attr_i("output_height", 1), ow = c.node().attr_i("output_width", 1);
  if (oh <= 0 || ow <= 0) c.fail("output_height/width must be positive");
  int64_t r = rois.has_rank && rois.dims.size() == 2 ? rois.dims[0] : -1;
  int64_t ch = x.has_rank && x.dims.size() == 4 ? x.dims[1] : -1;
  c.set_output(0, x.dtype, {r, ch, oh, ow});
}

void infer_gridsample(InferContext& c) {
  const TensorType& x = c.input_type(0);
  const TensorType& g = c.input_type(1);
  if (!x.has_rank || !g.has_rank) return c.set_output(0, x.dtype, {-1, -1, -1, -1});
  if (x.dims.size() != 4 || g.dims.size() != 4) c.fail("only 4-D inputs (N,C,H,W) are supported");
  c.set_output(0, x.dtype, {x.dims[0], x.dims[1], g.dims[1], g.dims[2]});
}

}  // namespace

void register_detection_basic_ops(OpRegistry& r) {
  r.add({"Resize", infer_resize, {1, 2, 3}, 10});
  r.add({"Upsample", infer_resize, {1}, 7});
  r.add({"NonMaxSuppression", infer_nms, {}, 10}).needs(2);
  r.add({"RoiAlign", infer_roialign, {}, 10}).needs(3);
  r.add({"GridSample", infer_gridsample, {}, 16}).needs(2);
}

}  // namespace visionrt
