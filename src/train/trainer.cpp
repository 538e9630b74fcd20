// The YOLOv8 training loop (trainer.hpp).
#include "train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <sstream>

#include "common/file_io.hpp"
#include "common/strings.hpp"
#include "data/image_io.hpp"
#include "geometry/rle.hpp"
#include "train/augment.hpp"
#include "train/yolo_loss.hpp"
#include "vision/preprocess.hpp"
#include "visionrt/error.hpp"

namespace visionrt::train {

namespace fs = std::filesystem;

void augment_hsv(cv::Mat& bgr, const std::array<double, 3>& gains) {
  if (gains[0] == 1 && gains[1] == 1 && gains[2] == 1) return;
  cv::Mat hsv;
  cv::cvtColor(bgr, hsv, cv::COLOR_BGR2HSV);
  cv::Mat lut(1, 256, CV_8UC3);
  for (int x = 0; x < 256; ++x) {
    const double h = std::fmod(x * gains[0], 180.0);
    lut.at<cv::Vec3b>(0, x) = cv::Vec3b(static_cast<uint8_t>(h < 0 ? h + 180 : h),
                                        static_cast<uint8_t>(std::clamp(x * gains[1], 0.0, 255.0)),
                                        static_cast<uint8_t>(std::clamp(x * gains[2], 0.0, 255.0)));
  }
  cv::LUT(hsv, lut, hsv);
  cv::cvtColor(hsv, bgr, cv::COLOR_HSV2BGR);
}

namespace {

// One letterboxed image [3, S, S] (RGB / 255, Ultralytics' LetterBox as the predictor applies it)
// and its boxes in network pixels.
struct Loaded {
  torch::Tensor image;
  std::vector<std::array<float, 5>> boxes;
  std::vector<cv::Mat> masks;  // segment: per kept box, CV_8U 0/1 at a quarter of the input
};

// An object's mask (full image) through the letterbox, at a quarter of the network input
// (YOLOv8-seg's prototype resolution), flipped with the image.
cv::Mat quarter_mask(const Rle& rle, const ImageGeometry& g, int width, int height, bool flip) {
  const int qw = width / 4, qh = height / 4;
  cv::Mat out = cv::Mat::zeros(qh, qw, CV_8UC1);
  if (rle.h == 0 || rle.w == 0) return out;
  std::vector<uint8_t> dense = rle_decode(rle);  // row-major h x w, 0/1
  cv::Mat full(static_cast<int>(rle.h), static_cast<int>(rle.w), CV_8UC1, dense.data());
  const int w4 = std::max(1, static_cast<int>(std::lround(g.new_w / 4.0)));
  const int h4 = std::max(1, static_cast<int>(std::lround(g.new_h / 4.0)));
  cv::Mat small;
  cv::resize(full * 255, small, cv::Size(w4, h4), 0, 0, cv::INTER_AREA);
  const int x0 = std::min(qw - 1, static_cast<int>(std::lround(g.left / 4.0)));
  const int y0 = std::min(qh - 1, static_cast<int>(std::lround(g.top / 4.0)));
  const cv::Rect dst(x0, y0, std::min(w4, qw - x0), std::min(h4, qh - y0));
  cv::Mat bin = small(cv::Rect(0, 0, dst.width, dst.height)) > 127;
  bin.convertTo(out(dst), CV_8U, 1.0 / 255);
  if (flip) cv::flip(out, out, 1);
  return out;
}

Loaded load(const Sample& s, const PreprocessConfig& cfg, bool flip,
            const std::array<double, 3>* hsv = nullptr) {
  cv::Mat img = read_image(s.path);
  if (hsv) augment_hsv(img, *hsv);
  const ImageGeometry g = compute_geometry(cfg, img.cols, img.rows);
  Tensor t = make_input_tensor(img, cfg, g);
  Loaded r;
  r.image = torch::from_blob(t.raw(), {3, cfg.height, cfg.width}, torch::kFloat32).clone();
  if (flip) r.image = r.image.flip({2});
  const float s_max = static_cast<float>(cfg.width), s_max_y = static_cast<float>(cfg.height);
  for (size_t li = 0; li < s.labels.size(); ++li) {
    const auto& l = s.labels[li];
    float x1 = static_cast<float>(l[1] * g.gain_x + g.left);
    float x2 = static_cast<float>(l[3] * g.gain_x + g.left);
    const float y1 = std::clamp(static_cast<float>(l[2] * g.gain_y + g.top), 0.f, s_max_y);
    const float y2 = std::clamp(static_cast<float>(l[4] * g.gain_y + g.top), 0.f, s_max_y);
    if (flip) {
      const float a = s_max - x2, b = s_max - x1;
      x1 = a;
      x2 = b;
    }
    x1 = std::clamp(x1, 0.f, s_max);
    x2 = std::clamp(x2, 0.f, s_max);
    if (x2 - x1 < 1.f || y2 - y1 < 1.f) continue;  // degenerate after the letterbox
    r.boxes.push_back({l[0], x1, y1, x2, y2});
    if (li < s.masks.size())
      r.masks.push_back(quarter_mask(s.masks[li], g, cfg.width, cfg.height, flip));
  }
  return r;
}

// The geometric pipeline (Ultralytics' order: Mosaic or LetterBox, RandomPerspective, RandomHSV,
// RandomFlip) for square letterboxed inputs.
Loaded load_augmented(const std::vector<Sample>& samples, size_t index, const PreprocessConfig& pre,
                      bool masks, bool mosaic, const AffineOptions& affine, bool flip,
                      const std::array<double, 3>& hsv, std::mt19937_64& rng) {
  const int s = pre.width;
  Labeled lab;
  if (mosaic) {
    std::uniform_int_distribution<size_t> pick(0, samples.size() - 1);
    std::uniform_int_distribution<int> centre(s / 2, 3 * s / 2);
    const int xc = centre(rng), yc = centre(rng);
    std::array<Labeled, 4> four;
    for (size_t k = 0; k < 4; ++k)
      four[k] = resize_long_side(read_labeled(samples[k == 0 ? index : pick(rng)], masks), s);
    lab = mosaic4(four, s, {xc, yc});
  } else {
    lab = letterbox(read_labeled(samples[index], masks), s);
  }
  lab = random_affine(lab, s, affine, rng);
  augment_hsv(lab.bgr, hsv);
  const ImageGeometry g = compute_geometry(pre, s, s);
  Tensor t = make_input_tensor(lab.bgr, pre, g);
  Loaded r;
  r.image = torch::from_blob(t.raw(), {3, s, s}, torch::kFloat32).clone();
  if (flip) r.image = r.image.flip({2});
  const float fs = static_cast<float>(s);
  for (size_t k = 0; k < lab.boxes.size(); ++k) {
    auto b = lab.boxes[k];
    if (flip) {
      const float a = fs - b[3], c = fs - b[1];
      b[1] = a;
      b[3] = c;
    }
    if (b[3] - b[1] < 1.f || b[4] - b[2] < 1.f) continue;
    r.boxes.push_back(b);
    if (k < lab.masks.size()) {
      cv::Mat small, bin;
      cv::resize(lab.masks[k] * 255, small, cv::Size(s / 4, s / 4), 0, 0, cv::INTER_AREA);
      bin = small > 127;
      bin.convertTo(bin, CV_8U, 1.0 / 255);
      if (flip) cv::flip(bin, bin, 1);
      r.masks.push_back(bin);
    }
  }
  return r;
}

void copy_atomic(const fs::path& from, const fs::path& to) {
  const fs::path tmp = to.string() + ".tmp";
  fs::copy_file(from, tmp, fs::copy_options::overwrite_existing);
  fs::rename(tmp, to);
}

// Training curves as one SVG (results.png's panels in Ultralytics): each series against the
// epoch, in its own panel with its own scale; series with no value yet (< 0) are skipped.
std::string curves_svg(const std::vector<EpochResult>& r, const std::vector<std::string>& losses,
                       bool masks) {
  struct Series {
    std::string name;
    std::function<double(const EpochResult&)> value;
  };
  std::vector<Series> series;
  for (size_t k = 0; k < losses.size(); ++k)
    series.push_back({str_cat("train/", losses[k], "_loss"), [k](const EpochResult& e) {
                        return k < e.losses.size() ? e.losses[k] : -1.0;
                      }});
  const std::string tag = masks ? "(M)" : "(B)";
  series.push_back({"metrics/mAP50" + tag, [](const EpochResult& e) { return e.map50; }});
  series.push_back({"metrics/mAP50-95" + tag, [](const EpochResult& e) { return e.map; }});
  const int pw = 260, ph = 180, cols = 3;
  const int rows = static_cast<int>((series.size() + cols - 1) / cols);
  std::string svg = str_cat("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"", cols * pw,
                            "\" height=\"", rows * ph,
                            "\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" "
                            "height=\"100%\" fill=\"white\"/>\n");
  for (size_t k = 0; k < series.size(); ++k) {
    const int x0 = static_cast<int>(k % cols) * pw, y0 = static_cast<int>(k / cols) * ph;
    const int left = x0 + 40, right = x0 + pw - 10, top = y0 + 22, bottom = y0 + ph - 24;
    std::vector<std::pair<double, double>> pts;
    for (const EpochResult& e : r)
      if (series[k].value(e) >= 0) pts.push_back({e.epoch, series[k].value(e)});
    svg +=
        str_cat("<text x=\"", x0 + pw / 2, "\" y=\"", y0 + 14, "\" text-anchor=\"middle\">",
                series[k].name, "</text>\n<rect x=\"", left, "\" y=\"", top, "\" width=\"",
                right - left, "\" height=\"", bottom - top, "\" fill=\"none\" stroke=\"#bbb\"/>\n");
    if (pts.empty()) continue;
    double lo = pts[0].second, hi = lo, e_max = std::max(1.0, pts.back().first);
    for (const auto& p : pts) lo = std::min(lo, p.second), hi = std::max(hi, p.second);
    if (hi - lo < 1e-9) hi = lo + 1e-3;
    auto px = [&](double e) {
      return left + (right - left) * (e_max > 1 ? (e - 1) / (e_max - 1) : 0.5);
    };
    auto py = [&](double v) { return bottom - (bottom - top) * (v - lo) / (hi - lo); };
    std::string line;
    for (const auto& p : pts) line += str_cat(px(p.first), ",", py(p.second), " ");
    svg += str_cat("<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"", line,
                   "\"/>\n<text x=\"", left - 4, "\" y=\"", top + 8, "\" text-anchor=\"end\">", hi,
                   "</text>\n<text x=\"", left - 4, "\" y=\"", bottom, "\" text-anchor=\"end\">",
                   lo, "</text>\n<text x=\"", right, "\" y=\"", bottom + 14,
                   "\" text-anchor=\"end\">epoch ", pts.back().first, "</text>\n");
  }
  return svg + "</svg>\n";
}

// Ultralytics' ModelEMA: decay 0.9999 * (1 - exp(-updates / 2000)) over every float parameter
// and buffer (BatchNorm statistics included).
class Ema {
 public:
  Ema(torch::nn::Module& net, std::shared_ptr<torch::nn::Module> copy) : model_(std::move(copy)) {
    torch::NoGradGuard ng;
    auto src = state(net), dst = state(*model_);
    if (src.size() != dst.size()) throw std::logic_error("EMA copy differs in structure");
    for (size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
    model_->eval();
  }
  void update(torch::nn::Module& net) {
    torch::NoGradGuard ng;
    ++updates_;
    const double d = 0.9999 * (1 - std::exp(-static_cast<double>(updates_) / 2000.0));
    auto src = state(net), dst = state(*model_);
    for (size_t i = 0; i < src.size(); ++i)
      if (dst[i].is_floating_point()) dst[i].mul_(d).add_(src[i].detach(), 1 - d);
  }
  torch::nn::Module& model() { return *model_; }
  int64_t updates() const { return updates_; }
  void set_updates(int64_t u) { updates_ = u; }

 private:
  static std::vector<torch::Tensor> state(torch::nn::Module& m) {
    std::vector<torch::Tensor> v;
    for (auto& p : m.named_parameters(true)) v.push_back(p.value());
    for (auto& b : m.named_buffers(true)) v.push_back(b.value());
    return v;
  }
  std::shared_ptr<torch::nn::Module> model_;
  int64_t updates_ = 0;
};

}  // namespace

std::vector<EpochResult> train(const TrainTask& task, const std::vector<Sample>& samples,
                               const TrainOptions& opt, const Validator& validate) {
  torch::nn::Module& net = *task.net;
  const PreprocessConfig& pre = task.pre;
  if (task.masks)
    for (const Sample& s : samples)
      if (s.masks.size() != s.labels.size())
        throw InputError(str_cat(s.path, ": ", s.labels.size(), " objects but ", s.masks.size(),
                                 " masks; training a segmentation model needs a mask (polygon "
                                 "or RLE) for every object"));
  if (opt.epochs <= 0 || opt.epochs > 100000) throw InputError(str_cat("epochs ", opt.epochs));
  if (pre.width < 32 || pre.height < 32 || pre.width > 4096 || pre.height > 4096)
    throw InputError(str_cat("input ", pre.width, "x", pre.height, " outside 32..4096"));
  if (opt.batch <= 0 || opt.batch > 1024) throw InputError(str_cat("batch ", opt.batch));
  if (!(opt.lr0 > 0 && opt.lr0 < 10)) throw InputError(str_cat("lr0 ", opt.lr0));
  if (opt.optimizer != "SGD" && opt.optimizer != "AdamW")
    throw InputError(str_cat("optimizer '", opt.optimizer, "' (SGD or AdamW)"));
  if (samples.empty()) throw InputError("no training images");
  if (opt.out.empty()) throw InputError("no output folder");
  for (const Sample& s : samples)
    for (const auto& l : s.labels)
      if (l[0] < static_cast<float>(task.first_class) || l[0] >= static_cast<float>(task.nc))
        throw InputError(str_cat(s.path, ": class ", l[0], " outside the model's ",
                                 task.first_class, "..", task.nc - 1));
  torch::manual_seed(opt.seed);
  if (opt.threads > 0) torch::set_num_threads(opt.threads);
  const fs::path out(opt.out), weights = out / "weights";
  fs::create_directories(weights);

  // Parameter groups as Ultralytics: BatchNorm weights, other weights (decayed), biases.
  std::vector<torch::Tensor> g_bn, g_w, g_b;
  for (auto& p : net.named_parameters(true)) {
    if (!p.value().requires_grad()) continue;  // the DFL projection
    const std::string& n = p.key();
    if (n.size() >= 4 && n.compare(n.size() - 4, 4, "bias") == 0)
      g_b.push_back(p.value());
    else if (n.find(".bn.") != std::string::npos || n.find("_bn_") != std::string::npos)
      g_bn.push_back(p.value());
    else
      g_w.push_back(p.value());
  }
  std::unique_ptr<torch::optim::Optimizer> optim;
  if (opt.optimizer == "SGD") {
    auto o = [&](double wd) {
      return std::make_unique<torch::optim::SGDOptions>(
          torch::optim::SGDOptions(opt.lr0).momentum(opt.momentum).nesterov(true).weight_decay(wd));
    };
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(g_bn, o(0.0));
    groups.emplace_back(g_w, o(opt.weight_decay));
    groups.emplace_back(g_b, o(0.0));
    optim = std::make_unique<torch::optim::SGD>(groups, torch::optim::SGDOptions(opt.lr0));
  } else {
    auto o = [&](double wd) {
      return std::make_unique<torch::optim::AdamWOptions>(
          torch::optim::AdamWOptions(opt.lr0).betas({opt.momentum, 0.999}).weight_decay(wd));
    };
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(g_bn, o(0.0));
    groups.emplace_back(g_w, o(opt.weight_decay));
    groups.emplace_back(g_b, o(0.0));
    optim = std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(opt.lr0));
  }
  auto set_group = [&](size_t gi, double lr, double momentum) {
    auto& g = optim->param_groups()[gi];
    if (opt.optimizer == "SGD") {
      auto& o = static_cast<torch::optim::SGDOptions&>(g.options());
      o.lr(lr);
      o.momentum(momentum);
    } else {
      auto& o = static_cast<torch::optim::AdamWOptions&>(g.options());
      o.lr(lr);
      o.betas({momentum, 0.999});
    }
  };

