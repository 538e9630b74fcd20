// YOLOv8 detect and segment in libtorch, module for module as Ultralytics builds them (Conv =
// Conv2d + BatchNorm2d(eps 1e-3) + SiLU, C2f, SPPF, the PAN neck, the decoupled head with DFL,
// Proto and mask coefficients), with Ultralytics' parameter names (model.22.cv2.0.1.conv.weight),
// so that weights move between this model and Ultralytics' ONNX exports by name:
//
//   visionrt::train::YoloSpec spec = visionrt::train::spec_from_onnx("yolov8n.onnx");
//   visionrt::train::YoloV8 net(spec);
//   visionrt::train::load_onnx_weights(*net, "yolov8n.onnx");   // BN folded: identity stats
//   ... train ...
//   visionrt::train::export_onnx(*net, "best.onnx", {640, 640}, names);  // BN folded again
//
// In eval mode forward() returns what the export computes: [1, 4 + nc (+ nm), anchors] boxes
// (xywh, input pixels) with class probabilities (and mask coefficients), plus the prototypes
// [1, nm, H/4, W/4] for segmentation; in train mode the raw per-level head maps (losses use
// those).
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

namespace visionrt::train {

struct YoloSpec {
  std::string task = "detect";  // detect or segment
  int64_t nc = 80;
  double depth = 0.33, width = 0.25;  // Ultralytics' scale n
  int64_t max_channels = 1024;
  int64_t reg_max = 16;
  int64_t nm = 32, npr = 256;  // segment: mask coefficients, prototype channels (before width)
  // C2f layers (Ultralytics' indices 2, 4, 6, 8, 12, 15, 18, 21) whose bottlenecks' second 3x3
  // convolution is a modulated deformable convolution (DCNv2, mmcv's ModulatedDeformConv2dPack:
  // a zero-initialised `conv_offset` gives 2*9 offsets and 9 mask logits per position), as the
  // C2f_DCN blocks of the strawberry-grading YOLOv8-seg.
  std::vector<int64_t> dcn;
  // C2f layers whose bottlenecks' second 3x3 convolution also has dynamic snake convolutions
  // (DySnakeConv, as the strawberry-grading seed's C2f_DySnakeConv): see SnakeConv below.
  std::vector<int64_t> dsconv;
  // Ultralytics' scales: n, s, m, l, x.
  static YoloSpec scale(char s, const std::string& task = "detect", int64_t nc = 80);
  std::string describe() const;
};

// DCNv2 with torch operators (differentiable): x [N, C, H, W] sampled bilinearly (zero outside)
// at each kernel tap's position plus its offset (offset [N, 2*kh*kw, Ho, Wo], (dy, dx) per tap
// as ONNX DeformConv and torchvision), times the tap's mask [N, kh*kw, Ho, Wo], then the
// convolution with weight [Co, C, kh, kw] (group 1, offset group 1) and optional bias.
torch::Tensor modulated_deform_conv2d(const torch::Tensor& x, const torch::Tensor& weight,
                                      const torch::Tensor& bias, const torch::Tensor& offset,
                                      const torch::Tensor& mask, int64_t stride, int64_t pad,
                                      int64_t dilation = 1);

// Dynamic snake convolution (DSCNet, Qi et al., ICCV 2023) in one direction: a K-tap kernel
// along x (morph 0) or y (morph 1) whose taps bend in the other direction. A 3x3 convolution +
// BatchNorm + tanh gives one offset per tap and position; the taps' deviations accumulate from
// the centre tap outward (snake_deviation), the K taps are sampled bilinearly (grid_sample,
// align_corners, zeros outside) into [N, C, H, W*K] (morph 0) or [N, C, H*K, W] (morph 1), and a
// 1xK (Kx1) convolution with stride K + BatchNorm + SiLU combines them. The offset convolution
// starts at zero: a straight kernel. (DSCNet ends in GroupNorm + ReLU; YOLOv8's BatchNorm + SiLU
// here, so that the export folds them like every other layer.)
struct SnakeConvImpl : torch::nn::Module {
  SnakeConvImpl(int64_t c1, int64_t c2, int64_t k, int morph);
  torch::Tensor forward(const torch::Tensor& x);
  // The sampling grid for deviations [N, K, H, W]: [N, H, W*K, 2] (morph 0) or [N, H*K, W, 2]
  // (morph 1), grid_sample's normalized (x, y) with align_corners.
  torch::Tensor grid(const torch::Tensor& deviation) const;
  torch::nn::Conv2d offset{nullptr};
  torch::nn::BatchNorm2d offset_bn{nullptr};
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  int64_t k = 9;
  int morph = 0;
  int64_t last_h = 0, last_w = 0;  // the last input's size (the export's constants)
};
TORCH_MODULE(SnakeConv);

// Tap deviations from per-tap offsets [N, K, ...] (K odd): 0 at the centre tap c, the running
// sum of the offsets from c outward on either side (DSCNet's cumulative offsets).
torch::Tensor snake_deviation(const torch::Tensor& offsets);

// Conv2d (no bias) + BatchNorm2d + SiLU (or none); with `deform`, the convolution is DCNv2; with
// `snake`, SiLU(BN(conv(x)) + fuse([snake_x(x), snake_y(x)])) where `fuse` is a 1x1 convolution
// that starts at zero, so that the layer starts as the plain one.
struct ConvBnActImpl : torch::nn::Module {
  ConvBnActImpl(int64_t c1, int64_t c2, int64_t k = 1, int64_t s = 1, int64_t g = 1,
                bool act = true, bool deform = false, bool snake = false);
  torch::Tensor forward(const torch::Tensor& x);
  // The convolution alone (plain or deformable), before BatchNorm.
  torch::Tensor convolve(const torch::Tensor& x);
  torch::nn::Conv2d conv{nullptr};
  torch::nn::Conv2d conv_offset{nullptr};  // deform: 3*k*k channels (offsets, then mask logits)
  bool deform = false;
  SnakeConv snake_x{nullptr}, snake_y{nullptr};
  torch::nn::Conv2d fuse{nullptr};
  bool snake = false;
  torch::nn::BatchNorm2d bn{nullptr};
  bool act = true;
  int64_t k = 1, s = 1, g = 1;
  // recalibrate_batchnorm: per-channel sums of the convolution's output (double).
  bool calibrating = false;
  torch::Tensor sum, sumsq;
  int64_t count = 0;
};
TORCH_MODULE(ConvBnAct);

struct BottleneckImpl : torch::nn::Module {
  BottleneckImpl(int64_t c1, int64_t c2, bool shortcut, bool deform = false, bool snake = false);
  torch::Tensor forward(const torch::Tensor& x);
  ConvBnAct cv1{nullptr}, cv2{nullptr};
  bool add = false;
};
TORCH_MODULE(Bottleneck);

struct C2fImpl : torch::nn::Module {
  C2fImpl(int64_t c1, int64_t c2, int64_t n, bool shortcut, bool deform = false,
          bool snake = false);
  torch::Tensor forward(const torch::Tensor& x);
  int64_t c = 0;
  ConvBnAct cv1{nullptr}, cv2{nullptr};
  torch::nn::ModuleList m;
  std::vector<Bottleneck> blocks;
};
TORCH_MODULE(C2f);

struct SppfImpl : torch::nn::Module {
  SppfImpl(int64_t c1, int64_t c2, int64_t k = 5);
  torch::Tensor forward(const torch::Tensor& x);
  ConvBnAct cv1{nullptr}, cv2{nullptr};
  int64_t k = 5;
};
TORCH_MODULE(Sppf);

// Three branches per level: ConvBnAct(3) -> ConvBnAct(3) -> Conv2d(1x1, bias).
struct HeadBranchImpl : torch::nn::Module {
  HeadBranchImpl(int64_t c1, int64_t c_mid, int64_t c_out);
  torch::Tensor forward(const torch::Tensor& x);
  ConvBnAct b0{nullptr}, b1{nullptr};
  torch::nn::Conv2d b2{nullptr};
};
TORCH_MODULE(HeadBranch);

struct ProtoImpl : torch::nn::Module {
  ProtoImpl(int64_t c1, int64_t c_, int64_t c2);
  torch::Tensor forward(const torch::Tensor& x);
  ConvBnAct cv1{nullptr}, cv2{nullptr}, cv3{nullptr};
  torch::nn::ConvTranspose2d upsample{nullptr};
};
TORCH_MODULE(Proto);

struct DetectImpl : torch::nn::Module {
  DetectImpl(const YoloSpec& spec, const std::vector<int64_t>& ch);
  int64_t nc, reg_max, nm, no;
  std::vector<HeadBranch> box, cls, coef;
  torch::nn::ModuleList cv2, cv3, cv4;
  torch::nn::Conv2d dfl{nullptr};  // fixed arange(reg_max) weights: the distribution's mean
  Proto proto{nullptr};
};
TORCH_MODULE(Detect);

struct YoloV8Impl : torch::nn::Module {
  explicit YoloV8Impl(const YoloSpec& spec);
  // Eval: {predictions [N, 4 + nc (+ nm), A]} (+ prototypes). Train: per level [N, 4*reg_max +
  // nc, h, w], then (segment) coefficients [N, nm, A] and prototypes.
  std::vector<torch::Tensor> forward(const torch::Tensor& x);
  // The eval-mode decode (DFL, anchors, strides) of the per-level maps.
  torch::Tensor decode(const std::vector<torch::Tensor>& levels);
  YoloSpec spec;
  std::vector<int64_t> strides{8, 16, 32};
  torch::nn::ModuleList model;
  // Typed handles on the layers of `model` (index as in Ultralytics' yaml).
  std::vector<ConvBnAct> convs;  // 0, 1, 3, 5, 7, 16, 19
  std::vector<C2f> c2fs;         // 2, 4, 6, 8, 12, 15, 18, 21
  Sppf sppf{nullptr};            // 9
  Detect head{nullptr};          // 22
};
TORCH_MODULE(YoloV8);

// Ultralytics' channel rule: min(c, max_channels) * width rounded up to a multiple of 8.
int64_t scaled_channels(const YoloSpec& s, int64_t c);
int64_t scaled_depth(const YoloSpec& s, int64_t n);

// The spec of an Ultralytics YOLOv8 ONNX export: task and classes from its outputs and metadata,
// width and depth from its layer shapes, DCNv2 layers from their conv_offset weights, snake
// layers from their snake_x weights. Throws
// visionrt::ModelError for other models.
YoloSpec spec_from_onnx(const std::string& onnx_path);
// Copies the export's weights by name. Ultralytics folds BatchNorm into the convolutions: each
// conv's weight is taken as is, its bias becomes the BN shift with identity statistics (mean 0,
// var 1 - eps, scale 1), so eval-mode outputs equal the export's. A DCNv2 layer the export does
// not have (no conv_offset) starts as the plain convolution it replaces: zero offsets, mask
// sigmoid(0) = 1/2, weight doubled; snake convolutions it lacks keep their initial values (a
// zero `fuse`: the plain layer). Throws ModelError naming the tensor for a missing one or a
// shape that differs.
void load_onnx_weights(YoloV8Impl& net, const std::string& onnx_path);
// Gives every BatchNorm the statistics of its convolution's output over `batches` (eval mode, no
// gradient) and rescales it so that the eval-mode function does not change: mean m, variance v,
// scale sqrt(v + eps), shift + m. After load_onnx_weights (identity statistics) the network then
// also behaves like the original in train mode, where BatchNorm normalizes by batch statistics;
// without this, fine-tuning a folded export would start from a different network. Returns the
// number of BatchNorms updated.
int recalibrate_batchnorm(YoloV8Impl& net, const std::vector<torch::Tensor>& batches);
// Class names as Ultralytics writes them into metadata_props["names"]: {0: 'person', ...}.
std::string names_metadata(const std::vector<std::string>& names);
// Writes the eval-mode network as ONNX (opset 17, or 19 with ONNX DeformConv for DCNv2 layers;
// snake convolutions as Conv, Tanh, CumSum, GridSample and a strided Conv;
// BatchNorm folded into the convolutions,
// Ultralytics' graph and names: input "images" [1,3,H,W], outputs "output0" (+ "output1"),
// metadata task/names/imgsz/stride) through a temporary file renamed into place.
void export_onnx(YoloV8Impl& net, const std::string& path, int64_t height, int64_t width,
                 const std::vector<std::string>& names);

}  // namespace visionrt::train
