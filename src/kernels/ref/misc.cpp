// Reference kernels for the misc family: window functions, DFT/STFT, MelWeightMatrix, Det,
// Unique, MaxUnpool, LpNormalization and RNN/GRU/LSTM. Arithmetic is done in double.
#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "common/strings.hpp"
#include "kernels/ref/ref_util.hpp"

namespace visionrt {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Writes double values into a tensor of any numeric dtype.
void window_kernel(KernelContext& c, double a0, double a1, double a2) {
  Tensor& y = c.output(0);
  int64_t n = static_cast<int64_t>(y.numel());
  bool periodic = c.node->attr_i("periodic", 1) != 0;
  double denom = static_cast<double>(periodic ? n : n - 1);
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    double x = denom > 0 ? 2 * kPi * static_cast<double>(i) / denom : 0;
    v[static_cast<size_t>(i)] = a0 - a1 * std::cos(x) + a2 * std::cos(2 * x);
  }
  ref::from_doubles(y, v);
}

// Naive DFT of one complex signal (re/im of length len) to n points.
void dft1(const std::vector<double>& re, const std::vector<double>& im, int64_t n, bool inverse,
          int64_t bins, std::vector<double>* ore, std::vector<double>* oim) {
  ore->assign(static_cast<size_t>(bins), 0);
  oim->assign(static_cast<size_t>(bins), 0);
  int64_t len = std::min<int64_t>(n, static_cast<int64_t>(re.size()));
  double sign = inverse ? 1 : -1;
  for (int64_t k = 0; k < bins; ++k) {
    double sr = 0, si = 0;
    for (int64_t t = 0; t < len; ++t) {
      double ang = sign * 2 * kPi * static_cast<double>((k * t) % n) / static_cast<double>(n);
      double cr = std::cos(ang), ci = std::sin(ang);
      sr += re[t] * cr - im[t] * ci;
      si += re[t] * ci + im[t] * cr;
    }
    if (inverse) {
      sr /= static_cast<double>(n);
      si /= static_cast<double>(n);
    }
    (*ore)[k] = sr;
    (*oim)[k] = si;
  }
}

void dft_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  Tensor& y = c.output(0);
  int64_t r = static_cast<int64_t>(x.rank());
  int64_t axis = c.node->attr_i("axis", 1);
  if (c.opset >= 20) axis = c.has_input(2) ? c.input(2).at_i64(0) : -2;  // an input since 20
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= r - 1) c.fail(str_cat("axis ", axis, " out of range"));
  bool inverse = c.node->attr_i("inverse", 0) != 0;
  int64_t comp = x.dim(r - 1);
  int64_t len = x.dim(axis);
  int64_t n = c.has_input(1) ? c.input(1).at_i64(0) : len;
  int64_t bins = y.dim(axis);
  std::vector<double> in = ref::to_doubles(x), out(y.numel());
  auto xs = ref::strides_of(x.shape()), ys = ref::strides_of(y.shape());
  // Iterate over every position except `axis` and the complex dim.
  Shape outer = x.shape();
  outer[axis] = 1;
  outer[r - 1] = 1;
  size_t count = shape_numel(outer);
  std::vector<int64_t> idx(r, 0);
  std::vector<double> re(len), im(len), ore, oim;
  for (size_t p = 0; p < count; ++p) {
    int64_t xo = 0, yo = 0;
    for (int64_t d = 0; d < r; ++d) {
      xo += idx[d] * xs[d];
      yo += idx[d] * ys[d];
    }
    for (int64_t t = 0; t < len; ++t) {
      re[t] = in[xo + t * xs[axis]];
      im[t] = comp == 2 ? in[xo + t * xs[axis] + 1] : 0;
    }
    dft1(re, im, n, inverse, bins, &ore, &oim);
    for (int64_t k = 0; k < bins; ++k) {
      out[yo + k * ys[axis]] = ore[k];
      out[yo + k * ys[axis] + 1] = oim[k];
    }
    for (int64_t d = r - 1; d >= 0; --d) {
      if (++idx[d] < outer[d]) break;
      idx[d] = 0;
    }
  }
  ref::from_doubles(y, out);
}

