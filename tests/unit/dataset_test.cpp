// Dataset formats: YOLO label parsing rules, Ultralytics' multi-part polygon merge, image sizes
// from headers, VOC's 1-based boxes and difficult flags, round trips YOLO -> COCO -> VOC -> YOLO
// with boxes and polygons intact, bad files named in errors, --strict and atomic outputs; with
// ../shared, `eval --model` on coco128 reproduces the MANIFEST's published mAP.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "common/file_io.hpp"
#include "data/dataset.hpp"
#include "data/image_io.hpp"
#include "data/yolo_labels.hpp"
#include "kernels/kernel.hpp"
#include "test_util.hpp"
#include "visionrt/error.hpp"
#include "visionrt/vision.hpp"

namespace fs = std::filesystem;
using namespace visionrt;

namespace {

void write(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << s;
}

// A YOLO dataset: train (2 images) and val (1 image), boxes or polygons.
fs::path make_yolo(const fs::path& root, bool segments) {
  cv::Mat img(100, 200, CV_8UC3, cv::Scalar(40, 80, 120));
  fs::create_directories(root / "images" / "train");
  fs::create_directories(root / "images" / "val");
  cv::imwrite((root / "images" / "train" / "a.jpg").string(), img);
  cv::imwrite((root / "images" / "train" / "b.png").string(), img);
  cv::imwrite((root / "images" / "val" / "c.jpg").string(), img);
  if (segments) {
    write(root / "labels" / "train" / "a.txt", "0 0.1 0.1 0.5 0.1 0.5 0.6 0.1 0.6\n");
    write(root / "labels" / "train" / "b.txt", "1 0.2 0.2 0.9 0.2 0.55 0.9\n");
  } else {
    write(root / "labels" / "train" / "a.txt", "0 0.3 0.35 0.4 0.5\n1 0.75 0.5 0.2 0.2\n");
    write(root / "labels" / "train" / "b.txt", "1 0.5 0.5 0.5 0.5\n");
  }
  write(root / "labels" / "val" / "c.txt", "");
  write(root / "data.yaml",
        "path: .\ntrain: images/train\nval: images/val\nnames:\n  0: cat\n  1: dog\n");
  return root / "data.yaml";
}

std::map<std::string, std::string> labels_of(const fs::path& dir) {
  std::map<std::string, std::string> m;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().extension() == ".txt") {
      std::ifstream f(e.path());
      m[e.path().filename().string()] =
          std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    }
  return m;
}

}  // namespace

TEST(YoloLabels, BoxesSegmentsConfidenceAndRepairs) {
  YoloReadReport rep;
  auto o = parse_yolo_labels(
      "0 0.5 0.5 0.2 0.4\n\n3 0.1 0.1 0.3 0.1 0.2 0.4 0.9\n0 0.5 0.5 0.2 0.4\n"
      "1 0.95 0.5 0.2 0.2\n2 0.5 0.5 0 0.1\n",
      "x.txt", &rep);
  ASSERT_EQ(o.size(), 3u);
  EXPECT_DOUBLE_EQ(o[0].h, 0.4);
  EXPECT_EQ(o[1].cls, 3);
  EXPECT_EQ(o[1].polygon.size(), 6u);  // 7 values after the class: 3 points + confidence
  EXPECT_DOUBLE_EQ(o[1].conf, 0.9);
  EXPECT_DOUBLE_EQ(o[1].w, 0.2);     // the segment's tight box
  EXPECT_NEAR(o[2].w, 0.15, 1e-12);  // 0.85..1.05 clipped to 0.85..1
  EXPECT_EQ(rep.duplicates, 1u);
  EXPECT_EQ(rep.clipped, 1u);
  EXPECT_EQ(rep.degenerate, 1u);
  EXPECT_NE(
      test::error_of<InputError>([] { parse_yolo_labels("0 0.5 0.5\n", "y.txt"); }).find("y.txt:1"),
      std::string::npos);
  EXPECT_NE(test::error_of<InputError>([] {
              parse_yolo_labels("\n0 0.5 zz 1 1\n", "y.txt");
            }).find("y.txt:2: not a number"),
            std::string::npos);
  EXPECT_NE(test::error_of<InputError>([] {
              parse_yolo_labels("-1 0.5 0.5 1 1\n", "y.txt");
            }).find("class must be"),
            std::string::npos);
  bool missing = false;
  EXPECT_TRUE(read_yolo_labels("/nonexistent/l.txt", nullptr, &missing).empty());
  EXPECT_TRUE(missing);
}

