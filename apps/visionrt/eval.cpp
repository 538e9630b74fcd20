// `visionrt eval --gt instances.json --dt results.json`: COCO evaluation with pycocotools'
// semantics; prints the 12-line summary in pycocotools' layout and a per-class table, and with
// --json writes the 12 stats at full precision.
#include <fmt/core.h>

#include <chrono>

#include "commands.hpp"
#include "common/file_io.hpp"
#include "eval/coco_eval.hpp"
#include "visionrt/error.hpp"

namespace visionrt::cli {

std::function<int()> add_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "eval", "Evaluate detections against ground truth (COCO, pycocotools-exact)");
  struct Opts {
    std::string gt, dt, iou_type = "bbox", json;
    bool per_class = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--gt", o->gt, "COCO instances file (.json or .json.gz)")->required();
  cmd->add_option(
         "--dt", o->dt,
         "COCO results file: a list of {image_id, category_id, score, bbox or segmentation}")
      ->required();
  cmd->add_option("--iou-type", o->iou_type, "bbox (boxes) or segm (masks: polygons/RLE)")
      ->check(CLI::IsMember({"bbox", "segm"}));
  cmd->add_option("--json", o->json,
                  "Write the 12 stats at full precision as JSON (AP, AP50, AP75, APs, APm, APl, "
                  "AR1, AR10, AR100, ARs, ARm, ARl)");
  cmd->add_flag("--per-class", o->per_class, "Print a per-class AP table");
  return [o]() {
    using clock = std::chrono::steady_clock;
    auto t0 = clock::now();
    const bool segm = o->iou_type == "segm";
    CocoDataset gt = read_coco_instances(o->gt, segm);
    CocoResultsReport rep;
    std::vector<CocoAnnotation> dt = read_coco_results(o->dt, gt, &rep, segm);
    auto t1 = clock::now();
    size_t crowd = 0;
    for (const auto& a : gt.annotations) crowd += a.iscrowd;
    fmt::print("ground truth: {} images, {} categories, {} annotations ({} crowd)\n",
               gt.images.size(), gt.categories.size(), gt.annotations.size(), crowd);
    fmt::print("results: {} detections\n", rep.read);
    if (rep.unknown_category)
      fmt::print(
          "warning: {} detections have a category_id that is not in the ground truth; "
          "they are not evaluated\n",
          rep.unknown_category);
    CocoEvalResult r = evaluate_coco(gt, dt, segm ? CocoIouType::segm : CocoIouType::bbox);
    auto t2 = clock::now();
    for (const auto& line : coco_summary_lines(r)) fmt::print("{}\n", line);
    if (o->per_class) {
      fmt::print("\n{:>6}  {:<24} {:>7} {:>7} {:>7} {:>7} {:>7}\n", "id", "category", "AP", "AP50",
                 "AP75", "gt", "dt");
      for (size_t k = 0; k < r.K; ++k) {
        size_t ngt = 0, ndt = 0;
        for (const auto& a : gt.annotations) ngt += a.category_id == r.cat_ids[k] && !a.iscrowd;
        for (const auto& a : dt) ndt += a.category_id == r.cat_ids[k];
        std::string name;
        for (const auto& c : gt.categories)
          if (c.id == r.cat_ids[k]) name = c.name;
        auto fmt_ap = [](double v) {
          return v < 0 ? std::string("    -") : fmt::format("{:.4f}", v);
        };
        fmt::print("{:>6}  {:<24} {:>7} {:>7} {:>7} {:>7} {:>7}\n", r.cat_ids[k],
                   name.substr(0, 24),
                   fmt_ap(r.mean_precision(-1, static_cast<int>(k), 0, r.M - 1)),
                   fmt_ap(r.mean_precision(0, static_cast<int>(k), 0, r.M - 1)),
                   fmt_ap(r.mean_precision(5, static_cast<int>(k), 0, r.M - 1)), ngt, ndt);
      }
    }
    auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
    fmt::print("time: load {:.3f} s, evaluate+accumulate+summarize {:.3f} s\n", secs(t0, t1),
               secs(t1, t2));
    if (!o->json.empty()) {
      std::string j = "{";
      for (int i = 0; i < 12; ++i)
        j += fmt::format("{}\"{}\": {:.17g}", i ? ", " : "", kCocoStatNames[i],
                         r.stats[static_cast<size_t>(i)]);
      write_file_atomic(o->json, j + "}\n");
    }
    return 0;
  };
}

}  // namespace visionrt::cli