void stft_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  Tensor& y = c.output(0);
  int64_t step = c.input(1).at_i64(0);
  int64_t batch = x.dim(0), length = x.dim(1), comp = x.dim(2);
  int64_t frames = y.dim(1), bins = y.dim(2);
  int64_t flen = c.has_input(3) ? c.input(3).at_i64(0) : c.input(2).dim(0);
  std::vector<double> window(static_cast<size_t>(flen), 1.0);
  if (c.has_input(2)) {
    if (c.input(2).numel() != static_cast<size_t>(flen))
      c.fail("window length differs from frame_length");
    window = ref::to_doubles(c.input(2));
  }
  std::vector<double> in = ref::to_doubles(x), out(y.numel());
  std::vector<double> re(flen), im(flen), ore, oim;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t f = 0; f < frames; ++f) {
      for (int64_t t = 0; t < flen; ++t) {
        int64_t s = f * step + t;
        if (s >= length) c.fail("frame runs past the end of the signal");
        size_t o = static_cast<size_t>((b * length + s) * comp);
        re[t] = in[o] * window[t];
        im[t] = comp == 2 ? in[o + 1] * window[t] : 0;
      }
      dft1(re, im, flen, false, bins, &ore, &oim);
      for (int64_t k = 0; k < bins; ++k) {
        size_t o = static_cast<size_t>(((b * frames + f) * bins + k) * 2);
        out[o] = ore[k];
        out[o + 1] = oim[k];
      }
    }
  ref::from_doubles(y, out);
}

void mel_kernel(KernelContext& c) {
  int64_t nmel = c.input(0).at_i64(0), dft = c.input(1).at_i64(0), rate = c.input(2).at_i64(0);
  double lo = c.input(3).at_f64(0), hi = c.input(4).at_f64(0);
  if (rate <= 0) c.fail("sample_rate must be positive");
  int64_t nspec = dft / 2 + 1;
  double lo_mel = 2595 * std::log10(1 + lo / 700), hi_mel = 2595 * std::log10(1 + hi / 700);
  double step = (hi_mel - lo_mel) / static_cast<double>(nmel + 2);
  std::vector<int64_t> bins(static_cast<size_t>(nmel + 2));
  for (int64_t i = 0; i < nmel + 2; ++i) {
    double hz = 700 * (std::pow(10.0, (static_cast<double>(i) * step + lo_mel) / 2595) - 1);
    bins[i] = static_cast<int64_t>(
        std::floor(static_cast<double>(dft + 1) * hz / static_cast<double>(rate)));
  }
  std::vector<double> out(static_cast<size_t>(nspec * nmel), 0);
  auto at = [&](int64_t row, int64_t col) -> double& {
    if (row < 0 || row >= nspec)
      c.fail("mel bin outside the spectrogram (check the edge frequencies)");
    return out[static_cast<size_t>(row * nmel + col)];
  };
  for (int64_t i = 0; i < nmel; ++i) {
    int64_t l = bins[i], m = bins[i + 1], h = bins[i + 2];
    if (m - l == 0)
      at(m, i) = 1;
    else
      for (int64_t j = l; j <= m; ++j)
        at(j, i) = static_cast<double>(j - l) / static_cast<double>(m - l);
    if (h - m > 0)
      for (int64_t j = m; j < h; ++j)
        at(j, i) = static_cast<double>(h - j) / static_cast<double>(h - m);
  }
  ref::from_doubles(c.output(0), out);
}