  const int64_t nb = (static_cast<int64_t>(samples.size()) + opt.batch - 1) / opt.batch;
  if (task.recalibrate && opt.recalibrate_bn && !opt.resume) {
    std::vector<torch::Tensor> batches;
    size_t used = 0;
    for (int64_t bi = 0; bi < std::min<int64_t>(nb, 8); ++bi) {
      std::vector<torch::Tensor> imgs;
      for (size_t k = static_cast<size_t>(bi * opt.batch);
           k < std::min(samples.size(), static_cast<size_t>((bi + 1) * opt.batch)); ++k, ++used)
        imgs.push_back(load(samples[k], pre, false).image);
      batches.push_back(torch::stack(imgs));
    }
    const int layers = task.recalibrate(net, batches);
    if (!opt.quiet)
      std::printf("BatchNorm statistics re-estimated on %zu images (%d layers)\n", used, layers);
  }
  Ema ema(net, task.make_copy());
  const int64_t nw =
      std::max<int64_t>(std::llround(opt.warmup_epochs * nb), opt.warmup_min_iterations);
  auto lf = [&](double epoch) { return (1 - epoch / opt.epochs) * (1.0 - opt.lrf) + opt.lrf; };
  std::vector<size_t> order(samples.size());
  std::vector<EpochResult> results;
  double best = -1;
  const size_t nl = task.loss_names.size();
  const std::string tag = task.masks ? "(M)" : "(B)";
  std::string csv = "epoch,";
  for (const std::string& l : task.loss_names) csv += str_cat("train/", l, "_loss,");
  csv += str_cat("metrics/mAP50", tag, ",metrics/mAP50-95", tag, ",lr/pg0,time\n");
  int64_t it = 0;
  int first_epoch = 0;
  const fs::path ckpt = weights / "last.pt";
  if (opt.resume) {
    if (!fs::exists(ckpt))
      throw InputError(str_cat(ckpt.string(), ": no checkpoint to resume from"));
    torch::serialize::InputArchive ar;
    try {
      ar.load_from(ckpt.string());
    } catch (const c10::Error& e) {
      throw IoError(
          str_cat(ckpt.string(), ": not a readable checkpoint (", e.what_without_backtrace(), ")"));
    }
    c10::IValue v;
    ar.read("identity", v);
    if (v.toStringRef() != task.identity)
      throw InputError(str_cat(ckpt.string(), ": the checkpoint is of ", v.toStringRef(),
                               ", this run is ", task.identity));
    torch::serialize::InputArchive m, e, o;
    ar.read("model", m);
    net.load(m);
    ar.read("ema", e);
    ema.model().load(e);
    ar.read("optimizer", o);
    optim->load(o);
    ar.read("epoch", v);
    first_epoch = static_cast<int>(v.toInt());
    ar.read("iterations", v);
    it = v.toInt();
    ar.read("ema_updates", v);
    ema.set_updates(v.toInt());
    ar.read("best", v);
    best = v.toDouble();
    std::ifstream f(out / "results.csv");
    std::stringstream text;
    text << f.rdbuf();
    if (f && !text.str().empty()) csv = text.str();
    if (first_epoch >= opt.epochs)
      throw InputError(str_cat(ckpt.string(), ": already ", first_epoch,
                               " epochs; give more --epochs to continue"));
    if (!opt.quiet) std::printf("resuming after epoch %d of %d\n", first_epoch, opt.epochs);
  }
  for (int epoch = first_epoch; epoch < opt.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    net.train();
    // Per-epoch streams: a resumed run shuffles and flips as an uninterrupted one.
    std::mt19937_64 rng(opt.seed * 1000003ULL + static_cast<uint64_t>(epoch));
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    std::uniform_real_distribution<double> coin(0, 1);
    EpochResult er;
    er.epoch = epoch + 1;
    er.losses.assign(nl, 0.0);
    // close_mosaic as Ultralytics: off from epoch (epochs - close_mosaic) when that exists.
    const bool mosaic_on = opt.mosaic > 0 && !(opt.epochs - opt.close_mosaic >= 0 &&
                                               epoch >= opt.epochs - opt.close_mosaic);
    const AffineOptions affine{opt.degrees, opt.translate, opt.scale, opt.shear};
    const bool geometric =
        pre.resize == PreprocessConfig::Resize::letterbox && pre.width == pre.height &&
        (mosaic_on || opt.degrees > 0 || opt.translate > 0 || opt.scale > 0 || opt.shear > 0);
    if (!opt.quiet && opt.mosaic > 0 && epoch == opt.epochs - opt.close_mosaic)
      std::printf("Closing mosaic for the last %d epochs\n", opt.close_mosaic);
    for (int64_t bi = 0; bi < nb; ++bi, ++it) {
      // Learning rate and momentum: warm-up (biases from warmup_bias_lr down, the rest from 0
      // up, momentum 0.8 up), then Ultralytics' linear schedule per epoch.
      const double target = opt.lr0 * lf(epoch);
      double mom = opt.momentum;
      for (size_t gi = 0; gi < 3; ++gi) {
        double lr = target;
        if (it < nw) {
          const double f = static_cast<double>(it) / static_cast<double>(nw);
          lr = (gi == 2 ? opt.warmup_bias_lr + (target - opt.warmup_bias_lr) * f : target * f);
          mom = 0.8 + (opt.momentum - 0.8) * f;
        }
        set_group(gi, lr, mom);
        if (gi == 0) er.lr = lr;  // lr/pg0 as Ultralytics logs it
      }
      std::vector<torch::Tensor> imgs, masks;
      std::vector<float> rows;
      const size_t b0 = static_cast<size_t>(bi * opt.batch);
      const size_t b1 = std::min(samples.size(), b0 + static_cast<size_t>(opt.batch));
      const float sw = static_cast<float>(pre.width), sh = static_cast<float>(pre.height);
      for (size_t k = b0; k < b1; ++k) {
        // Ultralytics' RandomHSV: gains 1 + U(-1, 1) * (hsv_h, hsv_s, hsv_v).
        const std::array<double, 3> hsv{1 + (2 * coin(rng) - 1) * opt.hsv[0],
                                        1 + (2 * coin(rng) - 1) * opt.hsv[1],
                                        1 + (2 * coin(rng) - 1) * opt.hsv[2]};
        const bool flip = coin(rng) < opt.fliplr;
        Loaded l = geometric
                       ? load_augmented(samples, order[k], pre, task.masks,
                                        mosaic_on && coin(rng) < opt.mosaic, affine, flip, hsv, rng)
                       : load(samples[order[k]], pre, flip, &hsv);
        for (const auto& bx : l.boxes)
          rows.insert(rows.end(),
                      {static_cast<float>(k - b0), bx[0], (bx[1] + bx[3]) / 2 / sw,
                       (bx[2] + bx[4]) / 2 / sh, (bx[3] - bx[1]) / sw, (bx[4] - bx[2]) / sh});
        imgs.push_back(l.image);
        for (const cv::Mat& m : l.masks)
          masks.push_back(torch::from_blob(m.data, {m.rows, m.cols}, torch::kUInt8).clone());
      }
      torch::Tensor x = torch::stack(imgs);
      torch::Tensor targets =
          torch::from_blob(rows.data(), {static_cast<int64_t>(rows.size() / 6), 6}, torch::kFloat32)
              .clone();
      torch::Tensor mask_t;
      if (task.masks)
        mask_t = masks.empty() ? torch::zeros({0, pre.height / 4, pre.width / 4})
                               : torch::stack(masks).to(torch::kFloat32);
      optim->zero_grad();
      auto [total, parts] = task.loss(net, x, targets, mask_t);
      total.backward();
      torch::nn::utils::clip_grad_norm_(net.parameters(), 10.0);
      optim->step();
      if (opt.ema) ema.update(net);
      std::string progress;
      for (size_t k = 0; k < nl && k < parts.size(); ++k) {
        er.losses[k] += parts[k] / static_cast<double>(nb);
        char v[32];
        std::snprintf(v, sizeof v, " %.4f", parts[k]);
        progress += "  " + task.loss_names[k] + v;
      }
      if (!opt.quiet) {
        std::printf("\rEpoch %d/%d  %3lld/%lld%s", epoch + 1, opt.epochs,
                    static_cast<long long>(bi + 1), static_cast<long long>(nb), progress.c_str());
        std::fflush(stdout);
      }
    }
    if (!opt.quiet) std::printf("\n");
    // Export the averaged weights (what Ultralytics saves), validate, keep the best.
    torch::nn::Module& final_net = opt.ema ? ema.model() : net;
    final_net.eval();
    const fs::path last = weights / "last.onnx";
    task.export_onnx(final_net, last.string());
    if (validate) {
      auto [m50, m] = validate(last.string());
      er.map50 = m50;
      er.map = m;
    }
    if (!validate || er.map > best) {
      best = er.map;
      copy_atomic(last, weights / "best.onnx");
    }
    {  // checkpoint: written to a temporary file, then renamed over the last one
      torch::serialize::OutputArchive ar, m, e, o;
      net.save(m);
      ema.model().save(e);
      optim->save(o);
      ar.write("model", m);
      ar.write("ema", e);
      ar.write("optimizer", o);
      ar.write("identity", c10::IValue(task.identity));
      ar.write("epoch", c10::IValue(static_cast<int64_t>(epoch + 1)));
      ar.write("iterations", c10::IValue(it));
      ar.write("ema_updates", c10::IValue(ema.updates()));
      ar.write("best", c10::IValue(std::max(best, er.map)));
      const fs::path tmp = ckpt.string() + ".tmp";
      ar.save_to(tmp.string());
      fs::rename(tmp, ckpt);
    }
    er.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    results.push_back(er);
    csv += str_cat(er.epoch, ",");
    for (double l : er.losses) csv += str_cat(l, ",");
    csv += str_cat(er.map50, ",", er.map, ",", er.lr, ",", er.seconds, "\n");
    write_file_atomic((out / "results.csv").string(), csv);
    write_file_atomic((out / "results.svg").string(),
                      curves_svg(results, task.loss_names, task.masks));
    if (!opt.quiet && validate)
      std::printf("Epoch %d/%d  mAP50 %.4f  mAP50-95 %.4f  (%.1f s)\n", er.epoch, opt.epochs,
                  er.map50, er.map, er.seconds);
  }
  return results;
}

TrainTask yolo_task(YoloV8Impl& net, const std::vector<std::string>& names, int imgsz) {
  if (imgsz < 32 || imgsz % 32 || imgsz > 4096)
    throw InputError(str_cat("imgsz ", imgsz, " must be a multiple of 32 within 32..4096"));
  const bool segment = net.spec.task == "segment";
  TrainTask t;
  t.net = &net;
  const YoloSpec spec = net.spec;
  t.make_copy = [spec] { return std::make_shared<YoloV8Impl>(spec); };
  t.identity = str_cat(spec.describe(), "; ", names.size(), " names");
  t.loss_names = segment ? std::vector<std::string>{"box", "seg", "cls", "dfl"}
                         : std::vector<std::string>{"box", "cls", "dfl"};
  t.masks = segment;
  t.nc = spec.nc;
  t.pre.width = t.pre.height = imgsz;
  auto loss = std::make_shared<DetectionLoss>();
  loss->nc = spec.nc;
  loss->reg_max = spec.reg_max;
  loss->strides = net.strides;
  loss->assigner.num_classes = spec.nc;
  t.loss = [loss, segment](torch::nn::Module& m, const torch::Tensor& x,
                           const torch::Tensor& targets, const torch::Tensor& masks) {
    std::vector<torch::Tensor> outs = static_cast<YoloV8Impl&>(m).forward(x);
    DetectionLossParts p;
    if (segment) {
      SegmentationInputs si;
      si.coefs = outs[3];
      si.protos = outs[4];
      si.masks = masks;
      p = (*loss)({outs[0], outs[1], outs[2]}, targets, &si);
      return std::make_pair(p.total, std::vector<double>{p.box, p.seg, p.cls, p.dfl});
    }
    p = (*loss)(outs, targets);
    return std::make_pair(p.total, std::vector<double>{p.box, p.cls, p.dfl});
  };
  t.export_onnx = [names, imgsz](torch::nn::Module& m, const std::string& path) {
    export_onnx(static_cast<YoloV8Impl&>(m), path, imgsz, imgsz, names);
  };
  t.recalibrate = [](torch::nn::Module& m, const std::vector<torch::Tensor>& batches) {
    return recalibrate_batchnorm(static_cast<YoloV8Impl&>(m), batches);
  };
  return t;
}

}  // namespace visionrt::train
