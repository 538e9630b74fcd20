// YOLO datasets (see dataset.hpp): data.yaml through yaml-cpp or an images/ + labels/ folder,
// label files through yolo_labels; written as boxes or segments (mask contours through OpenCV).
#include "data/dataset_internal.hpp"

#include <yaml-cpp/yaml.h>
#include <algorithm>
#include <filesystem>
#include <map>
#include <opencv2/imgproc.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/file_io.hpp"
#include "common/strings.hpp"
#include "data/yolo_labels.hpp"
#include "geometry/polygon.hpp"
#include "geometry/rle.hpp"
#include "visionrt/error.hpp"

namespace visionrt {
namespace data_detail {

namespace {

struct YoloSource {
  fs::path root;
  std::vector<std::pair<std::string, std::vector<fs::path>>> splits;  // name -> images
  std::vector<std::string> names;
};

std::vector<fs::path> yolo_split_images(const fs::path& root, const YAML::Node& entry,
                                        const std::string& yaml) {
  std::vector<fs::path> out;
  std::vector<std::string> items;
  if (entry.IsSequence()) {
    for (const auto& e : entry) items.push_back(e.as<std::string>());
  } else if (entry.IsScalar()) {
    items.push_back(entry.as<std::string>());
  } else {
    throw InputError(str_cat(yaml, ": a split must be a path or a list of paths"));
  }
  for (const auto& it : items) {
    fs::path p = fs::path(it).is_absolute() ? fs::path(it) : root / it;
    if (fs::is_directory(p)) {
      for (const auto& f : images_in(p)) out.push_back(f);
    } else if (fs::is_regular_file(p) && p.extension() == ".txt") {
      std::string text = read_file(p.string());
      size_t a = 0;
      while (a < text.size()) {
        size_t b = text.find('\n', a);
        if (b == std::string::npos) b = text.size();
        std::string line = trim_copy(text.substr(a, b - a));
        a = b + 1;
        if (line.empty()) continue;
        fs::path f = fs::path(line).is_absolute() ? fs::path(line) : root / line;
        out.push_back(f);
      }
    } else {
      throw InputError(str_cat(yaml, ": split path ", p.string(), " does not exist"));
    }
  }
  return out;
}

YoloSource yolo_source(const std::string& src, const DatasetReadOptions& opt) {
  YoloSource s;
  fs::path p(src);
  if (fs::is_regular_file(p) && (p.extension() == ".yaml" || p.extension() == ".yml")) {
    YAML::Node y;
    try {
      y = YAML::Load(read_file(src));
    } catch (const YAML::Exception& e) {
      throw InputError(str_cat(src, ": malformed YAML: ", e.what()));
    }
    if (!y.IsMap())
      throw InputError(str_cat(src, ": expected a mapping (path, train, val, names)"));
    try {
      s.root = p.parent_path();
      if (y["path"] && y["path"].IsScalar()) {
        fs::path r = y["path"].as<std::string>();
        s.root = r.is_absolute() ? r : p.parent_path() / r;
      }
      for (const char* split : {"train", "val", "test"})
        if (y[split] && !y[split].IsNull())
          s.splits.push_back({split, yolo_split_images(s.root, y[split], src)});
      const YAML::Node names = y["names"];
      if (names && names.IsSequence()) {
        for (const auto& n : names) s.names.push_back(n.as<std::string>());
      } else if (names && names.IsMap()) {
        std::map<int, std::string> m;
        for (const auto& kv : names) m[kv.first.as<int>()] = kv.second.as<std::string>();
        int expect = 0;
        for (const auto& [k, v] : m) {
          if (k != expect++) throw InputError(str_cat(src, ": names must be numbered 0..N-1"));
          s.names.push_back(v);
        }
      } else {
        throw InputError(str_cat(src, ": no 'names' list"));
      }
      if (y["nc"] && y["nc"].as<size_t>() != s.names.size())
        throw InputError(
            str_cat(src, ": nc ", y["nc"].as<size_t>(), " but ", s.names.size(), " names"));
    } catch (const YAML::Exception& e) {
      throw InputError(str_cat(src, ": ", e.what()));
    }
    if (s.splits.empty()) throw InputError(str_cat(src, ": no train, val or test split"));
  } else if (fs::is_directory(p)) {
    s.root = p;
    fs::path images = p / "images";
    if (!fs::is_directory(images))
      throw InputError(
          str_cat(src, ": a YOLO dataset folder needs images/ (and labels/), or give data.yaml"));
    for (const auto& e : fs::directory_iterator(images))
      if (e.is_directory()) {
        auto imgs = images_in(e.path());
        if (!imgs.empty()) s.splits.push_back({e.path().filename().string(), imgs});
      }
    std::sort(s.splits.begin(), s.splits.end());
    auto flat = images_in(images);
    if (!flat.empty()) s.splits.push_back({"all", flat});
    if (s.splits.empty()) throw InputError(str_cat(src, ": images/ holds no images"));
    s.names = opt.names;
  } else {
    throw InputError(str_cat(src, ": neither a data.yaml nor a YOLO dataset folder"));
  }
  if (!opt.names.empty()) s.names = opt.names;
  return s;
}

// Ultralytics' img2label_paths: the last /images/ becomes /labels/, extension .txt.
fs::path label_path(const fs::path& image) {
  std::string s = image.string();
  size_t k = s.rfind("/images/");
  if (k != std::string::npos) s.replace(k, 8, "/labels/");
  return fs::path(s).replace_extension(".txt");
}

}  // namespace

CocoDataset read_yolo(const std::string& src, const DatasetReadOptions& opt, DatasetReport* rep) {
  YoloSource s = yolo_source(src, opt);
  CocoDataset d;
  d.path = src;
  struct Pending {
    size_t image;
    std::vector<YoloObject> objs;
    std::string label;
  };
  std::vector<Pending> pending;
  int max_cls = -1;
  for (const auto& [split, images] : s.splits)
    for (const auto& img : images) {
      if (!fs::exists(img)) {
        ++rep->missing_images;
        rep->note(str_cat(img.string(), ": listed in ", split, " but does not exist; dropped"));
        continue;
      }
      CocoImage im;
      im.file_name = img.filename().string();
      im.path = img.string();
      im.split = split;
      image_size(im.path, &im.width, &im.height);
      YoloReadReport yr;
      bool missing = false;
      fs::path lab = label_path(img);
      auto objs = read_yolo_labels(lab.string(), &yr, &missing);
      rep->boxes_clipped += yr.clipped;
      rep->duplicates += yr.duplicates;
      rep->boxes_dropped += yr.degenerate;
      if (yr.clipped)
        rep->note(str_cat(lab.string(), ": ", yr.clipped, " object(s) outside 0..1, clipped"));
      if (yr.duplicates)
        rep->note(str_cat(lab.string(), ": ", yr.duplicates, " duplicate line(s) dropped"));
      if (missing || objs.empty()) ++rep->images_without_labels;
      for (const auto& o : objs) max_cls = std::max(max_cls, o.cls);
      pending.push_back({d.images.size(), std::move(objs), lab.string()});
      d.images.push_back(im);
    }
  std::vector<std::string> names = s.names;
  if (names.empty()) {
    for (int i = 0; i <= max_cls; ++i) names.push_back(std::to_string(i));
    rep->note(str_cat(src, ": no class names (data.yaml or --names); classes are named by id"));
  }
  // Ids by file stem need unique stems; data from several splits may repeat them.
  assign_image_ids(&d);
  set_categories(&d, names);
  int64_t ann_id = 0;
  for (auto& p : pending) {
    const CocoImage& im = d.images[p.image];
    const double w = static_cast<double>(im.width), h = static_cast<double>(im.height);
    for (const auto& o : p.objs) {
      if (o.cls >= static_cast<int>(names.size())) {
        ++rep->unknown_classes;
        rep->note(str_cat(p.label, ": class ", o.cls, " is beyond the ", names.size(),
                          " names; dropped"));
        continue;
      }
      CocoAnnotation a;
      a.id = ++ann_id;
      a.image_id = im.id;
      a.category_id = d.categories[o.cls].id;
      a.bbox = {(o.cx - o.w / 2) * w, (o.cy - o.h / 2) * h, o.w * w, o.h * h};
      if (!o.polygon.empty()) {
        std::vector<double> xy;
        for (size_t i = 0; i + 1 < o.polygon.size(); i += 2)
          xy.insert(xy.end(), {o.polygon[i] * w, o.polygon[i + 1] * h});
        a.polygons.push_back(std::move(xy));
        a.area = polygon_area(a.polygons, im.width, im.height);
      } else {
        a.area = a.bbox.w * a.bbox.h;
      }
      d.annotations.push_back(std::move(a));
    }
  }
  return d;
}

namespace {

// Polygons of a mask: outer contours, at least 3 points each.
std::vector<std::vector<double>> mask_polygons(const Rle& r) {
  std::vector<uint8_t> dense = rle_decode(r);
  cv::Mat m(static_cast<int>(r.h), static_cast<int>(r.w), CV_8UC1, dense.data());
  std::vector<std::vector<cv::Point>> cs;
  cv::findContours(m.clone(), cs, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
  std::vector<std::vector<double>> out;
  for (const auto& c : cs) {
    if (c.size() < 3) continue;
    std::vector<double> xy;
    for (const auto& p : c) xy.insert(xy.end(), {double(p.x), double(p.y)});
    out.push_back(std::move(xy));
  }
  return out;
}

}  // namespace

void write_yolo(const CocoDataset& d, const fs::path& out, const DatasetWriteOptions& opt,
                DatasetReport* rep) {
  std::vector<CocoCategory> cats = d.categories;
  std::sort(cats.begin(), cats.end(), [](auto& a, auto& b) { return a.id < b.id; });
  std::map<int64_t, int> cls;
  for (size_t i = 0; i < cats.size(); ++i) cls[cats[i].id] = static_cast<int>(i);
  // Segments only when every object can have one (Ultralytics uses boxes otherwise).
  bool segments = !d.annotations.empty();
  for (const auto& a : d.annotations)
    if (!a.iscrowd && a.polygons.empty() && !a.has_mask) segments = false;
  std::map<int64_t, std::string> lines;
  for (const auto& a : d.annotations) {
    const CocoImage* im = d.find_image(a.image_id);
    if (a.iscrowd) {
      ++rep->crowd_dropped;
      continue;
    }
    const double w = double(im->width), h = double(im->height);
    std::string line = std::to_string(cls.at(a.category_id));
    if (segments) {
      std::vector<std::vector<double>> parts =
          a.polygons.empty() ? mask_polygons(a.mask) : a.polygons;
      std::vector<double> xy = parts.size() == 1 ? parts[0] : merge_polygon_parts(parts);
      if (xy.size() < 6) {
        ++rep->polygons_dropped;
        rep->note(str_cat("annotation ", a.id, ": segment with fewer than 3 points dropped"));
        continue;
      }
      for (size_t i = 0; i + 1 < xy.size(); i += 2)
        line += " " + fmt_num(std::clamp(xy[i] / w, 0.0, 1.0)) + " " +
                fmt_num(std::clamp(xy[i + 1] / h, 0.0, 1.0));
    } else {
      const BoxXYWH& b = a.bbox;
      line += " " + fmt_num((b.x + b.w / 2) / w) + " " + fmt_num((b.y + b.h / 2) / h) + " " +
              fmt_num(b.w / w) + " " + fmt_num(b.h / h);
    }
    lines[a.image_id] += line + "\n";
  }
  NameTable names;
  for (const auto& split : split_names(d)) {
    fs::create_directories(out / "images" / split);
    fs::create_directories(out / "labels" / split);
  }
  for (const auto& im : d.images) {
    std::string split = im.split.empty() ? "all" : im.split;
    std::string name = names.take(split, im.file_name);
    if (opt.copy_images) place_image(im.path, out / "images" / split / name);
    write_text(out / "labels" / split / (fs::path(name).stem().string() + ".txt"), lines[im.id]);
  }
  YAML::Emitter y;
  y << YAML::BeginMap << YAML::Key << "path" << YAML::Value << ".";
  for (const auto& split : split_names(d))
    y << YAML::Key << (split == "all" ? "train" : split) << YAML::Value << ("images/" + split);
  y << YAML::Key << "nc" << YAML::Value << cats.size();
  y << YAML::Key << "names" << YAML::Value << YAML::BeginMap;
  for (size_t i = 0; i < cats.size(); ++i) y << YAML::Key << i << YAML::Value << cats[i].name;
  y << YAML::EndMap << YAML::EndMap;
  write_text(out / "data.yaml", std::string(y.c_str()) + "\n");
}

}  // namespace data_detail
}  // namespace visionrt
