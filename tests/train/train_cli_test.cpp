// `visionrt train` end to end on a dataset written here (YOLO format, two classes of coloured
// rectangles): trains a YOLOv8n from scratch for one epoch, leaves best/last ONNX that `visionrt
// predict` runs and a results.csv row per epoch; bad flags and datasets are one clear error.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>

#include "../unit/test_util.hpp"

namespace fs = std::filesystem;
using namespace visionrt;

namespace {

void write(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << s;
}

fs::path make_dataset(const fs::path& root) {
  for (int i = 0; i < 4; ++i) {
    cv::Mat img(64, 96, CV_8UC3, cv::Scalar(90, 90, 90));
    const int x = 10 + 12 * i, y = 8 + 5 * i;
    cv::rectangle(img, {x, y, 24, 20}, i % 2 ? cv::Scalar(0, 0, 255) : cv::Scalar(255, 0, 0),
                  cv::FILLED);
    const std::string stem = "im" + std::to_string(i);
    cv::imwrite((root / "images" / "train" / (stem + ".png")).string(), img);
    const double cx = (x + 12) / 96.0, cy = (y + 10) / 64.0, w = 24 / 96.0, h = 20 / 64.0;
    write(root / "labels" / "train" / (stem + ".txt"),
          std::to_string(i % 2) + " " + std::to_string(cx) + " " + std::to_string(cy) + " " +
              std::to_string(w) + " " + std::to_string(h) + "\n");
  }
  write(root / "data.yaml",
        "path: .\ntrain: images/train\nval: images/train\nnames:\n  0: blue\n  1: red\n");
  return root / "data.yaml";
}

}  // namespace

TEST(TrainCli, OneEpochFromScratchExportsModelsPredictTakes) {
  fs::path dir = test::temp_dir("train_cli");
  fs::create_directories(dir / "images" / "train");
  const fs::path data = make_dataset(dir);
  const std::string cli = std::string(VISIONRT_CLI);
  std::string out;
  int rc = test::run_command(cli + " train --scale n --data " + data.string() +
                                 " --epochs 1 --imgsz 64 --batch 2 --threads 1 -q --out " +
                                 (dir / "run").string(),
                             &out);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("4 training images, 4 objects"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(dir / "run" / "weights" / "best.onnx"));
  EXPECT_TRUE(fs::exists(dir / "run" / "weights" / "last.onnx"));
  std::ifstream csv(dir / "run" / "results.csv");
  std::string header, row, extra;
  std::getline(csv, header);
  std::getline(csv, row);
  EXPECT_EQ(header.rfind("epoch,train/box_loss", 0), 0u) << header;
  EXPECT_EQ(row.rfind("1,", 0), 0u) << row;
  EXPECT_FALSE(std::getline(csv, extra));
  // Resumed for a second epoch from the checkpoint: one more results row, nothing restarted;
  // a checkpoint of another network is refused.
  EXPECT_TRUE(fs::exists(dir / "run" / "weights" / "last.pt"));
  rc = test::run_command(cli + " train --scale n --data " + data.string() +
                             " --epochs 2 --imgsz 64 --batch 2 --threads 1 --resume --out " +
                             (dir / "run").string(),
                         &out);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("resuming after epoch 1 of 2"), std::string::npos) << out;
  {
    std::ifstream again(dir / "run" / "results.csv");
    std::vector<std::string> lines;
    for (std::string l; std::getline(again, l);) lines.push_back(l);
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[1].rfind("1,", 0), 0u);
    EXPECT_EQ(lines[2].rfind("2,", 0), 0u);
  }
  EXPECT_NE(test::run_command(cli + " train --scale s --data " + data.string() +
                                  " --epochs 3 --imgsz 64 --batch 2 --resume --out " +
                                  (dir / "run").string(),
                              &out),
            0);
  EXPECT_NE(out.find("the checkpoint is of YOLOv8 detect"), std::string::npos) << out;
  // The curves: one polyline per series (3 losses, 2 metrics) over both epochs.
  {
    std::ifstream f(dir / "run" / "results.svg");
    std::stringstream t;
    t << f.rdbuf();
    const std::string svg = t.str();
    EXPECT_EQ(svg.rfind("<svg", 0), 0u);
    size_t lines = 0;
    for (size_t p = svg.find("<polyline"); p != std::string::npos; p = svg.find("<polyline", p + 1))
      ++lines;
    EXPECT_EQ(lines, 5u);
    EXPECT_NE(svg.find("metrics/mAP50-95(B)"), std::string::npos);
  }
  // The export is a model predict recognises, with the dataset's names.
  rc = test::run_command(cli + " predict -m " + (dir / "run" / "weights" / "best.onnx").string() +
                             " " + (dir / "images" / "train" / "im0.png").string() +
                             " --no-save --conf 0.001",
                         &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("yolov8 (detect)"), std::string::npos) << out;
  EXPECT_NE(out.find("2 classes; names from model metadata"), std::string::npos) << out;
  // Clear errors: none of --model, --scale, --cfg (or two), an unknown scale, a DCN layer that
  // is no C2f, a size that is no multiple of 32, a dataset that does not exist.
  EXPECT_NE(test::run_command(cli + " train --data " + data.string(), &out), 0);
  EXPECT_NE(out.find("give one of --model"), std::string::npos) << out;
  EXPECT_NE(test::run_command(cli + " train --scale n --cfg x.yaml --data " + data.string(), &out),
            0);
  EXPECT_NE(out.find("give one of --model"), std::string::npos) << out;
  EXPECT_NE(test::run_command(cli + " train --scale n --dcn 5 --data " + data.string(), &out), 0);
  EXPECT_NE(out.find("DCNv2 in layer 5"), std::string::npos) << out;
  EXPECT_NE(test::run_command(cli + " train --scale q --data " + data.string(), &out), 0);
  EXPECT_NE(out.find("unknown YOLOv8 scale 'q'"), std::string::npos) << out;
  EXPECT_NE(test::run_command(cli + " train --scale n --imgsz 65 --epochs 1 --data " +
                                  data.string() + " --out " + (dir / "r2").string(),
                              &out),
            0);
  EXPECT_NE(out.find("imgsz 65"), std::string::npos) << out;
  EXPECT_NE(test::run_command(cli + " train --scale n --data " + (dir / "nope").string(), &out), 0);
  EXPECT_NE(out.find("nope"), std::string::npos) << out;
  fs::remove_all(dir);
}

