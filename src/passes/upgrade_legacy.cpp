// Rewrites pre-opset-7 forms into today's semantics at load time, so ops and kernels only know
// one form: binary ops' `broadcast`/`axis` attributes become an explicit reshape of the second
// operand (numpy broadcasting then gives the old result), PRelu-6's per-channel slope [C] becomes
// [C,1,..,1], BatchNormalization-6 (spatial=1) and Gemm-6 drop attributes that no longer exist.
#include "common/strings.hpp"
#include "passes/passes.hpp"

namespace visionrt {

namespace {

// Shape of value v if its rank is known statically.
const Shape* static_dims(const Graph& g, int v) {
  if (v < 0) return nullptr;
  const Value& val = g.values[v];
  if (val.constant) return &val.constant->shape();
  return val.type.has_rank ? &val.type.dims : nullptr;
}

// Places operand `b` (rank rb) at `axis` of a rank-ra operand: [1]*axis + dims + [1]*rest.
bool align_operand(Graph& g, Node& n, size_t input, int64_t axis, size_t ra,
                   std::vector<Node>* extra) {
  int b = n.inputs[input];
  const Shape* bd = static_dims(g, b);
  if (!bd) return false;
  int64_t rb = static_cast<int64_t>(bd->size());
  if (axis < 0) axis += static_cast<int64_t>(ra);
  if (axis < 0 || axis + rb > static_cast<int64_t>(ra))
    throw ModelError(
        str_cat(g.path, ": node ", n.label(), ": legacy broadcast axis ", axis, " out of range"));
  Shape target(static_cast<size_t>(axis), 1);
  target.insert(target.end(), bd->begin(), bd->end());
  target.resize(ra, 1);
  if (g.values[b].constant) {
    int nv = g.add_value(g.values[b].name + "__aligned");
    g.values[nv].constant = g.values[b].constant->reshaped(target);
    g.values[nv].type = {g.values[nv].constant->dtype(), true, target};
    n.inputs[input] = nv;
    return true;
  }
  std::vector<int64_t> axes;
  for (int64_t d = 0; d < static_cast<int64_t>(ra); ++d)
    if (d < axis || d >= axis + rb) axes.push_back(d);
  if (axes.empty()) return true;
  int nv = g.add_value(g.values[b].name + "__aligned");
  Node u;
  u.name = n.name + "__legacy_unsqueeze";
  u.op_type = "Unsqueeze";
  u.inputs = {b};
  u.outputs = {nv};
  u.attrs["axes"] = attr_ints(axes);
  extra->push_back(std::move(u));
  n.inputs[input] = nv;
  return true;
}

bool is_legacy_binary(const std::string& op) {
  static const char* kOps[] = {"Add", "Sub", "Mul",   "Div",  "Pow",    "And",
                               "Or",  "Xor", "Equal", "Less", "Greater"};
  for (const char* k : kOps)
    if (op == k) return true;
  return false;
}

}  // namespace

void upgrade_legacy_ops(Graph& g) {
  if (g.opset() >= 7) return;
  std::vector<Node> out;
  for (Node& n : g.nodes) {
    std::vector<Node> extra;
    if (!n.domain.empty()) {
      out.push_back(std::move(n));
      continue;
    }
    if (is_legacy_binary(n.op_type) || n.op_type == "Gemm") {
      bool bc = n.attr_i("broadcast", 0) != 0;
      if (bc && n.has_attr("axis") && n.op_type != "Gemm") {
        const Shape* ad = static_dims(g, n.inputs[0]);
        if (!ad || !align_operand(g, n, 1, n.attr_i("axis", 0), ad->size(), &extra))
          throw ModelError(
              str_cat(g.path, ": node ", n.label(),
                      ": legacy axis broadcast needs operand ranks known at load time"));
      }
      n.attrs.erase("broadcast");
      n.attrs.erase("axis");
    } else if (n.op_type == "PRelu") {
      const Shape* xd = static_dims(g, n.inputs[0]);
      const Shape* sd = static_dims(g, n.inputs[1]);
      if (xd && sd && xd->size() >= 3 && sd->size() == 1 && (*sd)[0] != 1 &&
          !align_operand(g, n, 1, 1, xd->size(), &extra))
        throw ModelError(
            str_cat(g.path, ": node ", n.label(), ": cannot align the per-channel slope"));
    } else if (n.op_type == "BatchNormalization") {
      if (n.attr_i("spatial", 1) == 0)
        throw ModelError(str_cat(g.path, ": node ", n.label(),
                                 ": BatchNormalization with spatial=0 is not supported"));
      for (const char* a : {"spatial", "is_test", "consumed_inputs"}) n.attrs.erase(a);
    }
    for (Node& e : extra) out.push_back(std::move(e));
    out.push_back(std::move(n));
  }
  g.nodes = std::move(out);
  g.relink();
}

}  // namespace visionrt
