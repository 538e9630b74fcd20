// Reference kernels for elementwise ops. Floats compute in double (f16/bf16 via float) so the
// reference is at least as precise as any fast path; integer ops stay in their own type.
#include <cmath>
#include <functional>
#include <limits>

#include "common/strings.hpp"
#include "kernels/ref/ref_util.hpp"
#include "ops/elementwise_ops.hpp"

namespace visionrt {
namespace {

using UnaryFn = std::function<double(double)>;

// Builds the scalar function of a unary op from its attributes (evaluated in double).
UnaryFn unary_fn(const Node& n) {
  const std::string& op = n.op_type;
  float alpha = n.attr_f("alpha", 0), beta = n.attr_f("beta", 0);
  if (op == "Abs") return [](double x) { return std::fabs(x); };
  if (op == "Neg") return [](double x) { return -x; };
  if (op == "Exp") return [](double x) { return std::exp(x); };
  if (op == "Log") return [](double x) { return std::log(x); };
  if (op == "Sqrt") return [](double x) { return std::sqrt(x); };
  if (op == "Reciprocal") return [](double x) { return 1.0 / x; };
  if (op == "Floor") return [](double x) { return std::floor(x); };
  if (op == "Ceil") return [](double x) { return std::ceil(x); };
  if (op == "Round") return [](double x) { return std::nearbyint(x); };  // half to even
  if (op == "Sign") return [](double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0; };
  if (op == "Sin") return [](double x) { return std::sin(x); };
  if (op == "Cos") return [](double x) { return std::cos(x); };
  if (op == "Tan") return [](double x) { return std::tan(x); };
  if (op == "Asin") return [](double x) { return std::asin(x); };
  if (op == "Acos") return [](double x) { return std::acos(x); };
  if (op == "Atan") return [](double x) { return std::atan(x); };
  if (op == "Sinh") return [](double x) { return std::sinh(x); };
  if (op == "Cosh") return [](double x) { return std::cosh(x); };
  if (op == "Asinh") return [](double x) { return std::asinh(x); };
  if (op == "Acosh") return [](double x) { return std::acosh(x); };
  if (op == "Atanh") return [](double x) { return std::atanh(x); };
  if (op == "Erf") return [](double x) { return std::erf(x); };
  if (op == "Relu") return [](double x) { return x > 0 ? x : 0.0; };
  if (op == "Sigmoid") return [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  if (op == "Tanh") return [](double x) { return std::tanh(x); };
  if (op == "Softplus") return [](double x) { return x > 30 ? x : std::log1p(std::exp(x)); };
  if (op == "Softsign") return [](double x) { return x / (1 + std::fabs(x)); };
  if (op == "Mish")
    return [](double x) { return x * std::tanh(x > 30 ? x : std::log1p(std::exp(x))); };
  if (op == "HardSigmoid") {
    double a = n.attr_f("alpha", 0.2f), b = n.attr_f("beta", 0.5f);
    return [a, b](double x) { return std::max(0.0, std::min(1.0, a * x + b)); };
  }
  if (op == "HardSwish")
    return [](double x) { return x * std::max(0.0, std::min(1.0, x / 6.0 + 0.5)); };
  if (op == "LeakyRelu") {
    double a = n.attr_f("alpha", 0.01f);
    return [a](double x) { return x >= 0 ? x : a * x; };
  }
  if (op == "Elu") {
    double a = n.attr_f("alpha", 1.0f);
    return [a](double x) { return x >= 0 ? x : a * (std::exp(x) - 1); };
  }
  if (op == "Celu") {
    double a = n.attr_f("alpha", 1.0f);
    return [a](double x) { return std::max(0.0, x) + std::min(0.0, a * (std::exp(x / a) - 1)); };
  }
  if (op == "Selu") {
    double a = n.attr_f("alpha", 1.67326319217681884765625f),
           g = n.attr_f("gamma", 1.05070102214813232421875f);
    return [a, g](double x) { return x > 0 ? g * x : g * (a * std::exp(x) - a); };
  }
  if (op == "Gelu") {
    // Opset 20. x * Phi(x), or its tanh approximation.
    if (n.attr_s("approximate", "none") == "tanh")
      return [](double x) {
        return 0.5 * x * (1 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
      };
    return [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); };
  }
  if (op == "ThresholdedRelu") {
    double a = n.attr_f("alpha", 1.0f);
    return [a](double x) { return x > a ? x : 0.0; };
  }
  if (op == "Shrink") {
    double l = n.attr_f("lambd", 0.5f), b = n.attr_f("bias", 0.0f);
    return [l, b](double x) { return x < -l ? x + b : x > l ? x - b : 0.0; };
  }
  (void)alpha;
  (void)beta;
  return nullptr;
}

// Ops that are meaningful on integers too (computed exactly in the integer type).
bool int_ok(const std::string& op) {
  return op == "Abs" || op == "Neg" || op == "Sign" || op == "Relu" || op == "Identity";
}

void unary_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  Tensor& y = c.output(0);
  const std::string& op = c.node->op_type;
  if (!dtype_is_float(x.dtype())) {
    ref::dispatch_int(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* a = x.data<T>();
      T* o = y.data<T>();
      for (size_t i = 0; i < x.numel(); ++i) {
        T v = a[i];
        if (op == "Abs")
          o[i] = std::is_signed_v<T> && v < 0 ? static_cast<T>(-v) : v;
        else if (op == "Neg")
          o[i] = static_cast<T>(-v);
        else if (op == "Sign")
          o[i] = static_cast<T>(v > 0 ? 1 : (std::is_signed_v<T> && v < 0) ? -1 : 0);
        else if (op == "Relu")
          o[i] = v > 0 ? v : T(0);
      }
    });
    return;
  }
  UnaryFn f = unary_fn(*c.node);
  ref::dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* a = x.data<T>();
    T* o = y.data<T>();
    for (size_t i = 0; i < x.numel(); ++i)
      o[i] = ref::store<T>(f(static_cast<double>(ref::load(a[i]))));
  });
}

