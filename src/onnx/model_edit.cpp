// model_with_initializers (model_edit.hpp).
#include "onnx/model_edit.hpp"

#include <filesystem>
#include <set>

#include "common/file_io.hpp"
#include "common/strings.hpp"
#include "onnx/proto_util.hpp"
#include "visionrt/error.hpp"

namespace visionrt {

std::string model_with_initializers(const std::string& path,
                                    const std::map<std::string, Tensor>& values,
                                    const std::map<std::string, std::string>& metadata) {
  const std::string bytes = read_file(path);
  onnx::ModelProto model;
  if (bytes.empty() || bytes.size() > static_cast<size_t>(INT32_MAX) ||
      !model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) || !model.has_graph())
    throw ModelError(path + ": not a valid ONNX model");
  std::set<std::string> done;
  auto replace = [&](onnx::TensorProto* p, const std::string& name) {
    auto it = values.find(name);
    if (it == values.end()) return;
    const Tensor& t = it->second;
    Shape dims(p->dims().begin(), p->dims().end());
    if (dims != t.shape())
      throw ModelError(str_cat(path, ": tensor '", name, "' is ", shape_str(dims),
                               ", the new value ", shape_str(t.shape())));
    onnx::TensorProto fresh;
    fill_tensor(&fresh, name, t);
    if (fresh.data_type() != p->data_type())
      throw ModelError(str_cat(path, ": tensor '", name, "' changes its element type"));
    *p = fresh;
    done.insert(name);
  };
  onnx::GraphProto* g = model.mutable_graph();
  // Tensors kept in external files are read in and written inline: the edited model may be
  // saved anywhere, where relative external paths would no longer resolve.
  const std::string dir = std::filesystem::path(path).parent_path().string();
  for (auto& init : *g->mutable_initializer())
    if (init.data_location() == onnx::TensorProto::EXTERNAL && !values.count(init.name())) {
      const Tensor t = tensor_from_proto(init, init.name(), dir.empty() ? "." : dir);
      onnx::TensorProto inline_copy;
      fill_tensor(&inline_copy, init.name(), t);
      init = inline_copy;
    }
  for (auto& init : *g->mutable_initializer()) replace(&init, init.name());
  for (auto& n : *g->mutable_node())
    if (n.op_type() == "Constant" && n.output_size() == 1)
      for (auto& a : *n.mutable_attribute())
        if (a.name() == "value" && a.has_t()) replace(a.mutable_t(), n.output(0));
  for (const auto& kv : values)
    if (!done.count(kv.first))
      throw ModelError(str_cat(path, ": no initializer named '", kv.first, "'"));
  for (const auto& [key, value] : metadata) {
    bool set = false;
    for (auto& kv : *model.mutable_metadata_props())
      if (kv.key() == key) {
        kv.set_value(value);
        set = true;
      }
    if (!set) {
      auto* kv = model.add_metadata_props();
      kv->set_key(key);
      kv->set_value(value);
    }
  }
  return model.SerializeAsString();
}

}  // namespace visionrt