TEST(PolygonMerge, UltralyticsBridgesClosestPoints) {
  // Closest pair: A[1] = (1,0) and B[0] = (3,0) (first minimum; A[2]-B[3] ties later).
  std::vector<double> m = merge_polygon_parts({{0, 0, 1, 0, 1, 1, 0, 1}, {3, 0, 4, 0, 4, 1, 3, 1}});
  std::vector<double> want = {1, 0, 1, 1, 0, 1, 0, 0, 1, 0, 3, 0, 4, 0, 4, 1, 3, 1, 3, 0};
  EXPECT_EQ(m, want);
  // Three parts: the middle one is walked there and back; every point appears.
  m = merge_polygon_parts({{0, 0, 1, 0, 1, 1}, {3, 0, 4, 0, 4, 1}, {6, 0, 7, 0, 7, 1}});
  EXPECT_EQ(m.size(), 2u * (4 + 4 + 4 + 1));
  EXPECT_EQ(merge_polygon_parts({{5, 5, 6, 5, 6, 6}}), (std::vector<double>{5, 5, 6, 5, 6, 6}));
}

TEST(ImageSize, HeadersOfJpegPngBmpAndCorruptFiles) {
  fs::path dir = test::temp_dir("imgsize");
  cv::Mat img(37, 53, CV_8UC3, cv::Scalar(1, 2, 3));
  for (const char* ext : {".jpg", ".png", ".bmp"}) {
    std::string p = (dir / (std::string("x") + ext)).string();
    ASSERT_TRUE(cv::imwrite(p, img));
    int64_t w = 0, h = 0;
    image_size(p, &w, &h);
    EXPECT_EQ(w, 53) << ext;
    EXPECT_EQ(h, 37) << ext;
  }
  write(dir / "bad.jpg", "\xff\xd8\xff\xe0garbage");
  int64_t w, h;
  EXPECT_NE(test::error_of<IoError>([&] {
              image_size((dir / "bad.jpg").string(), &w, &h);
            }).find("bad.jpg: cannot decode the image (corrupt or truncated JPEG"),
            std::string::npos);
  fs::remove_all(dir);
}

