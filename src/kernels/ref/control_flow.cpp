// If, Loop and Scan: each body is compiled once into a SubgraphRunner (a kernel per node, chosen
// among those that take run-time sizes, since a body's shapes may change from one call to the next)
// and run on the node's inputs: the explicit ones as the op defines them, then the outer-scope
// captures (ops/control_flow.hpp) bound to the body's trailing inputs by position.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "common/strings.hpp"
#include "kernels/node_runner.hpp"
#include "ops/control_flow.hpp"

namespace visionrt {
namespace {

class SubgraphRunner {
 public:
  SubgraphRunner(const Graph& g, int64_t opset) : g_(g), opset_(opset) {
    for (const Node& n : g_.nodes) {
      KernelQuery q = query_for(g_, n);
      q.opset = opset_;
      // Sizes inside a body may change between calls: candidates see dtype and rank only (as
      // the outer graph's dynamic steps do), so only kernels that take run-time sizes accept.
      for (auto* types : {&q.input_types, &q.output_types})
        for (TensorType& t : *types)
          for (int64_t& d : t.dims) d = -1;
      std::string chosen, why;
      auto k = select_kernel(q, "", &chosen, &why);
      if (!k)
        throw ModelError(str_cat(g_.path, ": subgraph node ", n.label(), ": no kernel: ", why));
      kernels_.push_back(std::move(k));
    }
  }

  size_t num_inputs() const { return g_.inputs.size(); }
  size_t num_outputs() const { return g_.outputs.size(); }
  const TensorType& output_type(size_t i) const { return g_.values[g_.outputs[i]].type; }

  // Runs the body; the results own their memory (copies where they would alias an input).
  std::vector<Tensor> run(const std::vector<const Tensor*>& inputs, int threads,
                          const Node& owner) const {
    if (inputs.size() != g_.inputs.size())
      throw InputError(str_cat("node ", owner.label(), ": the body takes ", g_.inputs.size(),
                               " inputs, ", inputs.size(), " given"));
    std::vector<Tensor> vals(g_.values.size());
    std::vector<char> borrowed(g_.values.size(), 0);
    for (size_t v = 0; v < g_.values.size(); ++v)
      if (g_.values[v].constant) {
        vals[v] = *g_.values[v].constant;
        borrowed[v] = 1;
      }
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!inputs[i])
        throw InputError(str_cat("node ", owner.label(), ": body input ", i, " is absent"));
      vals[g_.inputs[i]] = *inputs[i];
      borrowed[g_.inputs[i]] = 1;
    }
    std::vector<const Tensor*> ins;
    for (size_t k = 0; k < g_.nodes.size(); ++k) {
      const Node& n = g_.nodes[k];
      ins.clear();
      for (int i : n.inputs) ins.push_back(i >= 0 && !vals[i].empty() ? &vals[i] : nullptr);
      std::vector<Tensor> outs = execute_node(*kernels_[k], n, opset_, ins, threads);
      for (size_t o = 0; o < n.outputs.size(); ++o)
        if (n.outputs[o] >= 0) vals[n.outputs[o]] = std::move(outs[o]);
    }
    std::vector<Tensor> out;
    for (int o : g_.outputs) {
      if (vals[o].empty())
        throw InputError(str_cat("node ", owner.label(), ": body output '", g_.values[o].name,
                                 "' was not computed"));
      out.push_back(borrowed[o] ? vals[o].clone() : vals[o]);
    }
    return out;
  }

 private:
  Graph g_;
  int64_t opset_;
  std::vector<std::unique_ptr<Kernel>> kernels_;
};

// Output i of the node gets t: into the planned tensor when the runtime allocated one (its shape
// must agree), else as the output itself.
void deliver(KernelContext& c, size_t i, Tensor t) {
  Tensor& o = c.output(i);
  if (o.empty()) {
    c.set_output(i, std::move(t));
    return;
  }
  if (o.dtype() != t.dtype() || o.shape() != t.shape())
    c.fail(str_cat("output ", i, " is ", dtype_name(t.dtype()), " ", shape_str(t.shape()),
                   ", the graph expects ", dtype_name(o.dtype()), " ", shape_str(o.shape())));
  if (t.nbytes()) std::memcpy(o.raw(), t.raw(), t.nbytes());
}

