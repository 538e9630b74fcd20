// Kernel interface. Each op has an ordered list of candidate implementations (oneDNN first,
// reference last); compile asks each in turn and keeps the first that accepts the node, recording
// why the others declined (ARCHITECTURE practice 2).
//
// Execution contract: the runtime allocates every output whose shape shape inference could
// determine from the concrete inputs (ctx.output(i) is then a tensor of the right type and shape);
// ops whose output shape depends on computed data (NonZero, NonMaxSuppression, ...) find an empty
// tensor and assign it with ctx.set_output(i, tensor). Absent optional inputs are nullptr.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graph/graph.hpp"

namespace visionrt {

struct KernelContext {
  const Node* node = nullptr;
  int64_t opset = 0;
  std::vector<const Tensor*> inputs;  // nullptr for an absent optional input
  std::vector<Tensor>* outputs = nullptr;
  int num_threads = 1;
  // Kernel::scratch_bytes() of per-request memory for this execution (nullptr when none).
  void* scratch = nullptr;

  size_t num_inputs() const { return inputs.size(); }
  bool has_input(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
  const Tensor& input(size_t i) const;
  size_t num_outputs() const { return outputs->size(); }
  Tensor& output(size_t i) { return outputs->at(i); }
  void set_output(size_t i, Tensor t) { outputs->at(i) = std::move(t); }
  // Throws InputError "node <label>: <msg>" (data-dependent errors, e.g. an index out of range).
  [[noreturn]] void fail(const std::string& msg) const;
  // Axis `a` of a rank-`rank` tensor, negative counted from the end; fail()s when out of range.
  int64_t axis(int64_t a, int64_t rank) const;
};

// Scratch split in parts: each part starts 64-byte aligned (the arena's alignment), so a
// kernel's scratch_bytes() is the sum of scratch_align() of all parts but the last, plus it.
inline size_t scratch_align(size_t bytes) { return (bytes + 63) & ~size_t(63); }

// Kernel scratch for an execution outside a request's planned arena (dynamic steps, kernels
// built at run time): `bytes` 64-byte aligned, as the arena's; get() is nullptr for 0 bytes.
class OwnedScratch {
 public:
  explicit OwnedScratch(size_t bytes);
  void* get() const { return ptr_; }

 private:
  std::vector<uint8_t> buf_;
  void* ptr_ = nullptr;
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual void execute(KernelContext& ctx) = 0;
  // Memory layout the kernel reads and writes, for profiles ("nchw", "nChw16c -> nchw", ...).
  virtual std::string layout() const { return "plain"; }
  // Temporary memory the kernel needs while it runs; the memory plan gives it a slice of the
  // request's arena (KernelContext::scratch) that lives only during this node.
  virtual size_t scratch_bytes() const { return 0; }
  // False for a constant input the kernel copied at compile time (reordered convolution
  // weights): the compiled model then releases the graph's copy.
  virtual bool reads_at_run_time(size_t input) const {
    (void)input;
    return true;
  }
};

// What a candidate sees at compile time: the node, its input types (shapes may be partial) and
// constant inputs.
struct KernelQuery {
  const Node* node = nullptr;
  int64_t opset = 0;
  std::vector<TensorType> input_types;
  std::vector<const Tensor*> input_constants;
  std::vector<TensorType> output_types;
  // Value::layout_block of each input and output (0 = plain row-major).
  std::vector<int> input_layouts, output_layouts;
  bool any_blocked() const;
  // Input i as a constant one-element tensor's value (scale, zero point, Clip bound...);
  // false when the input is absent, not constant or not a scalar.
  bool constant_scalar(size_t i, double* v) const;
  // Layout of input/output i (0 when not given).
  int input_layout(size_t i) const { return i < input_layouts.size() ? input_layouts[i] : 0; }
  int output_layout(size_t i) const { return i < output_layouts.size() ? output_layouts[i] : 0; }
};

struct KernelCandidate {
  using CreateFn = std::function<std::unique_ptr<Kernel>(const KernelQuery&, std::string* why)>;
  std::string name;  // "ref", "dnnl", ...
  // Returns a kernel, or nullptr and sets *why to the reason it declines.
  CreateFn create;
  // Cheap check for the layout pass: would `create` accept the node with the blocked layouts
  // proposed in q.input_layouts / q.output_layouts? Absent: plain layouts only.
  std::function<bool(const KernelQuery&)> accepts_layouts;