TEST(ImageIo, DecodesTheKnownFormatsAndNamesTheFileAndTheProblemOtherwise) {
  // Every user image goes through read_image/decode_image: the formats OpenCV decodes in its own
  // code reach it; other content (a DICOM file, which Debian's GDCM decoder can abort the process
  // on) never does, and each failure names the file and what is wrong with it.
  fs::path dir = test::temp_dir("imageio");
  cv::Mat img(19, 23, CV_8UC3);
  cv::randu(img, cv::Scalar::all(0), cv::Scalar::all(255));
  for (const char* ext : {".jpg", ".png", ".bmp", ".tif", ".webp", ".ppm"}) {
    const std::string p = (dir / (std::string("x") + ext)).string();
    ASSERT_TRUE(cv::imwrite(p, img)) << ext;
    const cv::Mat got = read_image(p);
    EXPECT_EQ(got.cols, 23) << ext;
    EXPECT_EQ(got.rows, 19) << ext;
    EXPECT_EQ(got.type(), CV_8UC3) << ext;
    const std::string bytes = read_file(p);
    EXPECT_NE(image_format(bytes.data(), bytes.size()), nullptr) << ext;
    EXPECT_EQ(decode_image(bytes.data(), bytes.size()).cols, 23) << ext;
    if (std::string(ext) == ".png" || std::string(ext) == ".bmp" || std::string(ext) == ".ppm") {
      // Lossless: the very pixels.
      EXPECT_EQ(cv::norm(got, img, cv::NORM_INF), 0) << ext;
    }
  }
  // A one-channel 16-bit label PNG stays as it is with IMREAD_UNCHANGED.
  cv::Mat labels(5, 7, CV_16UC1, cv::Scalar(300));
  ASSERT_TRUE(cv::imwrite((dir / "l.png").string(), labels));
  EXPECT_EQ(read_image((dir / "l.png").string(), cv::IMREAD_UNCHANGED).type(), CV_16UC1);

  std::string dicom(128, '\0');
  dicom += "DICM";
  dicom += std::string(64, '\x01');
  write(dir / "scan.dcm", dicom);
  write(dir / "empty.png", "");
  write(dir / "cut.png", std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16));
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"scan.dcm", "scan.dcm: not a JPEG, PNG, BMP, TIFF, WebP or PNM image"},
      {"empty.png", "empty.png: empty file (image expected)"},
      {"cut.png", "cut.png: cannot decode the image (corrupt or truncated PNG, 16 bytes)"},
      {"missing.jpg", "missing.jpg: cannot open the image (No such file or directory)"},
  };
  for (const auto& b : bad) {
    const std::string& name = b.first;
    const std::string& message = b.second;
    const std::string e = test::error_of<IoError>([&] { read_image((dir / name).string()); });
    EXPECT_NE(e.find(message), std::string::npos) << e;
  }
  EXPECT_NE(test::error_of<IoError>([&] {
              read_image((dir / "cut.png").string(), cv::IMREAD_UNCHANGED, "label image");
            }).find("cannot decode the label image"),
            std::string::npos);
  EXPECT_TRUE(decode_image(dicom.data(), dicom.size()).empty());
  EXPECT_TRUE(decode_image("", 0).empty());
  fs::remove_all(dir);
}

TEST(Voc, OneBasedBoxesDifficultAndMalformedXml) {
  fs::path root = test::temp_dir("voc");
  fs::create_directories(root / "JPEGImages");
  cv::imwrite((root / "JPEGImages" / "0001.jpg").string(), cv::Mat(50, 80, CV_8UC3, cv::Scalar(9)));
  write(root / "Annotations" / "0001.xml",
        "<annotation><filename>0001.jpg</filename><size><width>80</width><height>50</height>"
        "</size><object><name>dog</name><difficult>1</difficult><bndbox><xmin>1</xmin>"
        "<ymin>11</ymin><xmax>40</xmax><ymax>50</ymax></bndbox></object>"
        "<object><name>cat</name><bndbox><xmin>60</xmin><ymin>5</ymin><xmax>90</xmax>"
        "<ymax>20</ymax></bndbox></object></annotation>");
  write(root / "ImageSets" / "Main" / "val.txt", "0001\n");
  DatasetReport rep;
  CocoDataset d = read_dataset(DatasetFormat::voc, root.string(), {}, &rep);
  ASSERT_EQ(d.images.size(), 1u);
  EXPECT_EQ(d.images[0].id, 1);  // numeric stem
  EXPECT_EQ(d.images[0].split, "val");
  ASSERT_EQ(d.annotations.size(), 2u);
  const CocoAnnotation& dog = d.annotations[0];
  EXPECT_DOUBLE_EQ(dog.bbox.x, 0);
  EXPECT_DOUBLE_EQ(dog.bbox.y, 10);
  EXPECT_DOUBLE_EQ(dog.bbox.w, 39);
  EXPECT_TRUE(dog.difficult);
  // Names from the VOC20 list, in its order: cat = 8, dog = 12 (1-based ids).
  EXPECT_EQ(dog.category_id, 12);
  EXPECT_EQ(d.annotations[1].category_id, 8);
  EXPECT_DOUBLE_EQ(d.annotations[1].bbox.w, 21);  // xmax 90 clipped to the 80 px image
  EXPECT_EQ(rep.boxes_clipped, 1u);
  write(root / "Annotations" / "0002.xml", "<annotation><object><name>x</name>");
  EXPECT_NE(test::error_of<InputError>([&] {
              read_dataset(DatasetFormat::voc, root.string(), {}, nullptr);
            }).find("0002.xml: malformed XML"),
            std::string::npos);
  fs::remove_all(root);
}

