// Predictor: chooses the model family from the model's outputs and metadata, applies the
// family's pre-processing, runs the model (compiled per input size for dynamic models) and the
// family's post-processing (vision/postprocess).
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "common/file_io.hpp"
#include "common/strings.hpp"
#include "runtime/properties.hpp"
#include "vision/family.hpp"
#include "vision/preprocess.hpp"
#include "visionrt/core.hpp"
#include "visionrt/error.hpp"
#include "visionrt/vision.hpp"

namespace visionrt {

const char* task_name(Task t) {
  switch (t) {
    case Task::detect:
      return "detect";
    case Task::segment:
      return "segment";
    case Task::semantic:
      return "semantic";
    case Task::text:
      return "text";
  }
  return "?";
}

std::string PreprocessConfig::describe() const {
  const char* r = resize == Resize::letterbox ? "letterbox"
                  : resize == Resize::stretch ? "resize"
                                              : "resize to multiples of 32, longest side <=";
  std::string s =
      resize == Resize::multiple ? str_cat(r, " ", width) : str_cat(r, " ", width, "x", height);
  if (resize == Resize::letterbox) s += str_cat(" (pad ", pad_value, ")");
  if (antialias) s += " antialiased";
  return str_cat(s, ", ", rgb ? "RGB" : "BGR", ", (x - [", mean[0], ",", mean[1], ",", mean[2],
                 "]) / [", std[0], ",", std[1], ",", std[2], "]");
}

namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t).count();
}

// Ultralytics "{0: 'person', 1: 'bicycle'}" (Python dict repr, quotes ' or ", backslash
// escapes) or a comma-separated list. An entry that does not parse ends the list.
std::vector<std::string> parse_names(const std::string& s) {
  std::vector<std::string> out;
  if (!s.empty() && s.front() == '{') {
    size_t i = 1;
    auto skip = [&] {
      while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    };
    while (true) {
      skip();
      size_t k0 = i;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
      if (i == k0 || i - k0 > 6) break;
      size_t idx = std::stoul(s.substr(k0, i - k0));
      skip();
      if (i >= s.size() || s[i] != ':') break;
      ++i;
      skip();
      if (i >= s.size() || (s[i] != '\'' && s[i] != '"')) break;
      char q = s[i++];
      std::string name;
      while (i < s.size() && s[i] != q) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        name += s[i++];
      }
      if (i >= s.size()) break;
      ++i;
      if (out.size() <= idx) out.resize(idx + 1);
      out[idx] = name;
      skip();
      if (i < s.size() && s[i] == ',') ++i;
    }
    return out;
  }
  size_t a = 0;
  while (a <= s.size()) {
    size_t b = s.find(',', a);
    if (b == std::string::npos) b = s.size();
    std::string n = trim_copy(s.substr(a, b - a));
    if (!n.empty()) out.push_back(n);
    a = b + 1;
  }
  return out;
}

// Exactly one *.names or labels*.txt next to the model.
std::string names_file_beside(const std::string& model_path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path dir = fs::path(model_path).parent_path();
  if (dir.empty()) dir = ".";
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string n = e.path().filename().string();
    if (e.path().extension() == ".names" ||
        (n.rfind("labels", 0) == 0 && e.path().extension() == ".txt"))
      found.push_back(e.path().string());
  }
  return found.size() == 1 ? found[0] : "";
}

}  // namespace

struct Predictor::Impl {
  std::string path;
  PredictOptions opt;
  Core core;
  Model model;
  Config config;
  bool dynamic = false;
  std::string family;
  Task task = Task::detect;
  std::vector<std::string> names;
  std::string names_source;
  PreprocessConfig pre;
  // Compiled model and request per input size (one entry for static models).
  struct Entry {
    int w = 0, h = 0;
    CompiledModel cm;
    InferRequest req;
  };
  std::vector<Entry> cache;
  std::unique_ptr<Family> fam;
  int input_rank = 4;  // [1,3,H,W], or [3,H,W] (torchvision detectors take one image)

  Entry& entry_for(int w, int h) {
    for (auto& e : cache)
      if (e.w == w && e.h == h) return e;
    if (cache.size() >= 8) cache.erase(cache.begin());
    Model m = model;
    if (dynamic)
      m = model.reshape(
          {{model.inputs()[0].name, input_rank == 3 ? Shape{3, h, w} : Shape{1, 3, h, w}}});
    Entry e;
    e.w = w;
    e.h = h;
    e.cm = core.compile_model(m, config);
    e.req = e.cm.create_infer_request();
    cache.push_back(std::move(e));
    return cache.back();
  }

