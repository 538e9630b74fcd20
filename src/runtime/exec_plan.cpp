// Static execution plan and the per-request executor (see exec_plan.hpp).
#include "runtime/exec_plan.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "common/strings.hpp"
#include "kernels/node_runner.hpp"
#include "ops/op_registry.hpp"
#include "ops/tensor_shapes.hpp"
#include "runtime/memory_plan.hpp"
#include "runtime/zeroed_block.hpp"

namespace visionrt {

namespace {

// Bytes a value occupies in its layout: blocked layouts pad channels to the block.
size_t value_bytes(const Value& v) {
  Shape dims = v.type.dims;
  if (v.layout_block > 0 && dims.size() >= 2)
    dims[1] = (dims[1] + v.layout_block - 1) / v.layout_block * v.layout_block;
  return shape_numel(dims) * dtype_size(v.type.dtype);
}

}  // namespace

ExecPlan ExecPlan::build(const Graph& g, const std::vector<std::string>& kernel_names,
                         const std::vector<size_t>& scratch_bytes) {
  ExecPlan p;
  const size_t nv = g.values.size(), nn = g.nodes.size();
  p.steps.assign(nn, Step::kDynamic);
  p.zero_fill.assign(nn, 0);
  p.value_buffer.assign(nv, -1);
  p.last_use.assign(nv, -1);
  p.graph_output.assign(nv, 0);
  for (size_t n = 0; n < nn; ++n)
    for (int i : g.nodes[n].inputs)
      if (i >= 0) p.last_use[i] = static_cast<int>(n);
  for (int o : g.outputs) p.graph_output[o] = 1;

  // Where each value lives: its own buffer, or (parent value, byte offset) for views (offset 0)
  // and for inputs written straight into an in-place Concat's output.
  std::vector<int> parent(nv, -1);
  std::vector<size_t> parent_offset(nv, 0);
  for (size_t n = 0; n < nn; ++n) {
    const Node& node = g.nodes[n];
    bool known = true;
    for (int o : node.outputs)
      if (o >= 0 && (!g.values[o].type.fully_known() || g.values[o].type.dtype == DType::undefined))
        known = false;
    if (!known) continue;
    const int in0 = node.inputs.empty() ? -1 : node.inputs[0];
    if (is_view_op(node.op_type) && in0 >= 0 && node.outputs.size() == 1 && node.outputs[0] >= 0 &&
        g.values[in0].type.dtype == g.values[node.outputs[0]].type.dtype) {
      p.steps[n] = Step::kView;
      parent[node.outputs[0]] = in0;
      continue;
    }
    p.steps[n] = Step::kStatic;
    p.zero_fill[n] = n < kernel_names.size() && kernel_names[n] == "ref";
  }
  p.in_place.assign(nn, 0);
  // In-place Split: along the channel axis with nothing but ones before it, every output is a
  // contiguous slice of the input; consumers read the slices and the Split does nothing.
  for (size_t n = 0; n < nn; ++n) {
    const Node& node = g.nodes[n];
    if (node.op_type != "Split" || p.steps[n] != Step::kStatic || node.inputs.empty() ||
        node.inputs[0] < 0)
      continue;
    const int in = node.inputs[0];
    const Value& iv = g.values[in];
    if (iv.producer < 0 || p.steps[iv.producer] != Step::kStatic) continue;
    const int64_t rank = static_cast<int64_t>(iv.type.dims.size());
    int64_t axis = node.attr_i("axis", 0);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank || (iv.layout_block && axis != 1) ||
        iv.layout_block == kLayoutNhwc)  // a channel slice of nhwc is not contiguous
      continue;
    bool ok = true;
    for (int64_t d = 0; d < axis; ++d) ok = ok && iv.type.dims[d] == 1;
    int64_t covered = 0;
    for (int o : node.outputs) {
      if (!ok) break;
      ok = o >= 0 && !p.graph_output[o] && g.values[o].layout_block == iv.layout_block &&
           g.values[o].type.dtype == iv.type.dtype &&
           (!iv.layout_block || g.values[o].type.dims[1] % iv.layout_block == 0);
      if (ok) covered += g.values[o].type.dims[axis];
    }
    if (!ok || covered != iv.type.dims[axis]) continue;
    size_t off = 0;
    for (int o : node.outputs) {
      parent[o] = in;
      parent_offset[o] = off;
      off += value_bytes(g.values[o]);
    }
    p.in_place[n] = 1;
  }
  // In-place Slice: a single axis sliced with step 1 and nothing but ones before it (a channel
  // split of a batch-1 tensor) is one contiguous range of its input: a view at an offset.
  for (size_t n = 0; n < nn; ++n) {
    const Node& node = g.nodes[n];
    if (node.op_type != "Slice" || p.steps[n] != Step::kStatic || node.inputs.empty() ||
        node.inputs[0] < 0 || node.outputs.size() != 1 || node.outputs[0] < 0)
      continue;
    const int in = node.inputs[0], out = node.outputs[0];
    const Value& iv = g.values[in];
    const Value& ov = g.values[out];
    if (iv.producer < 0 || p.steps[iv.producer] != Step::kStatic || p.graph_output[out] ||
        ov.layout_block != iv.layout_block || ov.type.dtype != iv.type.dtype ||
        iv.layout_block == kLayoutNhwc)
      continue;
    SliceParams sp;
    auto value = [&](size_t i) -> const Tensor* {
      const int v = i < node.inputs.size() ? node.inputs[i] : -1;
      return v >= 0 && g.values[v].constant ? &*g.values[v].constant : nullptr;
    };
    Shape sliced;
    std::string err;
    if (!slice_params(node, g.opset(), value, &sp) ||
        !slice_plan(iv.type.dims, &sp, &sliced, &err) || sliced != ov.type.dims)
      continue;
    const Shape& d = iv.type.dims;
    int axis = -1;
    bool ok = true;
    for (size_t a = 0; a < d.size() && ok; ++a) {
      if (sp.step[a] != 1) ok = false;
      if (sliced[a] == d[a]) continue;
      ok = ok && axis < 0;
      axis = static_cast<int>(a);
    }
    if (!ok || axis < 0) continue;
    for (int a = 0; a < axis; ++a) ok = ok && d[a] == 1;
    const int blk = iv.layout_block;
    if (blk && (axis != 1 || sp.start[1] % blk != 0 || sliced[1] % blk != 0)) ok = false;
    if (!ok) continue;
    int64_t inner = 1;
    for (size_t a = static_cast<size_t>(axis) + 1; a < d.size(); ++a) inner *= d[a];
    parent[out] = in;
    parent_offset[out] = static_cast<size_t>(sp.start[axis] * inner) * dtype_size(iv.type.dtype);
    p.in_place[n] = 1;
  }
  // In-place Concat: along the channel axis with nothing but ones before it, every input is a
  // contiguous slice of the output, so producers can write there and the Concat does nothing.
  // Inputs that are in-place Split slices count as their source tensor when a run of them
  // covers it in order (YOLO's C2f: split(x) -> a, b; concat(a, b, m(b)) places x itself).
  std::vector<int> view_children(nv, 0);
  std::vector<char> split_slice(nv, 0);
  for (size_t n = 0; n < nn; ++n) {
    if (p.steps[n] == Step::kView) view_children[g.nodes[n].inputs[0]]++;
    if (p.in_place[n])
      for (int o : g.nodes[n].outputs) split_slice[o] = 1;
  }
  std::vector<char> placed(nv, 0);        // already the source of one in-place Concat input
  std::vector<char> through_view(nv, 0);  // reached from a Concat input through views
  // Concats whose inputs are a prefix of a longer Concat's inputs (DenseNet: every layer concats
  // all features so far, the block's last Concat all of them): when the longest one is placed
  // in place, each shorter one is its leading part, a view at offset 0, so every feature map is
  // written once instead of once per later layer. host[n]: the longest such Concat, or -1.
  std::vector<int> host(nn, -1);
  auto channel_concat = [&](size_t n) {
    const Node& node = g.nodes[n];
    if (node.op_type != "Concat" || p.steps[n] != Step::kStatic || node.outputs.size() != 1 ||
        node.inputs.empty() || node.outputs[0] < 0)
      return false;
    const Value& ov = g.values[node.outputs[0]];
    int64_t axis = node.attr_i("axis", 0);
    if (axis < 0) axis += static_cast<int64_t>(ov.type.dims.size());
    if (axis != 1 || ov.type.dims.empty() || ov.type.dims[0] != 1) return false;
    for (int v : node.inputs)
      if (v < 0) return false;
    return true;
  };
  {
    std::vector<size_t> concats;
    for (size_t n = 0; n < nn; ++n)
      if (channel_concat(n)) concats.push_back(n);
    for (size_t a : concats) {
      const Node& na = g.nodes[a];
      for (size_t b : concats) {
        const Node& nb = g.nodes[b];
        if (b == a || nb.inputs.size() <= na.inputs.size() ||
            !std::equal(na.inputs.begin(), na.inputs.end(), nb.inputs.begin()) ||
            g.values[nb.outputs[0]].layout_block != g.values[na.outputs[0]].layout_block ||
            g.values[nb.outputs[0]].type.dtype != g.values[na.outputs[0]].type.dtype)
          continue;
        if (host[a] < 0 || nb.inputs.size() > g.nodes[host[a]].inputs.size())
          host[a] = static_cast<int>(b);
      }
    }
  }
  std::vector<char> is_host(nn, 0);
  for (size_t n = 0; n < nn; ++n)
    if (host[n] >= 0) is_host[host[n]] = 1;
  // Hosts first, then the prefixes of hosts placed in place, then every other Concat.
  std::vector<size_t> order;
  for (size_t n = 0; n < nn; ++n)
    if (is_host[n] && host[n] < 0) order.push_back(n);
  const size_t hosts_end = order.size();
  for (size_t n = 0; n < nn; ++n)
    if (host[n] >= 0 || !is_host[n]) order.push_back(n);
  for (size_t oi = 0; oi < order.size(); ++oi) {
    const size_t n = order[oi];
    const Node& node = g.nodes[n];
    if (node.op_type != "Concat" || p.steps[n] != Step::kStatic || node.outputs.size() != 1 ||
        node.inputs.empty())
      continue;
    if (oi >= hosts_end && host[n] >= 0 && p.in_place[host[n]]) {
      // The leading part of its host: no kernel, no buffer of its own.
      const int out = node.outputs[0];
      if (!p.graph_output[out] && parent[out] < 0 && !placed[out]) {
        parent[out] = g.nodes[host[n]].outputs[0];
        parent_offset[out] = 0;
        p.in_place[n] = 1;
      }
      continue;
    }
    const int out = node.outputs[0];
    const Value& ov = g.values[out];
    const int64_t rank = static_cast<int64_t>(ov.type.dims.size());
    int64_t axis = node.attr_i("axis", 0);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank || (ov.layout_block && axis != 1) ||
        ov.layout_block == kLayoutNhwc)
      continue;
    bool ok = true;
    for (int64_t d = 0; d < axis; ++d) ok = ok && ov.type.dims[d] == 1;
    // Groups of consecutive inputs with the same source: (source, bytes covered so far).
    std::vector<std::pair<int, size_t>> groups;
    for (int v : node.inputs) {
      if (!ok) break;
      if (v < 0) {
        ok = false;
        break;
      }
      int src = split_slice[v] ? parent[v] : v;
      size_t off = split_slice[v] ? parent_offset[v] : 0;
      // Through a chain of views (YOLOv5's head: Concat -> Reshape -> Concat) to the tensor a
      // kernel writes: each link the only view of its source and no graph output.
      if (!split_slice[v]) {
        bool chain_ok = true;
        while (src >= 0 && g.values[src].producer >= 0 &&
               p.steps[g.values[src].producer] == Step::kView && parent[src] >= 0) {
          const int up = parent[src];
          if (p.graph_output[src] || view_children[up] != 1 ||
              value_bytes(g.values[up]) != value_bytes(g.values[src])) {
            chain_ok = false;
            break;
          }
          src = up;
          through_view[src] = 1;
        }
        if (!chain_ok) {
          ok = false;
          break;
        }
      }
      if (!groups.empty() && groups.back().first == src && groups.back().second == off) {
        groups.back().second += value_bytes(g.values[v]);
        continue;
      }
      if (off != 0) {
        ok = false;
        break;
      }
      groups.push_back({src, value_bytes(g.values[v])});
    }
    for (const auto& [src, bytes] : groups) {
      if (!ok) break;
      const Value& sv = g.values[src];
      ok = bytes == value_bytes(sv) && sv.producer >= 0 && p.steps[sv.producer] == Step::kStatic &&
           !p.in_place[sv.producer] && !p.graph_output[src] && parent[src] < 0 &&
           view_children[src] == (through_view[src] ? 1 : 0) && !placed[src] &&
           sv.layout_block == ov.layout_block && sv.type.dtype == ov.type.dtype &&
           (!sv.layout_block || sv.type.dims[1] % sv.layout_block == 0);
      placed[src] = 1;  // also rejects a source appearing in two groups
    }
    if (!ok) {
      for (const auto& gr : groups) placed[gr.first] = 0;
      continue;
    }
    size_t off = 0;
    for (const auto& [src, bytes] : groups) {
      parent[src] = out;
      parent_offset[src] = off;
      off += bytes;
    }
    p.in_place[n] = 1;
  }
  // Buffers: one per static output that is not placed inside another value.
  std::vector<BufferRequest> reqs;
  for (size_t n = 0; n < nn; ++n) {
    if (p.steps[n] != Step::kStatic) continue;
    for (int o : g.nodes[n].outputs) {
      if (o < 0 || parent[o] >= 0) continue;
      p.value_buffer[o] = static_cast<int>(p.buffers.size());
      Buffer b;
      b.bytes = value_bytes(g.values[o]);
      p.buffers.push_back(b);
      reqs.push_back({b.bytes, static_cast<int>(n), static_cast<int>(n)});
    }
  }
  // Kernel scratch: alive during its node only.
  p.scratch_buffer.assign(nn, -1);
  for (size_t n = 0; n < nn && n < scratch_bytes.size(); ++n) {
    if (!scratch_bytes[n] || p.steps[n] != Step::kStatic) continue;
    p.scratch_buffer[n] = static_cast<int>(p.buffers.size());
    Buffer b;
    b.bytes = scratch_bytes[n];
    p.buffers.push_back(b);
    reqs.push_back({b.bytes, static_cast<int>(n), static_cast<int>(n)});
  }
  // Every value in a buffer extends its lifetime (from its producer to its last reader);
  // graph outputs pin theirs.
  p.value_offset.assign(nv, 0);
  for (size_t v = 0; v < nv; ++v) {
    int r = static_cast<int>(v);
    size_t off = 0;
    while (parent[r] >= 0) {
      off += parent_offset[r];
      r = parent[r];
    }
    int b = p.value_buffer[r];
    if (b < 0) continue;
    p.value_buffer[v] = b;
    p.value_offset[v] = off;
    if (g.values[v].producer >= 0) reqs[b].first = std::min(reqs[b].first, g.values[v].producer);
    reqs[b].last = std::max(reqs[b].last, p.last_use[v]);
    if (p.graph_output[v]) p.buffers[b].pinned = true;
  }
  std::vector<BufferRequest> arena_reqs;
  std::vector<size_t> arena_ids;
  for (size_t b = 0; b < p.buffers.size(); ++b) {
    p.planned_bytes += p.buffers[b].bytes;
    if (p.buffers[b].pinned) {
      p.pinned_bytes += p.buffers[b].bytes;
      continue;
    }
    arena_reqs.push_back(reqs[b]);
    arena_ids.push_back(b);
  }
  MemoryPlan mp = plan_memory(arena_reqs);
  for (size_t k = 0; k < arena_ids.size(); ++k) p.buffers[arena_ids[k]].offset = mp.offsets[k];
  p.arena_bytes = mp.arena_bytes;
  p.arena_lower_bound = mp.lower_bound;
  return p;
}

