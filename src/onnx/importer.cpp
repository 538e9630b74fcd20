// ONNX protobuf -> visionrt Graph. Every malformed or unsupported construct becomes a ModelError
// naming the file and the tensor/node; nothing from the file is trusted (sizes, offsets, names).
#include "onnx/importer.hpp"
#include "onnx/proto_util.hpp"

#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <unordered_map>

#include "common/strings.hpp"

namespace visionrt {
namespace {

namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw IoError(path + ": is a directory, expected an .onnx file");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw IoError(path + ": cannot open file");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (!f.good() && !f.eof()) throw IoError(path + ": read error");
  return ss.str();
}

DType dtype_from_onnx(int32_t t, bool* ok) {
  *ok = true;
  switch (t) {
    case onnx::TensorProto::FLOAT:
      return DType::f32;
    case onnx::TensorProto::DOUBLE:
      return DType::f64;
    case onnx::TensorProto::FLOAT16:
      return DType::f16;
    case onnx::TensorProto::BFLOAT16:
      return DType::bf16;
    case onnx::TensorProto::INT8:
      return DType::i8;
    case onnx::TensorProto::UINT8:
      return DType::u8;
    case onnx::TensorProto::INT16:
      return DType::i16;
    case onnx::TensorProto::UINT16:
      return DType::u16;
    case onnx::TensorProto::INT32:
      return DType::i32;
    case onnx::TensorProto::UINT32:
      return DType::u32;
    case onnx::TensorProto::INT64:
      return DType::i64;
    case onnx::TensorProto::UINT64:
      return DType::u64;
    case onnx::TensorProto::BOOL:
      return DType::boolean;
    default:
      *ok = false;
      return DType::undefined;
  }
}

const char* onnx_type_name(int32_t t) {
  return onnx::TensorProto_DataType_IsValid(t)
             ? onnx::TensorProto_DataType_Name(static_cast<onnx::TensorProto_DataType>(t)).c_str()
             : "invalid";
}

class Importer {
 public:
  Importer(std::string name, std::string base_dir)
      : name_(std::move(name)), base_dir_(std::move(base_dir)) {}

  [[noreturn]] void fail(const std::string& msg) const { throw ModelError(name_ + ": " + msg); }

