// `visionrt eval`: detection evaluation.
//   offline:    --gt instances.json --dt results.json            (COCO ground truth)
//               --data DATASET --format coco|voc|yolo --dt results.json
//   end-to-end: --model M --data DATASET --format ...            (runs the task pipeline with
//               Ultralytics' val settings: conf 0.001, iou 0.7, max_det 300, multi-label)
// Metrics: COCO (pycocotools' COCOeval semantics: the 12-line summary, per-class table, --json
// with the 12 stats at full precision, --plot with the PR curves) or Pascal VOC AP (--metric
// voc07|voc12, devkit rules with difficult objects).
#include <fmt/core.h>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "cli_util.hpp"
#include "commands.hpp"
#include "common/file_io.hpp"
#include "data/dataset.hpp"
#include "data/image_io.hpp"
#include "dataset_eval.hpp"
#include "eval/coco_eval.hpp"
#include "eval/voc_eval.hpp"
#include "pipeline_flags.hpp"
#include "visionrt/error.hpp"
#include "visionrt/vision.hpp"

namespace visionrt::cli {

namespace {

using clock_type = std::chrono::steady_clock;
double secs(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// PR curves as SVG: precision over recall at IoU 0.50 and averaged over 0.50:0.95 (mean over
// classes with ground truth; area all, the largest maxDets).
void write_pr_svg(const std::string& path, const CocoEvalResult& r) {
  const int W = 640, H = 480, L = 60, B = 50, T = 30, Rm = 20;
  auto px = [&](double rec) { return L + rec * (W - L - Rm); };
  auto py = [&](double prec) { return H - B - prec * (H - B - T); };
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" "
      "fill=\"white\"/>\n",
      W, H);
  for (int i = 0; i <= 10; ++i) {
    double v = i / 10.0;
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#ddd\"/>"
        "<line x1=\"{3}\" y1=\"{4:.1f}\" x2=\"{5}\" y2=\"{4:.1f}\" stroke=\"#ddd\"/>"
        "<text x=\"{0:.1f}\" y=\"{6}\" text-anchor=\"middle\">{7:.1f}</text>"
        "<text x=\"{8}\" y=\"{4:.1f}\" text-anchor=\"end\" dy=\"4\">{7:.1f}</text>\n",
        px(v), T, H - B, L, py(v), W - Rm, H - B + 16, v, L - 6);
  }
  svg += fmt::format(
      "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">recall</text><text x=\"16\" y=\"{}\" "
      "text-anchor=\"middle\" transform=\"rotate(-90 16 {})\">precision</text>\n",
      (L + W - Rm) / 2, H - 12, (T + H - B) / 2, (T + H - B) / 2);
  const size_t m = r.M - 1;
  auto curve = [&](int t_sel, const char* color, const std::string& label, int row) {
    std::string pts;
    for (size_t ri = 0; ri < r.R; ++ri) {
      double sum = 0;
      int n = 0;
      for (size_t t = 0; t < r.T; ++t) {
        if (t_sel >= 0 && static_cast<int>(t) != t_sel) continue;
        for (size_t k = 0; k < r.K; ++k) {
          double v = r.precision_at(t, ri, k, 0, m);
          if (v > -1) {
            sum += v;
            ++n;
          }
        }
      }
      if (n) pts += fmt::format("{:.1f},{:.1f} ", px(r.params.rec_thrs[ri]), py(sum / n));
    }
    svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\n",
                       color, pts);
    svg += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"{}\">{}</text>\n", W - 240,
                       T + 16 + row * 16, color, label);
  };
  curve(0, "#1f77b4", fmt::format("IoU 0.50: AP {:.3f}", r.stats[1]), 0);
  curve(-1, "#d62728", fmt::format("IoU 0.50:0.95: AP {:.3f}", r.stats[0]), 1);
  svg += "</svg>\n";
  write_file_atomic(path, svg);
}

nlohmann::json results_json(const std::vector<CocoAnnotation>& dt) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& a : dt) {
    nlohmann::json o = {{"image_id", a.image_id},
                        {"category_id", a.category_id},
                        {"bbox", {a.bbox.x, a.bbox.y, a.bbox.w, a.bbox.h}},
                        {"score", a.score}};
    if (a.has_mask)
      o["segmentation"] = {{"size", {a.mask.h, a.mask.w}}, {"counts", rle_to_string(a.mask)}};
    j.push_back(std::move(o));
  }
  return j;
}

