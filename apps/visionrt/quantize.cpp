// `visionrt quantize`: post-training INT8 quantization of a float ONNX model into a standard QDQ
// model. Calibration runs the float model on the first --subset images of a dataset (or a folder
// of images) through the model family's own pre-processing, records the range of every
// convolution input (--calibration percentile (default) | minmax | mean-minmax), and writes u8
// activations, per-channel symmetric int8 weights and int32 biases (src/onnx/qdq_writer). The
// family's sensitive parts stay float (YOLOv8's DFL head); --ignore adds node-name patterns.
//
// Accuracy control (--max-drop D, as NNCF's quantize_with_accuracy_control): the float and the
// INT8 model are evaluated on the annotated --data (COCO AP50-95: masks for segmentation models,
// boxes otherwise); while the drop exceeds D, the quantized convolutions are ranked by how much
// their INT8 error moves the model's outputs (each reverted alone, on --ranking-subset images:
// the per-channel output error relative to the float outputs' variance) and reverted to float
// one at a time, worst first, re-evaluating after each, until the drop is within D. A report
// gives both metrics, both speeds and the convolutions kept float.
#include <fmt/core.h>
#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "cli_util.hpp"
#include "commands.hpp"
#include "common/file_io.hpp"
#include "data/dataset.hpp"
#include "data/image_io.hpp"
#include "dataset_eval.hpp"
#include "eval/coco_eval.hpp"
#include "kernels/kernel.hpp"
#include "onnx/qdq_writer.hpp"
#include "pipeline_flags.hpp"
#include "quant/calibration.hpp"
#include "vision/preprocess.hpp"
#include "visionrt/core.hpp"
#include "visionrt/error.hpp"
#include "visionrt/vision.hpp"