  Tensor tensor(const onnx::TensorProto& t, const std::string& what) {
    auto ctx = [&](const std::string& m) { fail(str_cat(what, " '", t.name(), "': ", m)); };
    bool ok;
    DType dt = dtype_from_onnx(t.data_type(), &ok);
    if (!ok) ctx(str_cat("unsupported element type ", onnx_type_name(t.data_type())));
    if (t.has_segment()) ctx("segmented tensors are not supported");
    Shape shape(t.dims().begin(), t.dims().end());
    size_t numel;
    try {
      numel = shape_numel(shape);
    } catch (const Error& e) {
      ctx(str_cat("invalid dims ", shape_str(shape)));
    }
    const size_t esize = dtype_size(dt);
    if (numel > (size_t(1) << 36) / esize)
      ctx(str_cat("tensor of ", shape_str(shape), " is too large"));
    const size_t nbytes = numel * esize;
    if (t.data_location() == onnx::TensorProto::EXTERNAL)
      return external(t, dt, shape, nbytes, ctx);
    if (t.has_raw_data()) {
      if (t.raw_data().size() != nbytes)
        ctx(str_cat("raw_data has ", t.raw_data().size(), " bytes, ", dtype_name(dt),
                    shape_str(shape), " needs ", nbytes));
      return Tensor::from_bytes(dt, shape, t.raw_data().data(), nbytes);
    }
    auto check_count = [&](int n) {
      if (static_cast<size_t>(n) != numel)
        ctx(str_cat("has ", n, " typed values, shape ", shape_str(shape), " needs ", numel));
    };
    // Check the value count before allocating: the dims are untrusted.
    switch (dt) {
      case DType::f32:
        check_count(t.float_data_size());
        break;
      case DType::f64:
        check_count(t.double_data_size());
        break;
      case DType::i64:
        check_count(t.int64_data_size());
        break;
      case DType::u32:
      case DType::u64:
        check_count(t.uint64_data_size());
        break;
      default:
        check_count(t.int32_data_size());
    }
    Tensor out(dt, shape);
    switch (dt) {
      case DType::f32:
        check_count(t.float_data_size());
        std::copy(t.float_data().begin(), t.float_data().end(), out.data<float>());
        break;
      case DType::f64:
        check_count(t.double_data_size());
        std::copy(t.double_data().begin(), t.double_data().end(), out.data<double>());
        break;
      case DType::i64:
        check_count(t.int64_data_size());
        std::copy(t.int64_data().begin(), t.int64_data().end(), out.data<int64_t>());
        break;
      case DType::u32:
      case DType::u64:
        check_count(t.uint64_data_size());
        for (size_t i = 0; i < numel; ++i) {
          if (dt == DType::u32)
            out.data<uint32_t>()[i] = static_cast<uint32_t>(t.uint64_data(i));
          else
            out.data<uint64_t>()[i] = t.uint64_data(i);
        }
        break;
      default: {
        // int32_data carries i32, i16, u16, i8, u8, bool and the bits of f16/bf16.
        check_count(t.int32_data_size());
        for (size_t i = 0; i < numel; ++i) {
          int32_t v = t.int32_data(static_cast<int>(i));
          switch (dt) {
            case DType::i32:
              out.data<int32_t>()[i] = v;
              break;
            case DType::i16:
              out.data<int16_t>()[i] = static_cast<int16_t>(v);
              break;
            case DType::u16:
              out.data<uint16_t>()[i] = static_cast<uint16_t>(v);
              break;
            case DType::i8:
              out.data<int8_t>()[i] = static_cast<int8_t>(v);
              break;
            case DType::u8:
              out.data<uint8_t>()[i] = static_cast<uint8_t>(v);
              break;
            case DType::boolean:
              out.data<bool>()[i] = v != 0;
              break;
            case DType::f16:
              out.data<f16>()[i].bits = static_cast<uint16_t>(v);
              break;
            case DType::bf16:
              out.data<bf16>()[i].bits = static_cast<uint16_t>(v);
              break;
            default:
              ctx("unexpected element type");
          }
        }
      }
    }
    return out;
  }

  template <typename Ctx>
  Tensor external(const onnx::TensorProto& t, DType dt, const Shape& shape, size_t nbytes,
                  Ctx ctx) {
    std::string location;
    int64_t offset = 0, length = -1;
    for (const auto& kv : t.external_data()) {
      try {
        if (kv.key() == "location")
          location = kv.value();
        else if (kv.key() == "offset")
          offset = std::stoll(kv.value());
        else if (kv.key() == "length")
          length = std::stoll(kv.value());
      } catch (const std::exception&) {
        ctx(str_cat("external_data ", kv.key(), " '", kv.value(), "' is not a number"));
      }
    }
    if (location.empty()) ctx("external data without a location");
    if (base_dir_.empty())
      ctx("external data '" + location + "' but the model was not loaded from a file");
    fs::path rel(location);
    if (rel.is_absolute())
      ctx("external data location '" + location + "' must be relative to the model");
    for (const auto& part : rel)
      if (part == "..") ctx("external data location '" + location + "' leaves the model's folder");
    fs::path full = fs::path(base_dir_) / rel;
    if (offset < 0) ctx("negative external data offset");
    if (length >= 0 && static_cast<size_t>(length) != nbytes)
      ctx(str_cat("external data length ", length, " but ", shape_str(shape), " needs ", nbytes));
    std::ifstream f(full, std::ios::binary);
    if (!f) ctx("cannot open external data file " + full.string());
    f.seekg(0, std::ios::end);
    int64_t size = f.tellg();
    if (offset + static_cast<int64_t>(nbytes) > size)
      ctx(str_cat("external data file ", full.string(), " has ", size, " bytes, needs ",
                  offset + static_cast<int64_t>(nbytes)));
    Tensor out(dt, shape);
    f.seekg(offset);
    f.read(static_cast<char*>(out.raw()), static_cast<std::streamsize>(nbytes));
    if (!f) ctx("read error in external data file " + full.string());
    return out;
  }