// A label map from a PNG: one channel (8 or 16 bit) holds class ids; colour PNGs (VOC's
// SegmentationClass, which OpenCV decodes to BGR) are mapped back through the VOC colour map.
std::vector<int32_t> read_label_png(const std::string& path, cv::Size* size) {
  cv::Mat m = read_image(path, cv::IMREAD_UNCHANGED, "label image");
  *size = m.size();
  std::vector<int32_t> out(m.total());
  if (m.channels() == 1) {
    cv::Mat i32;
    m.convertTo(i32, CV_32S);
    for (int y = 0; y < m.rows; ++y)
      std::copy(i32.ptr<int32_t>(y), i32.ptr<int32_t>(y) + m.cols, out.begin() + y * m.cols);
    return out;
  }
  if (m.depth() != CV_8U || m.channels() < 3)
    throw InputError(
        fmt::format("{}: label images must be 1-channel ids or 8-bit VOC colours", path));
  std::map<uint32_t, int32_t> lut;
  for (int i = 0; i < 256; ++i) {
    cv::Vec3b c = palette_color(Palette::voc, i);
    lut[(uint32_t(c[0]) << 16) | (uint32_t(c[1]) << 8) | c[2]] = i;
  }
  const int ch = m.channels();
  for (int y = 0; y < m.rows; ++y) {
    const uint8_t* p = m.ptr<uint8_t>(y);
    for (int x = 0; x < m.cols; ++x) {
      uint32_t key = (uint32_t(p[x * ch]) << 16) | (uint32_t(p[x * ch + 1]) << 8) | p[x * ch + 2];
      auto it = lut.find(key);
      if (it == lut.end())
        throw InputError(
            fmt::format("{}: pixel ({}, {}) has colour {} {} {} (BGR), which is not "
                        "in the VOC colour map",
                        path, x, y, p[x * ch], p[x * ch + 1], p[x * ch + 2]));
      out[static_cast<size_t>(y) * m.cols + x] = it->second;
    }
  }
  return out;
}

struct SegOpts {
  std::string gt, pred, model, images, names_file, json;
  int num_classes = 0, ignore = 255, threads = 0;
};

