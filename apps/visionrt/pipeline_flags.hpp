// Pre-processing override flags shared by `predict` and `eval --model`: each changes one field
// of the model family's default PreprocessConfig.
#pragma once
#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "visionrt/vision.hpp"

namespace visionrt::cli {

struct PreprocessFlags {
  std::string resize, mean, std;
  int pad = -1;
  bool bgr = false, rgb = false, antialias = false;
  std::string precision;  // --precision (not pre-processing, but shared by the same commands)
};

void add_preprocess_flags(CLI::App* cmd, PreprocessFlags* f);
// Installs the edits into opt.preprocess_edit. Throws InputError for malformed values.
void apply_preprocess_flags(const PreprocessFlags& f, PredictOptions* opt);

}  // namespace visionrt::cli