TEST(Convert, RoundTripYoloCocoVocYoloKeepsBoxes) {
  fs::path dir = test::temp_dir("roundtrip");
  fs::path yaml = make_yolo(dir / "src", false);
  DatasetReport rep;
  CocoDataset d = read_dataset(DatasetFormat::yolo, yaml.string(), {}, &rep);
  ASSERT_EQ(d.images.size(), 3u);
  EXPECT_EQ(rep.images_without_labels, 1u);
  ASSERT_EQ(d.annotations.size(), 3u);
  EXPECT_NEAR(d.annotations[0].bbox.x, (0.3 - 0.2) * 200, 1e-9);
  EXPECT_NEAR(d.annotations[0].bbox.h, 50, 1e-9);
  write_dataset(d, DatasetFormat::coco, (dir / "coco").string(), {}, nullptr);
  ASSERT_TRUE(fs::exists(dir / "coco" / "annotations" / "instances_train.json"));
  ASSERT_TRUE(fs::exists(dir / "coco" / "images" / "val" / "c.jpg"));
  CocoDataset c =
      read_dataset(DatasetFormat::coco,
                   (dir / "coco" / "annotations" / "instances_train.json").string(), {}, nullptr);
  EXPECT_EQ(c.images.size(), 2u);
  write_dataset(c, DatasetFormat::voc, (dir / "voc").string(), {}, nullptr);
  // VOC files carry no class list (these names would otherwise take VOC20's ids): give it.
  DatasetReadOptions names;
  names.names = {"cat", "dog"};
  CocoDataset v = read_dataset(DatasetFormat::voc, (dir / "voc").string(), names, nullptr);
  EXPECT_EQ(v.images[0].split, "train");
  ASSERT_EQ(v.annotations.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(v.annotations[i].bbox.x, d.annotations[i].bbox.x, 1e-4);
    EXPECT_NEAR(v.annotations[i].bbox.w, d.annotations[i].bbox.w, 1e-4);
  }
  write_dataset(v, DatasetFormat::yolo, (dir / "yolo").string(), {}, nullptr);
  auto before = labels_of(dir / "src" / "labels" / "train");
  auto after = labels_of(dir / "yolo" / "labels" / "train");
  EXPECT_EQ(after["a.txt"], "0 0.3 0.35 0.4 0.5\n1 0.75 0.5 0.2 0.2\n");
  EXPECT_EQ(after["b.txt"], before["b.txt"]);
  std::ifstream y(dir / "yolo" / "data.yaml");
  std::string yt((std::istreambuf_iterator<char>(y)), std::istreambuf_iterator<char>());
  EXPECT_NE(yt.find("0: cat"), std::string::npos) << yt;
  // Sources untouched; a destination that exists is refused.
  EXPECT_EQ(labels_of(dir / "src" / "labels" / "train"), before);
  EXPECT_NE(test::error_of<IoError>([&] {
              write_dataset(d, DatasetFormat::yolo, (dir / "yolo").string(), {}, nullptr);
            }).find("exists and is not empty"),
            std::string::npos);
  fs::remove_all(dir);
}

TEST(Convert, SegmentsSurviveYoloToCocoAndBack) {
  fs::path dir = test::temp_dir("segtrip");
  fs::path yaml = make_yolo(dir / "src", true);
  CocoDataset d = read_dataset(DatasetFormat::yolo, yaml.string(), {}, nullptr);
  ASSERT_EQ(d.annotations.size(), 2u);
  ASSERT_EQ(d.annotations[0].polygons.size(), 1u);
  // Polygon area from maskApi rasterization of the 80x50 px rectangle (0.1..0.5, 0.1..0.6).
  EXPECT_NEAR(d.annotations[0].area, 80 * 50, 80 + 50 + 1);
  write_dataset(d, DatasetFormat::coco, (dir / "coco").string(), {}, nullptr);
  auto j =
      nlohmann::json::parse(std::ifstream(dir / "coco" / "annotations" / "instances_train.json"));
  EXPECT_EQ(j["annotations"][0]["segmentation"][0].size(), 8u);
  CocoDataset c =
      read_dataset(DatasetFormat::coco,
                   (dir / "coco" / "annotations" / "instances_train.json").string(), {}, nullptr);
  write_dataset(c, DatasetFormat::yolo, (dir / "yolo").string(), {}, nullptr);
  auto after = labels_of(dir / "yolo" / "labels" / "train");
  EXPECT_EQ(after["a.txt"], "0 0.1 0.1 0.5 0.1 0.5 0.6 0.1 0.6\n");
  EXPECT_EQ(after["b.txt"], "1 0.2 0.2 0.9 0.2 0.55 0.9\n");
  fs::remove_all(dir);
}