void det_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  int64_t n = x.dim(x.rank() - 1);
  size_t mats = x.numel() / static_cast<size_t>(std::max<int64_t>(1, n * n));
  std::vector<double> in = ref::to_doubles(x), out(mats);
  for (size_t m = 0; m < mats && n > 0; ++m) {
    std::vector<double> a(in.begin() + static_cast<int64_t>(m) * n * n,
                          in.begin() + static_cast<int64_t>(m + 1) * n * n);
    double det = 1;
    for (int64_t col = 0; col < n; ++col) {
      int64_t piv = col;
      for (int64_t r = col + 1; r < n; ++r)
        if (std::fabs(a[r * n + col]) > std::fabs(a[piv * n + col])) piv = r;
      if (a[piv * n + col] == 0) {
        det = 0;
        break;
      }
      if (piv != col) {
        for (int64_t k = 0; k < n; ++k) std::swap(a[piv * n + k], a[col * n + k]);
        det = -det;
      }
      det *= a[col * n + col];
      for (int64_t r = col + 1; r < n; ++r) {
        double f = a[r * n + col] / a[col * n + col];
        for (int64_t k = col; k < n; ++k) a[r * n + k] -= f * a[col * n + k];
      }
    }
    out[m] = det;
  }
  if (n == 0) std::fill(out.begin(), out.end(), 1.0);
  ref::from_doubles(c.output(0), out);
}

void unique_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  bool has_axis = c.node->has_attr("axis");
  bool sorted = c.node->attr_i("sorted", 1) != 0;
  int64_t axis = 0, outer = 1, n = static_cast<int64_t>(x.numel()), inner = 1;
  if (has_axis) {
    axis = ref::norm_axis(c.node->attr_i("axis", 0), static_cast<int64_t>(x.rank()));
    n = x.dim(static_cast<size_t>(axis));
    outer = ref::outer_size(x.shape(), axis);
    inner = ref::inner_size(x.shape(), axis);
  }
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::vector<int64_t> uniq_of(static_cast<size_t>(n));  // slice -> unique id
  std::vector<int64_t> firsts;                           // unique id -> first slice
  ref::dispatch_all(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* d = x.data<T>();
    auto val = [&](int64_t s, int64_t o, int64_t i) {
      return ref::load(d[(o * n + s) * inner + i]);
    };
    auto less = [&](int64_t a, int64_t b) {
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          auto va = val(a, o, i), vb = val(b, o, i);
          if (va < vb) return true;
          if (vb < va) return false;
        }
      return false;
    };
    auto eq = [&](int64_t a, int64_t b) { return !less(a, b) && !less(b, a); };
    std::stable_sort(order.begin(), order.end(), less);
    std::vector<int64_t> group_first;  // in sorted order
    for (size_t k = 0; k < order.size(); ++k) {
      if (k == 0 || !eq(order[k - 1], order[k])) group_first.push_back(order[k]);
      uniq_of[order[k]] = static_cast<int64_t>(group_first.size()) - 1;
    }
    if (sorted) {
      firsts = group_first;
    } else {
      // Renumber groups by first occurrence.
      std::vector<int64_t> remap(group_first.size(), -1);
      for (int64_t s = 0; s < n; ++s) {
        int64_t g = uniq_of[s];
        if (remap[g] < 0) {
          remap[g] = static_cast<int64_t>(firsts.size());
          firsts.push_back(s);
        }
      }
      for (auto& g : uniq_of) g = remap[g];
    }
  });
  int64_t u = static_cast<int64_t>(firsts.size());
  Shape yshape = has_axis ? x.shape() : Shape{u};
  if (has_axis) yshape[static_cast<size_t>(axis)] = u;
  Tensor y(x.dtype(), yshape);
  size_t es = dtype_size(x.dtype());
  const char* src = static_cast<const char*>(x.raw());
  char* dst = static_cast<char*>(y.raw());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < u; ++k)
      std::memcpy(dst + ((o * u + k) * inner) * es, src + ((o * n + firsts[k]) * inner) * es,
                  static_cast<size_t>(inner) * es);
  std::vector<int64_t> counts(static_cast<size_t>(u), 0);
  for (int64_t g : uniq_of) counts[g]++;
  c.set_output(0, y);
  if (c.num_outputs() > 1) c.set_output(1, Tensor::from_vector<int64_t>({u}, firsts));
  if (c.num_outputs() > 2) c.set_output(2, Tensor::from_vector<int64_t>({n}, uniq_of));
  if (c.num_outputs() > 3) c.set_output(3, Tensor::from_vector<int64_t>({u}, counts));
}