  // A candidate whose layout check is `create` itself: for kernels whose creation is cheap
  // (no weight preparation, no primitive compilation worth avoiding).
  static KernelCandidate checked_by_create(std::string name, CreateFn create);
};

class KernelRegistry {
 public:
  static const KernelRegistry& instance();
  // Candidates are kept in the order added; add fast ones first.
  void add(const std::string& op, KernelCandidate c);
  // Convenience: a reference kernel that is a plain function accepting every node.
  void add_ref(const std::string& op, std::function<void(KernelContext&)> fn);
  // Reference kernel that can decline at compile time (unsupported dtype, attribute...).
  void add_ref(const std::string& op, std::function<bool(const KernelQuery&, std::string*)> accepts,
               std::function<void(KernelContext&)> fn);
  const std::vector<KernelCandidate>* find(const std::string& op) const;

 private:
  std::map<std::string, std::vector<KernelCandidate>> by_op_;
};

// oneDNN fast paths (src/kernels/dnnl/), registered ahead of the reference kernels; the list
// is register_dnnl_kernels in kernels/dnnl/dnnl_registry.cpp.
void register_dnnl_kernels(KernelRegistry& r);
// While alive, kernels created on this thread are built for `threads` intra-op threads
// (oneDNN fixes a primitive's thread count when it is created, not when it runs).
class KernelThreadsScope {
 public:
  explicit KernelThreadsScope(int threads);
  ~KernelThreadsScope();
  KernelThreadsScope(const KernelThreadsScope&) = delete;
  KernelThreadsScope& operator=(const KernelThreadsScope&) = delete;