bool truth(const KernelContext& c, const Tensor& t, const char* what) {
  if (t.numel() != 1) c.fail(str_cat(what, " must hold one value, it has ", t.numel()));
  return t.at_f64(0) != 0;
}

std::vector<const Tensor*> captures(const KernelContext& c, size_t from) {
  std::vector<const Tensor*> r;
  for (size_t i = from; i < c.num_inputs(); ++i) r.push_back(c.inputs[i]);
  return r;
}

class IfKernel : public Kernel {
 public:
  IfKernel(const Node& n, int64_t opset)
      : then_(subgraph_attr(n, "then_branch"), opset),
        else_(subgraph_attr(n, "else_branch"), opset) {}
  void execute(KernelContext& c) override {
    const bool cond = truth(c, c.input(0), "cond");
    const std::vector<const Tensor*> caps = captures(c, explicit_inputs(*c.node));
    std::vector<Tensor> r = (cond ? then_ : else_).run(caps, c.num_threads, *c.node);
    if (r.size() != c.num_outputs()) c.fail("the branch gives a different number of outputs");
    for (size_t i = 0; i < r.size(); ++i) deliver(c, i, std::move(r[i]));
  }

 private:
  SubgraphRunner then_, else_;
};

// Stacks equally shaped per-step tensors along a new axis `axis` (steps in the given order).
Tensor stack(const std::vector<Tensor>& steps, int64_t axis, const TensorType& declared,
             const KernelContext& c, size_t out) {
  if (steps.empty()) {
    // No iteration: zero along the new axis, the body's declared shape for the rest.
    Shape dims{0};
    if (declared.fully_known()) dims.insert(dims.end(), declared.dims.begin(), declared.dims.end());
    if (axis != 0 && dims.size() > 1) std::swap(dims[0], dims[static_cast<size_t>(axis)]);
    return Tensor(declared.dtype == DType::undefined ? DType::f32 : declared.dtype, dims);
  }
  const Shape& s = steps[0].shape();
  for (const Tensor& t : steps)
    if (t.shape() != s || t.dtype() != steps[0].dtype())
      c.fail(str_cat("scan output ", out, " changes shape or type between iterations (",
                     shape_str(s), " then ", shape_str(t.shape()), ")"));
  const int64_t len = static_cast<int64_t>(steps.size());
  Shape dims = s;
  dims.insert(dims.begin() + axis, len);
  Tensor y(steps[0].dtype(), dims);
  size_t outer = 1, inner = dtype_size(y.dtype());
  for (int64_t i = 0; i < axis; ++i) outer *= static_cast<size_t>(s[i]);
  for (size_t i = static_cast<size_t>(axis); i < s.size(); ++i) inner *= static_cast<size_t>(s[i]);
  char* dst = static_cast<char*>(y.raw());
  if (y.numel() == 0) return y;  // nothing to copy (and no storage to point at)
  for (int64_t p = 0; p < len; ++p) {
    const char* src = static_cast<const char*>(steps[p].raw());
    for (size_t o = 0; o < outer; ++o)
      std::memcpy(dst + (o * len + p) * inner, src + o * inner, inner);
  }
  return y;
}

// A loop-carried value the body only extends, v' = Concat(v, piece) along axis 0 (the body
// reading v nowhere else, v' feeding nothing but the body's output): torchvision's paste-masks
// loop, `res = torch.cat((res, mask))`, exports so, and running it as written copies every
// earlier piece again each iteration (quadratic in the detections). The body is rewritten to
// output the piece alone; the kernel keeps the pieces and concatenates once at the end.
// Returns, per carried value, whether it is appended; *body is rewritten for those.
std::vector<char> find_appended(Graph* body, size_t carried) {
  std::vector<char> appended(carried, 0);
  std::vector<int> uses(body->values.size(), 0);
  for (const Node& n : body->nodes)
    for (int v : n.inputs)
      if (v >= 0) ++uses[static_cast<size_t>(v)];
  for (int o : body->outputs) ++uses[static_cast<size_t>(o)];
  std::vector<size_t> drop;
  for (size_t k = 0; k < carried; ++k) {
    if (2 + k >= body->inputs.size() || 1 + k >= body->outputs.size()) break;
    const int in = body->inputs[2 + k], out = body->outputs[1 + k];
    const int p = body->values[static_cast<size_t>(out)].producer;
    if (p < 0) continue;
    const Node& cat = body->nodes[static_cast<size_t>(p)];
    if (cat.op_type != "Concat" || !cat.domain.empty() || cat.attr_i("axis", 0) != 0 ||
        cat.inputs.size() != 2 || cat.inputs[0] != in || cat.inputs[1] < 0 || cat.inputs[1] == in ||
        uses[static_cast<size_t>(in)] != 1 || uses[static_cast<size_t>(out)] != 1)
      continue;
    body->outputs[1 + k] = cat.inputs[1];
    drop.push_back(static_cast<size_t>(p));
    appended[k] = 1;
  }
  if (drop.empty()) return appended;
  std::vector<Node> kept;
  for (size_t i = 0; i < body->nodes.size(); ++i)
    if (std::find(drop.begin(), drop.end(), i) == drop.end()) kept.push_back(body->nodes[i]);
  body->nodes = std::move(kept);
  body->relink();
  return appended;
}

