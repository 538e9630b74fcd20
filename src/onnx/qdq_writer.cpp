// QdqWriter: see qdq_writer.hpp. The model is edited as a protobuf: nodes keep their order, and
// each convolution's QuantizeLinear/DequantizeLinear nodes are inserted right before it (its
// input is defined by then, so the graph stays topologically sorted).
#include "onnx/qdq_writer.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <unordered_map>

#include "common/file_io.hpp"
#include "common/strings.hpp"
#include "graph/graph.hpp"
#include "onnx/proto_util.hpp"
#include "visionrt/error.hpp"

namespace visionrt {

void u8_params(ActivationRange r, float* scale, int* zero_point) {
  double lo = std::min(0.0, static_cast<double>(r.lo));
  double hi = std::max(0.0, static_cast<double>(r.hi));
  double s = (hi - lo) / 255.0;
  if (!(s > 0) || !std::isfinite(s)) s = 1.0;
  *scale = static_cast<float>(s);
  *zero_point = static_cast<int>(std::clamp(std::nearbyint(-lo / *scale), 0.0, 255.0));
}

struct QdqWriter::Impl {
  std::string path, base_dir;
  onnx::ModelProto model;
  std::vector<QdqSite> sites;
  std::vector<int> site_node;  // node index of each site
  std::vector<std::string> inputs;
  std::unordered_map<std::string, int> init;  // initializer name -> index
  OverflowFix overflow_fix = OverflowFix::first_layer;
};

QdqWriter::QdqWriter(const std::string& path) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.path = path;
  std::string dir = std::filesystem::path(path).parent_path().string();
  m.base_dir = dir.empty() ? "." : dir;
  std::string bytes = read_file(path);
  if (bytes.empty() || bytes.size() > static_cast<size_t>(INT32_MAX) ||
      !m.model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) || !m.model.has_graph())
    throw ModelError(path + ": not a valid ONNX model");
  int64_t opset = 0;
  for (const auto& o : m.model.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") opset = o.version();
  if (opset < 13)
    throw ModelError(str_cat(path, ": opset ", opset,
                             "; quantization writes per-channel DequantizeLinear, which needs "
                             "opset 13 or newer (re-export the model with a newer opset)"));
  const onnx::GraphProto& g = m.model.graph();
  for (int i = 0; i < g.initializer_size(); ++i) m.init[g.initializer(i).name()] = i;
  for (const auto& in : g.input())
    if (!m.init.count(in.name())) m.inputs.push_back(in.name());
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto& n = g.node(i);
    const bool transposed = n.op_type() == "ConvTranspose";
    if ((n.op_type() != "Conv" && !transposed) || !n.domain().empty() || n.input_size() < 2)
      continue;
    // A transposed conv's weights are [C_in, C_out/group, k, k]: per-output-channel scales
    // along axis 1 cover every output channel only with one group.
    if (transposed && std::any_of(n.attribute().begin(), n.attribute().end(),
                                  [](const auto& a) { return a.name() == "group" && a.i() != 1; }))
      continue;
    auto w = m.init.find(n.input(1));
    if (w == m.init.end()) continue;
    const onnx::TensorProto& wt = g.initializer(w->second);
    if (wt.data_type() != onnx::TensorProto::FLOAT || wt.dims_size() != 4) continue;
    if (n.input_size() > 2 && !n.input(2).empty()) {
      auto b = m.init.find(n.input(2));
      if (b == m.init.end() || g.initializer(b->second).data_type() != onnx::TensorProto::FLOAT)
        continue;
    }
    m.sites.push_back(
        {n.name().empty() ? str_cat(n.op_type(), "#", i) : n.name(), n.input(0), transposed});
    m.site_node.push_back(i);
  }
  // The first layers: values computed from a graph input through no weighted node.
  std::set<std::string> raw(m.inputs.begin(), m.inputs.end());
  for (bool changed = true; changed;) {  // ONNX orders nodes topologically; a loop to be safe
    changed = false;
    for (const onnx::NodeProto& n : g.node()) {
      if (is_weighted_op(n.op_type()) ||
          std::none_of(n.input().begin(), n.input().end(),
                       [&](const std::string& v) { return raw.count(v) != 0; }))
        continue;
      for (const std::string& o : n.output())
        if (!o.empty() && raw.insert(o).second) changed = true;
    }
  }
  for (QdqSite& s : m.sites) s.first_layer = raw.count(s.input) != 0;
}

QdqWriter::~QdqWriter() = default;

const std::vector<QdqSite>& QdqWriter::sites() const { return impl_->sites; }
const std::vector<std::string>& QdqWriter::graph_inputs() const { return impl_->inputs; }