 private:
  int saved_;
};

// visionrt's own optimized kernels (src/kernels/cpu/), tried before oneDNN's.
void register_cpu_kernels(KernelRegistry& r);
void register_cpu_softmax(KernelRegistry& r);
void register_cpu_resize(KernelRegistry& r);
void register_cpu_binary(KernelRegistry& r);
void register_cpu_pad(KernelRegistry& r);
void register_cpu_depth_to_space(KernelRegistry& r);
void register_cpu_instance_norm(KernelRegistry& r);
void register_cpu_reduce(KernelRegistry& r);
void register_cpu_concat_split(KernelRegistry& r);
void register_cpu_channels_last(KernelRegistry& r);
void register_cpu_scale_shift(KernelRegistry& r);  // and visionrt.Activation's costly ones
void register_cpu_slice(KernelRegistry& r);
void register_cpu_dynamic_quantize(KernelRegistry& r);
// QuantizeLinear (scalar parameters; plain, nhwc, plain -> nhwc) and visionrt.QConcat.
void register_cpu_quantize(KernelRegistry& r);
void register_cpu_flat_concat(KernelRegistry& r);  // visionrt.FlatConcat, f32
void register_cpu_cast(KernelRegistry& r);
void register_cpu_roi_align(KernelRegistry& r);
void register_cpu_grid_sample(KernelRegistry& r);  // GridSample: tap table per image
void register_cpu_expand_scatter(KernelRegistry& r);
void register_cpu_topk_nonzero(KernelRegistry& r);
void register_cpu_group4_conv(KernelRegistry& r);  // groups of 4 channels on nChw8c (AVX2)
void register_cpu_max_pool(KernelRegistry& r);     // f32 MaxPool on blocked/channels-last layouts
void register_cpu_gemv(KernelRegistry& r);         // MatMul/Gemm of <= 4 rows by constant weights
void register_cpu_transpose(KernelRegistry& r);    // fallback: any dtype, run-time sizes
// Conv/FusedConv/ConvTranspose at run-time sizes: the oneDNN kernel built per size
// (kernels/shape_specialized.cpp).
void register_shape_specialized(KernelRegistry& r);
void register_cpu_fallback_kernels(KernelRegistry& r);  // after oneDNN's, before the reference
// Block size of the blocked activation layout for this CPU (16 with AVX-512, else 8); 0 when
// VISIONRT_LAYOUT=plain.
int preferred_layout_block();
// Whether oneDNN runs bf16 on this CPU natively (AVX512-BF16 or AMX; ONEDNN_MAX_CPU_ISA caps it).
bool cpu_supports_bf16();
// Whether oneDNN's int8 convolutions on this CPU add pairs of u8 x s8 products in saturating 16
// bits (no VNNI: AVX2, AVX-512 before VNNI; ONEDNN_MAX_CPU_ISA caps it), so that weights with
// |w1| + |w2| > 128 can overflow. VISIONRT_INT8_HALVE overrides (tests of the 7-bit path on any
// machine): 0 = no, first|1|all = yes.
bool int8_pairs_saturate();
// Where int8_pairs_saturate, which u8-source convolutions run on halved (7-bit) weights: false
// (the default, as NNCF's overflow_fix "first_layer_only" and OpenVINO) = only the first layers,
// the convolutions fed by the model's input through no other weighted layer, whose dense image
// values saturate pairs all the time; true (VISIONRT_INT8_HALVE=1|all) = every layer, exact but
// one bit poorer everywhere (an 8-bit yolov8n, coco128 box AP on an AVX2 EPYC: 0.437 every layer,
// 0.453 first layers, 0.377 none, float 0.461).
bool int8_halve_every_layer();
// oneDNN's bf16 convolution speed over its f32 one on this CPU, measured once per process (one
// thread, three typical layer shapes, about 80 ms the first time): the default precision's
// evidence. 0 where bf16 is not supported.
double bf16_speedup();
// The same for oneDNN's transposed convolution (a 2x2 stride-2 upsampling, about 10 ms once per
// process): under bf16, ConvTranspose runs in bf16 only where this reaches 1.
double bf16_deconv_speedup();
void register_dnnl_conv(KernelRegistry& r);
void register_dnnl_eltwise(KernelRegistry& r);
void register_dnnl_pool(KernelRegistry& r);
void register_dnnl_data(KernelRegistry& r);
void register_dnnl_matmul(KernelRegistry& r);
void register_dnnl_norm_reduce(KernelRegistry& r);
void register_dnnl_deform_conv(KernelRegistry& r);  // DeformConv: bilinear im2col + sgemm
void register_dnnl_quant(KernelRegistry& r);        // QLinearConv, visionrt.QConv, Q/DQ

// One registration function per family of reference kernels (src/kernels/ref/<family>.cpp);
// the single list that calls them is kernel_registry.cpp.
void register_ref_misc(KernelRegistry& r);
void register_ref_quant_linear(KernelRegistry& r);
void register_ref_elementwise_basic(KernelRegistry& r);
void register_ref_tensor_basic(KernelRegistry& r);
void register_ref_nn_basic(KernelRegistry& r);
void register_ref_reduce_basic(KernelRegistry& r);
void register_ref_detection_basic(KernelRegistry& r);
void register_ref_einsum(KernelRegistry& r);
void register_ref_deform_conv(KernelRegistry& r);   // DeformConv (opset 19)
void register_ref_control_flow(KernelRegistry& r);  // If, Loop, Scan (subgraphs)
void register_ref_internal(KernelRegistry& r);      // visionrt.FusedConv, visionrt.Reorder

}  // namespace visionrt