// The initial value followed by every piece along axis 0 (Concat's rules: same type, the other
// dimensions equal).
Tensor concat_rows(const Tensor& init, const std::vector<Tensor>& pieces, const KernelContext& c,
                   size_t out) {
  Shape dims = init.shape();
  if (dims.empty())
    c.fail(str_cat("loop-carried value ", out, " is a scalar; Concat needs rank 1+"));
  for (const Tensor& t : pieces) {
    const Shape& s = t.shape();
    bool ok = t.dtype() == init.dtype() && s.size() == dims.size();
    for (size_t d = 1; ok && d < s.size(); ++d) ok = s[d] == dims[d];
    if (!ok)
      c.fail(str_cat("loop-carried Concat ", out, ": ", dtype_name(t.dtype()), " ", shape_str(s),
                     " does not extend ", dtype_name(init.dtype()), " ", shape_str(init.shape()),
                     " along axis 0"));
    dims[0] += s[0];
  }
  Tensor y(init.dtype(), dims);
  char* dst = static_cast<char*>(y.raw());
  if (init.nbytes()) std::memcpy(dst, init.raw(), init.nbytes());
  dst += init.nbytes();
  for (const Tensor& t : pieces) {
    if (t.nbytes()) std::memcpy(dst, t.raw(), t.nbytes());
    dst += t.nbytes();
  }
  return y;
}

Graph loop_body(const Node& n, std::vector<char>* appended) {
  Graph g = subgraph_attr(n, "body");
  const size_t ex = explicit_inputs(n);
  *appended = find_appended(&g, ex >= 2 ? ex - 2 : 0);
  return g;
}

class LoopKernel : public Kernel {
 public:
  LoopKernel(const Node& n, int64_t opset) : body_(loop_body(n, &appended_), opset) {}
  void execute(KernelContext& c) override {
    const Node& n = *c.node;
    const size_t ex = explicit_inputs(n), carried = ex - 2;
    int64_t trips = INT64_MAX;
    if (c.has_input(0)) {
      const Tensor& m = c.input(0);
      if (m.numel() != 1) c.fail("M must hold one value");
      trips = static_cast<int64_t>(m.at_f64(0));
    }
    bool cond = c.has_input(1) ? truth(c, c.input(1), "cond") : true;
    std::vector<Tensor> state;
    for (size_t i = 0; i < carried; ++i) {
      if (!c.has_input(2 + i)) c.fail(str_cat("loop-carried input ", i, " is absent"));
      state.push_back(c.input(2 + i));
    }
    const std::vector<const Tensor*> caps = captures(c, ex);
    const size_t scans = c.num_outputs() - carried;
    std::vector<std::vector<Tensor>> scan(scans), pieces(carried);
    Tensor iter = Tensor::scalar<int64_t>(0), cond_in(DType::boolean, {});
    for (int64_t i = 0; i < trips && cond; ++i) {
      iter.data<int64_t>()[0] = i;
      cond_in.data<bool>()[0] = cond;
      std::vector<const Tensor*> ins{&iter, &cond_in};
      for (const Tensor& s : state) ins.push_back(&s);
      ins.insert(ins.end(), caps.begin(), caps.end());
      std::vector<Tensor> r = body_.run(ins, c.num_threads, n);
      if (r.size() != 1 + carried + scans) c.fail("the body gives the wrong number of outputs");
      cond = truth(c, r[0], "the body's cond output");
      for (size_t k = 0; k < carried; ++k) {
        if (k < appended_.size() && appended_[k])
          pieces[k].push_back(std::move(r[1 + k]));  // state[k] keeps the initial value
        else
          state[k] = std::move(r[1 + k]);
      }
      for (size_t k = 0; k < scans; ++k) scan[k].push_back(std::move(r[1 + carried + k]));
    }
    for (size_t k = 0; k < carried; ++k)
      deliver(c, k,
              k < appended_.size() && appended_[k] ? concat_rows(state[k], pieces[k], c, k)
                                                   : state[k].clone());
    for (size_t k = 0; k < scans; ++k)
      deliver(c, carried + k, stack(scan[k], 0, body_.output_type(1 + carried + k), c, k));
  }