std::string ExecPlan::summary() const {
  size_t st = 0, dy = 0, vw = 0, ip = 0;
  for (Step s : steps) (s == Step::kStatic ? st : s == Step::kDynamic ? dy : vw)++;
  for (char c : in_place) ip += c != 0;
  return str_cat("arena ", format_mib(arena_bytes), " (lower bound ", format_mib(arena_lower_bound),
                 ", without reuse ", format_mib(planned_bytes - pinned_bytes), "), outputs ",
                 format_mib(pinned_bytes), "; nodes: ", st, " static (", ip,
                 " Concat/Split in place), ", vw, " views, ", dy, " dynamic");
}

Executor::Executor(const Graph& g, const ExecPlan& plan,
                   const std::vector<std::unique_ptr<Kernel>>& k)
    : g_(g), plan_(plan), kernels_(k) {}

const Tensor* Executor::slot(int v) const {
  if (v < 0) return nullptr;
  const Value& val = g_.values[v];
  if (val.constant) return &*val.constant;
  const Tensor* t = nullptr;
  if (input_index_[v] >= 0)
    t = input_slots_[input_index_[v]];
  else if (val.producer >= 0)
    t = &outs_[val.producer][output_index(v)];
  return t && !t->empty() ? t : nullptr;
}

size_t Executor::output_index(int v) const {
  const auto& outs = g_.nodes[g_.values[v].producer].outputs;
  return static_cast<size_t>(std::find(outs.begin(), outs.end(), v) - outs.begin());
}

