// Predictor: chooses the model family from the model's outputs and metadata, applies the
// family's pre-processing, runs the model (compiled per input size for dynamic models) and the
// family's post-processing (vision/postprocess).
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/file_io.hpp"
#include "common/strings.hpp"
#include "runtime/properties.hpp"
#include "vision/postprocess.hpp"
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

// "(pixel - 127.5) / 127.5" and "RGB"/"BGR" in the model's `input` metadata, as the shared
// TF-converted models record it.
bool preprocess_from_metadata(const std::map<std::string, std::string>& meta, PreprocessConfig* c) {
  auto it = meta.find("input");
  if (it == meta.end()) return false;
  const std::string& t = it->second;
  size_t p = t.find("(pixel");
  if (p == std::string::npos) return false;
  p = t.find('-', p);
  if (p == std::string::npos) return false;
  char* end = nullptr;
  float mean = std::strtof(t.c_str() + p + 1, &end);
  const char* slash = std::strchr(end, '/');
  if (!end || *end == 0 || !slash) return false;
  float sd = std::strtof(slash + 1, nullptr);
  if (!(sd > 0)) return false;
  c->mean = {mean, mean, mean};
  c->std = {sd, sd, sd};
  c->rgb = it->second.find("BGR") == std::string::npos;
  return true;
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
  // Output indices per family.
  int out_pred = 0, out_protos = -1, out_boxes = -1, out_scores = -1;
  int64_t nc = 0, nm = 0;
  bool v5 = false, ssd_raw = false, ssd_yx = false, ssd_softmax = false;
  int64_t semantic_classes = -1;
  std::vector<std::array<float, 4>> priors;

  Entry& entry_for(int w, int h) {
    for (auto& e : cache)
      if (e.w == w && e.h == h) return e;
    if (cache.size() >= 8) cache.erase(cache.begin());
    Model m = model;
    if (dynamic) m = model.reshape({{model.inputs()[0].name, Shape{1, 3, h, w}}});
    Entry e;
    e.w = w;
    e.h = h;
    e.cm = core.compile_model(m, config);
    e.req = e.cm.create_infer_request();
    cache.push_back(std::move(e));
    return cache.back();
  }

  void detect_family();
  Prediction run(const cv::Mat& img);
};

