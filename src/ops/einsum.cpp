// Einsum: equation parsing and shape inference (see einsum.hpp).
#include "ops/einsum.hpp"

#include <algorithm>
#include <map>

#include "common/strings.hpp"
#include "ops/op_registry.hpp"

namespace visionrt {

bool einsum_plan(const std::string& equation, const std::vector<Shape>& shapes, EinsumPlan* plan,
                 std::string* err) {
  std::string eq;
  for (char ch : equation)
    if (ch != ' ') eq += ch;
  size_t arrow = eq.find("->");
  std::string lhs = arrow == std::string::npos ? eq : eq.substr(0, arrow);
  std::vector<std::string> terms;
  size_t start = 0;
  while (true) {
    size_t comma = lhs.find(',', start);
    terms.push_back(
        lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != shapes.size()) {
    *err = str_cat("equation has ", terms.size(), " operands, the node has ", shapes.size(),
                   " inputs");
    return false;
  }
  // Letters map to ids 0..51; ellipsis dims get ids 100+k counted from the right.
  std::map<int, int> id_of;
  auto label_id = [&](int key) {
    auto it = id_of.find(key);
    if (it != id_of.end()) return it->second;
    int id = static_cast<int>(id_of.size());
    id_of[key] = id;
    return id;
  };
  auto letter = [&](char ch, int* key) {
    if (ch >= 'a' && ch <= 'z')
      *key = ch - 'a';
    else if (ch >= 'A' && ch <= 'Z')
      *key = 26 + ch - 'A';
    else
      return false;
    return true;
  };
  size_t max_ell = 0;
  std::map<int, int> count;  // letter key -> occurrences over all operands
  plan->operand_labels.clear();
  std::vector<std::pair<int, int64_t>> sizes;  // (key, dim)
  for (size_t t = 0; t < terms.size(); ++t) {
    const std::string& term = terms[t];
    size_t ell = term.find("...");
    size_t letters = term.size() - (ell == std::string::npos ? 0 : 3);
    size_t rank = shapes[t].size();
    if (rank < letters || (ell == std::string::npos && rank != letters)) {
      *err = str_cat("operand ", t, " has rank ", rank, " but term '", term, "'");
      return false;
    }
    size_t ell_dims = rank - letters;
    max_ell = std::max(max_ell, ell_dims);
    std::vector<int> labels;
    for (size_t i = 0; i < term.size(); ++i) {
      if (term.compare(i, 3, "...") == 0) {
        for (size_t k = 0; k < ell_dims; ++k)
          labels.push_back(-1 - static_cast<int>(ell_dims - 1 - k));
        i += 2;
        continue;
      }
      int key;
      if (!letter(term[i], &key)) {
        *err = str_cat("bad character '", term[i], "' in equation");
        return false;
      }
      labels.push_back(key);
      count[key]++;
    }
    plan->operand_labels.push_back(labels);
  }
  // Output labels.
  std::vector<int> out_keys;
  for (size_t k = max_ell; k > 0; --k) out_keys.push_back(-static_cast<int>(k));
  if (arrow != std::string::npos) {
    std::string rhs = eq.substr(arrow + 2);
    out_keys.clear();
    for (size_t i = 0; i < rhs.size(); ++i) {
      if (rhs.compare(i, 3, "...") == 0) {
        for (size_t k = max_ell; k > 0; --k) out_keys.push_back(-static_cast<int>(k));
        i += 2;
        continue;
      }
      int key;
      if (!letter(rhs[i], &key) || !count.count(key)) {
        *err = str_cat("output label '", rhs[i], "' does not appear in the inputs");
        return false;
      }
      out_keys.push_back(key);
    }
  } else {
    for (const auto& kv : count)
      if (kv.second == 1) out_keys.push_back(kv.first);
  }
  // Assign ids: output labels first, then the summed ones.
  id_of.clear();
  for (int k : out_keys) label_id(k);
  for (auto& labels : plan->operand_labels)
    for (auto& l : labels) l = label_id(l);
  plan->output_labels.clear();
  for (int k : out_keys) plan->output_labels.push_back(id_of[k]);
  // A label's size: the one non-1 size its dims have (1 broadcasts), 1 if all are 1, -1 if none
  // is known.
  plan->label_size.assign(id_of.size(), -1);
  for (size_t t = 0; t < shapes.size(); ++t)
    for (size_t d = 0; d < shapes[t].size(); ++d) {
      int64_t v = shapes[t][d];
      int64_t& cur = plan->label_size[plan->operand_labels[t][d]];
      if (v < 0 || v == cur || (v == 1 && cur > 1)) continue;  // unknown, agrees, or broadcasts
      if (cur == -1 || cur == 1) {
        cur = v;
        continue;
      }
      *err = str_cat("label sizes disagree: ", cur, " vs ", v);
      return false;
    }
  return true;
}

void register_einsum_op(OpRegistry& r) {
  r.add({"Einsum",
         [](InferContext& c) {
           std::vector<Shape> shapes;
           for (size_t i = 0; i < c.num_inputs(); ++i) {
             if (!c.input_type(i).has_rank) return c.set_output_rank_unknown(0, c.input_dtype(0));
             shapes.push_back(c.input_type(i).dims);
           }
           EinsumPlan plan;
           std::string err;
           if (!einsum_plan(c.node().attr_s("equation", ""), shapes, &plan, &err)) c.fail(err);
           Shape out;
           for (int l : plan.output_labels) out.push_back(plan.label_size[l]);
           c.set_output(0, c.input_dtype(0), out);
         },
         {},
         12});
}

}  // namespace visionrt