bool unary_accepts(const KernelQuery& q, std::string* why) {
  DType t = q.input_types[0].dtype;
  if (dtype_is_float(t)) return true;
  if ((dtype_is_signed_int(t) || dtype_is_unsigned_int(t)) && int_ok(q.node->op_type)) return true;
  *why = str_cat(q.node->op_type, " does not support ", dtype_name(t));
  return false;
}

// Applies fn(out_index, {offset into each input}) over the broadcast output.
template <typename F>
void broadcast_loop(const std::vector<const Tensor*>& ins, const Tensor& out, F&& fn) {
  bool same = true;
  for (const Tensor* t : ins) same &= t->shape() == out.shape();
  if (same) {
    std::vector<int64_t> offs(ins.size());
    for (size_t i = 0; i < out.numel(); ++i) {
      for (auto& o : offs) o = static_cast<int64_t>(i);
      fn(i, offs);
    }
    return;
  }
  std::vector<std::vector<int64_t>> strides;
  for (const Tensor* t : ins) strides.push_back(ref::broadcast_strides(t->shape(), out.shape()));
  ref::MultiIndex it(out.shape(), strides);
  for (size_t i = 0; i < out.numel(); ++i, it.next()) fn(i, it.offsets());
}

template <typename T>
T int_pow(T base, int64_t e) {
  if (e < 0) return base == T(1) ? T(1) : T(0);
  T r = 1;
  while (e) {
    if (e & 1) r = static_cast<T>(r * base);
    base = static_cast<T>(base * base);
    e >>= 1;
  }
  return r;
}

