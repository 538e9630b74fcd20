// Pre-processing override flags (see pipeline_flags.hpp).
#include "pipeline_flags.hpp"

#include <fmt/core.h>

#include <cmath>

#include "visionrt/error.hpp"

namespace visionrt::cli {

namespace {

std::array<float, 3> three_numbers(const std::string& s, const char* flag) {
  std::array<float, 3> v{};
  size_t a = 0;
  for (int i = 0; i < 3; ++i) {
    size_t b = s.find(',', a);
    if ((i < 2) != (b != std::string::npos))
      throw InputError(
          fmt::format("{} '{}': expected three numbers like 123.7,116.3,103.5", flag, s));
    std::string t = s.substr(a, b == std::string::npos ? std::string::npos : b - a);
    size_t pos = 0;
    try {
      v[i] = std::stof(t, &pos);
    } catch (const std::exception&) {
      pos = 0;
    }
    if (t.empty() || pos != t.size() || !std::isfinite(v[i]))
      throw InputError(fmt::format("{} '{}': '{}' is not a number", flag, s, t));
    a = b + 1;
  }
  return v;
}

}  // namespace

void add_preprocess_flags(CLI::App* cmd, PreprocessFlags* f) {
  cmd->add_option("--resize", f->resize,
                  "Pre-processing: letterbox (keep aspect, pad), stretch, or multiple (of 32, "
                  "longest side <= imgsz); default from the model family")
      ->check(CLI::IsMember({"letterbox", "stretch", "multiple"}));
  cmd->add_option("--pad", f->pad, "Letterbox padding value (Ultralytics 114, classic SSD 128)")
      ->check(CLI::Range(0, 255));
  cmd->add_option("--mean", f->mean, "Per-channel mean, in the model's channel order: a,b,c");
  cmd->add_option("--std", f->std, "Per-channel std (255,255,255 is /255): a,b,c");
  cmd->add_flag("--bgr", f->bgr, "Feed BGR (OpenCV order) instead of RGB");
  cmd->add_flag("--rgb", f->rgb, "Feed RGB");
  cmd->add_flag("--antialias", f->antialias, "Shrink with area averaging (cv::INTER_AREA)");
  cmd->add_option("--precision", f->precision,
                  "Inference precision: f32 or bf16 (default: bf16 where this CPU measurably runs "
                  "it faster)")
      ->check(CLI::IsMember({"f32", "bf16"}));
}

void apply_preprocess_flags(const PreprocessFlags& f, PredictOptions* opt) {
  if (f.bgr && f.rgb) throw InputError("--bgr and --rgb contradict each other");
  if (!f.precision.empty()) opt->precision = f.precision;
  std::optional<std::array<float, 3>> mean, sd;
  if (!f.mean.empty()) mean = three_numbers(f.mean, "--mean");
  if (!f.std.empty()) {
    sd = three_numbers(f.std, "--std");
    for (float v : *sd)
      if (v == 0) throw InputError(fmt::format("--std '{}': a zero std divides by zero", f.std));
  }
  if (f.resize.empty() && f.pad < 0 && !mean && !sd && !f.bgr && !f.rgb && !f.antialias) return;
  PreprocessFlags g = f;
  opt->preprocess_edit = [g, mean, sd](PreprocessConfig& c) {
    if (g.resize == "letterbox") c.resize = PreprocessConfig::Resize::letterbox;
    if (g.resize == "stretch") c.resize = PreprocessConfig::Resize::stretch;
    if (g.resize == "multiple") c.resize = PreprocessConfig::Resize::multiple;
    if (g.pad >= 0) c.pad_value = g.pad;
    if (mean) c.mean = *mean;
    if (sd) c.std = *sd;
    if (g.bgr) c.rgb = false;
    if (g.rgb) c.rgb = true;
    if (g.antialias) c.antialias = true;
  };
}

}  // namespace visionrt::cli
