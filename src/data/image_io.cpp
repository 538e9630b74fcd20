// Image decoding behind a format check: see image_io.hpp.
#include "data/image_io.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

#include "common/strings.hpp"
#include "visionrt/error.hpp"

namespace visionrt {

const char* image_format(const void* data, size_t size) {
  const auto* b = static_cast<const unsigned char*>(data);
  auto starts = [&](const char* magic, size_t n, size_t at = 0) {
    return size >= at + n && std::memcmp(b + at, magic, n) == 0;
  };
  if (starts("\xFF\xD8\xFF", 3)) return "JPEG";
  if (starts("\x89PNG\r\n\x1A\n", 8)) return "PNG";
  if (starts("BM", 2)) return "BMP";
  if (starts("II*\0", 4) || starts("MM\0*", 4)) return "TIFF";
  if (starts("RIFF", 4) && starts("WEBP", 4, 8)) return "WebP";
  // Netpbm: P1..P6 then whitespace.
  if (size >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6' &&
      (b[2] == ' ' || b[2] == '\n' || b[2] == '\r' || b[2] == '\t'))
    return "PNM";
  return nullptr;
}

cv::Mat decode_image(const void* data, size_t size, int flags) {
  if (!image_format(data, size) || size > static_cast<size_t>(std::numeric_limits<int>::max()))
    return {};
  try {
    return cv::imdecode(cv::Mat(1, static_cast<int>(size), CV_8UC1, const_cast<void*>(data)),
                        flags);
  } catch (const cv::Exception&) {
    return {};
  }
}

cv::Mat read_image(const std::string& path, int flags, const char* what) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw IoError(str_cat(path, ": cannot open the ", what, " (", std::strerror(errno), ")"));
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) throw IoError(str_cat(path, ": cannot read the ", what));
  if (bytes.empty()) throw IoError(str_cat(path, ": empty file (", what, " expected)"));
  const char* format = image_format(bytes.data(), bytes.size());
  if (!format) throw IoError(str_cat(path, ": not a JPEG, PNG, BMP, TIFF, WebP or PNM ", what));
  cv::Mat img = decode_image(bytes.data(), bytes.size(), flags);
  if (img.empty())
    throw IoError(str_cat(path, ": cannot decode the ", what, " (corrupt or truncated ", format,
                          ", ", bytes.size(), " bytes)"));
  return img;
}

}  // namespace visionrt
