// Core, Model, CompiledModel and InferRequest: loading and reshaping models, the compiled
// model's accessors, and the infer-request state machine (sync, async with callbacks, waits).
// The compile pipeline itself is runtime/compile.cpp.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>

#include "common/strings.hpp"
#include "kernels/node_runner.hpp"
#include "ops/op_registry.hpp"
#include "runtime/compiled_model.hpp"
#include "runtime/model_loader.hpp"

namespace visionrt {
namespace detail {

struct RequestImpl {
  std::shared_ptr<const CompiledImpl> compiled;
  std::unique_ptr<Executor> exec;
  std::vector<Tensor> inputs;   // per graph input
  std::vector<Tensor> outputs;  // per graph output
  bool has_run = false;
  // Asynchronous state, guarded by mu: busy from start to the end of the inference; in_callback
  // while the callback runs (wait and the destructor wait for both).
  std::mutex mu;
  std::condition_variable cv;
  bool busy = false;
  int in_callback = 0;  // callbacks running: a restarted inference can finish (and call back)
                        // before the callback that restarted it has returned
  std::exception_ptr error;
  std::function<void(std::exception_ptr)> callback;

  void run();  // one inference on the calling thread
  void start(bool with_callback);
  ~RequestImpl() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [this] { return !busy && in_callback == 0; });
  }
};

}  // namespace detail

namespace {

std::string unsupported_reason(const Graph& g, const Node& n) {
  if (!n.domain.empty()) return str_cat("custom domain '", n.domain, "' is not supported");
  const OpDef* def = OpRegistry::instance().find(n.domain, n.op_type);
  if (!def) return "no such op in visionrt";
  int64_t min = min_supported_opset(*def);
  if (g.opset() < min)
    return str_cat("not supported at opset ", g.opset(), " (implemented from opset ", min, ")");
  if (!KernelRegistry::instance().find(n.op_type)) return "no kernel implements this op";
  return "";
}

}  // namespace

// ---- Model ----
const std::string& Model::path() const { return impl_->graph->path; }
const std::vector<PortInfo>& Model::inputs() const { return impl_->inputs; }
const std::vector<PortInfo>& Model::outputs() const { return impl_->outputs; }
const std::map<std::string, std::string>& Model::metadata() const { return impl_->graph->metadata; }
int64_t Model::opset() const { return impl_->graph->opset(); }
int64_t Model::ir_version() const { return impl_->graph->ir_version; }
std::string Model::producer() const { return impl_->graph->producer; }
size_t Model::num_nodes() const { return impl_->graph->nodes.size(); }
size_t Model::num_parameters() const {
  size_t n = 0;
  for (const auto& v : impl_->graph->values)
    if (v.constant && v.producer < 0 && dtype_is_float(v.constant->dtype()))
      n += v.constant->numel();
  return n;
}
std::map<std::string, int> Model::op_histogram() const {
  std::map<std::string, int> h;
  for (const auto& n : impl_->graph->nodes)
    h[n.domain.empty() ? n.op_type : n.domain + "::" + n.op_type]++;
  return h;
}
std::map<std::string, std::string> Model::unsupported_ops() const {
  std::map<std::string, std::string> r;
  // Subgraphs (If/Loop/Scan bodies) are checked too: their ops run as well.
  std::function<void(const Graph&)> check = [&](const Graph& g) {
    for (const auto& n : g.nodes) {
      std::string why = unsupported_reason(g, n);
      if (!why.empty()) r[n.domain.empty() ? n.op_type : n.domain + "::" + n.op_type] = why;
      for (const auto& kv : n.attrs)
        if (kv.second.kind == Attribute::Kind::g && kv.second.g) check(*kv.second.g);
    }
  };
  check(*impl_->graph);
  return r;
}

// Shapes inferred through the graph, ports read off it.
static std::shared_ptr<const detail::ModelImpl> shaped_model(std::shared_ptr<Graph> g) {
  infer_shapes(*g);
  auto impl = std::make_shared<detail::ModelImpl>();
  impl->inputs = detail::ports(*g, g->inputs);
  impl->outputs = detail::ports(*g, g->outputs);
  impl->graph = std::move(g);
  return impl;
}

