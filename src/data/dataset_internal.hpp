// Private to src/data: the helpers the dataset formats share (dataset.cpp defines them) and the
// per-format readers and writers that read_dataset / write_dataset dispatch to.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/strings.hpp"
#include "data/dataset.hpp"

namespace visionrt {
namespace data_detail {

namespace fs = std::filesystem;

// ---- shared helpers (dataset.cpp) ----
bool is_image(const fs::path& p);
std::vector<fs::path> images_in(const fs::path& dir);  // the images of a folder, sorted
void assign_image_ids(CocoDataset* d);
void set_categories(CocoDataset* d, const std::vector<std::string>& names);
bool clip_box(BoxXYWH* b, int64_t w, int64_t h, DatasetReport* rep, const std::string& where);
std::string fmt_num(double v);  // %.6g
void place_image(const std::string& src, const fs::path& dst);
void write_text(const fs::path& p, const std::string& s);
std::vector<std::string> split_names(const CocoDataset& d);

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

// ---- per-format entry points (format_coco.cpp, format_voc.cpp, format_yolo.cpp) ----
CocoDataset read_coco(const std::string& src, const DatasetReadOptions& opt, DatasetReport* rep);
CocoDataset read_voc(const std::string& src, const DatasetReadOptions& opt, DatasetReport* rep);
CocoDataset read_yolo(const std::string& src, const DatasetReadOptions& opt, DatasetReport* rep);
void write_coco(const CocoDataset& d, const fs::path& out, const DatasetWriteOptions& opt);
void write_voc(const CocoDataset& d, const fs::path& out, const DatasetWriteOptions& opt,
               DatasetReport* rep);
void write_yolo(const CocoDataset& d, const fs::path& out, const DatasetWriteOptions& opt,
                DatasetReport* rep);

}  // namespace data_detail
}  // namespace visionrt