TEST(ConvertCli, ReportStrictAndBadFiles) {
  fs::path dir = test::temp_dir("convert_cli");
  fs::path yaml = make_yolo(dir / "src", false);
  write(dir / "src" / "labels" / "train" / "a.txt", "0 0.9 0.5 0.4 0.5\n7 0.5 0.5 0.1 0.1\n");
  std::string cli = std::string(VISIONRT_CLI) + " convert --from yolo --to coco " + yaml.string();
  std::string out;
  // --strict: the clipped box and the unknown class 7 are errors; nothing is written.
  EXPECT_EQ(test::run_command(cli + " " + (dir / "strict").string() + " --strict", &out), 1);
  EXPECT_NE(out.find("class 7 is beyond the 2 names"), std::string::npos) << out;
  EXPECT_NE(out.find("1 boxes outside the image (clipped)"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir / "strict"));
  ASSERT_EQ(test::run_command(cli + " " + (dir / "ok").string(), &out), 0) << out;
  EXPECT_NE(out.find("wrote"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(dir / "ok" / "annotations" / "instances_train.json"));
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
  write(dir / "bad.yaml", "names: [a, b\ntrain: images");
  EXPECT_EQ(test::run_command(std::string(VISIONRT_CLI) + " convert --from yolo --to voc " +
                                  (dir / "bad.yaml").string() + " " + (dir / "x").string(),
                              &out),
            1);
  EXPECT_NE(out.find("bad.yaml: malformed YAML"), std::string::npos) << out;
  write(dir / "bad.json", "{\"images\": [");
  EXPECT_EQ(test::run_command(std::string(VISIONRT_CLI) + " convert --from coco --to yolo " +
                                  (dir / "bad.json").string() + " " + (dir / "y").string(),
                              &out),
            1);
  EXPECT_NE(out.find("bad.json: malformed JSON"), std::string::npos) << out;
  fs::remove_all(dir);
}

TEST(EvalCli, SemanticMiouFromLabelPngsAndVocColours) {
  fs::path dir = test::temp_dir("miou");
  fs::create_directories(dir / "gt");
  fs::create_directories(dir / "gtc");
  fs::create_directories(dir / "pred");
  // Ground truth [0 0 1 1; 0 255 1 1], prediction [0 1 1 1; 0 0 1 1]; 255 ignored.
  // Class 0: TP 2, FN 1 -> 2/3; class 1: TP 4, FP 1 -> 4/5; mIoU 0.7333; pixel acc 6/7.
  cv::Mat gt = (cv::Mat_<uint8_t>(2, 4) << 0, 0, 1, 1, 0, 255, 1, 1);
  cv::Mat pr = (cv::Mat_<uint8_t>(2, 4) << 0, 1, 1, 1, 0, 0, 1, 1);
  cv::imwrite((dir / "gt" / "x.png").string(), gt);
  cv::imwrite((dir / "pred" / "x.png").string(), pr);
  // The same ground truth as a VOC SegmentationClass colour image.
  cv::Mat colour(2, 4, CV_8UC3);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 4; ++x)
      colour.at<cv::Vec3b>(y, x) = palette_color(Palette::voc, gt.at<uint8_t>(y, x));
  cv::imwrite((dir / "gtc" / "x.png").string(), colour);
  for (const char* g : {"gt", "gtc"}) {
    std::string out;
    int rc = test::run_command(std::string(VISIONRT_CLI) + " eval --seg-gt " + (dir / g).string() +
                                   " --seg-pred " + (dir / "pred").string() +
                                   " --num-classes 2 --json " + (dir / "m.json").string(),
                               &out);
    ASSERT_EQ(rc, 0) << out;
    auto j = nlohmann::json::parse(std::ifstream(dir / "m.json"));
    EXPECT_NEAR(j["iou"][0].get<double>(), 2.0 / 3, 1e-12) << g;
    EXPECT_NEAR(j["iou"][1].get<double>(), 0.8, 1e-12) << g;
    EXPECT_NEAR(j["mIoU"].get<double>(), (2.0 / 3 + 0.8) / 2, 1e-12) << g;
    EXPECT_NEAR(j["pixel_accuracy"].get<double>(), 6.0 / 7, 1e-12) << g;
  }
  // A size mismatch names the file.
  cv::imwrite((dir / "pred" / "x.png").string(), cv::Mat(3, 3, CV_8UC1, cv::Scalar(0)));
  std::string out;
  EXPECT_EQ(
      test::run_command(std::string(VISIONRT_CLI) + " eval --seg-gt " + (dir / "gt").string() +
                            " --seg-pred " + (dir / "pred").string() + " --num-classes 2",
                        &out),
      1);
  EXPECT_NE(out.find("x.png: ground truth is 4x2, the prediction 3x3"), std::string::npos) << out;
  fs::remove_all(dir);
}

