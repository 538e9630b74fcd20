// End-to-end evaluation helpers (dataset_eval.hpp).
#include "dataset_eval.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <opencv2/imgcodecs.hpp>

#include "cli_util.hpp"
#include "common/file_io.hpp"
#include "data/image_io.hpp"
#include "geometry/rle.hpp"
#include "visionrt/error.hpp"

namespace visionrt::cli {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

void rasterize(CocoDataset* d) {
  for (auto& a : d->annotations) {
    if (a.has_mask) continue;
    if (a.polygons.empty())
      throw InputError(
          fmt::format("{}: annotation {} has no segmentation; segm evaluation "
                      "needs polygons or masks for every object",
                      d->path, a.id));
    const CocoImage* im = d->find_image(a.image_id);
    std::vector<Rle> parts;
    for (const auto& p : a.polygons)
      parts.push_back(
          rle_from_polygon(p, static_cast<uint32_t>(im->height), static_cast<uint32_t>(im->width)));
    a.mask = rle_merge(parts);
    a.has_mask = true;
  }
}

std::vector<int64_t> class_map(const std::vector<std::string>& model_names, const CocoDataset& d,
                               const std::string& model, bool quiet) {
  std::vector<CocoCategory> cats = d.categories;
  std::sort(cats.begin(), cats.end(), [](auto& a, auto& b) { return a.id < b.id; });
  std::vector<int64_t> map(model_names.size(), -1);
  size_t by_name = 0;
  for (size_t i = 0; i < model_names.size(); ++i)
    for (const auto& c : cats)
      if (lower(c.name) == lower(model_names[i])) {
        map[i] = c.id;
        ++by_name;
        break;
      }
  if (by_name == cats.size() || (by_name > 0 && by_name == model_names.size())) return map;
  if (model_names.size() == cats.size()) {
    for (size_t i = 0; i < cats.size(); ++i) map[i] = cats[i].id;
    if (!quiet)
      fmt::print("note: model and dataset class names differ; classes matched by position\n");
    return map;
  }
  throw InputError(
      fmt::format("{}: its {} classes match {} of the dataset's {} categories by name; "
                  "give --names so they agree",
                  model, model_names.size(), by_name, cats.size()));
}

CocoDataset load_ground_truth(const EvalData& e) {
  std::string fmt_name = e.format.empty() ? guess_dataset_format(e.data) : e.format;
  DatasetReadOptions ro;
  ro.images_dir = e.images;
  ro.strict = e.strict;
  if (!e.names_file.empty()) ro.names = read_names_list(e.names_file);
  DatasetReport rep;
  CocoDataset gt = read_dataset(parse_dataset_format(fmt_name), e.data, ro, &rep);
  if (!e.quiet) {
    fmt::print("dataset {} ({}): {}", e.data, fmt_name, rep.summary());
    for (const auto& f : rep.findings) fmt::print("  {}\n", f);
  }
  if (!e.split.empty()) gt = select_split(gt, e.split);
  if (e.limit > 0) limit_images(&gt, e.limit);
  if (e.segm) rasterize(&gt);
  return gt;
}

CocoDataset select_split(const CocoDataset& gt, const std::string& split) {
  CocoDataset part;
  part.path = gt.path;
  part.categories = gt.categories;
  for (const auto& im : gt.images)
    if (im.split == split) part.images.push_back(im);
  if (part.images.empty())
    throw InputError(fmt::format("{}: no images in split '{}'", gt.path, split));
  for (size_t i = 0; i < part.images.size(); ++i) part.image_index[part.images[i].id] = i;
  for (const auto& a : gt.annotations)
    if (part.find_image(a.image_id)) part.annotations.push_back(a);
  return part;
}

bool has_split(const CocoDataset& gt, const std::string& split) {
  for (const auto& im : gt.images)
    if (im.split == split) return true;
  return false;
}

void limit_images(CocoDataset* d, size_t n) {
  if (n >= d->images.size()) return;
  d->images.resize(n);
  d->image_index.clear();
  for (size_t i = 0; i < n; ++i) d->image_index[d->images[i].id] = i;
  std::vector<CocoAnnotation> kept;
  for (auto& a : d->annotations)
    if (d->find_image(a.image_id)) kept.push_back(std::move(a));
  d->annotations = std::move(kept);
}

PredictOptions validation_options() {
  PredictOptions p;
  p.conf = 0.001f;
  p.iou = 0.7f;
  p.max_det = 300;
  p.multi_label = true;
  return p;
}

std::string DatasetRun::speed() const {
  const double n = static_cast<double>(std::max<size_t>(images, 1));
  return fmt::format(
      "speed: {:.1f} ms preprocess, {:.1f} ms inference, {:.1f} ms postprocess per image "
      "({} images)",
      preprocess_ms / n, inference_ms / n, postprocess_ms / n, images);
}

DatasetRun predict_dataset(Predictor& pred, const CocoDataset& gt, bool segm,
                           const std::string& model, bool quiet) {
  if (pred.task() != Task::detect && pred.task() != Task::segment)
    throw InputError(fmt::format("{}: a {} model; eval measures detection and segmentation", model,
                                 task_name(pred.task())));
  if (segm && pred.task() != Task::segment)
    throw InputError(fmt::format("{}: --iou-type segm needs a segmentation model", model));
  const std::vector<int64_t> cmap = class_map(pred.names(), gt, model, quiet);
  DatasetRun run;
  std::vector<CocoAnnotation>& dt = run.dt;
  const size_t n = gt.images.size();
  for (size_t i = 0; i < n; ++i) {
    const CocoImage& im = gt.images[i];
    const std::string path = im.path.empty() ? im.file_name : im.path;
    cv::Mat img = read_image(path);
    Prediction p = pred.predict(img);
    run.preprocess_ms += p.preprocess_ms;
    run.inference_ms += p.inference_ms;
    run.postprocess_ms += p.postprocess_ms;
    for (const Detection& d : p.detections) {
      if (d.class_id < 0 || d.class_id >= static_cast<int>(cmap.size()) || cmap[d.class_id] < 0)
        continue;
      CocoAnnotation a;
      a.id = static_cast<int64_t>(dt.size()) + 1;
      a.image_id = im.id;
      a.category_id = cmap[d.class_id];
      a.bbox = {d.x1, d.y1, d.x2 - d.x1, d.y2 - d.y1};
      a.area = a.bbox.w * a.bbox.h;
      a.score = d.score;
      if (segm) {
        cv::Mat m(img.size(), CV_8UC1, cv::Scalar(0));
        if (!d.mask.empty()) d.mask.copyTo(m(d.mask_roi));
        a.mask = rle_encode(std::vector<uint8_t>(m.data, m.data + m.total()),
                            static_cast<uint32_t>(m.rows), static_cast<uint32_t>(m.cols));
        a.has_mask = true;
        a.area = static_cast<double>(rle_area(a.mask));
      }
      dt.push_back(std::move(a));
    }
    ++run.images;
    if (!quiet) print_progress("  predicting", i + 1, n);
  }
  return run;
}

}  // namespace visionrt::cli
