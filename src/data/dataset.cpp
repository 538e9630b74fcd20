// Dataset formats and reports, and read_dataset / write_dataset (see dataset.hpp), which dispatch
// to format_coco.cpp, format_voc.cpp and format_yolo.cpp; the helpers those share.
#include "data/dataset.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "common/strings.hpp"
#include "data/coco_ids.hpp"
#include "data/dataset_internal.hpp"
#include "visionrt/error.hpp"

namespace visionrt {

namespace fs = std::filesystem;

namespace {

const std::set<std::string> kImageExt = {".jpg", ".jpeg", ".png", ".bmp", ".webp",
                                         ".tif", ".tiff", ".pgm", ".ppm"};

bool numeric(const std::string& s) {
  return !s.empty() && s.size() <= 15 &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

}  // namespace

namespace data_detail {

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

std::string fmt_num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
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

}  // namespace data_detail

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
  CocoDataset d = f == DatasetFormat::coco  ? data_detail::read_coco(src, opt, rep)
                  : f == DatasetFormat::voc ? data_detail::read_voc(src, opt, rep)
                                            : data_detail::read_yolo(src, opt, rep);
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
      data_detail::write_yolo(d, tmp, opt, rep);
    else if (f == DatasetFormat::voc)
      data_detail::write_voc(d, tmp, opt, rep);
    else
      data_detail::write_coco(d, tmp, opt);
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

}  // namespace visionrt
