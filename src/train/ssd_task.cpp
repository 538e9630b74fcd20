// SSD fine-tuning task (ssd_task.hpp).
#include "train/ssd_task.hpp"

#include <filesystem>

#include "common/strings.hpp"
#include "vision/family_ssd.hpp"
#include "visionrt/error.hpp"
#include "visionrt/vision.hpp"

namespace visionrt::train {

std::string SsdModel::describe() const {
  return str_cat("SSD ", std::filesystem::path(path).filename().string(), ": ", classes - 1,
                 " classes + background (", sigmoid ? "sigmoid" : "softmax", "), ",
                 coder.describe(), ", ", net->num_parameters(), " parameters, input ", pre.width,
                 "x", pre.height);
}

SsdModel load_ssd(const std::string& path) {
  Predictor info = Predictor::inspect(path);
  if (info.family() != "ssd")
    throw ModelError(
        str_cat(path, ": an SSD trains here, this model is of family '", info.family(), "'"));
  SsdModel m;
  m.path = path;
  m.pre = info.preprocess();
  m.net = OnnxModule(path);
  const Graph& g = m.net->graph();
  std::vector<torch::Tensor> inputs;
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    if (i > 0)
      throw ModelError(str_cat(path, ": an SSD with ", g.inputs.size(),
                               " inputs; training feeds one image input"));
    inputs.push_back(torch::zeros({1, 3, m.pre.height, m.pre.width}));
  }
  std::vector<std::string> outs;
  for (int v : g.outputs) outs.push_back(g.values[static_cast<size_t>(v)].name);
  std::map<std::string, torch::Tensor> shapes;
  {
    torch::NoGradGuard ng;
    shapes = m.net->run(inputs, outs);
  }
  // The family's rule: the first [1, N, 4] output is the boxes, the first other [1, N, C > 4]
  // one the scores.
  auto is_boxes = [&](const std::string& o) {
    const torch::Tensor& t = shapes.at(o);
    return t.dim() == 3 && t.size(2) == 4;
  };
  std::string boxes, scores;
  for (const std::string& o : outs)
    if (boxes.empty() && is_boxes(o)) boxes = o;
  for (const std::string& o : outs) {
    const torch::Tensor& t = shapes.at(o);
    if (scores.empty() && !boxes.empty() && o != boxes && t.dim() == 3 &&
        t.size(1) == shapes.at(boxes).size(1) && t.size(2) > 4)
      scores = o;
  }
  if (boxes.empty() || scores.empty())
    throw ModelError(str_cat(path, ": SSD needs a [1,N,4] box and a [1,N,C] score output"));
  const int64_t n = shapes.at(boxes).size(1);
  m.classes = shapes.at(scores).size(2);
  const bool decoded = boxes == "boxes" || boxes == "detection_boxes";
  if (decoded) {
    for (const std::string& o : outs)
      if (o != boxes && is_boxes(o) && shapes.at(o).size(1) == n) m.encodings = o;
    if (m.encodings.empty())
      throw ModelError(str_cat(path, ": the model decodes its boxes ('", boxes,
                               "') but does not output the encodings it decodes them from; "
                               "training needs them (add them as a graph output)"));
    m.coder = probe_ssd_coder(*m.net, inputs, m.encodings, boxes);
  } else {
    m.encodings = boxes;
    const auto priors = ssd_head_priors(n, m.pre.width, path);
    m.coder.anchors =
        torch::from_blob(const_cast<std::array<float, 4>*>(priors.data()), {n, 4}, torch::kFloat32)
            .clone();
  }
  const Node* p = m.net->producer(scores);
  while (p && p->op_type == "Identity")
    p = m.net->producer(g.values[static_cast<size_t>(p->inputs[0])].name);
  if (p && (p->op_type == "Sigmoid" || p->op_type == "Softmax")) {
    m.sigmoid = p->op_type == "Sigmoid";
    m.logits = g.values[static_cast<size_t>(p->inputs[0])].name;
  } else if (!decoded) {
    m.logits = scores;  // raw head: the family applies the softmax
  } else {
    throw ModelError(
        str_cat(path, ": the scores '", scores,
                "' do not come out of a Sigmoid or a Softmax; cannot find the logits"));
  }
  return m;
}

TrainTask ssd_task(SsdModel& m, const std::vector<std::string>& names) {
  TrainTask t;
  t.net = m.net.get();
  const std::string path = m.path;
  t.make_copy = [path] { return std::make_shared<OnnxModuleImpl>(path); };
  t.identity = m.describe();
  t.loss_names = {"box", "cls"};
  t.first_class = 1;
  t.nc = m.classes;
  t.pre = m.pre;
  MultiboxLoss loss;
  loss.sigmoid = m.sigmoid;
  if (m.sigmoid && m.focal) loss.focal_gamma = 2.0;
  const SsdCoder coder = m.coder;
  const std::string enc = m.encodings, logits = m.logits;
  t.loss = [loss, coder, enc, logits](torch::nn::Module& net, const torch::Tensor& x,
                                      const torch::Tensor& targets, const torch::Tensor&) {
    auto out = static_cast<OnnxModuleImpl&>(net).run({x}, {enc, logits});
    MultiboxParts p = loss(out.at(enc), out.at(logits), targets, coder);
    return std::make_pair(p.total, std::vector<double>{p.box, p.cls});
  };
  const std::map<std::string, std::string> meta{{"names", names_metadata(names)},
                                                {"author", "visionrt train"}};
  t.export_onnx = [meta](torch::nn::Module& net, const std::string& out) {
    static_cast<OnnxModuleImpl&>(net).write_onnx(out, meta);
  };
  return t;
}

}  // namespace visionrt::train