TEST(EvalE2e, Yolov8nOnCoco128ReproducesManifestMap) {
  std::string shared = test::shared_dir();
  std::string model = shared + "/models/yolov8n/yolov8n.onnx";
  if (!fs::exists(model) || !fs::exists(shared + "/data/coco128"))
    GTEST_SKIP() << "../shared yolov8n or coco128 absent";
  fs::path dir = test::temp_dir("eval_e2e");
  std::string out;
  int rc =
      test::run_command(std::string(VISIONRT_CLI) + " eval --model " + model + " --data " + shared +
                            "/data/coco128 --format yolo --precision f32 --names " + shared +
                            "/data/class_names/coco80_ultralytics.names --json " +
                            (dir / "stats.json").string() + " --plot " + (dir / "pr.svg").string(),
                        &out);
  ASSERT_EQ(rc, 0) << out;
  auto j = nlohmann::json::parse(std::ifstream(dir / "stats.json"));
  // MANIFEST (ONNX Runtime + an Ultralytics-style evaluator, 300 detections per image):
  // mAP50 0.613, mAP50-95 0.459. COCOeval counts 100 per image, so allow 0.015.
  std::printf("coco128 yolov8n: AP %.4f AP50 %.4f\n", j["AP"].get<double>(),
              j["AP50"].get<double>());
  EXPECT_NEAR(j["AP"].get<double>(), 0.459, 0.015);
  EXPECT_NEAR(j["AP50"].get<double>(), 0.613, 0.015);
  EXPECT_TRUE(fs::file_size(dir / "pr.svg") > 1000);
  if (cpu_supports_bf16()) {
    // Issue 13's bar for INFERENCE_PRECISION bf16: mAP within 0.5 point of f32.
    ASSERT_EQ(
        test::run_command(
            std::string(VISIONRT_CLI) + " eval --model " + model + " --data " + shared +
                "/data/coco128 --format yolo --precision bf16 " + "--names " + shared +
                "/data/class_names/coco80_ultralytics.names --json " + (dir / "bf16.json").string(),
            &out),
        0)
        << out;
    auto b = nlohmann::json::parse(std::ifstream(dir / "bf16.json"));
    std::printf("coco128 yolov8n bf16: AP %.4f AP50 %.4f\n", b["AP"].get<double>(),
                b["AP50"].get<double>());
    EXPECT_NEAR(b["AP"].get<double>(), j["AP"].get<double>(), 0.005);
    EXPECT_NEAR(b["AP50"].get<double>(), j["AP50"].get<double>(), 0.005);
  }
  fs::remove_all(dir);
}

