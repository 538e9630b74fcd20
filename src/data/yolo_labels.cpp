// YOLO label parsing (see yolo_labels.hpp).
#include "data/yolo_labels.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "common/file_io.hpp"
#include "common/strings.hpp"
#include "visionrt/error.hpp"

namespace visionrt {

std::vector<YoloObject> parse_yolo_labels(const std::string& text, const std::string& path,
                                          YoloReadReport* report) {
  YoloReadReport local;
  YoloReadReport& rep = report ? *report : local;
  std::vector<YoloObject> out;
  std::set<std::string> seen;
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    std::vector<double> v;
    const char* p = line.c_str();
    bool bad = false;
    while (true) {
      while (*p == ' ' || *p == '\t' || *p == '\r') ++p;
      if (!*p) break;
      char* q = nullptr;
      errno = 0;
      double d = std::strtod(p, &q);
      if (q == p || errno == ERANGE || !std::isfinite(d)) {
        bad = true;
        break;
      }
      v.push_back(d);
      p = q;
    }
    if (v.empty() && !bad) continue;  // blank line
    auto fail = [&](const std::string& why) {
      throw InputError(str_cat(path, ":", line_no, ": ", why, ": '", line, "'"));
    };
    if (bad) fail("not a number");
    if (v[0] < 0 || v[0] != std::floor(v[0]) || v[0] > 1e6) fail("class must be an integer >= 0");
    YoloObject o;
    o.cls = static_cast<int>(v[0]);
    size_t n = v.size() - 1;
    if (n == 4 || n == 5) {
      o.cx = v[1];
      o.cy = v[2];
      o.w = v[3];
      o.h = v[4];
      if (n == 5) o.conf = v[5];
      if (o.w < 0 || o.h < 0) fail("negative width or height");
      double x1 = o.cx - o.w / 2, y1 = o.cy - o.h / 2, x2 = o.cx + o.w / 2, y2 = o.cy + o.h / 2;
      const double eps = 1e-6;
      if (x1 < -eps || y1 < -eps || x2 > 1 + eps || y2 > 1 + eps) {
        ++rep.clipped;
        x1 = std::clamp(x1, 0.0, 1.0);
        y1 = std::clamp(y1, 0.0, 1.0);
        x2 = std::clamp(x2, 0.0, 1.0);
        y2 = std::clamp(y2, 0.0, 1.0);
        o.cx = (x1 + x2) / 2;
        o.cy = (y1 + y2) / 2;
        o.w = x2 - x1;
        o.h = y2 - y1;
      }
    } else if (n >= 6) {
      if (n % 2) {  // segment with a trailing confidence
        o.conf = v.back();
        --n;
      }
      bool clipped = false;
      for (size_t i = 1; i <= n; ++i) {
        double c = v[i];
        if (c < -1e-6 || c > 1 + 1e-6) clipped = true;
        o.polygon.push_back(std::clamp(c, 0.0, 1.0));
      }
      rep.clipped += clipped;
      double x1 = 1, y1 = 1, x2 = 0, y2 = 0;
      for (size_t i = 0; i + 1 < o.polygon.size(); i += 2) {
        x1 = std::min(x1, o.polygon[i]);
        x2 = std::max(x2, o.polygon[i]);
        y1 = std::min(y1, o.polygon[i + 1]);
        y2 = std::max(y2, o.polygon[i + 1]);
      }
      o.cx = (x1 + x2) / 2;
      o.cy = (y1 + y2) / 2;
      o.w = x2 - x1;
      o.h = y2 - y1;
    } else {
      fail(str_cat("expected 'cls cx cy w h' or a segment of at least 3 points, got ", n,
                   " values"));
    }
    if (!(o.w > 0) || !(o.h > 0)) {
      ++rep.degenerate;
      continue;
    }
    std::string key = trim_copy(line);
    if (!seen.insert(key).second) {
      ++rep.duplicates;
      continue;
    }
    out.push_back(std::move(o));
  }
  return out;
}

std::vector<YoloObject> read_yolo_labels(const std::string& path, YoloReadReport* report,
                                         bool* missing) {
  std::error_code ec;
  if (missing) *missing = false;
  if (!std::filesystem::exists(path, ec)) {
    if (missing) *missing = true;
    return {};
  }
  return parse_yolo_labels(read_file(path), path, report);
}

}  // namespace visionrt
