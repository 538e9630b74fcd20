// Helpers shared by the CLI's subcommands: shapes from flags, per-node counter tables, peak RSS.
#pragma once
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "visionrt/core.hpp"

namespace visionrt::cli {

// "1x3x640x640" or "1,3,640,640" (brackets allowed: "[1,3,640,640]"). Throws Error.
Shape parse_shape(const std::string& s);
// Runs a subcommand's action with the CLI's error contract: a visionrt::Error is one line
// "visionrt: error: ..." and exit code 1, anything else "visionrt: internal error: ..." and 3.
int run_reporting_errors(const std::function<int()>& action);
// Per-node table sorted by time (slowest first; `top` > 0 limits it), then per op type/kernel.
void print_counters(std::vector<ProfilingInfo> prof, int top);
double peak_rss_mib();
// A dataset's format from its path: "coco" for .json/.json.gz, "voc" for a folder with
// Annotations/, else "yolo".
std::string guess_dataset_format(const std::string& path);
// A one-line progress bar on stderr ("label [=====     ] done/total"), redrawn in place; only
// when stderr is a terminal and there is more than one item; ends the line when done == total.
void print_progress(const std::string& label, size_t done, size_t total);
// An unused folder: DIR, DIR2, DIR3... (as Ultralytics' runs/predict numbering).
std::filesystem::path fresh_dir(const std::filesystem::path& base);

}  // namespace visionrt::cli