TEST(TrainCli, SegmentationWithSnakeConvolutionsFromPolygonsTrainsAndPredictsMasks) {
  fs::path dir = test::temp_dir("train_cli_seg");
  fs::create_directories(dir / "images" / "train");
  for (int i = 0; i < 2; ++i) {
    cv::Mat img(64, 64, CV_8UC3, cv::Scalar(90, 90, 90));
    std::vector<cv::Point> tri{{10 + 8 * i, 50}, {40 + 8 * i, 50}, {25 + 8 * i, 12}};
    cv::fillPoly(img, std::vector<std::vector<cv::Point>>{tri}, cv::Scalar(0, 200, 0));
    const std::string stem = "s" + std::to_string(i);
    cv::imwrite((dir / "images" / "train" / (stem + ".png")).string(), img);
    std::string line = "0";
    for (const auto& p : tri)
      line += " " + std::to_string(p.x / 64.0) + " " + std::to_string(p.y / 64.0);
    write(dir / "labels" / "train" / (stem + ".txt"), line + "\n");
  }
  write(dir / "data.yaml", "path: .\ntrain: images/train\nval: images/train\nnames:\n  0: leaf\n");
  const std::string cli = std::string(VISIONRT_CLI);
  std::string out;
  int rc = test::run_command(
      cli + " train --scale n --task segment --dsconv 4 --data " + (dir / "data.yaml").string() +
          " --epochs 1 --imgsz 64 --batch 2 --threads 1 -q --out " + (dir / "run").string(),
      &out);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("YOLOv8 segment, 1 classes"), std::string::npos) << out;
  // The strawberry seed's layout: a YOLOv8-seg with snake-convolution bottlenecks, exported with
  // GridSample, which predict runs below.
  EXPECT_NE(out.find("snake convolutions in C2f layers 4"), std::string::npos) << out;
  {
    std::ifstream f(dir / "run" / "weights" / "best.onnx", std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    EXPECT_NE(bytes.find("GridSample"), std::string::npos);
  }
  std::ifstream csv(dir / "run" / "results.csv");
  std::string header;
  std::getline(csv, header);
  EXPECT_NE(header.find("train/seg_loss"), std::string::npos) << header;
  std::string row;
  std::getline(csv, row);
  EXPECT_EQ(std::count(row.begin(), row.end(), ','), std::count(header.begin(), header.end(), ','))
      << header << "\n"
      << row;
  rc = test::run_command(cli + " predict -m " + (dir / "run" / "weights" / "best.onnx").string() +
                             " " + (dir / "images" / "train" / "s0.png").string() +
                             " --no-save --conf 0.001",
                         &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("yolov8 (segment)"), std::string::npos) << out;
  fs::remove_all(dir);
}

TEST(TrainCli, ConfigWithDcnTrainsAndExportsDeformConv) {
  fs::path dir = test::temp_dir("train_cfg_cli");
  fs::create_directories(dir / "images" / "train");
  const fs::path data = make_dataset(dir);
  write(dir / "cfg.yaml", "model: yolov8\nscale: n\ntask: detect\ndcn: [2, 15]\n");
  std::string out;
  const int rc = test::run_command(std::string(VISIONRT_CLI) + " train --cfg " +
                                       (dir / "cfg.yaml").string() + " --data " + data.string() +
                                       " --epochs 1 --imgsz 64 --batch 2 --threads 1 -q --out " +
                                       (dir / "run").string(),
                                   &out);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("YOLOv8 detect, 2 classes"), std::string::npos) << out;
  EXPECT_NE(out.find("DCNv2 in C2f layers 2, 15"), std::string::npos) << out;
  std::ifstream f(dir / "run" / "weights" / "last.onnx", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_NE(bytes.find("DeformConv"), std::string::npos);
  fs::remove_all(dir);
}
