// `visionrt train` (the visionrt CLI hands the subcommand to this executable, which alone links
// libtorch, so the other subcommands start without loading it): fine-tunes an Ultralytics
// YOLOv8 export or trains a YOLOv8 scale from scratch on a COCO / Pascal VOC / YOLO dataset,
// validates the exported ONNX with visionrt's COCO evaluator after every epoch, and leaves
// DIR/weights/{best,last}.onnx (that predict/eval/quantize take as they are) and DIR/results.csv.
#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>

#include "../visionrt/cli_util.hpp"
#include "../visionrt/dataset_eval.hpp"
#include "eval/coco_eval.hpp"
#include "onnx/builder.hpp"
#include "train/config.hpp"
#include "train/ssd_task.hpp"
#include "train/trainer.hpp"
#include "train/yolo_loss.hpp"
#include "visionrt/error.hpp"

namespace fs = std::filesystem;
using namespace visionrt;

namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t a = 0;
  while (a < s.size()) {
    size_t b = s.find(',', a);
    if (b == std::string::npos) b = s.size();
    if (b > a) out.push_back(s.substr(a, b - a));
    a = b + 1;
  }
  return out;
}

struct Opts {
  std::string model, scale, task = "detect", data, format, images, names, split, val, val_split,
                            out;
  std::string optimizer = "SGD";
  std::string cfg, dcn, dsconv;
  // SSD through its graph: BatchNorm statistics frozen or trained; auto: trained for a network
  // built from a config (from scratch), frozen for an export (fine-tuning).
  std::string bn = "auto";
  int epochs = 10, imgsz = 0, batch = 16, threads = 0;    // imgsz 0: the family's default
  double lr0 = 0, lrf = 0.01, fliplr = 0.5, warmup = -1;  // 0 / -1: the family's default
  double hsv_h = 0.015, hsv_s = 0.7, hsv_v = 0.4;
  double mosaic = 1.0, degrees = 0, translate = 0.1, scale_range = 0.5, shear = 0;
  int close_mosaic = 10;
  size_t limit = 0, val_limit = 0;
  uint64_t seed = 0;
  bool no_val = false, quiet = false, resume = false, strict = false;
  int bench = 0;
};

// --bench N: the step bench/train_speed.py times in eager PyTorch (train-mode forward, mean of
// squares of the head maps, backward, SGD with Nesterov momentum) on random images, then the
// real step (YOLOv8's loss on random boxes). One JSON line.
int bench(const Opts& o) {
  if (o.scale.size() != 1) throw InputError("--bench needs --scale n|s|m|l|x");
  if (o.threads > 0) torch::set_num_threads(o.threads);
  torch::manual_seed(0);
  train::YoloV8 net(train::YoloSpec::scale(o.scale[0]));
  net->train();
  std::vector<torch::Tensor> params;
  int64_t count = 0;
  for (auto& p : net->parameters()) {
    count += p.numel();
    if (p.requires_grad()) params.push_back(p);
  }
  torch::optim::SGD opt(params, torch::optim::SGDOptions(0.01).momentum(0.937).nesterov(true));
  const int imgsz = o.imgsz > 0 ? o.imgsz : 640;
  torch::Tensor x = torch::rand({o.batch, 3, imgsz, imgsz});
  auto time_steps = [&](const std::function<torch::Tensor()>& loss) {
    for (int i = 0; i < 2 + o.bench; ++i) {
      if (i == 2) torch::manual_seed(1);
      opt.zero_grad();
      loss().backward();
      opt.step();
    }
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < o.bench; ++i) {
      opt.zero_grad();
      loss().backward();
      opt.step();
    }
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
               .count() /
           o.bench;
  };
  const double surrogate = time_steps([&] {
    torch::Tensor l = torch::zeros({});
    for (const auto& t : net->forward(x)) l = l + (t * t).mean();
    return l;
  });
  train::DetectionLoss loss;
  std::vector<float> rows;
  for (int b = 0; b < o.batch; ++b)
    for (int k = 0; k < 8; ++k)
      rows.insert(rows.end(), {static_cast<float>(b), static_cast<float>((b * 8 + k) % 80),
                               0.1f + 0.1f * k, 0.2f + 0.07f * k, 0.1f + 0.02f * k, 0.15f});
  torch::Tensor targets = torch::from_blob(rows.data(), {o.batch * 8, 6}).clone();
  const double full = time_steps([&] { return loss(net->forward(x), targets).total; });
  fmt::print(
      "{{\"runtime\": \"visionrt-train libtorch {}\", \"parameters\": {}, \"ms_per_step\": {:.1f}, "
      "\"images_per_s\": {:.2f}, \"full_step_ms\": {:.1f}}}\n",
      TORCH_VERSION, count, surrogate, o.batch * 1000.0 / surrogate, full);
  return 0;
}