namespace visionrt::cli {

namespace {

namespace fs = std::filesystem;

// Calibration image paths: the dataset's images in its order, or the image files of a folder
// in name order; the first `subset` (0 = all).
std::vector<std::string> calibration_images(const std::string& data, const std::string& format,
                                            const std::string& images, const std::string& split,
                                            size_t subset) {
  std::vector<std::string> paths;
  if (!data.empty()) {
    DatasetReadOptions ro;
    ro.images_dir = images;
    DatasetReport rep;
    std::string f = format.empty() ? guess_dataset_format(data) : format;
    CocoDataset d = read_dataset(parse_dataset_format(f), data, ro, &rep);
    for (const auto& im : d.images)
      if (split.empty() || im.split == split)
        paths.push_back(im.path.empty() ? im.file_name : im.path);
    if (paths.empty())
      throw InputError(
          fmt::format("{}: no images{}", data, split.empty() ? "" : " in split " + split));
  } else {
    if (!fs::is_directory(images))
      throw InputError(fmt::format("{}: not a folder of images", images));
    for (const auto& e : fs::directory_iterator(images)) {
      std::string ext = e.path().extension().string();
      for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (e.is_regular_file() &&
          (ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp" || ext == ".webp"))
        paths.push_back(e.path().string());
    }
    std::sort(paths.begin(), paths.end());
    if (paths.empty()) throw InputError(fmt::format("{}: no .jpg/.png/.bmp/.webp images", images));
  }
  if (subset > 0 && paths.size() > subset) paths.resize(subset);
  return paths;
}

// Float reference outputs of the ranking images and, per output and channel (axis 1), the inverse
// variance of the float values: each channel's error counts relative to its own spread, so a
// box-coordinate channel (hundreds of pixels) and a class-score channel (0..1) weigh the same.
struct RankingSet {
  std::vector<Tensor> inputs;
  std::vector<std::vector<Tensor>> ref;      // [image][output]
  std::vector<std::vector<double>> inv_var;  // [output][channel]
};

void channel_geometry(const Tensor& t, size_t* outer, size_t* channels, size_t* inner) {
  const Shape& d = t.shape();
  *outer = d.empty() ? 1 : static_cast<size_t>(d[0]);
  *channels = d.size() > 1 ? static_cast<size_t>(d[1]) : 1;
  *inner = (*outer * *channels) != 0 ? t.numel() / (*outer * *channels) : 0;
}

// Runs the model on the ranking images; the mean over outputs and channels of the mean squared
// difference from the float outputs times the channel's inverse variance.
double output_error(const Core& core, const std::string& bytes, const std::string& name,
                    const Config& cc, const RankingSet& rs) {
  CompiledModel cm = core.compile_model(core.read_model_from_memory(bytes, name), cc);
  InferRequest req = cm.create_infer_request();
  std::vector<std::vector<double>> sq(rs.inv_var.size());
  std::vector<size_t> count(rs.inv_var.size(), 0);
  for (size_t i = 0; i < rs.inputs.size(); ++i) {
    req.set_input_tensor(0, rs.inputs[i]);
    req.infer();
    for (size_t k = 0; k < rs.inv_var.size(); ++k) {
      Tensor y = req.get_output_tensor(k);
      const Tensor& f = rs.ref[i][k];
      if (y.shape() != f.shape())
        throw Error(fmt::format("{}: output {} changed shape when quantized", name, k));
      size_t outer, ch, inner;
      channel_geometry(f, &outer, &ch, &inner);
      sq[k].resize(ch, 0.0);
      for (size_t o = 0; o < outer; ++o)
        for (size_t c = 0; c < ch; ++c)
          for (size_t j = 0; j < inner; ++j) {
            const size_t at = (o * ch + c) * inner + j;
            const double d = y.at_f64(at) - f.at_f64(at);
            sq[k][c] += d * d;
          }
      count[k] += outer * inner;
    }
  }
  double sum = 0;
  size_t terms = 0;
  for (size_t k = 0; k < sq.size(); ++k)
    for (size_t c = 0; c < sq[k].size(); ++c, ++terms)
      sum += sq[k][c] / std::max<size_t>(count[k], 1) * rs.inv_var[k][c];
  return terms ? sum / terms : 0.0;
}

RankingSet ranking_set(const Core& core, const std::string& model, const Config& cc,
                       const std::vector<std::string>& paths, const PreprocessConfig& cfg) {
  RankingSet rs;
  CompiledModel cm = core.compile_model(core.read_model(model), cc);
  InferRequest req = cm.create_infer_request();
  std::vector<std::vector<double>> s1, s2;
  std::vector<size_t> n;
  for (const std::string& p : paths) {
    cv::Mat img = read_image(p);
    rs.inputs.push_back(make_input_tensor(img, cfg, compute_geometry(cfg, img.cols, img.rows)));
    req.set_input_tensor(0, rs.inputs.back());
    req.infer();
    std::vector<Tensor> outs;
    for (size_t k = 0; k < cm.outputs().size(); ++k) {
      Tensor y = req.get_output_tensor(k).clone();
      size_t outer, ch, inner;
      channel_geometry(y, &outer, &ch, &inner);
      s1.resize(cm.outputs().size());
      s2.resize(cm.outputs().size());
      n.resize(cm.outputs().size(), 0);
      s1[k].resize(ch, 0.0);
      s2[k].resize(ch, 0.0);
      for (size_t o = 0; o < outer; ++o)
        for (size_t c = 0; c < ch; ++c)
          for (size_t j = 0; j < inner; ++j) {
            const double v = y.at_f64((o * ch + c) * inner + j);
            s1[k][c] += v;
            s2[k][c] += v * v;
          }
      n[k] += outer * inner;
      outs.push_back(std::move(y));
    }
    rs.ref.push_back(std::move(outs));
  }
  for (size_t k = 0; k < s1.size(); ++k) {
    std::vector<double> var(s1[k].size());
    double mean_var = 0;
    for (size_t c = 0; c < var.size(); ++c) {
      const double m = s1[k][c] / std::max<size_t>(n[k], 1);
      var[c] = std::max(0.0, s2[k][c] / std::max<size_t>(n[k], 1) - m * m);
      mean_var += var[c] / var.size();
    }
    // A constant channel gets the output's mean spread, not an infinite weight.
    const double floor = std::max(1e-3 * mean_var, 1e-12);
    std::vector<double> inv(var.size());
    for (size_t c = 0; c < var.size(); ++c) inv[c] = 1.0 / std::max(var[c], floor);
    rs.inv_var.push_back(std::move(inv));
  }
  return rs;
}

struct Measured {
  double metric = 0, ms = 0;
};

}  // namespace

std::function<int()> add_quantize(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "quantize", "Post-training INT8 quantization: calibrate on images, write a QDQ ONNX model");
  struct Opts {
    std::string model, data, format, images, split, out, calibration = "percentile";
    std::vector<std::string> ignore;
    int subset = 300, threads = 0, val_subset = 0, ranking_subset = 24;
    double percentile = 99.99, max_drop = -1;
    std::string metric = "auto", report, overflow_fix = "first";
    PreprocessFlags pre;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model,-m", o->model, "Float ONNX model (opset >= 13)")->required();
  cmd->add_option("--out,-o", o->out, "Where to write the QDQ model")->required();
  cmd->add_option(
      "--data", o->data,
      "Calibration images from a dataset: COCO JSON, VOC folder, YOLO data.yaml/folder");
  cmd->add_option("--format", o->format, "Format of --data: coco, voc or yolo (default: guessed)")
      ->check(CLI::IsMember({"coco", "voc", "yolo"}));
  cmd->add_option("--images", o->images,
                  "Folder of calibration images (or the images of a COCO --data)");
  cmd->add_option("--split", o->split, "Only this split of --data");
  cmd->add_option("--subset", o->subset, "Calibration images (default 300; 0 = all)")
      ->check(CLI::Range(0, 10000000));
  cmd->add_option(
         "--calibration", o->calibration,
         "Activation ranges: percentile (default; p = --percentile), minmax or mean-minmax")
      ->check(CLI::IsMember({"minmax", "mean-minmax", "percentile"}));
  cmd->add_option("--percentile", o->percentile, "For --calibration percentile (default 99.99)")
      ->check(CLI::Range(50.0, 100.0));
  cmd->add_option("--ignore", o->ignore,
                  "Keep float the convolutions whose node name contains this (repeatable)");
  cmd->add_option("--threads", o->threads, "Intra-op threads for calibration (0 = all cores)")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--max-drop", o->max_drop,
                  "Accuracy control: revert the most harmful convolutions to float until the "
                  "AP50-95 drop on --data is at most this (e.g. 0.01 = one point)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--metric", o->metric,
                  "--max-drop's metric: auto (masks for segmentation models, else boxes), bbox "
                  "or segm")
      ->check(CLI::IsMember({"auto", "bbox", "segm"}));
  cmd->add_option("--val-subset", o->val_subset,
                  "--max-drop: validate on the first N images of --data (default 0 = all)")
      ->check(CLI::Range(0, 10000000));
  cmd->add_option("--ranking-subset", o->ranking_subset,
                  "--max-drop: images that rank the convolutions by their INT8 error (default 24)")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--report", o->report, "--max-drop: write the accuracy report as JSON");
  cmd->add_option("--overflow-fix", o->overflow_fix,
                  "7-bit weights where CPUs without VNNI (AVX2) could overflow 8-bit ones' pair "
                  "sums, as NNCF: first (default) = the first layers, fed by the image; all = "
                  "every convolution (exact on any CPU, one bit poorer); none = 8 bits everywhere")
      ->check(CLI::IsMember({"first", "all", "none"}));
  add_preprocess_flags(cmd, &o->pre);
  return [o]() {
    auto t0 = std::chrono::steady_clock::now();
    if (o->data.empty() && o->images.empty())
      throw InputError("give --data DATASET or --images DIR (calibration images)");
    const bool control = o->max_drop >= 0;
    if (control && o->data.empty())
      throw InputError("--max-drop needs --data: an annotated dataset to measure the drop on");
    if (!control && (!o->report.empty() || o->metric != "auto"))
      throw InputError("--report and --metric belong to accuracy control: give --max-drop");
    std::error_code ec;
    if (fs::equivalent(o->out, o->model, ec))
      throw InputError(fmt::format("{}: --out would overwrite the float model", o->out));
    QdqWriter writer(o->model);
    // 7-bit weights quantized from the float values directly round once (the runtime would
    // halve rounded 8-bit first layers itself on CPUs without VNNI, kernels/dnnl/quant.cpp), and
    // calibration and accuracy control below then measure what runs.
    writer.set_overflow_fix(o->overflow_fix == "all"    ? OverflowFix::all
                            : o->overflow_fix == "none" ? OverflowFix::none
                                                        : OverflowFix::first_layer);
    // The family's pre-processing and defaults (read without compiling the float model).
    PredictOptions popt;
    popt.threads = o->threads;
    popt.precision = "f32";  // calibration and accuracy control run the float model in f32
    apply_preprocess_flags(o->pre, &popt);
    const Predictor info = Predictor::inspect(o->model, popt);
    const PreprocessConfig cfg = info.preprocess();
    const std::string family = info.family();
    fmt::print("{}\n", info.describe());
    const bool segm = o->metric == "segm" || (o->metric == "auto" && info.task() == Task::segment);
    if (control && info.task() != Task::detect && info.task() != Task::segment)
      throw InputError(fmt::format(
          "{}: --max-drop measures COCO AP of detection and segmentation models; this is a {} "
          "model",
          o->model, task_name(info.task())));
    if (control && segm && info.task() != Task::segment)
      throw InputError(fmt::format("{}: --metric segm needs a segmentation model", o->model));
    // Ground truth first: a dataset that does not fit fails before the long calibration.
    CocoDataset gt;
    if (control) {
      EvalData ed;
      ed.data = o->data;
      ed.format = o->format;
      ed.images = o->images;
      ed.split = o->split;
      ed.limit = static_cast<size_t>(o->val_subset);
      ed.segm = segm;
      gt = load_ground_truth(ed);
      class_map(info.names(), gt, o->model);  // throws when the classes do not fit
    }
    std::vector<std::string> ignore = o->ignore;
    if (family == "yolov8") ignore.push_back("/dfl/");  // the box distribution's expectation
    std::vector<QdqSite> sites;
    size_t ignored = 0;
    for (const QdqSite& s : writer.sites()) {
      bool skip = false;
      for (const auto& p : ignore) skip = skip || s.node.find(p) != std::string::npos;
      if (skip)
        ++ignored;
      else
        sites.push_back(s);
    }
    if (sites.empty())
      throw InputError(fmt::format("{}: no convolution to quantize ({} found, {} ignored)",
                                   o->model, writer.sites().size(), ignored));
    if (writer.graph_inputs().size() != 1)
      throw InputError(fmt::format("{}: {} inputs; quantize calibrates single-image models",
                                   o->model, writer.graph_inputs().size()));
    const std::string input = writer.graph_inputs()[0];
    std::vector<std::string> extra;
    for (const QdqSite& s : sites)
      if (s.input != input && std::find(extra.begin(), extra.end(), s.input) == extra.end())
        extra.push_back(s.input);

    Core core;
    Config cc{{"INFERENCE_PRECISION", "f32"}};
    if (o->threads > 0) cc["INFERENCE_NUM_THREADS"] = std::to_string(o->threads);
    CompiledModel cm =
        core.compile_model(core.read_model_from_memory(writer.with_outputs(extra), o->model), cc);
    InferRequest req = cm.create_infer_request();
    std::vector<std::string> paths =
        calibration_images(o->data, o->format, o->images, o->split, static_cast<size_t>(o->subset));
    RangeMethod method = RangeMethod::minmax;
    parse_range_method(o->calibration, &method);
    RangeObserver obs(method, o->percentile);
    for (size_t i = 0; i < paths.size(); ++i) {
      cv::Mat img = read_image(paths[i]);
      Tensor x = make_input_tensor(img, cfg, compute_geometry(cfg, img.cols, img.rows));
      req.set_input_tensor(0, x);
      req.infer();
      obs.observe(input, x);
      for (size_t k = 0; k < cm.outputs().size(); ++k) {
        const std::string& name = cm.outputs()[k].name;
        if (std::find(extra.begin(), extra.end(), name) != extra.end())
          obs.observe(name, req.get_output_tensor(k));
      }
      cli::print_progress("  calibrating", i + 1, paths.size());
    }
    // Names found beside the float model (labels*.txt, *.names) travel inside the INT8 model,
    // in Ultralytics' metadata form, wherever --out puts it.
    if (!writer.metadata().count("names") && !info.names().empty()) {
      std::string dict = "{";
      for (size_t i = 0; i < info.names().size(); ++i) {
        std::string n;
        for (char c : info.names()[i]) {
          if (c == '\\' || c == '\'') n += '\\';
          n += c;
        }
        dict += fmt::format("{}{}: '{}'", i ? ", " : "", i, n);
      }
      writer.set_metadata("names", dict + "}");
    }
    writer.set_metadata(
        "visionrt_quantization",
        fmt::format(
            "INT8 QDQ by visionrt quantize: {}{} activation ranges on {} "
            "images",
            o->calibration,
            o->calibration == "percentile" ? fmt::format(" ({})", o->percentile) : std::string(),
            paths.size()));
    const std::map<std::string, ActivationRange> ranges = obs.ranges();
    std::string bytes = writer.quantized(sites, ranges);
    std::vector<std::string> reverted_names;
    if (control) {
      PredictOptions vp = validation_options();
      vp.threads = o->threads;
      vp.precision = popt.precision;
      apply_preprocess_flags(o->pre, &vp);
      auto measure = [&](const std::string* model_bytes) {
        Predictor p = model_bytes ? Predictor::from_memory(*model_bytes, o->model, vp)
                                  : Predictor(o->model, vp);
        DatasetRun run = predict_dataset(p, gt, segm, o->model, true);
        CocoEvalResult r = evaluate_coco(gt, run.dt, segm ? CocoIouType::segm : CocoIouType::bbox);
        return Measured{r.stats[0], run.inference_ms_per_image()};
      };
      const char* metric_name = segm ? "mask AP50-95" : "box AP50-95";
      fmt::print("accuracy control: {} on {} images of {}, max drop {:.4f}\n", metric_name,
                 gt.images.size(), o->data, o->max_drop);
      const Measured f = measure(nullptr);
      fmt::print("  float {:.4f} ({:.1f} ms inference per image)\n", f.metric, f.ms);
      Measured q = measure(&bytes);
      const double initial = q.metric;
      fmt::print("  INT8  {:.4f} (drop {:.4f}; {:.1f} ms)\n", q.metric, f.metric - q.metric, q.ms);
      if (f.metric - q.metric > o->max_drop) {
        std::vector<std::string> rpaths;
        for (const auto& im : gt.images)
          if (rpaths.size() < static_cast<size_t>(o->ranking_subset))
            rpaths.push_back(im.path.empty() ? im.file_name : im.path);
        const RankingSet rs = ranking_set(core, o->model, cc, rpaths, cfg);
        const double base = output_error(core, bytes, o->model, cc, rs);
        std::vector<std::pair<double, size_t>> gain;  // error removed by reverting site i alone
        for (size_t i = 0; i < sites.size(); ++i) {
          std::vector<QdqSite> sub;
          for (size_t j = 0; j < sites.size(); ++j)
            if (j != i) sub.push_back(sites[j]);
          const double err =
              sub.empty() ? 0.0
                          : output_error(core, writer.quantized(sub, ranges), o->model, cc, rs);
          gain.push_back({base - err, i});
          cli::print_progress("  ranking", i + 1, sites.size());
        }
        std::stable_sort(gain.begin(), gain.end(),
                         [](const auto& a, const auto& b) { return a.first > b.first; });
        std::vector<bool> reverted(sites.size(), false);
        for (const auto& [g, i] : gain) {
          reverted[i] = true;
          reverted_names.push_back(sites[i].node);
          std::vector<QdqSite> sub;
          for (size_t j = 0; j < sites.size(); ++j)
            if (!reverted[j]) sub.push_back(sites[j]);
          if (sub.empty())
            throw InputError(fmt::format(
                "{}: only the all-float model meets --max-drop {:.4f} (drop {:.4f} with only {} "
                "INT8); nothing written",
                o->model, o->max_drop, f.metric - q.metric, sites[i].node));
          bytes = writer.quantized(sub, ranges);
          q = measure(&bytes);
          fmt::print("  float {:<40} -> {:.4f} (drop {:.4f})\n", sites[i].node, q.metric,
                     f.metric - q.metric);
          if (f.metric - q.metric <= o->max_drop) break;
        }
      }
      fmt::print(
          "report: {} float {:.4f}, INT8 {:.4f} (drop {:.4f}, budget {:.4f}; {:.4f} before "
          "reverting); inference {:.1f} ms float, {:.1f} ms INT8 per image ({:.2f}x); {} "
          "convolution(s) reverted to float{}{}\n",
          metric_name, f.metric, q.metric, f.metric - q.metric, o->max_drop, initial, f.ms, q.ms,
          q.ms > 0 ? f.ms / q.ms : 0.0, reverted_names.size(), reverted_names.empty() ? "" : ": ",
          fmt::join(reverted_names, ", "));
      if (!o->report.empty()) {
        nlohmann::json j = {{"metric", metric_name},
                            {"images", gt.images.size()},
                            {"float", f.metric},
                            {"int8_before_control", initial},
                            {"int8", q.metric},
                            {"drop", f.metric - q.metric},
                            {"max_drop", o->max_drop},
                            {"float_ms", f.ms},
                            {"int8_ms", q.ms},
                            {"reverted_to_float", reverted_names},
                            {"overflow_fix", o->overflow_fix},
                            {"int8_convolutions", sites.size() - reverted_names.size()}};
        write_file_atomic(o->report, j.dump(2) + "\n");
      }
    }
    write_file_atomic(o->out, bytes);
    size_t seven = 0;  // INT8 convolutions with 7-bit weights
    for (const QdqSite& s : sites)
      if (std::find(reverted_names.begin(), reverted_names.end(), s.node) == reverted_names.end() &&
          writer.seven_bit_weights(s))
        ++seven;
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fmt::print(
        "{}: {} of {} convolutions INT8 ({} kept float{}), {} with 7-bit weights (overflow fix "
        "{}{}), calibrated on {} images ({}), {:.1f} s\n",
        o->out, sites.size() - reverted_names.size(), writer.sites().size(),
        ignored + reverted_names.size(),
        ignored && family == "yolov8" ? ", YOLOv8's DFL head by default" : "", seven,
        o->overflow_fix, int8_pairs_saturate() ? "; this CPU has no VNNI" : "", paths.size(),
        o->calibration, secs);
    return 0;
  };
}

}  // namespace visionrt::cli