std::string QdqWriter::with_outputs(const std::vector<std::string>& extra) const {
  onnx::ModelProto m = impl_->model;
  std::set<std::string> have;
  for (const auto& o : m.graph().output()) have.insert(o.name());
  for (const std::string& e : extra) {
    if (!have.insert(e).second) continue;
    onnx::ValueInfoProto* v = m.mutable_graph()->add_output();
    v->set_name(e);
    v->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  }
  return m.SerializeAsString();
}

std::map<std::string, std::string> QdqWriter::metadata() const {
  std::map<std::string, std::string> out;
  for (const auto& kv : impl_->model.metadata_props()) out[kv.key()] = kv.value();
  return out;
}

void QdqWriter::set_overflow_fix(OverflowFix fix) { impl_->overflow_fix = fix; }

bool QdqWriter::seven_bit_weights(const QdqSite& site) const {
  const OverflowFix f = impl_->overflow_fix;
  return f == OverflowFix::all || (f == OverflowFix::first_layer && site.first_layer);
}

void QdqWriter::set_metadata(const std::string& key, const std::string& value) {
  for (auto& kv : *impl_->model.mutable_metadata_props())
    if (kv.key() == key) {
      kv.set_value(value);
      return;
    }
  auto* kv = impl_->model.add_metadata_props();
  kv->set_key(key);
  kv->set_value(value);
}

