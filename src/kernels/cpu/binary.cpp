// Element-wise Add/Sub/Mul/Div/Max/Min on f32 (and the comparisons Greater/Less/Equal/
// GreaterOrEqual/LessOrEqual of f32 into bool) with any numpy broadcast, plain layout: the
// broadcasts oneDNN 2.6's jit binary does not take (it broadcasts only its second operand, and
// only per tensor, per channel or in some spatial patterns): Swin's attention masks
// [1, nW, 1, L, L] + [B, nW, heads, L, L], a first operand broadcast over the second, two
// operands each broadcast along other axes ([N,C,1,1] * [N,1,H,W]).
// The broadcast is planned at compile time: adjacent dimensions merge where both operands are
// contiguous (or both broadcast) across them, leaving few outer dimensions around one inner run
// in which each operand is either contiguous or one repeated value; the inner loop vectorizes.
#include <algorithm>

#include "common/parallel.hpp"
#include "common/strings.hpp"
#include "kernels/cpu/vec_math.hpp"
#include "kernels/kernel.hpp"
#include "kernels/ref/ref_util.hpp"

namespace visionrt {
namespace {

enum class BinOp { add, sub, mul, div, max, min, gt, lt, eq, ge, le };

bool is_comparison(BinOp op) { return op >= BinOp::gt; }

// y[i] = a[i * sa] `cmp` b[i * sb] as bool bytes; NaN compares false, as the reference.
template <BinOp op>
inline void run_inner_cmp(const float* a, int64_t sa, const float* b, int64_t sb, uint8_t* y,
                          int64_t n) {
  auto f = [](float u, float v) -> uint8_t {
    if constexpr (op == BinOp::gt) return u > v;
    if constexpr (op == BinOp::lt) return u < v;
    if constexpr (op == BinOp::eq) return u == v;
    if constexpr (op == BinOp::ge) return u >= v;
    return u <= v;
  };
  for (int64_t i = 0; i < n; ++i) y[i] = f(a[sa ? i : 0], b[sb ? i : 0]);
}

VISIONRT_MULTIVERSION void inner_cmp(BinOp op, const float* a, int64_t sa, const float* b,
                                     int64_t sb, uint8_t* y, int64_t n) {
  switch (op) {
    case BinOp::gt:
      return run_inner_cmp<BinOp::gt>(a, sa, b, sb, y, n);
    case BinOp::lt:
      return run_inner_cmp<BinOp::lt>(a, sa, b, sb, y, n);
    case BinOp::eq:
      return run_inner_cmp<BinOp::eq>(a, sa, b, sb, y, n);
    case BinOp::ge:
      return run_inner_cmp<BinOp::ge>(a, sa, b, sb, y, n);
    default:
      return run_inner_cmp<BinOp::le>(a, sa, b, sb, y, n);
  }
}

// y[i] = f(a[i * sa], b[i * sb]) for i < n, sa and sb in {0, 1}.
template <BinOp op>
inline void run_inner(const float* a, int64_t sa, const float* b, int64_t sb, float* y, int64_t n) {
  auto f = [](float u, float v) {
    if constexpr (op == BinOp::add) return u + v;
    if constexpr (op == BinOp::sub) return u - v;
    if constexpr (op == BinOp::mul) return u * v;
    if constexpr (op == BinOp::div) return u / v;
    if constexpr (op == BinOp::max) return u < v ? v : u;  // NaN: as std::max(u, v)
    if constexpr (op == BinOp::min) return v < u ? v : u;
  };
  if (sa && sb) {
    for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], b[i]);
  } else if (sa) {
    const float v = b[0];
    for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], v);
  } else if (sb) {
    const float u = a[0];
    for (int64_t i = 0; i < n; ++i) y[i] = f(u, b[i]);
  } else {
    const float r = f(a[0], b[0]);
    for (int64_t i = 0; i < n; ++i) y[i] = r;
  }
}

// One inner run, compiled for several ISAs (the operator is a run-time switch outside the loop).
VISIONRT_MULTIVERSION void inner_run(BinOp op, const float* a, int64_t sa, const float* b,
                                     int64_t sb, float* y, int64_t n) {
  switch (op) {
    case BinOp::add:
      return run_inner<BinOp::add>(a, sa, b, sb, y, n);
    case BinOp::sub:
      return run_inner<BinOp::sub>(a, sa, b, sb, y, n);
    case BinOp::mul:
      return run_inner<BinOp::mul>(a, sa, b, sb, y, n);
    case BinOp::div:
      return run_inner<BinOp::div>(a, sa, b, sb, y, n);
    case BinOp::max:
      return run_inner<BinOp::max>(a, sa, b, sb, y, n);
    case BinOp::min:
      return run_inner<BinOp::min>(a, sa, b, sb, y, n);
    default:
      return;  // comparisons: inner_cmp
  }
}

// The output as rows (all merged dims but the inner one) around one inner run.
struct BinaryPlan {
  Shape outer;                        // merged output dims before the inner run
  std::vector<int64_t> sa, sb;        // element strides of a and b per outer dim (0: broadcast)
  int64_t inner = 1, ia = 1, ib = 1;  // inner run length, a's and b's inner step (0 or 1)
};

