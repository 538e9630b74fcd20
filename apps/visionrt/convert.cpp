// `visionrt convert --from coco|voc|yolo --to coco|voc|yolo SRC DST`: dataset conversion through
// src/data with a validation report; --strict turns any finding into an error (exit 1, nothing
// written). The source is never modified; DST appears complete or not at all.
#include <fmt/core.h>

#include "commands.hpp"
#include "common/file_io.hpp"
#include "data/dataset.hpp"
#include "visionrt/error.hpp"

namespace visionrt::cli {

std::function<int()> add_convert(CLI::App& app) {
  auto* cmd = app.add_subcommand("convert", "Convert a dataset between COCO, Pascal VOC and YOLO");
  struct Opts {
    std::string from, to, src, dst, images, split, names_file;
    bool strict = false, no_images = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--from", o->from, "Source format")
      ->required()
      ->check(CLI::IsMember({"coco", "voc", "yolo"}));
  cmd->add_option("--to", o->to, "Target format")
      ->required()
      ->check(CLI::IsMember({"coco", "voc", "yolo"}));
  cmd->add_option("src", o->src,
                  "coco: instances JSON; voc: folder with Annotations/; yolo: data.yaml or a "
                  "folder with images/ and labels/")
      ->required();
  cmd->add_option("dst", o->dst, "New output folder (must not exist or be empty)")->required();
  cmd->add_option("--images", o->images, "coco: folder of the images (default: guessed)");
  cmd->add_option("--split", o->split, "coco: split name (default: from instances_<split>.json)");
  cmd->add_option("--names", o->names_file,
                  "Class names, one per line (yolo without data.yaml; VOC class order)");
  cmd->add_flag("--strict", o->strict, "Any finding (missing image, clipped box, ...) is an error");
  cmd->add_flag("--no-images", o->no_images, "Write labels only, do not link or copy the images");
  return [o]() {
    DatasetReadOptions ro;
    ro.images_dir = o->images;
    ro.split = o->split;
    if (!o->names_file.empty()) ro.names = read_names_list(o->names_file);
    DatasetReport rep;
    CocoDataset d = read_dataset(parse_dataset_format(o->from), o->src, ro, &rep);
    fmt::print("read {} ({}): {}", o->src, o->from, rep.summary());
    for (const auto& f : rep.findings) fmt::print("  {}\n", f);
    if (o->strict && rep.any_problem())
      throw InputError(
          fmt::format("{}: --strict: the source has the problems listed above; "
                      "nothing written",
                      o->src));
    DatasetWriteOptions wo;
    wo.copy_images = !o->no_images;
    DatasetReport wrep;
    write_dataset(d, parse_dataset_format(o->to), o->dst, wo, &wrep);
    if (wrep.crowd_dropped || wrep.polygons_dropped || !wrep.findings.empty()) {
      fmt::print("writing {}:\n", o->to);
      if (wrep.crowd_dropped) fmt::print("  {} crowd regions dropped\n", wrep.crowd_dropped);
      if (wrep.polygons_dropped)
        fmt::print("  {} degenerate segments dropped\n", wrep.polygons_dropped);
      for (const auto& f : wrep.findings) fmt::print("  {}\n", f);
    }
    fmt::print("wrote {} ({}): {} images, {} objects, {} classes\n", o->dst, o->to, d.images.size(),
               d.annotations.size() - wrep.crowd_dropped - wrep.polygons_dropped,
               d.categories.size());
    return 0;
  };
}

}  // namespace visionrt::cli
