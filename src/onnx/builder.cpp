// ModelBuilder: Graph-like calls -> onnx::ModelProto.
#include "onnx/builder.hpp"
#include "onnx/proto_util.hpp"

#include <onnx/onnx_pb.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "common/strings.hpp"

namespace visionrt {

namespace {
int32_t onnx_type(DType t) {
  switch (t) {
    case DType::f32:
      return onnx::TensorProto::FLOAT;
    case DType::f64:
      return onnx::TensorProto::DOUBLE;
    case DType::f16:
      return onnx::TensorProto::FLOAT16;
    case DType::bf16:
      return onnx::TensorProto::BFLOAT16;
    case DType::i8:
      return onnx::TensorProto::INT8;
    case DType::u8:
      return onnx::TensorProto::UINT8;
    case DType::i16:
      return onnx::TensorProto::INT16;
    case DType::u16:
      return onnx::TensorProto::UINT16;
    case DType::i32:
      return onnx::TensorProto::INT32;
    case DType::u32:
      return onnx::TensorProto::UINT32;
    case DType::i64:
      return onnx::TensorProto::INT64;
    case DType::u64:
      return onnx::TensorProto::UINT64;
    case DType::boolean:
      return onnx::TensorProto::BOOL;
    default:
      throw Error("ModelBuilder: undefined dtype");
  }
}

void write_atomic(const std::string& path, const std::string& bytes) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f) throw IoError(path + ": cannot create file");
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.close();
    if (!f) {
      std::remove(tmp.c_str());
      throw IoError(path + ": write failed");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw IoError(path + ": cannot rename into place: " + ec.message());
}
}  // namespace

void fill_tensor(onnx::TensorProto* p, const std::string& name, const Tensor& t) {
  p->set_name(name);
  p->set_data_type(onnx_type(t.dtype()));
  for (int64_t d : t.shape()) p->add_dims(d);
  p->set_raw_data(std::string(static_cast<const char*>(t.raw()), t.nbytes()));
}

struct ModelBuilder::Impl {
  onnx::ModelProto model;
  std::map<std::string, std::string> external;  // initializer -> location
};

ModelBuilder::ModelBuilder(int64_t opset, int64_t ir_version) : impl_(std::make_unique<Impl>()) {
  impl_->model.set_ir_version(ir_version);
  impl_->model.set_producer_name("visionrt-builder");
  auto* op = impl_->model.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  impl_->model.mutable_graph()->set_name("visionrt_model");
}
ModelBuilder::~ModelBuilder() = default;
ModelBuilder::ModelBuilder(ModelBuilder&&) noexcept = default;
ModelBuilder& ModelBuilder::operator=(ModelBuilder&&) noexcept = default;

namespace {

// Fills a ValueInfo's tensor type; -1 dims become symbolic (named by dim_names when given).
void fill_value_info(onnx::ValueInfoProto* vi, const std::string& name, DType t, const Shape* shape,
                     const std::vector<std::string>& dim_names) {
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx_type(t));
  if (!shape) return;
  auto* sh = tt->mutable_shape();
  for (size_t i = 0; i < shape->size(); ++i) {
    auto* d = sh->add_dim();
    if ((*shape)[i] >= 0)
      d->set_dim_value((*shape)[i]);
    else
      d->set_dim_param(i < dim_names.size() && !dim_names[i].empty() ? dim_names[i]
                                                                     : str_cat("d", i));
  }
}

}  // namespace

ModelBuilder& ModelBuilder::input(const std::string& name, DType t, const Shape& shape,
                                  const std::vector<std::string>& dim_names) {
  fill_value_info(impl_->model.mutable_graph()->add_input(), name, t, &shape, dim_names);
  return *this;
}

ModelBuilder& ModelBuilder::output(const std::string& name, DType t) {
  fill_value_info(impl_->model.mutable_graph()->add_output(), name, t, nullptr, {});
  return *this;
}