  void value_type(const onnx::ValueInfoProto& vi, Value* v) {
    if (!vi.has_type()) return;
    const auto& tp = vi.type();
    if (!tp.has_tensor_type())
      fail(str_cat("value '", vi.name(),
                   "' is not a tensor (sequences, maps and optionals are not supported)"));
    const auto& tt = tp.tensor_type();
    bool ok;
    if (tt.has_elem_type()) {
      v->type.dtype = dtype_from_onnx(tt.elem_type(), &ok);
      if (!ok)
        fail(str_cat("value '", vi.name(), "' has unsupported element type ",
                     onnx_type_name(tt.elem_type())));
    }
    if (tt.has_shape()) {
      v->type.has_rank = true;
      v->type.dims.clear();
      v->dim_names.clear();
      for (const auto& d : tt.shape().dim()) {
        v->type.dims.push_back(d.has_dim_value() && d.dim_value() >= 0 ? d.dim_value() : -1);
        v->dim_names.push_back(d.has_dim_param() ? d.dim_param() : "");
      }
    }
  }

  Attribute attribute(const onnx::AttributeProto& a, const std::string& node_label) {
    Attribute r;
    using A = onnx::AttributeProto;
    switch (a.type()) {
      case A::FLOAT:
        r.kind = Attribute::Kind::f;
        r.f = a.f();
        break;
      case A::INT:
        r.kind = Attribute::Kind::i;
        r.i = a.i();
        break;
      case A::STRING:
        r.kind = Attribute::Kind::s;
        r.s = a.s();
        break;
      case A::TENSOR:
        r.kind = Attribute::Kind::t;
        r.t = tensor(a.t(), node_label + " attribute " + a.name());
        break;
      case A::FLOATS:
        r.kind = Attribute::Kind::fs;
        r.fs.assign(a.floats().begin(), a.floats().end());
        break;
      case A::INTS:
        r.kind = Attribute::Kind::is;
        r.is.assign(a.ints().begin(), a.ints().end());
        break;
      case A::STRINGS:
        r.kind = Attribute::Kind::ss;
        r.ss.assign(a.strings().begin(), a.strings().end());
        break;
      case A::TENSORS:
        r.kind = Attribute::Kind::ts;
        for (const auto& t : a.tensors())
          r.ts.push_back(tensor(t, node_label + " attribute " + a.name()));
        break;
      case A::GRAPH:
        r.kind = Attribute::Kind::g;
        break;  // the subgraph itself is imported by the node loop (outer-scope captures)
      case A::GRAPHS:
        r.kind = Attribute::Kind::gs;
        break;
      default:
        // Old exporters omit `type`; infer it from the populated field.
        if (a.has_f()) {
          r.kind = Attribute::Kind::f;
          r.f = a.f();
        } else if (a.has_i()) {
          r.kind = Attribute::Kind::i;
          r.i = a.i();
        } else if (a.has_s()) {
          r.kind = Attribute::Kind::s;
          r.s = a.s();
        } else if (a.ints_size()) {
          r.kind = Attribute::Kind::is;
          r.is.assign(a.ints().begin(), a.ints().end());
        } else if (a.floats_size()) {
          r.kind = Attribute::Kind::fs;
          r.fs.assign(a.floats().begin(), a.floats().end());
        } else
          fail(str_cat("node ", node_label, ": attribute '", a.name(), "' has unsupported type ",
                       a.type()));
    }
    return r;
  }