std::string QdqWriter::quantized(const std::vector<QdqSite>& sites,
                                 const std::map<std::string, ActivationRange>& ranges) const {
  const Impl& m = *impl_;
  onnx::ModelProto out = m.model;
  onnx::GraphProto* g = out.mutable_graph();
  std::set<std::string> chosen;
  for (const QdqSite& s : sites) chosen.insert(s.node);
  std::unordered_map<int, const QdqSite*> at;  // node index -> site
  for (size_t k = 0; k < m.sites.size(); ++k)
    if (chosen.count(m.sites[k].node)) at[m.site_node[k]] = &m.sites[k];
  if (at.size() != chosen.size())
    throw Error("QdqWriter: a site to quantize is not a convolution of this model");

  std::set<std::string> names;  // every tensor/node name in use, for fresh names
  for (const auto& n : g->node()) {
    for (const auto& o : n.output()) names.insert(o);
    names.insert(n.name());
  }
  for (const auto& i : g->initializer()) names.insert(i.name());
  for (const auto& i : g->input()) names.insert(i.name());
  auto fresh = [&](const std::string& base) {
    std::string n = base;
    for (int k = 1; names.count(n); ++k) n = str_cat(base, "_", k);
    names.insert(n);
    return n;
  };
  auto add_init = [&](const std::string& base, const Tensor& t) {
    std::string n = fresh(base);
    fill_tensor(g->add_initializer(), n, t);
    return n;
  };
  auto make_node = [&](const std::string& op, std::vector<std::string> ins, const std::string& out,
                       int64_t axis = -1) {
    onnx::NodeProto n;
    n.set_op_type(op);
    n.set_name(fresh(out + "_node"));
    for (const auto& i : ins) n.add_input(i);
    n.add_output(out);
    if (axis >= 0) {
      onnx::AttributeProto* a = n.add_attribute();
      a->set_name("axis");
      a->set_type(onnx::AttributeProto::INT);
      a->set_i(axis);
    }
    return n;
  };

  std::unordered_map<std::string, std::pair<std::string, float>> dq_of;  // tensor -> (DQ, scale)
  std::set<std::string> unused_inits;
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  for (int i = 0; i < g->node_size(); ++i) {
    onnx::NodeProto n = g->node(i);
    auto it = at.find(i);
    if (it == at.end()) {
      *nodes.Add() = std::move(n);
      continue;
    }
    const std::string x = n.input(0);
    auto have = dq_of.find(x);
    if (have == dq_of.end()) {
      auto r = ranges.find(x);
      if (r == ranges.end()) throw Error(str_cat("QdqWriter: no calibrated range for '", x, "'"));
      float scale;
      int zp;
      u8_params(r->second, &scale, &zp);
      std::string s = add_init(x + "_scale", Tensor::scalar<float>(scale));
      std::string z =
          add_init(x + "_zero_point", Tensor::scalar<uint8_t>(static_cast<uint8_t>(zp)));
      std::string q = fresh(x + "_quantized"), dq = fresh(x + "_dequantized");
      *nodes.Add() = make_node("QuantizeLinear", {x, s, z}, q);
      *nodes.Add() = make_node("DequantizeLinear", {q, s, z}, dq);
      have = dq_of.emplace(x, std::make_pair(dq, scale)).first;
    }
    const float sx = have->second.second;
    // Weights: per output channel (axis 0 of a Conv's [C_out, C_in/g, k..], axis 1 of a
    // ConvTranspose's [C_in, C_out, k..]), symmetric, [-127, 127] or [-64, 64] (7 bits).
    const std::string wn = n.input(1);
    const bool transposed = it->second->transposed;
    Tensor w = tensor_from_proto(g->initializer(m.init.at(wn)), m.path, m.base_dir);
    const int64_t outer = transposed ? w.dim(0) : 1, oc = w.dim(transposed ? 1 : 0);
    const size_t inner = w.numel() / static_cast<size_t>(std::max<int64_t>(outer * oc, 1));
    auto at = [&](int64_t o, int64_t c, size_t k) {  // flat index of element k of channel c
      return (static_cast<size_t>(o * oc + c)) * inner + k;
    };
    Tensor wq(DType::i8, w.shape()), ws(DType::f32, {oc}), wz(DType::i8, {oc});
    for (int64_t c = 0; c < oc; ++c) {
      float amax = 0;
      for (int64_t o = 0; o < outer; ++o)
        for (size_t k = 0; k < inner; ++k)
          amax = std::max(amax, std::fabs(w.data<float>()[at(o, c, k)]));
      const bool seven = seven_bit_weights(*it->second);
      const float wmax = seven ? 64.f : 127.f;
      float s = amax > 0 && std::isfinite(amax) ? amax / wmax : 1.f;
      ws.data<float>()[c] = s;
      wz.data<int8_t>()[c] = 0;
      for (int64_t o = 0; o < outer; ++o)
        for (size_t k = 0; k < inner; ++k)
          wq.data<int8_t>()[at(o, c, k)] = static_cast<int8_t>(
              std::clamp(std::nearbyint(w.data<float>()[at(o, c, k)] / s), -wmax, wmax));
    }
    std::string wdq = fresh(wn + "_dequantized");
    *nodes.Add() = make_node("DequantizeLinear",
                             {add_init(wn + "_quantized", wq), add_init(wn + "_scale", ws),
                              add_init(wn + "_zero_point", wz)},
                             wdq, transposed ? 1 : 0);
    unused_inits.insert(wn);
    n.set_input(0, have->second.first);
    n.set_input(1, wdq);
    if (n.input_size() > 2 && !n.input(2).empty()) {
      const std::string bn = n.input(2);
      Tensor b = tensor_from_proto(g->initializer(m.init.at(bn)), m.path, m.base_dir);
      if (static_cast<int64_t>(b.numel()) != oc)
        throw ModelError(str_cat(m.path, ": node ", it->second->node, ": bias has ", b.numel(),
                                 " values for ", oc, " output channels"));
      Tensor bq(DType::i32, {oc}), bs(DType::f32, {oc}), bz(DType::i32, {oc});
      for (int64_t c = 0; c < oc; ++c) {
        float s = sx * ws.data<float>()[c];
        bs.data<float>()[c] = s;
        bz.data<int32_t>()[c] = 0;
        double v = std::nearbyint(static_cast<double>(b.data<float>()[c]) / s);
        bq.data<int32_t>()[c] = static_cast<int32_t>(std::clamp(v, -2147483647.0, 2147483647.0));
      }
      std::string bdq = fresh(bn + "_dequantized");
      *nodes.Add() = make_node("DequantizeLinear",
                               {add_init(bn + "_quantized", bq), add_init(bn + "_scale", bs),
                                add_init(bn + "_zero_point", bz)},
                               bdq, 0);
      unused_inits.insert(bn);
      n.set_input(2, bdq);
    }
    *nodes.Add() = std::move(n);
  }
  g->mutable_node()->Swap(&nodes);
  // Float weights no node reads any more leave the file.
  std::set<std::string> read;
  for (const auto& n : g->node())
    for (const auto& i : n.input()) read.insert(i);
  for (const auto& o : g->output()) read.insert(o.name());
  google::protobuf::RepeatedPtrField<onnx::TensorProto> kept;
  for (auto& t : *g->mutable_initializer())
    if (!unused_inits.count(t.name()) || read.count(t.name())) *kept.Add() = std::move(t);
  g->mutable_initializer()->Swap(&kept);
  // Graph inputs that named the dropped initializers (IR < 4 style) go too.
  google::protobuf::RepeatedPtrField<onnx::ValueInfoProto> ins;
  for (auto& v : *g->mutable_input())
    if (!unused_inits.count(v.name()) || read.count(v.name())) *ins.Add() = std::move(v);
  g->mutable_input()->Swap(&ins);
  return out.SerializeAsString();
}

}  // namespace visionrt
