// Post-training quantization: calibration statistics on hand-computed cases, the QDQ writer on a
// model built in code (sites, the standard QDQ structure, int8 execution close to the float
// model), and `visionrt quantize` end to end on the demo model with images written here.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <random>

#include "common/npy.hpp"
#include "kernels/kernel.hpp"
#include "onnx/builder.hpp"
#include "onnx/importer.hpp"
#include "onnx/qdq_writer.hpp"
#include "quant/calibration.hpp"
#include "test_util.hpp"
#include "visionrt/core.hpp"
#include "visionrt/error.hpp"
#include "visionrt/vision.hpp"

using namespace visionrt;
namespace fs = std::filesystem;

TEST(Quantize, RangeRulesOnHandComputedTensors) {
  Tensor a = Tensor::from_vector<float>({5}, {-1, 0, 2, 3, 10});
  Tensor b = Tensor::from_vector<float>({5}, {-3, 0, 1, 1, 2});
  RangeObserver mm(RangeMethod::minmax), mean(RangeMethod::mean_minmax);
  for (RangeObserver* o : {&mm, &mean}) {
    o->observe("t", a);
    o->observe("t", b);
  }
  EXPECT_FLOAT_EQ(mm.ranges()["t"].lo, -3);
  EXPECT_FLOAT_EQ(mm.ranges()["t"].hi, 10);
  EXPECT_FLOAT_EQ(mean.ranges()["t"].lo, -2);  // (-1 + -3) / 2
  EXPECT_FLOAT_EQ(mean.ranges()["t"].hi, 6);   // (10 + 2) / 2
  EXPECT_EQ(mm.images("t"), 2u);
  // Percentile 75 of 0..100 (101 values): the 75th and 25th values.
  std::vector<float> v(101);
  for (int i = 0; i < 101; ++i) v[i] = static_cast<float>(100 - i);
  RangeObserver pc(RangeMethod::percentile, 75);
  pc.observe("u", Tensor::from_vector<float>({101}, v));
  EXPECT_FLOAT_EQ(pc.ranges()["u"].lo, 25);
  EXPECT_FLOAT_EQ(pc.ranges()["u"].hi, 75);
  EXPECT_THROW(pc.observe("u", Tensor::from_vector<float>({2}, {1, NAN})), InputError);
  EXPECT_THROW(RangeObserver(RangeMethod::percentile, 30), InputError);
  // u8 parameters: [-1, 3] -> scale 4/255, zero point round(255/4) = 64; ranges widen to 0.
  float s;
  int z;
  u8_params({-1, 3}, &s, &z);
  EXPECT_FLOAT_EQ(s, 4.f / 255);
  EXPECT_EQ(z, 64);
  u8_params({2, 5}, &s, &z);
  EXPECT_FLOAT_EQ(s, 5.f / 255);
  EXPECT_EQ(z, 0);
  u8_params({0, 0}, &s, &z);
  EXPECT_FLOAT_EQ(s, 1.f);
}