void arith_kernel(KernelContext& c) {
  const Tensor& a = c.input(0);
  const Tensor& b = c.input(1);
  Tensor& y = c.output(0);
  const std::string& op = c.node->op_type;
  bool fmod = c.node->attr_i("fmod", 0) != 0;
  if (op == "Pow") {
    // Exponent may have another type: evaluate in double, store in the base's type.
    ref::dispatch_numeric(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* pa = a.data<T>();
      T* o = y.data<T>();
      broadcast_loop({&a, &b}, y, [&](size_t i, const std::vector<int64_t>& off) {
        if constexpr (std::is_integral_v<T>) {
          o[i] = int_pow<T>(pa[off[0]], b.at_i64(static_cast<size_t>(off[1])));
        } else {
          o[i] = ref::store<T>(std::pow(static_cast<double>(ref::load(pa[off[0]])),
                                        b.at_f64(static_cast<size_t>(off[1]))));
        }
      });
    });
    return;
  }
  if (op == "BitShift") {
    bool left = c.node->attr_s("direction", "") == "LEFT";
    ref::dispatch_int(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* pa = a.data<T>();
      const T* pb = b.data<T>();
      T* o = y.data<T>();
      broadcast_loop({&a, &b}, y, [&](size_t i, const std::vector<int64_t>& off) {
        auto s = static_cast<uint64_t>(pb[off[1]]);
        if (s >= sizeof(T) * 8)
          o[i] = 0;
        else
          o[i] = static_cast<T>(left ? pa[off[0]] << s : pa[off[0]] >> s);
      });
    });
    return;
  }
  ref::dispatch_numeric(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* o = y.data<T>();
    broadcast_loop({&a, &b}, y, [&](size_t i, const std::vector<int64_t>& off) {
      if constexpr (std::is_integral_v<T>) {
        T u = pa[off[0]], v = pb[off[1]];
        if (op == "Add")
          o[i] = static_cast<T>(u + v);
        else if (op == "Sub")
          o[i] = static_cast<T>(u - v);
        else if (op == "Mul")
          o[i] = static_cast<T>(u * v);
        else if (op == "PRelu")
          o[i] = u < 0 ? static_cast<T>(u * v) : u;
        else {
          if (v == 0) c.fail(str_cat(op, ": integer division by zero"));
          if (op == "Div") {
            o[i] = static_cast<T>(u / v);
          } else {  // Mod: fmod=0 takes the divisor's sign (Python), fmod=1 the dividend's (C)
            T r = static_cast<T>(u % v);
            if (!fmod && r != 0 && ((r < 0) != (v < 0))) r = static_cast<T>(r + v);
            o[i] = r;
          }
        }
      } else {
        double u = static_cast<double>(ref::load(pa[off[0]])),
               v = static_cast<double>(ref::load(pb[off[1]]));
        double r;
        if (op == "Add")
          r = u + v;
        else if (op == "Sub")
          r = u - v;
        else if (op == "Mul")
          r = u * v;
        else if (op == "Div")
          r = u / v;
        else if (op == "PRelu")
          r = u < 0 ? u * v : u;
        else {
          r = std::fmod(u, v);
          if (!fmod && r != 0 && ((r < 0) != (v < 0))) r += v;
        }
        o[i] = ref::store<T>(r);
      }
    });
  });
}

bool arith_accepts(const KernelQuery& q, std::string* why) {
  DType t = q.input_types[0].dtype;
  const std::string& op = q.node->op_type;
  if (op == "BitShift" && !dtype_is_unsigned_int(t)) {
    *why = "BitShift needs unsigned integers";
    return false;
  }
  if (op == "Mod" && dtype_is_float(t) && q.node->attr_i("fmod", 0) == 0) {
    *why = "Mod on floats needs fmod=1";
    return false;
  }
  if (t == DType::boolean) {
    *why = op + " does not support bool";
    return false;
  }
  return true;
}