int run(const Opts& o) {
  if (o.bench > 0) return bench(o);
  if (o.data.empty()) throw InputError("--data is required");
  if (!o.model.empty() + !o.scale.empty() + !o.cfg.empty() != 1)
    throw InputError(
        "give one of --model M.onnx (fine-tune a YOLOv8 or SSD export), --scale n|s|m|l|x "
        "(YOLOv8 from scratch) or --cfg FILE.yaml (a model config)");
  train::TrainConfig cfg;
  if (!o.cfg.empty()) cfg = train::read_train_config(o.cfg);
  // The export the weights start from, if any, and its family: YOLOv8 trains as our own libtorch
  // network, SSD through its ONNX graph.
  const std::string weights = !o.model.empty() ? o.model : cfg.weights;
  // An SSD300-VGG16 from its config: built here, then trained as any SSD export.
  const bool ssd_scratch = !o.cfg.empty() && cfg.model != "yolov8";
  // The start weights are read once here: family and class names (Predictor::inspect), and for
  // YOLOv8 the network's layout (spec_from_onnx).
  std::optional<Predictor> winfo;
  if (!weights.empty() && !ssd_scratch) winfo.emplace(Predictor::inspect(weights));
  const std::string family = ssd_scratch ? "ssd" : !winfo ? "yolov8" : winfo->family();
  if (family != "yolov8" && family != "ssd")
    throw InputError(
        fmt::format("{}: a model of family '{}'; train fine-tunes YOLOv8 (Ultralytics "
                    "exports) and SSD models",
                    weights, family));
  const bool ssd = family == "ssd";
  std::optional<train::YoloSpec> wspec;
  if (winfo && !ssd) wspec = train::spec_from_onnx(weights);
  if (!ssd && o.bn != "auto")
    throw InputError(
        "--bn applies to SSD models trained through their graph; YOLOv8 trains its "
        "BatchNorms always");
  if (ssd && ((!o.cfg.empty() && !ssd_scratch) || !o.dcn.empty() || !o.dsconv.empty()))
    throw InputError(fmt::format(
        "{}: configs, --dcn and --dsconv build YOLOv8; an SSD trains as exported", weights));
  // Splits as Ultralytics uses them: train on "train" and validate on "val" where the dataset
  // has them (data.yaml), else on everything.
  cli::EvalData ed;
  ed.data = o.data;
  ed.format = o.format;
  ed.images = o.images;
  ed.names_file = o.names;
  ed.quiet = o.quiet;
  ed.strict = o.strict;
  // Segmentation: masks (polygons rasterized, or RLE) for training and mask mAP for validation.
  const bool segment = ssd              ? false
                       : wspec          ? wspec->task == "segment"
                       : !o.cfg.empty() ? cfg.spec.task == "segment"
                                        : o.task == "segment";
  ed.segm = segment;
  const CocoDataset all = cli::load_ground_truth(ed);
  const std::string train_split = !o.split.empty()               ? o.split
                                  : cli::has_split(all, "train") ? "train"
                                                                 : "";
  CocoDataset gt = train_split.empty() ? all : cli::select_split(all, train_split);
  if (o.limit) cli::limit_images(&gt, o.limit);
  std::vector<CocoCategory> cats = gt.categories;
  std::sort(cats.begin(), cats.end(), [](auto& a, auto& b) { return a.id < b.id; });
  // The network and its class order.
  train::YoloSpec spec;
  std::vector<std::string> names;
  train::SsdModel ssd_model;
  if (o.resume && o.out.empty())
    throw InputError("--resume continues the run in --out DIR: give the run's folder");
  const fs::path out = o.out.empty() ? cli::fresh_dir("runs/train") : fs::path(o.out);
  if (ssd_scratch) {
    // Column 0 background, then the dataset's categories in id order.
    names = {"background"};
    for (const auto& c : cats) names.push_back(c.name.empty() ? std::to_string(c.id) : c.name);
    if (cfg.nc_given && cfg.spec.nc + 1 != static_cast<int64_t>(names.size()))
      throw InputError(fmt::format("{}: nc {} but the dataset has {} categories", o.cfg,
                                   cfg.spec.nc, names.size() - 1));
    if (names.size() < 5)
      throw InputError(
          fmt::format("{}: {} needs at least 4 classes (its score output must be wider than its "
                      "box output); the dataset has {}",
                      o.cfg, cfg.model, names.size() - 1));
    fs::create_directories(out / "weights");
    const std::string init = (out / "weights" / "init.onnx").string();
    const int64_t classes = static_cast<int64_t>(names.size());
    ModelBuilder b = cfg.model == "ssd300_vgg16" ? make_ssd300_vgg16(classes, true)
                                                 : make_ssdlite320_mobilenet_v2(classes);
    b.metadata("names", train::names_metadata(names));
    b.save(init);
    ssd_model = train::load_ssd(init);
  } else if (ssd) {
    ssd_model = train::load_ssd(weights);
    names = winfo->names();
    names.resize(static_cast<size_t>(ssd_model.classes));
  } else if (wspec) {
    spec = *wspec;
    names = winfo->names();
    if (!o.cfg.empty()) {
      // The config describes the network the weights are for, plus the blocks it adds.
      const train::YoloSpec& c = cfg.spec;
      if (c.task != spec.task || scaled_channels(c, 64) != scaled_channels(spec, 64) ||
          scaled_channels(c, 1024) != scaled_channels(spec, 1024) ||
          scaled_depth(c, 3) != scaled_depth(spec, 3) || (cfg.nc_given && c.nc != spec.nc))
        throw InputError(fmt::format("{}: the config describes {}; its weights {} are {}", o.cfg,
                                     c.describe(), weights, spec.describe()));
      for (int64_t l : c.dcn)
        if (std::find(spec.dcn.begin(), spec.dcn.end(), l) == spec.dcn.end()) spec.dcn.push_back(l);
      for (int64_t l : c.dsconv)
        if (std::find(spec.dsconv.begin(), spec.dsconv.end(), l) == spec.dsconv.end())
          spec.dsconv.push_back(l);
    }
  } else if (!o.cfg.empty()) {
    spec = cfg.spec;
    if (!cfg.nc_given) {
      for (const auto& c : cats) names.push_back(c.name.empty() ? std::to_string(c.id) : c.name);
      spec.nc = static_cast<int64_t>(names.size());
    }
  } else {
    if (o.scale.size() != 1) throw InputError(fmt::format("--scale '{}' (n, s, m, l, x)", o.scale));
    for (const auto& c : cats) names.push_back(c.name.empty() ? std::to_string(c.id) : c.name);
    spec = train::YoloSpec::scale(o.scale[0], segment ? "segment" : "detect",
                                  static_cast<int64_t>(names.size()));
  }
  if (!ssd && names.size() != static_cast<size_t>(spec.nc))
    names.resize(static_cast<size_t>(spec.nc));
  // --dcn 6,8 / --dsconv 4: DCNv2 / snake-convolution bottlenecks in these C2f layers (added
  // to what the export or config has).
  auto add_layers = [](const char* flag, const std::string& value, std::vector<int64_t>* list) {
    for (const std::string& part : split_list(value)) {
      int64_t l = -1;
      try {
        l = std::stoll(part);
      } catch (const std::exception&) {
        throw InputError(fmt::format("{} '{}': comma-separated C2f layer numbers", flag, value));
      }
      if (std::find(list->begin(), list->end(), l) == list->end()) list->push_back(l);
    }
  };
  add_layers("--dcn", o.dcn, &spec.dcn);
  add_layers("--dsconv", o.dsconv, &spec.dsconv);
  // Dataset category -> model class (by name, else by position: the evaluator's rule).
  const std::vector<int64_t> cmap =
      cli::class_map(names, gt, weights.empty() ? "model" : weights, o.quiet);
  std::map<int64_t, int> to_class;
  for (size_t i = 0; i < cmap.size(); ++i)
    if (cmap[i] >= 0) to_class[cmap[i]] = static_cast<int>(i);
  std::map<int64_t, size_t> index;
  std::vector<train::Sample> samples;
  for (const auto& im : gt.images) {
    index[im.id] = samples.size();
    samples.push_back({im.path.empty() ? im.file_name : im.path, {}, {}});
  }
  size_t dropped = 0;
  for (const auto& a : gt.annotations) {
    auto c = to_class.find(a.category_id);
    if (c == to_class.end() || a.iscrowd) {
      ++dropped;
      continue;
    }
    samples[index.at(a.image_id)].labels.push_back(
        {static_cast<float>(c->second), static_cast<float>(a.bbox.x), static_cast<float>(a.bbox.y),
         static_cast<float>(a.bbox.x + a.bbox.w), static_cast<float>(a.bbox.y + a.bbox.h)});
    if (segment) samples[index.at(a.image_id)].masks.push_back(a.mask);
  }
  if (dropped && !o.quiet)
    fmt::print(
        "note: {} annotation(s) of crowds or categories the model lacks are not trained on\n",
        dropped);
  // The task: network, pre-processing, loss, export.
  train::YoloV8 net{nullptr};
  train::TrainTask task;
  int imgsz = o.imgsz > 0 ? o.imgsz : 640;
  if (ssd) {
    if (o.imgsz > 0 && (o.imgsz != ssd_model.pre.width || o.imgsz != ssd_model.pre.height))
      throw InputError(fmt::format("{}: this SSD's input is fixed at {}x{}; drop --imgsz", weights,
                                   ssd_model.pre.width, ssd_model.pre.height));
    ssd_model.net->train_batchnorm = o.bn == "train" || (o.bn == "auto" && ssd_scratch);
    task = train::ssd_task(ssd_model, names);
    imgsz = ssd_model.pre.width;
  } else {
    net = train::YoloV8(spec);
    if (!weights.empty()) train::load_onnx_weights(*net, weights);
    task = train::yolo_task(*net, names, imgsz);
  }
  // Validation: the same dataset unless --val / --val-split say otherwise (coco128's own way).
  train::Validator validate;
  CocoDataset val_gt;
  if (!o.no_val) {
    if (!o.val.empty()) {
      cli::EvalData ve;
      ve.data = o.val;
      ve.format = o.format;
      ve.names_file = o.names;
      ve.split = o.val_split;
      ve.quiet = true;
      ve.segm = segment;
      ve.strict = o.strict;
      val_gt = cli::load_ground_truth(ve);
    } else {
      const std::string vs = !o.val_split.empty()         ? o.val_split
                             : cli::has_split(all, "val") ? "val"
                                                          : train_split;
      val_gt = vs.empty() ? all : cli::select_split(all, vs);
    }
    if (o.val_limit) cli::limit_images(&val_gt, o.val_limit);
    validate = [&, threads = o.threads, segment](const std::string& onnx) {
      PredictOptions po = cli::validation_options();
      po.threads = threads;
      po.precision = "f32";
      Predictor p(onnx, po);
      cli::DatasetRun r = cli::predict_dataset(p, val_gt, segment, onnx, true);
      CocoEvalResult e =
          evaluate_coco(val_gt, r.dt, segment ? CocoIouType::segm : CocoIouType::bbox);
      return std::make_pair(e.stats[1], e.stats[0]);
    };
  }
  fmt::print("{}\n{} training images, {} objects; output {}\n",
             ssd ? ssd_model.describe() : spec.describe(), samples.size(),
             gt.annotations.size() - dropped, out.string());
  if (validate && !weights.empty() && !o.resume) {
    // The starting weights at the training size: the baseline the epochs are compared with.
    fs::create_directories(out / "weights");
    const std::string start = (out / "weights" / "start.onnx").string();
    task.net->eval();
    task.export_onnx(*task.net, start);
    auto [m50, m] = validate(start);
    fmt::print("before training (at {}): {}50 {:.4f}  {}50-95 {:.4f}\n", imgsz,
               segment ? "mask mAP" : "mAP", m50, segment ? "mask mAP" : "mAP", m);
  }
  train::TrainOptions to;
  to.epochs = o.epochs;
  to.imgsz = imgsz;
  to.batch = o.batch;
  to.optimizer = o.optimizer;
  // Family defaults: Ultralytics' recipe for YOLOv8; for SSD fine-tuning a gentler one (the loss
  // is a mean over matched anchors, not scaled by the batch), a one-epoch warm-up of any length
  // and biases warming up from 0 as the other weights.
  to.lr0 = o.lr0 > 0 ? o.lr0 : ssd ? 0.001 : 0.01;
  to.warmup_epochs = o.warmup >= 0 ? o.warmup : ssd ? 1.0 : 3.0;
  if (ssd) {
    to.warmup_min_iterations = 0;
    to.warmup_bias_lr = 0;
  }
  to.lrf = o.lrf;
  to.fliplr = o.fliplr;
  to.hsv = {o.hsv_h, o.hsv_s, o.hsv_v};
  // Mosaic and the random affine step apply to letterboxed inputs (YOLOv8); an SSD's stretched
  // input takes flips and HSV only.
  to.mosaic = o.mosaic;
  to.close_mosaic = o.close_mosaic;
  to.degrees = o.degrees;
  to.translate = o.translate;
  to.scale = o.scale_range;
  to.shear = o.shear;
  to.seed = o.seed;
  to.threads = o.threads;
  to.out = out.string();
  to.quiet = o.quiet;
  to.recalibrate_bn = !weights.empty();  // folded BatchNorm: see recalibrate_batchnorm
  to.resume = o.resume;
  std::vector<train::EpochResult> r = train::train(task, samples, to, validate);
  double best = -1;
  for (const auto& e : r) best = std::max(best, e.map);
  if (validate) fmt::print("best {}50-95 {:.4f}; ", segment ? "mask mAP" : "mAP", best);
  fmt::print("weights in {}\n", (out / "weights").string());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "visionrt train: fine-tune or train YOLOv8 detect/segment with libtorch, export ONNX"};
  Opts o;
  app.add_option("--model,-m", o.model,
                 "Model to fine-tune: an Ultralytics YOLOv8 export (weights by name) or an SSD "
                 "(TF OD API SSD MobileNet, SSD300, SSDlite: trained through its own graph)");
  app.add_option("--scale", o.scale, "Train from scratch at this YOLOv8 scale: n, s, m, l, x");
  app.add_option("--cfg", o.cfg,
                 "Model config (YAML: model, scale, task, nc, dcn, dsconv, weights; see README)");
  app.add_option("--dcn", o.dcn,
                 "YOLOv8: C2f layers whose bottlenecks use DCNv2, e.g. 6,8 (2 4 6 8 12 15 18 21)");
  app.add_option("--dsconv", o.dsconv,
                 "YOLOv8: C2f layers whose bottlenecks add dynamic snake convolutions, e.g. 4");
  app.add_option("--bn", o.bn,
                 "SSD: BatchNorm statistics frozen at the model's (fine-tuning) or train (batch "
                 "statistics, running ones updated: from scratch); auto (default): train for a "
                 "network built from --cfg, frozen for a --model")
      ->check(CLI::IsMember({"auto", "frozen", "train"}));
  app.add_option("--task", o.task, "From scratch: detect or segment (a --model says its own)")
      ->check(CLI::IsMember({"detect", "segment"}));
  app.add_option("--data", o.data, "Dataset: COCO JSON, VOC folder, YOLO data.yaml or folder");
  app.add_option("--format", o.format, "Dataset format (default: guessed)")
      ->check(CLI::IsMember({"coco", "voc", "yolo"}));
  app.add_option("--images", o.images, "COCO: folder of the images");
  app.add_option("--names", o.names, "Class names of a YOLO dataset without data.yaml");
  app.add_option("--split", o.split, "Train on this split only (e.g. train)");
  app.add_option("--val", o.val, "Validation dataset (default: --data)");
  app.add_option("--val-split", o.val_split, "Validate on this split of the dataset");
  app.add_option("--epochs", o.epochs, "Epochs")->check(CLI::Range(1, 100000));
  app.add_option("--imgsz", o.imgsz,
                 "YOLOv8: square training and export size (multiple of 32; default 640); SSD: "
                 "fixed by the model")
      ->check(CLI::Range(32, 4096));
  app.add_option("--batch", o.batch, "Images per batch")->check(CLI::Range(1, 1024));
  app.add_option("--optimizer", o.optimizer, "SGD or AdamW")
      ->check(CLI::IsMember({"SGD", "AdamW"}));
  app.add_option("--lr0", o.lr0, "Initial learning rate (default YOLOv8 0.01, SSD 0.001)")
      ->check(CLI::Range(1e-8, 10.0));
  app.add_option("--lrf", o.lrf, "Final learning rate as a fraction of lr0")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--warmup-epochs", o.warmup,
                 "Warm-up epochs (default YOLOv8 3, at least 100 iterations; SSD 1)")
      ->check(CLI::Range(0.0, 1000.0));
  app.add_option("--fliplr", o.fliplr, "Horizontal flip probability")->check(CLI::Range(0.0, 1.0));
  app.add_option("--hsv-h", o.hsv_h, "Hue gain range")->check(CLI::Range(0.0, 1.0));
  app.add_option("--hsv-s", o.hsv_s, "Saturation gain range")->check(CLI::Range(0.0, 1.0));
  app.add_option("--hsv-v", o.hsv_v, "Value gain range")->check(CLI::Range(0.0, 1.0));
  app.add_option("--mosaic", o.mosaic, "Mosaic probability (YOLOv8; Ultralytics 1.0)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--close-mosaic", o.close_mosaic,
                 "No mosaic in the last N epochs (runs shorter than N keep it, as Ultralytics)")
      ->check(CLI::Range(0, 100000));
  app.add_option("--degrees", o.degrees, "Random rotation range, degrees")
      ->check(CLI::Range(0.0, 180.0));
  app.add_option("--translate", o.translate, "Random translation, fraction of the input")
      ->check(CLI::Range(0.0, 0.9));
  app.add_option("--scale-range", o.scale_range,
                 "Random scale gain 1 +- S (Ultralytics' scale augmentation)")
      ->check(CLI::Range(0.0, 0.9));
  app.add_option("--shear", o.shear, "Random shear range, degrees")->check(CLI::Range(0.0, 45.0));
  app.add_option("--seed", o.seed, "Random seed (shuffles, flips, initialisation)");
  app.add_option("--threads", o.threads, "CPU threads (0: all)")->check(CLI::Range(0, 1024));
  app.add_option("--limit", o.limit, "Train on the first N images");
  app.add_option("--val-limit", o.val_limit, "Validate on the first N images");
  app.add_option("--out,-o", o.out, "Run folder (default: runs/train, runs/train2, ...)");
  app.add_flag("--no-val", o.no_val, "Skip validation (best.onnx is then the last epoch)");
  app.add_flag("--quiet,-q", o.quiet, "No per-batch progress");
  app.add_flag("--strict", o.strict,
               "A dataset that needs repairs (undeclared categories, clipped boxes, ...) is an "
               "error instead of counted and repaired");
  app.add_flag("--resume", o.resume,
               "Continue the run in --out from weights/last.pt (same flags; --epochs may grow)");
  app.add_option("--bench", o.bench,
                 "Time N training steps on random images (bench/train_speed.sh) and exit")
      ->check(CLI::Range(1, 10000));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return cli::run_reporting_errors([&] { return run(o); });
}