ModelBuilder& ModelBuilder::output(const std::string& name, DType t, const Shape& declared) {
  fill_value_info(impl_->model.mutable_graph()->add_output(), name, t, &declared, {});
  return *this;
}

ModelBuilder& ModelBuilder::initializer(const std::string& name, const Tensor& value) {
  fill_tensor(impl_->model.mutable_graph()->add_initializer(), name, value);
  return *this;
}

ModelBuilder& ModelBuilder::node(const std::string& op, const std::vector<std::string>& inputs,
                                 const std::vector<std::string>& outputs,
                                 const std::map<std::string, Attribute>& attrs,
                                 const std::string& name) {
  auto* n = impl_->model.mutable_graph()->add_node();
  const size_t colon = op.find("::");
  if (colon == std::string::npos) {
    n->set_op_type(op);
  } else {  // "domain::Op": a custom-domain node, its domain imported at version 1
    const std::string domain = op.substr(0, colon);
    n->set_domain(domain);
    n->set_op_type(op.substr(colon + 2));
    bool known = false;
    for (const auto& o : impl_->model.opset_import()) known = known || o.domain() == domain;
    if (!known) {
      auto* o = impl_->model.add_opset_import();
      o->set_domain(domain);
      o->set_version(1);
    }
  }
  n->set_name(name.empty() ? str_cat(op, "_", impl_->model.graph().node_size() - 1) : name);
  for (const auto& i : inputs) n->add_input(i);
  for (const auto& o : outputs) n->add_output(o);
  using A = onnx::AttributeProto;
  for (const auto& kv : attrs) {
    auto* a = n->add_attribute();
    a->set_name(kv.first);
    const Attribute& v = kv.second;
    switch (v.kind) {
      case Attribute::Kind::f:
        a->set_type(A::FLOAT);
        a->set_f(v.f);
        break;
      case Attribute::Kind::i:
        a->set_type(A::INT);
        a->set_i(v.i);
        break;
      case Attribute::Kind::s:
        a->set_type(A::STRING);
        a->set_s(v.s);
        break;
      case Attribute::Kind::t:
        a->set_type(A::TENSOR);
        fill_tensor(a->mutable_t(), "", v.t);
        break;
      case Attribute::Kind::fs:
        a->set_type(A::FLOATS);
        for (float f : v.fs) a->add_floats(f);
        break;
      case Attribute::Kind::is:
        a->set_type(A::INTS);
        for (int64_t i : v.is) a->add_ints(i);
        break;
      case Attribute::Kind::ss:
        a->set_type(A::STRINGS);
        for (const auto& s : v.ss) a->add_strings(s);
        break;
      default:
        throw Error("ModelBuilder: attribute kind not supported");
    }
  }
  return *this;
}

ModelBuilder& ModelBuilder::node_with_graphs(
    const std::string& op, const std::vector<std::string>& inputs,
    const std::vector<std::string>& outputs,
    const std::map<std::string, const ModelBuilder*>& graphs,
    const std::map<std::string, Attribute>& attrs) {
  node(op, inputs, outputs, attrs);
  auto* n = impl_->model.mutable_graph()->mutable_node(impl_->model.graph().node_size() - 1);
  for (const auto& kv : graphs) {
    auto* a = n->add_attribute();
    a->set_name(kv.first);
    a->set_type(onnx::AttributeProto::GRAPH);
    *a->mutable_g() = kv.second->impl_->model.graph();
    a->mutable_g()->set_name(kv.first);
  }
  return *this;
}

ModelBuilder& ModelBuilder::metadata(const std::string& key, const std::string& value) {
  auto* p = impl_->model.add_metadata_props();
  p->set_key(key);
  p->set_value(value);
  return *this;
}

ModelBuilder& ModelBuilder::producer(const std::string& name) {
  impl_->model.set_producer_name(name);
  return *this;
}

ModelBuilder& ModelBuilder::external(const std::string& initializer, const std::string& location) {
  impl_->external[initializer] = location;
  return *this;
}

std::string ModelBuilder::serialize() const {
  std::string s;
  if (!impl_->model.SerializeToString(&s)) throw Error("ModelBuilder: serialization failed");
  return s;
}