void maxunpool_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  const Tensor& ind = c.input(1);
  Tensor& y = c.output(0);
  if (ind.numel() != x.numel()) c.fail("I must have the same shape as X");
  // Indices address the default output shape; an explicit output_shape pads at the end.
  std::vector<int64_t> k = c.node->attr_is("kernel_shape");
  size_t nd = x.rank() - 2;
  std::vector<int64_t> st = c.node->attr_is("strides", std::vector<int64_t>(nd, 1));
  std::vector<int64_t> pads = c.node->attr_is("pads", std::vector<int64_t>(2 * nd, 0));
  Shape def = x.shape();
  for (size_t i = 0; i < nd; ++i)
    def[2 + i] = (x.dim(2 + i) - 1) * st[i] + k[i] - pads[i] - pads[i + nd];
  if (y.rank() != def.size()) c.fail("output_shape has the wrong rank");
  for (size_t d = 0; d < def.size(); ++d)
    if (y.dim(d) < def[d]) c.fail("output_shape is smaller than the unpooled size");
  size_t total = shape_numel(def);
  auto dst = ref::strides_of(def), yst = ref::strides_of(y.shape());
  ref::dispatch_numeric(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* xd = x.data<T>();
    T* yd = y.data<T>();
    for (size_t i = 0; i < x.numel(); ++i) {
      int64_t flat = ind.at_i64(i);
      if (flat < 0 || static_cast<size_t>(flat) >= total)
        c.fail(str_cat("index ", flat, " is outside the output of ", total, " elements"));
      int64_t off = 0, rem = flat;
      for (size_t d = 0; d < def.size(); ++d) {
        off += (rem / dst[d]) * yst[d];
        rem %= dst[d];
      }
      yd[off] = xd[i];
    }
  });
}

void lpnorm_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  int64_t p = c.node->attr_i("p", 2);
  if (p != 1 && p != 2) c.fail("p must be 1 or 2");
  int64_t axis = ref::norm_axis(c.node->attr_i("axis", -1), static_cast<int64_t>(x.rank()));
  int64_t n = x.dim(static_cast<size_t>(axis)), inner = 1;
  inner = ref::inner_size(x.shape(), axis);
  int64_t outer = n ? static_cast<int64_t>(x.numel()) / (n * inner) : 0;
  std::vector<double> v = ref::to_doubles(x);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double s = 0;
      for (int64_t k = 0; k < n; ++k) {
        double e = v[(o * n + k) * inner + i];
        s += p == 1 ? std::fabs(e) : e * e;
      }
      double norm = p == 1 ? s : std::sqrt(s);
      for (int64_t k = 0; k < n; ++k) {
        double& e = v[(o * n + k) * inner + i];
        e = norm == 0 ? 0 : e / norm;
      }
    }
  ref::from_doubles(c.output(0), v);
}

// ---- Recurrent ops ----
struct Activation {
  std::string name;
  double alpha = 0, beta = 0;
  double operator()(double x) const {
    if (name == "Sigmoid") return 1 / (1 + std::exp(-x));
    if (name == "Tanh") return std::tanh(x);
    if (name == "Relu") return std::max(0.0, x);
    if (name == "Affine") return alpha * x + beta;
    if (name == "LeakyRelu") return x >= 0 ? x : alpha * x;
    if (name == "ThresholdedRelu") return x > alpha ? x : 0;
    if (name == "ScaledTanh") return alpha * std::tanh(beta * x);
    if (name == "HardSigmoid") return std::max(0.0, std::min(1.0, alpha * x + beta));
    if (name == "Elu") return x >= 0 ? x : alpha * (std::exp(x) - 1);
    if (name == "Softsign") return x / (1 + std::fabs(x));
    if (name == "Softplus") return std::log1p(std::exp(x));
    return x;
  }
};

