// Decoding images from files and memory. Only JPEG, PNG, BMP, TIFF, WebP and PNM reach OpenCV:
// it picks a decoder by the content, and Debian's build has others (GDCM for DICOM) that abort
// the process on some malformed inputs (an assert in gdcm::Reader, found by fuzz_kserve). Every
// image visionrt reads from a user (predict, eval, quantize, benchmark, train, the server) goes
// through here.
#pragma once
#include <cstddef>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <string>

namespace visionrt {

// The format the first bytes announce ("JPEG", "PNG", "BMP", "TIFF", "WebP", "PNM"), or nullptr.
const char* image_format(const void* data, size_t size);

// The decoded image (cv::imdecode `flags`), or an empty Mat for bytes of another format, a
// corrupt image, or one OpenCV refuses. Never throws.
cv::Mat decode_image(const void* data, size_t size, int flags = cv::IMREAD_COLOR);

// The decoded image file. Throws IoError naming the file and the problem (cannot open, empty,
// not an image of the formats above, corrupt); `what` names it in the message ("image",
// "label image").
cv::Mat read_image(const std::string& path, int flags = cv::IMREAD_COLOR,
                   const char* what = "image");

}  // namespace visionrt