namespace {

Tensor random_f32(Shape s, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  Tensor t(DType::f32, std::move(s));
  for (size_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

std::vector<Tensor> run(const std::string& bytes, const Tensor& x, std::string* plan = nullptr) {
  Core core;
  CompiledModel cm = core.compile_model(core.read_model_from_memory(bytes, "m.onnx"),
                                        {{"INFERENCE_PRECISION", "f32"}});
  InferRequest r = cm.create_infer_request();
  r.set_input_tensor(0, x);
  r.infer();
  std::vector<Tensor> out;
  for (size_t i = 0; i < cm.outputs().size(); ++i) out.push_back(r.get_output_tensor(i).clone());
  if (plan) *plan = cm.plan_summary();
  return out;
}

}  // namespace

TEST(Quantize, QdqWriterQuantizesConvolutionsThatThenRunInInt8) {
  // conv(3->16, 3x3, bias) -> Relu -> conv(16->8, 1x1, no bias) -> Sigmoid; a second reader of
  // the Relu output (MaxPool) keeps its float value.
  std::mt19937 rng(11);
  ModelBuilder b(17);
  b.input("x", DType::f32, {1, 3, 24, 20});
  b.initializer("w1", random_f32({16, 3, 3, 3}, rng, -0.5f, 0.5f));
  b.initializer("b1", random_f32({16}, rng, -0.2f, 0.2f));
  b.initializer("w2", random_f32({8, 16, 1, 1}, rng, -0.4f, 0.4f));
  b.node("Conv", {"x", "w1", "b1"}, {"c1"}, {{"pads", attr_ints({1, 1, 1, 1})}});
  b.node("Relu", {"c1"}, {"r1"});
  b.node("Conv", {"r1", "w2"}, {"c2"});
  b.node("Sigmoid", {"c2"}, {"y"});
  b.node("MaxPool", {"r1"}, {"p"}, {{"kernel_shape", attr_ints({2, 2})}});
  b.output("y", DType::f32);
  b.output("p", DType::f32);
  fs::path dir = test::temp_dir("qdq_writer");
  const std::string path = (dir / "float.onnx").string();
  b.save(path);

  QdqWriter w(path);
  ASSERT_EQ(w.sites().size(), 2u);
  EXPECT_EQ(w.sites()[1].input, "r1");
  EXPECT_TRUE(w.sites()[0].first_layer);  // reads the input
  EXPECT_FALSE(w.sites()[1].first_layer);
  ASSERT_EQ(w.graph_inputs(), std::vector<std::string>{"x"});
  // Calibrate on the float model with r1 as an extra output.
  RangeObserver obs(RangeMethod::minmax);
  std::vector<Tensor> calib;
  for (int i = 0; i < 4; ++i) calib.push_back(random_f32({1, 3, 24, 20}, rng, 0.f, 1.f));
  std::string cal_bytes = w.with_outputs({"r1"});
  for (const Tensor& x : calib) {
    std::vector<Tensor> o = run(cal_bytes, x);
    ASSERT_EQ(o.size(), 3u);
    obs.observe("x", x);
    obs.observe("r1", o[2]);
  }
  std::string q = w.quantized(w.sites(), obs.ranges());
  auto g = load_onnx_bytes(q, "q.onnx", "");
  size_t quant = 0, dequant = 0;
  for (const Node& n : g->nodes) {
    quant += n.op_type == "QuantizeLinear";
    dequant += n.op_type == "DequantizeLinear";
  }
  EXPECT_EQ(quant, 2u);    // x and r1
  EXPECT_EQ(dequant, 5u);  // x, r1, w1, b1, w2
  EXPECT_EQ(g->find_value("w1"), -1) << "the float weights leave the file";
  // Largest |w| of the written weights: 7 bits ([-64, 64]) where the overflow fix asks for them
  // (the first layer by default, as NNCF), else 8 ([-127, 127]); per channel, so the largest
  // weight of a channel reaches the end of the range.
  auto largest = [](const std::string& model, const std::string& name) {
    auto m = load_onnx_bytes(model, "q.onnx", "");
    const int v = m->find_value(name);
    EXPECT_GE(v, 0) << name;
    if (v < 0 || !m->values[static_cast<size_t>(v)].constant) return -1;
    const Tensor& t = *m->values[static_cast<size_t>(v)].constant;
    int most = 0;
    for (size_t i = 0; i < t.numel(); ++i)
      most = std::max(most, std::abs(static_cast<int>(t.data<int8_t>()[i])));
    return most;
  };
  EXPECT_EQ(largest(q, "w1_quantized"), 64);
  EXPECT_EQ(largest(q, "w2_quantized"), 127);
  w.set_overflow_fix(OverflowFix::all);
  const std::string q_all = w.quantized(w.sites(), obs.ranges());
  EXPECT_EQ(largest(q_all, "w1_quantized"), 64);
  EXPECT_EQ(largest(q_all, "w2_quantized"), 64);
  w.set_overflow_fix(OverflowFix::none);
  const std::string q_none = w.quantized(w.sites(), obs.ranges());
  EXPECT_EQ(largest(q_none, "w1_quantized"), 127);
  EXPECT_EQ(largest(q_none, "w2_quantized"), 127);

  Tensor x = calib[0];
  std::vector<Tensor> want = run(b.serialize(), x);
  std::string plan;
  // Without VNNI the second layer's 8-bit weights saturate pair sums on this dense random
  // model (by design of the default overflow fix): 7-bit weights everywhere run exactly.
  std::vector<Tensor> got = run(int8_pairs_saturate() ? q_all : q, x, &plan);
  EXPECT_NE(plan.find("2 QDQ convs to int8"), std::string::npos) << plan;
  for (size_t o = 0; o < 2; ++o) {
    double worst = 0, range = 0;
    for (size_t i = 0; i < want[o].numel(); ++i) {
      worst = std::max(worst, std::fabs(got[o].at_f64(i) - want[o].at_f64(i)));
      range = std::max(range, std::fabs(want[o].at_f64(i)));
    }
    // 8-bit activations and weights over two layers: a few quantization steps of the range.
    EXPECT_LT(worst, 0.03 * range) << "output " << o;
    EXPECT_GT(worst, 0.0) << "output " << o << " is bit-identical: was anything quantized?";
  }
  // An opset-12 model cannot take per-channel DequantizeLinear.
  ModelBuilder old(12);
  old.input("x", DType::f32, {1, 3, 8, 8});
  old.initializer("w", random_f32({4, 3, 1, 1}, rng, -1, 1));
  old.node("Conv", {"x", "w"}, {"y"});
  old.output("y", DType::f32);
  old.save((dir / "old.onnx").string());
  std::string msg = test::error_of<ModelError>([&] { QdqWriter((dir / "old.onnx").string()); });
  EXPECT_NE(msg.find("opset 12"), std::string::npos) << msg;
  fs::remove_all(dir);
}

TEST(Cli, QuantizeCalibratesOnImagesAndWritesAnInt8Model) {
  fs::path dir = test::temp_dir("cli_quantize");
  std::string cli = VISIONRT_CLI, out;
  const std::string model = (dir / "demo.onnx").string(), q = (dir / "demo_int8.onnx").string();
  ASSERT_EQ(test::run_command(cli + " demo-model " + model, &out), 0) << out;
  fs::create_directories(dir / "imgs");
  std::mt19937 rng(2);
  for (int i = 0; i < 3; ++i) {
    cv::Mat img(48 + 8 * i, 64, CV_8UC3);
    cv::randu(img, 0, 255);
    cv::imwrite((dir / "imgs" / ("im" + std::to_string(i) + ".png")).string(), img);
  }
  std::string base = cli + " quantize -m " + model + " --images " + (dir / "imgs").string();
  ASSERT_EQ(test::run_command(base + " --out " + q, &out), 0) << out;
  EXPECT_NE(out.find("3 of 3 convolutions INT8"), std::string::npos) << out;
  EXPECT_NE(out.find("calibrated on 3 images (percentile)"), std::string::npos) << out;
  EXPECT_NE(out.find("1 with 7-bit weights (overflow fix first"), std::string::npos) << out;
  // The written model runs its convolutions on the int8 kernels, close to the float model.
  std::string run = " --seed 5 --precision f32 --pc --save-outputs ";
  ASSERT_EQ(test::run_command(cli + " run " + model + run + (dir / "f").string(), &out), 0) << out;
  ASSERT_EQ(test::run_command(cli + " run " + q + run + (dir / "q").string(), &out), 0) << out;
  EXPECT_NE(out.find("3 QDQ convs to int8"), std::string::npos) << out;
  Tensor f = read_npy((dir / "f" / "output0.npy").string());
  Tensor g = read_npy((dir / "q" / "output0.npy").string());
  ASSERT_EQ(f.shape(), g.shape());
  double worst = 0, range = 0;
  for (size_t i = 0; i < f.numel(); ++i) {
    worst = std::max(worst, std::fabs(f.at_f64(i) - g.at_f64(i)));
    range = std::max(range, std::fabs(f.at_f64(i)));
  }
  // The first layer's 7-bit weights (the default overflow fix, on any CPU) have twice the
  // rounding step.
  EXPECT_LT(worst, 0.08 * range);
  // Errors: no calibration images, --out onto the model, an unreadable image; no output file.
  EXPECT_EQ(test::run_command(cli + " quantize -m " + model + " --out " + q + "2", &out), 1);
  EXPECT_NE(out.find("--images"), std::string::npos) << out;
  EXPECT_EQ(test::run_command(base + " --out " + model, &out), 1);
  EXPECT_NE(out.find("overwrite"), std::string::npos) << out;
  { std::ofstream(dir / "imgs" / "broken.png") << "not a png"; }
  EXPECT_EQ(test::run_command(base + " --out " + q + "3", &out), 1);
  EXPECT_NE(out.find("broken.png"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(q + "3"));
  fs::remove_all(dir);
}

TEST(Cli, QuantizeWithMaxDropRevertsConvolutionsUntilTheDropFits) {
  // Ground truth = the float demo model's own confident detections on random images, so the
  // float model scores high and INT8 rounding costs AP. --max-drop must revert convolutions to
  // float until the drop fits, and its report must agree with `visionrt eval` run separately on
  // the float model and on the written model.
  fs::path dir = test::temp_dir("cli_quantize_drop");
  std::string cli = VISIONRT_CLI, out;
  const std::string model = (dir / "demo.onnx").string(), q = (dir / "demo_int8.onnx").string();
  ASSERT_EQ(test::run_command(cli + " demo-model " + model, &out), 0) << out;
  fs::create_directories(dir / "imgs");
  std::mt19937 rng(7);
  PredictOptions po;
  po.conf = 0.3f;
  po.max_det = 6;
  po.precision = "f32";  // as quantize measures the float model
  Predictor pred(model, po);
  nlohmann::json gt = {
      {"images", nlohmann::json::array()},
      {"annotations", nlohmann::json::array()},
      {"categories", {{{"id", 1}, {"name", "dot"}}, {{"id", 2}, {"name", "ring"}}}}};
  size_t objects = 0;
  for (int i = 0; i < 16; ++i) {
    cv::Mat img(64, 64, CV_8UC3);
    cv::randu(img, 0, 255);
    const std::string name = "im" + std::to_string(i) + ".png";
    cv::imwrite((dir / "imgs" / name).string(), img);
    gt["images"].push_back({{"id", i + 1}, {"file_name", name}, {"width", 64}, {"height", 64}});
    for (const Detection& d : pred.predict(img).detections) {
      const double w = d.x2 - d.x1, h = d.y2 - d.y1;
      if (!(w > 0 && h > 0)) continue;
      gt["annotations"].push_back({{"id", ++objects},
                                   {"image_id", i + 1},
                                   {"category_id", d.class_id + 1},
                                   {"bbox", {d.x1, d.y1, w, h}},
                                   {"area", w * h},
                                   {"iscrowd", 0}});
    }
  }
  ASSERT_GE(objects, 16u) << "the demo model detects too little for a meaningful AP";
  { std::ofstream(dir / "gt.json") << gt.dump(); }
  const std::string data =
      " --data " + (dir / "gt.json").string() + " --images " + (dir / "imgs").string();
  const std::string report = (dir / "report.json").string();
  // The budget leaves room for some INT8 convolution of this tiny random model, whose AP moves
  // by tenths with any rounding change: 8-bit weights where the CPU has VNNI, 7-bit everywhere
  // where it does not (exact there, as ORT; the default first-layer fix runs this model exactly
  // too, but lands elsewhere in that noise).
  const double budget = int8_pairs_saturate() ? 0.3 : 0.2;
  const std::string fix = int8_pairs_saturate() ? " --overflow-fix all" : " --overflow-fix none";
  ASSERT_EQ(test::run_command(cli + " quantize -m " + model + data + fix + " --out " + q +
                                  " --max-drop " + std::to_string(budget) +
                                  " --ranking-subset 4 --report " + report,
                              &out),
            0)
      << out;
  std::ifstream rf(report);
  nlohmann::json r = nlohmann::json::parse(rf);
  const double fl = r["float"], i8 = r["int8"], before = r["int8_before_control"];
  EXPECT_GT(fl, 0.5) << out;
  EXPECT_LE(fl - i8, budget + 1e-12) << out;
  EXPECT_EQ(r["overflow_fix"], int8_pairs_saturate() ? "all" : "none") << out;
  const size_t reverted = r["reverted_to_float"].size();
  if (fl - before > budget)
    EXPECT_GE(reverted, 1u) << out;
  else
    EXPECT_EQ(reverted, 0u) << out;
  EXPECT_EQ(r["int8_convolutions"].get<size_t>(), 3 - reverted) << out;
  // `eval` on each model prints the same AP the report holds.
  auto eval_ap = [&](const std::string& m) {
    std::string o;
    EXPECT_EQ(test::run_command(cli + " eval --precision f32 --model " + m + data + " --json " +
                                    (dir / "ap.json").string(),
                                &o),
              0)
        << o;
    std::ifstream f(dir / "ap.json");
    return nlohmann::json::parse(f)["AP"].get<double>();
  };
  EXPECT_NEAR(eval_ap(model), fl, 1e-9);
  EXPECT_NEAR(eval_ap(q), i8, 1e-9);
  // The written model holds exactly the convolutions left INT8.
  ASSERT_EQ(test::run_command(cli + " run " + q + " --seed 1 --precision f32", &out), 0) << out;
  if (reverted < 3) {
    EXPECT_NE(out.find(std::to_string(3 - reverted) + " QDQ convs to int8"), std::string::npos)
        << out;
  }
  // Errors: a budget only the float model meets (tiny boxes: one INT8 layer costs more than a
  // point), --max-drop without an annotated dataset, a dataset whose classes do not fit.
  EXPECT_EQ(test::run_command(cli + " quantize -m " + model + data + " --out " + q +
                                  "1 --max-drop 0.001 --ranking-subset 2",
                              &out),
            1);
  EXPECT_NE(out.find("only the all-float model meets"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(q + "1"));
  EXPECT_EQ(test::run_command(cli + " quantize -m " + model + " --images " +
                                  (dir / "imgs").string() + " --out " + q + "2 --max-drop 0.01",
                              &out),
            1);
  EXPECT_NE(out.find("--max-drop needs --data"), std::string::npos) << out;
  gt["categories"] = {
      {{"id", 1}, {"name", "cat"}}, {{"id", 2}, {"name", "dog"}}, {{"id", 3}, {"name", "cow"}}};
  { std::ofstream(dir / "bad.json") << gt.dump(); }
  EXPECT_EQ(test::run_command(cli + " quantize -m " + model + " --data " +
                                  (dir / "bad.json").string() + " --images " +
                                  (dir / "imgs").string() + " --out " + q + "3 --max-drop 0.01",
                              &out),
            1);
  EXPECT_NE(out.find("categories"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(q + "2"));
  EXPECT_FALSE(fs::exists(q + "3"));
  fs::remove_all(dir);
}

TEST(Cli, QuantizeCarriesClassNamesFromAFileBesideTheModelIntoTheInt8Model) {
  // The shared SSD keeps its 91 COCO names in labels_coco91.txt beside the ONNX file; the INT8
  // model written elsewhere must still know them (metadata), and say how it was quantized.
  const fs::path ssd = fs::path(test::shared_dir()) / "models" / "ssd_mobilenet_v1_075_coco" /
                       "ssd_mobilenet_v1_075_coco_300.onnx";
  const fs::path images = fs::path(test::shared_dir()) / "data" / "coco128" / "images";
  if (!fs::exists(ssd) || !fs::exists(images))
    GTEST_SKIP() << ssd << " or " << images << " is absent (../shared not on this machine)";
  fs::path dir = test::temp_dir("cli_quantize_names");
  const std::string q = (dir / "ssd_int8.onnx").string();
  std::string out;
  std::string images_dir = images.string();
  if (fs::exists(images / "train2017")) images_dir = (images / "train2017").string();
  ASSERT_EQ(test::run_command(std::string(VISIONRT_CLI) + " quantize -m " + ssd.string() +
                                  " --images " + images_dir + " --subset 4 --out " + q,
                              &out),
            0)
      << out;
  Predictor f(ssd.string()), g(q);
  ASSERT_EQ(f.names().size(), 91u);
  EXPECT_EQ(g.names(), f.names());
  EXPECT_NE(g.describe().find("names from model metadata"), std::string::npos) << g.describe();
  Model m = Core().read_model(q);
  ASSERT_TRUE(m.metadata().count("visionrt_quantization"));
  EXPECT_NE(m.metadata()
                .at("visionrt_quantization")
                .find("percentile (99.99) activation ranges on 4 images"),
            std::string::npos)
      << m.metadata().at("visionrt_quantization");
  fs::remove_all(dir);
}
