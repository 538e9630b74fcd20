// COCO instances files as a dataset (see dataset.hpp): read through eval/coco, images found
// next to the JSON; written as annotations/instances_<split>.json + images/<split>/.
#include "data/dataset_internal.hpp"

#include <filesystem>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/strings.hpp"
#include "eval/coco.hpp"
#include "visionrt/error.hpp"

namespace visionrt {
namespace data_detail {

CocoDataset read_coco(const std::string& src, const DatasetReadOptions& opt, DatasetReport* rep) {
  CocoDataset d = read_coco_instances_for_conversion(src, opt.strict);
  {
    const CocoReadReport& r = d.read_report;
    rep->unknown_classes += r.unknown_category;
    rep->unknown_images += r.unknown_image;
    rep->duplicates += r.duplicate_images + r.duplicate_categories + r.duplicate_annotations;
    for (const std::string& f : r.findings) rep->note(str_cat(src, ": ", f));
  }
  fs::path json_dir = fs::path(src).parent_path();
  std::string split = opt.split;
  if (split.empty()) {
    std::string stem = fs::path(src).stem().string();
    if (stem.size() > 4 && stem.substr(stem.size() - 5) == ".json")
      stem = fs::path(stem).stem().string();
    split = stem.rfind("instances_", 0) == 0 ? stem.substr(10) : stem;
  }
  fs::path dir = opt.images_dir;
  if (dir.empty() && !d.images.empty()) {
    const std::string& first = d.images[0].file_name;
    std::vector<fs::path> guesses = {json_dir / split, json_dir.parent_path() / split,
                                     json_dir.parent_path() / "images" / split,
                                     json_dir.parent_path() / "images", json_dir};
    // Then any folder one level below the annotations' folder or its parent (COCO's val2017/).
    std::error_code ec;
    for (const fs::path& base : {json_dir, json_dir.parent_path()})
      for (const auto& e : fs::directory_iterator(base, ec))
        if (e.is_directory(ec)) guesses.push_back(e.path());
    for (const auto& g : guesses)
      if (fs::exists(g / first)) {
        dir = g;
        break;
      }
    if (dir.empty())
      throw InputError(
          str_cat(src, ": cannot find the images (looked for '", first, "' in ",
                  (json_dir / split).string(), ", ", (json_dir.parent_path() / "images").string(),
                  " and the folders next to ", json_dir.string(), "); give --images DIR"));
  }
  std::set<int64_t> dropped;
  std::vector<CocoImage> kept;
  for (auto& im : d.images) {
    im.path = (dir / im.file_name).string();
    im.split = split;
    if (!fs::exists(im.path)) {
      ++rep->missing_images;
      rep->note(str_cat(src, ": image ", im.id, ": ", im.path, " does not exist; dropped"));
      dropped.insert(im.id);
      continue;
    }
    if (im.width <= 0 || im.height <= 0) image_size(im.path, &im.width, &im.height);
    kept.push_back(im);
  }
  d.images = kept;
  d.image_index.clear();
  for (size_t i = 0; i < d.images.size(); ++i) d.image_index[d.images[i].id] = i;
  std::vector<CocoAnnotation> anns;
  for (auto& a : d.annotations) {
    if (dropped.count(a.image_id)) continue;
    const CocoImage* im = d.find_image(a.image_id);
    if (!clip_box(&a.bbox, im->width, im->height, rep, str_cat(src, ": annotation ", a.id)))
      continue;
    anns.push_back(std::move(a));
  }
  d.annotations = std::move(anns);
  return d;
}

void write_coco(const CocoDataset& d, const fs::path& out, const DatasetWriteOptions& opt) {
  fs::create_directories(out / "annotations");
  for (const auto& split : split_names(d)) {
    CocoDataset part;
    part.categories = d.categories;
    std::set<int64_t> ids;
    NameTable names;
    fs::create_directories(out / "images" / split);
    for (const auto& im : d.images)
      if ((im.split.empty() ? "all" : im.split) == split) {
        CocoImage c = im;
        c.file_name = names.take(split, im.file_name);
        if (opt.copy_images) place_image(im.path, out / "images" / split / c.file_name);
        part.images.push_back(c);
        ids.insert(im.id);
      }
    for (const auto& a : d.annotations)
      if (ids.count(a.image_id)) part.annotations.push_back(a);
    write_text(out / "annotations" / ("instances_" + split + ".json"), coco_instances_json(part));
  }
}

}  // namespace data_detail
}  // namespace visionrt