// Semantic segmentation: confusion matrix over every ground-truth label image (matched by file
// stem to a prediction PNG, or to an image the model segments), per-class IoU, mIoU, pixel and
// mean accuracy.
int eval_semantic(const SegOpts& o, const PredictOptions& popt_in) {
  namespace fs = std::filesystem;
  std::vector<fs::path> gts;
  for (const auto& e : fs::directory_iterator(o.gt))
    if (e.path().extension() == ".png") gts.push_back(e.path());
  std::sort(gts.begin(), gts.end());
  if (gts.empty()) throw InputError(fmt::format("{}: no .png label images", o.gt));
  std::unique_ptr<Predictor> pred;
  std::vector<std::string> names;
  if (!o.names_file.empty()) names = read_names_list(o.names_file);
  if (!o.model.empty()) {
    if (o.images.empty())
      throw InputError("--model with --seg-gt needs --images (the input images)");
    pred = std::make_unique<Predictor>(o.model, popt_in);
    fmt::print("{}\n", pred->describe());
    if (pred->task() != Task::semantic)
      throw InputError(fmt::format("{}: not a semantic segmentation model", o.model));
    if (names.empty()) names = pred->names();
  }
  int n = o.num_classes > 0 ? o.num_classes : static_cast<int>(names.size());
  if (n <= 0) throw InputError("give --num-classes (or --names / a model with class names)");
  ConfusionMatrix cm(n, o.ignore);
  std::map<std::string, fs::path> images;
  if (!o.images.empty())
    for (const auto& e : fs::directory_iterator(o.images))
      images[e.path().stem().string()] = e.path();
  double ms = 0;
  for (size_t i = 0; i < gts.size(); ++i) {
    const fs::path& g = gts[i];
    cv::Size gs, ps;
    std::vector<int32_t> gt = read_label_png(g.string(), &gs), pr;
    if (pred) {
      auto it = images.find(g.stem().string());
      if (it == images.end())
        throw InputError(
            fmt::format("{}: no image named {}.* in {}", g.string(), g.stem().string(), o.images));
      cv::Mat img = read_image(it->second.string());
      Prediction p = pred->predict(img);
      ms += p.preprocess_ms + p.inference_ms + p.postprocess_ms;
      ps = p.labels.size();
      pr.assign(p.labels.begin<int32_t>(), p.labels.end<int32_t>());
    } else {
      fs::path pp = fs::path(o.pred) / g.filename();
      pr = read_label_png(pp.string(), &ps);
    }
    if (gs != ps)
      throw InputError(fmt::format("{}: ground truth is {}x{}, the prediction {}x{}", g.string(),
                                   gs.width, gs.height, ps.width, ps.height));
    try {
      cm.add(gt, pr);
    } catch (const InputError& e) {
      throw InputError(fmt::format("{}: {}", g.string(), e.what()));
    }
    cli::print_progress("  evaluating", i + 1, gts.size());
  }
  std::vector<double> iou = cm.iou();
  fmt::print("\n{:>4}  {:<24} {:>8}\n", "id", "class", "IoU");
  for (int k = 0; k < n; ++k)
    fmt::print("{:>4}  {:<24} {:>8}\n", k,
               k < static_cast<int>(names.size()) ? names[k].substr(0, 24) : "",
               iou[k] < 0 ? std::string("-") : fmt::format("{:.4f}", iou[k]));
  fmt::print(
      "mIoU {:.4f}, pixel accuracy {:.4f}, mean accuracy {:.4f} ({} images, {} pixels "
      "ignored)\n",
      cm.mean_iou(), cm.pixel_accuracy(), cm.mean_accuracy(), gts.size(), cm.ignored());
  if (pred) fmt::print("speed: {:.1f} ms per image (pre + inference + post)\n", ms / gts.size());
  if (!o.json.empty()) {
    nlohmann::json j = {{"mIoU", cm.mean_iou()},
                        {"pixel_accuracy", cm.pixel_accuracy()},
                        {"mean_accuracy", cm.mean_accuracy()},
                        {"iou", iou}};
    write_file_atomic(o.json, j.dump());
  }
  return 0;
}

}  // namespace