void compare_kernel(KernelContext& c) {
  const Tensor& a = c.input(0);
  const Tensor& b = c.input(1);
  Tensor& y = c.output(0);
  const std::string& op = c.node->op_type;
  bool* o = y.data<bool>();
  ref::dispatch_all(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    broadcast_loop({&a, &b}, y, [&](size_t i, const std::vector<int64_t>& off) {
      auto u = ref::load(pa[off[0]]);
      auto v = ref::load(pb[off[1]]);
      bool r;
      if (op == "Equal")
        r = u == v;
      else if (op == "Less")
        r = u < v;
      else if (op == "LessOrEqual")
        r = u <= v;
      else if (op == "Greater")
        r = u > v;
      else if (op == "GreaterOrEqual")
        r = u >= v;
      else if (op == "And")
        r = (u != decltype(u)(0)) && (v != decltype(v)(0));
      else if (op == "Or")
        r = (u != decltype(u)(0)) || (v != decltype(v)(0));
      else
        r = (u != decltype(u)(0)) != (v != decltype(v)(0));  // Xor
      o[i] = r;
    });
  });
}

void variadic_kernel(KernelContext& c) {
  Tensor& y = c.output(0);
  const std::string& op = c.node->op_type;
  std::vector<const Tensor*> ins;
  for (size_t i = 0; i < c.num_inputs(); ++i)
    if (c.has_input(i)) ins.push_back(&c.input(i));
  ref::dispatch_numeric(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* o = y.data<T>();
    broadcast_loop(ins, y, [&](size_t i, const std::vector<int64_t>& off) {
      if constexpr (std::is_integral_v<T>) {
        T acc = ins[0]->data<T>()[off[0]];
        for (size_t k = 1; k < ins.size(); ++k) {
          T v = ins[k]->data<T>()[off[k]];
          if (op == "Max")
            acc = std::max(acc, v);
          else if (op == "Min")
            acc = std::min(acc, v);
          else
            acc = static_cast<T>(acc + v);
        }
        o[i] = op == "Mean" ? static_cast<T>(acc / static_cast<T>(ins.size())) : acc;
      } else {
        double acc = static_cast<double>(ref::load(ins[0]->data<T>()[off[0]]));
        for (size_t k = 1; k < ins.size(); ++k) {
          double v = static_cast<double>(ref::load(ins[k]->data<T>()[off[k]]));
          if (std::isnan(v) || std::isnan(acc))
            acc = NAN;
          else if (op == "Max")
            acc = std::max(acc, v);
          else if (op == "Min")
            acc = std::min(acc, v);
          else
            acc += v;
        }
        o[i] = ref::store<T>(op == "Mean" ? acc / static_cast<double>(ins.size()) : acc);
      }
    });
  });
}

void where_kernel(KernelContext& c) {
  const Tensor& cond = c.input(0);
  const Tensor& a = c.input(1);
  const Tensor& b = c.input(2);
  Tensor& y = c.output(0);
  const bool* pc = cond.data<bool>();
  size_t es = dtype_size(y.dtype());
  const char* pa = static_cast<const char*>(a.raw());
  const char* pb = static_cast<const char*>(b.raw());
  char* o = static_cast<char*>(y.raw());
  broadcast_loop({&cond, &a, &b}, y, [&](size_t i, const std::vector<int64_t>& off) {
    std::memcpy(o + i * es,
                pc[off[0]] ? pa + off[1] * static_cast<int64_t>(es)
                           : pb + off[2] * static_cast<int64_t>(es),
                es);
  });
}

void clip_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  Tensor& y = c.output(0);
  ref::dispatch_numeric(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using A = ref::acc_t<T>;
    A lo = std::numeric_limits<A>::lowest(), hi = std::numeric_limits<A>::max();
    if (c.opset < 11) {
      lo = static_cast<A>(c.node->attr_f("min", -std::numeric_limits<float>::max()));
      hi = static_cast<A>(c.node->attr_f("max", std::numeric_limits<float>::max()));
      if constexpr (std::is_floating_point_v<A>) {
        if (!c.node->has_attr("min")) lo = -std::numeric_limits<A>::infinity();
        if (!c.node->has_attr("max")) hi = std::numeric_limits<A>::infinity();
      }
    } else {
      if (c.has_input(1)) {
        if (c.input(1).numel() != 1) c.fail("min must be a scalar");
        lo = ref::load(c.input(1).data<T>()[0]);
      }
      if (c.has_input(2)) {
        if (c.input(2).numel() != 1) c.fail("max must be a scalar");
        hi = ref::load(c.input(2).data<T>()[0]);
      }
    }
    const T* a = x.data<T>();
    T* o = y.data<T>();
    for (size_t i = 0; i < x.numel(); ++i) {
      A v = ref::load(a[i]);
      // NaN passes through; min is applied before max as in the ONNX reference.
      if (v < lo) v = lo;
      if (v > hi) v = hi;
      o[i] = ref::store<T>(v);
    }
  });
}