 private:
  std::vector<char> appended_;  // before body_: loop_body() fills it while body_ is built
  SubgraphRunner body_;
};

// Slice t at index p along axis (the axis removed).
Tensor take(const Tensor& t, int64_t axis, int64_t p) {
  const Shape& s = t.shape();
  Shape dims = s;
  dims.erase(dims.begin() + axis);
  Tensor y(t.dtype(), dims);
  size_t outer = 1, inner = dtype_size(t.dtype());
  for (int64_t i = 0; i < axis; ++i) outer *= static_cast<size_t>(s[i]);
  for (size_t i = static_cast<size_t>(axis) + 1; i < s.size(); ++i)
    inner *= static_cast<size_t>(s[i]);
  const size_t len = static_cast<size_t>(s[axis]);
  if (y.numel() == 0) return y;
  const char* src = static_cast<const char*>(t.raw());
  char* dst = static_cast<char*>(y.raw());
  for (size_t o = 0; o < outer; ++o)
    std::memcpy(dst + o * inner, src + (o * len + static_cast<size_t>(p)) * inner, inner);
  return y;
}

// Scan: opset 9+ scans its inputs along any axis in either direction; opset 8 has a leading
// batch axis on every state and scan input (scanned along axis 1) and an optional
// sequence_lens first input (all lengths must be the full one here).
class ScanKernel : public Kernel {
 public:
  ScanKernel(const Node& n, int64_t opset) : body_(subgraph_attr(n, "body"), opset) {}
  void execute(KernelContext& c) override {
    const Node& n = *c.node;
    const size_t ex = explicit_inputs(n);
    const bool v8 = c.opset < 9;
    const size_t lead = v8 ? 1 : 0;
    const size_t m = static_cast<size_t>(n.attr_i("num_scan_inputs", 1));
    if (m + lead > ex) c.fail("num_scan_inputs exceeds the inputs");
    const size_t states = ex - lead - m, scans = c.num_outputs() - states;
    Directions d;
    d.in_axes = n.attr_is("scan_input_axes");
    d.in_dirs = n.attr_is(v8 ? "directions" : "scan_input_directions");
    d.out_axes = n.attr_is("scan_output_axes");
    d.out_dirs = n.attr_is("scan_output_directions");
    const std::vector<const Tensor*> caps = captures(c, ex);
    std::vector<Tensor> state, xs;
    for (size_t i = 0; i < states; ++i) state.push_back(c.input(lead + i));
    for (size_t j = 0; j < m; ++j) xs.push_back(c.input(lead + states + j));
    if (!v8) {
      std::vector<Tensor> outs = scan_once(c, state, xs, d, caps, scans);
      for (size_t k = 0; k < outs.size(); ++k) deliver(c, k, std::move(outs[k]));
      return;
    }
    // Opset 8: one scan per batch entry, results stacked back along the batch axis.
    if (xs.empty() || xs[0].rank() < 2) c.fail("scan inputs need [batch, sequence, ...]");
    const int64_t batch = xs[0].dim(0);
    if (c.has_input(0)) {
      const Tensor& lens = c.input(0);
      if (static_cast<int64_t>(lens.numel()) != batch) c.fail("sequence_lens needs one per batch");
      for (size_t b = 0; b < lens.numel(); ++b)
        if (lens.at_f64(b) != static_cast<double>(xs[0].dim(1)))
          c.fail("sequence_lens shorter than the sequence is not supported");
    }
    std::vector<std::vector<Tensor>> per_out(states + scans);
    for (int64_t b = 0; b < batch; ++b) {
      std::vector<Tensor> sb, xb;
      for (const Tensor& t : state) {
        if (t.rank() < 1 || t.dim(0) != batch) c.fail("states need the batch axis first");
        sb.push_back(take(t, 0, b));
      }
      for (const Tensor& t : xs) {
        if (t.rank() < 2 || t.dim(0) != batch) c.fail("scan inputs need the batch axis first");
        xb.push_back(take(t, 0, b));
      }
      std::vector<Tensor> outs = scan_once(c, sb, xb, d, caps, scans);
      for (size_t k = 0; k < outs.size(); ++k) per_out[k].push_back(std::move(outs[k]));
    }
    for (size_t k = 0; k < per_out.size(); ++k) {
      TensorType declared = k < states ? TensorType{} : body_.output_type(k);
      deliver(c, k, stack(per_out[k], 0, declared, c, k));
    }
  }