std::vector<Activation> parse_activations(const KernelContext& c, std::vector<std::string> defaults,
                                          int64_t dirs) {
  const Attribute* a = nullptr;
  auto it = c.node->attrs.find("activations");
  if (it != c.node->attrs.end() && it->second.kind == Attribute::Kind::ss) a = &it->second;
  std::vector<std::string> names;
  if (a)
    names = a->ss;
  else
    for (int64_t d = 0; d < dirs; ++d) names.insert(names.end(), defaults.begin(), defaults.end());
  if (names.size() != defaults.size() * static_cast<size_t>(dirs))
    c.fail(str_cat("expected ", defaults.size() * static_cast<size_t>(dirs), " activations, got ",
                   names.size()));
  std::vector<float> alphas = c.node->attr_fs("activation_alpha"),
                     betas = c.node->attr_fs("activation_beta");
  size_t ai = 0, bi = 0;
  std::vector<Activation> acts;
  static const char* kKnown[] = {
      "Sigmoid",    "Tanh",        "Relu", "Affine",   "LeakyRelu", "ThresholdedRelu",
      "ScaledTanh", "HardSigmoid", "Elu",  "Softsign", "Softplus"};
  for (const auto& n : names) {
    Activation act;
    act.name = n;
    if (std::find(std::begin(kKnown), std::end(kKnown), n) == std::end(kKnown))
      c.fail("unsupported activation '" + n + "'");
    double da = 0, db = 0;
    bool uses_a = false, uses_b = false;
    if (n == "LeakyRelu") {
      da = 0.01;
      uses_a = true;
    }
    if (n == "ThresholdedRelu" || n == "Elu") {
      da = 1.0;
      uses_a = true;
    }
    if (n == "ScaledTanh" || n == "Affine") {
      da = 1.0;
      db = n == "Affine" ? 0.0 : 1.0;
      uses_a = uses_b = true;
    }
    if (n == "HardSigmoid") {
      da = 0.2;
      db = 0.5;
      uses_a = uses_b = true;
    }
    act.alpha = uses_a && ai < alphas.size() ? alphas[ai++] : da;
    act.beta = uses_b && bi < betas.size() ? betas[bi++] : db;
    acts.push_back(act);
  }
  return acts;
}

