// Runs fp16 models in fp32, as ONNX Runtime and OpenVINO do on CPUs without fp16 arithmetic:
// f16 constants become f32, f16 graph inputs get a Cast to f32 on entry and f16 graph outputs a
// Cast back on exit, and casts to f16 inside the graph become casts to f32. Rounding to fp16
// after every layer would otherwise compound to errors far above the model's own precision.
#include "common/strings.hpp"
#include "passes/passes.hpp"

namespace visionrt {

namespace {
constexpr int64_t kOnnxFloat = 1;
constexpr int64_t kOnnxFloat16 = 10;

Node make_cast(const std::string& name, int in, int out, int64_t to) {
  Node n;
  n.name = name;
  n.op_type = "Cast";
  n.inputs = {in};
  n.outputs = {out};
  n.attrs["to"] = attr_int(to);
  return n;
}
}  // namespace

bool convert_fp16_to_fp32(Graph& g) {
  bool any = false;
  for (const Value& v : g.values)
    if (v.type.dtype == DType::f16 || (v.constant && v.constant->dtype() == DType::f16)) any = true;
  if (!any) return false;

  for (Value& v : g.values) {
    if (v.constant && v.constant->dtype() == DType::f16) {
      v.constant = v.constant->cast(DType::f32);
      v.type.dtype = DType::f32;
    }
  }
  for (Node& n : g.nodes) {
    if ((n.op_type == "Cast" || n.op_type == "EyeLike" || n.op_type == "RandomNormalLike" ||
         n.op_type == "RandomUniformLike") &&
        n.attr_i(n.op_type == "Cast" ? "to" : "dtype", 0) == kOnnxFloat16)
      n.attrs[n.op_type == "Cast" ? "to" : "dtype"] = attr_int(kOnnxFloat);
    if (n.op_type == "ConstantOfShape") {
      const Tensor* t = n.attr_t("value");
      if (t && t->dtype() == DType::f16) n.attrs["value"] = attr_tensor(t->cast(DType::f32));
    }
  }
  std::vector<Node> prologue, epilogue;
  for (int& in : g.inputs) {
    if (g.values[in].type.dtype != DType::f16) continue;
    // The f16 input keeps its id and name; consumers read a new f32 value.
    int f32 = g.add_value(g.values[in].name + "__f32");
    g.values[f32].type = g.values[in].type;
    g.values[f32].type.dtype = DType::f32;
    for (Node& n : g.nodes)
      for (int& i : n.inputs)
        if (i == in) i = f32;
    prologue.push_back(make_cast(g.values[in].name + "__to_f32", in, f32, kOnnxFloat));
  }
  for (int& out : g.outputs) {
    if (g.values[out].type.dtype != DType::f16) continue;
    // The producer now writes an internal f32 value; the named output is a Cast of it.
    int internal = out;
    int named = g.add_value(g.values[internal].name);
    g.values[named].type = g.values[internal].type;
    g.values[named].dim_names = g.values[internal].dim_names;
    g.values[internal].name += "__f32";
    g.values[internal].type.dtype = DType::f32;
    epilogue.push_back(make_cast(g.values[named].name + "__to_f16", internal, named, kOnnxFloat16));
    out = named;
  }
  // Every remaining f16 type annotation is stale now; inference recomputes it.
  for (Value& v : g.values)
    if (v.type.dtype == DType::f16 && v.producer >= 0) v.type = TensorType{};
  std::vector<Node> nodes = std::move(prologue);
  for (Node& n : g.nodes) nodes.push_back(std::move(n));
  for (Node& n : epilogue) nodes.push_back(std::move(n));
  g.nodes = std::move(nodes);
  g.relink();
  return true;
}

}  // namespace visionrt