 private:
  struct Directions {
    std::vector<int64_t> in_axes, in_dirs, out_axes, out_dirs;
  };

  // One scan: final states, then the scan outputs stacked.
  std::vector<Tensor> scan_once(const KernelContext& c, std::vector<Tensor> state,
                                const std::vector<Tensor>& xs, const Directions& d,
                                const std::vector<const Tensor*>& caps, size_t scans) const {
    const Node& n = *c.node;
    const size_t states = state.size(), m = xs.size();
    std::vector<int64_t> axis(m);
    int64_t len = -1;
    for (size_t j = 0; j < m; ++j) {
      axis[j] = c.axis(j < d.in_axes.size() ? d.in_axes[j] : 0, static_cast<int64_t>(xs[j].rank()));
      const int64_t l = xs[j].dim(static_cast<size_t>(axis[j]));
      if (len >= 0 && l != len)
        c.fail(str_cat("scan inputs have different lengths (", len, " and ", l, ")"));
      len = l;
    }
    std::vector<std::vector<Tensor>> scan(scans);
    for (int64_t t = 0; t < len; ++t) {
      std::vector<Tensor> slices;
      for (size_t j = 0; j < m; ++j) {
        const bool reverse = j < d.in_dirs.size() && d.in_dirs[j] == 1;
        slices.push_back(take(xs[j], axis[j], reverse ? len - 1 - t : t));
      }
      std::vector<const Tensor*> ins;
      for (const Tensor& s : state) ins.push_back(&s);
      for (const Tensor& s : slices) ins.push_back(&s);
      ins.insert(ins.end(), caps.begin(), caps.end());
      std::vector<Tensor> r = body_.run(ins, c.num_threads, n);
      if (r.size() != states + scans) c.fail("the body gives the wrong number of outputs");
      for (size_t k = 0; k < states; ++k) state[k] = std::move(r[k]);
      for (size_t k = 0; k < scans; ++k) scan[k].push_back(std::move(r[states + k]));
    }
    std::vector<Tensor> out;
    for (size_t k = 0; k < states; ++k) out.push_back(state[k].clone());
    for (size_t k = 0; k < scans; ++k) {
      std::vector<Tensor>& steps = scan[k];
      if (k < d.out_dirs.size() && d.out_dirs[k] == 1) std::reverse(steps.begin(), steps.end());
      const TensorType& declared = body_.output_type(states + k);
      const int64_t rank =
          steps.empty() ? (declared.has_rank ? static_cast<int64_t>(declared.dims.size()) : 0)
                        : static_cast<int64_t>(steps[0].rank());
      const int64_t a = c.axis(k < d.out_axes.size() ? d.out_axes[k] : 0, rank + 1);
      out.push_back(stack(steps, a, declared, c, k));
    }
    return out;
  }

  SubgraphRunner body_;
};

template <typename K>
KernelCandidate control_flow_candidate() {
  KernelCandidate k;
  k.name = "ref";
  k.create = [](const KernelQuery& q, std::string* why) -> std::unique_ptr<Kernel> {
    try {
      return std::make_unique<K>(*q.node, q.opset);
    } catch (const ModelError& e) {
      *why = e.what();
      return nullptr;
    }
  };
  return k;
}

}  // namespace

void register_ref_control_flow(KernelRegistry& r) {
  r.add("If", control_flow_candidate<IfKernel>());
  r.add("Loop", control_flow_candidate<LoopKernel>());
  r.add("Scan", control_flow_candidate<ScanKernel>());
}

}  // namespace visionrt