// Shared driver: `gates` is the number of gate blocks in W (RNN 1, GRU 3, LSTM 4).
void recurrent_kernel(KernelContext& c, const std::string& op) {
  const int gates = op == "RNN" ? 1 : op == "GRU" ? 3 : 4;
  const Tensor& X = c.input(0);
  const Tensor& W = c.input(1);
  const Tensor& R = c.input(2);
  int64_t H = c.node->attr_i("hidden_size", 0);
  std::string dir = c.node->attr_s("direction", "forward");
  int64_t dirs = dir == "bidirectional" ? 2 : 1;
  bool layout = c.opset >= 14 && c.node->attr_i("layout", 0) != 0;
  int64_t S = layout ? X.dim(1) : X.dim(0), B = layout ? X.dim(0) : X.dim(1), I = X.dim(2);
  if (W.rank() != 3 || W.dim(0) != dirs || W.dim(1) != gates * H || W.dim(2) != I)
    c.fail(str_cat("W has shape ", shape_str(W.shape()), ", expected [", dirs, ",", gates * H, ",",
                   I, "]"));
  if (R.rank() != 3 || R.dim(0) != dirs || R.dim(1) != gates * H || R.dim(2) != H)
    c.fail(str_cat("R has shape ", shape_str(R.shape()), ", expected [", dirs, ",", gates * H, ",",
                   H, "]"));
  double clip = c.node->attr_f("clip", 0);
  bool has_clip = c.node->has_attr("clip");
  bool lbr = c.node->attr_i("linear_before_reset", 0) != 0;
  bool input_forget = c.node->attr_i("input_forget", 0) != 0;
  std::vector<std::string> defaults = op == "RNN" ? std::vector<std::string>{"Tanh"}
                                      : op == "GRU"
                                          ? std::vector<std::string>{"Sigmoid", "Tanh"}
                                          : std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"};
  std::vector<Activation> acts = parse_activations(c, defaults, dirs);
  std::vector<double> x = ref::to_doubles(X), w = ref::to_doubles(W), r = ref::to_doubles(R);
  std::vector<double> bias(static_cast<size_t>(dirs * 2 * gates * H), 0);
  if (c.has_input(3)) {
    if (c.input(3).numel() != bias.size()) c.fail("B has the wrong size");
    bias = ref::to_doubles(c.input(3));
  }
  std::vector<int64_t> lens(static_cast<size_t>(B), S);
  if (c.has_input(4)) {
    if (c.input(4).numel() != static_cast<size_t>(B))
      c.fail("sequence_lens must have batch_size values");
    for (int64_t b = 0; b < B; ++b) {
      lens[b] = c.input(4).at_i64(b);
      if (lens[b] < 0 || lens[b] > S)
        c.fail(str_cat("sequence_lens[", b, "] = ", lens[b], " is out of range"));
    }
  }
  std::vector<double> h0(static_cast<size_t>(dirs * B * H), 0), c0 = h0;
  if (c.has_input(5)) {
    if (c.input(5).numel() != h0.size()) c.fail("initial_h has the wrong size");
    h0 = ref::to_doubles(c.input(5));
  }
  std::vector<double> peep(static_cast<size_t>(dirs * 3 * H), 0);
  if (op == "LSTM") {
    if (c.has_input(6)) {
      if (c.input(6).numel() != c0.size()) c.fail("initial_c has the wrong size");
      c0 = ref::to_doubles(c.input(6));
    }
    if (c.has_input(7)) {
      if (c.input(7).numel() != peep.size()) c.fail("P has the wrong size");
      peep = ref::to_doubles(c.input(7));
    }
  }
  std::vector<double> Y(static_cast<size_t>(S * dirs * B * H), 0),
      Yh(static_cast<size_t>(dirs * B * H)), Yc(Yh.size());
  auto xat = [&](int64_t t, int64_t b, int64_t i) {
    return x[layout ? (b * S + t) * I + i : (t * B + b) * I + i];
  };
  auto yidx = [&](int64_t t, int64_t d, int64_t b, int64_t h) {
    return layout ? ((b * S + t) * dirs + d) * H + h : ((t * dirs + d) * B + b) * H + h;
  };
  auto clipv = [&](double v) { return has_clip ? std::max(-clip, std::min(clip, v)) : v; };
  const size_t na = defaults.size();
  for (int64_t d = 0; d < dirs; ++d) {
    bool reverse = dir == "reverse" || d == 1;
    const double* wd = &w[static_cast<size_t>(d * gates * H * I)];
    const double* rd = &r[static_cast<size_t>(d * gates * H * H)];
    const double* wb = &bias[static_cast<size_t>(d * 2 * gates * H)];
    const double* rb = wb + gates * H;
    const Activation& f = acts[d * na];
    const Activation& g = acts[std::min(d * na + 1, acts.size() - 1)];
    const Activation& hact = acts[std::min(d * na + 2, acts.size() - 1)];
    for (int64_t b = 0; b < B; ++b) {
      std::vector<double> h(&h0[(d * B + b) * H], &h0[(d * B + b) * H] + H);
      std::vector<double> cs(&c0[(d * B + b) * H], &c0[(d * B + b) * H] + H);
      std::vector<double> xw(static_cast<size_t>(gates * H)), hr(static_cast<size_t>(gates * H)),
          nh(H);
      for (int64_t step = 0; step < lens[b]; ++step) {
        int64_t t = reverse ? lens[b] - 1 - step : step;
        for (int64_t j = 0; j < gates * H; ++j) {
          double s = wb[j];
          for (int64_t i = 0; i < I; ++i) s += xat(t, b, i) * wd[j * I + i];
          xw[j] = s;
          double q = rb[j];
          for (int64_t k = 0; k < H; ++k) q += h[k] * rd[j * H + k];
          hr[j] = q;
        }
        if (op == "RNN") {
          for (int64_t k = 0; k < H; ++k) nh[k] = f(clipv(xw[k] + hr[k]));
        } else if (op == "GRU") {  // gate order z, r, h
          std::vector<double> z(H), rr(H);
          for (int64_t k = 0; k < H; ++k) {
            z[k] = f(clipv(xw[k] + hr[k]));
            rr[k] = f(clipv(xw[H + k] + hr[H + k]));
          }
          for (int64_t k = 0; k < H; ++k) {
            double hh;
            if (lbr) {
              hh = g(clipv(xw[2 * H + k] + rr[k] * hr[2 * H + k]));
            } else {
              double q = rb[2 * H + k];
              for (int64_t m = 0; m < H; ++m) q += rr[m] * h[m] * rd[(2 * H + k) * H + m];
              hh = g(clipv(xw[2 * H + k] + q));
            }
            nh[k] = (1 - z[k]) * hh + z[k] * h[k];
          }
        } else {  // LSTM, gate order i, o, f, c
          const double* p = &peep[static_cast<size_t>(d * 3 * H)];
          for (int64_t k = 0; k < H; ++k) {
            double gi = f(clipv(xw[k] + hr[k] + p[k] * cs[k]));
            double gf = input_forget
                            ? 1 - gi
                            : f(clipv(xw[2 * H + k] + hr[2 * H + k] + p[2 * H + k] * cs[k]));
            double gc = g(clipv(xw[3 * H + k] + hr[3 * H + k]));
            cs[k] = gf * cs[k] + gi * gc;
            double go = f(clipv(xw[H + k] + hr[H + k] + p[H + k] * cs[k]));
            nh[k] = go * hact(cs[k]);
          }
        }
        h = nh;
        for (int64_t k = 0; k < H; ++k) Y[static_cast<size_t>(yidx(t, d, b, k))] = h[k];
      }
      for (int64_t k = 0; k < H; ++k) {
        size_t o = static_cast<size_t>(layout ? (b * dirs + d) * H + k : (d * B + b) * H + k);
        Yh[o] = h[k];
        Yc[o] = cs[k];
      }
    }
  }
  if (c.num_outputs() > 0 && !c.output(0).empty()) ref::from_doubles(c.output(0), Y);
  if (c.num_outputs() > 1 && !c.output(1).empty()) ref::from_doubles(c.output(1), Yh);
  if (c.num_outputs() > 2 && !c.output(2).empty()) ref::from_doubles(c.output(2), Yc);
}