  void detect_family();
  Prediction run(const cv::Mat& img, const PredictOptions& call_opt);
};

void Predictor::Impl::detect_family() {
  const auto& ins = model.inputs();
  const auto& outs = model.outputs();
  if (ins.size() != 1 || !ins[0].has_rank || ins[0].shape.size() < 3 || ins[0].shape.size() > 4)
    throw ModelError(
        str_cat(path, ": expected one image input [N,3,H,W] or [3,H,W], the model has ", ins.size(),
                " input(s)", ins.empty() ? "" : " first " + shape_str(ins[0].shape)));
  const Shape& is = ins[0].shape;
  input_rank = static_cast<int>(is.size());
  const int64_t in_c = is[input_rank - 3], in_h = is[input_rank - 2], in_w = is[input_rank - 1];
  if (in_c >= 0 && in_c != 3)
    throw ModelError(str_cat(path, ": input ", shape_str(is), " does not take 3-channel images"));
  if (input_rank == 4 && is[0] > 1)
    throw ModelError(str_cat(path, ": input ", shape_str(is), " has batch ", is[0],
                             "; the predictor feeds one image"));
  dynamic = in_h < 0 || in_w < 0 || (input_rank == 4 && is[0] < 0);
  const auto& meta = model.metadata();
  if (meta.count("names")) {
    names = parse_names(meta.at("names"));
    names_source = "model metadata";
  }
  const ModelView view{path, model, opt};
  const FamilyInfo* info = nullptr;
  if (!opt.family.empty()) {
    info = find_family(opt.family);
    if (!info)
      throw InputError(str_cat("unknown model family '", opt.family, "' (", family_names(), ")"));
  } else {
    for (const FamilyInfo& f : model_families())
      if (f.recognise(view)) {
        info = &f;
        break;
      }
    if (!info)
      throw ModelError(
          str_cat(path, ": cannot tell the task from output ",
                  outs.empty() ? "(none)" : outs[0].name + " " + shape_str(outs[0].shape),
                  "; give --family (", family_names(), ")"));
  }
  family = info->name;
  FamilySetup setup;
  setup.pre.width = in_w > 0 ? static_cast<int>(in_w) : 640;
  setup.pre.height = in_h > 0 ? static_cast<int>(in_h) : 640;
  if (opt.imgsz > 0 && dynamic) setup.pre.width = setup.pre.height = opt.imgsz;
  fam = info->create(view, &setup);
  task = setup.task;
  pre = setup.pre;
  if (!dynamic && opt.imgsz > 0 && (opt.imgsz != pre.width || opt.imgsz != pre.height))
    throw InputError(str_cat(path, ": --imgsz ", opt.imgsz,
                             " disagrees with the model's fixed input ", shape_str(is)));
  if (opt.preprocess) pre = *opt.preprocess;
  if (opt.preprocess_edit) opt.preprocess_edit(pre);
  if (!dynamic) {  // a fixed input size is the model's, whatever was asked
    pre.width = static_cast<int>(in_w);
    pre.height = static_cast<int>(in_h);
  }
  if (pre.width <= 0 || pre.height <= 0 || pre.width > 16384 || pre.height > 16384)
    throw InputError(str_cat("input size ", pre.width, "x", pre.height, " is out of range"));
  for (int c = 0; c < 3; ++c)
    if (!(pre.std[c] != 0) || !std::isfinite(pre.std[c]) || !std::isfinite(pre.mean[c]))
      throw InputError(str_cat("normalization std must be finite and non-zero, mean finite"));
  if (!opt.names.empty()) {
    names = opt.names;
    names_source = "given";
  } else if (names.empty()) {
    std::string f = names_file_beside(path);
    if (!f.empty()) {
      names = read_names_list(f);
      names_source = f;
    } else if (!setup.default_names.empty()) {
      names = setup.default_names;
      names_source = setup.default_names_source;
    }
  }
}

namespace {

void check_thresholds(const PredictOptions& o) {
  if (!(o.conf >= 0 && o.conf <= 1))
    throw InputError(str_cat("conf ", o.conf, " must be within 0..1"));
  if (!(o.iou >= 0 && o.iou <= 1)) throw InputError(str_cat("iou ", o.iou, " must be within 0..1"));
  if (o.max_det <= 0) throw InputError(str_cat("max_det ", o.max_det, " must be > 0"));
}

}  // namespace

