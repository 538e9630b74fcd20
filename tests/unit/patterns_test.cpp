// The pattern passes and the kernels they feed, against an independent reference (the ONNX graph
// executed node by node with the reference kernels, no passes), in the style of fast_path_test:
//   fuse_activation_patterns: element-wise chains that compute a table activation become
//     visionrt.Activation (and fold into a producing conv); chains that merely look alike stay;
//   fuse_layer_norm: decomposed layer norms become LayerNormalization;
//   fuse_scale_shift + the cpu ScaleShift kernel: standalone BatchNorm and per-channel affine
//     chains, plain and blocked (channels not multiples of 16: a padded last block);
//   the oneDNN reductions and LayerNormalization (kernels/dnnl/norm_reduce.cpp);
//   every activation of kernels/activation.hpp as a oneDNN conv post-op.
// Shapes are awkward on purpose: batch 2, odd H/W, 3/20/37 channels. Each test also asserts the
// pass applied (plan_summary counts, kernel decisions, the fused conv's kernel description).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <iterator>
#include <limits>
#include <random>

#include "kernels/activation.hpp"
#include "kernels/kernel.hpp"
#include "kernels/node_runner.hpp"
#include "onnx/builder.hpp"
#include "passes/passes.hpp"
#include "runtime/model_loader.hpp"
#include "visionrt/core.hpp"

using namespace visionrt;

