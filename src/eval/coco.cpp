// COCO instances and results files (see coco.hpp). JSON through nlohmann-json; gzip through zlib.
#include "eval/coco.hpp"

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/file_io.hpp"
#include "common/strings.hpp"
#include "visionrt/error.hpp"

namespace visionrt {

using nlohmann::json;

namespace {

json parse_json(const std::string& text, const std::string& path) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    // parse_error carries the byte offset in its message.
    throw InputError(str_cat(path, ": malformed JSON: ", e.what()));
  }
}

[[noreturn]] void bad(const std::string& path, const std::string& where, const std::string& msg) {
  throw InputError(str_cat(path, ": ", where, ": ", msg));
}

int64_t get_int(const json& o, const char* key, const std::string& path, const std::string& where,
                bool required = true, int64_t def = 0) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) {
    if (required) bad(path, where, str_cat("missing '", key, "'"));
    return def;
  }
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number_float()) {
    double v = it->get<double>();
    if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9e18)
      return static_cast<int64_t>(v);
  }
  if (it->is_boolean()) return it->get<bool>() ? 1 : 0;
  bad(path, where, str_cat("'", key, "' must be an integer, got ", it->dump()));
}

double get_number(const json& o, const char* key, const std::string& path,
                  const std::string& where) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_number())
    bad(path, where, str_cat("missing or non-numeric '", key, "'"));
  return it->get<double>();
}

BoxXYWH get_box(const json& o, const std::string& path, const std::string& where) {
  auto it = o.find("bbox");
  if (it == o.end() || !it->is_array() || it->size() != 4)
    bad(path, where, "'bbox' must be [x, y, w, h]");
  double v[4];
  for (size_t i = 0; i < 4; ++i) {
    if (!(*it)[i].is_number()) bad(path, where, "'bbox' must hold numbers");
    v[i] = (*it)[i].get<double>();
    if (!std::isfinite(v[i])) bad(path, where, "'bbox' holds NaN or infinity");
  }
  if (v[2] < 0 || v[3] < 0) bad(path, where, "'bbox' has a negative width or height");
  return {v[0], v[1], v[2], v[3]};
}

// A COCO segmentation: polygons (merged), uncompressed or compressed RLE.
Rle read_segmentation(const json& seg, int64_t img_h, int64_t img_w, const std::string& path,
                      const std::string& where) {
  if (seg.is_array()) {
    if (img_h <= 0 || img_w <= 0 || img_h > 1 << 20 || img_w > 1 << 20)
      bad(path, where, "polygon segmentation needs the image's height and width");
    std::vector<Rle> parts;
    for (const json& poly : seg) {
      if (!poly.is_array() || poly.size() < 6 || poly.size() % 2)
        bad(path, where, "a polygon needs at least 3 points (6 numbers, x y pairs)");
      std::vector<double> xy;
      for (const json& v : poly) {
        if (!v.is_number() || !std::isfinite(v.get<double>()) || std::fabs(v.get<double>()) > 1e7)
          bad(path, where, "polygon coordinates must be finite numbers");
        xy.push_back(v.get<double>());
      }
      parts.push_back(
          rle_from_polygon(xy, static_cast<uint32_t>(img_h), static_cast<uint32_t>(img_w)));
    }
    if (parts.empty()) bad(path, where, "empty polygon list");
    return rle_merge(parts);
  }
  if (!seg.is_object() || !seg.contains("size") || !seg.contains("counts") ||
      !seg["size"].is_array() || seg["size"].size() != 2 || !seg["size"][0].is_number_integer() ||
      !seg["size"][1].is_number_integer())
    bad(path, where, "segmentation must be polygons or {size: [h, w], counts}");
  const int64_t h = seg["size"][0], w = seg["size"][1];
  if (h < 0 || w < 0 || h > 1 << 20 || w > 1 << 20) bad(path, where, "RLE size out of range");
  const json& counts = seg["counts"];
  try {
    if (counts.is_string())
      return rle_from_string(counts.get<std::string>(), static_cast<uint32_t>(h),
                             static_cast<uint32_t>(w));
  } catch (const InputError& e) {
    bad(path, where, e.what());
  }
  if (!counts.is_array()) bad(path, where, "RLE counts must be a string or a list");
  Rle r;
  r.h = static_cast<uint32_t>(h);
  r.w = static_cast<uint32_t>(w);
  uint64_t total = 0;
  for (const json& c : counts) {
    if (!c.is_number_integer() || c.get<int64_t>() < 0 || c.get<int64_t>() > 0xffffffffLL)
      bad(path, where, "RLE counts must be non-negative integers");
    r.counts.push_back(static_cast<uint32_t>(c.get<int64_t>()));
    total += r.counts.back();
  }
  if (total != static_cast<uint64_t>(h) * static_cast<uint64_t>(w))
    bad(path, where, str_cat("RLE runs cover ", total, " pixels, the mask has ", h * w));
  return r;
}