Predictor::Predictor(const std::string& model_path, const PredictOptions& options)
    : Predictor(model_path, options, true, nullptr) {}

Predictor Predictor::inspect(const std::string& model_path, const PredictOptions& options) {
  return Predictor(model_path, options, false, nullptr);
}

Predictor Predictor::from_memory(const std::string& bytes, const std::string& name,
                                 const PredictOptions& options) {
  return Predictor(name, options, true, &bytes);
}

Predictor::Predictor(const std::string& model_path, const PredictOptions& options, bool compile,
                     const std::string* bytes)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.path = model_path;
  m.opt = options;
  check_thresholds(options);
  if (options.imgsz < 0 || options.imgsz > 8192 || (options.imgsz % 32 && options.imgsz))
    throw InputError(str_cat("imgsz ", options.imgsz, " must be a multiple of 32 up to 8192"));
  m.model =
      bytes ? m.core.read_model_from_memory(*bytes, model_path) : m.core.read_model(model_path);
  m.config = {{"INFERENCE_NUM_THREADS", std::to_string(options.threads)}};
  if (!options.precision.empty()) m.config["INFERENCE_PRECISION"] = options.precision;
  m.detect_family();
  if (compile && !m.dynamic) m.entry_for(m.pre.width, m.pre.height);
}

Predictor::~Predictor() = default;
Predictor::Predictor(Predictor&&) noexcept = default;
Predictor& Predictor::operator=(Predictor&&) noexcept = default;

Task Predictor::task() const { return impl_->task; }
const std::string& Predictor::family() const { return impl_->family; }
const std::vector<std::string>& Predictor::names() const { return impl_->names; }
const PreprocessConfig& Predictor::preprocess() const { return impl_->pre; }
const PredictOptions& Predictor::options() const { return impl_->opt; }
std::string Predictor::describe() const {
  const Impl& m = *impl_;
  std::string s = str_cat(m.path, ": ", m.family, " (", task_name(m.task), "), input ",
                          shape_str(m.model.inputs()[0].shape), "; ", m.pre.describe());
  const std::string extra = m.fam->summary();
  if (!extra.empty()) s += "; " + extra;
  if (!m.names_source.empty()) s += str_cat("; names from ", m.names_source);
  // As compile resolves it: asked for, or the CPU's default.
  s += m.opt.precision.empty() ? str_cat("; ", default_precision(), " (default)")
                               : str_cat("; ", m.opt.precision);
  return s;
}

Prediction Predictor::predict(const cv::Mat& img) { return impl_->run(img, impl_->opt); }

Prediction Predictor::predict(const cv::Mat& img, const PredictOptions& call) {
  check_thresholds(call);
  PredictOptions o = impl_->opt;
  o.conf = call.conf;
  o.iou = call.iou;
  o.max_det = call.max_det;
  o.agnostic_nms = call.agnostic_nms;
  o.multi_label = call.multi_label;
  o.classes = call.classes;
  o.retina_masks = call.retina_masks;
  o.db_thresh = call.db_thresh;
  o.db_box_thresh = call.db_box_thresh;
  o.db_unclip_ratio = call.db_unclip_ratio;
  o.db_max_candidates = call.db_max_candidates;
  return impl_->run(img, o);
}

Prediction Predictor::Impl::run(const cv::Mat& img, const PredictOptions& call_opt) {
  if (img.empty()) throw InputError("empty image");
  Prediction out;
  out.task = task;
  out.image_size = img.size();
  auto t0 = clock_type::now();
  ImageGeometry g = compute_geometry(pre, img.cols, img.rows);
  Tensor input = make_input_tensor(img, pre, g);
  out.preprocess_ms = ms_since(t0);
  t0 = clock_type::now();
  Entry& e = entry_for(g.net_w, g.net_h);
  out.compile_ms = ms_since(t0);  // non-zero only for a new input size of a dynamic model
  t0 = clock_type::now();
  e.req.set_input_tensor(0, input_rank == 3 ? input.reshaped({3, g.net_h, g.net_w}) : input);
  e.req.infer();
  out.inference_ms = ms_since(t0);
  t0 = clock_type::now();
  const DecodeContext ctx{path, call_opt, g, names};
  fam->decode(e.req, ctx, &out);
  out.postprocess_ms = ms_since(t0);
  return out;
}

}  // namespace visionrt