void Predictor::Impl::detect_family() {
  const auto& ins = model.inputs();
  const auto& outs = model.outputs();
  if (ins.size() != 1 || !ins[0].has_rank || ins[0].shape.size() != 4)
    throw ModelError(str_cat(path, ": expected one image input [N,3,H,W], the model has ",
                             ins.size(), " input(s)",
                             ins.empty() ? "" : " first " + shape_str(ins[0].shape)));
  const Shape& is = ins[0].shape;
  if (is[1] >= 0 && is[1] != 3)
    throw ModelError(str_cat(path, ": input ", shape_str(is), " does not take 3-channel images"));
  dynamic = is[2] < 0 || is[3] < 0 || is[0] < 0;
  const auto& meta = model.metadata();
  std::string mtask = meta.count("task") ? meta.at("task") : "";
  if (meta.count("names")) {
    names = parse_names(meta.at("names"));
    names_source = "model metadata";
  }
  auto rank = [&](int i) { return outs[i].has_rank ? static_cast<int>(outs[i].shape.size()) : -1; };
  auto dim = [&](int i, int d) { return outs[i].shape[d]; };
  // SSD: a [1, N, 4] box output and a [1, N, C] score output.
  std::string fam = opt.family;
  if (fam.empty()) {
    int boxes = -1, scores = -1;
    for (int i = 0; i < static_cast<int>(outs.size()); ++i)
      if (rank(i) == 3 && dim(i, 2) == 4 && boxes < 0) boxes = i;
    for (int i = 0; i < static_cast<int>(outs.size()); ++i)
      if (i != boxes && rank(i) == 3 && boxes >= 0 && dim(i, 1) == dim(boxes, 1) && dim(i, 2) > 4 &&
          scores < 0)
        scores = i;
    if (mtask == "detect" || mtask == "segment") {
      fam = rank(0) == 3 && dim(0, 1) > dim(0, 2) ? "yolov5" : "yolov8";
    } else if (boxes >= 0 && scores >= 0) {
      fam = "ssd";
    } else if (rank(0) == 3 && dim(0, 1) > 0 && dim(0, 2) > 0) {
      fam = dim(0, 1) < dim(0, 2) ? "yolov8" : "yolov5";
    } else if (rank(0) == 4 && dim(0, 1) == 1) {
      fam = "db";
    } else if (rank(0) == 4 || rank(0) == 3) {
      fam = "semantic";
    } else {
      throw ModelError(str_cat(path, ": cannot tell the task from output ", outs[0].name, " ",
                               shape_str(outs[0].shape), "; give --task/--family"));
    }
  }
  family = fam;
  pre = PreprocessConfig{};
  pre.width = is[3] > 0 ? static_cast<int>(is[3]) : 640;
  pre.height = is[2] > 0 ? static_cast<int>(is[2]) : 640;
  if (opt.imgsz > 0 && dynamic) pre.width = pre.height = opt.imgsz;
  if (fam == "yolov8" || fam == "yolov5") {
    v5 = fam == "yolov5";
    if (rank(0) != 3) throw ModelError(str_cat(path, ": ", fam, " output 0 must be rank 3"));
    int64_t ch = v5 ? dim(0, 2) : dim(0, 1);
    for (int i = 1; i < static_cast<int>(outs.size()); ++i)
      if (rank(i) == 4) out_protos = i;
    nm = out_protos >= 0 ? dim(out_protos, 1) : 0;
    nc = ch - (v5 ? 5 : 4) - nm;
    if (nc <= 0 || nm < 0)
      throw ModelError(str_cat(path, ": ", fam, " output ", shape_str(outs[0].shape),
                               " has no room for classes"));
    task = out_protos >= 0 ? Task::segment : Task::detect;
  } else if (fam == "ssd") {
    pre.resize = PreprocessConfig::Resize::stretch;
    pre.antialias = true;
    for (int i = 0; i < static_cast<int>(outs.size()); ++i) {
      if (rank(i) == 3 && dim(i, 2) == 4 && out_boxes < 0) out_boxes = i;
    }
    for (int i = 0; i < static_cast<int>(outs.size()); ++i)
      if (i != out_boxes && rank(i) == 3 && dim(i, 2) > 4 && out_scores < 0) out_scores = i;
    if (out_boxes < 0 || out_scores < 0)
      throw ModelError(str_cat(path, ": SSD needs a [1,N,4] box and a [1,N,C] score output"));
    nc = dim(out_scores, 2);
    int64_t n = dim(out_boxes, 1);
    const std::string& bname = outs[out_boxes].name;
    ssd_raw = bname != "boxes" && bname != "detection_boxes";
    if (ssd_raw) {
      ssd_softmax = true;
      if (n == 8732 && pre.width == 300) {
        priors = ssd_priors(SsdPriorConfig{});
        pre.mean = {123.f, 117.f, 104.f};  // ssd.pytorch: BGR mean (104,117,123), then RGB
        pre.std = {1.f, 1.f, 1.f};
      } else {
        // torchvision SSDlite: DefaultBoxGenerator([[2, 3]] * 6, 0.2, 0.95) on stride-16/32
        // feature maps (20, 10, 5, 3, 2, 1 for 320).
        std::vector<int> grids;
        int f = (pre.width + 15) / 16;
        for (int k = 0; k < 6; ++k) {
          grids.push_back(f);
          f = (f + 1) / 2;
        }
        priors = torchvision_default_boxes(std::vector<std::vector<float>>(6, {2.f, 3.f}), grids,
                                           0.2f, 0.95f);
        pre.mean = {127.5f, 127.5f, 127.5f};
        pre.std = {127.5f, 127.5f, 127.5f};
      }
      if (static_cast<int64_t>(priors.size()) != n)
        throw ModelError(str_cat(path, ": SSD head has ", n,
                                 " boxes; the known prior layouts "
                                 "(SSD300 8732, SSDlite) give ",
                                 priors.size()));
    } else {
      pre.mean = {127.5f, 127.5f, 127.5f};
      pre.std = {127.5f, 127.5f, 127.5f};
    }
    preprocess_from_metadata(meta, &pre);
    task = Task::detect;
  } else if (fam == "semantic") {
    pre.resize = PreprocessConfig::Resize::stretch;
    pre.antialias = true;
    semantic_classes = rank(0) == 4 ? dim(0, 1) : -1;
    pre.mean = {123.675f, 116.28f, 103.53f};  // ImageNet (torchvision, PaddleSeg)
    pre.std = {58.395f, 57.12f, 57.375f};
    preprocess_from_metadata(meta, &pre);
    task = Task::semantic;
  } else if (fam == "db") {
    pre.resize = PreprocessConfig::Resize::multiple;
    pre.width = pre.height = opt.imgsz > 0 ? opt.imgsz : 960;
    pre.rgb = false;  // PaddleOCR normalizes cv2's BGR pixels with the ImageNet RGB mean/std
    pre.mean = {123.675f, 116.28f, 103.53f};
    pre.std = {58.395f, 57.12f, 57.375f};
    task = Task::text;
    if (names.empty()) {
      names = {"text"};
      names_source = "DB text detector";
    }
  } else {
    throw InputError(
        str_cat("unknown model family '", fam, "' (yolov8, yolov5, ssd, semantic, db)"));
  }
  if (!dynamic && opt.imgsz > 0 && (opt.imgsz != pre.width || opt.imgsz != pre.height))
    throw InputError(str_cat(path, ": --imgsz ", opt.imgsz,
                             " disagrees with the model's fixed input ", shape_str(is)));
  if (opt.preprocess) pre = *opt.preprocess;
  if (opt.preprocess_edit) opt.preprocess_edit(pre);
  if (!dynamic) {  // a fixed input size is the model's, whatever was asked
    pre.width = static_cast<int>(is[3]);
    pre.height = static_cast<int>(is[2]);
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
    }
  }
  // Class names of the two label sets semantic models are trained on, by class count.
  const int64_t c = semantic_classes;
  if (names.empty() && c == 21) {
    names = {"background", "aeroplane", "bicycle",   "bird",   "boat",        "bottle",
             "bus",        "car",       "cat",       "chair",  "cow",         "diningtable",
             "dog",        "horse",     "motorbike", "person", "pottedplant", "sheep",
             "sofa",       "train",     "tvmonitor"};
    names_source = "Pascal VOC (21 classes)";
  } else if (names.empty() && c == 19) {
    names = {"road", "sidewalk",      "building",     "wall",       "fence",
             "pole", "traffic light", "traffic sign", "vegetation", "terrain",
             "sky",  "person",        "rider",        "car",        "truck",
             "bus",  "train",         "motorcycle",   "bicycle"};
    names_source = "Cityscapes (19 classes)";
  }
}

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
  if (!(options.conf >= 0 && options.conf <= 1))
    throw InputError(str_cat("conf ", options.conf, " must be within 0..1"));
  if (!(options.iou >= 0 && options.iou <= 1))
    throw InputError(str_cat("iou ", options.iou, " must be within 0..1"));
  if (options.max_det <= 0) throw InputError(str_cat("max_det ", options.max_det, " must be > 0"));
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
std::string Predictor::describe() const {
  const Impl& m = *impl_;
  std::string s = str_cat(m.path, ": ", m.family, " (", task_name(m.task), "), input ",
                          shape_str(m.model.inputs()[0].shape), "; ", m.pre.describe());
  if (m.task == Task::detect || m.task == Task::segment) s += str_cat("; ", m.nc, " classes");
  if (!m.names_source.empty()) s += str_cat("; names from ", m.names_source);
  // As compile resolves it: asked for, or the CPU's default.
  s += m.opt.precision.empty() ? str_cat("; ", default_precision(), " (default)")
                               : str_cat("; ", m.opt.precision);
  return s;
}

