// Pascal VOC AP and segmentation metrics (see voc_eval.hpp).
#include "eval/voc_eval.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "common/strings.hpp"
#include "visionrt/error.hpp"

namespace visionrt {

double voc_iou(const VocBox& a, const VocBox& b) {
  const double iw = std::min(a.x2, b.x2) - std::max(a.x1, b.x1) + 1;
  const double ih = std::min(a.y2, b.y2) - std::max(a.y1, b.y1) + 1;
  if (iw <= 0 || ih <= 0) return 0;
  const double inter = iw * ih;
  const double uni =
      (a.x2 - a.x1 + 1) * (a.y2 - a.y1 + 1) + (b.x2 - b.x1 + 1) * (b.y2 - b.y1 + 1) - inter;
  return inter / uni;
}

VocApResult voc_ap(const std::vector<VocGroundTruth>& gt, const std::vector<VocDetection>& dt,
                   double iou_threshold) {
  auto check = [](const VocBox& b, const char* what, size_t i) {
    if (!(b.x2 >= b.x1 - 1 && b.y2 >= b.y1 - 1) || !std::isfinite(b.x1 + b.x2 + b.y1 + b.y2))
      throw InputError(str_cat(what, " ", i, ": box is inverted or not finite"));
  };
  std::map<int64_t, std::vector<size_t>> by_image;
  VocApResult r;
  for (size_t i = 0; i < gt.size(); ++i) {
    check(gt[i].box, "ground truth", i);
    by_image[gt[i].image].push_back(i);
    r.num_positives += !gt[i].difficult;
  }
  std::vector<size_t> order(dt.size());
  std::iota(order.begin(), order.end(), size_t{0});
  for (size_t i = 0; i < dt.size(); ++i) {
    check(dt[i].box, "detection", i);
    if (!std::isfinite(dt[i].confidence))
      throw InputError(str_cat("detection ", i, ": confidence is not a finite number"));
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return dt[a].confidence > dt[b].confidence; });
  std::vector<char> taken(gt.size(), 0);
  double tp = 0, fp = 0;
  for (size_t d : order) {
    double best = -1;
    int64_t match = -1;
    auto it = by_image.find(dt[d].image);
    if (it != by_image.end())
      for (size_t g : it->second) {
        const double o = voc_iou(dt[d].box, gt[g].box);
        if (o > best) best = o, match = static_cast<int64_t>(g);
      }
    if (match >= 0 && best >= iou_threshold) {
      if (gt[match].difficult) continue;  // neither true nor false positive
      if (!taken[match]) {
        taken[match] = 1;
        tp += 1;
      } else {
        fp += 1;
      }
    } else {
      fp += 1;
    }
    r.recall.push_back(r.num_positives ? tp / static_cast<double>(r.num_positives) : 0);
    r.precision.push_back(tp / std::max(tp + fp, 1e-300));
  }
  // VOC2007: 11 recall points.
  for (int k = 0; k <= 10; ++k) {
    const double t = k / 10.0;
    double p = 0;
    for (size_t i = 0; i < r.recall.size(); ++i)
      if (r.recall[i] >= t) p = std::max(p, r.precision[i]);
    r.ap07 += p / 11;
  }
  // VOC2010+: area under the precision envelope.
  std::vector<double> mrec = {0}, mpre = {0};
  mrec.insert(mrec.end(), r.recall.begin(), r.recall.end());
  mpre.insert(mpre.end(), r.precision.begin(), r.precision.end());
  mrec.push_back(1);
  mpre.push_back(0);
  for (size_t i = mpre.size() - 1; i-- > 0;) mpre[i] = std::max(mpre[i], mpre[i + 1]);
  for (size_t i = 1; i < mrec.size(); ++i)
    if (mrec[i] != mrec[i - 1]) r.ap += (mrec[i] - mrec[i - 1]) * mpre[i];
  return r;
}

ConfusionMatrix::ConfusionMatrix(int num_classes, int ignore) : n_(num_classes), ignore_(ignore) {
  if (num_classes <= 0 || num_classes > 65536)
    throw InputError(str_cat("number of classes ", num_classes, " must be in 1..65536"));
  m_.assign(static_cast<size_t>(n_) * n_, 0);
}

void ConfusionMatrix::add(const std::vector<int32_t>& gt, const std::vector<int32_t>& pred) {
  if (gt.size() != pred.size())
    throw InputError(
        str_cat("label maps differ in size: ", gt.size(), " vs ", pred.size(), " pixels"));
  for (size_t i = 0; i < gt.size(); ++i) {
    if (gt[i] == ignore_) {
      ++ignored_;
      continue;
    }
    if (gt[i] < 0 || gt[i] >= n_)
      throw InputError(
          str_cat("ground-truth label ", gt[i], " at pixel ", i, " is outside 0..", n_ - 1));
    if (pred[i] < 0 || pred[i] >= n_)
      throw InputError(
          str_cat("predicted label ", pred[i], " at pixel ", i, " is outside 0..", n_ - 1));
    ++m_[static_cast<size_t>(gt[i]) * n_ + pred[i]];
  }
}

std::vector<double> ConfusionMatrix::iou() const {
  std::vector<double> r(static_cast<size_t>(n_), -1);
  for (int c = 0; c < n_; ++c) {
    int64_t tp = at(c, c), row = 0, col = 0;
    for (int k = 0; k < n_; ++k) row += at(c, k), col += at(k, c);
    const int64_t uni = row + col - tp;
    if (uni > 0) r[static_cast<size_t>(c)] = static_cast<double>(tp) / static_cast<double>(uni);
  }
  return r;
}

double ConfusionMatrix::mean_iou() const {
  double s = 0;
  int n = 0;
  for (double v : iou())
    if (v >= 0) s += v, ++n;
  return n ? s / n : -1;
}

double ConfusionMatrix::pixel_accuracy() const {
  int64_t correct = 0, total = 0;
  for (int g = 0; g < n_; ++g)
    for (int p = 0; p < n_; ++p) total += at(g, p), correct += g == p ? at(g, p) : 0;
  return total ? static_cast<double>(correct) / static_cast<double>(total) : -1;
}

double ConfusionMatrix::mean_accuracy() const {
  double s = 0;
  int n = 0;
  for (int g = 0; g < n_; ++g) {
    int64_t row = 0;
    for (int p = 0; p < n_; ++p) row += at(g, p);
    if (row > 0) s += static_cast<double>(at(g, g)) / static_cast<double>(row), ++n;
  }
  return n ? s / n : -1;
}

}  // namespace visionrt