void Executor::build_buffers() {
  const size_t nn = g_.nodes.size();
  if (plan_.arena_bytes) arena_ = zeroed_block(plan_.arena_bytes, "the activation arena");
  pinned_.resize(plan_.buffers.size());
  for (size_t b = 0; b < plan_.buffers.size(); ++b)
    if (plan_.buffers[b].pinned) pinned_[b] = zeroed_block(plan_.buffers[b].bytes, "the output");
  input_index_.assign(g_.values.size(), -1);
  for (size_t i = 0; i < g_.inputs.size(); ++i) input_index_[g_.inputs[i]] = static_cast<int>(i);
  outs_.assign(nn, {});
  ctxs_.assign(nn, {});
  planned_ptr_.assign(nn, {});
  planned_view_.assign(nn, {});
  view_ready_.assign(nn, 0);
  std::vector<char> fixed(g_.values.size(), 0);  // memory address known before any run
  for (size_t n = 0; n < nn; ++n) {
    const Node& node = g_.nodes[n];
    outs_[n].resize(node.outputs.size());
    if (plan_.steps[n] == ExecPlan::Step::kStatic) {
      planned_ptr_[n].assign(node.outputs.size(), nullptr);
      planned_view_[n].resize(node.outputs.size());
      for (size_t o = 0; o < node.outputs.size(); ++o) {
        int v = node.outputs[o];
        if (v < 0) continue;
        const ExecPlan::Buffer& b = plan_.buffers[plan_.value_buffer[v]];
        std::shared_ptr<void> owner = b.pinned ? pinned_[plan_.value_buffer[v]] : arena_;
        void* ptr =
            static_cast<char*>(owner.get()) + (b.pinned ? 0 : b.offset) + plan_.value_offset[v];
        planned_ptr_[n][o] = ptr;
        planned_view_[n][o] =
            Tensor::wrap(g_.values[v].type.dtype, g_.values[v].type.dims, ptr, owner);
        outs_[n][o] = planned_view_[n][o];
        fixed[v] = 1;
      }
    } else if (plan_.steps[n] == ExecPlan::Step::kView) {
      int in = node.inputs[0], out = node.outputs[0];
      if (fixed[in] || g_.values[in].constant) {
        outs_[n][0] = slot(in)->reshaped(g_.values[out].type.dims);
        view_ready_[n] = 1;
        fixed[out] = 1;
      }
    }
  }
  // Kernel contexts point at stable slots: constants, input_slots_ entries (set per run),
  // outs_ elements, the node's scratch in the arena. Running a node copies nothing.
  for (size_t n = 0; n < nn; ++n) {
    if (plan_.steps[n] != ExecPlan::Step::kStatic) continue;
    KernelContext& ctx = ctxs_[n];
    ctx.node = &g_.nodes[n];
    ctx.opset = g_.opset();
    ctx.outputs = &outs_[n];
    if (plan_.scratch_buffer[n] >= 0)
      ctx.scratch =
          static_cast<char*>(arena_.get()) + plan_.buffers[plan_.scratch_buffer[n]].offset;
    for (int i : g_.nodes[n].inputs) {
      const Tensor* t = nullptr;
      if (i >= 0 && g_.values[i].constant)
        t = &*g_.values[i].constant;
      else if (i >= 0 && input_index_[i] < 0)
        t = &produced(i);
      ctx.inputs.push_back(t);
    }
  }
  built_ = true;
}