std::string ann_where(size_t i, const json& a) {
  auto it = a.find("id");
  if (it != a.end() && it->is_number()) return str_cat("annotation ", i, " (id ", it->dump(), ")");
  return str_cat("annotation ", i);
}

}  // namespace

const CocoImage* CocoDataset::find_image(int64_t id) const {
  auto it = image_index.find(id);
  return it == image_index.end() ? nullptr : &images[it->second];
}

CocoDataset read_coco_instances(const std::string& path, bool masks, bool strict) {
  return parse_coco_instances(read_file(path), path, masks, false, strict);
}

std::vector<CocoAnnotation> read_coco_results(const std::string& path, const CocoDataset& gt,
                                              CocoResultsReport* report, bool masks) {
  return parse_coco_results(read_file(path), path, gt, report, masks);
}

CocoDataset read_coco_instances_for_conversion(const std::string& path, bool strict) {
  return parse_coco_instances(read_file(path), path, false, true, strict);
}

bool CocoReadReport::any() const {
  return unknown_image + unknown_category + duplicate_images + duplicate_categories +
             duplicate_annotations >
         0;
}

std::string CocoReadReport::summary() const {
  std::vector<std::string> parts;
  if (unknown_category)
    parts.push_back(str_cat(unknown_category, " annotation(s) of undeclared categories dropped"));
  if (unknown_image)
    parts.push_back(str_cat(unknown_image, " annotation(s) of undeclared images dropped"));
  if (duplicate_images)
    parts.push_back(str_cat(duplicate_images, " repeated image id(s): the last entry kept"));
  if (duplicate_categories)
    parts.push_back(str_cat(duplicate_categories, " repeated category id(s): the last entry kept"));
  if (duplicate_annotations)
    parts.push_back(str_cat(duplicate_annotations,
                            " annotation(s) repeating an id: evaluated as the last with that id"));
  std::string r;
  for (size_t i = 0; i < parts.size(); ++i) r += (i ? "; " : "") + parts[i];
  return r + (r.empty() ? "" : " (as pycocotools; --strict makes these errors)");
}