TEST(EvalE2e, SsdMobilenetOnCoco128ReproducesManifestMap) {
  std::string shared = test::shared_dir();
  std::string model =
      shared + "/models/ssd_mobilenet_v1_075_coco/ssd_mobilenet_v1_075_coco_300.onnx";
  if (!fs::exists(model) || !fs::exists(shared + "/data/coco128"))
    GTEST_SKIP() << "../shared ssd_mobilenet or coco128 absent";
  fs::path dir = test::temp_dir("eval_ssd");
  std::string out;
  // The MANIFEST's setting: score > 0.01, per-class NMS 0.6, classes matched by name (the
  // model's 91-id TF label map against the 80 names): mAP50 0.395, mAP50-95 0.234.
  int rc = test::run_command(std::string(VISIONRT_CLI) + " eval --model " + model + " --data " +
                                 shared + "/data/coco128 --names " + shared +
                                 "/data/class_names/coco80_ultralytics.names --conf 0.01 --iou 0.6"
                                 " --precision f32"
                                 " --json " +
                                 (dir / "stats.json").string(),
                             &out);
  ASSERT_EQ(rc, 0) << out;
  auto j = nlohmann::json::parse(std::ifstream(dir / "stats.json"));
  EXPECT_NEAR(j["AP"].get<double>(), 0.234, 0.01);
  EXPECT_NEAR(j["AP50"].get<double>(), 0.395, 0.01);
  fs::remove_all(dir);
}

TEST(EvalCli, RepairsAreCountedAndStrictMakesThemErrors) {
  fs::path dir = test::temp_dir("eval_strict");
  fs::path yaml = make_yolo(dir / "src", false);
  write(dir / "src" / "labels" / "train" / "a.txt", "0 0.3 0.35 0.4 0.5\n7 0.5 0.5 0.1 0.1\n");
  // Results: one exact detection of a.jpg's cat, in COCO form (image ids follow file order).
  write(dir / "dt.json",
        "[{\"image_id\": 1, \"category_id\": 0, \"score\": 0.9, \"bbox\": [20, 10, 80, 50]}]");
  const std::string cli = std::string(VISIONRT_CLI) + " eval --data " + yaml.string();
  std::string out;
  // Counted and dropped by default; --strict refuses with the count and the first finding.
  ASSERT_EQ(test::run_command(cli + " --dt " + (dir / "dt.json").string(), &out), 0) << out;
  EXPECT_NE(out.find("1 objects of unknown classes (dropped)"), std::string::npos) << out;
  EXPECT_EQ(test::run_command(cli + " --dt " + (dir / "dt.json").string() + " --strict", &out), 1);
  EXPECT_NE(out.find("--strict and the dataset needed repairs"), std::string::npos) << out;
  EXPECT_NE(out.find("class 7"), std::string::npos) << out;
  // A COCO file with an annotation of an undeclared category: a counted warning, or with
  // --strict an error naming the annotation.
  write(dir / "gt.json",
        "{\"images\": [{\"id\": 1, \"width\": 100, \"height\": 100}], \"categories\": [{\"id\": "
        "1, \"name\": \"a\"}], \"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": 1, "
        "\"bbox\": [10, 10, 20, 20], \"area\": 400, \"iscrowd\": 0}, {\"id\": 2, \"image_id\": 1, "
        "\"category_id\": 9, \"bbox\": [50, 50, 20, 20], \"area\": 400, \"iscrowd\": 0}]}");
  write(dir / "dt2.json",
        "[{\"image_id\": 1, \"category_id\": 1, \"score\": 0.9, \"bbox\": [10, 10, 20, 20]}]");
  const std::string gt_cli = std::string(VISIONRT_CLI) + " eval --gt " +
                             (dir / "gt.json").string() + " --dt " + (dir / "dt2.json").string();
  ASSERT_EQ(test::run_command(gt_cli, &out), 0) << out;
  EXPECT_NE(out.find("1 annotation(s) of undeclared categories dropped"), std::string::npos) << out;
  EXPECT_NE(out.find("maxDets=100 ] = 1.000"), std::string::npos) << out;  // as pycocotools
  EXPECT_EQ(test::run_command(gt_cli + " --strict", &out), 1);
  EXPECT_NE(out.find("annotation 1 (id 2): category_id 9 is not in 'categories'"),
            std::string::npos)
      << out;
  fs::remove_all(dir);
}