void Executor::enable_profiling(const std::vector<std::string>& kernel_names,
                                const std::vector<std::string>& layouts) {
  profiling_ = true;
  profile_.assign(g_.nodes.size(), {});
  for (size_t n = 0; n < g_.nodes.size(); ++n) {
    NodeProfile& p = profile_[n];
    p.node = g_.nodes[n].name;
    p.op = g_.nodes[n].op_type;
    p.kernel = n < kernel_names.size() ? kernel_names[n] : "";
    p.layout = n < layouts.size() ? layouts[n] : "";
    ExecPlan::Step s = plan_.steps[n];
    p.step = s == ExecPlan::Step::kStatic ? "static"
             : s == ExecPlan::Step::kView ? "view"
                                          : "dynamic";
  }
}

void Executor::run(const std::vector<Tensor>& inputs, int num_threads,
                   std::vector<Tensor>* outputs) {
  if (!built_) build_buffers();
  input_slots_.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) input_slots_[i] = &inputs[i];
  const int64_t opset = g_.opset();
  using clock = std::chrono::steady_clock;
  for (size_t n = 0; n < g_.nodes.size(); ++n) {
    const Node& node = g_.nodes[n];
    clock::time_point t0;
    if (profiling_) t0 = clock::now();
    try {
      switch (plan_.steps[n]) {
        case ExecPlan::Step::kView: {
          if (view_ready_[n]) break;
          const Tensor* in = slot(node.inputs[0]);
          if (!in) throw InputError(str_cat("node ", node.label(), ": input 0 was not computed"));
          outs_[n][0] = in->reshaped(g_.values[node.outputs[0]].type.dims);
          break;
        }
        case ExecPlan::Step::kStatic: {
          KernelContext& ctx = ctxs_[n];
          for (size_t k = 0; k < node.inputs.size(); ++k) {
            int v = node.inputs[k];
            if (v >= 0 && input_index_[v] >= 0) ctx.inputs[k] = input_slots_[input_index_[v]];
          }
          // Before any fill: an in-place node's output is its inputs' data (a Concat whose
          // producers wrote there, a Split/Slice of its input), which a fill would wipe.
          if (plan_.in_place[n]) break;  // data already where the plan put it
          if (plan_.zero_fill[n])
            for (size_t o = 0; o < outs_[n].size(); ++o)
              if (planned_ptr_[n][o]) std::memset(planned_ptr_[n][o], 0, outs_[n][o].nbytes());
          ctx.num_threads = num_threads;
          kernels_[n]->execute(ctx);
          // A kernel that assigned its own output tensor: the plan (and views precomputed over
          // it) expects the data at the planned address.
          for (size_t o = 0; o < outs_[n].size(); ++o) {
            if (!planned_ptr_[n][o] || outs_[n][o].raw() == planned_ptr_[n][o]) continue;
            Tensor got = std::move(outs_[n][o]);
            outs_[n][o] = planned_view_[n][o];
            if (got.dtype() != outs_[n][o].dtype() || got.shape() != outs_[n][o].shape())
              throw Error(str_cat("node ", node.label(), ": kernel produced ", got.describe(),
                                  ", shape inference planned ", outs_[n][o].describe()));
            std::memcpy(planned_ptr_[n][o], got.raw(), got.nbytes());
          }
          break;
        }
        case ExecPlan::Step::kDynamic: {
          std::vector<const Tensor*> args;
          args.reserve(node.inputs.size());
          for (int v : node.inputs) args.push_back(slot(v));
          std::vector<Tensor> r = execute_node(*kernels_[n], node, opset, args, num_threads);
          // Element-wise: static nodes hold pointers to these slots.
          for (size_t o = 0; o < r.size() && o < outs_[n].size(); ++o)
            outs_[n][o] = std::move(r[o]);
          break;
        }
      }
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error(str_cat("node ", node.label(), ": ", e.what()));
    }
    if (profiling_) {
      profile_[n].total_ms += std::chrono::duration<double, std::milli>(clock::now() - t0).count();
      profile_[n].count++;
    }
    // Run-time allocated values are released after their last reader.
    for (int v : node.inputs) {
      if (v < 0 || plan_.last_use[v] != static_cast<int>(n) || plan_.graph_output[v]) continue;
      const Value& val = g_.values[v];
      if (val.producer < 0 || plan_.steps[val.producer] != ExecPlan::Step::kDynamic) continue;
      produced(v) = Tensor();
    }
  }
  outputs->resize(g_.outputs.size());
  for (size_t k = 0; k < g_.outputs.size(); ++k) {
    const Tensor* t = slot(g_.outputs[k]);
    (*outputs)[k] = t ? *t : Tensor();
  }
}

}  // namespace visionrt