Prediction Predictor::predict(const cv::Mat& img) { return impl_->run(img); }

Prediction Predictor::Impl::run(const cv::Mat& img) {
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
  e.req.set_input_tensor(0, input);
  e.req.infer();
  out.inference_ms = ms_since(t0);
  t0 = clock_type::now();
  auto check = [&](const Tensor& t, size_t rank, const char* what) {
    if (t.dtype() != DType::f32 || t.rank() != rank || t.dim(0) != 1)
      throw InputError(str_cat(path, ": ", what, " output is ", shape_str(t.shape()),
                               ", expected rank ", rank, " f32 with batch 1 for ", family));
  };
  auto label_of = [&](int c) {
    return c >= 0 && c < static_cast<int>(names.size()) && !names[c].empty() ? names[c]
                                                                             : std::to_string(c);
  };
  NmsParams np;
  np.conf = opt.conf;
  np.iou = opt.iou;
  np.max_det = opt.max_det;
  np.agnostic = opt.agnostic_nms;
  np.multi_label = opt.multi_label;
  np.classes = opt.classes;
  if (family == "yolov8" || family == "yolov5") {
    Tensor pred = e.req.get_output_tensor(out_pred);
    check(pred, 3, "prediction");
    int64_t ch = v5 ? pred.dim(2) : pred.dim(1), n = v5 ? pred.dim(1) : pred.dim(2);
    if (ch != (v5 ? 5 : 4) + nc + nm)
      throw InputError(str_cat(path, ": prediction output ", shape_str(pred.shape()),
                               " does not have ", (v5 ? 5 : 4) + nc + nm, " channels"));
    std::vector<Candidate> dets = decode_yolo(pred.data<float>(), n, nc, nm, v5, np);
    Tensor protos;
    if (nm > 0) {
      protos = e.req.get_output_tensor(out_protos);
      check(protos, 4, "prototype");
      if (protos.dim(1) != nm)
        throw InputError(
            str_cat(path, ": prototype output has ", protos.dim(1), " channels, not ", nm));
    }
    for (const Candidate& c : dets) {
      Detection d;
      d.x1 = std::clamp(g.to_src_x(c.box.x1), 0.f, static_cast<float>(g.src_w));
      d.y1 = std::clamp(g.to_src_y(c.box.y1), 0.f, static_cast<float>(g.src_h));
      d.x2 = std::clamp(g.to_src_x(c.box.x2), 0.f, static_cast<float>(g.src_w));
      d.y2 = std::clamp(g.to_src_y(c.box.y2), 0.f, static_cast<float>(g.src_h));
      d.score = c.score;
      d.class_id = c.cls;
      d.label = label_of(c.cls);
      if (nm > 0) {
        const float* pd = pred.data<float>();
        const int64_t base = v5 ? 5 + nc : 4 + nc;
        const float* coefs = v5 ? pd + c.anchor * ch + base : pd + base * n + c.anchor;
        d.mask =
            instance_mask(protos.data<float>(), nm, protos.dim(2), protos.dim(3), coefs, v5 ? 1 : n,
                          c.box, {d.x1, d.y1, d.x2, d.y2}, g, opt.retina_masks, &d.mask_roi);
      }
      out.detections.push_back(std::move(d));
    }
  } else if (family == "ssd") {
    Tensor bt = e.req.get_output_tensor(out_boxes), st = e.req.get_output_tensor(out_scores);
    check(bt, 3, "box");
    check(st, 3, "score");
    int64_t n = bt.dim(1);
    std::vector<BoxXYXY> boxes;
    if (ssd_raw) {
      boxes = decode_ssd_boxes(bt.data<float>(), priors, 0.1f, 0.2f, ssd_yx);
    } else {
      const float* b = bt.data<float>();
      boxes.resize(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i)
        boxes[i] = {b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]};
    }
    std::vector<float> scores(st.data<float>(), st.data<float>() + st.numel());
    if (ssd_softmax) softmax_rows(scores.data(), n, st.dim(2));
    np.max_nms = 0;
    for (const Candidate& c : ssd_select(boxes, scores.data(), n, st.dim(2), 0, np)) {
      Detection d;
      d.x1 = std::clamp(g.to_src_x(c.box.x1 * g.net_w), 0.f, static_cast<float>(g.src_w));
      d.y1 = std::clamp(g.to_src_y(c.box.y1 * g.net_h), 0.f, static_cast<float>(g.src_h));
      d.x2 = std::clamp(g.to_src_x(c.box.x2 * g.net_w), 0.f, static_cast<float>(g.src_w));
      d.y2 = std::clamp(g.to_src_y(c.box.y2 * g.net_h), 0.f, static_cast<float>(g.src_h));
      d.score = c.score;
      d.class_id = c.cls;
      d.label = label_of(c.cls);
      out.detections.push_back(std::move(d));
    }
  } else if (family == "semantic") {
    Tensor t = e.req.get_output_tensor(0);
    if (t.dtype() == DType::f32 && t.rank() == 4 && t.dim(0) == 1) {
      out.labels = semantic_from_logits(t.data<float>(), t.dim(1), t.dim(2), t.dim(3), g);
    } else if ((t.dtype() == DType::i64 || t.dtype() == DType::i32) &&
               (t.rank() == 3 || (t.rank() == 4 && t.dim(1) == 1)) && t.dim(0) == 1) {
      std::vector<int64_t> lab(t.numel());
      for (size_t i = 0; i < t.numel(); ++i) lab[i] = static_cast<int64_t>(t.at_f64(i));
      out.labels = semantic_from_labels(lab.data(), t.dim(t.rank() - 2), t.dim(t.rank() - 1), g);
    } else {
      throw InputError(str_cat(path, ": semantic output ", shape_str(t.shape()), " ",
                               dtype_name(t.dtype()),
                               " is neither [1,C,H,W] logits nor [1,H,W] labels"));
    }
  } else {  // db
    Tensor t = e.req.get_output_tensor(0);
    check(t, 4, "probability");
    DbParams dp;
    dp.thresh = opt.db_thresh;
    dp.box_thresh = opt.db_box_thresh ? *opt.db_box_thresh : 0.6f;
    dp.unclip_ratio = opt.db_unclip_ratio;
    dp.max_candidates = opt.db_max_candidates;
    for (const TextBox& b : db_boxes(t.data<float>(), static_cast<int>(t.dim(2)),
                                     static_cast<int>(t.dim(3)), g.src_w, g.src_h, dp)) {
      Detection d;
      d.polygon.assign(b.pts.begin(), b.pts.end());
      d.x1 = d.x2 = b.pts[0].x;
      d.y1 = d.y2 = b.pts[0].y;
      for (const auto& q : b.pts) {
        d.x1 = std::min(d.x1, q.x);
        d.y1 = std::min(d.y1, q.y);
        d.x2 = std::max(d.x2, q.x);
        d.y2 = std::max(d.y2, q.y);
      }
      d.score = b.score;
      d.label = label_of(0);
      out.detections.push_back(std::move(d));
    }
  }
  out.postprocess_ms = ms_since(t0);
  return out;
}

}  // namespace visionrt
