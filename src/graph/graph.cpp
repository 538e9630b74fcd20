// Graph bookkeeping, attribute accessors, dead-node elimination and the verifier.
#include "graph/graph.hpp"

#include <set>

#include "common/strings.hpp"

namespace visionrt {

const char* attribute_kind_name(Attribute::Kind k) {
  switch (k) {
    case Attribute::Kind::f:
      return "float";
    case Attribute::Kind::i:
      return "int";
    case Attribute::Kind::s:
      return "string";
    case Attribute::Kind::t:
      return "tensor";
    case Attribute::Kind::g:
      return "graph";
    case Attribute::Kind::fs:
      return "floats";
    case Attribute::Kind::is:
      return "ints";
    case Attribute::Kind::ss:
      return "strings";
    case Attribute::Kind::ts:
      return "tensors";
    case Attribute::Kind::gs:
      return "graphs";
  }
  return "?";
}

Attribute attr_int(int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::i;
  a.i = v;
  return a;
}
Attribute attr_float(float v) {
  Attribute a;
  a.kind = Attribute::Kind::f;
  a.f = v;
  return a;
}
Attribute attr_string(const std::string& v) {
  Attribute a;
  a.kind = Attribute::Kind::s;
  a.s = v;
  return a;
}
Attribute attr_ints(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::is;
  a.is = std::move(v);
  return a;
}
Attribute attr_floats(std::vector<float> v) {
  Attribute a;
  a.kind = Attribute::Kind::fs;
  a.fs = std::move(v);
  return a;
}
Attribute attr_tensor(Tensor t) {
  Attribute a;
  a.kind = Attribute::Kind::t;
  a.t = std::move(t);
  return a;
}

bool TensorType::fully_known() const {
  if (dtype == DType::undefined || !has_rank) return false;
  for (int64_t d : dims)
    if (d < 0) return false;
  return true;
}

std::string TensorType::str() const {
  return std::string(dtype_name(dtype)) + (has_rank ? shape_str(dims) : std::string("[*]"));
}

static const Attribute* find_attr(const Node& n, const std::string& k, Attribute::Kind kind) {
  auto it = n.attrs.find(k);
  if (it == n.attrs.end()) return nullptr;
  if (it->second.kind != kind)
    throw ModelError(str_cat("node ", n.label(), ": attribute '", k, "' is ",
                             attribute_kind_name(it->second.kind), ", expected ",
                             attribute_kind_name(kind)));
  return &it->second;
}

int64_t Node::attr_i(const std::string& k, int64_t def) const {
  const Attribute* a = find_attr(*this, k, Attribute::Kind::i);
  return a ? a->i : def;
}
float Node::attr_f(const std::string& k, float def) const {
  const Attribute* a = find_attr(*this, k, Attribute::Kind::f);
  return a ? a->f : def;
}
std::string Node::attr_s(const std::string& k, const std::string& def) const {
  const Attribute* a = find_attr(*this, k, Attribute::Kind::s);
  return a ? a->s : def;
}
std::vector<int64_t> Node::attr_is(const std::string& k, const std::vector<int64_t>& def) const {
  const Attribute* a = find_attr(*this, k, Attribute::Kind::is);
  return a ? a->is : def;
}
std::vector<float> Node::attr_fs(const std::string& k, const std::vector<float>& def) const {
  const Attribute* a = find_attr(*this, k, Attribute::Kind::fs);
  return a ? a->fs : def;
}
const Tensor* Node::attr_t(const std::string& k) const {
  const Attribute* a = find_attr(*this, k, Attribute::Kind::t);
  return a ? &a->t : nullptr;
}

std::string Node::label() const {
  return name.empty() ? op_type : str_cat(op_type, " '", name, "'");
}

int64_t Graph::opset() const {
  auto it = opsets.find("");
  if (it != opsets.end()) return it->second;
  it = opsets.find("ai.onnx");
  return it != opsets.end() ? it->second : 0;
}

int Graph::add_value(const std::string& name) {
  Value v;
  v.name = name;
  values.push_back(std::move(v));
  return static_cast<int>(values.size()) - 1;
}

int Graph::find_value(const std::string& name) const {
  for (size_t i = 0; i < values.size(); ++i)
    if (values[i].name == name) return static_cast<int>(i);
  return -1;
}

void Graph::relink() {
  for (auto& v : values) v.producer = -1;
  for (size_t n = 0; n < nodes.size(); ++n)
    for (int o : nodes[n].outputs)
      if (o >= 0) values[o].producer = static_cast<int>(n);
}

size_t Graph::eliminate_dead_nodes() {
  std::vector<bool> live_value(values.size(), false);
  for (int o : outputs) live_value[o] = true;
  std::vector<bool> keep(nodes.size(), false);
  for (int n = static_cast<int>(nodes.size()) - 1; n >= 0; --n) {
    for (int o : nodes[n].outputs)
      if (o >= 0 && live_value[o]) keep[n] = true;
    if (!keep[n]) continue;
    for (int i : nodes[n].inputs)
      if (i >= 0) live_value[i] = true;
  }
  std::vector<Node> kept;
  size_t removed = 0;
  for (size_t n = 0; n < nodes.size(); ++n) {
    if (keep[n])
      kept.push_back(std::move(nodes[n]));
    else
      ++removed;
  }
  nodes = std::move(kept);
  // Drop constants nothing uses any more, so their memory is released.
  for (size_t v = 0; v < values.size(); ++v)
    if (!live_value[v] && values[v].constant) values[v].constant.reset();
  relink();
  return removed;
}

void Graph::hand_over_output(int* out, int replacement, const std::string& suffix) {
  const std::string name = values[*out].name;
  values[*out].name = name + suffix;
  values[replacement].name = name;
  values[replacement].dim_names = values[*out].dim_names;
  *out = replacement;
}

void verify_graph(const Graph& g) {
  auto fail = [&](const std::string& msg) { throw ModelError(str_cat(g.path, ": ", msg)); };
  std::vector<bool> defined(g.values.size(), false);
  for (int i : g.inputs) {
    if (i < 0 || i >= static_cast<int>(g.values.size())) fail("graph input id out of range");
    defined[i] = true;
  }
  for (size_t v = 0; v < g.values.size(); ++v)
    if (g.values[v].constant) defined[v] = true;
  for (const Node& n : g.nodes) {
    for (int i : n.inputs) {
      if (i < -1 || i >= static_cast<int>(g.values.size()))
        fail(str_cat("node ", n.label(), ": input id out of range"));
      if (i >= 0 && !defined[i])
        fail(str_cat("node ", n.label(), ": input '", g.values[i].name,
                     "' is not produced by any earlier node, initializer or graph input"));
    }
    for (int o : n.outputs) {
      if (o < -1 || o >= static_cast<int>(g.values.size()))
        fail(str_cat("node ", n.label(), ": output id out of range"));
      if (o >= 0 && defined[o])
        fail(str_cat("node ", n.label(), ": output '", g.values[o].name,
                     "' is already defined elsewhere"));
      if (o >= 0) defined[o] = true;
    }
  }
  for (int o : g.outputs) {
    if (o < 0 || o >= static_cast<int>(g.values.size())) fail("graph output id out of range");
    if (!defined[o]) fail(str_cat("graph output '", g.values[o].name, "' is never produced"));
  }
}

}  // namespace visionrt
