// `visionrt predict --model M SOURCE...`: runs a task pipeline (vision/) over images, folders,
// globs and videos; writes annotated images/videos, predictions.json (COCO results), optional
// YOLO txt labels and crops into the output folder, and prints one summary line per image.
// A bad item is reported and skipped; the run ends non-zero if any item failed.
#include <fmt/core.h>
#include <glob.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <set>

#include "cli_util.hpp"
#include "commands.hpp"
#include "common/file_io.hpp"
#include "data/coco_ids.hpp"
#include "data/image_io.hpp"
#include "geometry/rle.hpp"
#include "pipeline_flags.hpp"
#include "visionrt/error.hpp"
#include "visionrt/vision.hpp"

namespace visionrt::cli {

namespace fs = std::filesystem;

namespace {

const std::set<std::string> kImageExt = {".jpg", ".jpeg", ".png", ".bmp", ".webp",
                                         ".tif", ".tiff", ".pgm", ".ppm", ".jp2"};
const std::set<std::string> kVideoExt = {".mp4", ".avi",  ".mov", ".mkv", ".m4v",
                                         ".mpg", ".mpeg", ".wmv", ".webm"};

std::string lower_ext(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return e;
}

struct Item {
  fs::path path;
  bool video = false;
};

// Expands sources into items; a source that is neither an existing file, a folder nor a glob
// that matches is an error (reported once, the others still run).
std::vector<Item> expand_sources(const std::vector<std::string>& sources,
                                 std::vector<std::string>* errors) {
  std::vector<Item> items;
  auto add_file = [&](const fs::path& p, bool explicit_file) {
    std::string e = lower_ext(p);
    if (kImageExt.count(e)) {
      items.push_back({p, false});
    } else if (kVideoExt.count(e)) {
      items.push_back({p, true});
    } else if (explicit_file) {
      items.push_back({p, false});  // let the decoder decide; it reports what it cannot read
    }
  };
  for (const std::string& s : sources) {
    std::error_code ec;
    if (s.find_first_of("*?[") != std::string::npos && !fs::exists(s, ec)) {
      glob_t g{};
      int rc = ::glob(s.c_str(), 0, nullptr, &g);
      if (rc != 0 || g.gl_pathc == 0) {
        errors->push_back(fmt::format("{}: no file matches this pattern", s));
      } else {
        size_t before = items.size();
        for (size_t i = 0; i < g.gl_pathc; ++i)
          if (fs::is_regular_file(g.gl_pathv[i], ec)) add_file(g.gl_pathv[i], false);
        if (items.size() == before)
          errors->push_back(fmt::format("{}: no image or video matches this pattern", s));
      }
      globfree(&g);
      continue;
    }
    if (fs::is_directory(s, ec)) {
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(s, ec))
        if (e.is_regular_file(ec)) files.push_back(e.path());
      std::sort(files.begin(), files.end());
      size_t before = items.size();
      for (const auto& f : files) add_file(f, false);
      if (items.size() == before)
        errors->push_back(fmt::format("{}: folder has no images or videos", s));
      continue;
    }
    if (!fs::exists(s, ec)) {
      errors->push_back(fmt::format("{}: no such file or folder", s));
      continue;
    }
    add_file(s, true);
  }
  return items;
}

// image_id for predictions.json: the numeric file stem (COCO's 000000000009.jpg -> 9), else the
// item's position (1-based).
int64_t image_id_for(const fs::path& p, int64_t index) {
  std::string stem = p.stem().string();
  if (!stem.empty() && stem.size() <= 15 &&
      std::all_of(stem.begin(), stem.end(), [](unsigned char c) { return std::isdigit(c); }))
    return std::stoll(stem);
  return index;
}

// Largest outer contour of a mask, as Ultralytics' masks.xy (segments for YOLO labels).
std::vector<cv::Point> mask_polygon(const Detection& d) {
  std::vector<std::vector<cv::Point>> cs;
  cv::Mat m = d.mask.clone();
  cv::findContours(m, cs, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
  size_t best = 0;
  for (size_t i = 1; i < cs.size(); ++i)
    if (cs[i].size() > cs[best].size()) best = i;
  std::vector<cv::Point> out;
  if (cs.empty()) return out;
  for (const auto& p : cs[best]) out.emplace_back(p.x + d.mask_roi.x, p.y + d.mask_roi.y);
  return out;
}

std::string summary_of(const Prediction& p, const std::vector<std::string>& names) {
  if (p.task == Task::semantic) {
    std::map<int, int64_t> count;
    for (int y = 0; y < p.labels.rows; ++y) {
      const int32_t* l = p.labels.ptr<int32_t>(y);
      for (int x = 0; x < p.labels.cols; ++x) count[l[x]]++;
    }
    std::string s;
    double total = static_cast<double>(p.labels.total());
    for (const auto& [c, n] : count) {
      if (c == 0) continue;
      std::string name = c < static_cast<int>(names.size()) ? names[c] : std::to_string(c);
      s += fmt::format("{}{} {:.1f}%", s.empty() ? "" : ", ", name, 100.0 * n / total);
    }
    return s.empty() ? "background only" : s;
  }
  std::map<int, int> count;
  std::map<int, std::string> label;
  for (const auto& d : p.detections) {
    count[d.class_id]++;
    label[d.class_id] = d.label;
  }
  std::string s;
  for (const auto& [c, n] : count) s += fmt::format("{}{} {}", s.empty() ? "" : ", ", n, label[c]);
  return s.empty() ? "(no detections)" : s;
}

void write_image_atomic(const fs::path& path, const cv::Mat& img) {
  std::vector<uint8_t> buf;
  std::string ext = lower_ext(path);
  if (!kImageExt.count(ext) || ext == ".jp2") ext = ".jpg";
  if (!cv::imencode(ext, img, buf))
    throw IoError(fmt::format("{}: cannot encode the image", path.string()));
  write_file_atomic(path.string(), std::string(buf.begin(), buf.end()));
}

}  // namespace

std::function<int()> add_predict(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "predict", "Run a detection / segmentation / text model on images, folders, globs or videos");
  struct Opts {
    std::string model, task, family, names_file, out, classes;
    std::vector<std::string> sources;
    float conf = 0.25f, iou = 0.7f, alpha = 0.5f;
    int max_det = 300, imgsz = 0, threads = 0;
    bool agnostic = false, retina = false, save_txt = false, save_crop = false, no_save = false,
         quiet = false;
    std::optional<float> db_box_thresh;
    float db_thresh = 0.3f, unclip = 1.5f;
    PreprocessFlags pre;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model,-m", o->model, "ONNX model")->required();
  cmd->add_option("sources", o->sources, "Images, folders, globs ('*.jpg') or videos")->required();
  cmd->add_option("--task", o->task,
                  "Expected task: detect, segment, semantic, text (default: from the model)")
      ->check(CLI::IsMember({"detect", "segment", "semantic", "text"}));
  std::string fams;
  for (const std::string& f : model_family_names()) fams += (fams.empty() ? "" : ", ") + f;
  cmd->add_option("--family", o->family, "Model family: " + fams + " (default: from the model)")
      ->check(CLI::IsMember(model_family_names()));
  cmd->add_option("--conf", o->conf, "Minimum score")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--iou", o->iou, "NMS IoU threshold")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--max-det", o->max_det, "Detections per image at most")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--classes", o->classes, "Keep only these class ids, comma-separated (0,2,5)");
  cmd->add_flag("--agnostic-nms", o->agnostic, "Class-agnostic NMS");
  cmd->add_option("--imgsz", o->imgsz,
                  "Input size for models with dynamic height/width (multiple of 32)")
      ->check(CLI::Range(32, 8192));
  cmd->add_option("--names", o->names_file, "Class names file, one per line (index = class id)");
  cmd->add_flag("--retina-masks", o->retina,
                "Segment: masks at native resolution (upsample, then crop)");
  cmd->add_option("--out,-o", o->out, "Output folder (default: runs/predict, runs/predict2, ...)");
  cmd->add_flag("--save-txt", o->save_txt,
                "Also write YOLO labels (normalized, with confidence) to OUT/labels");
  cmd->add_flag("--save-crop", o->save_crop,
                "Also write each detection's crop to OUT/crops/<label>/");
  cmd->add_flag("--no-save", o->no_save, "Do not write annotated images or videos");
  cmd->add_flag("--quiet,-q", o->quiet, "No per-image lines");
  cmd->add_option("--threads", o->threads, "Intra-op threads (0 = all cores)")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--alpha", o->alpha, "Mask overlay opacity")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--db-thresh", o->db_thresh, "Text: probability threshold of the DB map")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--db-box-thresh", o->db_box_thresh,
                  "Text: minimum mean probability of a box (default 0.6)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--unclip-ratio", o->unclip, "Text: box expansion ratio")
      ->check(CLI::Range(0.0, 10.0));
  add_preprocess_flags(cmd, &o->pre);
  return [o]() {
    PredictOptions opt;
    apply_preprocess_flags(o->pre, &opt);
    opt.conf = o->conf;
    opt.iou = o->iou;
    opt.max_det = o->max_det;
    opt.agnostic_nms = o->agnostic;
    opt.retina_masks = o->retina;
    opt.imgsz = o->imgsz;
    opt.family = o->family;
    opt.threads = o->threads;
    opt.db_thresh = o->db_thresh;
    opt.db_box_thresh = o->db_box_thresh;
    opt.db_unclip_ratio = o->unclip;
    if (o->imgsz % 32)
      throw InputError(fmt::format("--imgsz {} must be a multiple of 32", o->imgsz));
    if (!o->classes.empty()) {
      size_t a = 0;
      while (a <= o->classes.size()) {
        size_t b = o->classes.find(',', a);
        if (b == std::string::npos) b = o->classes.size();
        std::string t = o->classes.substr(a, b - a);
        size_t pos = 0;
        int v = -1;
        try {
          v = std::stoi(t, &pos);
        } catch (const std::exception&) {
          pos = 0;
        }
        if (t.empty() || pos != t.size() || v < 0)
          throw InputError(
              fmt::format("--classes '{}': expected class ids like 0,2,5", o->classes));
        opt.classes.push_back(v);
        a = b + 1;
      }
    }
    if (!o->names_file.empty()) opt.names = read_names_list(o->names_file);
    Predictor pred(o->model, opt);
    if (!o->task.empty() && o->task != task_name(pred.task()))
      throw InputError(fmt::format("{}: --task {} but the model is a {} ({}) model", o->model,
                                   o->task, task_name(pred.task()), pred.family()));
    fmt::print("{}\n", pred.describe());
    std::vector<std::string> errors;
    std::vector<Item> items = expand_sources(o->sources, &errors);
    if (items.empty()) {
      for (const auto& e : errors) fmt::print(stderr, "visionrt: {}\n", e);
      throw InputError("nothing to predict on");
    }
    fs::path out = o->out.empty() ? fresh_dir("runs/predict") : fs::path(o->out);
    std::error_code ec;
    fs::create_directories(out, ec);
    if (ec)
      throw IoError(
          fmt::format("{}: cannot create the output folder: {}", out.string(), ec.message()));
    std::set<fs::path> inputs;
    for (const auto& it : items) inputs.insert(fs::weakly_canonical(it.path, ec));
    // Output names: the input's file name, made unique across inputs from different folders.
    std::set<std::string> used;
    auto out_name = [&](const fs::path& in, const std::string& ext) {
      // Never an input file (--out may be the input folder): a suffix makes it unique.
      std::string stem = in.stem().string(), name = stem + ext;
      for (int i = 2; used.count(name) || inputs.count(fs::weakly_canonical(out / name, ec)); ++i)
        name = fmt::format("{}_{}{}", stem, i, ext);
      used.insert(name);
      return out / name;
    };
    const auto& names = pred.names();
    const bool coco_ids = is_coco80_names(names);
    nlohmann::json results = nlohmann::json::array();
    double pre_ms = 0, inf_ms = 0, post_ms = 0;
    size_t n_images = 0, n_frames = 0, n_videos = 0;
    auto record = [&](const Prediction& p, const fs::path& src, int64_t image_id,
                      const std::string& stem, const cv::Mat& image) {
      pre_ms += p.preprocess_ms;
      inf_ms += p.inference_ms;
      post_ms += p.postprocess_ms;
      for (const Detection& d : p.detections) {
        nlohmann::json r;
        r["image_id"] = image_id;
        int cat = d.class_id;
        if (coco_ids && cat >= 0 && cat < 80) cat = coco80_to_91()[cat];
        r["category_id"] = cat;
        auto round3 = [](double v) { return std::round(v * 1000) / 1000; };
        r["bbox"] = {round3(d.x1), round3(d.y1), round3(d.x2 - d.x1), round3(d.y2 - d.y1)};
        r["score"] = std::round(d.score * 100000) / 100000;
        if (!d.mask.empty()) {
          cv::Mat m = image_mask(d, p.image_size);
          std::vector<uint8_t> dense(m.data, m.data + m.total());
          Rle rle = rle_encode(dense, static_cast<uint32_t>(m.rows), static_cast<uint32_t>(m.cols));
          r["segmentation"] = {{"size", {m.rows, m.cols}}, {"counts", rle_to_string(rle)}};
        }
        if (!d.polygon.empty()) {
          std::vector<double> poly;
          for (const auto& q : d.polygon) poly.insert(poly.end(), {q.x, q.y});
          r["segmentation"] = {poly};
        }
        results.push_back(std::move(r));
      }
      if (o->save_txt && p.task != Task::semantic) {
        std::string txt;
        const double w = p.image_size.width, h = p.image_size.height;
        for (const Detection& d : p.detections) {
          txt += std::to_string(d.class_id);
          if (!d.polygon.empty()) {
            for (const auto& q : d.polygon) txt += fmt::format(" {:.6g} {:.6g}", q.x / w, q.y / h);
          } else if (!d.mask.empty()) {
            for (const auto& q : mask_polygon(d))
              txt += fmt::format(" {:.6g} {:.6g}", q.x / w, q.y / h);
          } else {
            txt += fmt::format(" {:.6g} {:.6g} {:.6g} {:.6g}", (d.x1 + d.x2) / 2 / w,
                               (d.y1 + d.y2) / 2 / h, (d.x2 - d.x1) / w, (d.y2 - d.y1) / h);
          }
          txt += fmt::format(" {:.5g}\n", d.score);
        }
        fs::create_directories(out / "labels");
        write_file_atomic((out / "labels" / (stem + ".txt")).string(), txt);
      }
      if (p.task == Task::semantic && !o->no_save) {
        cv::Mat lab;
        p.labels.convertTo(lab, CV_16U);
        fs::create_directories(out / "labels");
        write_image_atomic(out / "labels" / (stem + ".png"), lab);
      }
      if (o->save_crop)
        for (size_t i = 0; i < p.detections.size(); ++i) {
          const Detection& d = p.detections[i];
          cv::Rect r(
              cv::Point(static_cast<int>(d.x1), static_cast<int>(d.y1)),
              cv::Point(static_cast<int>(std::ceil(d.x2)), static_cast<int>(std::ceil(d.y2))));
          r &= cv::Rect(0, 0, image.cols, image.rows);
          if (r.empty()) continue;
          fs::path dir = out / "crops" / d.label;
          fs::create_directories(dir);
          write_image_atomic(dir / fmt::format("{}_{}.jpg", stem, i), image(r));
        }
      (void)src;
    };
    for (size_t idx = 0; idx < items.size(); ++idx) {
      const Item& it = items[idx];
      const std::string shown = it.path.filename().string();
      try {
        if (!it.video) {
          cv::Mat img = read_image(it.path.string());
          Prediction p = pred.predict(img);
          ++n_images;
          fs::path dst;
          if (!o->no_save) dst = out_name(it.path, it.path.extension().string());
          std::string stem = dst.empty() ? it.path.stem().string() : dst.stem().string();
          record(p, it.path, image_id_for(it.path, static_cast<int64_t>(idx + 1)), stem, img);
          if (!o->no_save) {
            cv::Mat vis = img.clone();
            draw_prediction(vis, p, names, o->alpha);
            write_image_atomic(dst, vis);
          }
          if (!o->quiet) {
            if (isatty(STDERR_FILENO) && items.size() > 1) fmt::print(stderr, "\r\033[K");
            fmt::print("{}: {}x{} {}, {:.1f} ms{}\n", shown, img.cols, img.rows,
                       summary_of(p, names), p.preprocess_ms + p.inference_ms + p.postprocess_ms,
                       p.compile_ms > 1 ? fmt::format(" (+{:.0f} ms compiling for this input size)",
                                                      p.compile_ms)
                                        : std::string());
          }
        } else {
          cv::VideoCapture cap(it.path.string());
          if (!cap.isOpened())
            throw IoError(
                fmt::format("{}: cannot open the video (corrupt or no decoder)", it.path.string()));
          double fps = cap.get(cv::CAP_PROP_FPS);
          if (!(fps > 0 && fps < 1000)) fps = 25;
          size_t total = static_cast<size_t>(std::max(0.0, cap.get(cv::CAP_PROP_FRAME_COUNT)));
          cv::VideoWriter writer;
          fs::path dst, tmp;
          std::string stem = it.path.stem().string();
          if (!o->no_save) {
            dst = out_name(it.path, ".mp4");
            stem = dst.stem().string();
            tmp = dst;
            tmp += ".part.mp4";
          }
          cv::Mat frame;
          size_t f = 0;
          std::map<int, int> totals;
          while (cap.read(frame)) {
            if (frame.empty()) break;
            Prediction p = pred.predict(frame);
            for (const auto& d : p.detections) totals[d.class_id]++;
            record(p, it.path, static_cast<int64_t>(f), fmt::format("{}_{}", stem, f), frame);
            if (!o->no_save) {
              if (!writer.isOpened() &&
                  !writer.open(tmp.string(), cv::VideoWriter::fourcc('m', 'p', '4', 'v'), fps,
                               frame.size()))
                throw IoError(
                    fmt::format("{}: cannot write the video (no mp4v encoder)", tmp.string()));
              draw_prediction(frame, p, names, o->alpha);
              writer.write(frame);
            }
            ++f;
            cli::print_progress(shown, f, std::max(total, f));
          }
          if (f == 0)
            throw IoError(fmt::format("{}: the video has no decodable frame", it.path.string()));
          if (writer.isOpened()) {
            writer.release();
            fs::rename(tmp, dst);
          }
          ++n_videos;
          n_frames += f;
          if (!o->quiet) {
            std::string s;
            for (const auto& [c, n] : totals)
              s += fmt::format("{}{} {}", s.empty() ? "" : ", ", n,
                               c < static_cast<int>(names.size()) ? names[c] : std::to_string(c));
            fmt::print("{}: {} frames, detections over all frames: {}\n", shown, f,
                       s.empty() ? "none" : s);
          }
        }
      } catch (const Error& e) {
        errors.push_back(e.what());
        if (!o->quiet) fmt::print(stderr, "visionrt: {}\n", e.what());
      }
      cli::print_progress("images", idx + 1, items.size());
    }
    size_t n = n_images + n_frames;
    if (pred.task() != Task::semantic)
      write_file_atomic((out / "predictions.json").string(), results.dump());
    // The pipeline as it ran (as Ultralytics' args.yaml): enough to reproduce the outputs.
    const PreprocessConfig& pc = pred.preprocess();
    nlohmann::json cfg = {
        {"model", o->model},
        {"family", pred.family()},
        {"task", task_name(pred.task())},
        {"names", names},
        {"preprocess",
         {{"resize", pc.resize == PreprocessConfig::Resize::letterbox ? "letterbox"
                     : pc.resize == PreprocessConfig::Resize::stretch ? "stretch"
                                                                      : "multiple"},
          {"width", pc.width},
          {"height", pc.height},
          {"pad", pc.pad_value},
          {"antialias", pc.antialias},
          {"rgb", pc.rgb},
          {"mean", pc.mean},
          {"std", pc.std}}},
        {"conf", o->conf},
        {"iou", o->iou},
        {"max_det", o->max_det},
        {"agnostic_nms", o->agnostic},
        {"classes", opt.classes},
        {"retina_masks", o->retina},
        {"category_ids", coco_ids ? "coco91" : "class index"}};
    if (pred.task() == Task::text)
      cfg["db"] = {{"thresh", o->db_thresh},
                   {"box_thresh", o->db_box_thresh ? *o->db_box_thresh : 0.6f},
                   {"unclip_ratio", o->unclip}};
    write_file_atomic((out / "config.json").string(),
                      cfg.dump(1, ' ', false, nlohmann::json::error_handler_t::replace));
    if (n)
      fmt::print(
          "{} images, {} videos ({} frames); per image: preprocess {:.1f} ms, inference {:.1f} ms, "
          "postprocess {:.1f} ms\n",
          n_images, n_videos, n_frames, pre_ms / n, inf_ms / n, post_ms / n);
    fmt::print("results in {}{}\n", out.string(),
               pred.task() == Task::semantic ? " (label maps in labels/*.png)"
               : coco_ids                    ? " (predictions.json: COCO category ids)"
                                             : "");
    if (!errors.empty()) {
      fmt::print(stderr, "visionrt: {} item(s) failed:\n", errors.size());
      for (const auto& e : errors) fmt::print(stderr, "  {}\n", e);
      return 1;
    }
    return 0;
  };
}

}  // namespace visionrt::cli
