// Ultralytics' geometric training augmentation for YOLOv8 (ultralytics/data/augment.py): Mosaic
// (four images around a random centre of a 2S x 2S canvas) and RandomPerspective (random
// rotation, scale, shear and translation, then the box candidate filter), applied to the image,
// its boxes and its object masks alike. Without mosaic the image is letterboxed to S x S first
// and the affine step still runs (border 0), as Ultralytics after close_mosaic.
#pragma once
#include <array>
#include <opencv2/core.hpp>
#include <random>
#include <vector>

#include "train/trainer.hpp"

namespace visionrt::train {

// An image with its objects in its own pixels; masks (segmentation) are CV_8U 0/1 at its size.
struct Labeled {
  cv::Mat bgr;
  std::vector<std::array<float, 5>> boxes;  // class, x1, y1, x2, y2
  std::vector<cv::Mat> masks;
};

// Reads the sample's image (IoError naming the file) and decodes its masks when `masks`.
Labeled read_labeled(const Sample& s, bool masks);
// Long side resized to `size` (bilinear, as Ultralytics' load_image while augmenting).
Labeled resize_long_side(const Labeled& l, int size);
// Ultralytics LetterBox to size x size (pad 114, centred; the predictor's geometry).
Labeled letterbox(const Labeled& l, int size);
// Four images (long side already `size`) on a 2*size canvas filled with 114, image k in quadrant
// k (top-left, top-right, bottom-left, bottom-right) around `centre`; boxes clipped to the canvas,
// empty ones dropped.
Labeled mosaic4(const std::array<Labeled, 4>& images, int size, cv::Point centre);

struct AffineOptions {
  double degrees = 0, translate = 0.1, scale = 0.5, shear = 0;  // Ultralytics' defaults
};
// RandomPerspective without perspective: M = T * Shear * R(angle, gain) * C (C centres the input,
// T places the output centre at (0.5 +- translate) of the output); `out` x `out` output, fill 114.
// Boxes: the four corners transformed, their bounding box clipped; masks warped (nearest) and
// the boxes of objects with masks recomputed from them (tighter, as Ultralytics from segments).
// Kept: width and height > 2 px, area > `area_thr` of the original box times gain^2, aspect < 100.
Labeled random_affine(const Labeled& l, int out, const AffineOptions& o, std::mt19937_64& rng);
// The same with a given matrix and gain (tests).
Labeled warp_affine(const Labeled& l, int out, const cv::Matx23d& m, double gain);

}  // namespace visionrt::train