  // Constant node -> constant tensor (all the forms opsets 1..20 allow; float8 excepted).
  Tensor constant_value(const onnx::NodeProto& n, const std::string& label) {
    if (n.attribute_size() != 1) fail("node " + label + ": Constant needs exactly one attribute");
    const auto& a = n.attribute(0);
    const std::string& k = a.name();
    if (k == "value") return tensor(a.t(), "node " + label + " value");
    if (k == "value_float") return Tensor::scalar<float>(a.f());
    if (k == "value_int") return Tensor::scalar<int64_t>(a.i());
    if (k == "value_floats")
      return Tensor::from_vector<float>({a.floats_size()}, {a.floats().begin(), a.floats().end()});
    if (k == "value_ints")
      return Tensor::from_vector<int64_t>({a.ints_size()}, {a.ints().begin(), a.ints().end()});
    fail("node " + label + ": Constant attribute '" + k + "' is not supported (strings, sparse)");
  }

  std::shared_ptr<Graph> import(const onnx::ModelProto& m) {
    auto g = std::make_shared<Graph>();
    g->path = name_;
    g->ir_version = m.ir_version();
    g->producer =
        m.producer_name() + (m.producer_version().empty() ? "" : " " + m.producer_version());
    for (const auto& op : m.opset_import()) g->opsets[op.domain()] = op.version();
    if (m.opset_import_size() == 0) g->opsets[""] = 1;  // IR < 3 models: opset 1
    int64_t opset = g->opset();
    if (opset == 0) {
      std::string domains;
      for (const auto& kv : g->opsets) domains += (domains.empty() ? "" : ", ") + kv.first;
      fail("model uses only domain(s) " + domains +
           ", which are not supported (only the default ONNX domain is)");
    }
    if (opset < kMinOpset || opset > kMaxOpset)
      fail(str_cat("opset ", opset, " is not supported (visionrt supports opsets ", kMinOpset, "..",
                   kMaxOpset, ")"));
    for (const auto& p : m.metadata_props()) g->metadata[p.key()] = p.value();
    if (!m.has_graph()) fail("model has no graph");
    import_graph(m.graph(), g.get(), nullptr);
    return g;
  }