Model Model::reshape(const std::map<std::string, Shape>& shapes) const {
  auto g = std::make_shared<Graph>(*impl_->graph);
  for (const auto& entry : shapes) {
    const std::string& name = entry.first;
    const Shape& shape = entry.second;
    auto it = std::find_if(g->inputs.begin(), g->inputs.end(),
                           [&](int id) { return g->values[id].name == name; });
    if (it == g->inputs.end())
      throw InputError(str_cat(g->path, ": reshape: the model has no input named '", name, "'"));
    TensorType& t = g->values[*it].type;
    if (t.has_rank && t.dims.size() != shape.size())
      throw InputError(str_cat(g->path, ": reshape: input '", name, "' has rank ", t.dims.size(),
                               ", not ", shape.size(), " as in ", shape_str(shape)));
    for (size_t d = 0; d < shape.size(); ++d) {
      if (shape[d] <= 0)
        throw InputError(str_cat(g->path, ": reshape: input '", name, "' dimension ", d,
                                 " must be positive, got ", shape[d]));
      if (t.has_rank && t.dims[d] >= 0 && t.dims[d] != shape[d])
        throw InputError(str_cat(g->path, ": reshape: input '", name, "' is ", shape_str(t.dims),
                                 "; dimension ", d, " is fixed at ", t.dims[d], ", not ",
                                 shape[d]));
    }
    t.dims = shape;
    t.has_rank = true;
  }
  Model m;
  m.impl_ = shaped_model(std::move(g));
  return m;
}

// ---- Core ----
static std::shared_ptr<const detail::ModelImpl> make_model(std::shared_ptr<Graph> g) {
  // Load-time normalization and shape inference for display (info) and early errors; the graph
  // stays unfolded.
  upgrade_legacy_ops(*g);
  lower_custom_ops(*g);
  return shaped_model(std::move(g));
}

Model Core::read_model(const std::string& path) const {
  Model m;
  m.impl_ = make_model(load_model_file(path));
  detail::return_free_heap();
  return m;
}

Model Core::read_model_from_memory(const std::string& bytes, const std::string& name) const {
  Model m;
  m.impl_ = make_model(load_model_bytes(bytes, name));
  return m;
}

CompiledModel Core::compile_model(const std::string& path, const Config& config) const {
  return compile_model(read_model(path), config);
}

CompiledModel Core::compile_model(const Model& model, const Config& config) const {
  CompiledModel cm;
  cm.impl_ = detail::compile(*model.impl_, model.unsupported_ops(), config);
  return cm;
}

// ---- CompiledModel ----
const std::vector<PortInfo>& CompiledModel::inputs() const { return impl_->inputs; }
const std::vector<PortInfo>& CompiledModel::outputs() const { return impl_->outputs; }
const std::map<std::string, std::string>& CompiledModel::metadata() const {
  return impl_->graph.metadata;
}
std::vector<std::string> CompiledModel::kernel_decisions() const { return impl_->decisions; }
std::string CompiledModel::plan_summary() const {
  const CpuPassStats& s = impl_->pass_stats;
  return str_cat(impl_->plan.summary(), "; recognised: ", s.patterns_fused, " activation chains, ",
                 s.layer_norms, " layer norms; folded into conv: ", s.affine_folded,
                 " BatchNorm/affine, scale-shift nodes ", s.scale_shifts,
                 "; deconvolutions as conv + DepthToSpace ", s.deconvs_as_convs,
                 "; fused: ", s.activations_fused, " activations, ", s.sums_fused, " sums, ",
                 s.qconvs, " QDQ convs to int8 (", s.qconv_residuals,
                 " with their residual add); blocked-layout nodes ", s.blocked_nodes, ", reorders ",
                 s.reorders, "; bf16 conv/matmul nodes ", s.bf16_compute,
                 "; weights copied into kernels ", format_mib(impl_->released_constant_bytes));
}
std::string CompiledModel::get_property(const std::string& key) const {
  return read_property({&impl_->settings, impl_->num_streams}, key);
}

std::vector<std::string> CompiledModel::property_names() const {
  std::vector<std::string> names;
  for (const PropertyDef& p : compile_properties()) names.push_back(p.name);
  return names;
}

InferRequest CompiledModel::create_infer_request() const {
  InferRequest r;
  r.impl_ = std::make_unique<detail::RequestImpl>();
  r.impl_->compiled = impl_;
  r.impl_->inputs.resize(impl_->inputs.size());
  return r;
}

// ---- InferRequest ----
InferRequest::InferRequest() = default;
InferRequest::~InferRequest() = default;
InferRequest::InferRequest(InferRequest&&) noexcept = default;
InferRequest& InferRequest::operator=(InferRequest&&) noexcept = default;

void InferRequest::set_input_tensor(size_t index, const Tensor& t) {
  if (!impl_)
    throw Error("InferRequest is empty (create it with CompiledModel::create_infer_request)");
  const auto& ins = impl_->compiled->inputs;
  if (index >= ins.size())
    throw InputError(
        str_cat("input index ", index, " out of range: the model has ", ins.size(), " inputs"));
  const PortInfo& p = ins[index];
  if (t.empty()) throw InputError(str_cat("input '", p.name, "': tensor is empty"));
  if (t.dtype() != p.dtype)
    throw InputError(str_cat("input '", p.name, "': expected ", dtype_name(p.dtype), ", got ",
                             dtype_name(t.dtype())));
  if (p.has_rank) {
    bool ok = t.rank() == p.shape.size();
    for (size_t d = 0; ok && d < p.shape.size(); ++d)
      if (p.shape[d] >= 0 && p.shape[d] != t.dim(d)) ok = false;
    if (!ok)
      throw InputError(str_cat("input '", p.name, "': expected shape ", shape_str(p.shape),
                               ", got ", shape_str(t.shape())));
  }
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->busy) throw Error("the request is busy; set inputs after wait()");
  impl_->inputs[index] = t;
}