// TfIdfVectorizer: counts the pool's n-grams (items `skip+1` apart) in each row. Unigrams are
// counted once, not once per skip distance; TF/IDF/TFIDF weighting as in the ONNX spec.
void tfidf_kernel(KernelContext& c) {
  const Tensor& x = c.input(0);
  Tensor& y = c.output(0);
  const Node& n = *c.node;
  int64_t min_n = n.attr_i("min_gram_length", 1), max_n = n.attr_i("max_gram_length", 1);
  int64_t max_skip = n.attr_i("max_skip_count", 0);
  std::string mode = n.attr_s("mode", "TF");
  std::vector<int64_t> counts = n.attr_is("ngram_counts"), indexes = n.attr_is("ngram_indexes");
  std::vector<int64_t> pool = n.attr_is("pool_int64s");
  std::vector<float> weights = n.attr_fs("weights");
  if (mode != "TF" && mode != "IDF" && mode != "TFIDF") c.fail("mode must be TF, IDF or TFIDF");
  if (min_n < 1 || max_n < min_n) c.fail("bad min/max_gram_length");
  int64_t out_size = y.dim(y.rank() - 1);
  // n-gram (as a vector) -> output column; grams outside [min_n, max_n] are skipped but numbered.
  std::map<std::vector<int64_t>, int64_t> grams;
  int64_t id = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    int64_t size = static_cast<int64_t>(i) + 1;
    int64_t begin = counts[i];
    int64_t end = i + 1 < counts.size() ? counts[i + 1] : static_cast<int64_t>(pool.size());
    if (begin < 0 || end > static_cast<int64_t>(pool.size()) || begin > end)
      c.fail("bad ngram_counts");
    for (int64_t p = begin; p + size <= end; p += size, ++id) {
      if (size < min_n || size > max_n) continue;
      if (id >= static_cast<int64_t>(indexes.size()))
        c.fail("ngram_indexes is shorter than the pool");
      grams[std::vector<int64_t>(pool.begin() + p, pool.begin() + p + size)] = indexes[id];
    }
  }
  int64_t rows = x.rank() == 2 ? x.dim(0) : 1, cols = x.rank() == 0 ? 1 : x.dim(x.rank() - 1);
  std::vector<int64_t> freq(static_cast<size_t>(rows * out_size), 0);
  std::vector<int64_t> gram;
  for (int64_t r = 0; r < rows; ++r) {
    int64_t start_n = min_n;
    for (int64_t d = 1; d <= max_skip + 1; ++d) {
      for (int64_t s = 0; s < cols; ++s) {
        if (s + d * (start_n - 1) >= cols) break;
        gram.clear();
        for (int64_t k = 0; k < max_n && s + k * d < cols; ++k) {
          gram.push_back(x.at_i64(static_cast<size_t>(r * cols + s + k * d)));
          if (static_cast<int64_t>(gram.size()) < start_n) continue;
          auto it = grams.find(gram);
          if (it != grams.end()) {
            if (it->second < 0 || it->second >= out_size) c.fail("ngram index out of range");
            freq[static_cast<size_t>(r * out_size + it->second)]++;
          }
        }
      }
      if (start_n == 1 && ++start_n > max_n) break;
    }
  }
  float* out = y.data<float>();
  for (size_t i = 0; i < freq.size(); ++i) {
    double w = weights.empty() ? 1.0 : weights.at(i % static_cast<size_t>(out_size));
    double f = static_cast<double>(freq[i]);
    out[i] = static_cast<float>(mode == "TF" ? f : mode == "IDF" ? (f > 0 ? w : 0) : w * f);
  }
}

