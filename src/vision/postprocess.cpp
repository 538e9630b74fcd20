// Post-processing shared by the families (postprocess.hpp).
#include "vision/postprocess.hpp"

#include <algorithm>
#include <cmath>

namespace visionrt {

bool class_wanted(const std::vector<int>& classes, int c) {
  return classes.empty() || std::find(classes.begin(), classes.end(), c) != classes.end();
}

std::vector<Candidate> run_nms(std::vector<Candidate> cand, const NmsParams& p) {
  std::stable_sort(cand.begin(), cand.end(),
                   [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  if (p.max_nms > 0 && static_cast<int64_t>(cand.size()) > p.max_nms)
    cand.resize(static_cast<size_t>(p.max_nms));
  std::vector<BoxXYXY> boxes(cand.size());
  std::vector<float> scores(cand.size());
  std::vector<int32_t> cls;
  if (!p.agnostic) cls.resize(cand.size());
  for (size_t i = 0; i < cand.size(); ++i) {
    boxes[i] = cand[i].box;
    scores[i] = cand[i].score;
    if (!p.agnostic) cls[i] = cand[i].cls;
  }
  std::vector<Candidate> out;
  for (int32_t k : nms(boxes, scores, cls, p.iou, p.max_det)) out.push_back(cand[k]);
  return out;
}

void axis_weights(double src, int size, int* i0, int* i1, float* f) {
  if (src < 0) src = 0;
  int a = static_cast<int>(std::floor(src));
  if (a > size - 1) a = size - 1;
  *i0 = a;
  *i1 = std::min(a + 1, size - 1);
  *f = static_cast<float>(src - a);
  if (*i1 == *i0) *f = 0.f;
}

}  // namespace visionrt