void InferRequest::set_tensor(const std::string& name, const Tensor& t) {
  if (!impl_) throw Error("InferRequest is empty");
  const auto& ins = impl_->compiled->inputs;
  for (size_t i = 0; i < ins.size(); ++i)
    if (ins[i].name == name) return set_input_tensor(i, t);
  std::string names;
  for (const auto& p : ins) names += (names.empty() ? "" : ", ") + p.name;
  throw InputError(str_cat("the model has no input named '", name, "' (inputs: ", names, ")"));
}

void detail::RequestImpl::run() {
  const CompiledImpl& c = *compiled;
  if (!exec) {
    exec = std::make_unique<Executor>(c.graph, c.plan, c.kernels);
    if (c.settings.perf_count) exec->enable_profiling(c.kernel_names, c.layouts);
  }
  exec->run(inputs, c.settings.threads_per_stream, &outputs);
}

void detail::RequestImpl::start(bool with_callback) {
  const CompiledImpl& c = *compiled;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (busy) throw Error("the request is busy (an inference is running; wait() for it)");
    for (size_t i = 0; i < c.inputs.size(); ++i)
      if (inputs[i].empty())
        throw InputError(str_cat("input '", c.inputs[i].name, "' was not set"));
    busy = true;
    has_run = false;
    error = nullptr;
  }
  c.streams->submit([this, with_callback] {
    std::exception_ptr err;
    try {
      run();
    } catch (...) {
      err = std::current_exception();
    }
    std::function<void(std::exception_ptr)> cb;
    {
      std::lock_guard<std::mutex> lock(mu);
      error = err;
      has_run = !err;
      busy = false;
      if (with_callback && callback) {
        cb = callback;
        ++in_callback;
      }
      cv.notify_all();
    }
    if (!cb) return;  // `this` may be gone once the lock is released without a callback
    try {
      cb(err);
    } catch (...) {
      // A throwing callback has nobody to report to; its error is dropped, as OpenVINO does.
    }
    std::lock_guard<std::mutex> lock(mu);
    --in_callback;
    cv.notify_all();
  });
}

void InferRequest::infer() {
  if (!impl_) throw Error("InferRequest is empty");
  impl_->start(false);
  wait();
}

void InferRequest::start_async() {
  if (!impl_) throw Error("InferRequest is empty");
  impl_->start(true);
}

void InferRequest::wait() {
  if (!impl_) throw Error("InferRequest is empty");
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->cv.wait(lock, [this] { return !impl_->busy && impl_->in_callback == 0; });
  if (impl_->error) std::rethrow_exception(impl_->error);
}

bool InferRequest::wait_for(int64_t ms) {
  if (!impl_) throw Error("InferRequest is empty");
  std::unique_lock<std::mutex> lock(impl_->mu);
  if (!impl_->cv.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(0, ms)),
                          [this] { return !impl_->busy && impl_->in_callback == 0; }))
    return false;
  if (impl_->error) std::rethrow_exception(impl_->error);
  return true;
}

void InferRequest::set_callback(std::function<void(std::exception_ptr)> callback) {
  if (!impl_) throw Error("InferRequest is empty");
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->busy) throw Error("the request is busy; set the callback before start_async");
  impl_->callback = std::move(callback);
}

std::vector<NodeProfile> InferRequest::get_profiling_info() const {
  if (!impl_) throw Error("InferRequest is empty");
  if (!impl_->compiled->settings.perf_count)
    throw Error("profiling is off: compile with PERF_COUNT=YES");
  return impl_->exec ? impl_->exec->profile() : std::vector<NodeProfile>{};
}

Tensor InferRequest::get_output_tensor(size_t index) const {
  if (!impl_) throw Error("InferRequest is empty");
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->busy) throw Error("the request is busy; read outputs after wait()");
  if (!impl_->has_run) throw Error("get_output_tensor before a successful infer()");
  if (index >= impl_->outputs.size())
    throw Error(str_cat("output index ", index, " out of range: the model has ",
                        impl_->outputs.size(), " outputs"));
  return impl_->outputs[index];
}

Tensor InferRequest::get_tensor(const std::string& name) const {
  if (!impl_) throw Error("InferRequest is empty");
  const auto& outs = impl_->compiled->outputs;
  for (size_t i = 0; i < outs.size(); ++i)
    if (outs[i].name == name) return get_output_tensor(i);
  throw Error(str_cat("the model has no output named '", name, "'"));
}

}  // namespace visionrt
