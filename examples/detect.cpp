// The C++ API in a few lines: an image in, detections (or masks, a label map, text boxes) out.
// Build: part of the project (build/example_detect). Run: build/example_detect MODEL IMAGE
#include <cstdio>
#include <opencv2/imgcodecs.hpp>

#include "visionrt/error.hpp"
#include "visionrt/vision.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s MODEL.onnx IMAGE\n", argv[0]);
    return 2;
  }
  try {
    visionrt::PredictOptions opt;
    opt.conf = 0.25f;
    visionrt::Predictor predictor(argv[1], opt);  // family, task, names from the model
    cv::Mat image = cv::imread(argv[2]);
    if (image.empty()) throw visionrt::IoError(std::string(argv[2]) + ": cannot read the image");
    visionrt::Prediction p = predictor.predict(image);
    for (const visionrt::Detection& d : p.detections)
      std::printf("%-12s %.2f  [%.0f, %.0f, %.0f, %.0f]%s\n", d.label.c_str(), d.score, d.x1, d.y1,
                  d.x2, d.y2, d.mask.empty() ? "" : "  + mask");
    visionrt::draw_prediction(image, p, predictor.names());
    cv::imwrite("example_detect.jpg", image);
    std::printf("%.1f ms inference; wrote example_detect.jpg\n", p.inference_ms);
  } catch (const visionrt::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
