// `visionrt demo-image OUT.png`: writes the built-in demo image (printed text with known line
// boxes) that README's main command runs the text detector on.
#include <fmt/core.h>

#include <opencv2/imgcodecs.hpp>

#include "commands.hpp"
#include "common/file_io.hpp"
#include "vision/demo_image.hpp"
#include "visionrt/error.hpp"

namespace visionrt::cli {

std::function<int()> add_demo_image(CLI::App& app) {
  auto* cmd = app.add_subcommand("demo-image", "Write the built-in demo image (text lines)");
  auto out = std::make_shared<std::string>();
  cmd->add_option("out", *out, "Output image (.png or .jpg)")->required();
  return [out]() {
    std::vector<RenderedLine> lines;
    cv::Mat img = render_text_demo(&lines);
    std::string ext = out->size() > 4 ? out->substr(out->size() - 4) : "";
    std::vector<uint8_t> buf;
    if (!cv::imencode(ext == ".jpg" ? ".jpg" : ".png", img, buf))
      throw IoError(fmt::format("{}: cannot encode the image", *out));
    write_file_atomic(*out, std::string(buf.begin(), buf.end()));
    fmt::print("wrote {} ({}x{}, {} text lines)\n", *out, img.cols, img.rows, lines.size());
    return 0;
  };
}

}  // namespace visionrt::cli