void ModelBuilder::save(const std::string& path) const {
  onnx::ModelProto m = impl_->model;
  std::map<std::string, std::string> files;  // location -> bytes
  for (auto& t : *m.mutable_graph()->mutable_initializer()) {
    auto it = impl_->external.find(t.name());
    if (it == impl_->external.end()) continue;
    std::string& file = files[it->second];
    auto* kv = t.add_external_data();
    kv->set_key("location");
    kv->set_value(it->second);
    kv = t.add_external_data();
    kv->set_key("offset");
    kv->set_value(std::to_string(file.size()));
    kv = t.add_external_data();
    kv->set_key("length");
    kv->set_value(std::to_string(t.raw_data().size()));
    file += t.raw_data();
    t.clear_raw_data();
    t.set_data_location(onnx::TensorProto::EXTERNAL);
  }
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  for (const auto& kv : files) write_atomic((dir / kv.first).string(), kv.second);
  std::string s;
  if (!m.SerializeToString(&s)) throw Error("ModelBuilder: serialization failed");
  write_atomic(path, s);
}

ModelBuilder make_demo_detector() {
  std::mt19937 rng(1234);
  std::normal_distribution<float> nd(0.f, 0.3f);
  auto weights = [&](Shape s) {
    Tensor t(DType::f32, s);
    for (size_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = nd(rng);
    return t;
  };
  ModelBuilder b(17);
  b.producer("visionrt demo")
      .metadata("task", "detect")
      .metadata("names", "{0: 'dot', 1: 'ring'}")
      .metadata("stride", "8")
      .metadata("imgsz", "[64, 64]");
  b.input("images", DType::f32, {1, 3, 64, 64});
  // Stem: Conv 3x3 s2 + SiLU (x * sigmoid(x)), as in YOLOv8.
  b.initializer("w0", weights({8, 3, 3, 3})).initializer("b0", weights({8}));
  b.node("Conv", {"images", "w0", "b0"}, {"c0"},
         {{"kernel_shape", attr_ints({3, 3})},
          {"strides", attr_ints({2, 2})},
          {"pads", attr_ints({1, 1, 1, 1})}});
  b.node("Sigmoid", {"c0"}, {"s0"}).node("Mul", {"c0", "s0"}, {"a0"});
  b.node("MaxPool", {"a0"}, {"p0"},
         {{"kernel_shape", attr_ints({2, 2})}, {"strides", attr_ints({2, 2})}});
  b.initializer("w1", weights({16, 8, 3, 3}));
  b.node("Conv", {"p0", "w1"}, {"c1"}, {{"pads", attr_ints({1, 1, 1, 1})}});
  b.node("Relu", {"c1"}, {"a1"});
  b.initializer("scales", Tensor::from_vector<float>({4}, {1, 1, 2, 2}));
  b.node("Resize", {"a1", "", "scales"}, {"up"}, {{"mode", attr_string("nearest")}});
  b.node("Concat", {"up", "a0"}, {"cat"}, {{"axis", attr_int(1)}});
  // Head: 4 box values + 2 class scores per cell, as [1, 6, N] like YOLOv8's output0.
  b.initializer("w2", weights({6, 24, 1, 1})).initializer("b2", weights({6}));
  b.node("Conv", {"cat", "w2", "b2"}, {"head"});
  b.initializer("flat", Tensor::from_vector<int64_t>({3}, {1, 6, -1}));
  b.node("Reshape", {"head", "flat"}, {"h"});
  b.initializer("split", Tensor::from_vector<int64_t>({2}, {4, 2}));
  b.node("Split", {"h", "split"}, {"box", "cls"}, {{"axis", attr_int(1)}});
  b.node("Sigmoid", {"cls"}, {"score"});
  b.node("Concat", {"box", "score"}, {"output0"}, {{"axis", attr_int(1)}});
  b.output("output0", DType::f32);
  return b;
}

}  // namespace visionrt
