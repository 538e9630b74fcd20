// Image sizes from file headers (see image_size in dataset.hpp): PNG, JPEG and BMP, else OpenCV
// decodes the image.
#include "data/dataset.hpp"

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <string>

#include "common/strings.hpp"
#include "data/image_io.hpp"
#include "visionrt/error.hpp"

namespace visionrt {

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
  cv::Mat img = read_image(path, cv::IMREAD_UNCHANGED);
  *width = img.cols;
  *height = img.rows;
}

}  // namespace visionrt
