// Shared plumbing of the oneDNN kernels: the process-wide engine, a per-thread stream, the
// OpenMP team size, memory descriptors for visionrt's layouts, and the activation mapping.
// Kernels are immutable after compile (a CompiledModel's kernels serve concurrent requests), so
// execute() only wraps the request's buffers in dnnl::memory objects and runs the primitive.
#pragma once
#include <dnnl.hpp>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/activation.hpp"
#include "kernels/kernel.hpp"
#include "kernels/tuning_cache.hpp"
#include "visionrt/error.hpp"

// Debian's oneDNN runs on GNU OpenMP (libgomp); its team size is the calling thread's
// nthreads ICV. Declared here rather than via <omp.h>, which clang builds do not have.
extern "C" void omp_set_num_threads(int) noexcept;
extern "C" int omp_get_max_threads() noexcept;

namespace visionrt::dnnl_k {

using dnnl::memory;
using Tag = memory::format_tag;
using DT = memory::data_type;

const dnnl::engine& engine();
// The calling thread's stream (created on first use).
dnnl::stream& stream();
// Sets the OpenMP team for the next primitive on this thread (cheap when unchanged).
void set_threads(int n);

// Block size of the blocked layout this CPU prefers for f32 activations: 16 with AVX-512, 8
// otherwise; VISIONRT_LAYOUT=plain forces 0 (plain everywhere, for comparisons).
int preferred_block();

// Compile-time weight reorder, on the calling thread alone: a parallel region here would start
// an OpenMP team on the compiling thread that lives on; with a second team on the thread that
// runs inference, libgomp counts more threads than cores and stops spinning between regions,
// which made every primitive pay a futex wake-up (2-thread inference 2x slower).
void reorder_weights(const memory& from, const memory& to);

// Every primitive keeps its scratchpad in the request's memory (scratchpad_mode::user): in the
// library's mode, Debian's oneDNN (built without DNNL_ENABLE_CONCURRENT_EXEC) keeps one
// scratchpad per *creating* thread, so a primitive compiled on one thread and executed on a
// stream's thread would write into a buffer that does not exist there.
dnnl::primitive_attr user_scratchpad(dnnl::primitive_attr attr = {});
// Adds DNNL_ARG_SCRATCHPAD at `ptr` (the kernel's KernelContext::scratch) when `d` is not empty.
void bind_scratchpad(std::unordered_map<int, memory>& args, const memory::desc& d, void* ptr);

// Descriptor of a tensor of `dims` (f32) in layout `block` (0 plain row-major, 8/16 nChw8c/16c).
memory::desc md(const Shape& dims, int block, DT dt = DT::f32);
std::string layout_name(int block, size_t rank);

// oneDNN eltwise algorithm for a fusable activation; false if there is none. hard_sigmoid maps
// to eltwise_linear and needs a clip to [0, 1] after it (append_activation does both).
bool eltwise_alg(const Activation& a, dnnl::algorithm* alg, float* alpha, float* beta);

// Appends the activation's eltwise post-op(s); false for Act::none.
bool append_activation(const Activation& a, dnnl::post_ops* po);

// True when the first `n_inputs` inputs (all by default) and every output are f32 with static
// shapes; absent optional inputs are skipped.
bool all_static_f32(const KernelQuery& q, std::string* why, size_t n_inputs = SIZE_MAX);
// The same for kernels that also move bf16 tensors (INFERENCE_PRECISION bf16): each of those
// tensors may be f32 or bf16, independently.
bool all_static_float(const KernelQuery& q, std::string* why, size_t n_inputs = SIZE_MAX);
// oneDNN's data type for f32, bf16, u8, i8 (s8) or i32 (s32); f32 for anything else: callers
// checked the type first.
DT dt_of(DType t);
// Descriptor of tensor type `t` (static dims, f32/bf16) in layout `block`.
memory::desc md_of(const TensorType& t, int block);

// A 2-D convolution's geometry from the node's attributes, the source dims and the constant
// OIHW weights, in oneDNN's terms (dilations 0-based, weights grouped as GOIHW when group > 1).
struct ConvGeometry {
  int64_t group = 1, oc = 0, icg = 0;
  memory::dims weights, strides, dilations, pads_begin, pads_end;
  Tag user_weights_tag() const { return group > 1 ? Tag::goihw : Tag::oihw; }
};
// False with *why set when the window is invalid or the channels do not match the groups.
bool conv_geometry(const Node& n, const Shape& x, const Tensor& w, ConvGeometry* g,
                   std::string* why);
// The constant weights `w` (of type dt, in the geometry's plain layout) reordered once into the
// primitive's chosen layout `to`.
memory prepared_conv_weights(const Tensor& w, const ConvGeometry& g, DT dt, const memory::desc& to);

// Timed choices (`key`: everything the choice depends on) are made once per machine and kept:
// remembered_choice (kernels/tuning_cache.hpp), so every compile of a model, in this process or
// a later one, whatever its thread and stream settings, picks the same kernels and computes
// bit-identical results.
// A key for a convolution's timed choices: source shape, geometry, types and `extra`.
std::string conv_key(const Shape& x, const ConvGeometry& g, const std::string& extra);

// Whether convolutions may be timed at compile to choose their kernel (VISIONRT_CONV_AUTOTUNE=0:
// never; oneDNN's first choice and the fixed rules stay), and whether VISIONRT_VERBOSE asks
// for the choices to be printed.
bool conv_autotune();
bool verbose_env();

// Seconds one run of the convolution `pd` takes here on zeroed buffers (`extra`: further
// arguments, e.g. a binary post-op's source): the best of two runs after a warm-up, or the
// warm-up alone when it took over 50 ms. Runs on the calling thread's team: create `pd` under
// OneThread (below) so that no OpenMP team is started on a compiling thread. A descriptor made
// before OneThread keeps the thread count of its creation and starts that team anyway: every
// later primitive then ran slower (EfficientNet-B0 at 2 threads: 6 -> 10.5 ms).
double time_conv(const dnnl::convolution_forward::primitive_desc& pd,
                 const std::vector<std::pair<int, memory::desc>>& extra = {});
// The same for a matmul.
double time_matmul(const dnnl::matmul::primitive_desc& pd);

// While alive, primitives are created and run on one thread (restores the count after).
class OneThread {
 public:
  OneThread() : saved_(omp_get_max_threads()) { set_threads(1); }
  ~OneThread() { set_threads(saved_); }
  OneThread(const OneThread&) = delete;
  OneThread& operator=(const OneThread&) = delete;

