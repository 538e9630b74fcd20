// COCO bbox evaluation against independent truths: the hand-derived tiny case (derivation in
// ../shared/eval-golden/README.md, rebuilt here in code so it runs on every machine), the rules
// one by one on cases small enough to compute by hand, and, where ../shared is present,
// pycocotools' recorded output: the 12 stats, per-category AP and the full precision/recall
// arrays. Bad files get clear errors naming the file and the entry.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/file_io.hpp"
#include "eval/coco_eval.hpp"
#include "test_util.hpp"
#include "visionrt/error.hpp"

namespace fs = std::filesystem;
using namespace visionrt;
using nlohmann::json;

namespace {

struct Files {
  fs::path dir, gt, dt;
};

Files write_case(const std::string& name, const json& gt, const json& dt) {
  Files f;
  f.dir = test::temp_dir("coco_" + name);
  f.gt = f.dir / "gt.json";
  f.dt = f.dir / "dt.json";
  write_file_atomic(f.gt.string(), gt.dump());
  write_file_atomic(f.dt.string(), dt.dump());
  return f;
}

CocoEvalResult evaluate(const Files& f) {
  CocoDataset gt = read_coco_instances(f.gt.string());
  return evaluate_coco(gt, read_coco_results(f.dt.string(), gt));
}

json image(int id, int w = 100, int h = 100) {
  return {{"id", id}, {"file_name", std::to_string(id) + ".jpg"}, {"width", w}, {"height", h}};
}
json ann(int id, int img, int cat, std::vector<double> box, int crowd = 0, double area = -1) {
  return {{"id", id},
          {"image_id", img},
          {"category_id", cat},
          {"bbox", box},
          {"area", area >= 0 ? area : box[2] * box[3]},
          {"iscrowd", crowd}};
}
json det(int img, int cat, double score, std::vector<double> box) {
  return {{"image_id", img}, {"category_id", cat}, {"score", score}, {"bbox", box}};
}

// The tiny_bbox case of ../shared/eval-golden/README.md (hand-derived numbers in its table).
std::pair<json, json> tiny_case() {
  json gt = {{"images", {image(1), image(2)}},
             {"categories",
              {{{"id", 1}, {"name", "person"}, {"supercategory", "person"}},
               {{"id", 2}, {"name", "bicycle"}, {"supercategory", "vehicle"}}}},
             {"annotations",
              {ann(1, 1, 1, {10, 10, 20, 20}), ann(2, 1, 1, {50, 50, 40, 40}),
               ann(3, 1, 2, {0, 0, 100, 100}), ann(4, 2, 1, {20, 20, 40, 40}),
               ann(5, 2, 1, {60, 60, 40, 40}, 1)}}};
  json dt = {det(2, 1, .95, {65, 65, 20, 20}), det(1, 1, .90, {10, 10, 20, 20}),
             det(2, 1, .85, {20, 20, 40, 30}), det(1, 1, .80, {50, 50, 40, 35}),
             det(1, 1, .70, {12, 10, 20, 20}), det(1, 2, .60, {0, 0, 100, 88}),
             det(2, 2, .50, {30, 30, 10, 10})};
  return {gt, dt};
}

}  // namespace

TEST(CocoEval, TinyCaseMatchesHandDerivation) {
  auto [gt, dt] = tiny_case();
  CocoEvalResult r = evaluate(write_case("tiny", gt, dt));
  const double want[12] = {
      786.0 / 1010 / 2 + 0.4, 1.0, 1.0, 1.0, 0.650495, 0.8, 0.566667, 0.8, 0.8, 1.0, 0.7, 0.8};
  for (int i = 0; i < 12; ++i) EXPECT_NEAR(r.stats[i], want[i], 1e-6) << kCocoStatNames[i];
  // Category 1 at IoU .80: (34 + 33 * 2/3) / 101.
  EXPECT_NEAR(r.mean_precision(6, 0, 0, 2), 56.0 / 101, 1e-12);
  auto lines = coco_summary_lines(r);
  ASSERT_EQ(lines.size(), 12u);
  EXPECT_EQ(lines[0],
            " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.789");
  EXPECT_EQ(lines[6],
            " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 0.567");
}

