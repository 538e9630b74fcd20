// oneDNN data movement: visionrt.Reorder (plain <-> blocked), Transpose (a reorder from a
// permuted view), Concat, Split (reorders from sub-tensor views), visionrt.FlatConcat (reorders
// into strided windows) and Softmax. f32, static shapes.
// Concat and Split run on blocked tensors when the channel axis is split at block boundaries.
#include "common/strings.hpp"
#include "kernels/dnnl/dnnl_common.hpp"
#include "kernels/flat_concat_windows.hpp"

namespace visionrt {
namespace {

using namespace dnnl_k;

int64_t norm_axis(int64_t a, size_t rank) { return a < 0 ? a + static_cast<int64_t>(rank) : a; }

bool has_zero_dim(const Shape& s) {
  for (int64_t d : s)
    if (d == 0) return true;
  return false;
}

// ---- reorders between inputs and outputs: Reorder, Transpose, Split, FlatConcat ----

class DnnlReorders : public Kernel {
 public:
  // Input `in` to output `out`, whose data starts `out_offset` bytes into the output tensor.
  struct Part {
    dnnl::reorder::primitive_desc pd;
    dnnl::reorder prim;
    size_t in = 0, out = 0, out_offset = 0;
  };
  DnnlReorders(std::vector<Part> parts, std::string layout)
      : parts_(std::move(parts)), layout_(std::move(layout)) {}
  size_t scratch_bytes() const override {
    size_t n = 0;  // the parts run one after another: the largest scratchpad serves all
    for (const auto& p : parts_) n = std::max(n, p.pd.scratchpad_desc().get_size());
    return n;
  }
  void execute(KernelContext& ctx) override {
    set_threads(ctx.num_threads);
    for (const Part& p : parts_) {
      memory src(p.pd.src_desc(), engine(), const_cast<void*>(ctx.input(p.in).raw()));
      memory dst(p.pd.dst_desc(), engine(),
                 static_cast<char*>(ctx.output(p.out).raw()) + p.out_offset);
      std::unordered_map<int, memory> args{{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
      bind_scratchpad(args, p.pd.scratchpad_desc(), ctx.scratch);
      p.prim.execute(stream(), args);
    }
    stream().wait();
  }
  std::string layout() const override { return layout_; }

 private:
  std::vector<Part> parts_;
  std::string layout_;
};

DnnlReorders::Part make_part(const memory::desc& from, const memory::desc& to, size_t in = 0,
                             size_t out = 0, size_t out_offset = 0) {
  dnnl::reorder::primitive_desc pd(engine(), from, engine(), to, user_scratchpad());
  return {pd, dnnl::reorder(pd), in, out, out_offset};
}

// Layout and/or precision (f32 <-> bf16, rounding to nearest even) in one pass; int8 tensors
// (between quantized convolutions) change layout only.
std::unique_ptr<Kernel> create_reorder(const KernelQuery& q, std::string* why) {
  const TensorType& x = q.input_types[0];
  const TensorType& y = q.output_types[0];
  const bool int8 = (x.dtype == DType::u8 || x.dtype == DType::i8) && y.dtype == x.dtype &&
                    x.fully_known() && y.fully_known();
  if (!int8 && !all_static_float(q, why)) return nullptr;
  if (x.dims != y.dims) return *why = "input and output shapes differ", nullptr;
  const int bi = q.input_layout(0), bo = q.output_layout(0);
  auto name = [](const TensorType& t, int block) {
    return str_cat(layout_name(block, t.dims.size()),
                   t.dtype == DType::f32 ? "" : str_cat(" ", dtype_name(t.dtype)));
  };
  try {
    std::vector<DnnlReorders::Part> parts;
    parts.push_back(make_part(md_of(x, bi), md_of(y, bo)));
    return std::make_unique<DnnlReorders>(std::move(parts),
                                          str_cat(name(x, bi), " -> ", name(y, bo)));
  } catch (const dnnl::error& e) {
    return *why = str_cat("oneDNN: ", e.what()), nullptr;
  }
}

std::unique_ptr<Kernel> create_transpose(const KernelQuery& q, std::string* why) {
  if (!all_static_f32(q, why)) return nullptr;
  if (q.any_blocked()) return *why = "plain layouts only", nullptr;
  const Shape& x = q.input_types[0].dims;
  const Shape& y = q.output_types[0].dims;
  if (x.empty() || x.size() > 6 || has_zero_dim(x))
    return *why = "rank 1..6, no empty dims", nullptr;
  std::vector<int64_t> perm = q.node->attr_is("perm");
  if (perm.empty())
    for (size_t i = 0; i < x.size(); ++i) perm.push_back(static_cast<int64_t>(x.size() - 1 - i));
  if (perm.size() != x.size()) return *why = "perm has the wrong length", nullptr;
  memory::dims xs(x.size(), 1), strides(x.size());
  for (size_t i = x.size() - 1; i > 0; --i) xs[i - 1] = xs[i] * x[i];
  for (size_t i = 0; i < perm.size(); ++i) {
    int64_t p = norm_axis(perm[i], x.size());
    if (p < 0 || p >= static_cast<int64_t>(x.size()) || y[i] != x[p])
      return *why = "perm does not match the shapes", nullptr;
    strides[i] = xs[p];
  }
  try {
    memory::desc from(memory::dims(y.begin(), y.end()), DT::f32, strides);
    std::vector<DnnlReorders::Part> parts;
    parts.push_back(make_part(from, md(y, 0)));
    return std::make_unique<DnnlReorders>(std::move(parts), "strided -> plain");
  } catch (const dnnl::error& e) {
    return *why = str_cat("oneDNN: ", e.what()), nullptr;
  }
}

std::unique_ptr<Kernel> create_split(const KernelQuery& q, std::string* why) {
  if (!all_static_float(q, why, 1)) return nullptr;
  const Shape& x = q.input_types[0].dims;
  if (x.empty() || has_zero_dim(x)) return *why = "scalar or empty input", nullptr;
  const int64_t axis = norm_axis(q.node->attr_i("axis", 0), x.size());
  if (axis < 0 || axis >= static_cast<int64_t>(x.size()))
    return *why = "axis out of range", nullptr;
  const int bi = q.input_layout(0);
  if (bi && axis != 1) return *why = "blocked split only along channels", nullptr;
  std::vector<DnnlReorders::Part> parts;
  int64_t off = 0;
  try {
    for (size_t i = 0; i < q.output_types.size(); ++i) {
      const Shape& y = q.output_types[i].dims;
      if (has_zero_dim(y)) return *why = "empty output", nullptr;
      const int bo = q.output_layout(i);
      if (bo != bi) return *why = "input and output layouts differ", nullptr;
      if (q.output_types[i].dtype != q.input_types[0].dtype)
        return *why = "input and output types differ", nullptr;
      if (bi && (off % bi != 0 || y[1] % bi != 0))
        return *why = "channel split not at block boundaries", nullptr;
      memory::dims offsets(x.size(), 0);
      offsets[axis] = off;
      memory::desc from =
          md_of(q.input_types[0], bi).submemory_desc(memory::dims(y.begin(), y.end()), offsets);
      parts.push_back(make_part(from, md_of(q.output_types[i], bo), 0, i));
      off += y[axis];
    }
  } catch (const dnnl::error& e) {
    return *why = str_cat("oneDNN: ", e.what()), nullptr;
  }
  if (off != x[axis]) return *why = "outputs do not cover the input", nullptr;
  return std::make_unique<DnnlReorders>(std::move(parts),
                                        str_cat(layout_name(bi, x.size()), " views"));
}

// ---- Concat ----

class DnnlConcat : public Kernel {
 public:
  DnnlConcat(dnnl::concat::primitive_desc pd, size_t n, std::string layout)
      : pd_(std::move(pd)), prim_(pd_), n_(n), layout_(std::move(layout)) {}
  size_t scratch_bytes() const override { return pd_.scratchpad_desc().get_size(); }
  void execute(KernelContext& ctx) override {
    set_threads(ctx.num_threads);
    std::unordered_map<int, memory> args;
    bind_scratchpad(args, pd_.scratchpad_desc(), ctx.scratch);
    for (size_t i = 0; i < n_; ++i)
      args[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i)] = memory(
          pd_.src_desc(static_cast<int>(i)), engine(), const_cast<void*>(ctx.input(i).raw()));
    args[DNNL_ARG_DST] = memory(pd_.dst_desc(), engine(), ctx.output(0).raw());
    prim_.execute(stream(), args);
    stream().wait();
  }
  std::string layout() const override { return layout_; }

 private:
  dnnl::concat::primitive_desc pd_;
  dnnl::concat prim_;
  size_t n_;
  std::string layout_;
};

std::unique_ptr<Kernel> create_concat(const KernelQuery& q, std::string* why) {
  if (!all_static_float(q, why)) return nullptr;
  const Shape& y = q.output_types[0].dims;
  if (y.empty() || has_zero_dim(y)) return *why = "scalar or empty output", nullptr;
  const int64_t axis = norm_axis(q.node->attr_i("axis", 0), y.size());
  const int bo = q.output_layout(0);
  if (bo && axis != 1) return *why = "blocked concat only along channels", nullptr;
  std::vector<memory::desc> srcs;
  for (size_t i = 0; i < q.input_types.size(); ++i) {
    const Shape& x = q.input_types[i].dims;
    if (has_zero_dim(x)) return *why = "an input is empty", nullptr;
    if (q.input_layout(i) != bo) return *why = "input and output layouts differ", nullptr;
    if (bo && x[1] % bo != 0) return *why = "channels not a multiple of the block", nullptr;
    if (q.input_types[i].dtype != q.output_types[0].dtype)
      return *why = "input and output types differ", nullptr;
    srcs.push_back(md_of(q.input_types[i], bo));
  }
  try {
    dnnl::concat::primitive_desc pd(md_of(q.output_types[0], bo), static_cast<int>(axis), srcs,
                                    engine(), user_scratchpad());
    std::string impl = pd.impl_info_str();
    return std::make_unique<DnnlConcat>(std::move(pd), srcs.size(),
                                        str_cat(layout_name(bo, y.size()), " ", impl));
  } catch (const dnnl::error& e) {
    return *why = str_cat("oneDNN: ", e.what()), nullptr;
  }
}

// ---- visionrt.FlatConcat: each input reordered into its window of the plain output ----

// Input k, [N, C_k, H, W] in its layout (or plain [N, C_k, L_k]), goes to its strided window of
// the plain [N, C, L] output: one oneDNN reorder with a strided destination each (and f32 <->
// bf16 conversion when the types differ).
std::unique_ptr<Kernel> create_flat_concat(const KernelQuery& q, std::string* why) {
  FlatConcatGeometry g;
  if (!flat_concat_geometry(q, true, &g, why)) return nullptr;
  const int64_t C = g.c, L = g.l;
  std::vector<DnnlReorders::Part> parts;
  std::string layouts;
  try {
    for (size_t k = 0; k < g.windows.size(); ++k) {
      const Shape& d = q.input_types[k].dims;
      const FlatConcatWindow& w = g.windows[k];
      memory::dims strides =
          d.size() == 4 ? memory::dims{C * L, L, d[3], 1} : memory::dims{C * L, L, 1};
      memory::desc to(memory::dims(d.begin(), d.end()), DT::f32, strides);
      parts.push_back(
          make_part(md_of(q.input_types[k], q.input_layout(k)), to, k, 0,
                    static_cast<size_t>(w.channel_offset * L + w.position_offset) * sizeof(float)));
      const std::string l =
          str_cat(layout_name(q.input_layout(k), d.size()), " ", parts.back().pd.impl_info_str());
      if (layouts.find(l) == std::string::npos) layouts += (layouts.empty() ? "" : ", ") + l;
    }
  } catch (const dnnl::error& e) {
    return *why = str_cat("oneDNN: ", e.what()), nullptr;
  }
  return std::make_unique<DnnlReorders>(std::move(parts),
                                        str_cat(layouts, " -> abc (strided reorders)"));
}

// ---- Softmax ----

std::unique_ptr<Kernel> create_softmax(const KernelQuery& q, std::string* why) {
  if (!all_static_f32(q, why)) return nullptr;
  if (q.any_blocked()) return *why = "plain layouts only", nullptr;
  if (q.node->op_type != "Softmax") return *why = "only Softmax", nullptr;
  const Shape& x = q.input_types[0].dims;
  if (x.empty() || has_zero_dim(x)) return *why = "scalar or empty input", nullptr;
  const bool v13 = q.opset >= 13;
  const int64_t axis = norm_axis(q.node->attr_i("axis", v13 ? -1 : 1), x.size());
  if (axis < 0 || axis >= static_cast<int64_t>(x.size()))
    return *why = "axis out of range", nullptr;
  int64_t outer = 1, n = 1, inner = 1;
  for (int64_t i = 0; i < static_cast<int64_t>(x.size()); ++i) {
    if (i < axis)
      outer *= x[i];
    else if (i == axis || !v13)
      n *= x[i];  // before opset 13: softmax over the flattened tail
    else
      inner *= x[i];
  }
  try {
    memory::desc d({outer, n, inner}, DT::f32, Tag::abc);
    dnnl::softmax_forward::desc sd(dnnl::prop_kind::forward_inference, d, 1);
    return std::make_unique<SrcDstKernel<dnnl::softmax_forward>>(
        dnnl::softmax_forward::primitive_desc(sd, user_scratchpad(), engine()), "plain");
  } catch (const dnnl::error& e) {
    return *why = str_cat("oneDNN: ", e.what()), nullptr;
  }
}

}  // namespace

void register_dnnl_data(KernelRegistry& r) {
  r.add("visionrt.Reorder", {"dnnl", create_reorder, [](const KernelQuery&) { return true; }});
  r.add("Transpose", {"dnnl", create_transpose, nullptr});
  r.add("Split", KernelCandidate::checked_by_create("dnnl", create_split));
  r.add("Concat", KernelCandidate::checked_by_create("dnnl", create_concat));
  r.add("visionrt.FlatConcat", KernelCandidate::checked_by_create("dnnl", create_flat_concat));
  r.add("Softmax", {"dnnl", create_softmax, nullptr});
}

}  // namespace visionrt