void run_plan(BinOp op, const BinaryPlan& p, const float* a, const float* b, void* y, int threads) {
  const int64_t rows = shape_numel(p.outer);
  const int t = rows * p.inner >= (1 << 15) ? threads : 1;
  parallel_for(rows, t, [&](int64_t r) {
    int64_t rem = r, oa = 0, ob = 0;
    for (size_t d = p.outer.size(); d-- > 0;) {
      const int64_t i = rem % p.outer[d];
      rem /= p.outer[d];
      oa += i * p.sa[d];
      ob += i * p.sb[d];
    }
    if (is_comparison(op))
      inner_cmp(op, a + oa, p.ia, b + ob, p.ib, static_cast<uint8_t*>(y) + r * p.inner, p.inner);
    else
      inner_run(op, a + oa, p.ia, b + ob, p.ib, static_cast<float*>(y) + r * p.inner, p.inner);
  });
}

class BroadcastBinary : public Kernel {
 public:
  BroadcastBinary(BinOp op, BinaryPlan plan, std::string layout)
      : op_(op), plan_(std::move(plan)), layout_(std::move(layout)) {}
  void execute(KernelContext& ctx) override {
    run_plan(op_, plan_, ctx.input(0).data<float>(), ctx.input(1).data<float>(),
             ctx.output(0).raw(), ctx.num_threads);
  }
  std::string layout() const override { return layout_; }

 private:
  BinOp op_;
  BinaryPlan plan_;
  std::string layout_;
};

std::unique_ptr<Kernel> create(const KernelQuery& q, std::string* why) {
  if (q.input_types.size() != 2) return *why = "needs two inputs", nullptr;
  const std::string& op = q.node->op_type;
  const bool cmp = op == "Greater" || op == "Less" || op == "Equal" || op == "GreaterOrEqual" ||
                   op == "LessOrEqual";
  for (const TensorType& t : {q.input_types[0], q.input_types[1]})
    if (!t.fully_known() || t.dtype != DType::f32) return *why = "static f32 only", nullptr;
  const TensorType& yt = q.output_types[0];
  if (!yt.fully_known() || yt.dtype != (cmp ? DType::boolean : DType::f32))
    return *why = "static f32 (bool for comparisons) output only", nullptr;
  if (q.any_blocked()) return *why = "plain layouts only", nullptr;
  BinOp b;
  if (op == "Greater")
    b = BinOp::gt;
  else if (op == "Less")
    b = BinOp::lt;
  else if (op == "Equal")
    b = BinOp::eq;
  else if (op == "GreaterOrEqual")
    b = BinOp::ge;
  else if (op == "LessOrEqual")
    b = BinOp::le;
  else if (op == "Add")
    b = BinOp::add;
  else if (op == "Sub")
    b = BinOp::sub;
  else if (op == "Mul")
    b = BinOp::mul;
  else if (op == "Div")
    b = BinOp::div;
  else if (op == "Max")
    b = BinOp::max;
  else if (op == "Min")
    b = BinOp::min;
  else
    return *why = "not a binary op", nullptr;
  const Shape& y = q.output_types[0].dims;
  const Shape &da = q.input_types[0].dims, &db = q.input_types[1].dims;
  if (da.size() > y.size() || db.size() > y.size())
    return *why = "operand rank above output's", nullptr;
  if (shape_numel(y) == 0) return *why = "empty output", nullptr;
  std::vector<int64_t> sa = ref::broadcast_strides(da, y), sb = ref::broadcast_strides(db, y);
  // Drop size-1 output dims, then merge dim d into d+1 where both strides continue across.
  Shape dims;
  std::vector<int64_t> ma, mb;
  for (size_t d = 0; d < y.size(); ++d) {
    if (y[d] == 1) continue;
    if (!dims.empty()) {
      const int64_t n = dims.back();
      // Row-major: dim d's stride times its size is the previous dim's stride.
      const bool ca = ma.back() == sa[d] * y[d] && (sa[d] != 0 || ma.back() == 0);
      const bool cb = mb.back() == sb[d] * y[d] && (sb[d] != 0 || mb.back() == 0);
      if (ca && cb) {
        dims.back() = n * y[d];
        ma.back() = sa[d];
        mb.back() = sb[d];
        continue;
      }
    }
    dims.push_back(y[d]);
    ma.push_back(sa[d]);
    mb.push_back(sb[d]);
  }
  BinaryPlan p;
  if (dims.empty()) {
    p.inner = 1, p.ia = 0, p.ib = 0;
  } else {
    p.inner = dims.back();
    p.ia = ma.back();
    p.ib = mb.back();
    dims.pop_back(), ma.pop_back(), mb.pop_back();
    if ((p.ia != 0 && p.ia != 1) || (p.ib != 0 && p.ib != 1))
      return *why = "internal: inner stride is not 0 or 1", nullptr;
    p.outer = dims, p.sa = ma, p.sb = mb;
  }
  // A short inner run with a long broadcast row is still correct, only slower; fine for now.
  return std::make_unique<BroadcastBinary>(
      b, std::move(p), str_cat("plain broadcast ", shape_str(da), " ", shape_str(db)));
}

}  // namespace

void register_cpu_binary(KernelRegistry& r) {
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Max", "Min", "Greater", "Less", "Equal",
                         "GreaterOrEqual", "LessOrEqual"})
    r.add(op, {"cpu", create, nullptr});
}

}  // namespace visionrt
