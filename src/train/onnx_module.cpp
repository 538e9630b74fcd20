// OnnxModule (onnx_module.hpp): one libtorch expression per ONNX node.
#include "train/onnx_module.hpp"
#include "train/tensor_convert.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include "common/file_io.hpp"
#include "common/strings.hpp"
#include "onnx/model_edit.hpp"
#include "runtime/model_loader.hpp"
#include "visionrt/error.hpp"

namespace visionrt::train {

namespace F = torch::nn::functional;

namespace {

const std::set<std::string>& supported() {
  static const std::set<std::string> ops{
      "Abs",           "Add",           "AveragePool", "BatchNormalization",
      "Cast",          "Ceil",          "Clip",        "Concat",
      "Conv",          "ConvTranspose", "Div",         "Dropout",
      "Elu",           "Erf",           "Exp",         "Flatten",
      "Floor",         "Gather",        "Gemm",        "GlobalAveragePool",
      "GlobalMaxPool", "HardSigmoid",   "HardSwish",   "Identity",
      "LeakyRelu",     "Log",           "LogSoftmax",  "MatMul",
      "Max",           "MaxPool",       "Min",         "Mul",
      "Neg",           "Pad",           "Pow",         "PRelu",
      "Reciprocal",    "ReduceMax",     "ReduceMean",  "ReduceSum",
      "Relu",          "Reshape",       "Resize",      "Shape",
      "Sigmoid",       "Slice",         "Softmax",     "Softplus",
      "Split",         "Sqrt",          "Squeeze",     "Sub",
      "Tanh",          "Transpose",     "Unsqueeze",   "Upsample"};
  return ops;
}

// ONNX's TensorProto.DataType numbers (Cast's `to`).
torch::Dtype onnx_cast_type(int64_t to) {
  switch (to) {
    case 1:
      return torch::kFloat32;
    case 2:
      return torch::kUInt8;
    case 3:
      return torch::kInt8;
    case 6:
      return torch::kInt32;
    case 7:
      return torch::kInt64;
    case 9:
      return torch::kBool;
    case 11:
      return torch::kFloat64;
    default:
      break;
  }
  throw ModelError(str_cat("Cast to element type ", to, " is not supported for training"));
}

std::string sanitize(const std::string& s) {
  std::string r;
  for (char c : s) r += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return r.empty() ? "p" : r;
}

std::vector<int64_t> ints(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kInt64).contiguous().flatten();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

int64_t norm_axis(int64_t a, int64_t rank) { return a < 0 ? a + rank : a; }

}  // namespace

OnnxModuleImpl::OnnxModuleImpl(const std::string& path) : path_(path) {
  graph_ = load_model_file(path);
  const Graph& g = *graph_;
  for (const Node& n : g.nodes)
    if (!n.domain.empty() || !supported().count(n.op_type))
      throw ModelError(str_cat(path, ": ", n.label(), " (", n.domain.empty() ? "" : n.domain + ".",
                               n.op_type, ") cannot be trained yet; the training graph runs ",
                               supported().size(), " standard operators"));
  // Parameters: float weights and biases of the layers; BatchNormalization statistics are
  // buffers (kept, averaged by the EMA, written back).
  std::set<std::string> used;
  auto add = [&](int v, const std::string& role, bool trainable) {
    if (v < 0 || params_.count(v)) return;
    const Value& val = g.values[static_cast<size_t>(v)];
    if (!val.constant || val.constant->dtype() != DType::f32) return;
    std::string name = sanitize(val.name) + "_" + role;
    while (!used.insert(name).second) name += "_";
    torch::Tensor t = to_torch(*val.constant);
    params_[v] = trainable ? register_parameter(name, t) : register_buffer(name, t);
    written_.push_back({v, val.name});
  };
  for (const Node& n : g.nodes) {
    auto in = [&](size_t i) { return i < n.inputs.size() ? n.inputs[i] : -1; };
    if (n.op_type == "Conv" || n.op_type == "ConvTranspose" || n.op_type == "Gemm") {
      add(in(1), "weight", true);
      add(in(2), "bias", true);
    } else if (n.op_type == "MatMul") {
      for (size_t i = 0; i < 2; ++i) {
        const int v = in(i);
        if (v >= 0 && g.values[static_cast<size_t>(v)].constant &&
            g.values[static_cast<size_t>(v)].constant->shape().size() >= 2)
          add(v, "weight", true);
      }
    } else if (n.op_type == "BatchNormalization") {
      add(in(1), "bn_weight", true);
      add(in(2), "bn_bias", true);
      add(in(3), "bn_mean", false);
      add(in(4), "bn_var", false);
    } else if (n.op_type == "PRelu") {
      add(in(1), "bn_slope", true);  // no weight decay, as BatchNorm weights
    }
  }
  for (size_t v = 0; v < g.values.size(); ++v)
    if (g.values[v].constant && !params_.count(static_cast<int>(v))) {
      try {
        constants_[static_cast<int>(v)] = to_torch(*g.values[v].constant);
      } catch (const ModelError&) {
        // Element types training cannot use stay unconverted; a node reading one fails below.
      }
    }
}

const Node* OnnxModuleImpl::producer(const std::string& value) const {
  const int v = graph_->find_value(value);
  if (v < 0) return nullptr;
  const int p = graph_->values[static_cast<size_t>(v)].producer;
  return p < 0 ? nullptr : &graph_->nodes[static_cast<size_t>(p)];
}

int64_t OnnxModuleImpl::num_parameters() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

torch::Tensor OnnxModuleImpl::constant(int value) const {
  auto p = params_.find(value);
  if (p != params_.end()) return p->second;
  auto c = constants_.find(value);
  if (c != constants_.end()) return c->second;
  return {};
}

std::map<std::string, torch::Tensor> OnnxModuleImpl::run(
    const std::vector<torch::Tensor>& inputs, const std::vector<std::string>& wanted,
    const std::map<std::string, torch::Tensor>& overrides) {
  const Graph& g = *graph_;
  if (inputs.size() != g.inputs.size())
    throw InputError(
        str_cat(path_, ": the model takes ", g.inputs.size(), " inputs, given ", inputs.size()));
  std::vector<torch::Tensor> vals(g.values.size());
  for (size_t i = 0; i < inputs.size(); ++i) vals[static_cast<size_t>(g.inputs[i])] = inputs[i];
  for (const auto& [name, t] : overrides) {
    const int v = g.find_value(name);
    if (v < 0) throw InputError(str_cat(path_, ": no tensor named '", name, "'"));
    vals[static_cast<size_t>(v)] = t;
  }
  const int64_t batch = inputs.empty() || inputs[0].dim() == 0 ? 1 : inputs[0].size(0);
  // Only the nodes the wanted values depend on.
  std::vector<char> need(g.nodes.size(), 0);
  std::vector<int> stack;
  for (const std::string& w : wanted) {
    const int v = g.find_value(w);
    if (v < 0) throw InputError(str_cat(path_, ": no tensor named '", w, "'"));
    stack.push_back(v);
  }
  std::vector<char> seen(g.values.size(), 0);
  while (!stack.empty()) {
    const int v = stack.back();
    stack.pop_back();
    if (v < 0 || seen[static_cast<size_t>(v)]) continue;
    seen[static_cast<size_t>(v)] = 1;
    if (overrides.count(g.values[static_cast<size_t>(v)].name)) continue;
    const int p = g.values[static_cast<size_t>(v)].producer;
    if (p < 0) continue;
    need[static_cast<size_t>(p)] = 1;
    for (int i : g.nodes[static_cast<size_t>(p)].inputs) stack.push_back(i);
  }
  for (size_t ni = 0; ni < g.nodes.size(); ++ni) {
    if (!need[ni]) continue;
    const Node& n = g.nodes[ni];
    auto has = [&](size_t i) { return i < n.inputs.size() && n.inputs[i] >= 0; };
    auto in = [&](size_t i) -> torch::Tensor {
      if (!has(i)) return {};
      const int v = n.inputs[i];
      torch::Tensor& t = vals[static_cast<size_t>(v)];
      if (!t.defined()) t = constant(v);
      if (!t.defined())
        throw ModelError(str_cat(path_, ": ", n.label(), " reads '",
                                 g.values[static_cast<size_t>(v)].name,
                                 "', which is not available for training"));
      return t;
    };
    std::vector<torch::Tensor> out;
    const std::string& op = n.op_type;
    const torch::Tensor x = in(0);
    if (op == "Conv" || op == "ConvTranspose") {
      if (x.dim() != 4)
        throw ModelError(str_cat(path_, ": ", n.label(), ": only 2-D convolutions train"));
      const torch::Tensor w = in(1), b = has(2) ? in(2) : torch::Tensor();
      std::vector<int64_t> k{w.size(2), w.size(3)};
      std::vector<int64_t> s = n.attr_is("strides", {1, 1}), d = n.attr_is("dilations", {1, 1});
      std::vector<int64_t> pads = n.attr_is("pads", {0, 0, 0, 0});
      const int64_t groups = n.attr_i("group", 1);
      const std::string ap = n.attr_s("auto_pad", "NOTSET");
      torch::Tensor xi = x;
      if (op == "Conv") {
        if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
          for (int a = 0; a < 2; ++a) {
            const int64_t len = x.size(2 + a), o = (len + s[a] - 1) / s[a];
            const int64_t total =
                std::max<int64_t>(0, (o - 1) * s[a] + (k[a] - 1) * d[a] + 1 - len);
            pads[a] = ap == "SAME_UPPER" ? total / 2 : total - total / 2;
            pads[a + 2] = total - pads[a];
          }
        } else if (ap == "VALID") {
          pads = {0, 0, 0, 0};
        }
        if (pads[0] != pads[2] || pads[1] != pads[3]) {
          xi = F::pad(x, F::PadFuncOptions({pads[1], pads[3], pads[0], pads[2]}));
          pads = {0, 0, 0, 0};
        }
        out.push_back(torch::conv2d(xi, w, b, s, {pads[0], pads[1]}, d, groups));
      } else {
        if (ap != "NOTSET" || pads[0] != pads[2] || pads[1] != pads[3] ||
            n.has_attr("output_shape"))
          throw ModelError(str_cat(path_, ": ", n.label(),
                                   ": ConvTranspose trains with symmetric explicit pads only"));
        const std::vector<int64_t> op_pad = n.attr_is("output_padding", {0, 0});
        out.push_back(torch::conv_transpose2d(x, w, b, s, {pads[0], pads[1]}, op_pad, groups, d));
      }
    } else if (op == "Gemm") {
      torch::Tensor a = n.attr_i("transA", 0) ? x.t() : x;
      torch::Tensor bm = n.attr_i("transB", 0) ? in(1).t() : in(1);
      torch::Tensor y = torch::matmul(a, bm) * n.attr_f("alpha", 1.f);
      if (has(2)) y = y + in(2) * n.attr_f("beta", 1.f);
      out.push_back(y);
    } else if (op == "MatMul") {
      out.push_back(torch::matmul(x, in(1)));
    } else if (op == "BatchNormalization") {
      // ONNX's momentum weighs the running value (0.9), torch's the batch's (0.1).
      out.push_back(
          torch::batch_norm(x, in(1), in(2), in(3), in(4), train_batchnorm && is_training(),
                            1.0 - n.attr_f("momentum", 0.9f), n.attr_f("epsilon", 1e-5f), false));
    } else if (op == "Relu") {
      out.push_back(torch::relu(x));
    } else if (op == "Sigmoid") {
      out.push_back(torch::sigmoid(x));
    } else if (op == "Tanh") {
      out.push_back(torch::tanh(x));
    } else if (op == "Exp") {
      out.push_back(torch::exp(x));
    } else if (op == "Log") {
      out.push_back(torch::log(x));
    } else if (op == "Sqrt") {
      out.push_back(torch::sqrt(x));
    } else if (op == "Neg") {
      out.push_back(-x);
    } else if (op == "Abs") {
      out.push_back(torch::abs(x));
    } else if (op == "Erf") {
      out.push_back(torch::erf(x));
    } else if (op == "Floor") {
      out.push_back(torch::floor(x));
    } else if (op == "Ceil") {
      out.push_back(torch::ceil(x));
    } else if (op == "Reciprocal") {
      out.push_back(torch::reciprocal(x));
    } else if (op == "Softplus") {
      out.push_back(F::softplus(x));
    } else if (op == "LeakyRelu") {
      out.push_back(
          F::leaky_relu(x, F::LeakyReLUFuncOptions().negative_slope(n.attr_f("alpha", 0.01f))));
    } else if (op == "Elu") {
      out.push_back(F::elu(x, F::ELUFuncOptions().alpha(n.attr_f("alpha", 1.f))));
    } else if (op == "PRelu") {
      out.push_back(torch::where(x >= 0, x, x * in(1)));
    } else if (op == "HardSigmoid") {
      out.push_back(torch::clamp(x * n.attr_f("alpha", 0.2f) + n.attr_f("beta", 0.5f), 0, 1));
    } else if (op == "HardSwish") {
      out.push_back(x * torch::clamp(x / 6 + 0.5, 0, 1));
    } else if (op == "Clip") {
      torch::Tensor y = x;
      if (g.opset() < 11) {
        y = torch::clamp(x, n.attr_f("min", -3.4028235e38f), n.attr_f("max", 3.4028235e38f));
      } else {
        if (has(1)) y = torch::maximum(y, in(1).to(x.dtype()));
        if (has(2)) y = torch::minimum(y, in(2).to(x.dtype()));
      }
      out.push_back(y);
    } else if (op == "Add") {
      out.push_back(x + in(1));
    } else if (op == "Sub") {
      out.push_back(x - in(1));
    } else if (op == "Mul") {
      out.push_back(x * in(1));
    } else if (op == "Div") {
      out.push_back(x.is_floating_point() ? x / in(1) : torch::div(x, in(1), "trunc"));
    } else if (op == "Pow") {
      out.push_back(torch::pow(x, in(1)));
    } else if (op == "Max" || op == "Min") {
      torch::Tensor y = x;
      for (size_t i = 1; i < n.inputs.size(); ++i)
        y = op == "Max" ? torch::maximum(y, in(i)) : torch::minimum(y, in(i));
      out.push_back(y);
    } else if (op == "Identity" || op == "Dropout") {
      out.push_back(x);
    } else if (op == "Cast") {
      out.push_back(x.to(onnx_cast_type(n.attr_i("to", 1))));
    } else if (op == "Shape") {
      std::vector<int64_t> s(x.sizes().begin(), x.sizes().end());
      const int64_t r = static_cast<int64_t>(s.size());
      const int64_t a = std::clamp(norm_axis(n.attr_i("start", 0), r), int64_t{0}, r);
      const int64_t e = std::clamp(norm_axis(n.attr_i("end", r), r), int64_t{0}, r);
      std::vector<int64_t> part(s.begin() + a, s.begin() + std::max(a, e));
      out.push_back(torch::tensor(part, torch::kInt64));
    } else if (op == "Transpose") {
      std::vector<int64_t> perm = n.attr_is("perm");
      if (perm.empty())
        for (int64_t i = x.dim() - 1; i >= 0; --i) perm.push_back(i);
      out.push_back(x.permute(perm));
    } else if (op == "Reshape") {
      std::vector<int64_t> s = ints(in(1));
      const bool allowzero = n.attr_i("allowzero", 0) != 0;
      for (size_t i = 0; i < s.size(); ++i)
        if (s[i] == 0 && !allowzero && static_cast<int64_t>(i) < x.dim()) s[i] = x.size(i);
      // Exported for batch 1: the leading 1 follows the data's batch.
      if (!s.empty() && s[0] == 1 && batch != 1 && x.dim() > 0 && x.size(0) == batch) s[0] = batch;
      out.push_back(x.reshape(s));
    } else if (op == "Flatten") {
      const int64_t a = norm_axis(n.attr_i("axis", 1), x.dim());
      int64_t lead = 1;
      for (int64_t i = 0; i < a; ++i) lead *= x.size(i);
      out.push_back(x.reshape({lead, -1}));
    } else if (op == "Squeeze" || op == "Unsqueeze") {
      std::vector<int64_t> axes = has(1) ? ints(in(1)) : n.attr_is("axes");
      torch::Tensor y = x;
      if (op == "Squeeze") {
        if (axes.empty())
          y = x.squeeze();
        else {
          for (auto& a : axes) a = norm_axis(a, x.dim());
          std::sort(axes.rbegin(), axes.rend());
          for (int64_t a : axes) y = y.squeeze(a);
        }
      } else {
        const int64_t r = x.dim() + static_cast<int64_t>(axes.size());
        for (auto& a : axes) a = norm_axis(a, r);
        std::sort(axes.begin(), axes.end());
        for (int64_t a : axes) y = y.unsqueeze(a);
      }
      out.push_back(y);
    } else if (op == "Concat") {
      std::vector<torch::Tensor> parts;
      for (size_t i = 0; i < n.inputs.size(); ++i)
        if (has(i)) parts.push_back(in(i));
      out.push_back(torch::cat(parts, norm_axis(n.attr_i("axis", 0), x.dim())));
    } else if (op == "Split") {
      const int64_t a = norm_axis(n.attr_i("axis", 0), x.dim());
      std::vector<int64_t> sizes = has(1) ? ints(in(1)) : n.attr_is("split");
      if (sizes.empty()) {
        const int64_t k = static_cast<int64_t>(n.outputs.size());
        const int64_t each = (x.size(a) + k - 1) / k;
        for (int64_t i = 0; i < k; ++i) sizes.push_back(std::min(each, x.size(a) - i * each));
      }
      for (const torch::Tensor& t : torch::split_with_sizes(x, sizes, a)) out.push_back(t);
    } else if (op == "Slice") {
      std::vector<int64_t> st = ints(in(1)), en = ints(in(2));
      std::vector<int64_t> axes = has(3) ? ints(in(3)) : std::vector<int64_t>();
      std::vector<int64_t> steps = has(4) ? ints(in(4)) : std::vector<int64_t>();
      if (axes.empty())
        for (size_t i = 0; i < st.size(); ++i) axes.push_back(static_cast<int64_t>(i));
      torch::Tensor y = x;
      for (size_t i = 0; i < st.size(); ++i) {
        const int64_t a = norm_axis(axes[i], x.dim()), len = x.size(a);
        const int64_t step = i < steps.size() ? steps[i] : 1;
        int64_t s = st[i] < 0 ? st[i] + len : st[i], e = en[i] < 0 ? en[i] + len : en[i];
        if (step > 0) {
          s = std::clamp<int64_t>(s, 0, len);
          e = std::clamp<int64_t>(e, 0, len);
          y = y.slice(a, s, std::max(s, e), step);
        } else {
          s = std::clamp<int64_t>(s, 0, len - 1);
          e = std::clamp<int64_t>(e, -1, len - 1);
          std::vector<int64_t> idx;
          for (int64_t j = s; j > e; j += step) idx.push_back(j);
          y = y.index_select(a, torch::tensor(idx, torch::kInt64));
        }
      }
      out.push_back(y);
    } else if (op == "Gather") {
      const int64_t a = norm_axis(n.attr_i("axis", 0), x.dim());
      torch::Tensor idx = in(1).to(torch::kInt64);
      idx = torch::where(idx < 0, idx + x.size(a), idx);
      std::vector<int64_t> shape(x.sizes().begin(), x.sizes().begin() + a);
      for (int64_t d : idx.sizes()) shape.push_back(d);
      for (int64_t i = a + 1; i < x.dim(); ++i) shape.push_back(x.size(i));
      out.push_back(x.index_select(a, idx.flatten()).reshape(shape));
    } else if (op == "Softmax" || op == "LogSoftmax") {
      const int64_t a = norm_axis(n.attr_i("axis", g.opset() < 13 ? 1 : -1), x.dim());
      if (g.opset() < 13 && a != x.dim() - 1)
        throw ModelError(str_cat(path_, ": ", n.label(),
                                 ": opset < 13 softmax trains on the "
                                 "last axis only"));
      out.push_back(op == "Softmax" ? torch::softmax(x, a) : torch::log_softmax(x, a));
    } else if (op == "GlobalAveragePool") {
      std::vector<int64_t> dims;
      for (int64_t i = 2; i < x.dim(); ++i) dims.push_back(i);
      out.push_back(x.mean(dims, true));
    } else if (op == "GlobalMaxPool") {
      torch::Tensor y = x;
      for (int64_t i = 2; i < x.dim(); ++i) y = std::get<0>(y.max(i, true));
      out.push_back(y);
    } else if (op == "MaxPool" || op == "AveragePool") {
      const std::vector<int64_t> k = n.attr_is("kernel_shape");
      const std::vector<int64_t> s = n.attr_is("strides", {1, 1});
      std::vector<int64_t> pads = n.attr_is("pads", {0, 0, 0, 0});
      const bool ceil = n.attr_i("ceil_mode", 0) != 0;
      if (x.dim() != 4 || k.size() != 2 || n.attr_s("auto_pad", "NOTSET") != "NOTSET")
        throw ModelError(str_cat(path_, ": ", n.label(),
                                 ": 2-D pooling with explicit pads trains, not this one"));
      torch::Tensor xi = x;
      if (pads[0] != pads[2] || pads[1] != pads[3]) {
        if (op == "AveragePool")
          throw ModelError(str_cat(path_, ": ", n.label(), ": asymmetric average pooling pads"));
        xi = F::pad(x, F::PadFuncOptions({pads[1], pads[3], pads[0], pads[2]})
                           .value(-std::numeric_limits<float>::infinity()));
        pads = {0, 0, 0, 0};
      }
      if (op == "MaxPool")
        out.push_back(
            torch::max_pool2d(xi, k, s, {pads[0], pads[1]}, n.attr_is("dilations", {1, 1}), ceil));
      else
        out.push_back(torch::avg_pool2d(xi, k, s, {pads[0], pads[1]}, ceil,
                                        n.attr_i("count_include_pad", 0) != 0));
    } else if (op == "Pad") {
      const std::string mode = n.attr_s("mode", "constant");
      std::vector<int64_t> p = has(1) ? ints(in(1)) : n.attr_is("pads");
      const int64_t r = x.dim();
      if (has(3)) {
        std::vector<int64_t> axes = ints(in(3)), full(2 * r, 0);
        for (size_t i = 0; i < axes.size(); ++i) {
          full[norm_axis(axes[i], r)] = p[i];
          full[r + norm_axis(axes[i], r)] = p[axes.size() + i];
        }
        p = full;
      }
      std::vector<int64_t> tp;  // torch: last axis first, (begin, end) pairs
      for (int64_t a = r - 1; a >= 0; --a) tp.insert(tp.end(), {p[a], p[r + a]});
      while (tp.size() > 2 && tp[tp.size() - 1] == 0 && tp[tp.size() - 2] == 0)
        tp.resize(tp.size() - 2);
      F::PadFuncOptions o(tp);
      if (mode == "reflect")
        o.mode(torch::kReflect);
      else if (mode == "edge")
        o.mode(torch::kReplicate);
      else
        o.value(has(2) ? in(2).item<double>() : static_cast<double>(n.attr_f("value", 0.f)));
      out.push_back(F::pad(x, o));
    } else if (op == "ReduceMean" || op == "ReduceSum" || op == "ReduceMax") {
      std::vector<int64_t> axes =
          (op == "ReduceSum" || g.opset() >= 18) && has(1) ? ints(in(1)) : n.attr_is("axes");
      const bool keep = n.attr_i("keepdims", 1) != 0;
      if (axes.empty())
        for (int64_t i = 0; i < x.dim(); ++i) axes.push_back(i);
      for (auto& a : axes) a = norm_axis(a, x.dim());
      if (op == "ReduceMean")
        out.push_back(x.mean(axes, keep));
      else if (op == "ReduceSum")
        out.push_back(x.sum(axes, keep));
      else
        out.push_back(torch::amax(x, axes, keep));
    } else if (op == "Resize" || op == "Upsample") {
      const std::string mode = n.attr_s("mode", "nearest");
      const std::string ct = n.attr_s("coordinate_transformation_mode", "half_pixel");
      std::vector<int64_t> size;
      if (op == "Resize" && has(3)) {
        size = ints(in(3));
      } else {
        torch::Tensor sc = op == "Upsample" ? in(1) : (has(2) ? in(2) : torch::Tensor());
        if (!sc.defined() || sc.numel() != x.dim())
          throw ModelError(str_cat(path_, ": ", n.label(), ": needs scales or sizes"));
        sc = sc.to(torch::kFloat64).contiguous();
        for (int64_t i = 0; i < x.dim(); ++i)
          size.push_back(static_cast<int64_t>(std::floor(x.size(i) * sc[i].item<double>())));
      }
      if (x.dim() != 4 || size.size() != 4 || size[0] != x.size(0) || size[1] != x.size(1))
        throw ModelError(str_cat(path_, ": ", n.label(), ": spatial 2-D resizes train only"));
      F::InterpolateFuncOptions o;
      o.size(std::vector<int64_t>{size[2], size[3]});
      if (mode == "nearest") {
        const std::string nm = n.attr_s("nearest_mode", "round_prefer_floor");
        if (op == "Resize" && !(ct == "asymmetric" && nm == "floor"))
          throw ModelError(str_cat(path_, ": ", n.label(),
                                   ": nearest resize trains with "
                                   "asymmetric/floor only"));
        o.mode(torch::kNearest);
      } else if (mode == "linear") {
        o.mode(torch::kBilinear);
        if (ct == "align_corners")
          o.align_corners(true);
        else if (ct == "half_pixel" || ct == "pytorch_half_pixel")
          o.align_corners(false);
        else
          throw ModelError(
              str_cat(path_, ": ", n.label(), ": linear resize with '", ct, "' does not train"));
      } else {
        throw ModelError(str_cat(path_, ": ", n.label(), ": resize mode '", mode, "'"));
      }
      out.push_back(F::interpolate(x, o));
    }
    if (out.size() < n.outputs.size() && !(op == "Dropout" && out.size() == 1))
      throw ModelError(str_cat(path_, ": ", n.label(), ": gave ", out.size(), " of ",
                               n.outputs.size(), " outputs"));
    for (size_t i = 0; i < n.outputs.size() && i < out.size(); ++i) {
      const int v = n.outputs[i];
      if (v < 0) continue;
      auto o = overrides.find(g.values[static_cast<size_t>(v)].name);
      vals[static_cast<size_t>(v)] = o != overrides.end() ? o->second : out[i];
    }
  }
  std::map<std::string, torch::Tensor> r;
  for (const std::string& w : wanted) {
    const int v = g.find_value(w);
    torch::Tensor t = vals[static_cast<size_t>(v)];
    if (!t.defined()) t = constant(v);
    r[w] = t;
  }
  return r;
}

void OnnxModuleImpl::write_onnx(const std::string& path,
                                const std::map<std::string, std::string>& metadata) const {
  std::map<std::string, Tensor> values;
  for (const auto& [v, name] : written_) {
    values.emplace(name, from_torch(params_.at(v)));
  }
  write_file_atomic(path, model_with_initializers(path_, values, metadata));
}

}  // namespace visionrt::train