std::function<int()> add_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "eval", "Evaluate detections against ground truth (COCO pycocotools-exact, or VOC AP)");
  struct Opts {
    std::string gt, dt, iou_type = "bbox", json, data, format, model, images, split, names_file,
                        metric = "coco", save_json, plot;
    bool per_class = false, strict = false;
    float conf = 0.001f, iou = 0.7f;
    int max_det = 300, threads = 0, limit = 0;
    PreprocessFlags pre;
    std::string seg_gt, seg_pred;
    int num_classes = 0, ignore = 255;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--gt", o->gt, "COCO instances file (.json or .json.gz)");
  cmd->add_option("--dt", o->dt,
                  "COCO results file: a list of {image_id, category_id, score, bbox or "
                  "segmentation}");
  cmd->add_option("--data", o->data,
                  "Ground truth as a dataset: COCO instances JSON, VOC folder, YOLO data.yaml or "
                  "folder (see --format)");
  cmd->add_option("--format", o->format, "Format of --data: coco, voc or yolo (default: guessed)")
      ->check(CLI::IsMember({"coco", "voc", "yolo"}));
  cmd->add_option("--model,-m", o->model, "End-to-end: run this model on --data's images");
  cmd->add_option("--images", o->images, "COCO --data: folder of the images");
  cmd->add_option("--split", o->split, "Evaluate only this split of --data (e.g. val)");
  cmd->add_option("--names", o->names_file, "Class names of a YOLO dataset without data.yaml");
  cmd->add_option("--iou-type", o->iou_type, "bbox (boxes) or segm (masks: polygons/RLE)")
      ->check(CLI::IsMember({"bbox", "segm"}));
  cmd->add_option("--metric", o->metric, "coco (default), voc07 (11-point) or voc12 (all-point)")
      ->check(CLI::IsMember({"coco", "voc07", "voc12"}));
  cmd->add_option("--json", o->json,
                  "Write the 12 stats at full precision as JSON (AP, AP50, AP75, APs, APm, APl, "
                  "AR1, AR10, AR100, ARs, ARm, ARl)");
  cmd->add_flag("--per-class", o->per_class, "Print a per-class AP table");
  cmd->add_flag("--strict", o->strict,
                "Ground truth that needs repairs is an error (undeclared categories or images, "
                "repeated ids, clipped boxes, ...); by default they are counted and treated as "
                "pycocotools treats them");
  cmd->add_option("--save-json", o->save_json, "End-to-end: write the detections (COCO results)");
  cmd->add_option("--plot", o->plot, "Write precision-recall curves (SVG)");
  cmd->add_option("--conf", o->conf, "End-to-end: minimum score (default 0.001)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--iou", o->iou, "End-to-end: NMS IoU (default 0.7)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--max-det", o->max_det, "End-to-end: detections per image (default 300)")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--threads", o->threads, "End-to-end: intra-op threads (0 = all cores)")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--limit", o->limit, "End-to-end: only the first N images")
      ->check(CLI::Range(0, 10000000));
  cmd->add_option("--seg-gt", o->seg_gt,
                  "Semantic segmentation: folder of ground-truth label PNGs (class ids, or VOC "
                  "colours); with --seg-pred DIR or --model M --images DIR");
  cmd->add_option("--seg-pred", o->seg_pred, "Folder of predicted label PNGs (same file names)");
  cmd->add_option("--num-classes", o->num_classes, "Semantic: number of classes (default: names)")
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--ignore", o->ignore, "Semantic: ground-truth label to ignore (default 255)");
  add_preprocess_flags(cmd, &o->pre);
  return [o]() {
    auto t0 = clock_type::now();
    if (!o->seg_gt.empty()) {
      if (o->seg_pred.empty() == o->model.empty())
        throw InputError("--seg-gt needs exactly one of --seg-pred DIR and --model M");
      SegOpts so{o->seg_gt, o->seg_pred,    o->model,  o->images, o->names_file,
                 o->json,   o->num_classes, o->ignore, o->threads};
      PredictOptions popt;
      popt.threads = o->threads;
      apply_preprocess_flags(o->pre, &popt);
      return eval_semantic(so, popt);
    }
    const bool segm = o->iou_type == "segm";
    if (o->data.empty() && o->gt.empty()) throw InputError("give --gt or --data (ground truth)");
    if (!o->data.empty() && !o->gt.empty())
      throw InputError("give either --gt or --data, not both");
    if (o->model.empty() && o->dt.empty()) throw InputError("give --dt (results) or --model");
    if (!o->model.empty() && !o->dt.empty())
      throw InputError("give either --dt or --model, not both");
    if (!o->model.empty() && o->data.empty()) throw InputError("--model needs --data (a dataset)");
    CocoDataset gt;
    if (!o->gt.empty()) {
      gt = read_coco_instances(o->gt, segm, o->strict);
      if (gt.read_report.any()) {
        fmt::print(stderr, "warning: {}: {}\n", o->gt, gt.read_report.summary());
        for (const auto& f : gt.read_report.findings) fmt::print(stderr, "  {}\n", f);
      }
    } else {
      EvalData ed{o->data, o->format, o->images, o->names_file, o->split, 0, segm};
      ed.strict = o->strict;
      gt = load_ground_truth(ed);
    }
    std::vector<CocoAnnotation> dt;
    CocoResultsReport rrep;
    if (!o->dt.empty()) {
      dt = read_coco_results(o->dt, gt, &rrep, segm);
    } else {
      PredictOptions popt = validation_options();
      popt.conf = o->conf;
      popt.iou = o->iou;
      popt.max_det = o->max_det;
      popt.threads = o->threads;
      apply_preprocess_flags(o->pre, &popt);
      Predictor pred(o->model, popt);
      fmt::print("{}\n", pred.describe());
      if (o->limit > 0) limit_images(&gt, static_cast<size_t>(o->limit));
      DatasetRun run = predict_dataset(pred, gt, segm, o->model);
      dt = std::move(run.dt);
      rrep.read = dt.size();
      fmt::print("{}\n", run.speed());
      if (!o->save_json.empty()) write_file_atomic(o->save_json, results_json(dt).dump());
    }
    auto t1 = clock_type::now();
    size_t crowd = 0;
    for (const auto& a : gt.annotations) crowd += a.iscrowd;
    fmt::print("ground truth: {} images, {} categories, {} annotations ({} crowd)\n",
               gt.images.size(), gt.categories.size(), gt.annotations.size(), crowd);
    fmt::print("results: {} detections\n", rrep.read);
    if (rrep.unknown_category)
      fmt::print(
          "warning: {} detections have a category_id that is not in the ground truth; "
          "they are not evaluated\n",
          rrep.unknown_category);
    auto name_of = [&](int64_t id) {
      for (const auto& c : gt.categories)
        if (c.id == id) return c.name;
      return std::string();
    };
    if (o->metric != "coco") {
      // Pascal VOC AP per class; boxes back to VOC's inclusive 1-based pixels.
      std::vector<int64_t> ids;
      for (const auto& c : gt.categories) ids.push_back(c.id);
      std::sort(ids.begin(), ids.end());
      auto voc = [](const BoxXYWH& b) { return VocBox{b.x + 1, b.y + 1, b.x + b.w, b.y + b.h}; };
      double sum = 0;
      int n = 0;
      fmt::print("\n{:>6}  {:<24} {:>8} {:>7} {:>7}\n", "id", "category", "AP", "gt", "dt");
      for (int64_t id : ids) {
        std::vector<VocGroundTruth> g;
        std::vector<VocDetection> d;
        for (const auto& a : gt.annotations)
          if (a.category_id == id) g.push_back({a.image_id, voc(a.bbox), a.difficult || a.iscrowd});
        for (const auto& a : dt)
          if (a.category_id == id) d.push_back({a.image_id, a.score, voc(a.bbox)});
        VocApResult r = voc_ap(g, d);
        if (r.num_positives == 0) continue;
        double ap = o->metric == "voc07" ? r.ap07 : r.ap;
        sum += ap;
        ++n;
        fmt::print("{:>6}  {:<24} {:>8.4f} {:>7} {:>7}\n", id, name_of(id).substr(0, 24), ap,
                   r.num_positives, d.size());
      }
      fmt::print("mAP@0.5 ({}): {:.4f} over {} classes with ground truth\n",
                 o->metric == "voc07" ? "VOC2007 11-point" : "VOC2010+ all-point",
                 n ? sum / n : 0.0, n);
      if (!o->json.empty())
        write_file_atomic(o->json, fmt::format("{{\"mAP50\": {:.17g}}}\n", n ? sum / n : 0.0));
      return 0;
    }
    CocoEvalResult r = evaluate_coco(gt, dt, segm ? CocoIouType::segm : CocoIouType::bbox);
    auto t2 = clock_type::now();
    for (const auto& line : coco_summary_lines(r)) fmt::print("{}\n", line);
    if (o->per_class) {
      fmt::print("\n{:>6}  {:<24} {:>7} {:>7} {:>7} {:>7} {:>7}\n", "id", "category", "AP", "AP50",
                 "AP75", "gt", "dt");
      for (size_t k = 0; k < r.K; ++k) {
        size_t ngt = 0, ndt = 0;
        for (const auto& a : gt.annotations) ngt += a.category_id == r.cat_ids[k] && !a.iscrowd;
        for (const auto& a : dt) ndt += a.category_id == r.cat_ids[k];
        auto fmt_ap = [](double v) {
          return v < 0 ? std::string("    -") : fmt::format("{:.4f}", v);
        };
        fmt::print("{:>6}  {:<24} {:>7} {:>7} {:>7} {:>7} {:>7}\n", r.cat_ids[k],
                   name_of(r.cat_ids[k]).substr(0, 24),
                   fmt_ap(r.mean_precision(-1, static_cast<int>(k), 0, r.M - 1)),
                   fmt_ap(r.mean_precision(0, static_cast<int>(k), 0, r.M - 1)),
                   fmt_ap(r.mean_precision(5, static_cast<int>(k), 0, r.M - 1)), ngt, ndt);
      }
    }
    fmt::print("time: load{} {:.3f} s, evaluate+accumulate+summarize {:.3f} s\n",
               o->model.empty() ? "" : "+inference", secs(t0, t1), secs(t1, t2));
    if (!o->json.empty()) {
      std::string j = "{";
      for (int i = 0; i < 12; ++i)
        j += fmt::format("{}\"{}\": {:.17g}", i ? ", " : "", kCocoStatNames[i],
                         r.stats[static_cast<size_t>(i)]);
      write_file_atomic(o->json, j + "}\n");
    }
    if (!o->plot.empty()) write_pr_svg(o->plot, r);
    return 0;
  };
}

}  // namespace visionrt::cli