CocoDataset parse_coco_instances(const std::string& text, const std::string& path, bool masks,
                                 bool keep_segmentation, bool strict) {
  json j = parse_json(text, path);
  if (!j.is_object())
    throw InputError(str_cat(path, ": not a COCO instances file (expected an object)"));
  CocoDataset d;
  d.path = path;
  CocoReadReport rep;
  auto note = [&](const std::string& f) {
    if (rep.findings.size() < 5) rep.findings.push_back(f);
  };
  for (const char* key : {"images", "annotations", "categories"})
    if (!j.contains(key) || !j[key].is_array())
      throw InputError(str_cat(path, ": not a COCO instances file: no '", key, "' list"));
  for (size_t i = 0; i < j["images"].size(); ++i) {
    const json& o = j["images"][i];
    std::string where = str_cat("image ", i);
    if (!o.is_object()) bad(path, where, "not an object");
    CocoImage im;
    im.id = get_int(o, "id", path, where);
    im.width = get_int(o, "width", path, where, false);
    im.height = get_int(o, "height", path, where, false);
    if (o.contains("file_name") && o["file_name"].is_string()) im.file_name = o["file_name"];
    auto [at, fresh] = d.image_index.emplace(im.id, d.images.size());
    if (!fresh) {
      if (strict) bad(path, where, str_cat("duplicate image id ", im.id));
      note(str_cat(where, ": duplicate image id ", im.id, " (the last entry kept)"));
      rep.duplicate_images++;
      d.images[at->second] = im;
      continue;
    }
    d.images.push_back(im);
  }
  std::map<int64_t, size_t> cats;
  for (size_t i = 0; i < j["categories"].size(); ++i) {
    const json& o = j["categories"][i];
    std::string where = str_cat("category ", i);
    if (!o.is_object()) bad(path, where, "not an object");
    CocoCategory c;
    c.id = get_int(o, "id", path, where);
    if (o.contains("name") && o["name"].is_string()) c.name = o["name"];
    if (o.contains("supercategory") && o["supercategory"].is_string())
      c.supercategory = o["supercategory"];
    auto [at, fresh] = cats.emplace(c.id, d.categories.size());
    if (!fresh) {
      if (strict) bad(path, where, str_cat("duplicate category id ", c.id));
      note(str_cat(where, ": duplicate category id ", c.id, " (the last entry kept)"));
      rep.duplicate_categories++;
      d.categories[at->second] = c;
      continue;
    }
    d.categories.push_back(c);
  }
  std::map<int64_t, size_t> ann_ids;
  for (size_t i = 0; i < j["annotations"].size(); ++i) {
    const json& o = j["annotations"][i];
    std::string where = ann_where(i, o);
    if (!o.is_object()) bad(path, where, "not an object");
    CocoAnnotation a;
    a.id = get_int(o, "id", path, where);
    a.image_id = get_int(o, "image_id", path, where);
    a.category_id = get_int(o, "category_id", path, where);
    a.bbox = get_box(o, path, where);
    a.area = get_number(o, "area", path, where);
    if (!std::isfinite(a.area) || a.area < 0)
      bad(path, where, "'area' must be a finite number >= 0");
    a.iscrowd = get_int(o, "iscrowd", path, where, false) != 0;
    if (!d.find_image(a.image_id)) {
      if (strict) bad(path, where, str_cat("image_id ", a.image_id, " is not in 'images'"));
      note(str_cat(where, ": image_id ", a.image_id, " is not in 'images' (dropped)"));
      rep.unknown_image++;
      continue;
    }
    if (!cats.count(a.category_id)) {
      if (strict)
        bad(path, where, str_cat("category_id ", a.category_id, " is not in 'categories'"));
      note(str_cat(where, ": category_id ", a.category_id, " is not in 'categories' (dropped)"));
      rep.unknown_category++;
      continue;
    }
    if (!ann_ids.emplace(a.id, d.annotations.size()).second) {
      if (strict) bad(path, where, str_cat("duplicate annotation id ", a.id));
      note(str_cat(where, ": duplicate annotation id ", a.id,
                   " (every annotation with this id is evaluated as the last one)"));
      rep.duplicate_annotations++;
    }
    if (masks) {
      if (!o.contains("segmentation")) bad(path, where, "no 'segmentation' (segm evaluation)");
      const CocoImage* im = d.find_image(a.image_id);
      a.mask = read_segmentation(o["segmentation"], im->height, im->width, path, where);
      a.has_mask = true;
    } else if (keep_segmentation && o.contains("segmentation") && !o["segmentation"].is_null()) {
      const json& seg = o["segmentation"];
      if (seg.is_array()) {
        for (const json& poly : seg) {
          if (!poly.is_array() || poly.size() < 6 || poly.size() % 2)
            bad(path, where, "a polygon needs at least 3 points (6 numbers, x y pairs)");
          std::vector<double> xy;
          for (const json& v : poly) {
            if (!v.is_number() || !std::isfinite(v.get<double>()))
              bad(path, where, "polygon coordinates must be finite numbers");
            xy.push_back(v.get<double>());
          }
          a.polygons.push_back(std::move(xy));
        }
      } else {
        a.mask = read_segmentation(seg, 0, 0, path, where);
        a.has_mask = true;
      }
    }
    if (keep_segmentation) {
      a.difficult = get_int(o, "difficult", path, where, false) != 0;
      a.truncated = get_int(o, "truncated", path, where, false) != 0;
    }
    ann_ids[a.id] = d.annotations.size();  // the last with this id
    d.annotations.push_back(std::move(a));
  }
  if (rep.duplicate_annotations)
    for (size_t i = 0; i < d.annotations.size(); ++i) {
      const size_t last = ann_ids.at(d.annotations[i].id);
      if (last != i) d.annotations[i] = d.annotations[last];
    }
  d.read_report = std::move(rep);
  return d;
}

