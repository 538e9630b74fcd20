// Training configs (config.hpp), read with yaml-cpp.
#include "train/config.hpp"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <set>

#include "common/file_io.hpp"
#include "common/strings.hpp"
#include "visionrt/error.hpp"

namespace visionrt::train {

TrainConfig read_train_config(const std::string& path) {
  const std::string text = read_file(path);
  YAML::Node y;
  try {
    y = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw InputError(str_cat(path, ": malformed YAML (", e.what(), ")"));
  }
  if (!y.IsMap()) throw InputError(str_cat(path, ": a training config is a map of keys"));
  static const std::set<std::string> known{"model", "scale",  "task",   "nc",
                                           "dcn",   "dsconv", "weights"};
  for (const auto& kv : y) {
    const std::string k = kv.first.as<std::string>("");
    if (!known.count(k))
      throw InputError(
          str_cat(path, ": unknown key '", k, "' (model, scale, task, nc, dcn, weights)"));
  }
  auto text_of = [&](const char* key, const std::string& def) {
    if (!y[key]) return def;
    if (!y[key].IsScalar()) throw InputError(str_cat(path, ": '", key, "' must be a value"));
    return y[key].as<std::string>();
  };
  const std::string model = text_of("model", "yolov8");
  if (model != "yolov8" && model != "ssd300_vgg16" && model != "ssdlite320_mobilenet_v2")
    throw InputError(
        str_cat(path, ": model '", model, "' (yolov8, ssd300_vgg16 or ssdlite320_mobilenet_v2)"));
  if (model != "yolov8")
    for (const char* k : {"scale", "task", "dcn", "dsconv", "weights"})
      if (y[k])
        throw InputError(str_cat(path, ": '", k, "' does not apply to ", model, " (model, nc)"));
  const std::string scale = text_of("scale", "n");
  if (scale.size() != 1) throw InputError(str_cat(path, ": scale '", scale, "' (n, s, m, l, x)"));
  TrainConfig c;
  c.model = model;
  try {
    c.spec = YoloSpec::scale(scale[0], text_of("task", "detect"));
  } catch (const InputError& e) {
    throw InputError(str_cat(path, ": ", e.what()));
  }
  if (c.spec.task != "detect" && c.spec.task != "segment")
    throw InputError(str_cat(path, ": task '", c.spec.task, "' (detect or segment)"));
  if (y["nc"]) {
    int64_t nc = 0;
    try {
      nc = y["nc"].as<int64_t>();
    } catch (const YAML::Exception&) {
      throw InputError(str_cat(path, ": 'nc' must be a whole number"));
    }
    if (nc <= 0 || nc > 100000) throw InputError(str_cat(path, ": nc ", nc));
    c.spec.nc = nc;
    c.nc_given = true;
  }
  for (const char* key : {"dcn", "dsconv"}) {
    if (!y[key]) continue;
    if (!y[key].IsSequence()) throw InputError(str_cat(path, ": '", key, "' must be a list"));
    for (const auto& v : y[key]) {
      int64_t l = -1;
      try {
        l = v.as<int64_t>();
      } catch (const YAML::Exception&) {
        throw InputError(str_cat(path, ": '", key, "' lists layer numbers"));
      }
      if (l != 2 && l != 4 && l != 6 && l != 8 && l != 12 && l != 15 && l != 18 && l != 21)
        throw InputError(str_cat(path, ": ", key, " layer ", l,
                                 " is not a C2f layer (2, 4, 6, 8, 12, 15, 18, 21)"));
      (std::string(key) == "dcn" ? c.spec.dcn : c.spec.dsconv).push_back(l);
    }
  }
  const std::string weights = text_of("weights", "");
  if (!weights.empty()) {
    std::filesystem::path p(weights);
    if (p.is_relative()) p = std::filesystem::path(path).parent_path() / p;
    c.weights = p.string();
  }
  return c;
}

}  // namespace visionrt::train