  // Imports the nodes, values, inputs and outputs of `gp` into g. For a subgraph (the body of
  // If/Loop/Scan), `captures` receives the outer-scope names it reads (used but not defined in
  // it or in its own subgraphs), in first-use order; they become inputs of g after its formal
  // inputs. The node that owns subgraphs gets the union of their captures appended to its
  // inputs (attribute visionrt_captures counts them), and each subgraph gets the same list of
  // capture inputs, so a kernel binds them by position.
  void import_graph(const onnx::GraphProto& gp, Graph* g, std::vector<std::string>* captures) {
    if (gp.sparse_initializer_size()) fail("sparse initializers are not supported");
    const bool sub = captures != nullptr;

    std::unordered_map<std::string, int> ids;
    auto id_of = [&](const std::string& name) {
      auto it = ids.find(name);
      if (it != ids.end()) return it->second;
      int id = g->add_value(name);
      ids[name] = id;
      return id;
    };
    std::set<std::string> init_names;
    for (const auto& t : gp.initializer()) {
      if (t.name().empty()) fail("an initializer has no name");
      if (!init_names.insert(t.name()).second)
        fail("initializer '" + t.name() + "' is defined twice");
      int id = id_of(t.name());
      Value& v = g->values[id];
      v.constant = tensor(t, "initializer");
      v.type.dtype = v.constant->dtype();
      v.type.has_rank = true;
      v.type.dims = v.constant->shape();
    }
    std::set<std::string> input_names;
    for (const auto& in : gp.input()) {
      if (in.name().empty()) fail("a graph input has no name");
      if (!input_names.insert(in.name()).second)
        fail("graph input '" + in.name() + "' is listed twice");
      if (init_names.count(in.name())) continue;  // initializer with a default: treat as constant
      int id = id_of(in.name());
      value_type(in, &g->values[id]);
      if (g->values[id].type.dtype == DType::undefined && !sub)
        fail("graph input '" + in.name() + "' has no element type");
      g->inputs.push_back(id);
    }
    // Nodes, converting Constant nodes into constants as we go.
    std::vector<Node> nodes;
    for (int ni = 0; ni < gp.node_size(); ++ni) {
      const auto& np = gp.node(ni);
      std::string label = np.name().empty() ? str_cat(np.op_type(), " #", ni)
                                            : str_cat(np.op_type(), " '", np.name(), "'");
      if (np.op_type().empty()) fail(str_cat("node #", ni, " has no op_type"));
      bool default_domain = np.domain().empty() || np.domain() == "ai.onnx";
      if (default_domain && np.op_type().rfind("visionrt.", 0) == 0)
        fail("node " + label + ": op names starting with 'visionrt.' are reserved");
      if (default_domain && np.op_type() == "Constant") {
        if (np.output_size() != 1 || np.output(0).empty())
          fail("node " + label + ": Constant needs one output");
        int id = id_of(np.output(0));
        if (g->values[id].constant || g->values[id].producer >= 0)
          fail("node " + label + ": output '" + np.output(0) + "' is already defined");
        Value& v = g->values[id];
        v.constant = constant_value(np, label);
        v.type.dtype = v.constant->dtype();
        v.type.has_rank = true;
        v.type.dims = v.constant->shape();
        continue;
      }
      Node n;
      n.name = np.name().empty() ? str_cat(np.op_type(), "_", ni) : np.name();
      n.op_type = np.op_type();
      n.domain = default_domain ? "" : np.domain();
      for (const auto& in : np.input()) n.inputs.push_back(in.empty() ? -1 : id_of(in));
      for (const auto& out : np.output()) n.outputs.push_back(out.empty() ? -1 : id_of(out));
      std::vector<std::string> node_captures;  // union over the node's subgraphs
      std::vector<std::pair<std::shared_ptr<Graph>, size_t>> subgraphs;  // graph, formal inputs
      for (const auto& a : np.attribute()) {
        if (a.name().empty()) fail("node " + label + ": attribute without a name");
        n.attrs[a.name()] = attribute(a, label);
        if (a.type() == onnx::AttributeProto::GRAPHS)
          fail("node " + label + ": attribute '" + a.name() +
               "' holds a list of graphs (not supported)");
        if (a.type() != onnx::AttributeProto::GRAPH && !a.has_g()) continue;
        auto sg = std::make_shared<Graph>();
        sg->path = g->path;
        sg->ir_version = g->ir_version;
        sg->opsets = g->opsets;
        std::vector<std::string> caps;
        import_graph(a.g(), sg.get(), &caps);
        const size_t formal = sg->inputs.size() - caps.size();
        for (const auto& c : caps)
          if (std::find(node_captures.begin(), node_captures.end(), c) == node_captures.end())
            node_captures.push_back(c);
        Attribute& at = n.attrs[a.name()];
        at.kind = Attribute::Kind::g;
        at.g = sg;
        subgraphs.push_back({sg, formal});
      }
      if (!subgraphs.empty()) {
        for (auto& [sg, formal] : subgraphs) {
          sg->inputs.resize(formal);
          for (const auto& c : node_captures) {
            int id = sg->find_value(c);
            if (id < 0) id = sg->add_value(c);
            // The outer value's type where it is already known (inputs, initializers).
            auto it = ids.find(c);
            if (it != ids.end() && sg->values[id].type.dtype == DType::undefined)
              sg->values[id].type = g->values[it->second].type;
            sg->inputs.push_back(id);
          }
        }
        for (const auto& c : node_captures) n.inputs.push_back(id_of(c));
        n.attrs["visionrt_captures"] = attr_int(static_cast<int64_t>(node_captures.size()));
      }
      nodes.push_back(std::move(n));
    }
    if (sub) {
      // Outer-scope names: read by a node or named as an output, defined nowhere in this graph.
      std::set<std::string> defined;
      for (size_t v = 0; v < g->values.size(); ++v)
        if (g->values[v].constant) defined.insert(g->values[v].name);
      for (int i : g->inputs) defined.insert(g->values[i].name);
      for (const Node& nd : nodes)
        for (int o : nd.outputs)
          if (o >= 0) defined.insert(g->values[o].name);
      auto note = [&](const std::string& name) {
        if (!defined.count(name) &&
            std::find(captures->begin(), captures->end(), name) == captures->end())
          captures->push_back(name);
      };
      for (const Node& nd : nodes)
        for (int i : nd.inputs)
          if (i >= 0) note(g->values[i].name);
      for (const auto& out : gp.output()) note(out.name());
      for (const auto& c : *captures) g->inputs.push_back(id_of(c));
    }
    for (const auto& vi : gp.value_info()) {
      auto it = ids.find(vi.name());
      if (it != ids.end() && !g->values[it->second].constant)
        value_type(vi, &g->values[it->second]);
    }
    for (const auto& out : gp.output()) {
      if (out.name().empty()) fail("a graph output has no name");
      auto it = ids.find(out.name());
      if (it == ids.end()) fail("graph output '" + out.name() + "' is never produced");
      if (!g->values[it->second].constant) value_type(out, &g->values[it->second]);
      g->outputs.push_back(it->second);
    }
    g->nodes = topo_sort(std::move(nodes), *g);
    g->relink();
    verify_graph(*g);
  }