namespace {

Tensor random_tensor(Shape s, std::mt19937& rng, float lo = -1.f, float hi = 1.f) {
  std::uniform_real_distribution<float> u(lo, hi);
  Tensor t(DType::f32, std::move(s));
  for (size_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

Tensor filled(Shape s, float v) {
  Tensor t(DType::f32, std::move(s));
  for (size_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = v;
  return t;
}

// Builds networks node by node with seeded weights (fast_path_test's Net, with an opset).
struct Net {
  ModelBuilder b;
  std::mt19937 rng{7};
  int next = 0;
  explicit Net(int64_t opset = 17) : b(opset) {}
  std::string fresh(const std::string& p) { return p + std::to_string(next++); }

  std::string conv(const std::string& x, int64_t cin, int64_t cout, int64_t k, int64_t group = 1) {
    const int64_t pad = (k - 1) / 2;
    std::string w = fresh("w"), bn = fresh("b"), y = fresh("conv");
    float scale = 1.0f / std::sqrt(static_cast<float>(cin / group * k * k));
    b.initializer(w, random_tensor({cout, cin / group, k, k}, rng, -scale, scale));
    b.initializer(bn, random_tensor({cout}, rng, -0.2f, 0.2f));
    b.node("Conv", {x, w, bn}, {y},
           {{"kernel_shape", attr_ints({k, k})},
            {"pads", attr_ints({pad, pad, pad, pad})},
            {"group", attr_int(group)}});
    return y;
  }
  std::string op(const std::string& type, const std::vector<std::string>& ins,
                 std::map<std::string, Attribute> attrs = {}) {
    std::string y = fresh(type);
    b.node(type, ins, {y}, attrs);
    return y;
  }
  std::string constant(const Tensor& t) {
    std::string n = fresh("c");
    b.initializer(n, t);
    return n;
  }
  // A scalar constant (rank 0), or of shape [1] with `one`.
  std::string k(float v, bool one = false) {
    return constant(one ? Tensor::from_vector<float>({1}, {v}) : Tensor::scalar(v));
  }
  std::string axes(std::vector<int64_t> a) {
    const int64_t n = static_cast<int64_t>(a.size());
    return constant(Tensor::from_vector<int64_t>({n}, a));
  }
  std::string bn(const std::string& x, int64_t c) {
    return op("BatchNormalization",
              {x, constant(random_tensor({c}, rng, 0.5f, 1.5f)), constant(random_tensor({c}, rng)),
               constant(random_tensor({c}, rng)), constant(random_tensor({c}, rng, 0.1f, 2.0f))},
              {{"epsilon", attr_float(1e-3f)}});
  }
  void out(const std::string& v, const std::string& name) {
    b.node("Identity", {v}, {name});
    b.output(name, DType::f32);
  }
};

// Executes the ONNX graph node by node with the reference kernels only.
std::vector<Tensor> reference_run(const std::string& bytes, const std::vector<Tensor>& inputs) {
  auto g = load_model_bytes(bytes, "ref.onnx");
  upgrade_legacy_ops(*g);
  infer_shapes(*g);
  std::vector<Tensor> vals(g->values.size());
  for (size_t i = 0; i < g->inputs.size(); ++i) vals[g->inputs[i]] = inputs[i];
  for (size_t v = 0; v < g->values.size(); ++v)
    if (g->values[v].constant) vals[v] = *g->values[v].constant;
  for (const Node& n : g->nodes) {
    std::vector<const Tensor*> ins;
    for (int i : n.inputs) ins.push_back(i >= 0 ? &vals[i] : nullptr);
    std::vector<Tensor> outs = run_node_ref(n, g->opset(), ins);
    for (size_t o = 0; o < n.outputs.size(); ++o)
      if (n.outputs[o] >= 0) vals[n.outputs[o]] = outs[o];
  }
  std::vector<Tensor> r;
  for (int o : g->outputs) r.push_back(vals[o]);
  return r;
}

struct Compiled {
  std::vector<Tensor> outputs;
  std::string plan;
  std::vector<std::string> decisions;
  std::vector<ProfilingInfo> profile;

  // Kernel decisions ("<Op 'name'>: <kernel>[ (declined: ...)]") for op type `op` (and kernel).
  size_t count(const std::string& op, const std::string& kernel = "") const {
    size_t n = 0;
    for (const std::string& d : decisions) {
      const size_t colon = d.find(": ");
      if (colon == std::string::npos) continue;
      const std::string label = d.substr(0, colon);
      const std::string type = label.substr(0, label.find(" '"));
      std::string chosen = d.substr(colon + 2);
      chosen = chosen.substr(0, chosen.find(" ("));
      n += type == op && (kernel.empty() || chosen == kernel);
    }
    return n;
  }
  // The kernel chosen for the node named `name`, "" when there is none.
  std::string kernel_of(const std::string& name) const {
    const std::string tag = " '" + name + "': ";
    for (const std::string& d : decisions) {
      const size_t at = d.find(tag);
      if (at == std::string::npos) continue;
      std::string chosen = d.substr(at + tag.size());
      return chosen.substr(0, chosen.find(" ("));
    }
    return "";
  }
  // Kernel descriptions (layout, implementation, fused post-ops) of the nodes of type `op`.
  std::vector<std::string> layouts(const std::string& op) const {
    std::vector<std::string> r;
    for (const ProfilingInfo& p : profile)
      if (p.op == op) r.push_back(p.layout);
    return r;
  }
  std::string all() const {
    return plan + "\n" + ::testing::PrintToString(decisions) + "\n" + [&] {
      std::string s;
      for (const ProfilingInfo& p : profile) s += p.op + " [" + p.kernel + "] " + p.layout + "\n";
      return s;
    }();
  }
};

Compiled fast_run(const std::string& bytes, const std::vector<Tensor>& inputs, int threads) {
  Core core;
  CompiledModel cm = core.compile_model(core.read_model_from_memory(bytes, "fast.onnx"),
                                        {{"INFERENCE_NUM_THREADS", std::to_string(threads)},
                                         {"PERF_COUNT", "YES"},
                                         {"INFERENCE_PRECISION", "f32"}});
  InferRequest r = cm.create_infer_request();
  for (size_t i = 0; i < inputs.size(); ++i) r.set_input_tensor(i, inputs[i]);
  r.infer();
  Compiled c;
  for (size_t i = 0; i < cm.outputs().size(); ++i)
    c.outputs.push_back(r.get_output_tensor(i).clone());
  // A second run on the same request reuses the arena: results must not change.
  r.infer();
  for (size_t i = 0; i < cm.outputs().size(); ++i) {
    Tensor again = r.get_output_tensor(i);
    EXPECT_EQ(0, std::memcmp(again.raw(), c.outputs[i].raw(), again.nbytes()))
        << "second run on the same request differs";
  }
  c.plan = cm.plan_summary();
  c.decisions = cm.kernel_decisions();
  c.profile = r.get_profiling_info();
  return c;
}

void expect_close(const Tensor& got, const Tensor& want, double tol, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < got.numel(); ++i) {
    double g = got.at_f64(i), w = want.at_f64(i);
    double err = std::fabs(g - w) / (1.0 + std::fabs(w));
    if (!(err <= worst)) worst = err, at = i;
  }
  EXPECT_LE(worst, tol) << what << ": worst relative error at " << at << ": " << got.at_f64(at)
                        << " vs " << want.at_f64(at);
}

// Compiles, runs with 1 and 2 threads, compares every output with the reference; returns the
// single-thread compilation (plan, decisions, profile).
Compiled check_network(Net& net, const std::vector<Tensor>& inputs, double tol = 2e-4,
                       const std::string& what = "") {
  std::string bytes = net.b.serialize();
  std::vector<Tensor> want = reference_run(bytes, inputs);
  Compiled first;
  for (int threads : {1, 2}) {
    Compiled c = fast_run(bytes, inputs, threads);
    EXPECT_EQ(c.outputs.size(), want.size());
    for (size_t i = 0; i < want.size() && i < c.outputs.size(); ++i)
      expect_close(
          c.outputs[i], want[i], tol,
          what + " output " + std::to_string(i) + " (" + std::to_string(threads) + " threads)");
    if (threads == 1) first = std::move(c);
  }
  return first;
}

bool has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

bool blocked_layouts() { return preferred_layout_block() > 0; }

// ---- activations written out ----

using Chain = std::function<std::string(Net&, const std::string&)>;

struct Spelling {
  const char* what;
  Act act;
  Chain build;
};

const float kSqrt2 = 1.41421356f, kInvSqrt2 = 0.70710678f;

std::vector<Spelling> spellings() {
  return {
      {"gelu: (x*0.5)*(1+Erf(x/sqrt2))", Act::gelu_erf,
       [](Net& n, const std::string& x) {
         std::string h = n.op("Mul", {x, n.k(0.5f)});
         std::string e = n.op("Erf", {n.op("Div", {x, n.k(kSqrt2)})});
         return n.op("Mul", {h, n.op("Add", {n.k(1.0f), e})});
       }},
      {"gelu: (x*(Erf(0.70710678*x)+1))*0.5", Act::gelu_erf,
       [](Net& n, const std::string& x) {
         std::string e = n.op("Erf", {n.op("Mul", {n.k(kInvSqrt2), x})});
         std::string m = n.op("Mul", {x, n.op("Add", {e, n.k(1.0f)})});
         return n.op("Mul", {m, n.k(0.5f)});
       }},
      {"gelu: 0.5*(x + x*Erf(x/sqrt2)), [1]-shaped constants", Act::gelu_erf,
       [](Net& n, const std::string& x) {
         std::string e = n.op("Erf", {n.op("Div", {x, n.k(kSqrt2, true)})});
         std::string s = n.op("Add", {x, n.op("Mul", {x, e})});
         return n.op("Mul", {n.k(0.5f, true), s});
       }},
      {"gelu: x*(1+Erf(x*0.70710678))/2", Act::gelu_erf,
       [](Net& n, const std::string& x) {
         std::string e = n.op("Erf", {n.op("Mul", {x, n.k(kInvSqrt2)})});
         std::string m = n.op("Mul", {x, n.op("Add", {n.k(1.0f), e})});
         return n.op("Div", {m, n.k(2.0f)});
       }},
      {"gelu tanh: 0.5x(1+Tanh(0.79788456(x+0.044715*Pow(x,3))))", Act::gelu_tanh,
       [](Net& n, const std::string& x) {
         std::string cube = n.op("Pow", {x, n.k(3.0f)});
         std::string in = n.op("Add", {x, n.op("Mul", {n.k(0.044715f), cube})});
         std::string t = n.op("Tanh", {n.op("Mul", {n.k(0.7978845608f), in})});
         return n.op("Mul", {n.op("Mul", {n.k(0.5f), x}), n.op("Add", {n.k(1.0f), t})});
       }},
      {"gelu tanh: x*(1+Tanh(...x*x*x...))*0.5", Act::gelu_tanh,
       [](Net& n, const std::string& x) {
         std::string cube = n.op("Mul", {x, n.op("Mul", {x, x})});
         std::string in = n.op("Add", {n.op("Mul", {cube, n.k(0.044715f)}), x});
         std::string t = n.op("Tanh", {n.op("Mul", {in, n.k(0.7978845608f)})});
         return n.op("Mul", {n.op("Mul", {x, n.op("Add", {t, n.k(1.0f)})}), n.k(0.5f)});
       }},
      {"hard-swish: x*Clip(x+3,0,6)/6", Act::hard_swish,
       [](Net& n, const std::string& x) {
         std::string c = n.op("Clip", {n.op("Add", {x, n.k(3.0f)}), n.k(0.0f), n.k(6.0f)});
         return n.op("Div", {n.op("Mul", {x, c}), n.k(6.0f)});
       }},
      {"hard-swish: x*Min(Max(x+3,0),6)/6", Act::hard_swish,
       [](Net& n, const std::string& x) {
         std::string c =
             n.op("Min", {n.op("Max", {n.op("Add", {n.k(3.0f), x}), n.k(0.0f)}), n.k(6.0f)});
         return n.op("Div", {n.op("Mul", {c, x}), n.k(6.0f)});
       }},
      {"hard-sigmoid: Clip(x+3,0,6)/6", Act::hard_sigmoid,
       [](Net& n, const std::string& x) {
         std::string c = n.op("Clip", {n.op("Add", {x, n.k(3.0f)}), n.k(0.0f), n.k(6.0f)});
         return n.op("Div", {c, n.k(6.0f)});
       }},
      {"swish: x*Sigmoid(x)", Act::swish,
       [](Net& n, const std::string& x) {
         return n.op("Mul", {x, n.op("Sigmoid", {x})});
       }},
      {"mish: x*Tanh(Softplus(x))", Act::mish,
       [](Net& n, const std::string& x) {
         return n.op("Mul", {x, n.op("Tanh", {n.op("Softplus", {x})})});
       }},
      {"relu6: Min(Max(x,0),6)", Act::clip,
       [](Net& n, const std::string& x) {
         return n.op("Min", {n.op("Max", {x, n.k(0.0f)}), n.k(6.0f)});
       }},
  };
}

// Op types a written-out chain uses: none of them may remain after the pass.
const char* const kChainOps[] = {"Mul", "Add",     "Div",      "Sub", "Erf", "Tanh",
                                 "Pow", "Sigmoid", "Softplus", "Min", "Max", "Clip"};

}  // namespace

TEST(Patterns, ActivationChainsOnAGraphInputBecomeOneActivation) {
  for (const Spelling& s : spellings()) {
    SCOPED_TRACE(s.what);
    Net n;
    n.b.input("x", DType::f32, {2, 37, 5, 7});
    n.out(s.build(n, "x"), "y");
    std::mt19937 rng(21);
    Compiled c = check_network(n, {random_tensor({2, 37, 5, 7}, rng, -7.f, 7.f)}, 2e-4, s.what);
    EXPECT_TRUE(has(c.plan, "recognised: 1 activation chains")) << c.all();
    EXPECT_EQ(c.count("visionrt.Activation"), 1u) << c.all();
    for (const char* op : kChainOps) EXPECT_EQ(c.count(op), 0u) << op << "\n" << c.all();
    // The transcendental ones run on our exp_approx loop (kernels/cpu/scale_shift.cpp),
    // oneDNN's eltwise the others but hard-sigmoid (eltwise_linear + clip: see eltwise.cpp).
    if (s.act != Act::hard_sigmoid) {
      const bool own = s.act == Act::sigmoid || s.act == Act::swish || s.act == Act::tanh ||
                       s.act == Act::elu || s.act == Act::gelu_erf || s.act == Act::gelu_tanh ||
                       s.act == Act::mish;
      EXPECT_EQ(c.count("visionrt.Activation", own ? "cpu" : "dnnl"), 1u) << c.all();
    }
  }
}

TEST(Patterns, TranscendentalActivationsAtTheEdgesOfTheFloatRange) {
  // The own loops (the AVX-512 one where the CPU has it) against the reference chains where exp
  // overflows or underflows, at its clamping bounds, at mish's cut at 20, on infinities and NaN.
  // A row of 47 values (not a multiple of 16: the masked tail) per channel.
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> edges = {
      -inf,   -1e30f, -200.f,  -100.f, -89.f,  -88.73f, -87.34f, -87.3f, -44.f, -20.f,  -9.f,
      -1.f,   -1e-3f, -1e-30f, 0.f,    -0.f,   1e-30f,  1e-3f,   1.f,    9.f,   19.99f, 20.f,
      20.01f, 44.f,   87.3f,   88.7f,  88.73f, 89.f,    100.f,   200.f,  1e30f, inf,    nan};
  Tensor x(DType::f32, {1, 3, 47});
  for (size_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = edges[(i * 7) % edges.size()];
  size_t tested = 0;
  std::vector<Spelling> cases = spellings();
  for (const char* op : {"Sigmoid", "Tanh", "Elu"})  // the ONNX ops themselves
    cases.push_back({op, Act::none, [op](Net& n, const std::string& v) { return n.op(op, {v}); }});
  for (const Spelling& s : cases) {
    if (s.act == Act::hard_sigmoid || s.act == Act::hard_swish) continue;
    SCOPED_TRACE(s.what);
    Net n;
    n.b.input("x", DType::f32, {1, 3, 47});
    n.out(s.build(n, "x"), "y");
    const std::string bytes = n.b.serialize();
    const Tensor want = reference_run(bytes, {x})[0];
    const Compiled c = fast_run(bytes, {x}, 1);
    size_t own = c.count("visionrt.Activation", "cpu");
    for (const char* op : {"Sigmoid", "Tanh", "Elu"}) own += c.count(op, "cpu");
    if (own != 1) continue;  // a cheap one on oneDNN
    ++tested;
    const Tensor& got = c.outputs[0];
    ASSERT_EQ(got.shape(), want.shape());
    for (size_t i = 0; i < got.numel(); ++i) {
      const float g = got.data<float>()[i], w = want.data<float>()[i];
      const std::string at = ::testing::PrintToString(x.data<float>()[i]);
      if (std::isnan(w) || std::isinf(w)) {
        // The reference's chain may make NaN of inf * 0 where the formula has a limit.
        if (std::isinf(w)) {
          EXPECT_EQ(g, w) << "x = " << at;
        }
        continue;
      }
      EXPECT_FALSE(std::isnan(g)) << "x = " << at << ": NaN for " << w;
      EXPECT_LE(std::fabs(g - w), 2e-5 * (1.0 + std::fabs(w)))
          << "x = " << at << ": " << g << " vs " << w;
    }
    // NaN in, NaN out.
    for (size_t i = 0; i < got.numel(); ++i)
      if (std::isnan(x.data<float>()[i])) {
        EXPECT_TRUE(std::isnan(got.data<float>()[i])) << i;
      }
  }
  EXPECT_GE(tested, 10u);
}

TEST(Patterns, SwishAfterAnAddOfTwoInputs) {
  Net n;
  n.b.input("a", DType::f32, {2, 20, 9, 7});
  n.b.input("b", DType::f32, {2, 20, 9, 7});
  std::string s = n.op("Add", {"a", "b"});
  n.out(n.op("Mul", {n.op("Sigmoid", {s}), s}), "y");
  std::mt19937 rng(22);
  Compiled c = check_network(n, {random_tensor({2, 20, 9, 7}, rng, -5.f, 5.f),
                                 random_tensor({2, 20, 9, 7}, rng, -5.f, 5.f)});
  EXPECT_TRUE(has(c.plan, "recognised: 1 activation chains")) << c.all();
  EXPECT_EQ(c.count("visionrt.Activation", "cpu"), 1u) << c.all();
  EXPECT_EQ(c.count("Sigmoid"), 0u) << c.all();
  EXPECT_EQ(c.count("Mul"), 0u) << c.all();
}

TEST(Patterns, ActivationChainsAfterAConvFuseIntoTheConv) {
  for (const Spelling& s : spellings()) {
    SCOPED_TRACE(s.what);
    Net n;
    n.b.input("x", DType::f32, {2, 3, 11, 9});
    n.out(s.build(n, n.conv("x", 3, 20, 3)), "y");
    std::mt19937 rng(23);
    Compiled c = check_network(n, {random_tensor({2, 3, 11, 9}, rng, -6.f, 6.f)}, 2e-4, s.what);
    EXPECT_TRUE(has(c.plan, "recognised: 1 activation chains")) << c.all();
    EXPECT_TRUE(has(c.plan, "fused: 1 activations")) << c.all();
    EXPECT_EQ(c.count("visionrt.Activation"), 0u) << c.all();
    EXPECT_EQ(c.count("visionrt.FusedConv", "dnnl"), 1u) << c.all();
    for (const char* op : kChainOps) EXPECT_EQ(c.count(op), 0u) << op << "\n" << c.all();
    std::vector<std::string> conv = c.layouts("visionrt.FusedConv");
    ASSERT_EQ(conv.size(), 1u) << c.all();
    EXPECT_TRUE(has(conv[0], std::string("+") + act_name(s.act))) << c.all();
  }
}

TEST(Patterns, ActivationChainsOnABlockedTensor) {
  // Conv -> MaxPool (the tensor stays blocked, 20 channels: a partial 16-block) -> chain ->
  // Conv: the activation runs standalone on the blocked tensor.
  for (const Spelling& s : spellings()) {
    SCOPED_TRACE(s.what);
    Net n;
    n.b.input("x", DType::f32, {2, 6, 9, 11});
    std::string p = n.op("MaxPool", {n.conv("x", 6, 20, 3)},
                         {{"kernel_shape", attr_ints({3, 3})}, {"pads", attr_ints({1, 1, 1, 1})}});
    n.out(n.conv(s.build(n, p), 20, 8, 1), "y");
    std::mt19937 rng(26);
    Compiled c = check_network(n, {random_tensor({2, 6, 9, 11}, rng, -6.f, 6.f)}, 2e-4, s.what);
    EXPECT_TRUE(has(c.plan, "recognised: 1 activation chains")) << c.all();
    for (const char* op : kChainOps) EXPECT_EQ(c.count(op), 0u) << op << "\n" << c.all();
    // Either the visionrt.Activation node, or (scalar-op form) a ScaleShift carrying it.
    EXPECT_EQ(c.count("visionrt.Activation") + c.count("visionrt.ScaleShift"), 1u) << c.all();
    if (blocked_layouts() && s.act != Act::hard_sigmoid) {
      for (const std::string& l : c.layouts("visionrt.Activation"))
        EXPECT_TRUE(has(l, "nChw")) << c.all();
    }
  }
}

TEST(Patterns, LookAlikeChainsStayAndStayCorrect) {
  struct Case {
    const char* what;
    std::function<void(Net&)> build;  // reads input "x" [2,20,7,9], writes outputs
  };
  std::vector<Case> cases = {
      {"GELU with a [9]-shaped divisor (non-scalar constant)",
       [](Net& n) {
         std::string e = n.op("Erf", {n.op("Div", {"x", n.constant(filled({9}, kSqrt2))})});
         n.out(n.op("Mul", {n.op("Mul", {"x", n.k(0.5f)}), n.op("Add", {n.k(1.0f), e})}), "y");
       }},
      {"GELU whose Erf is also a graph output",
       [](Net& n) {
         std::string e = n.op("Erf", {n.op("Div", {"x", n.k(kSqrt2)})});
         n.out(n.op("Mul", {n.op("Mul", {"x", n.k(0.5f)}), n.op("Add", {n.k(1.0f), e})}), "y");
         n.out(e, "z");
       }},
      {"swish whose Sigmoid is read by another node",
       [](Net& n) {
         std::string sg = n.op("Sigmoid", {"x"});
         n.out(n.op("Mul", {"x", sg}), "y");
         n.out(n.op("Add", {sg, n.k(1.0f)}), "z");
       }},
      {"hard-swish whose Clip is read by another node",
       [](Net& n) {
         std::string cl = n.op("Clip", {n.op("Add", {"x", n.k(3.0f)}), n.k(0.0f), n.k(6.0f)});
         n.out(n.op("Div", {n.op("Mul", {"x", cl}), n.k(6.0f)}), "y");
         n.out(n.op("Mul", {cl, n.k(2.0f)}), "z");
       }},
      {"x*0.5*(1+Erf(x/1.3)) (not GELU)",
       [](Net& n) {
         std::string e = n.op("Erf", {n.op("Div", {"x", n.k(1.3f)})});
         n.out(n.op("Mul", {n.op("Mul", {"x", n.k(0.5f)}), n.op("Add", {n.k(1.0f), e})}), "y");
       }},
      {"x*Sigmoid(2x) (not swish)",
       [](Net& n) {
         n.out(n.op("Mul", {"x", n.op("Sigmoid", {n.op("Mul", {n.k(2.0f), "x"})})}), "y");
       }},
      {"Mul(x,1) then Add(0) (identity)",
       [](Net& n) {
         n.out(n.op("Add", {n.op("Mul", {"x", n.k(1.0f)}), n.k(0.0f)}), "y");
       }},
      {"Min(Max(x,-100),100) (identity on the samples, a clip beyond them)",
       [](Net& n) {
         n.out(n.op("Min", {n.op("Max", {"x", n.k(-100.0f)}), n.k(100.0f)}), "y");
       }},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    Net n;
    n.b.input("x", DType::f32, {2, 20, 7, 9});
    k.build(n);
    std::mt19937 rng(24);
    // Mostly [-6, 6], with values beyond the pattern pass's sample range (+-60).
    Tensor x = random_tensor({2, 20, 7, 9}, rng, -6.f, 6.f);
    const float far[] = {80.f, -90.f, 150.f, -200.f, 61.f, -75.f};
    for (size_t i = 0; i < x.numel(); i += 7) x.data<float>()[i] = far[(i / 7) % 6];
    Compiled c = check_network(n, {x}, 2e-4, k.what);
    EXPECT_TRUE(has(c.plan, "recognised: 0 activation chains")) << c.all();
    EXPECT_EQ(c.count("visionrt.Activation"), 0u) << c.all();
  }
}

TEST(Patterns, BoundsBeyondTheSampleRangeAreNotDropped) {
  // Chains that equal a table activation on the sample points (|x| <= 60) but bound it further
  // out: replacing them by the unbounded activation is wrong for inputs like 80 or -90.
  struct Case {
    const char* what;
    Chain build;
  };
  std::vector<Case> cases = {
      {"Min(Max(x,0),100): relu on the samples, 100 at x=150",
       [](Net& n, const std::string& x) {
         return n.op("Min", {n.op("Max", {x, n.k(0.0f)}), n.k(100.0f)});
       }},
      {"Max(Max(x,0.1x),-100): leaky relu on the samples, -100 at x=-2000",
       [](Net& n, const std::string& x) {
         return n.op("Max", {n.op("Max", {x, n.op("Mul", {x, n.k(0.1f)})}), n.k(-100.0f)});
       }},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    Net n;
    n.b.input("x", DType::f32, {2, 20, 7, 9});
    n.out(k.build(n, "x"), "y");
    std::mt19937 rng(25);
    Tensor x = random_tensor({2, 20, 7, 9}, rng, -6.f, 6.f);
    const float far[] = {80.f, -90.f, 150.f, -2000.f, 1000.f, -75.f};
    for (size_t i = 0; i < x.numel(); i += 5) x.data<float>()[i] = far[(i / 5) % 6];
    // Fails today: fuse_activation_patterns only samples |x| <= 60 and replaces the chain by
    // the unbounded relu / leaky relu.
    check_network(n, {x}, 2e-4, k.what);
  }
}

// ---- decomposed layer normalization ----

namespace {

// ReduceMean over `axis` with keepdims (axes as attribute before opset 18, input from 18).
std::string reduce_mean(Net& n, int64_t opset, const std::string& x, int64_t axis) {
  if (opset >= 18) return n.op("ReduceMean", {x, n.axes({axis})}, {{"keepdims", attr_int(1)}});
  return n.op("ReduceMean", {x}, {{"axes", attr_ints({axis})}, {"keepdims", attr_int(1)}});
}

// (x - mean) / sqrt(mean((x - mean)^2) + eps) [* gamma + beta] over `axis` with C channels.
// With `const_first`, gamma and beta are the first operands of their Mul and Add.
std::string layer_norm_chain(Net& n, int64_t opset, const std::string& x, int64_t axis, int64_t c,
                             bool square_as_mul, bool affine, bool const_first = false) {
  std::string d = n.op("Sub", {x, reduce_mean(n, opset, x, axis)});
  std::string sq = square_as_mul ? n.op("Mul", {d, d}) : n.op("Pow", {d, n.k(2.0f)});
  std::string var = reduce_mean(n, opset, sq, axis);
  std::string y = n.op("Div", {d, n.op("Sqrt", {n.op("Add", {var, n.k(1e-5f)})})});
  if (!affine) return y;
  std::string gamma = n.constant(random_tensor({c}, n.rng, 0.5f, 1.5f));
  std::string beta = n.constant(random_tensor({1, c}, n.rng, -0.5f, 0.5f));
  y = const_first ? n.op("Mul", {gamma, y}) : n.op("Mul", {y, gamma});
  return const_first ? n.op("Add", {beta, y}) : n.op("Add", {y, beta});
}

}  // namespace

TEST(Patterns, DecomposedLayerNormBecomesLayerNormalization) {
  struct Case {
    const char* what;
    int64_t opset;
    Shape shape;
    bool square_as_mul, affine;
    bool const_first = false;
  };
  const std::vector<Case> cases = {
      {"opset 13, Pow, gamma/beta, [2,7,37]", 13, {2, 7, 37}, false, true},
      {"opset 13, Mul(d,d), gamma/beta, [1,5,9,20]", 13, {1, 5, 9, 20}, true, true},
      {"opset 13, Mul(gamma,y), Add(beta,y), [2,7,37]", 13, {2, 7, 37}, false, true, true},
      {"opset 13, no gamma/beta, [2,7,37]", 13, {2, 7, 37}, false, false},
      {"opset 18 (axes as input), [2,7,37]", 18, {2, 7, 37}, false, true},
      {"opset 18, Mul(d,d), no gamma/beta, [1,5,9,20]", 18, {1, 5, 9, 20}, true, false},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    Net n(k.opset);
    n.b.input("x", DType::f32, k.shape);
    n.out(layer_norm_chain(n, k.opset, "x", -1, k.shape.back(), k.square_as_mul, k.affine,
                           k.const_first),
          "y");
    std::mt19937 rng(31);
    Compiled c = check_network(n, {random_tensor(k.shape, rng, -3.f, 5.f)}, 1e-4, k.what);
    EXPECT_TRUE(has(c.plan, "1 layer norms")) << c.all();
    EXPECT_EQ(c.count("LayerNormalization", "dnnl"), 1u) << c.all();
    for (const char* op : {"ReduceMean", "Sub", "Pow", "Sqrt", "Div", "Mul", "Add"})
      EXPECT_EQ(c.count(op), 0u) << op << "\n" << c.all();
  }
}

TEST(Patterns, ConvNeXtStyleChannelsLastLayerNorm) {
  // Depthwise 7x7 conv, permute to channels last, layer norm over the 20 channels, then back.
  Net n(13);
  n.b.input("x", DType::f32, {1, 20, 5, 9});
  std::string dw = n.conv("x", 20, 20, 7, 20);
  std::string t = n.op("Transpose", {dw}, {{"perm", attr_ints({0, 2, 3, 1})}});  // [1,5,9,20]
  std::string ln = layer_norm_chain(n, 13, t, 3, 20, false, true);
  n.out(n.op("Transpose", {ln}, {{"perm", attr_ints({0, 3, 1, 2})}}), "y");
  std::mt19937 rng(32);
  Compiled c = check_network(n, {random_tensor({1, 20, 5, 9}, rng, -2.f, 2.f)}, 1e-4);
  EXPECT_TRUE(has(c.plan, "1 layer norms")) << c.all();
  EXPECT_EQ(c.count("LayerNormalization", "dnnl"), 1u) << c.all();
}

TEST(Patterns, LayerNormOverANonLastAxisStays) {
  Net n(13);
  n.b.input("x", DType::f32, {2, 7, 37});
  n.out(layer_norm_chain(n, 13, "x", 1, 0, false, false), "y");
  std::mt19937 rng(33);
  Compiled c = check_network(n, {random_tensor({2, 7, 37}, rng, -3.f, 5.f)}, 1e-4);
  EXPECT_TRUE(has(c.plan, "0 layer norms")) << c.all();
  EXPECT_EQ(c.count("LayerNormalization"), 0u) << c.all();
  EXPECT_EQ(c.count("ReduceMean"), 2u) << c.all();
}

TEST(Patterns, LayerNormWithAnIntermediateGraphOutputStays) {
  // The centred value d = x - mean is also a graph output: the pattern must stay.
  Net n(13);
  n.b.input("x", DType::f32, {2, 7, 37});
  std::string d = n.op("Sub", {"x", reduce_mean(n, 13, "x", -1)});
  std::string var = reduce_mean(n, 13, n.op("Pow", {d, n.k(2.0f)}), -1);
  n.out(n.op("Div", {d, n.op("Sqrt", {n.op("Add", {var, n.k(1e-5f)})})}), "y");
  n.out(d, "d");
  std::mt19937 rng(34);
  Compiled c = check_network(n, {random_tensor({2, 7, 37}, rng, -3.f, 5.f)}, 1e-4);
  EXPECT_TRUE(has(c.plan, "0 layer norms")) << c.all();
  EXPECT_EQ(c.count("LayerNormalization"), 0u) << c.all();
}

// ---- standalone BatchNorm and per-channel affine chains: visionrt.ScaleShift ----

TEST(Patterns, PreActivationBatchNormBecomesScaleShift) {
  for (int64_t ch : {20, 37}) {
    SCOPED_TRACE("C = " + std::to_string(ch));
    Net n;
    // DenseNet's layer: input -> BN -> ReLU -> Conv 3x3.
    n.b.input("x", DType::f32, {2, ch, 11, 9});
    n.out(n.conv(n.op("Relu", {n.bn("x", ch)}), ch, 16, 3), "y1");
    // The BN after a Concat (blocked tensors, a partial last 16-block): ReLU (inline), Sigmoid
    // (scalar formula), HardSigmoid (inline, non-zero at 0) each into a 1x1 conv; an Elu to the
    // graph output.
    n.b.input("u", DType::f32, {2, 8, 9, 7});
    std::string cat = n.op("Concat", {n.conv("u", 8, 12, 3), n.conv("u", 8, ch - 12, 1)},
                           {{"axis", attr_int(1)}});
    n.out(n.conv(n.op("Relu", {n.bn(cat, ch)}), ch, 16, 1), "y2");
    n.out(n.conv(n.op("Sigmoid", {n.bn(cat, ch)}), ch, 16, 1), "y3");
    n.out(n.conv(n.op("HardSigmoid", {n.bn(cat, ch)}, {{"alpha", attr_float(0.3f)}}), ch, 16, 1),
          "y4");
    n.out(n.op("Elu", {n.bn(cat, ch)}, {{"alpha", attr_float(0.7f)}}), "y5");
    // After a MaxPool of a conv the tensor is blocked: the ScaleShift runs on nChw16c with a
    // partial last block, Sigmoid by its scalar formula on the live lanes, HardSigmoid inline.
    std::string p = n.op("MaxPool", {n.conv("u", 8, ch, 3)},
                         {{"kernel_shape", attr_ints({3, 3})}, {"pads", attr_ints({1, 1, 1, 1})}});
    n.out(n.conv(n.op("Sigmoid", {n.bn(p, ch)}), ch, 16, 1), "y6");
    n.out(n.conv(n.op("HardSigmoid", {n.bn(p, ch)}, {{"alpha", attr_float(0.3f)}}), ch, 16, 3),
          "y7");
    std::mt19937 rng(41);
    Compiled c = check_network(
        n, {random_tensor({2, ch, 11, 9}, rng, -2.f, 2.f), random_tensor({2, 8, 9, 7}, rng)});
    EXPECT_FALSE(has(c.plan, "scale-shift nodes 0;")) << c.all();
    EXPECT_EQ(c.count("visionrt.ScaleShift", "cpu"), 7u) << c.all();
    for (const char* op : {"BatchNormalization", "Relu", "Sigmoid", "HardSigmoid", "Elu"})
      EXPECT_EQ(c.count(op), 0u) << op << "\n" << c.all();
    if (blocked_layouts()) {
      size_t blocked = 0;
      for (const std::string& l : c.layouts("visionrt.ScaleShift")) blocked += has(l, "nChw");
      EXPECT_GE(blocked, 2u) << "the BNs after the MaxPool did not run blocked\n" << c.all();
    }
  }
}

TEST(Patterns, PerChannelAffineChainsBecomeOneScaleShift) {
  for (int64_t ch : {20, 37}) {
    SCOPED_TRACE("C = " + std::to_string(ch));
    Net n;
    n.b.input("x", DType::f32, {2, 5, 9, 11});
    // A MaxPool between the conv and the affine ops: nothing folds into the conv.
    std::string p = n.op("MaxPool", {n.conv("x", 5, ch, 3)},
                         {{"kernel_shape", attr_ints({3, 3})}, {"pads", attr_ints({1, 1, 1, 1})}});
    // Mul [1,C,1,1] -> Add [C,1,1] -> Clip(0, 6): one node.
    std::string m = n.op("Mul", {p, n.constant(random_tensor({1, ch, 1, 1}, n.rng, 0.5f, 2.f))});
    std::string a = n.op("Add", {n.constant(random_tensor({ch, 1, 1}, n.rng)), m});
    std::string cl = n.op("Clip", {a, n.k(0.0f), n.k(6.0f)});
    n.out(n.conv(cl, ch, 16, 1), "y1");
    // Sub(const, x) with a per-channel constant, to the graph output.
    n.out(n.op("Sub", {n.constant(random_tensor({1, ch, 1, 1}, n.rng)), p}), "y2");
    // A scalar Mul followed by a per-channel Div and a Sigmoid.
    std::string s = n.op("Mul", {p, n.k(1.5f)});
    std::string dv = n.op("Div", {s, n.constant(random_tensor({ch, 1, 1}, n.rng, 0.5f, 2.f))});
    n.out(n.conv(n.op("Sigmoid", {dv}), ch, 8, 1), "y3");
    std::mt19937 rng(42);
    Compiled c = check_network(n, {random_tensor({2, 5, 9, 11}, rng, -2.f, 2.f)});
    EXPECT_FALSE(has(c.plan, "scale-shift nodes 0;")) << c.all();
    // (3 when each chain is merged into one node: see AffineChainMergesIntoOneScaleShift.)
    EXPECT_GE(c.count("visionrt.ScaleShift", "cpu"), 3u) << c.all();
    for (const char* op : {"Mul", "Add", "Sub", "Div", "Clip", "Sigmoid"})
      EXPECT_EQ(c.count(op), 0u) << op << "\n" << c.all();
    if (blocked_layouts()) {
      for (const std::string& l : c.layouts("visionrt.ScaleShift"))
        EXPECT_TRUE(has(l, "nChw")) << c.all();
    }
  }
}

TEST(Patterns, AffineChainMergesIntoOneScaleShift) {
  // fuse_scale_shift.cpp: "chains of Mul/Add/Sub/Div by per-channel or scalar constants ...
  // merged into one node, with the activation that follows folded in".
  Net n;
  const int64_t ch = 20;
  n.b.input("x", DType::f32, {2, 5, 9, 11});
  std::string p = n.op("MaxPool", {n.conv("x", 5, ch, 3)},
                       {{"kernel_shape", attr_ints({3, 3})}, {"pads", attr_ints({1, 1, 1, 1})}});
  std::string m = n.op("Mul", {p, n.constant(random_tensor({1, ch, 1, 1}, n.rng, 0.5f, 2.f))});
  std::string a = n.op("Add", {m, n.constant(random_tensor({ch, 1, 1}, n.rng))});
  n.out(n.conv(n.op("Clip", {a, n.k(0.0f), n.k(6.0f)}), ch, 16, 1), "y");
  std::mt19937 rng(44);
  Compiled c = check_network(n, {random_tensor({2, 5, 9, 11}, rng, -2.f, 2.f)});
  // Fails today: the Mul and the Add become ScaleShifts in the same sweep of
  // rewrite_to_fixpoint, and a ScaleShift never merges a following ScaleShift (only raw
  // Mul/Add/Sub/Div/BN or an activation), so two passes over the tensor remain.
  EXPECT_EQ(c.count("visionrt.ScaleShift", "cpu"), 1u) << c.all();
}

TEST(Patterns, RankThreeScaleShiftRunsPlain) {
  Net n;
  const int64_t ch = 37;
  n.b.input("x", DType::f32, {2, ch, 9});
  n.out(n.op("Relu", {n.bn("x", ch)}), "y1");
  std::string m = n.op("Mul", {"x", n.constant(random_tensor({ch, 1}, n.rng, -2.f, 2.f))});
  n.out(n.op("LeakyRelu", {n.op("Add", {m, n.k(0.25f)})}, {{"alpha", attr_float(0.1f)}}), "y2");
  n.out(n.op("Tanh", {n.op("Sub", {"x", n.constant(random_tensor({ch, 1}, n.rng))})}), "y3");
  // Rank 2 (BatchNorm1d after a Linear): a [C] constant is per channel.
  n.b.input("v", DType::f32, {2, ch});
  n.out(n.op("Sigmoid", {n.bn("v", ch)}), "y4");
  n.out(n.op("Relu", {n.op("Mul", {n.constant(random_tensor({ch}, n.rng)), "v"})}), "y5");
  std::mt19937 rng(43);
  Compiled c = check_network(
      n, {random_tensor({2, ch, 9}, rng, -3.f, 3.f), random_tensor({2, ch}, rng, -3.f, 3.f)});
  EXPECT_FALSE(has(c.plan, "scale-shift nodes 0;")) << c.all();
  // (5 when the Mul -> Add chain is merged into one node.)
  EXPECT_GE(c.count("visionrt.ScaleShift", "cpu"), 5u) << c.all();
  for (const char* op :
       {"BatchNormalization", "Mul", "Add", "Sub", "Relu", "LeakyRelu", "Tanh", "Sigmoid"})
    EXPECT_EQ(c.count(op), 0u) << op << "\n" << c.all();
  for (const std::string& l : c.layouts("visionrt.ScaleShift")) EXPECT_EQ(l, "plain") << c.all();
}

// ---- oneDNN reductions and LayerNormalization ----

TEST(Patterns, ReductionsOverEveryAxisSetMatchReference) {
  const std::string ops[] = {"ReduceMean", "ReduceSum", "ReduceMax",
                             "ReduceMin",  "ReduceL2",  "ReduceSumSquare"};
  const std::vector<std::vector<int64_t>> axis_sets = {{1}, {2, 3}, {-1}, {}};
  Net n;
  n.b.input("x", DType::f32, {2, 37, 5, 7});
  std::vector<std::string> names;
  for (const std::string& op : ops)
    for (size_t a = 0; a < axis_sets.size(); ++a)
      for (int64_t keep : {0, 1}) {
        std::map<std::string, Attribute> attrs = {{"keepdims", attr_int(keep)}};
        std::vector<std::string> ins = {"x"};
        if (!axis_sets[a].empty()) {
          // ReduceSum takes its axes as an input from opset 13, the others from 18.
          if (op == "ReduceSum")
            ins.push_back(n.axes(axis_sets[a]));
          else
            attrs["axes"] = attr_ints(axis_sets[a]);
        }
        const std::string name = op + "_axes" + std::to_string(a) + "_keep" + std::to_string(keep);
        n.b.node(op, ins, {name}, attrs, name);
        n.out(name, "y_" + name);
        names.push_back(name);
      }
  std::mt19937 rng(51);
  Compiled c = check_network(n, {random_tensor({2, 37, 5, 7}, rng, -2.f, 2.f)}, 2e-4);
  for (const std::string& op : ops) EXPECT_EQ(c.count(op), 8u) << op << "\n" << c.all();
  // Mean/Sum/Max/Min run on the cpu kernel (every axis set here is one contiguous group, the
  // channel axis included, where oneDNN 2.x has only its reference reduction); L2/SumSquare,
  // for which oneDNN 2.x has only its reference reduction, on the reference kernel.
  for (const std::string& name : names) {
    const bool own = name.rfind("ReduceL2", 0) != 0 && name.rfind("ReduceSumSquare", 0) != 0;
    if (own) {
      EXPECT_EQ(c.kernel_of(name), "cpu") << name;
    } else {
      EXPECT_NE(c.kernel_of(name), "") << name;
    }
  }
}

TEST(Patterns, SqueezeExcitationMeanAfterAConv) {
  // Conv -> ReduceMean over H and W with keepdims -> 1x1 conv + Sigmoid -> Mul by the scale.
  Net n;
  n.b.input("x", DType::f32, {2, 8, 9, 7});
  std::string f = n.op("Relu", {n.conv("x", 8, 37, 3)});
  std::string mean =
      n.op("ReduceMean", {f}, {{"axes", attr_ints({2, 3})}, {"keepdims", attr_int(1)}});
  std::string scaled = n.op("Mul", {f, n.op("Sigmoid", {n.conv(mean, 37, 37, 1)})});
  n.out(n.conv(scaled, 37, 20, 1), "y");
  std::mt19937 rng(52);
  Compiled c = check_network(n, {random_tensor({2, 8, 9, 7}, rng)});
  EXPECT_EQ(c.count("ReduceMean", "cpu"), 1u) << c.all();
  // The mean stays blocked (the cpu kernel reduces [N * C/16, H * W, 16]): no reorder pair.
  if (blocked_layouts()) {
    std::vector<std::string> l = c.layouts("ReduceMean");
    ASSERT_EQ(l.size(), 1u) << c.all();
    EXPECT_TRUE(has(l[0], "nChw")) << c.all();
    EXPECT_TRUE(has(c.plan, "reorders 2")) << c.all();
  }
}

TEST(Patterns, LayerNormalizationOpOnOneDnn) {
  Net n;
  const Shape xs = {2, 6, 5, 7};
  n.b.input("x", DType::f32, xs);
  std::mt19937& r = n.rng;
  // axis -1: scale and bias [7].
  n.out(
      n.op("LayerNormalization",
           {"x", n.constant(random_tensor({7}, r, 0.5f, 1.5f)), n.constant(random_tensor({7}, r))},
           {{"axis", attr_int(-1)}}),
      "y1");
  // axis 1 (normalized shape [6,5,7]): scale and bias in full.
  n.out(n.op("LayerNormalization",
             {"x", n.constant(random_tensor({6, 5, 7}, r, 0.5f, 1.5f)),
              n.constant(random_tensor({6, 5, 7}, r))},
             {{"axis", attr_int(1)}, {"epsilon", attr_float(1e-3f)}}),
        "y2");
  // axis 1, scale [7] broadcast over [6,5,7], no bias.
  n.out(n.op("LayerNormalization", {"x", n.constant(random_tensor({7}, r, 0.5f, 1.5f))},
             {{"axis", attr_int(1)}}),
        "y3");
  // axis -2 (normalized [5,7]): scale [5,1], bias [7].
  n.out(n.op("LayerNormalization",
             {"x", n.constant(random_tensor({5, 1}, r, 0.5f, 1.5f)),
              n.constant(random_tensor({7}, r))},
             {{"axis", attr_int(-2)}}),
        "y4");
  std::mt19937 rng(53);
  Compiled c = check_network(n, {random_tensor(xs, rng, -3.f, 5.f)}, 1e-4);
  EXPECT_EQ(c.count("LayerNormalization", "dnnl"), 4u) << c.all();
}

// ---- every table activation as a oneDNN conv post-op ----

// The activation `info` as a graph writes it: its ONNX op (alpha 0.3, beta 0.4), Clip(-0.5,
// 1.5), or written out (gelu_erf, gelu_tanh, swish, mish); nullptr when no spelling exists.
static Chain table_chain(const ActInfo& info) {
  if (info.kind == Act::clip)
    return [](Net& n, const std::string& x) { return n.op("Clip", {x, n.k(-0.5f), n.k(1.5f)}); };
  if (info.kind == Act::mish || !*info.onnx_op) {
    for (const Spelling& s : spellings())
      if (s.act == info.kind) return s.build;
    return nullptr;
  }
  const ActInfo* i = &info;
  return [i](Net& n, const std::string& x) {
    std::map<std::string, Attribute> attrs;
    if (*i->alpha_attr) attrs[i->alpha_attr] = attr_float(0.3f);
    if (*i->beta_attr) attrs[i->beta_attr] = attr_float(0.4f);
    return n.op(i->onnx_op, {x}, attrs);
  };
}

TEST(Patterns, EveryTableActivationIsAConvPostOp) {
  size_t tested = 0;
  for (const ActInfo& info : kActivations) {
    if (info.kind == Act::none) continue;
    SCOPED_TRACE(info.name);
    Chain build = table_chain(info);
    if (!build) {
      ADD_FAILURE() << "no test spelling for activation " << info.name;
      continue;
    }
    Net n;
    n.b.input("x", DType::f32, {2, 5, 9, 7});
    n.out(build(n, n.conv("x", 5, 20, 3)), "y");
    std::mt19937 rng(61);
    Compiled c = check_network(n, {random_tensor({2, 5, 9, 7}, rng, -5.f, 5.f)}, 2e-4, info.name);
    EXPECT_TRUE(has(c.plan, "fused: 1 activations")) << c.all();
    EXPECT_EQ(c.count("visionrt.FusedConv", "dnnl"), 1u) << c.all();
    EXPECT_EQ(c.count("visionrt.Activation"), 0u) << c.all();
    std::vector<std::string> conv = c.layouts("visionrt.FusedConv");
    ASSERT_EQ(conv.size(), 1u) << c.all();
    EXPECT_TRUE(has(conv[0], std::string("+") + info.name)) << c.all();
    ++tested;
  }
  EXPECT_EQ(tested, std::size(kActivations) - 1);
}

TEST(Patterns, MishOpsetEighteenIsAConvPostOp) {
  Net n(18);
  n.b.input("x", DType::f32, {2, 5, 9, 7});
  n.out(n.op("Mish", {n.conv("x", 5, 20, 3)}), "y");
  std::mt19937 rng(62);
  Compiled c = check_network(n, {random_tensor({2, 5, 9, 7}, rng, -5.f, 5.f)});
  EXPECT_TRUE(has(c.plan, "fused: 1 activations")) << c.all();
  std::vector<std::string> conv = c.layouts("visionrt.FusedConv");
  ASSERT_EQ(conv.size(), 1u) << c.all();
  EXPECT_TRUE(has(conv[0], "+mish")) << c.all();
}

TEST(Patterns, SequenceFirstProjectionIsOneMatrixProduct) {
  // PyTorch's sequence-first attention: x [L, 1, C] times W [C, 3C] plus a bias, then a ReLU. The
  // batch of 1-row products runs as one [L, C] x [C, 3C] matrix product (FusedMatMul with the
  // bias and the activation); a rank-3 constant B with a leading 1 is a matrix as well.
  Net n;
  n.b.input("x", DType::f32, {13, 1, 24});
  std::mt19937& r = n.rng;
  std::string m = n.op("MatMul", {"x", n.constant(random_tensor({24, 72}, r))});
  std::string a = n.op("Add", {n.constant(random_tensor({72}, r)), m});
  n.b.node("Relu", {a}, {"y1"});
  n.b.node("MatMul", {"x", n.constant(random_tensor({1, 24, 5}, r))}, {"y2"});
  for (const char* o : {"y1", "y2"}) n.b.output(o, DType::f32);
  std::mt19937 rng(10);
  std::vector<Tensor> in = {random_tensor({13, 1, 24}, rng)};
  Compiled c = check_network(n, in);
  size_t fused = 0, dnnl = 0;
  for (const auto& d : c.decisions) {
    fused += d.rfind("visionrt.FusedMatMul", 0) == 0 && d.find(": dnnl") != std::string::npos;
    dnnl += d.rfind("MatMul", 0) == 0 && d.find(": dnnl") != std::string::npos;
  }
  EXPECT_EQ(fused, 1u) << ::testing::PrintToString(c.decisions);
  EXPECT_EQ(dnnl, 1u) << ::testing::PrintToString(c.decisions);
  // The profile's kernel description names the operand shapes: one 13-row matrix each.
  size_t flat = 0;
  for (const auto& p : c.profile)
    flat +=
        p.layout.find("plain [13,24]x[24,72]") == 0 || p.layout.find("plain [13,24]x[24,5]") == 0;
  EXPECT_EQ(flat, 2u);
}

TEST(Patterns, BinaryOpsWithAnyBroadcastMatchReference) {
  // Broadcasts oneDNN's binary does not take (first operand broadcast, both operands broadcast
  // along different axes, Swin's [1,nW,1,L,L] attention mask) run on the cpu kernel.
  struct Case {
    const char* op;
    Shape a, b;
  };
  const std::vector<Case> cases = {{"Add", {1, 4, 1, 5, 5}, {2, 4, 3, 5, 5}},
                                   {"Add", {2, 4, 3, 5, 5}, {1, 4, 1, 5, 5}},
                                   {"Mul", {2, 3, 1, 1}, {2, 1, 4, 5}},
                                   {"Sub", {5}, {2, 3, 5}},
                                   {"Div", {2, 1, 5}, {3, 1}},
                                   {"Max", {1, 7}, {6, 1}},
                                   {"Min", {3, 1, 2}, {3, 4, 2}},
                                   {"Sub", {1, 1, 1}, {2, 3, 4}},
                                   {"Div", {2, 3, 4}, {2, 3, 4}}};
  for (const Case& c : cases) {
    Net n;
    n.b.input("a", DType::f32, c.a);
    n.b.input("b", DType::f32, c.b);
    n.out(n.op(c.op, {"a", "b"}), "y");
    std::mt19937 rng(11);
    const std::string what = std::string(c.op) + shape_str(c.a) + shape_str(c.b);
    Compiled r = check_network(
        n, {random_tensor(c.a, rng, 0.5f, 2.f), random_tensor(c.b, rng, 0.5f, 2.f)}, 1e-6, what);
    EXPECT_EQ(r.count(c.op, "ref"), 0u) << what << "\n" << r.all();
  }
}

TEST(Patterns, NodesThatComputeTheirInputDisappear) {
  // Identity, Dropout in training mode with ratio 0 (Swin's export), an inference Dropout, a Cast
  // to float of a float and an all-zero Pad between two convs: no kernel runs for any of them and
  // the convs stay in one layout; an Identity feeding a graph output stays.
  Net n;
  n.b.input("x", DType::f32, {1, 16, 9, 7});
  std::string v = n.conv("x", 16, 16, 3);
  v = n.op("Identity", {v});
  std::string d = n.fresh("drop");
  n.b.node("Dropout", {v, n.k(0.0f), n.constant(Tensor::scalar<bool>(true))}, {d, n.fresh("mask")});
  v = n.op("Dropout", {d});
  v = n.op("Cast", {v}, {{"to", attr_int(1)}});
  v = n.op("Pad", {v, n.constant(Tensor::from_vector<int64_t>({8}, {0, 0, 0, 0, 0, 0, 0, 0}))});
  v = n.conv(v, 16, 16, 3);
  n.out(v, "y");
  std::mt19937 rng(12);
  Compiled c = check_network(n, {random_tensor({1, 16, 9, 7}, rng)});
  for (const char* op : {"Dropout", "Cast", "Pad"}) EXPECT_EQ(c.count(op), 0u) << op << c.all();
  EXPECT_EQ(c.count("Identity"), 1u) << c.all();  // the graph output's own
  // Blocked: one reorder in, one out, none between the convs.
  if (blocked_layouts()) {
    EXPECT_TRUE(has(c.plan, "blocked-layout nodes 2, reorders 2")) << c.plan;
  }
}

TEST(Patterns, DropoutThatDropsIsRefused) {
  Net n;
  n.b.input("x", DType::f32, {2, 3});
  n.b.node("Dropout", {"x", n.k(0.5f), n.constant(Tensor::scalar<bool>(true))}, {"y"});
  n.b.output("y", DType::f32);
  Core core;
  CompiledModel cm = core.compile_model(core.read_model_from_memory(n.b.serialize(), "d.onnx"));
  InferRequest r = cm.create_infer_request();
  std::mt19937 rng(13);
  r.set_input_tensor(0, random_tensor({2, 3}, rng));
  try {
    r.infer();
    FAIL() << "training-mode Dropout with ratio 0.5 ran";
  } catch (const std::exception& e) {
    EXPECT_TRUE(has(e.what(), "training_mode")) << e.what();
  }
}

TEST(Patterns, LongShapeChainsFoldCompletely) {
  // Twelve Reshapes whose targets come from the previous Reshape's Shape: each level's shape is
  // known only once the level before folded (Swin's window partitions chain ~30 such levels).
  Net n;
  n.b.input("x", DType::f32, {2, 3, 4, 5});
  std::string v = "x";
  for (int i = 0; i < 12; ++i) {
    std::string s = n.op("Shape", {v});
    v = n.op("Reshape", {v, s});
    v = n.op("Relu", {v});
  }
  n.out(v, "y");
  std::mt19937 rng(14);
  Compiled c = check_network(n, {random_tensor({2, 3, 4, 5}, rng)});
  EXPECT_TRUE(has(c.plan, " 0 dynamic")) << c.plan;
  EXPECT_EQ(c.count("Shape"), 0u) << c.all();
}

TEST(Patterns, EveryTableActivationRunsInsideTheScaleShiftLoop) {
  // A standalone BatchNorm followed by each table activation becomes one ScaleShift, plain (a
  // graph input) and blocked with a partial last block (after a MaxPool of a conv, 20 channels);
  // the vectorized forms (exp_approx-based) match the reference formulas.
  size_t tested = 0;
  for (const ActInfo& info : kActivations) {
    if (info.kind == Act::none) continue;
    SCOPED_TRACE(info.name);
    Chain build = table_chain(info);
    ASSERT_TRUE(build) << info.name;
    Net n;
    n.b.input("x", DType::f32, {2, 20, 9, 7});
    n.out(build(n, n.bn("x", 20)), "y1");
    std::string p = n.op("MaxPool", {n.conv("x", 20, 20, 3)},
                         {{"kernel_shape", attr_ints({3, 3})}, {"pads", attr_ints({1, 1, 1, 1})}});
    n.out(n.conv(build(n, n.bn(p, 20)), 20, 16, 1), "y2");
    std::mt19937 rng(62);
    Compiled c = check_network(n, {random_tensor({2, 20, 9, 7}, rng, -6.f, 6.f)}, 2e-5, info.name);
    EXPECT_EQ(c.count("visionrt.ScaleShift", "cpu"), 2u) << c.all();
    EXPECT_EQ(c.count("visionrt.Activation"), 0u) << c.all();
    ++tested;
  }
  EXPECT_EQ(tested, std::size(kActivations) - 1);
}

TEST(Patterns, PadModesPlainAndBlocked) {
  // Reflect, edge and constant (value 0 and 1.5) pads: on a graph input (plain, also padding the
  // channel axis and rank 3), and between two convs (blocked when only H and W are padded; a zero
  // constant pad moves into the conv instead).
  struct Case {
    const char* mode;
    std::vector<int64_t> pads;
    float value;
  };
  const std::vector<Case> cases = {
      {"reflect", {0, 0, 2, 1, 0, 0, 1, 3}, 0.f},  {"edge", {0, 0, 3, 0, 0, 0, 2, 4}, 0.f},
      {"constant", {0, 0, 1, 2, 0, 0, 3, 1}, 0.f}, {"constant", {0, 0, 1, 1, 0, 0, 1, 1}, 1.5f},
      {"edge", {0, 2, 1, 0, 1, 1, 0, 2}, 0.f},     {"reflect", {0, 1, 0, 2, 0, 2, 1, 0}, 0.f}};
  for (const Case& k : cases) {
    const std::string what = std::string(k.mode) + ::testing::PrintToString(k.pads);
    SCOPED_TRACE(what);
    Net n;
    n.b.input("x", DType::f32, {2, 20, 7, 6});
    auto pad = [&](const std::string& v) {
      std::vector<std::string> in = {v, n.constant(Tensor::from_vector<int64_t>({8}, k.pads))};
      if (k.value != 0.f) in.push_back(n.k(k.value));
      return n.op("Pad", in, {{"mode", attr_string(k.mode)}});
    };
    n.out(pad("x"), "y1");
    const bool spatial = k.pads[0] == 0 && k.pads[1] == 0 && k.pads[4] == 0 && k.pads[5] == 0;
    if (spatial) n.out(n.conv(pad(n.conv("x", 20, 20, 3)), 20, 8, 3), "y2");
    std::mt19937 rng(15);
    Compiled c = check_network(n, {random_tensor({2, 20, 7, 6}, rng)}, 1e-6, what);
    EXPECT_EQ(c.count("Pad", "ref"), 0u) << c.all();
    const bool folded = std::string(k.mode) == "constant" && k.value == 0.f;  // into the conv
    if (spatial) {
      EXPECT_EQ(c.count("Pad"), folded ? 1u : 2u) << c.all();
    }
    // Blocked for reflect and edge (a non-zero constant would write into the padded lanes).
    if (spatial && std::string(k.mode) != "constant" && blocked_layouts()) {
      size_t blocked = 0;
      for (const std::string& l : c.layouts("Pad")) blocked += has(l, "nChw");
      EXPECT_EQ(blocked, 1u) << c.all();
    }
  }
  // Rank 3, opset 10 (pads and value as attributes).
  Net n(10);
  n.b.input("x", DType::f32, {3, 5, 4});
  n.out(n.op("Pad", {"x"},
             {{"mode", attr_string("reflect")}, {"pads", attr_ints({1, 2, 3, 0, 2, 1})}}),
        "y");
  std::mt19937 rng(16);
  Compiled c = check_network(n, {random_tensor({3, 5, 4}, rng)}, 1e-6, "opset 10");
  EXPECT_EQ(c.count("Pad", "cpu"), 1u) << c.all();
}

TEST(Patterns, DepthToSpaceOnTheCpuKernelInEveryLayout) {
  // DCR and CRD, blocks 2 and 3: on a graph input (plain), between two convs (DCR with 16·k
  // output channels: blocked lanes moved as blocks; CRD: plain copies), and on u8 (plain).
  for (const char* mode : {"DCR", "CRD"})
    for (int64_t s : {2, 3}) {
      const std::string what = std::string(mode) + " block " + std::to_string(s);
      SCOPED_TRACE(what);
      Net n;
      const std::map<std::string, Attribute> attrs = {{"blocksize", attr_int(s)},
                                                      {"mode", attr_string(mode)}};
      n.b.input("x", DType::f32, {2, 5 * s * s, 5, 3});
      n.out(n.op("DepthToSpace", {"x"}, attrs), "y1");
      const std::string c = n.conv("x", 5 * s * s, 32 * s * s, 1);
      n.out(n.conv(n.op("DepthToSpace", {c}, attrs), 32, 8, 3), "y2");
      std::mt19937 rng(17);
      Compiled k = check_network(n, {random_tensor({2, 5 * s * s, 5, 3}, rng)}, 2e-4, what);
      EXPECT_EQ(k.count("DepthToSpace", "cpu"), 2u) << k.all();
      if (blocked_layouts()) {
        size_t blocked = 0;
        for (const std::string& l : k.layouts("DepthToSpace")) blocked += has(l, "nChw");
        EXPECT_EQ(blocked, std::string(mode) == "DCR" ? 1u : 0u) << k.all();
      }
    }
  Net n;
  n.b.input("x", DType::u8, {1, 12, 3, 4});
  n.b.node("DepthToSpace", {"x"}, {"y"}, {{"blocksize", attr_int(2)}});
  n.b.output("y", DType::u8);
  Tensor x(DType::u8, {1, 12, 3, 4});
  for (size_t i = 0; i < x.numel(); ++i) x.data<uint8_t>()[i] = static_cast<uint8_t>(i * 7);
  Compiled k = check_network(n, {x}, 0, "u8");
  EXPECT_EQ(k.count("DepthToSpace", "cpu"), 1u) << k.all();
}

TEST(Patterns, ResizeOnTheCpuKernelUpAndDown) {
  // Plain NCHW Resize on the own kernel (source rows interpolated along W once, output rows
  // blended from two of them): H up and W down, H down and W up, an integer 4x upsampling as
  // DeepLab's align_corners logits; linear in four coordinate modes, nearest in three roundings.
  struct Case {
    const char* mode;
    const char* coord;
    const char* nearest;
    std::vector<int64_t> sizes;
  };
  const std::vector<Case> cases = {{"linear", "half_pixel", "", {2, 3, 29, 5}},
                                   {"linear", "align_corners", "", {2, 3, 25, 33}},
                                   {"linear", "asymmetric", "", {2, 3, 4, 20}},
                                   {"linear", "pytorch_half_pixel", "", {2, 3, 1, 13}},
                                   {"nearest", "asymmetric", "floor", {2, 3, 14, 4}},
                                   {"nearest", "half_pixel", "round_prefer_floor", {2, 3, 3, 27}},
                                   {"nearest", "align_corners", "ceil", {2, 3, 22, 9}}};
  size_t cpu_cases = 0;
  for (const Case& k : cases) {
    const std::string what =
        std::string(k.mode) + " " + k.coord + " " + k.nearest + ::testing::PrintToString(k.sizes);
    SCOPED_TRACE(what);
    Net n;
    n.b.input("x", DType::f32, {2, 3, 7, 9});
    std::map<std::string, Attribute> attrs = {
        {"mode", attr_string(k.mode)}, {"coordinate_transformation_mode", attr_string(k.coord)}};
    if (*k.nearest) attrs["nearest_mode"] = attr_string(k.nearest);
    n.out(n.op("Resize", {"x", "", "", n.constant(Tensor::from_vector<int64_t>({4}, k.sizes))},
               attrs),
          "y");
    std::mt19937 rng(21);
    Compiled c = check_network(n, {random_tensor({2, 3, 7, 9}, rng)}, 1e-6, what);
    // oneDNN's resampling takes the modes it has; align_corners is always ours.
    EXPECT_EQ(c.count("Resize", "ref"), 0u) << c.all();
    if (std::string(k.coord) == "align_corners") {
      EXPECT_EQ(c.count("Resize", "cpu"), 1u) << c.all();
    }
    cpu_cases += c.count("Resize", "cpu");
  }
  EXPECT_GE(cpu_cases, 3u);
}

TEST(Patterns, NonOverlappingConvTransposeIsA1x1ConvAndDepthToSpace) {
  // Kernel == stride (2, 3, and the 1x1 stride-1 case), with and without bias, output channels a
  // multiple of 16 or not, a ReLU after it (moves into the conv through the DepthToSpace):
  // between two convs (blocked) and on the graph input (plain). An overlapping 3x3/2 stays a
  // deconvolution.
  struct Case {
    int64_t s, cin, cout;
    bool bias, relu;
  };
  for (const Case& k : {Case{2, 20, 32, true, false}, Case{2, 20, 20, true, true},
                        Case{3, 16, 16, false, true}, Case{1, 20, 24, true, false}}) {
    const std::string what = "s " + std::to_string(k.s) + " cout " + std::to_string(k.cout);
    SCOPED_TRACE(what);
    Net n;
    n.b.input("x", DType::f32, {2, k.cin, 5, 7});
    auto deconv = [&](const std::string& v) {
      std::vector<std::string> in = {
          v, n.constant(random_tensor({k.cin, k.cout, k.s, k.s}, n.rng, -0.3f, 0.3f))};
      if (k.bias) in.push_back(n.constant(random_tensor({k.cout}, n.rng, -0.2f, 0.2f)));
      return n.op("ConvTranspose", in,
                  {{"kernel_shape", attr_ints({k.s, k.s})}, {"strides", attr_ints({k.s, k.s})}});
    };
    std::string up = deconv(n.conv("x", k.cin, k.cin, 3));
    if (k.relu) up = n.op("Relu", {up});
    n.out(n.conv(up, k.cout, 8, 3), "y1");
    n.out(deconv("x"), "y2");
    std::mt19937 rng(18);
    Compiled c = check_network(n, {random_tensor({2, k.cin, 5, 7}, rng)}, 2e-4, what);
    EXPECT_TRUE(has(c.plan, "deconvolutions as conv + DepthToSpace 2;")) << c.all();
    EXPECT_EQ(c.count("ConvTranspose"), 0u) << c.all();
    EXPECT_EQ(c.count("DepthToSpace", "cpu"), k.s > 1 ? 2u : 0u) << c.all();
    EXPECT_EQ(c.count("Relu"), 0u) << c.all();
  }
  Net n;
  n.b.input("x", DType::f32, {1, 16, 5, 6});
  n.out(n.op("ConvTranspose", {"x", n.constant(random_tensor({16, 16, 3, 3}, n.rng, -0.3f, 0.3f))},
             {{"kernel_shape", attr_ints({3, 3})},
              {"strides", attr_ints({2, 2})},
              {"pads", attr_ints({1, 1, 1, 1})},
              {"output_padding", attr_ints({1, 1})}}),
        "y");
  std::mt19937 rng(19);
  Compiled c = check_network(n, {random_tensor({1, 16, 5, 6}, rng)}, 2e-4, "overlapping");
  EXPECT_TRUE(has(c.plan, "deconvolutions as conv + DepthToSpace 0;")) << c.all();
  EXPECT_EQ(c.count("ConvTranspose", "dnnl"), 1u) << c.all();
}

TEST(Patterns, InstanceAndGroupNormOnTheCpuKernel) {
  // InstanceNorm on a rank-4 input whose values sit far from zero (mean 100, spread 1: a one-pass
  // variance would cancel), and GroupNorm as PyTorch exports it (Reshape [N, G, -1] ->
  // InstanceNormalization -> Reshape -> Mul -> Add) followed by Mish.
  Net n;
  n.b.input("x", DType::f32, {2, 6, 33, 35});
  n.out(n.op("InstanceNormalization",
             {"x", n.constant(random_tensor({6}, n.rng, 0.5f, 1.5f)),
              n.constant(random_tensor({6}, n.rng))},
             {{"epsilon", attr_float(1e-5f)}}),
        "y1");
  n.b.input("u", DType::f32, {2, 12, 9, 7});
  std::string g = n.op("Reshape", {"u", n.constant(Tensor::from_vector<int64_t>({3}, {2, 4, -1}))});
  g = n.op("InstanceNormalization", {g, n.constant(filled({4}, 1.f)), n.constant(filled({4}, 0.f))},
           {{"epsilon", attr_float(1e-5f)}});
  g = n.op("Reshape", {g, n.constant(Tensor::from_vector<int64_t>({4}, {2, 12, 9, 7}))});
  g = n.op("Mul", {g, n.constant(random_tensor({12, 1, 1}, n.rng, 0.5f, 1.5f))});
  g = n.op("Add", {g, n.constant(random_tensor({12, 1, 1}, n.rng))});
  n.out(n.op("Mul", {g, n.op("Tanh", {n.op("Softplus", {g})})}), "y2");
  std::mt19937 rng(17);
  Tensor x = random_tensor({2, 6, 33, 35}, rng, 99.f, 101.f);
  Compiled c = check_network(n, {x, random_tensor({2, 12, 9, 7}, rng, -3.f, 3.f)}, 1e-4);
  EXPECT_EQ(c.count("InstanceNormalization", "cpu"), 2u) << c.all();
  EXPECT_EQ(c.count("visionrt.ScaleShift", "cpu"), 1u) << c.all();
}

TEST(Patterns, TinyChannelMapsStayPlain) {
  // A 1-channel map at the end of a blocked network (PP-OCR's text probability map: ConvTranspose
  // -> BatchNorm -> Sigmoid) is written plain, not as nChw16c with 15 padded lanes of 16; a
  // 2-channel conv head likewise (maps of 1024 values and more; small ones stay blocked).
  Net n;
  n.b.input("x", DType::f32, {1, 8, 33, 35});
  std::string f = n.conv(n.conv("x", 8, 24, 3), 24, 24, 3);
  std::string d = n.fresh("deconv");
  n.b.node("ConvTranspose", {f, n.constant(random_tensor({24, 1, 2, 2}, n.rng, -0.3f, 0.3f))}, {d},
           {{"strides", attr_ints({2, 2})}, {"kernel_shape", attr_ints({2, 2})}});
  n.out(n.op("Sigmoid", {n.bn(d, 1)}), "y1");
  n.out(n.conv(f, 24, 2, 1), "y2");
  std::mt19937 rng(18);
  Compiled c = check_network(n, {random_tensor({1, 8, 33, 35}, rng)});
  if (!blocked_layouts()) return;
  for (const char* op : {"ConvTranspose", "visionrt.ScaleShift"})
    for (const std::string& l : c.layouts(op)) EXPECT_FALSE(has(l, "nChw")) << op << c.all();
  size_t plain_out = 0;
  for (const std::string& l : c.layouts("Conv")) plain_out += has(l, "-> nchw");
  EXPECT_EQ(plain_out, 1u) << c.all();
}

TEST(Patterns, LongReductionsKeepTheirDigits) {
  // 70,000 values near 100: a float running sum would drift; the token mean of [1, 197, 64] over
  // axis 1 (inner 64), max and min over a long last axis.
  Net n;
  n.b.input("x", DType::f32, {2, 70000});
  n.b.input("t", DType::f32, {1, 197, 64});
  n.out(n.op("ReduceMean", {"x"}, {{"axes", attr_ints({1})}}), "m");
  n.out(n.op("ReduceSum", {"x", n.axes({-1})}), "s");
  n.out(n.op("ReduceMax", {"x"}, {{"axes", attr_ints({1})}, {"keepdims", attr_int(0)}}), "mx");
  n.out(n.op("ReduceMin", {"x"}, {{"axes", attr_ints({1})}}), "mn");
  n.out(n.op("ReduceMean", {"t"}, {{"axes", attr_ints({1})}, {"keepdims", attr_int(0)}}), "tm");
  std::mt19937 rng(19);
  Compiled c = check_network(
      n, {random_tensor({2, 70000}, rng, 99.f, 101.f), random_tensor({1, 197, 64}, rng)}, 1e-6);
  for (const char* op : {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin"})
    EXPECT_EQ(c.count(op, "ref"), 0u) << op << c.all();
}

TEST(Patterns, MaxAndMinReductionsPropagateNaN) {
  // NumPy's maximum.reduce (the ONNX reference) returns NaN for a row holding one, wherever it
  // sits: first value, inside a 16-lane group, in the scalar tail, or only in a later chunk.
  Net n;
  n.b.input("x", DType::f32, {5, 2100});
  n.out(n.op("ReduceMax", {"x"}, {{"axes", attr_ints({1})}, {"keepdims", attr_int(0)}}), "mx");
  n.out(n.op("ReduceMin", {"x"}, {{"axes", attr_ints({1})}, {"keepdims", attr_int(0)}}), "mn");
  std::mt19937 rng(3);
  Tensor x = random_tensor({5, 2100}, rng, -1.f, 1.f);
  float* v = x.data<float>();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  v[0 * 2100 + 0] = nan;
  v[1 * 2100 + 17] = nan;
  v[2 * 2100 + 2099] = nan;  // 2100 = 131 * 16 + 4: the scalar tail
  v[3 * 2100 + 2050] = nan;  // the second chunk only
  v[4 * 2100 + 5] = 7.f;     // no NaN: the plain maximum
  Compiled c = fast_run(n.b.serialize(), {x}, 1);
  ASSERT_EQ(c.outputs.size(), 2u);
  for (int o = 0; o < 2; ++o) {
    const float* y = c.outputs[o].data<float>();
    for (int r = 0; r < 4; ++r) EXPECT_TRUE(std::isnan(y[r])) << "output " << o << " row " << r;
    EXPECT_FALSE(std::isnan(y[4]));
  }
  EXPECT_EQ(c.outputs[0].data<float>()[4], 7.f);
  EXPECT_EQ(c.count("ReduceMax", "ref"), 0u) << c.all();
}

TEST(Patterns, BatchNormAfterTransposedConvFolds) {
  // A decoder's upsampling: ConvTranspose (grouped: weights [C_in, C_out/group, k, k], output
  // channel (ci / (C_in/group)) * (C_out/group) + j) followed by BatchNormalization, and one
  // followed by a per-channel Mul: both fold into the deconvolution's weights and bias (the
  // second, 2x2 stride 2, then becomes a 1x1 conv and DepthToSpace: folding runs first).
  Net n;
  n.b.input("x", DType::f32, {1, 6, 9, 11});
  std::string d1 = n.fresh("deconv"), d2 = n.fresh("deconv");
  n.b.node("ConvTranspose",
           {"x", n.constant(random_tensor({6, 4, 3, 3}, n.rng, -0.3f, 0.3f)),
            n.constant(random_tensor({8}, n.rng))},
           {d1},
           {{"strides", attr_ints({2, 2})},
            {"kernel_shape", attr_ints({3, 3})},
            {"group", attr_int(2)}});
  n.out(n.bn(d1, 8), "y1");
  n.b.node("ConvTranspose", {"x", n.constant(random_tensor({6, 5, 2, 2}, n.rng, -0.3f, 0.3f))},
           {d2}, {{"strides", attr_ints({2, 2})}, {"kernel_shape", attr_ints({2, 2})}});
  n.out(n.op("Mul", {d2, n.constant(random_tensor({1, 5, 1, 1}, n.rng, 0.5f, 2.f))}), "y2");
  std::mt19937 rng(20);
  Compiled c = check_network(n, {random_tensor({1, 6, 9, 11}, rng)});
  EXPECT_EQ(c.count("ConvTranspose"), 1u) << c.all();
  EXPECT_TRUE(has(c.plan, "deconvolutions as conv + DepthToSpace 1;")) << c.all();
  for (const char* op : {"BatchNormalization", "visionrt.ScaleShift", "Mul"})
    EXPECT_EQ(c.count(op), 0u) << op << c.all();
}