TEST(CocoEval, NoGroundTruthGivesMinusOneAndMaxDetsTruncates) {
  // One category with only large GT: small/medium AP are -1. 12 detections on one image where
  // the only match is the 12th by score: maxDets 10 never sees it, 100 does.
  json gt = {{"images", {image(1, 640, 480)}},
             {"categories", {{{"id", 3}, {"name", "car"}}}},
             {"annotations", {ann(1, 1, 3, {100, 100, 200, 200})}}};
  json dt = json::array();
  for (int i = 0; i < 11; ++i) dt.push_back(det(1, 3, 0.9 - i * 0.01, {400, 300, 20, 20}));
  dt.push_back(det(1, 3, 0.1, {100, 100, 200, 200}));
  CocoEvalResult r = evaluate(write_case("maxdets", gt, dt));
  EXPECT_EQ(r.stats[3], -1);  // APs
  EXPECT_EQ(r.stats[4], -1);  // APm
  EXPECT_EQ(r.stats[9], -1);  // ARs
  EXPECT_EQ(r.stats[6], 0);   // AR1
  EXPECT_EQ(r.stats[7], 0);   // AR10
  EXPECT_EQ(r.stats[8], 1);   // AR100
  // Precision at every recall threshold is 1/12 (the match comes after 11 false positives).
  EXPECT_NEAR(r.stats[0], 1.0 / 12, 1e-12);
}

TEST(CocoEval, TiesKeepFileOrderAndCrowdIsIntersectionOverDetection) {
  // Two detections with equal scores on one GT: the first in the file takes it (stable sort),
  // the second is a false positive. A detection fully inside a crowd region is ignored, not FP.
  json gt = {{"images", {image(1)}},
             {"categories", {{{"id", 1}, {"name", "a"}}}},
             {"annotations", {ann(1, 1, 1, {0, 0, 10, 10}), ann(2, 1, 1, {50, 50, 50, 50}, 1)}}};
  json dt = {det(1, 1, 0.5, {0, 0, 10, 10}), det(1, 1, 0.5, {0, 0, 10, 9}),
             det(1, 1, 0.9, {60, 60, 5, 5})};
  CocoEvalResult r = evaluate(write_case("ties", gt, dt));
  // Sorted: crowd det (ignored), exact box (TP), 10x9 box (FP: its GT is taken) -> AP50 1.
  EXPECT_NEAR(r.stats[1], 1.0, 1e-12);
  // Tied pair in the other order: the 10x9 box (IoU 0.9 exactly) comes first.
  json dt2 = {det(1, 1, 0.5, {0, 0, 10, 9}), det(1, 1, 0.5, {0, 0, 10, 10})};
  CocoEvalResult r2 = evaluate(write_case("ties2", gt, dt2));
  // Thresholds up to index 8 (0.8999999999999999 <= 0.9): the 10x9 box matches first, the
  // exact box is a FP after it -> AP 1. At .95 the 10x9 box is a FP before the TP -> AP 0.5.
  EXPECT_NEAR(r2.mean_precision(9, -1, 0, 2), 0.5, 1e-12);
  EXPECT_NEAR(r2.mean_precision(8, -1, 0, 2), 1.0, 1e-12);
}