void copy_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  Tensor& y = c.output(0);
  if (x.nbytes()) std::memcpy(y.raw(), x.raw(), x.nbytes());
}

void cast_kernel(KernelContext& c) {
  Tensor t = c.input(0).cast(c.output(0).dtype());
  if (t.nbytes()) std::memcpy(c.output(0).raw(), t.raw(), t.nbytes());
}

void dropout_kernel(KernelContext& c) {
  // Training mode drops nothing with a ratio of 0 (Swin's attention dropout exports that way).
  if (c.has_input(2) && c.input(2).numel() == 1 && c.input(2).at_i64(0) != 0 &&
      !(c.has_input(1) && c.input(1).numel() == 1 && c.input(1).at_f64(0) == 0.0))
    c.fail("training_mode=true with a ratio other than 0 is not supported (inference only)");
  copy_kernel(c);
  if (c.num_outputs() > 1 && !c.output(1).empty()) {
    bool* m = c.output(1).data<bool>();
    for (size_t i = 0; i < c.output(1).numel(); ++i) m[i] = true;
  }
}

void isnan_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  bool* o = c.output(0).data<bool>();
  for (size_t i = 0; i < x.numel(); ++i) o[i] = std::isnan(x.at_f64(i));
}

void isinf_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  bool pos = c.node->attr_i("detect_positive", 1) != 0,
       neg = c.node->attr_i("detect_negative", 1) != 0;
  bool* o = c.output(0).data<bool>();
  for (size_t i = 0; i < x.numel(); ++i) {
    double v = x.at_f64(i);
    o[i] = std::isinf(v) && ((v > 0 && pos) || (v < 0 && neg));
  }
}

void not_kernel(KernelContext& c) {
  const bool* a = c.input(0).data<bool>();
  bool* o = c.output(0).data<bool>();
  for (size_t i = 0; i < c.input(0).numel(); ++i) o[i] = !a[i];
}

bool float_input(const KernelQuery& q, std::string* why) {
  if (dtype_is_float(q.input_types[0].dtype)) return true;
  *why = q.node->op_type + " needs a floating-point input";
  return false;
}

}  // namespace

void register_ref_elementwise_basic(KernelRegistry& r) {
  for (const char* op : kUnaryOps) r.add_ref(op, unary_accepts, unary_kernel);
  r.add_ref(
      "Gelu",
      [](const KernelQuery& q, std::string* why) {
        const std::string a = q.node->attr_s("approximate", "none");
        if (a != "none" && a != "tanh")
          return *why = "approximate '" + a + "' is not none or tanh", false;
        return unary_accepts(q, why);
      },
      unary_kernel);
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Pow", "Mod", "BitShift", "PRelu"})
    r.add_ref(op, arith_accepts, arith_kernel);
  for (const char* op :
       {"Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor"})
    r.add_ref(op, compare_kernel);
  for (const char* op : {"Min", "Max", "Mean", "Sum"}) r.add_ref(op, variadic_kernel);
  r.add_ref("Where", where_kernel);
  r.add_ref("Clip", clip_kernel);
  r.add_ref("Identity", copy_kernel);
  r.add_ref("Cast", cast_kernel);
  r.add_ref("CastLike", cast_kernel);
  r.add_ref("Dropout", dropout_kernel);
  r.add_ref("IsNaN", float_input, isnan_kernel);
  r.add_ref("IsInf", float_input, isinf_kernel);
  r.add_ref("Not", not_kernel);
}

}  // namespace visionrt