 private:
  int saved_;
};

// The fastest of the implementations oneDNN offers for a convolution (make() creates its
// primitive descriptor; reference ones are never chosen), measured here on zeroed buffers: each
// candidate runs once, then the best of three runs counts. oneDNN orders its candidates by a
// heuristic that misjudges some shapes on some machines (YOLOv8n INT8 on an AVX-512 VNNI EPYC:
// brgconv 1x1 0.75 ms where jit_int8_1x1 takes 0.59, and the reverse on two other layers), so
// the machine decides. Timed on one thread (a parallel region on the compiling thread would
// leave a second OpenMP team behind, see reorder_weights); the descriptor returned is made for
// the caller's thread count. `src_zero_point`: the primitive takes a run-time source zero point.
// `post_op_args`: the descriptors of the post-ops' run-time arguments (a binary post-op's
// source). Not under VISIONRT_CONV_AUTOTUNE=0 (oneDNN's first choice); VISIONRT_VERBOSE prints
// each.
dnnl::convolution_forward::primitive_desc fastest_conv(
    const std::function<dnnl::convolution_forward::primitive_desc()>& make, bool src_zero_point,
    const std::string& key, const std::vector<std::pair<int, memory::desc>>& post_op_args = {});

// A primitive run on copies of its source and destination in another layout (oneDNN has some
// kernels, int8 ones and large dilations for instance, only in NHWC): reorders in and out through
// the request's scratch memory, laid out as [staged source][staged destination][scratchpad].
class StagedIo {
 public:
  // user_src/user_dst: the tensors' layouts in the graph; src/dst: the primitive's.
  void init(const memory::desc& user_src, const memory::desc& src, const memory::desc& dst,
            const memory::desc& user_dst);
  bool active() const { return active_; }
  // Bytes of staged tensors before the scratchpad.
  size_t staged_bytes() const { return staged_bytes_; }
  // The largest scratchpad either reorder needs.
  size_t pad_bytes() const;
  // Reorders the user source into the scratch copy; returns the copy.
  memory stage_in(const void* user_src, char* scratch, void* pad);
  // The staged destination in scratch memory.
  memory staged_dst(char* scratch) const;
  // Reorders the staged destination into the user's output.
  void stage_out(const memory& dst, void* user_dst, void* pad);

 private:
  bool active_ = false;
  memory::desc user_src_, user_dst_, src_, dst_;
  dnnl::reorder::primitive_desc to_pd_, from_pd_;
  dnnl::reorder to_, from_;
  size_t src_bytes_ = 0, staged_bytes_ = 0;
};

// A primitive with one source and one destination (eltwise, softmax, pooling, resampling).
// The workspace check guards pooling: forward_inference never asks for one.
template <typename P>
class SrcDstKernel : public Kernel {
 public:
  using PD = typename P::primitive_desc;
  SrcDstKernel(PD pd, std::string layout)
      : pd_(std::move(pd)), prim_(pd_), layout_(std::move(layout)) {
    if (pd_.workspace_desc().get_size())
      throw Error("internal: a oneDNN inference primitive asked for a workspace");
  }
  size_t scratch_bytes() const override { return pd_.scratchpad_desc().get_size(); }
  void execute(KernelContext& ctx) override {
    set_threads(ctx.num_threads);
    memory src(pd_.src_desc(), engine(), const_cast<void*>(ctx.input(0).raw()));
    memory dst(pd_.dst_desc(), engine(), ctx.output(0).raw());
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
    bind_scratchpad(args, pd_.scratchpad_desc(), ctx.scratch);
    prim_.execute(stream(), args);
    stream().wait();
  }
  std::string layout() const override { return layout_; }

 private:
  PD pd_;
  P prim_;
  std::string layout_;
};

}  // namespace visionrt::dnnl_k