  // Nodes in an order where each input is defined before use (stable for sorted models).
  std::vector<Node> topo_sort(std::vector<Node> nodes, const Graph& g) {
    std::vector<bool> defined(g.values.size(), false);
    for (int i : g.inputs) defined[i] = true;
    for (size_t v = 0; v < g.values.size(); ++v)
      if (g.values[v].constant) defined[v] = true;
    std::vector<Node> out;
    std::vector<bool> done(nodes.size(), false);
    size_t remaining = nodes.size();
    while (remaining) {
      bool progress = false;
      for (size_t n = 0; n < nodes.size(); ++n) {
        if (done[n]) continue;
        bool ready = true;
        for (int i : nodes[n].inputs)
          if (i >= 0 && !defined[i]) {
            ready = false;
            break;
          }
        if (!ready) continue;
        for (int o : nodes[n].outputs)
          if (o >= 0) {
            if (defined[o])
              fail("node " + nodes[n].label() + ": output '" + g.values[o].name +
                   "' is defined twice");
            defined[o] = true;
          }
        done[n] = true;
        --remaining;
        progress = true;
        out.push_back(std::move(nodes[n]));
      }
      if (!progress) {
        for (size_t n = 0; n < nodes.size(); ++n) {
          if (done[n]) continue;
          for (int i : nodes[n].inputs)
            if (i >= 0 && !defined[i])
              fail("node " + nodes[n].label() + ": input '" + g.values[i].name +
                   "' is not produced by any node, initializer or graph input (or the graph has a "
                   "cycle)");
        }
      }
    }
    return out;
  }

 private:
  std::string name_;
  std::string base_dir_;
};

}  // namespace

std::shared_ptr<Graph> load_onnx_bytes(const std::string& bytes, const std::string& name,
                                       const std::string& base_dir) {
  onnx::ModelProto m;
  if (bytes.empty()) throw ModelError(name + ": file is empty");
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
    throw ModelError(name + ": files over 2 GiB need external data");
  if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    throw ModelError(name +
                     ": not a valid ONNX model (protobuf parse failed: truncated or not ONNX)");
  if (!m.has_graph() && m.opset_import_size() == 0)
    throw ModelError(name + ": not an ONNX model (no graph and no opset)");
  return Importer(name, base_dir).import(m);
}

std::shared_ptr<Graph> load_onnx_file(const std::string& path) {
  std::string bytes = read_file(path);
  std::string dir = fs::path(path).parent_path().string();
  return load_onnx_bytes(bytes, path, dir.empty() ? "." : dir);
}

Tensor tensor_from_proto(const onnx::TensorProto& t, const std::string& name,
                         const std::string& base_dir) {
  return Importer(name, base_dir).tensor(t, "initializer");
}

Tensor load_tensor_pb(const std::string& path, std::string* name) {
  std::string bytes = read_file(path);
  onnx::TensorProto t;
  if (!t.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    throw ModelError(path + ": not a valid TensorProto");
  if (name) *name = t.name();
  std::string dir = fs::path(path).parent_path().string();
  return Importer(path, dir).tensor(t, "tensor");
}

}  // namespace visionrt
