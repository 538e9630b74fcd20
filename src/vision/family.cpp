// The family table and the helpers every family shares (family.hpp).
#include "vision/family.hpp"

#include <algorithm>
#include <cstring>

#include "common/strings.hpp"
#include "visionrt/error.hpp"

namespace visionrt {

int ModelView::rank(int i) const {
  const auto& o = model.outputs();
  if (i < 0 || i >= static_cast<int>(o.size()) || !o[i].has_rank) return -1;
  return static_cast<int>(o[i].shape.size());
}

int64_t ModelView::dim(int i, int d) const {
  const int r = rank(i);
  if (r < 0 || d < 0 || d >= r) return -1;
  return model.outputs()[i].shape[d];
}

std::string ModelView::meta(const std::string& key) const {
  auto it = model.metadata().find(key);
  return it == model.metadata().end() ? std::string() : it->second;
}

std::string DecodeContext::label_of(int c) const {
  return c >= 0 && c < static_cast<int>(names.size()) && !names[c].empty() ? names[c]
                                                                           : std::to_string(c);
}

void DecodeContext::box_to_image(const BoxXYXY& b, Detection* d) const {
  const float w = static_cast<float>(g.src_w), h = static_cast<float>(g.src_h);
  d->x1 = std::clamp(g.to_src_x(b.x1), 0.f, w);
  d->y1 = std::clamp(g.to_src_y(b.y1), 0.f, h);
  d->x2 = std::clamp(g.to_src_x(b.x2), 0.f, w);
  d->y2 = std::clamp(g.to_src_y(b.y2), 0.f, h);
}

NmsParams DecodeContext::nms() const {
  NmsParams np;
  np.conf = opt.conf;
  np.iou = opt.iou;
  np.max_det = opt.max_det;
  np.agnostic = opt.agnostic_nms;
  np.multi_label = opt.multi_label;
  np.classes = opt.classes;
  return np;
}

void DecodeContext::check(const Tensor& t, size_t rank, const char* what,
                          const char* family) const {
  if (t.dtype() != DType::f32 || t.rank() != rank || t.dim(0) != 1)
    throw InputError(str_cat(path, ": ", what, " output is ", shape_str(t.shape()), " ",
                             dtype_name(t.dtype()), ", expected rank ", rank,
                             " f32 with batch 1 for ", family));
}

// "(pixel - 127.5) / 127.5" and "RGB"/"BGR" in the model's `input` metadata, as the shared
// TF-converted models record it.
bool normalization_from_metadata(const ModelView& m, PreprocessConfig* c) {
  const std::string t = m.meta("input");
  size_t p = t.find("(pixel");
  if (p == std::string::npos) return false;
  p = t.find('-', p);
  if (p == std::string::npos) return false;
  char* end = nullptr;
  float mean = std::strtof(t.c_str() + p + 1, &end);
  const char* slash = std::strchr(end, '/');
  if (!end || *end == 0 || !slash) return false;
  float sd = std::strtof(slash + 1, nullptr);
  if (!(sd > 0)) return false;
  c->mean = {mean, mean, mean};
  c->std = {sd, sd, sd};
  c->rgb = t.find("BGR") == std::string::npos;
  return true;
}

const std::vector<FamilyInfo>& model_families() {
  // Recognition order: end-to-end detectors (boxes/labels/scores outputs) and SSD's box+score
  // pair are the most specific layouts; a rank-3 head is YOLO; DB's one-channel map before the
  // semantic catch-all.
  static const std::vector<FamilyInfo> table = {rcnn_family(),   ssd_family(), yolov8_family(),
                                                yolov5_family(), db_family(),  semantic_family()};
  return table;
}

const FamilyInfo* find_family(const std::string& name) {
  for (const FamilyInfo& f : model_families())
    if (name == f.name) return &f;
  return nullptr;
}

std::vector<std::string> model_family_names() {
  std::vector<std::string> v;
  for (const FamilyInfo& f : model_families()) v.push_back(f.name);
  return v;
}

std::string family_names() {
  std::string s;
  for (const FamilyInfo& f : model_families()) s += (s.empty() ? "" : ", ") + std::string(f.name);
  return s;
}

}  // namespace visionrt