std::vector<CocoAnnotation> parse_coco_results(const std::string& text, const std::string& path,
                                               const CocoDataset& gt, CocoResultsReport* report,
                                               bool masks) {
  json j = parse_json(text, path);
  if (!j.is_array())
    throw InputError(
        str_cat(path, ": not a COCO results file (expected a JSON list of detections)"));
  std::map<int64_t, bool> cats;
  for (const auto& c : gt.categories) cats[c.id] = true;
  std::vector<CocoAnnotation> out;
  out.reserve(j.size());
  CocoResultsReport rep;
  // pycocotools' loadRes decides by the first result: a non-empty box means box semantics.
  const bool box_branch = !j.empty() && j[0].is_object() && j[0].contains("bbox") &&
                          j[0]["bbox"].is_array() && !j[0]["bbox"].empty();
  for (size_t i = 0; i < j.size(); ++i) {
    const json& o = j[i];
    std::string where = str_cat("result ", i);
    if (!o.is_object()) bad(path, where, "not an object");
    CocoAnnotation a;
    a.id = static_cast<int64_t>(i) + 1;
    a.image_id = get_int(o, "image_id", path, where);
    a.category_id = get_int(o, "category_id", path, where);
    a.score = get_number(o, "score", path, where);
    if (!std::isfinite(a.score) || a.score < 0)
      bad(path, where, str_cat("score ", o["score"].dump(), " is not a finite number >= 0"));
    const CocoImage* im = gt.find_image(a.image_id);
    if (!im)
      bad(path, where,
          str_cat("image_id ", a.image_id, " is not in the ground truth ", gt.path,
                  " (pycocotools: results do not correspond to the current coco set)"));
    if (box_branch) {
      a.bbox = get_box(o, path, where);
      a.area = a.bbox.w * a.bbox.h;
      if (masks) {
        if (o.contains("segmentation")) {
          a.mask = read_segmentation(o["segmentation"], im->height, im->width, path, where);
        } else {
          const BoxXYWH& b = a.bbox;
          a.mask = read_segmentation(json::array({json::array({b.x, b.y, b.x, b.y + b.h, b.x + b.w,
                                                               b.y + b.h, b.x + b.w, b.y})}),
                                     im->height, im->width, path, where);
        }
        a.has_mask = true;
      }
    } else {
      if (!o.contains("segmentation")) bad(path, where, "neither 'bbox' nor 'segmentation'");
      a.mask = read_segmentation(o["segmentation"], im->height, im->width, path, where);
      a.has_mask = true;
      a.area = static_cast<double>(rle_area(a.mask));
      a.bbox = rle_to_box(a.mask);
    }
    if (!cats.count(a.category_id)) rep.unknown_category++;
    out.push_back(std::move(a));
  }
  rep.read = out.size();
  if (report) *report = rep;
  return out;
}

std::string coco_instances_json(const CocoDataset& d) {
  json images = json::array(), cats = json::array(), anns = json::array();
  for (const auto& im : d.images)
    images.push_back(
        {{"id", im.id}, {"file_name", im.file_name}, {"width", im.width}, {"height", im.height}});
  for (const auto& c : d.categories) {
    json o = {{"id", c.id}, {"name", c.name}};
    if (!c.supercategory.empty()) o["supercategory"] = c.supercategory;
    cats.push_back(o);
  }
  for (const auto& a : d.annotations) {
    json o = {{"id", a.id},
              {"image_id", a.image_id},
              {"category_id", a.category_id},
              {"bbox", {a.bbox.x, a.bbox.y, a.bbox.w, a.bbox.h}},
              {"area", a.area},
              {"iscrowd", a.iscrowd ? 1 : 0}};
    if (!a.polygons.empty()) {
      o["segmentation"] = a.polygons;
    } else if (a.has_mask) {
      o["segmentation"] = {{"size", {a.mask.h, a.mask.w}}, {"counts", rle_to_string(a.mask)}};
    }
    if (a.difficult) o["difficult"] = 1;
    if (a.truncated) o["truncated"] = 1;
    anns.push_back(std::move(o));
  }
  json j = {{"images", images}, {"annotations", anns}, {"categories", cats}};
  // Invalid UTF-8 in names read from a file becomes U+FFFD instead of an exception.
  return j.dump(1, ' ', false, json::error_handler_t::replace);
}

}  // namespace visionrt
