// pycocotools COCOeval (evaluate -> accumulate -> summarize), bbox; see coco_eval.hpp.
#include "eval/coco_eval.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <numeric>
#include <unordered_map>

#include "visionrt/error.hpp"

namespace visionrt {

namespace {

// numpy.linspace(start, stop, num): start + i * ((stop - start) / (num - 1)), last = stop.
std::vector<double> linspace(double start, double stop, int num) {
  std::vector<double> v(static_cast<size_t>(num));
  const double step = (stop - start) / (num - 1);
  for (int i = 0; i < num; ++i) v[static_cast<size_t>(i)] = i * step + start;
  v.back() = stop;
  return v;
}

// One (category, image, area range): detections (best score first, at most maxDets.back()) and
// per threshold whether each was matched / is ignored.
struct ImageEval {
  bool present = false;
  std::vector<double> scores;
  std::vector<uint8_t> matched, ignored;  // [t * D + d]
  int64_t num_gt = 0;                     // ground truth not ignored
};

}  // namespace

const char* const kCocoStatNames[12] = {"AP",  "AP50", "AP75",  "APs", "APm", "APl",
                                        "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"};

CocoEvalParams::CocoEvalParams()
    : iou_thrs(linspace(0.5, 0.95, 10)), rec_thrs(linspace(0.0, 1.0, 101)) {}

double CocoEvalResult::mean_precision(int t, int k, size_t a, size_t m) const {
  double sum = 0;
  size_t n = 0;
  for (size_t ti = 0; ti < T; ++ti) {
    if (t >= 0 && ti != static_cast<size_t>(t)) continue;
    for (size_t r = 0; r < R; ++r)
      for (size_t ki = 0; ki < K; ++ki) {
        if (k >= 0 && ki != static_cast<size_t>(k)) continue;
        double v = precision_at(ti, r, ki, a, m);
        if (v > -1) sum += v, ++n;
      }
  }
  return n ? sum / static_cast<double>(n) : -1;
}

double CocoEvalResult::mean_recall(int t, int k, size_t a, size_t m) const {
  double sum = 0;
  size_t n = 0;
  for (size_t ti = 0; ti < T; ++ti) {
    if (t >= 0 && ti != static_cast<size_t>(t)) continue;
    for (size_t ki = 0; ki < K; ++ki) {
      if (k >= 0 && ki != static_cast<size_t>(k)) continue;
      double v = recall_at(ti, ki, a, m);
      if (v > -1) sum += v, ++n;
    }
  }
  return n ? sum / static_cast<double>(n) : -1;
}

CocoEvalResult evaluate_coco(const CocoDataset& gt, const std::vector<CocoAnnotation>& dt,
                             CocoIouType type) {
  if (type == CocoIouType::segm) {
    for (const auto& a : gt.annotations)
      if (!a.has_mask) throw Error("segm evaluation: the ground truth was read without masks");
    for (const auto& a : dt)
      if (!a.has_mask) throw Error("segm evaluation: the results were read without masks");
  }
  CocoEvalResult res;
  const CocoEvalParams& p = res.params;
  // Images and categories in ascending id order (pycocotools sorts both).
  std::vector<int64_t> img_ids;
  for (const auto& im : gt.images) img_ids.push_back(im.id);
  std::sort(img_ids.begin(), img_ids.end());
  for (const auto& c : gt.categories) res.cat_ids.push_back(c.id);
  std::sort(res.cat_ids.begin(), res.cat_ids.end());
  std::unordered_map<int64_t, size_t> img_pos, cat_pos;
  for (size_t i = 0; i < img_ids.size(); ++i) img_pos[img_ids[i]] = i;
  for (size_t k = 0; k < res.cat_ids.size(); ++k) cat_pos[res.cat_ids[k]] = k;
  const size_t I = img_ids.size(), K = res.cat_ids.size(), T = p.iou_thrs.size(),
               R = p.rec_thrs.size(), A = p.area_rngs.size(), M = p.max_dets.size();
  res.T = T, res.R = R, res.K = K, res.A = A, res.M = M;
  // Per (category, image): ground truth and detections in file order.
  std::vector<std::vector<const CocoAnnotation*>> gts(K * I), dts(K * I);
  for (const auto& a : gt.annotations) {
    auto ki = cat_pos.find(a.category_id);
    auto ii = img_pos.find(a.image_id);
    if (ki != cat_pos.end() && ii != img_pos.end()) gts[ki->second * I + ii->second].push_back(&a);
  }
  for (const auto& a : dt) {
    auto ki = cat_pos.find(a.category_id);
    auto ii = img_pos.find(a.image_id);
    if (ki != cat_pos.end() && ii != img_pos.end()) dts[ki->second * I + ii->second].push_back(&a);
  }
  const int max_det = p.max_dets.back();
  std::vector<ImageEval> evals(K * A * I);
  std::vector<double> ious;
  std::vector<const CocoAnnotation*> d, g;
  std::vector<int> g_ign;
  std::vector<size_t> order;
  std::vector<int64_t> gtm;  // [t * G + g]: id of the matching detection, 0 = none
  for (size_t k = 0; k < K; ++k)
    for (size_t i = 0; i < I; ++i) {
      const auto& G0 = gts[k * I + i];
      auto D0 = dts[k * I + i];
      if (G0.empty() && D0.empty()) continue;
      std::stable_sort(D0.begin(), D0.end(), [](const CocoAnnotation* a, const CocoAnnotation* b) {
        return a->score > b->score;
      });
      if (D0.size() > static_cast<size_t>(max_det)) D0.resize(static_cast<size_t>(max_det));
      for (size_t a = 0; a < A; ++a) {
        const auto& rng = p.area_rngs[a];
        // Ground truth: not ignored first (stable).
        g.clear();
        g_ign.clear();
        order.resize(G0.size());
        std::iota(order.begin(), order.end(), size_t{0});
        auto ign = [&](const CocoAnnotation* x) {
          return x->iscrowd || x->area < rng[0] || x->area > rng[1] ? 1 : 0;
        };
        std::stable_sort(order.begin(), order.end(),
                         [&](size_t x, size_t y) { return ign(G0[x]) < ign(G0[y]); });
        for (size_t o : order) {
          g.push_back(G0[o]);
          g_ign.push_back(ign(G0[o]));
        }
        const size_t Gn = g.size(), Dn = D0.size();
        ious.assign(Dn * Gn, 0);
        for (size_t di = 0; di < Dn; ++di)
          for (size_t gi = 0; gi < Gn; ++gi)
            ious[di * Gn + gi] = type == CocoIouType::bbox
                                     ? box_iou(D0[di]->bbox, g[gi]->bbox, g[gi]->iscrowd)
                                     : rle_iou(D0[di]->mask, g[gi]->mask, g[gi]->iscrowd);
        ImageEval& e = evals[(k * A + a) * I + i];
        e.present = true;
        e.scores.resize(Dn);
        for (size_t di = 0; di < Dn; ++di) e.scores[di] = D0[di]->score;
        e.matched.assign(T * Dn, 0);
        e.ignored.assign(T * Dn, 0);
        e.num_gt = 0;
        for (int x : g_ign) e.num_gt += x == 0;
        gtm.assign(T * Gn, 0);
        for (size_t t = 0; t < T; ++t) {
          for (size_t di = 0; di < Dn; ++di) {
            double iou = std::min(p.iou_thrs[t], 1 - 1e-10);
            int m = -1;
            for (size_t gi = 0; gi < Gn; ++gi) {
              if (gtm[t * Gn + gi] > 0 && !g[gi]->iscrowd) continue;
              if (m > -1 && g_ign[static_cast<size_t>(m)] == 0 && g_ign[gi] == 1) break;
              if (ious[di * Gn + gi] < iou) continue;
              iou = ious[di * Gn + gi];
              m = static_cast<int>(gi);
            }
            if (m == -1) continue;
            // pycocotools stores the matched ground truth's id: id 0 reads as "unmatched".
            e.ignored[t * Dn + di] = static_cast<uint8_t>(g_ign[static_cast<size_t>(m)]);
            e.matched[t * Dn + di] = g[static_cast<size_t>(m)]->id != 0;
            gtm[t * Gn + static_cast<size_t>(m)] = D0[di]->id;
          }
          // Unmatched detections outside the area range are ignored.
          for (size_t di = 0; di < Dn; ++di) {
            bool out = D0[di]->area < rng[0] || D0[di]->area > rng[1];
            if (!e.matched[t * Dn + di] && out) e.ignored[t * Dn + di] = 1;
          }
        }
      }
    }
  // accumulate
  res.precision.assign(T * R * K * A * M, -1);
  res.scores.assign(T * R * K * A * M, -1);
  res.recall.assign(T * K * A * M, -1);
  const double eps = std::numeric_limits<double>::epsilon();  // np.spacing(1)
  struct Entry {
    double score;
    size_t img, det;
  };
  std::vector<Entry> all;
  std::vector<double> tp, fp, rc, pr;
  for (size_t k = 0; k < K; ++k)
    for (size_t a = 0; a < A; ++a)
      for (size_t m = 0; m < M; ++m) {
        const size_t md = static_cast<size_t>(p.max_dets[m]);
        all.clear();
        int64_t npig = 0;
        for (size_t i = 0; i < I; ++i) {
          const ImageEval& e = evals[(k * A + a) * I + i];
          if (!e.present) continue;
          npig += e.num_gt;
          for (size_t di = 0; di < e.scores.size() && di < md; ++di)
            all.push_back({e.scores[di], i, di});
        }
        if (npig == 0) continue;
        std::stable_sort(all.begin(), all.end(),
                         [](const Entry& x, const Entry& y) { return x.score > y.score; });
        const size_t nd = all.size();
        for (size_t t = 0; t < T; ++t) {
          double tps = 0, fps = 0;
          rc.clear();
          pr.clear();
          for (const Entry& en : all) {
            const ImageEval& ev = evals[(k * A + a) * I + en.img];
            const size_t Dn = ev.scores.size();
            bool matched = ev.matched[t * Dn + en.det] != 0;
            bool ignored = ev.ignored[t * Dn + en.det] != 0;
            if (matched && !ignored) tps += 1;
            if (!matched && !ignored) fps += 1;
            rc.push_back(tps / static_cast<double>(npig));
            pr.push_back(tps / (fps + tps + eps));
          }
          res.recall[((t * K + k) * A + a) * M + m] = nd ? rc.back() : 0;
          for (size_t x = nd; x-- > 1;)
            if (pr[x] > pr[x - 1]) pr[x - 1] = pr[x];
          for (size_t r = 0; r < R; ++r) {
            // searchsorted(rc, rec_thr, side='left'): first index with rc >= threshold.
            size_t pi = static_cast<size_t>(std::lower_bound(rc.begin(), rc.end(), p.rec_thrs[r]) -
                                            rc.begin());
            double q = 0, s = 0;
            if (pi < nd) {
              q = pr[pi];
              s = all[pi].score;
            } else {
              // pycocotools stops filling at the first threshold beyond the last recall.
              for (size_t r2 = r; r2 < R; ++r2) {
                res.precision[(((t * R + r2) * K + k) * A + a) * M + m] = 0;
                res.scores[(((t * R + r2) * K + k) * A + a) * M + m] = 0;
              }
              break;
            }
            res.precision[(((t * R + r) * K + k) * A + a) * M + m] = q;
            res.scores[(((t * R + r) * K + k) * A + a) * M + m] = s;
          }
        }
      }
  // summarize
  auto area_index = [&](const char* n) {
    return static_cast<size_t>(std::find(p.area_names.begin(), p.area_names.end(), n) -
                               p.area_names.begin());
  };
  const size_t all_a = area_index("all"), last_m = M - 1;
  res.stats[0] = res.mean_precision(-1, -1, all_a, last_m);
  res.stats[1] = res.mean_precision(0, -1, all_a, last_m);
  res.stats[2] = res.mean_precision(5, -1, all_a, last_m);
  res.stats[3] = res.mean_precision(-1, -1, area_index("small"), last_m);
  res.stats[4] = res.mean_precision(-1, -1, area_index("medium"), last_m);
  res.stats[5] = res.mean_precision(-1, -1, area_index("large"), last_m);
  res.stats[6] = res.mean_recall(-1, -1, all_a, 0);
  res.stats[7] = res.mean_recall(-1, -1, all_a, 1);
  res.stats[8] = res.mean_recall(-1, -1, all_a, last_m);
  res.stats[9] = res.mean_recall(-1, -1, area_index("small"), last_m);
  res.stats[10] = res.mean_recall(-1, -1, area_index("medium"), last_m);
  res.stats[11] = res.mean_recall(-1, -1, area_index("large"), last_m);
  return res;
}

std::vector<std::string> coco_summary_lines(const CocoEvalResult& r) {
  struct Line {
    bool ap;
    const char* iou;
    const char* area;
    int max_det;
  };
  const Line lines[12] = {{true, "0.50:0.95", "all", 100},     {true, "0.50", "all", 100},
                          {true, "0.75", "all", 100},          {true, "0.50:0.95", "small", 100},
                          {true, "0.50:0.95", "medium", 100},  {true, "0.50:0.95", "large", 100},
                          {false, "0.50:0.95", "all", 1},      {false, "0.50:0.95", "all", 10},
                          {false, "0.50:0.95", "all", 100},    {false, "0.50:0.95", "small", 100},
                          {false, "0.50:0.95", "medium", 100}, {false, "0.50:0.95", "large", 100}};
  std::vector<std::string> out;
  for (int i = 0; i < 12; ++i) {
    const Line& l = lines[i];
    char buf[160];
    std::snprintf(buf, sizeof buf, " %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d ] = %0.3f",
                  l.ap ? "Average Precision" : "Average Recall", l.ap ? "(AP)" : "(AR)", l.iou,
                  l.area, l.max_det, r.stats[static_cast<size_t>(i)]);
    out.push_back(buf);
  }
  return out;
}

}  // namespace visionrt
