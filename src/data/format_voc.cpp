// Pascal VOC datasets (see dataset.hpp): Annotations/*.xml through pugixml, JPEGImages/ and the
// ImageSets/Main/<split>.txt lists.
#include "data/dataset_internal.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <pugixml.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/file_io.hpp"
#include "common/strings.hpp"
#include "visionrt/error.hpp"

namespace visionrt {
namespace data_detail {

namespace {

const std::vector<std::string> kVoc20 = {
    "aeroplane", "bicycle",     "bird",  "boat",        "bottle", "bus",      "car",
    "cat",       "chair",       "cow",   "diningtable", "dog",    "horse",    "motorbike",
    "person",    "pottedplant", "sheep", "sofa",        "train",  "tvmonitor"};

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

}  // namespace

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

}  // namespace data_detail
}  // namespace visionrt