bool float_only(const KernelQuery& q, std::string* why) {
  if (!dtype_is_float(q.input_types[0].dtype)) {
    *why = "only floating-point inputs";
    return false;
  }
  return true;
}

}  // namespace

void register_ref_misc(KernelRegistry& r) {
  r.add_ref("HannWindow", [](KernelContext& c) { window_kernel(c, 0.5, 0.5, 0); });
  r.add_ref("HammingWindow",
            [](KernelContext& c) { window_kernel(c, 25.0 / 46.0, 21.0 / 46.0, 0); });
  r.add_ref("BlackmanWindow", [](KernelContext& c) { window_kernel(c, 0.42, 0.5, 0.08); });
  r.add_ref("DFT", float_only, dft_kernel);
  r.add_ref("STFT", float_only, stft_kernel);
  r.add_ref("MelWeightMatrix", mel_kernel);
  r.add_ref("Det", float_only, det_kernel);
  r.add_ref("Unique", unique_kernel);
  r.add_ref("MaxUnpool", maxunpool_kernel);
  r.add_ref("LpNormalization", float_only, lpnorm_kernel);
  r.add_ref("TfIdfVectorizer", tfidf_kernel);
  for (const char* op : {"RNN", "GRU", "LSTM"}) {
    std::string name = op;
    r.add_ref(op, float_only, [name](KernelContext& c) { recurrent_kernel(c, name); });
  }
}

}  // namespace visionrt
