// `visionrt quantize`: post-training INT8 quantization of a float ONNX model into a standard QDQ
// model. Calibration runs the float model on the first --subset images of a dataset (or a folder
// of images) through the model family's own pre-processing, records the range of every
// convolution input (--calibration percentile (default) | minmax | mean-minmax), and writes u8
// activations, per-channel symmetric int8 weights and int32 biases (src/onnx/qdq_writer). The
// family's sensitive parts stay float (YOLOv8's DFL head); --ignore adds node-name patterns.
#include <fmt/core.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <opencv2/imgcodecs.hpp>

#include "cli_util.hpp"
#include "commands.hpp"
#include "common/file_io.hpp"
#include "data/dataset.hpp"
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

void progress(size_t done, size_t total) {
  static const bool tty = isatty(STDERR_FILENO);
  if (!tty) return;
  int filled = static_cast<int>(30 * done / std::max<size_t>(total, 1));
  fmt::print(stderr, "\r  calibrating [{}{}] {}/{}", std::string(filled, '='),
             std::string(30 - filled, ' '), done, total);
  if (done == total) fmt::print(stderr, "\n");
}

}  // namespace

std::function<int()> add_quantize(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "quantize", "Post-training INT8 quantization: calibrate on images, write a QDQ ONNX model");
  struct Opts {
    std::string model, data, format, images, split, out, calibration = "percentile";
    std::vector<std::string> ignore;
    int subset = 300, threads = 0;
    double percentile = 99.99;
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
  add_preprocess_flags(cmd, &o->pre);
  return [o]() {
    auto t0 = std::chrono::steady_clock::now();
    if (o->data.empty() && o->images.empty())
      throw InputError("give --data DATASET or --images DIR (calibration images)");
    std::error_code ec;
    if (fs::equivalent(o->out, o->model, ec))
      throw InputError(fmt::format("{}: --out would overwrite the float model", o->out));
    QdqWriter writer(o->model);
    // The family's pre-processing and defaults (the Predictor knows the model's family).
    PredictOptions popt;
    popt.threads = o->threads;
    apply_preprocess_flags(o->pre, &popt);
    PreprocessConfig cfg;
    std::string family;
    {
      Predictor pred(o->model, popt);
      cfg = pred.preprocess();
      family = pred.family();
      fmt::print("{}\n", pred.describe());
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
      cv::Mat img = cv::imread(paths[i], cv::IMREAD_COLOR);
      if (img.empty()) throw IoError(fmt::format("{}: cannot read the image", paths[i]));
      Tensor x = make_input_tensor(img, cfg, compute_geometry(cfg, img.cols, img.rows));
      req.set_input_tensor(0, x);
      req.infer();
      obs.observe(input, x);
      for (size_t k = 0; k < cm.outputs().size(); ++k) {
        const std::string& name = cm.outputs()[k].name;
        if (std::find(extra.begin(), extra.end(), name) != extra.end())
          obs.observe(name, req.get_output_tensor(k));
      }
      progress(i + 1, paths.size());
    }
    write_file_atomic(o->out, writer.quantized(sites, obs.ranges()));
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fmt::print(
        "{}: {} of {} convolutions INT8 ({} kept float{}), calibrated on {} images ({}), "
        "{:.1f} s\n",
        o->out, sites.size(), writer.sites().size(), ignored,
        ignored && family == "yolov8" ? ", YOLOv8's DFL head by default" : "", paths.size(),
        o->calibration, secs);
    return 0;
  };
}

}  // namespace visionrt::cli
