// Dataset readers and writers for COCO, Pascal VOC and YOLO (see dataset.hpp). XML through
// pugixml, YAML through yaml-cpp, JSON through eval/coco; image sizes from file headers.
#include "data/dataset.hpp"

#include <unistd.h>

#include <yaml-cpp/yaml.h>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <pugixml.hpp>
#include <set>

#include "common/file_io.hpp"
#include "common/strings.hpp"
#include "data/coco_ids.hpp"
#include "data/yolo_labels.hpp"
#include "visionrt/error.hpp"

namespace visionrt {

namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kVoc20 = {
    "aeroplane", "bicycle",     "bird",  "boat",        "bottle", "bus",      "car",
    "cat",       "chair",       "cow",   "diningtable", "dog",    "horse",    "motorbike",
    "person",    "pottedplant", "sheep", "sofa",        "train",  "tvmonitor"};

const std::set<std::string> kImageExt = {".jpg", ".jpeg", ".png", ".bmp", ".webp",
                                         ".tif", ".tiff", ".pgm", ".ppm"};

bool is_image(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return kImageExt.count(e) > 0;
}

std::vector<fs::path> images_in(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file(ec) && is_image(e.path())) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

bool numeric(const std::string& s) {
  return !s.empty() && s.size() <= 15 &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// Assigns image ids: numeric file stems where all are numeric and unique, else 1..N.
void assign_image_ids(CocoDataset* d) {
  std::set<int64_t> seen;
  bool ok = true;
  for (const auto& im : d->images) {
    std::string stem = fs::path(im.file_name).stem().string();
    if (!numeric(stem) || !seen.insert(std::stoll(stem)).second) {
      ok = false;
      break;
    }
  }
  for (size_t i = 0; i < d->images.size(); ++i)
    d->images[i].id = ok ? std::stoll(fs::path(d->images[i].file_name).stem().string())
                         : static_cast<int64_t>(i + 1);
  d->image_index.clear();
  for (size_t i = 0; i < d->images.size(); ++i) d->image_index[d->images[i].id] = i;
}

// Categories from names: COCO-80 names get COCO's ids, others 1..N.
void set_categories(CocoDataset* d, const std::vector<std::string>& names) {
  const bool coco = is_coco80_names(names);
  d->categories.clear();
  for (size_t i = 0; i < names.size(); ++i)
    d->categories.push_back({coco ? coco80_to_91()[i] : static_cast<int64_t>(i + 1), names[i], ""});
}

// Clips a box to the image; returns false (count dropped) when nothing is left.
bool clip_box(BoxXYWH* b, int64_t w, int64_t h, DatasetReport* rep, const std::string& where) {
  double x1 = b->x, y1 = b->y, x2 = b->x + b->w, y2 = b->y + b->h;
  const double eps = 1e-6;
  if (w > 0 && h > 0 && (x1 < -eps || y1 < -eps || x2 > w + eps || y2 > h + eps)) {
    ++rep->boxes_clipped;
    rep->note(str_cat(where, ": box [", b->x, ", ", b->y, ", ", b->w, ", ", b->h,
                      "] extends outside the ", w, "x", h, " image; clipped"));
    x1 = std::clamp(x1, 0.0, double(w));
    x2 = std::clamp(x2, 0.0, double(w));
    y1 = std::clamp(y1, 0.0, double(h));
    y2 = std::clamp(y2, 0.0, double(h));
  }
  *b = {x1, y1, x2 - x1, y2 - y1};
  if (!(b->w > 0) || !(b->h > 0)) {
    ++rep->boxes_dropped;
    rep->note(str_cat(where, ": empty box dropped"));
    return false;
  }
  return true;
}

double polygon_area(const std::vector<std::vector<double>>& polys, int64_t w, int64_t h) {
  std::vector<Rle> parts;
  for (const auto& p : polys)
    parts.push_back(rle_from_polygon(p, static_cast<uint32_t>(h), static_cast<uint32_t>(w)));
  return static_cast<double>(rle_area(rle_merge(parts)));
}

std::string fmt_num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// ---- COCO ----
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

// ---- YOLO ----
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

// ---- Pascal VOC ----
double xml_number(const pugi::xml_node& n, const char* child, const std::string& where, bool* ok) {
  pugi::xml_node c = n.child(child);
  std::string t = trim_copy(c.text().as_string());
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  if (!c || t.empty() || *end || !std::isfinite(v)) {
    *ok = false;
    return 0;
  }
  (void)where;
  return v;
}

CocoDataset read_voc(const std::string& src, const DatasetReadOptions& opt, DatasetReport* rep) {
  fs::path root(src);
  fs::path ann_dir = root / "Annotations";
  if (!fs::is_directory(ann_dir))
    throw InputError(str_cat(src, ": a Pascal VOC folder needs Annotations/ (and JPEGImages/)"));
  std::vector<fs::path> xmls;
  for (const auto& e : fs::directory_iterator(ann_dir))
    if (e.path().extension() == ".xml") xmls.push_back(e.path());
  std::sort(xmls.begin(), xmls.end());
  if (xmls.empty()) throw InputError(str_cat(ann_dir.string(), ": no .xml annotation files"));
  // Splits from ImageSets/Main/{train,val,test}.txt (trainval where train/val are absent).
  std::map<std::string, std::string> split_of;
  for (const char* split : {"train", "val", "test", "trainval"}) {
    fs::path f = root / "ImageSets" / "Main" / (std::string(split) + ".txt");
    if (!fs::exists(f)) continue;
    std::string text = read_file(f.string());
    size_t a = 0;
    while (a < text.size()) {
      size_t b = text.find('\n', a);
      if (b == std::string::npos) b = text.size();
      std::string id = trim_copy(text.substr(a, b - a));
      a = b + 1;
      if (!id.empty()) split_of.emplace(id, split);
    }
  }
  struct Obj {
    std::string name;
    BoxXYWH box;
    bool difficult, truncated;
  };
  CocoDataset d;
  d.path = src;
  std::vector<std::vector<Obj>> objs;
  std::set<std::string> seen_names;
  for (const auto& x : xmls) {
    pugi::xml_document doc;
    pugi::xml_parse_result r = doc.load_file(x.c_str());
    if (!r)
      throw InputError(
          str_cat(x.string(), ": malformed XML at byte ", r.offset, ": ", r.description()));
    pugi::xml_node a = doc.child("annotation");
    if (!a) throw InputError(str_cat(x.string(), ": no <annotation> root element"));
    CocoImage im;
    im.file_name = trim_copy(a.child("filename").text().as_string());
    if (im.file_name.empty()) im.file_name = x.stem().string() + ".jpg";
    im.path = (root / "JPEGImages" / im.file_name).string();
    std::string id = x.stem().string();
    im.split = split_of.count(id) ? split_of[id] : "all";
    if (!fs::exists(im.path)) {
      ++rep->missing_images;
      rep->note(str_cat(x.string(), ": image ", im.path, " does not exist; dropped"));
      continue;
    }
    bool ok = true;
    pugi::xml_node size = a.child("size");
    im.width = static_cast<int64_t>(xml_number(size, "width", x.string(), &ok));
    im.height = static_cast<int64_t>(xml_number(size, "height", x.string(), &ok));
    if (!ok || im.width <= 0 || im.height <= 0) image_size(im.path, &im.width, &im.height);
    std::vector<Obj> list;
    int k = 0;
    for (pugi::xml_node o : a.children("object")) {
      ++k;
      std::string where = str_cat(x.string(), ": object ", k);
      std::string name = trim_copy(o.child("name").text().as_string());
      if (name.empty()) throw InputError(str_cat(where, ": no <name>"));
      pugi::xml_node bb = o.child("bndbox");
      bool good = true;
      double x1 = xml_number(bb, "xmin", where, &good), y1 = xml_number(bb, "ymin", where, &good);
      double x2 = xml_number(bb, "xmax", where, &good), y2 = xml_number(bb, "ymax", where, &good);
      if (!bb || !good)
        throw InputError(
            str_cat(where, " ('", name, "'): <bndbox> needs numeric xmin, ymin, xmax, ymax"));
      // VOC pixel indices are 1-based: x = xmin - 1 (as Ultralytics' VOC converter).
      Obj ob{name,
             {x1 - 1, y1 - 1, x2 - x1, y2 - y1},
             o.child("difficult").text().as_int() != 0,
             o.child("truncated").text().as_int() != 0};
      if (!clip_box(&ob.box, im.width, im.height, rep, where)) continue;
      seen_names.insert(name);
      list.push_back(ob);
    }
    if (list.empty()) ++rep->images_without_labels;
    objs.push_back(std::move(list));
    d.images.push_back(im);
  }
  std::vector<std::string> names = opt.names;
  if (names.empty()) {
    bool voc = std::all_of(seen_names.begin(), seen_names.end(), [](const std::string& n) {
      return std::find(kVoc20.begin(), kVoc20.end(), n) != kVoc20.end();
    });
    names = voc ? kVoc20 : std::vector<std::string>(seen_names.begin(), seen_names.end());
  }
  assign_image_ids(&d);
  set_categories(&d, names);
  int64_t ann_id = 0;
  for (size_t i = 0; i < d.images.size(); ++i)
    for (const auto& o : objs[i]) {
      auto it = std::find(names.begin(), names.end(), o.name);
      if (it == names.end()) {
        ++rep->unknown_classes;
        rep->note(
            str_cat(d.images[i].file_name, ": class '", o.name, "' is not in the names; dropped"));
        continue;
      }
      CocoAnnotation a;
      a.id = ++ann_id;
      a.image_id = d.images[i].id;
      a.category_id = d.categories[it - names.begin()].id;
      a.bbox = o.box;
      a.area = o.box.w * o.box.h;
      a.difficult = o.difficult;
      a.truncated = o.truncated;
      d.annotations.push_back(a);
    }
  return d;
}

// ---- writing ----
void place_image(const std::string& src, const fs::path& dst) {
  std::error_code ec;
  fs::create_hard_link(src, dst, ec);
  if (!ec) return;
  fs::copy_file(src, dst, fs::copy_options::overwrite_existing, ec);
  if (ec) throw IoError(str_cat(dst.string(), ": cannot copy ", src, ": ", ec.message()));
}

void write_text(const fs::path& p, const std::string& s) {
  std::ofstream f(p, std::ios::binary);
  f << s;
  if (!f) throw IoError(str_cat(p.string(), ": cannot write"));
}

std::vector<std::string> split_names(const CocoDataset& d) {
  std::vector<std::string> s;
  for (const auto& im : d.images)
    if (std::find(s.begin(), s.end(), im.split) == s.end())
      s.push_back(im.split.empty() ? "all" : im.split);
  return s;
}

// Unique output file names per folder; a repeated name gets _2, _3...
struct NameTable {
  std::map<std::string, std::set<std::string>> used;
  std::string take(const std::string& folder, const std::string& name) {
    auto& u = used[folder];
    std::string stem = fs::path(name).stem().string(), ext = fs::path(name).extension().string();
    std::string n = name;
    for (int i = 2; u.count(n); ++i) n = str_cat(stem, "_", i, ext);
    u.insert(n);
    return n;
  }
};

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

void write_voc(const CocoDataset& d, const fs::path& out, const DatasetWriteOptions& opt,
               DatasetReport* rep) {
  fs::create_directories(out / "Annotations");
  fs::create_directories(out / "JPEGImages");
  fs::create_directories(out / "ImageSets" / "Main");
  std::map<int64_t, std::string> cat_name;
  for (const auto& c : d.categories) cat_name[c.id] = c.name;
  std::map<int64_t, std::vector<const CocoAnnotation*>> by_image;
  for (const auto& a : d.annotations) by_image[a.image_id].push_back(&a);
  std::map<std::string, std::string> split_lists;
  NameTable names;
  size_t crowd = 0;
  for (const auto& im : d.images) {
    std::string name = names.take("JPEGImages", im.file_name);
    std::string stem = fs::path(name).stem().string();
    if (opt.copy_images) place_image(im.path, out / "JPEGImages" / name);
    pugi::xml_document doc;
    pugi::xml_node a = doc.append_child("annotation");
    a.append_child("folder").text().set("JPEGImages");
    a.append_child("filename").text().set(name.c_str());
    pugi::xml_node size = a.append_child("size");
    size.append_child("width").text().set(static_cast<long long>(im.width));
    size.append_child("height").text().set(static_cast<long long>(im.height));
    size.append_child("depth").text().set(3);
    a.append_child("segmented").text().set(0);
    for (const CocoAnnotation* an : by_image[im.id]) {
      pugi::xml_node o = a.append_child("object");
      o.append_child("name").text().set(cat_name[an->category_id].c_str());
      o.append_child("pose").text().set("Unspecified");
      o.append_child("truncated").text().set(an->truncated ? 1 : 0);
      // A crowd region is ignored by evaluation, as a difficult VOC object is.
      crowd += an->iscrowd;
      o.append_child("difficult").text().set(an->difficult || an->iscrowd ? 1 : 0);
      pugi::xml_node bb = o.append_child("bndbox");
      bb.append_child("xmin").text().set(fmt_num(an->bbox.x + 1).c_str());
      bb.append_child("ymin").text().set(fmt_num(an->bbox.y + 1).c_str());
      bb.append_child("xmax").text().set(fmt_num(an->bbox.x + an->bbox.w + 1).c_str());
      bb.append_child("ymax").text().set(fmt_num(an->bbox.y + an->bbox.h + 1).c_str());
    }
    if (!doc.save_file((out / "Annotations" / (stem + ".xml")).c_str(), "  "))
      throw IoError(str_cat((out / "Annotations" / (stem + ".xml")).string(), ": cannot write"));
    split_lists[im.split.empty() ? "all" : im.split] += stem + "\n";
  }
  if (crowd) rep->note(str_cat(crowd, " crowd region(s) written as difficult objects"));
  for (const auto& [split, list] : split_lists)
    write_text(out / "ImageSets" / "Main" / (split + ".txt"), list);
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

}  // namespace

DatasetFormat parse_dataset_format(const std::string& s) {
  if (s == "coco") return DatasetFormat::coco;
  if (s == "voc") return DatasetFormat::voc;
  if (s == "yolo") return DatasetFormat::yolo;
  throw InputError(str_cat("dataset format '", s, "' must be coco, voc or yolo"));
}

const char* dataset_format_name(DatasetFormat f) {
  return f == DatasetFormat::coco ? "coco" : f == DatasetFormat::voc ? "voc" : "yolo";
}

void DatasetReport::note(const std::string& what) {
  if (findings.size() < 20) findings.push_back(what);
}

bool DatasetReport::any_problem() const {
  return missing_images || boxes_clipped || boxes_dropped || unknown_classes || unknown_images ||
         duplicates || polygons_dropped || crowd_dropped;
}

std::string DatasetReport::summary() const {
  std::string s = str_cat(images, " images, ", objects, " objects\n");
  auto line = [&](size_t n, const char* what) {
    if (n) s += str_cat("  ", n, " ", what, "\n");
  };
  line(images_without_labels, "images without objects (kept)");
  line(missing_images, "missing images (dropped)");
  line(boxes_clipped, "boxes outside the image (clipped)");
  line(boxes_dropped, "empty or degenerate boxes (dropped)");
  line(unknown_classes, "objects of unknown classes (dropped)");
  line(unknown_images, "objects of undeclared images (dropped)");
  line(duplicates, "duplicates (dropped)");
  line(polygons_dropped, "polygons with fewer than 3 points (dropped)");
  line(crowd_dropped, "crowd regions the target format cannot hold (dropped)");
  return s;
}

CocoDataset read_dataset(DatasetFormat f, const std::string& src, const DatasetReadOptions& opt,
                         DatasetReport* report) {
  DatasetReport local;
  DatasetReport* rep = report ? report : &local;
  if (!fs::exists(src)) throw IoError(str_cat(src, ": no such file or folder"));
  CocoDataset d = f == DatasetFormat::coco  ? read_coco(src, opt, rep)
                  : f == DatasetFormat::voc ? read_voc(src, opt, rep)
                                            : read_yolo(src, opt, rep);
  d.path = src;
  rep->images = d.images.size();
  rep->objects = d.annotations.size();
  if (opt.strict && rep->any_problem())
    throw InputError(str_cat(src, ": --strict and the dataset needed repairs:\n", rep->summary(),
                             rep->findings.empty() ? "" : "first: " + rep->findings[0]));
  return d;
}

void write_dataset(const CocoDataset& d, DatasetFormat f, const std::string& dst_s,
                   const DatasetWriteOptions& opt, DatasetReport* report) {
  DatasetReport local;
  DatasetReport* rep = report ? report : &local;
  fs::path dst = fs::absolute(dst_s).lexically_normal();
  if (dst.filename().empty()) dst = dst.parent_path();
  std::error_code ec;
  if (fs::exists(dst) && !(fs::is_directory(dst) && fs::is_empty(dst)))
    throw IoError(str_cat(dst.string(), ": exists and is not empty; choose a new destination"));
  for (const auto& im : d.images) {
    fs::path src = fs::absolute(im.path).lexically_normal();
    auto rel = src.lexically_relative(dst);
    if (!rel.empty() && *rel.begin() != "..")
      throw IoError(
          str_cat(dst.string(), ": the destination contains source images; choose another"));
  }
  fs::create_directories(dst.parent_path(), ec);
  fs::path tmp =
      dst.parent_path() / (dst.filename().string() + ".tmp-" + std::to_string(::getpid()));
  fs::remove_all(tmp, ec);
  try {
    fs::create_directories(tmp);
    if (f == DatasetFormat::yolo)
      write_yolo(d, tmp, opt, rep);
    else if (f == DatasetFormat::voc)
      write_voc(d, tmp, opt, rep);
    else
      write_coco(d, tmp, opt);
    if (fs::exists(dst)) fs::remove(dst);
    fs::rename(tmp, dst);
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp, ec);
    throw IoError(str_cat(dst.string(), ": ", e.what()));
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

std::vector<double> merge_polygon_parts(const std::vector<std::vector<double>>& parts_in) {
  using Pts = std::vector<std::array<double, 2>>;
  std::vector<Pts> seg;
  for (const auto& p : parts_in) {
    Pts q;
    for (size_t i = 0; i + 1 < p.size(); i += 2) q.push_back({p[i], p[i + 1]});
    if (!q.empty()) seg.push_back(q);
  }
  if (seg.empty()) return {};
  if (seg.size() == 1) {
    std::vector<double> out;
    for (const auto& p : seg[0]) out.insert(out.end(), {p[0], p[1]});
    return out;
  }
  const size_t n = seg.size();
  std::vector<std::vector<size_t>> idx(n);
  for (size_t i = 1; i < n; ++i) {  // closest points of consecutive parts (first minimum)
    double best = INFINITY;
    size_t bi = 0, bj = 0;
    for (size_t a = 0; a < seg[i - 1].size(); ++a)
      for (size_t b = 0; b < seg[i].size(); ++b) {
        double dx = seg[i - 1][a][0] - seg[i][b][0], dy = seg[i - 1][a][1] - seg[i][b][1];
        double d2 = dx * dx + dy * dy;
        if (d2 < best) {
          best = d2;
          bi = a;
          bj = b;
        }
      }
    idx[i - 1].push_back(bi);
    idx[i].push_back(bj);
  }
  std::vector<Pts> s;
  // Forward pass: rotate each part to start at its first bridge point, close it.
  for (size_t i = 0; i < n; ++i) {
    auto& id = idx[i];
    if (id.size() == 2 && id[0] > id[1]) {
      std::reverse(id.begin(), id.end());
      std::reverse(seg[i].begin(), seg[i].end());
    }
    std::rotate(seg[i].begin(), seg[i].begin() + static_cast<long>(id[0]), seg[i].end());
    seg[i].push_back(seg[i][0]);
    if (i == 0 || i == n - 1) {
      s.push_back(seg[i]);
    } else {
      size_t end = id[1] - id[0];
      s.push_back(Pts(seg[i].begin(), seg[i].begin() + static_cast<long>(end + 1)));
    }
  }
  // Backward pass: the rest of each middle part on the way back.
  for (size_t k = n; k-- > 0;) {
    if (k == 0 || k == n - 1) continue;
    size_t nidx = idx[k][1] > idx[k][0] ? idx[k][1] - idx[k][0] : idx[k][0] - idx[k][1];
    s.push_back(Pts(seg[k].begin() + static_cast<long>(nidx), seg[k].end()));
  }
  std::vector<double> out;
  for (const auto& part : s)
    for (const auto& p : part) out.insert(out.end(), {p[0], p[1]});
  return out;
}

void image_size(const std::string& path, int64_t* width, int64_t* height) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw IoError(str_cat(path, ": cannot open the image"));
  unsigned char h[32] = {};
  f.read(reinterpret_cast<char*>(h), sizeof h);
  auto be16 = [](const unsigned char* p) { return (p[0] << 8) | p[1]; };
  auto be32 = [](const unsigned char* p) {
    return (int64_t(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
  };
  if (f.gcount() >= 24 && h[0] == 0x89 && h[1] == 'P' && h[2] == 'N' && h[3] == 'G') {
    *width = be32(h + 16);
    *height = be32(h + 20);
    if (*width > 0 && *height > 0) return;
  } else if (f.gcount() >= 4 && h[0] == 0xFF && h[1] == 0xD8) {
    // JPEG: walk the markers to the first start-of-frame.
    f.clear();
    f.seekg(2);
    unsigned char m[9];
    while (f.read(reinterpret_cast<char*>(m), 4)) {
      if (m[0] != 0xFF) break;
      int marker = m[1], len = be16(m + 2);
      if (marker == 0xFF) {  // fill byte
        f.seekg(-3, std::ios::cur);
        continue;
      }
      if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
        if (!f.read(reinterpret_cast<char*>(m), 5)) break;
        *height = be16(m + 1);
        *width = be16(m + 3);
        if (*width > 0 && *height > 0) return;
        break;
      }
      if (len < 2) break;
      f.seekg(len - 2, std::ios::cur);
    }
  } else if (f.gcount() >= 26 && h[0] == 'B' && h[1] == 'M') {
    auto le32 = [](const unsigned char* p) {
      return int32_t(uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) |
                     (uint32_t(p[3]) << 24));
    };
    *width = le32(h + 18);
    *height = std::abs(le32(h + 22));
    if (*width > 0 && *height > 0) return;
  }
  cv::Mat img = cv::imread(path, cv::IMREAD_UNCHANGED);
  if (img.empty()) throw IoError(str_cat(path, ": cannot read the image (corrupt or unsupported)"));
  *width = img.cols;
  *height = img.rows;
}

}  // namespace visionrt