TEST(CocoEval, BadFilesGetClearErrors) {
  auto [gt, dt] = tiny_case();
  Files f = write_case("bad", gt, dt);
  auto expect_error = [&](const std::string& gt_text, const std::string& dt_text,
                          const std::string& needle, bool strict = false) {
    write_file_atomic(f.gt.string(), gt_text);
    write_file_atomic(f.dt.string(), dt_text);
    try {
      CocoDataset g = read_coco_instances(f.gt.string(), false, strict);
      read_coco_results(f.dt.string(), g);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  const std::string good_gt = gt.dump(), good_dt = dt.dump();
  expect_error("{\"images\": [", good_dt, "gt.json: malformed JSON");
  expect_error("[]", good_dt, "not a COCO instances file");
  json g2 = gt;
  g2["annotations"][1]["image_id"] = 7;
  expect_error(g2.dump(), good_dt, "annotation 1 (id 2): image_id 7 is not in 'images'", true);
  g2 = gt;
  g2["annotations"][1]["category_id"] = 77;
  expect_error(g2.dump(), good_dt, "annotation 1 (id 2): category_id 77 is not in 'categories'",
               true);
  g2 = gt;
  g2["annotations"][1]["id"] = g2["annotations"][0]["id"];
  expect_error(g2.dump(), good_dt, "duplicate annotation id", true);
  g2 = gt;
  g2["annotations"][0]["bbox"] = {1, 2, 3};
  expect_error(g2.dump(), good_dt, "'bbox' must be [x, y, w, h]");
  json d2 = dt;
  d2[3]["image_id"] = 99;
  expect_error(good_gt, d2.dump(), "result 3: image_id 99 is not in the ground truth");
  d2 = dt;
  d2[0]["score"] = -0.5;
  expect_error(good_gt, d2.dump(), "result 0: score -0.5 is not a finite number >= 0");
  d2 = dt;
  d2[2]["bbox"] = {1, 2, -3, 4};
  expect_error(good_gt, d2.dump(), "result 2: 'bbox' has a negative width or height");
  expect_error(good_gt, "{\"a\": 1}", "not a COCO results file");
  // Unknown categories are counted, not dropped silently.
  d2 = dt;
  d2[0]["category_id"] = 42;
  write_file_atomic(f.gt.string(), good_gt);
  write_file_atomic(f.dt.string(), d2.dump());
  CocoResultsReport rep;
  CocoDataset g = read_coco_instances(f.gt.string());
  read_coco_results(f.dt.string(), g, &rep);
  EXPECT_EQ(rep.unknown_category, 1u);
  EXPECT_THROW(read_coco_instances((f.dir / "missing.json").string()), IoError);
}

// pycocotools' recorded output for the golden cases.
TEST(CocoEval, MatchesPycocotoolsGoldenCases) {
  fs::path root = fs::path(test::shared_dir()) / "eval-golden";
  if (!fs::exists(root / "tiny_bbox/expected.json"))
    GTEST_SKIP() << "../shared/eval-golden is absent on this machine";
  for (const char* name : {"tiny_bbox", "segm_mixed_s1"}) {
    fs::path dir = root / name;
    json expected = json::parse(read_file((dir / "expected.json").string()));
    const bool segm = expected["iou_type"] == "segm";
    CocoDataset gt = read_coco_instances((dir / "gt.json").string(), segm);
    CocoEvalResult r =
        evaluate_coco(gt, read_coco_results((dir / "dt.json").string(), gt, nullptr, segm),
                      segm ? CocoIouType::segm : CocoIouType::bbox);
    for (int i = 0; i < 12; ++i)
      EXPECT_NEAR(r.stats[i], expected["stats"][i].get<double>(), 1e-9)
          << name << " " << kCocoStatNames[i];
    for (int i = 0; i < 12; ++i)
      EXPECT_EQ(coco_summary_lines(r)[i], expected["summary_lines"][i].get<std::string>());
    ASSERT_EQ(r.K, expected["per_category"].size());
    for (size_t k = 0; k < r.K; ++k) {
      const json& c = expected["per_category"][k];
      EXPECT_EQ(r.cat_ids[k], c["id"].get<int64_t>());
      double ap = r.mean_precision(-1, static_cast<int>(k), 0, 2);
      if (c["ap"].is_null())
        EXPECT_EQ(ap, -1);
      else
        EXPECT_NEAR(ap, c["ap"].get<double>(), 1e-9) << name << " category " << c["id"];
    }
    json arrays = json::parse(read_file((dir / "arrays.json.gz").string()));
    const json& P = arrays["precision"];
    const json& Rc = arrays["recall"];
    size_t checked = 0;
    for (size_t t = 0; t < r.T; ++t)
      for (size_t k = 0; k < r.K; ++k)
        for (size_t a = 0; a < r.A; ++a)
          for (size_t m = 0; m < r.M; ++m) {
            EXPECT_NEAR(r.recall_at(t, k, a, m), Rc[t][k][a][m].get<double>(), 1e-12);
            for (size_t q = 0; q < r.R; ++q, ++checked)
              ASSERT_NEAR(r.precision_at(t, q, k, a, m), P[t][q][k][a][m].get<double>(), 1e-12)
                  << name << " t" << t << " r" << q << " k" << k << " a" << a << " m" << m;
          }
    EXPECT_EQ(checked, r.T * r.R * r.K * r.A * r.M);
  }
}

TEST(CocoEval, CliWritesSummaryAndJson) {
  auto [gt, dt] = tiny_case();
  Files f = write_case("cli", gt, dt);
  fs::path out = f.dir / "stats.json";
  std::string text;
  int rc = test::run_command(std::string(VISIONRT_CLI) + " eval --gt " + f.gt.string() + " --dt " +
                                 f.dt.string() + " --per-class --json " + out.string(),
                             &text);
  ASSERT_EQ(rc, 0) << text;
  EXPECT_NE(text.find("maxDets=100 ] = 0.789"), std::string::npos) << text;
  EXPECT_NE(text.find("person"), std::string::npos) << text;
  json stats = json::parse(read_file(out.string()));
  EXPECT_NEAR(stats["AP"].get<double>(), 0.78910891089108908, 1e-12);
  EXPECT_NEAR(stats["ARm"].get<double>(), 0.7, 1e-12);
  EXPECT_EQ(stats.size(), 12u);
  rc = test::run_command(
      std::string(VISIONRT_CLI) + " eval --gt " + f.gt.string() + " --dt /nonexistent.json", &text);
  EXPECT_NE(rc, 0);
  EXPECT_NE(text.find("/nonexistent.json: cannot open"), std::string::npos) << text;
}

// Ground truth pycocotools accepts but that needs repairs evaluates exactly as pycocotools
// evaluates it (pycocotools/coco.py: getAnnIds filters by the declared images and categories,
// imgs/cats/anns are dicts keyed by id, loadAnns looks annotations up by id), which is the
// evaluation of the repaired file; the repairs are counted.
TEST(CocoEval, FilesNeedingRepairsEvaluateAsPycocotoolsDoes) {
  const std::pair<json, json> tc = tiny_case();  // no structured binding: lambdas capture these
  const json& gt = tc.first;
  const json& dt = tc.second;
  const CocoEvalResult clean = evaluate(write_case("repair_clean", gt, dt));
  auto eval_gt = [&](const json& g, const std::string& name, CocoReadReport* rep) {
    Files f = write_case(name, g, dt);
    CocoDataset d = read_coco_instances(f.gt.string());
    *rep = d.read_report;
    return evaluate_coco(d, read_coco_results(f.dt.string(), d), CocoIouType::bbox);
  };
  auto same = [&](const CocoEvalResult& r, const CocoEvalResult& want, const char* what) {
    for (int k = 0; k < 12; ++k) EXPECT_DOUBLE_EQ(r.stats[k], want.stats[k]) << what << " " << k;
  };
  // Annotations of an undeclared category and of an undeclared image: never evaluated.
  json g = gt;
  g["annotations"].push_back(ann(100, 1, 55, {5, 5, 30, 30}));
  g["annotations"].push_back(ann(101, 999, 1, {5, 5, 30, 30}));
  CocoReadReport rep;
  same(eval_gt(g, "repair_unknown", &rep), clean, "undeclared");
  EXPECT_EQ(rep.unknown_category, 1u);
  EXPECT_EQ(rep.unknown_image, 1u);
  EXPECT_NE(rep.summary().find("1 annotation(s) of undeclared categories dropped"),
            std::string::npos);
  // A repeated image or category entry: the last one counts (same id, so nothing changes here).
  g = gt;
  g["images"].push_back(g["images"][0]);
  g["categories"].push_back(g["categories"][0]);
  same(eval_gt(g, "repair_dup_entries", &rep), clean, "repeated entries");
  EXPECT_EQ(rep.duplicate_images, 1u);
  EXPECT_EQ(rep.duplicate_categories, 1u);
  // An annotation repeating an id is evaluated as the last one with that id: the file with the
  // first occurrence replaced by a copy of the last evaluates the same, and differently from
  // the file without the repetition.
  g = gt;
  json second = g["annotations"][1];
  second["id"] = g["annotations"][0]["id"];
  g["annotations"][1] = second;
  json copied = g;
  copied["annotations"][0] = second;
  CocoReadReport rep2;
  const CocoEvalResult dup = eval_gt(g, "repair_dup_ann", &rep);
  same(dup, eval_gt(copied, "repair_dup_copy", &rep2), "repeated annotation id");
  EXPECT_EQ(rep.duplicate_annotations, 1u);
  bool differs = false;
  for (int k = 0; k < 12; ++k) differs |= dup.stats[k] != clean.stats[k];
  EXPECT_TRUE(differs);
}
