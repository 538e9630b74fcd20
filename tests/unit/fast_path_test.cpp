// The compiled fast path (fusions, blocked layouts, oneDNN and own kernels, in-place Concat and
// Split, the static memory plan) against an independent reference: the same ONNX graph executed
// node by node with the reference kernels (double precision, no passes). Networks are built in
// code with awkward shapes: odd sizes, batch > 1, channels that are not multiples of 8/16, 1x1
// spatial maps, large dilations. Also the memory planner on hand-computed and random cases.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/cpu/activation_loop.hpp"
#include "kernels/cpu/qdw_conv.hpp"
#include "kernels/kernel.hpp"
#include "kernels/node_runner.hpp"
#include "onnx/builder.hpp"
#include "passes/passes.hpp"
#include "runtime/memory_plan.hpp"
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

// Builds networks layer by layer with seeded weights.
struct Net {
  ModelBuilder b{17};
  std::mt19937 rng{7};
  int next = 0;
  std::string fresh(const std::string& p) { return p + std::to_string(next++); }

  std::string conv(const std::string& x, int64_t cin, int64_t cout, int64_t k, int64_t stride = 1,
                   int64_t pad = -1, int64_t group = 1, int64_t dil = 1, bool bias = true) {
    if (pad < 0) pad = dil * (k - 1) / 2;
    std::string w = fresh("w"), bn = fresh("b"), y = fresh("conv");
    float scale = 1.0f / std::sqrt(static_cast<float>(cin / group * k * k));
    b.initializer(w, random_tensor({cout, cin / group, k, k}, rng, -scale, scale));
    std::vector<std::string> ins = {x, w};
    if (bias) {
      b.initializer(bn, random_tensor({cout}, rng, -0.2f, 0.2f));
      ins.push_back(bn);
    }
    b.node("Conv", ins, {y},
           {{"kernel_shape", attr_ints({k, k})},
            {"strides", attr_ints({stride, stride})},
            {"pads", attr_ints({pad, pad, pad, pad})},
            {"dilations", attr_ints({dil, dil})},
            {"group", attr_int(group)}});
    return y;
  }
  std::string op(const std::string& type, const std::vector<std::string>& ins,
                 std::map<std::string, Attribute> attrs = {}) {
    std::string y = fresh(type);
    b.node(type, ins, {y}, attrs);
    return y;
  }
  std::string silu(const std::string& x) { return op("Mul", {x, op("Sigmoid", {x})}); }
  std::string hswish(const std::string& x) {
    return op("Mul", {x, op("HardSigmoid", {x}, {{"alpha", attr_float(1.0f / 6)}})});
  }
  std::string constant(const Tensor& t) {
    std::string n = fresh("c");
    b.initializer(n, t);
    return n;
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

// Outputs of `got` farther than `tol` from `want` (same shape); *worst gets the largest gap.
size_t count_differing(const Tensor& got, const Tensor& want, double tol, double* worst = nullptr) {
  size_t off = 0;
  double w = 0;
  for (size_t i = 0; i < want.numel(); ++i) {
    double d = std::fabs(got.at_f64(i) - want.at_f64(i));
    w = std::max(w, d);
    off += d > tol;
  }
  if (worst) *worst = w;
  return off;
}

// Decisions that chose `kernel` (": cpu"), only for nodes of the given op types when given.
size_t count_chosen(const std::vector<std::string>& decisions, const std::string& kernel,
                    const std::vector<std::string>& ops = {}) {
  size_t n = 0;
  for (const std::string& d : decisions) {
    bool op_ok = ops.empty();
    for (const std::string& op : ops) op_ok = op_ok || d.find(op) == 0;
    n += op_ok && d.find(kernel) != std::string::npos;
  }
  return n;
}

// Every output bit-identical to the reference's (same shape and type).
void expect_bit_identical(const std::vector<Tensor>& got, const std::vector<Tensor>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t o = 0; o < want.size(); ++o) {
    ASSERT_EQ(got[o].shape(), want[o].shape()) << "output " << o;
    ASSERT_EQ(got[o].dtype(), want[o].dtype()) << "output " << o;
    EXPECT_EQ(0, std::memcmp(got[o].raw(), want[o].raw(), want[o].nbytes())) << "output " << o;
  }
}

struct Compiled {
  std::vector<Tensor> outputs;
  std::string plan;
  std::vector<std::string> decisions;
};

Compiled fast_run(const std::string& bytes, const std::vector<Tensor>& inputs, int threads,
                  const std::string& precision = "f32") {
  Core core;
  CompiledModel cm = core.compile_model(
      core.read_model_from_memory(bytes, "fast.onnx"),
      {{"INFERENCE_NUM_THREADS", std::to_string(threads)}, {"INFERENCE_PRECISION", precision}});
  EXPECT_EQ(cm.get_property("INFERENCE_PRECISION"), precision);
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

// Compiles, runs with 1 and 2 threads, compares with the reference; returns the plan summary.
std::string check_network(Net& net, const std::vector<Tensor>& inputs, double tol = 2e-4,
                          const std::string& precision = "f32") {
  std::string bytes = net.b.serialize();
  std::vector<Tensor> want = reference_run(bytes, inputs);
  std::string plan;
  for (int threads : {1, 2}) {
    Compiled c = fast_run(bytes, inputs, threads, precision);
    EXPECT_EQ(c.outputs.size(), want.size());
    for (size_t i = 0; i < want.size() && i < c.outputs.size(); ++i)
      expect_close(c.outputs[i], want[i], tol, "output " + std::to_string(i));
    plan = c.plan;
  }
  return plan;
}

bool blocked_layouts() { return preferred_layout_block() > 0; }

// YOLOv8's building blocks after input "x" (3 channels): a stride-2 SiLU stem with `stem`
// channels, a C2f (1x1 conv to 32, Split 16/16, residual bottleneck, Concat, 1x1 conv to 40),
// SPPF's 5x5 MaxPool and a nearest Resize x2. Returns the resized 40-channel map.
std::string yolo_blocks(Net& n, int64_t stem) {
  std::string a = n.silu(n.conv("x", 3, stem, 3, 2));
  std::string c1 = n.silu(n.conv(a, stem, 32, 1));
  std::string s0 = n.fresh("split"), s1 = n.fresh("split");
  n.b.initializer("splits", Tensor::from_vector<int64_t>({2}, {16, 16}));
  n.b.node("Split", {c1, "splits"}, {s0, s1}, {{"axis", attr_int(1)}});
  std::string m = n.op("Add", {s1, n.silu(n.conv(n.silu(n.conv(s1, 16, 16, 3)), 16, 16, 3))});
  std::string cat = n.op("Concat", {s0, s1, m}, {{"axis", attr_int(1)}});
  std::string c2 = n.silu(n.conv(cat, 48, 40, 1));
  std::string p = n.op("MaxPool", {c2},
                       {{"kernel_shape", attr_ints({5, 5})}, {"pads", attr_ints({2, 2, 2, 2})}});
  std::string up =
      n.op("Resize", {p, "", n.constant(Tensor::from_vector<float>({4}, {1, 1, 2, 2}))},
           {{"mode", attr_string("nearest")},
            {"coordinate_transformation_mode", attr_string("asymmetric")},
            {"nearest_mode", attr_string("floor")}});
  return up;
}

}  // namespace

TEST(FastPath, YoloStyleBlocksMatchReference) {
  // Batch 2 and odd spatial size: Concat cannot be in place, channels 24/40 are not multiples
  // of 16; SiLU patterns, residual Add, Split, MaxPool (SPPF), nearest Resize x2.
  Net n;
  n.b.input("x", DType::f32, {2, 3, 23, 19});
  std::string up = yolo_blocks(n, 24);  // 12x10, then x2
  std::string out = n.conv(up, 40, 7, 3, 1, 1);
  n.b.node("Identity", {out}, {"y"});
  n.b.output("y", DType::f32);
  std::mt19937 rng(1);
  std::string plan = check_network(n, {random_tensor({2, 3, 23, 19}, rng)});
  EXPECT_NE(plan.find("fused: 5 activations, 1 sums"), std::string::npos) << plan;
  if (blocked_layouts()) {
    EXPECT_EQ(plan.find("blocked-layout nodes 0,"), std::string::npos) << plan;
  }
}

TEST(FastPath, C2fInPlaceMatchesReference) {
  Net n;
  n.b.input("x", DType::f32, {1, 8, 16, 16});
  std::string c1 = n.silu(n.conv("x", 8, 32, 3));
  std::string s0 = n.fresh("split"), s1 = n.fresh("split");
  n.b.initializer("splits", Tensor::from_vector<int64_t>({2}, {16, 16}));
  n.b.node("Split", {c1, "splits"}, {s0, s1}, {{"axis", attr_int(1)}});
  std::string m = n.silu(n.conv(s1, 16, 16, 3));
  std::string cat = n.op("Concat", {s0, s1, m}, {{"axis", attr_int(1)}});
  std::string out = n.silu(n.conv(cat, 48, 16, 1));
  n.b.node("Concat", {out, m}, {"y"}, {{"axis", attr_int(1)}});
  n.b.output("y", DType::f32);
  std::mt19937 rng(2);
  std::string plan = check_network(n, {random_tensor({1, 8, 16, 16}, rng)});
  EXPECT_NE(plan.find("(2 Concat/Split in place)"), std::string::npos) << plan;
}

TEST(FastPath, MobileNetV3StyleBlocksMatchReference) {
  // Hard-swish patterns, depthwise conv with 24 channels, squeeze-excite (1x1 spatial maps,
  // HardSigmoid fused, broadcast Mul), ReLU6 as Clip, LeakyRelu, bilinear align_corners Resize.
  Net n;
  n.b.input("x", DType::f32, {1, 3, 33, 29});
  std::string a = n.hswish(n.conv("x", 3, 24, 3, 2));                // 17x15
  std::string dw = n.op("Relu", {n.conv(a, 24, 24, 5, 1, -1, 24)});  // depthwise
  std::string gap = n.op("GlobalAveragePool", {dw});
  std::string se = n.op("HardSigmoid", {n.conv(n.op("Relu", {n.conv(gap, 24, 8, 1)}), 8, 24, 1)},
                        {{"alpha", attr_float(0.2f)}, {"beta", attr_float(0.5f)}});
  std::string scaled = n.op("Mul", {dw, se});
  std::string proj = n.op("Add", {n.conv(scaled, 24, 24, 1), a});
  std::string r6 = n.op("Clip", {n.conv(proj, 24, 20, 3), n.constant(Tensor::scalar(0.0f)),
                                 n.constant(Tensor::scalar(6.0f))});
  std::string lk =
      n.op("LeakyRelu", {n.conv(r6, 20, 20, 3, 1, -1, 1, 3)}, {{"alpha", attr_float(0.1f)}});
  std::string el = n.op("Elu", {n.conv(lk, 20, 12, 1)});
  std::string th = n.op("Tanh", {n.conv(el, 12, 12, 1)});
  n.b.node("Resize", {th, "", "", n.constant(Tensor::from_vector<int64_t>({4}, {1, 12, 33, 29}))},
           {"y"},
           {{"mode", attr_string("linear")},
            {"coordinate_transformation_mode", attr_string("align_corners")}});
  n.b.output("y", DType::f32);
  std::mt19937 rng(3);
  std::string plan = check_network(n, {random_tensor({1, 3, 33, 29}, rng)});
  EXPECT_NE(plan.find("fused: 8 activations, 1 sums"), std::string::npos) << plan;
}

TEST(FastPath, DeconvSoftmaxTransposeAndDilationMatchReference) {
  Net n;
  n.b.input("x", DType::f32, {1, 32, 9, 9});
  // Dilation 6 on a 9x9 map: oneDNN has no blocked jit kernel, the conv runs staged in NHWC.
  std::string d = n.op("Relu", {n.conv("x", 32, 16, 3, 1, 6, 1, 6)});
  std::string w = n.fresh("wt");
  n.b.initializer(w, random_tensor({16, 8, 2, 2}, n.rng, -0.3f, 0.3f));
  std::string up = n.fresh("deconv");
  n.b.node("ConvTranspose", {d, w, n.constant(random_tensor({8}, n.rng))}, {up},
           {{"strides", attr_ints({2, 2})}, {"kernel_shape", attr_ints({2, 2})}});
  std::string sg = n.op("Sigmoid", {up});  // 1x8x18x18
  std::string r =
      n.op("Reshape", {sg, n.constant(Tensor::from_vector<int64_t>({4}, {1, 8, 2, 162}))});
  std::string sm = n.op("Softmax", {r}, {{"axis", attr_int(1)}});     // strided axis: own kernel
  std::string sm2 = n.op("Softmax", {sm}, {{"axis", attr_int(-1)}});  // innermost: oneDNN
  n.b.node("Transpose", {sm2}, {"y"}, {{"perm", attr_ints({0, 3, 1, 2})}});
  n.b.output("y", DType::f32);
  std::mt19937 rng(4);
  check_network(n, {random_tensor({1, 32, 9, 9}, rng, -2.f, 2.f)});
}

TEST(FastPath, EveryFusedActivationMatchesReference) {
  struct A {
    const char* op;
    std::map<std::string, Attribute> attrs;
  };
  std::vector<A> acts = {{"Relu", {}},
                         {"LeakyRelu", {{"alpha", attr_float(0.2f)}}},
                         {"Sigmoid", {}},
                         {"Tanh", {}},
                         {"HardSwish", {}},
                         {"HardSigmoid", {{"alpha", attr_float(0.3f)}, {"beta", attr_float(0.4f)}}},
                         {"Elu", {{"alpha", attr_float(0.7f)}}}};
  for (const A& a : acts) {
    Net n;
    n.b.input("x", DType::f32, {1, 5, 7, 6});
    // Residual first, then the activation: [sum, act] post-op order.
    std::string c = n.conv("x", 5, 5, 3);
    std::string s = n.op("Add", {c, "x"});
    n.b.node(a.op, {s}, {"y"}, a.attrs);
    n.b.output("y", DType::f32);
    std::mt19937 rng(5);
    std::string plan = check_network(n, {random_tensor({1, 5, 7, 6}, rng, -3.f, 3.f)});
    EXPECT_NE(plan.find("fused: 1 activations, 1 sums"), std::string::npos) << a.op << ": " << plan;
  }
}

TEST(FastPath, PlainLayoutsFallBackForNonFloatAndDynamicGraphs) {
  // A dynamic batch: no static plan for the dependent nodes, reference kernels where oneDNN
  // declines; still correct.
  Net n;
  n.b.input("x", DType::f32, {-1, 4, 6, 6}, {"batch"});
  std::string c = n.op("Relu", {n.conv("x", 4, 6, 3)});
  n.b.node("MaxPool", {c}, {"y"},
           {{"kernel_shape", attr_ints({2, 2})}, {"strides", attr_ints({2, 2})}});
  n.b.output("y", DType::f32);
  std::mt19937 rng(6);
  std::string plan = check_network(n, {random_tensor({3, 4, 6, 6}, rng)});
  EXPECT_NE(plan.find("dynamic"), std::string::npos) << plan;
}

TEST(MemoryPlan, HandComputedChain) {
  // Three 100-byte buffers in a chain (each read by the next step): 0 and 2 can share.
  MemoryPlan p = plan_memory({{100, 0, 1}, {100, 1, 2}, {100, 2, 3}});
  EXPECT_EQ(p.arena_bytes, 256u);  // two 128-byte (64-aligned) slots
  EXPECT_EQ(p.lower_bound, 256u);
  EXPECT_EQ(p.offsets[0], p.offsets[2]);
  EXPECT_NE(p.offsets[0], p.offsets[1]);
  // Best fit: a small late buffer goes into the smallest gap that holds it.
  MemoryPlan q = plan_memory({{1000, 0, 0}, {200, 0, 2}, {100, 1, 2}});
  EXPECT_EQ(q.offsets[2], q.offsets[0]);  // reuses the dead 1000-byte slot
}

TEST(MemoryPlan, RandomPlansNeverOverlapLiveBuffers) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<BufferRequest> reqs;
    int n = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) {
      int first = static_cast<int>(rng() % 30);
      reqs.push_back({1 + rng() % 5000, first, first + static_cast<int>(rng() % 6)});
    }
    MemoryPlan p = plan_memory(reqs);
    EXPECT_GE(p.arena_bytes, p.lower_bound);
    for (int i = 0; i < n; ++i) {
      EXPECT_EQ(p.offsets[i] % 64, 0u);
      EXPECT_LE(p.offsets[i] + reqs[i].bytes, p.arena_bytes);
      for (int j = i + 1; j < n; ++j) {
        bool live_together = !(reqs[i].last < reqs[j].first || reqs[j].last < reqs[i].first);
        bool disjoint = p.offsets[i] + reqs[i].bytes <= p.offsets[j] ||
                        p.offsets[j] + reqs[j].bytes <= p.offsets[i];
        if (live_together) {
          EXPECT_TRUE(disjoint) << "trial " << trial << " buffers " << i << "," << j;
        }
      }
    }
  }
}

TEST(FastPath, BatchNormAndPerChannelAffineFoldIntoConv) {
  Net n;
  n.b.input("x", DType::f32, {2, 6, 11, 9});
  std::mt19937& r = n.rng;
  // Conv without bias -> BatchNormalization -> Relu.
  std::string c = n.conv("x", 6, 12, 3, 1, -1, 1, 1, /*bias=*/false);
  std::string bn =
      n.op("BatchNormalization",
           {c, n.constant(random_tensor({12}, r, 0.5f, 1.5f)), n.constant(random_tensor({12}, r)),
            n.constant(random_tensor({12}, r)), n.constant(random_tensor({12}, r, 0.1f, 2.0f))},
           {{"epsilon", attr_float(1e-3f)}});
  std::string a = n.op("Relu", {bn});
  // Conv -> Mul [1,C,1,1] -> Add [C,1,1] -> Sub scalar -> Div [1,C,1,1] -> Sigmoid.
  std::string c2 = n.conv(a, 12, 8, 1);
  std::string m = n.op("Mul", {n.constant(random_tensor({1, 8, 1, 1}, r)), c2});
  std::string ad = n.op("Add", {m, n.constant(random_tensor({8, 1, 1}, r))});
  std::string sb = n.op("Sub", {ad, n.constant(Tensor::scalar(0.25f))});
  std::string dv = n.op("Div", {sb, n.constant(random_tensor({1, 8, 1, 1}, r, 0.5f, 2.f))});
  // Not foldable: a [W]-shaped constant broadcasts along the width, not the channels.
  std::string w = n.op("Mul", {n.op("Sigmoid", {dv}), n.constant(random_tensor({9}, r))});
  n.b.node("Identity", {w}, {"y"});
  n.b.output("y", DType::f32);
  std::mt19937 rng(8);
  std::string plan = check_network(n, {random_tensor({2, 6, 11, 9}, rng)});
  EXPECT_NE(plan.find("folded into conv: 5 BatchNorm/affine"), std::string::npos) << plan;
}

TEST(FastPath, MatMulAndGemmMatchReference) {
  Net n;
  n.b.input("a", DType::f32, {2, 3, 5, 7});
  n.b.input("b", DType::f32, {3, 7, 6});
  std::mt19937& r = n.rng;
  // Constant B (prepacked) broadcast over batch dims; variable B with broadcasting batch.
  std::string m1 = n.op("MatMul", {"a", n.constant(random_tensor({7, 4}, r))});  // [2,3,5,4]
  std::string m2 = n.op("MatMul", {"a", "b"});                                   // [2,3,5,6]
  n.b.node("Identity", {m1}, {"y1"});
  n.b.node("Identity", {m2}, {"y2"});
  // Gemm: transA with a [N] bias; transB (PyTorch Linear) with an [M,1] bias.
  std::string f = n.op("Reshape", {m2, n.constant(Tensor::from_vector<int64_t>({2}, {6, 30}))});
  std::string g1 =
      n.op("Gemm", {f, n.constant(random_tensor({6, 9}, r)), n.constant(random_tensor({9}, r))},
           {{"transA", attr_int(1)}});  // [30,9]
  n.b.node("Gemm",
           {g1, n.constant(random_tensor({5, 9}, r)), n.constant(random_tensor({30, 1}, r))},
           {"y3"}, {{"transB", attr_int(1)}});  // [30,5]
  for (const char* o : {"y1", "y2", "y3"}) n.b.output(o, DType::f32);
  std::mt19937 rng(9);
  std::string bytes = n.b.serialize();
  std::vector<Tensor> in = {random_tensor({2, 3, 5, 7}, rng), random_tensor({3, 7, 6}, rng)};
  check_network(n, in);
  Compiled c = fast_run(bytes, in, 1);
  size_t dnnl_matmuls = 0;
  for (const auto& d : c.decisions)
    if ((d.rfind("MatMul", 0) == 0 || d.rfind("Gemm", 0) == 0) &&
        d.find(": dnnl") != std::string::npos)
      ++dnnl_matmuls;
  EXPECT_EQ(dnnl_matmuls, 4u);
}

TEST(FastPath, YoloV5HeadActivationThroughLayoutOpsAndConcatThroughViews) {
  // Two detection heads as YOLOv5 exports them: Conv -> Reshape -> Transpose -> Sigmoid ->
  // Reshape, concatenated along the box axis. The Sigmoid moves into the conv; the final Concat
  // is written in place through the Reshape views.
  Net n;
  n.b.input("x", DType::f32, {1, 8, 6, 5});
  auto head = [&](const std::string& in, int64_t h, int64_t w) {
    std::string c = n.conv(in, 8, 14, 1);
    std::string r =
        n.op("Reshape", {c, n.constant(Tensor::from_vector<int64_t>({5}, {1, 2, 7, h, w}))});
    std::string t = n.op("Transpose", {r}, {{"perm", attr_ints({0, 1, 3, 4, 2})}});
    std::string s = n.op("Sigmoid", {t});
    return n.op("Reshape", {s, n.constant(Tensor::from_vector<int64_t>({3}, {1, 2 * h * w, 7}))});
  };
  std::string a = head("x", 6, 5);
  std::string down = n.op("Relu", {n.conv("x", 8, 8, 3, 2)});  // 3x3
  std::string b2 = head(down, 3, 3);
  n.b.node("Concat", {a, b2}, {"y"}, {{"axis", attr_int(1)}});
  n.b.output("y", DType::f32);
  std::mt19937 rng(9);
  std::string plan = check_network(n, {random_tensor({1, 8, 6, 5}, rng)});
  EXPECT_NE(plan.find("fused: 3 activations"), std::string::npos) << plan;
  EXPECT_NE(plan.find("(1 Concat/Split in place)"), std::string::npos) << plan;
}

TEST(FastPath, InPlaceConcatOnTheReferenceKernelKeepsWhatItsInputsWrote) {
  // torchvision's RPN: per-level TopK indices plus level offsets, concatenated (int64, axis 1)
  // in place, rows too long for the short-row copy kernel. The reference Concat kernel zero-fills
  // its output before running; in place, that output is the inputs' data, and Mask R-CNN's
  // proposals were all index 0 until the fill was skipped for in-place nodes.
  Net n;
  n.b.input("x", DType::f32, {1, 3000});
  n.b.node("TopK", {"x", n.constant(Tensor::from_vector<int64_t>({1}, {1000}))}, {"v", "i"},
           {{"axis", attr_int(1)}});
  std::string shifted = n.op("Add", {"i", n.constant(Tensor::from_vector<int64_t>({1}, {100}))});
  std::string cat = n.op("Concat", {"i", shifted}, {{"axis", attr_int(1)}});
  std::string f = n.op("Cast", {cat}, {{"to", attr_int(1)}});
  n.b.node("Add", {f, n.constant(Tensor::scalar<float>(0.5f))}, {"y"});
  n.b.output("y", DType::f32);
  n.b.output("v", DType::f32);
  std::mt19937 rng(3);
  std::string plan = check_network(n, {random_tensor({1, 3000}, rng)}, 0.0);
  EXPECT_NE(plan.find("(1 Concat/Split in place)"), std::string::npos) << plan;
}

TEST(FastPath, WinogradConvolutionsMatchReference) {
  // 3x3 stride-1 convolutions with >= 32 input and >= 64 output channels run oneDNN's Winograd
  // kernels (blocked layouts only): ReLU as their post-op; SiLU, hard-swish and residuals
  // (before and after the activation) in the tail pass. Batch 2, odd sizes, channels that are
  // not multiples of 16 (72: ReLU post-op fine, a SiLU tail would hit oneDNN's partial-block
  // bug, so direct); a 3x3 with 16 input channels and one on a 1x1 map (weight-bound) stay
  // direct.
  Net n;
  n.b.input("x", DType::f32, {2, 40, 13, 11});
  std::string a = n.op("Relu", {n.conv("x", 40, 72, 3)});          // wino, ReLU post-op
  std::string b = n.silu(n.conv(a, 72, 64, 3));                    // wino, tail
  std::string c = n.op("Add", {b, n.silu(n.conv(b, 64, 64, 3))});  // wino, act then residual
  std::string d = n.op("Relu", {n.op("Add", {n.conv(c, 64, 64, 3), c})});  // wino, residual, act
  std::string e = n.hswish(n.conv(d, 64, 80, 3));                          // wino, tail
  std::string f = n.silu(n.conv(e, 80, 72, 3));                            // direct (72, SiLU)
  std::string g = n.conv(n.conv(f, 72, 16, 1), 16, 64, 3);                 // direct (16 in)
  std::string p = n.op("MaxPool", {g}, {{"kernel_shape", attr_ints({13, 11})}});
  std::string h = n.op("Relu", {n.conv(p, 64, 64, 3)});  // wino, 1x1 map
  n.b.node("Identity", {h}, {"y"});
  n.b.output("y", DType::f32);
  n.b.node("Identity", {e}, {"z"});
  n.b.output("z", DType::f32);
  std::mt19937 rng(11);
  Tensor x = random_tensor({2, 40, 13, 11}, rng);
  std::string plan = check_network(n, {x});
  // Every conv copied its weights into its kernel: the graph's copies are released.
  EXPECT_EQ(plan.find("weights copied into kernels 0.00 MiB"), std::string::npos) << plan;
  EXPECT_NE(plan.find("weights copied into kernels"), std::string::npos) << plan;
  const std::string bytes = n.b.serialize();
  auto winograd_convs = [&](std::vector<Tensor>* outs) {
    Core core;
    CompiledModel cm = core.compile_model(
        core.read_model_from_memory(bytes, "wino.onnx"),
        {{"INFERENCE_NUM_THREADS", "1"}, {"PERF_COUNT", "YES"}, {"INFERENCE_PRECISION", "f32"}});
    InferRequest r = cm.create_infer_request();
    r.set_input_tensor(0, x);
    r.infer();
    for (size_t i = 0; i < cm.outputs().size(); ++i)
      outs->push_back(r.get_output_tensor(i).clone());
    int count = 0;
    for (const ProfilingInfo& pi : r.get_profiling_info())
      count += pi.layout.find("wino") != std::string::npos;
    return count;
  };
  std::vector<Tensor> wino_out, direct_out;
  const int wino = winograd_convs(&wino_out);
  // oneDNN 2.6's Winograd kernels are AVX-512 ones (preferred_layout_block 16).
  if (blocked_layouts() && preferred_layout_block() == 16) {
    EXPECT_EQ(wino, 5);
  }
  // VISIONRT_WINOGRAD=0: direct kernels only, the same results within rounding.
  setenv("VISIONRT_WINOGRAD", "0", 1);
  const int none = winograd_convs(&direct_out);
  unsetenv("VISIONRT_WINOGRAD");
  EXPECT_EQ(none, 0);
  for (size_t i = 0; i < wino_out.size(); ++i)
    expect_close(wino_out[i], direct_out[i], 1e-4, "winograd against direct");
}

TEST(FastPath, TranscendentalConvActivationAsOwnPass) {
  // A conv's swish, tanh or ELU (after a residual sum) as oneDNN's post-op or as the own AVX-512
  // pass over the finished output (timed per layer; forced both ways here): the same results
  // within rounding, 20 channels (a partial 16-block whose zero lanes must stay zero), batch 2.
  // Sigmoid (sigmoid(0) != 0), an activation followed by a residual and the NHWC-staged first
  // conv (5 input channels) keep the post-op.
  Net n;
  n.b.input("x", DType::f32, {2, 5, 13, 11});
  std::string a = n.silu(n.conv(n.silu(n.conv("x", 5, 20, 3)), 20, 20, 1));
  std::string b = n.op("Tanh", {n.conv(a, 20, 20, 3, 1, -1, 20)});        // depthwise
  std::string c = n.op("Elu", {n.op("Add", {n.conv(b, 20, 20, 1), b})});  // sum, then act
  std::string d = n.op("Add", {n.silu(n.conv(c, 20, 20, 3)), c});         // act, then sum
  std::string e = n.op("Sigmoid", {n.conv(d, 20, 20, 1)});
  n.b.node("Conv", {e, n.constant(random_tensor({4, 20, 1, 1}, n.rng, -0.3f, 0.3f))}, {"y"});
  n.b.output("y", DType::f32);
  std::mt19937 rng(12);
  const Tensor x = random_tensor({2, 5, 13, 11}, rng, -3.f, 3.f);
  const std::string bytes = n.b.serialize();
  auto own_passes = [&](const char* force, std::vector<Tensor>* out) {
    setenv("VISIONRT_CONV_OWN_ACTIVATION", force, 1);
    Core core;
    CompiledModel cm = core.compile_model(
        core.read_model_from_memory(bytes, "own.onnx"),
        {{"INFERENCE_NUM_THREADS", "2"}, {"PERF_COUNT", "YES"}, {"INFERENCE_PRECISION", "f32"}});
    unsetenv("VISIONRT_CONV_OWN_ACTIVATION");
    InferRequest r = cm.create_infer_request();
    r.set_input_tensor(0, x);
    r.infer();
    out->push_back(r.get_output_tensor(0).clone());
    int count = 0;
    for (const ProfilingInfo& pi : r.get_profiling_info())
      count += pi.layout.find("(own pass)") != std::string::npos;
    return count;
  };
  std::vector<Tensor> own, post;
  const int forced = own_passes("1", &own);
  EXPECT_EQ(own_passes("0", &post), 0);
  const std::vector<Tensor> want = reference_run(bytes, {x});
  expect_close(own[0], want[0], 2e-5, "own passes");
  expect_close(post[0], want[0], 2e-5, "post-ops");
  if (blocked_layouts() && own_activation_in_place_available(Activation{Act::swish})) {
    EXPECT_EQ(forced, 3);
  }
}

TEST(FastPath, SqueezeExciteScaleStaysBlocked) {
  // MobileNetV3's squeeze-excitation: the [N,C,1,1] scale multiplies the blocked feature map
  // without reorders to plain and back. Batch 2, 40 channels (a partial 16-block).
  Net n;
  n.b.input("x", DType::f32, {2, 40, 9, 7});
  std::string dw = n.op("Relu", {n.conv("x", 40, 40, 3, 1, -1, 40)});
  std::string gap = n.op("GlobalAveragePool", {dw});
  std::string se = n.op("HardSigmoid", {n.conv(n.op("Relu", {n.conv(gap, 40, 16, 1)}), 16, 40, 1)},
                        {{"alpha", attr_float(1.0f / 6)}, {"beta", attr_float(0.5f)}});
  std::string out = n.conv(n.op("Mul", {dw, se}), 40, 24, 1);
  n.b.node("Identity", {out}, {"y"});
  n.b.output("y", DType::f32);
  std::mt19937 rng(12);
  std::string plan = check_network(n, {random_tensor({2, 40, 9, 7}, rng)});
  if (blocked_layouts()) {
    // Only the input's reorder to blocked and the output's to plain.
    EXPECT_NE(plan.find("reorders 2;"), std::string::npos) << plan;
  }
}

TEST(FastPath, HeadTransposesReadTheBlockedTensorOnce) {
  // Detection heads: YOLOv5's view(N,3,K,H,W).permute(0,1,3,4,2) and SSD's permute(0,2,3,1)
  // become one visionrt.ChannelsLast reading the conv's blocked output (no reorder to plain,
  // no separate transpose). Batch 2, odd sizes, 3 x 7 = 21 channels: runs cross 16-blocks.
  // A Transpose with another permutation keeps its reorder.
  Net n;
  n.b.input("x", DType::f32, {2, 8, 7, 5});
  std::string yolo = n.conv("x", 8, 21, 1);
  n.b.initializer("shape5", Tensor::from_vector<int64_t>({5}, {2, 3, 7, 7, 5}));
  n.b.node("Reshape", {yolo, "shape5"}, {"r5"});
  n.b.node("Transpose", {"r5"}, {"y1"}, {{"perm", attr_ints({0, 1, 3, 4, 2})}});
  std::string ssd = n.conv("x", 8, 20, 3);
  std::string t = n.op("Transpose", {ssd}, {{"perm", attr_ints({0, 2, 3, 1})}});
  n.b.initializer("shape3", Tensor::from_vector<int64_t>({3}, {2, -1, 4}));
  n.b.node("Reshape", {t, "shape3"}, {"y2"});
  std::string other = n.conv("x", 8, 18, 1);
  n.b.node("Transpose", {other}, {"y3"}, {{"perm", attr_ints({0, 1, 3, 2})}});
  for (const char* o : {"y1", "y2", "y3"}) n.b.output(o, DType::f32);
  std::mt19937 rng(13);
  Tensor x = random_tensor({2, 8, 7, 5}, rng);
  std::string plan = check_network(n, {x});
  Compiled c = fast_run(n.b.serialize(), {x}, 1);
  size_t fused = 0;
  for (const auto& d : c.decisions) fused += d.rfind("visionrt.ChannelsLast", 0) == 0;
  if (blocked_layouts()) {
    EXPECT_EQ(fused, 2u) << ::testing::PrintToString(c.decisions);
    // The input's reorder to blocked and the third head's reorder to plain.
    EXPECT_NE(plan.find("reorders 2;"), std::string::npos) << plan;
  }
}

// ---- INFERENCE_PRECISION bf16 ----

namespace {

// A YOLOv8-like network: stem from a 3-channel image, SiLU convolutions, a C2f block (Split,
// residual bottleneck, Concat), SPPF's MaxPool, a nearest Resize x2, a depthwise convolution,
// then a detection head (conv -> Concat -> Reshape -> Softmax, DFL-like 16-weight conv) and a
// conv output straight to the graph. Odd sizes and 24/40-channel maps (partial 16-blocks).
Net bf16_network(Shape in) {
  Net n;
  n.b.input("x", DType::f32, in);
  std::string up = yolo_blocks(n, 32);
  std::string dw = n.op("Relu", {n.conv(up, 40, 40, 3, 1, -1, 40)});
  std::string feat = n.silu(n.conv(dw, 40, 24, 3));
  // Head: 16 box bins per side -> softmax -> expectation by a 1x1 conv with 16 weights.
  std::string box = n.conv(feat, 24, 64, 1);
  std::string cls = n.conv(feat, 24, 8, 1);
  std::string head = n.op("Concat", {box, cls}, {{"axis", attr_int(1)}});
  n.b.output(head, DType::f32);
  n.b.initializer("box_shape", Tensor::from_vector<int64_t>({4}, {in[0], 4, 16, -1}));
  std::string r = n.op("Reshape", {box, "box_shape"});
  std::string sm =
      n.op("Transpose",
           {n.op("Softmax", {n.op("Transpose", {r}, {{"perm", attr_ints({0, 2, 1, 3})}})},
                 {{"axis", attr_int(1)}})},
           {{"perm", attr_ints({0, 2, 1, 3})}});
  std::string sm4 = n.op("Transpose", {sm}, {{"perm", attr_ints({0, 2, 1, 3})}});
  Tensor bins(DType::f32, {1, 16, 1, 1});
  for (int i = 0; i < 16; ++i) bins.data<float>()[i] = static_cast<float>(i);
  std::string dfl = n.fresh("dfl");
  n.b.node("Conv", {sm4, n.constant(bins)}, {dfl}, {{"kernel_shape", attr_ints({1, 1})}});
  n.b.output(dfl, DType::f32);
  return n;
}

}  // namespace

TEST(FastPath, Bf16NetworksMatchReference) {
  if (!cpu_supports_bf16()) GTEST_SKIP() << "this CPU has no AVX512-BF16 or AMX";
  Shape in = {2, 3, 23, 19};
  Net n = bf16_network(in);
  std::mt19937 rng(21);
  Tensor x = random_tensor(in, rng);
  // bf16 keeps 8 significant bits: outputs of values about 1 within 2e-2 (issue 13's bar),
  // against the double-precision reference, with 1 and 2 threads.
  std::string plan = check_network(n, {x}, 2e-2, "bf16");
  EXPECT_EQ(plan.find("bf16 conv/matmul nodes 0;"), std::string::npos) << plan;
  // The same network in f32 still matches at f32's tolerance (the precision is per compile).
  check_network(n, {x}, 2e-4, "f32");
}

TEST(FastPath, Bf16StaysBetweenConvolutionsAndLeavesDecodingF32) {
  if (!cpu_supports_bf16()) GTEST_SKIP() << "this CPU has no AVX512-BF16 or AMX";
  Net n = bf16_network({1, 3, 24, 20});
  auto g = load_model_bytes(n.b.serialize(), "bf16.onnx");
  run_default_passes(*g);
  CpuPassStats s = run_cpu_passes(*g, preferred_layout_block(), true);
  EXPECT_GE(s.bf16_compute, 6u);
  size_t bf16_values = 0;
  for (const Node& node : g->nodes) {
    const bool conv = node.op_type == "Conv" || node.op_type == "visionrt.FusedConv";
    const DType out = g->values[node.outputs[0]].type.dtype;
    bf16_values += out == DType::bf16;
    // Only convolutions, data movement, pooling, resampling, activations and reorders write
    // bf16; Softmax, Reshape, Transpose and the graph outputs read and write f32.
    if (out == DType::bf16) {
      EXPECT_TRUE(conv || node.op_type == "Split" || node.op_type == "Concat" ||
                  node.op_type == "MaxPool" || node.op_type == "Resize" || node.op_type == "Relu" ||
                  node.op_type == "visionrt.Reorder")
          << node.label() << " writes bf16";
    }
    if (node.op_type == "Softmax" || node.op_type == "Reshape" || node.op_type == "Transpose") {
      EXPECT_EQ(g->values[node.inputs[0]].type.dtype, DType::f32) << node.label();
    }
    // The head's convolutions (read by the Concat that only the output and a Reshape read)
    // and the 16-weight DFL convolution write f32.
    if (conv && node.inputs[1] >= 0 && g->values[node.inputs[1]].constant) {
      const Shape& w = g->values[node.inputs[1]].constant->shape();
      if (w[0] == 64 || w[0] == 8 || w[0] == 1) {
        EXPECT_EQ(out, DType::f32) << node.label();
      }
      if (w[0] == 1) {
        EXPECT_EQ(g->values[node.inputs[0]].type.dtype, DType::f32) << node.label();
      }
    }
  }
  EXPECT_GE(bf16_values, 8u);
  for (int o : g->outputs) EXPECT_EQ(g->values[o].type.dtype, DType::f32);
}

TEST(FastPath, Bf16TransposedConvolutionFollowsItsOwnProbe) {
  // Conv -> ConvTranspose 3x3 stride 2 (an overlapping upsampling: a 2x2 one becomes a 1x1 conv
  // and DepthToSpace, passes/deconv_as_conv.cpp) -> Conv. Under bf16
  // the transposed convolution computes in bf16 only where this CPU's deconvolution probe
  // measures bf16 at least as fast as f32 (a machine whose convolutions gain may lose here), and
  // the network matches the reference either way.
  if (!cpu_supports_bf16()) GTEST_SKIP() << "this CPU has no AVX512-BF16 or AMX";
  Net n;
  const Shape in = {1, 16, 12, 10};
  n.b.input("x", DType::f32, in);
  std::string y = n.op("Relu", {n.conv("x", 16, 32, 3)});
  std::string up =
      n.op("ConvTranspose", {y, n.constant(random_tensor({32, 32, 3, 3}, n.rng, -0.2f, 0.2f))},
           {{"kernel_shape", attr_ints({3, 3})},
            {"strides", attr_ints({2, 2})},
            {"pads", attr_ints({1, 1, 1, 1})},
            {"output_padding", attr_ints({1, 1})}});
  n.b.output(n.conv(n.op("Relu", {up}), 32, 8, 3), DType::f32);
  auto g = load_model_bytes(n.b.serialize(), "deconv.onnx");
  run_default_passes(*g);
  run_cpu_passes(*g, preferred_layout_block(), true);
  const bool want_bf16 = bf16_deconv_speedup() >= 1.0;
  int seen = 0;
  for (const Node& node : g->nodes)
    if (node.op_type == "ConvTranspose") {
      ++seen;
      EXPECT_EQ(g->values[node.inputs[0]].type.dtype == DType::bf16, want_bf16)
          << "probe " << bf16_deconv_speedup();
    }
  EXPECT_EQ(seen, 1);
  std::mt19937 rng(5);
  check_network(n, {random_tensor(in, rng)}, 2e-2, "bf16");
}

TEST(FastPath, Bf16TransformerMlpKeepsTheResidualStreamF32) {
  if (!cpu_supports_bf16()) GTEST_SKIP() << "this CPU has no AVX512-BF16 or AMX";
  // A pre-norm transformer block's MLP on [2, 10, 32] tokens: LayerNormalization, Linear(32,
  // 64) + bias + GELU (Erf form), Linear(64, 32) + bias, residual Add; and an attention-style
  // product of two activations. The Linear layers run bf16; the residual stream, the layer norm
  // and the activation-by-activation product stay f32.
  Net n;
  n.b.input("x", DType::f32, {2, 10, 32});
  std::mt19937& r = n.rng;
  std::string ln = n.op(
      "LayerNormalization",
      {"x", n.constant(random_tensor({32}, r, 0.5f, 1.5f)), n.constant(random_tensor({32}, r))},
      {{"axis", attr_int(-1)}});
  std::string h =
      n.op("Add", {n.op("MatMul", {ln, n.constant(random_tensor({32, 64}, r, -0.2f, 0.2f))}),
                   n.constant(random_tensor({64}, r))});
  const float inv_sqrt2 = 0.70710678f;
  std::string erf = n.op("Erf", {n.op("Mul", {h, n.constant(Tensor::scalar<float>(inv_sqrt2))})});
  std::string gelu =
      n.op("Mul", {n.op("Mul", {h, n.op("Add", {erf, n.constant(Tensor::scalar<float>(1.f))})}),
                   n.constant(Tensor::scalar<float>(0.5f))});
  std::string o =
      n.op("Add", {n.op("MatMul", {gelu, n.constant(random_tensor({64, 32}, r, -0.2f, 0.2f))}),
                   n.constant(random_tensor({32}, r))});
  n.b.node("Add", {"x", o}, {"y"});
  std::string kt = n.op("Transpose", {ln}, {{"perm", attr_ints({0, 2, 1})}});
  n.b.node("MatMul", {ln, kt}, {"att"});
  n.b.output("y", DType::f32);
  n.b.output("att", DType::f32);
  std::mt19937 rng(23);
  std::vector<Tensor> in = {random_tensor({2, 10, 32}, rng)};
  std::string plan = check_network(n, in, 2e-2, "bf16");
  EXPECT_NE(plan.find("bf16 conv/matmul nodes 2;"), std::string::npos) << plan;

  auto g = load_model_bytes(n.b.serialize(), "mlp.onnx");
  run_default_passes(*g);
  run_cpu_passes(*g, preferred_layout_block(), true);
  for (const Node& node : g->nodes) {
    const DType in0 = g->values[node.inputs[0]].type.dtype;
    const DType out = g->values[node.outputs[0]].type.dtype;
    if (node.op_type == "visionrt.FusedMatMul") {
      // The first Linear writes bf16 for the second (GELU fused); the second writes f32.
      EXPECT_EQ(in0, DType::bf16) << node.label();
    } else if (node.op_type == "MatMul") {
      EXPECT_EQ(in0, DType::f32) << node.label() << ": activation x activation stays f32";
    } else if (node.op_type != "visionrt.Reorder") {
      EXPECT_EQ(out, DType::f32) << node.label();
    }
  }
}

TEST(FastPath, FewRowProductsByWeightsRunOnTheRowKernel) {
  // A classifier's last Linear at batch 1 and its relatives: the own kernel reading B as rows
  // (kernels/cpu/gemv.cpp) for up to 4 rows, oneDNN's matmul from 5 rows on. K and N not
  // multiples of 16; Gemm with alpha, beta, transB, transA with one row, C as [N], [1, N] and a
  // scalar; MatMul with leading dimensions folded into 3 rows; a fused bias and GELU.
  Net n;
  std::mt19937& r = n.rng;
  n.b.input("v", DType::f32, {1, 37});
  n.b.input("t", DType::f32, {37, 1});
  n.b.input("s", DType::f32, {3, 1, 70});
  n.b.input("big", DType::f32, {5, 37});
  n.b.node(
      "Gemm", {"v", n.constant(random_tensor({53, 37}, r)), n.constant(random_tensor({53}, r))},
      {"y1"}, {{"transB", attr_int(1)}, {"alpha", attr_float(0.5f)}, {"beta", attr_float(2.f)}});
  n.b.node("Gemm",
           {"t", n.constant(random_tensor({37, 21}, r)), n.constant(random_tensor({1, 21}, r))},
           {"y2"}, {{"transA", attr_int(1)}});
  n.b.node("Gemm", {"v", n.constant(random_tensor({37, 9}, r)), n.constant(Tensor::scalar(0.3f))},
           {"y3"});
  std::string m = n.op("MatMul", {"s", n.constant(random_tensor({70, 33}, r))});
  std::string h = n.op("Add", {m, n.constant(random_tensor({33}, r))});
  std::string erf = n.op("Erf", {n.op("Mul", {h, n.constant(Tensor::scalar(0.70710678f))})});
  n.b.node("Mul",
           {n.op("Mul", {h, n.op("Add", {erf, n.constant(Tensor::scalar(1.f))})}),
            n.constant(Tensor::scalar(0.5f))},
           {"y4"});
  n.b.node("MatMul", {"big", n.constant(random_tensor({37, 19}, r))}, {"y5"});
  for (const char* o : {"y1", "y2", "y3", "y4", "y5"}) n.b.output(o, DType::f32);
  std::mt19937 rng(41);
  std::vector<Tensor> in = {random_tensor({1, 37}, rng), random_tensor({37, 1}, rng),
                            random_tensor({3, 1, 70}, rng), random_tensor({5, 37}, rng)};
  check_network(n, in, 2e-5);
  Compiled c = fast_run(n.b.serialize(), in, 2);
  EXPECT_EQ(count_chosen(c.decisions, ": cpu", {"Gemm"}), 3u)
      << ::testing::PrintToString(c.decisions);
  EXPECT_EQ(count_chosen(c.decisions, ": cpu", {"visionrt.FusedMatMul"}), 1u)
      << ::testing::PrintToString(c.decisions);
  EXPECT_EQ(count_chosen(c.decisions, ": dnnl", {"MatMul"}), 1u)
      << ::testing::PrintToString(c.decisions);
}

TEST(FastPath, Opset20GeluRunsFusedIntoTheConvAndTheMatMul) {
  // Gelu became an op in opset 20: after a conv it is an eltwise post-op, after a MatMul by
  // weights part of the fused product, elsewhere the own activation loop; both formulas.
  Net n;
  n.b = ModelBuilder(20);
  n.b.input("x", DType::f32, {2, 8, 7, 5});
  std::string c = n.op("Gelu", {n.conv("x", 8, 16, 3)});
  std::string t = n.op("Gelu", {c}, {{"approximate", attr_string("tanh")}});
  std::string m = n.op("MatMul", {t, n.constant(random_tensor({5, 6}, n.rng))});
  n.b.node("Gelu", {m}, {"y"}, {{"approximate", attr_string("tanh")}});
  n.b.output("y", DType::f32);
  std::mt19937 rng(29);
  Tensor x = random_tensor({2, 8, 7, 5}, rng);
  std::string plan = check_network(n, {x});
  EXPECT_NE(plan.find("fused: 2 activations"), std::string::npos) << plan;
  Compiled fast = fast_run(n.b.serialize(), {x}, 1);
  size_t standalone = 0;
  for (const auto& d : fast.decisions) {
    if (d.rfind("Gelu", 0) == 0) {
      ++standalone;
      EXPECT_NE(d.find(": cpu"), std::string::npos) << d;  // the own loop (scale_shift.cpp)
    }
  }
  EXPECT_EQ(standalone, 1u);
}

namespace {

// The largest |weight| the int8 tests draw: the full range where this CPU's int8 kernels sum
// products in 32 bits (VNNI); 64 where they add pairs in saturating 16 bits (no VNNI: there
// larger weights run halved, see int8_pairs_saturate, and the simulated quantization would no
// longer be exact; FastPath.Int8WeightsAreHalvedWhereTheirPairSumsCouldOverflow tests that).
int int8_weight_max() { return int8_pairs_saturate() ? 64 : 127; }

// QDQ helpers: QuantizeLinear -> DequantizeLinear of an activation (u8 or i8), and int8
// weights with their DequantizeLinear (per-output-channel scales when `per_channel`).
struct QdqNet : Net {
  std::string qdq(const std::string& x, float scale, int zp, DType t) {
    std::string s = constant(Tensor::scalar<float>(scale));
    std::string z = constant(t == DType::u8 ? Tensor::scalar<uint8_t>(static_cast<uint8_t>(zp))
                                            : Tensor::scalar<int8_t>(static_cast<int8_t>(zp)));
    return op("DequantizeLinear", {op("QuantizeLinear", {x, s, z}), s, z});
  }
  // Conv on int8 weights; `bias_i32`: the bias as int32 in x_scale*w_scale units through its
  // own DequantizeLinear (as ORT writes it), else f32.
  std::string qconv(const std::string& x, float x_scale, int64_t cin, int64_t cout, int64_t k,
                    int64_t stride, int64_t group, bool per_channel, bool bias_i32) {
    std::uniform_int_distribution<int> wd(-int8_weight_max(), int8_weight_max());
    Tensor w(DType::i8, {cout, cin / group, k, k});
    for (size_t i = 0; i < w.numel(); ++i) w.data<int8_t>()[i] = static_cast<int8_t>(wd(rng));
    std::vector<float> ws(per_channel ? cout : 1);
    for (size_t c = 0; c < ws.size(); ++c)
      ws[c] = (0.5f + 0.1f * static_cast<float>(c % 5)) /
              (127.f * std::sqrt(static_cast<float>(cin / group * k * k)));
    std::string wdq = op(
        "DequantizeLinear",
        {constant(w), constant(Tensor::from_vector<float>({static_cast<int64_t>(ws.size())}, ws))},
        {{"axis", attr_int(0)}});
    std::string bias;
    if (bias_i32) {
      Tensor b(DType::i32, {cout});
      std::vector<float> bs(cout);
      for (int64_t c = 0; c < cout; ++c) {
        bs[c] = x_scale * ws[per_channel ? c : 0];
        b.data<int32_t>()[c] = static_cast<int32_t>((c % 7 - 3) * 0.037f / bs[c]);
      }
      bias = op("DequantizeLinear", {constant(b), constant(Tensor::from_vector<float>({cout}, bs))},
                {{"axis", attr_int(0)}});
    } else {
      bias = constant(random_tensor({cout}, rng, -0.2f, 0.2f));
    }
    int64_t pad = (k - 1) / 2;
    return op("Conv", {x, wdq, bias},
              {{"kernel_shape", attr_ints({k, k})},
               {"strides", attr_ints({stride, stride})},
               {"pads", attr_ints({pad, pad, pad, pad})},
               {"group", attr_int(group)}});
  }
};

// An int8 network's output against the reference's simulated quantization: at most 2 % of the
// values off by more than 1e-4 (a requantization tie rounded the other way), none by 0.05.
// `s8_sources`: some convolution reads s8 activations, which oneDNN runs without VNNI on weights
// it halves itself (its "scale adjust"; u8 plus 128 would not fit its 16-bit pair sums): there
// only the 0.05 bound holds.
void expect_int8_close(const Tensor& got, const Tensor& want, int threads,
                       bool s8_sources = false) {
  ASSERT_EQ(got.shape(), want.shape());
  double worst = 0;
  const size_t off = count_differing(got, want, 1e-4, &worst);
  EXPECT_LE(worst, 0.05) << "threads " << threads;
  if (s8_sources && int8_pairs_saturate()) return;
  EXPECT_LE(off, want.numel() / 50)
      << "threads " << threads << ": " << off << " of " << want.numel() << " outputs differ";
}

// One f32-precision run of a one-input model with per-node counters: the output and the
// profile. `env`: variables set while it compiles (kernel choices forced), unset after.
struct Profiled {
  Tensor out;
  std::vector<ProfilingInfo> nodes;
  size_t count(const std::string& in_layout) const {
    size_t k = 0;
    for (const ProfilingInfo& pi : nodes) k += pi.layout.find(in_layout) != std::string::npos;
    return k;
  }
};
Profiled profiled_run(const std::string& bytes, const Tensor& x, int threads,
                      const std::vector<std::pair<const char*, const char*>>& env = {}) {
  for (const auto& e : env) setenv(e.first, e.second, 1);
  Core core;
  CompiledModel cm = core.compile_model(core.read_model_from_memory(bytes, "profiled.onnx"),
                                        {{"INFERENCE_NUM_THREADS", std::to_string(threads)},
                                         {"PERF_COUNT", "YES"},
                                         {"INFERENCE_PRECISION", "f32"}});
  for (const auto& e : env) unsetenv(e.first);
  InferRequest r = cm.create_infer_request();
  r.set_input_tensor(0, x);
  r.infer();
  return {r.get_output_tensor(0).clone(), r.get_profiling_info()};
}

}  // namespace

TEST(FastPath, QdqConvolutionsRunInInt8AndMatchTheSimulatedQuantization) {
  // Four QDQ convolutions as quantize_static writes them: u8 activations with a zero point
  // (padding counts as the zero point), per-channel and per-tensor weight scales, an int32 bias
  // through its own DequantizeLinear and a float one, SiLU and ReLU before requantization, a
  // strided depthwise conv on i8 activations, odd channel counts, batch 2, and a last conv
  // with a float output. The reference runs the unfused QDQ graph in double: the fused int8
  // kernels must compute the same integers; only values at a rounding tie of a requantization
  // (f32 in oneDNN, double in the reference) may move by one step.
  QdqNet n;
  n.b.input("x", DType::f32, {2, 5, 19, 17});
  std::string a = n.qdq("x", 0.02f, 128, DType::u8);
  a = n.silu(n.qconv(a, 0.02f, 5, 24, 3, 1, 1, true, true));
  a = n.qdq(a, 0.03f, 10, DType::u8);
  a = n.op("Relu", {n.qconv(a, 0.03f, 24, 24, 3, 1, 1, false, false)});
  a = n.qdq(a, 0.025f, 0, DType::i8);
  a = n.qconv(a, 0.025f, 24, 24, 3, 2, 24, true, true);
  a = n.qdq(a, 0.04f, 3, DType::i8);
  std::string y = n.qconv(a, 0.04f, 24, 11, 1, 1, 1, true, false);
  n.b.node("Identity", {y}, {"y"});
  n.b.output("y", DType::f32);
  std::mt19937 rng(3);
  Tensor x = random_tensor({2, 5, 19, 17}, rng, -2.f, 2.f);
  std::string bytes = n.b.serialize();
  std::vector<Tensor> want = reference_run(bytes, {x});
  std::vector<Tensor> first;
  for (int threads : {1, 2}) {
    Compiled c = fast_run(bytes, {x}, threads);
    // The implementation each convolution was timed to use is remembered in the process:
    // every compile, whatever its thread count, computes the same bits.
    if (first.empty())
      first = c.outputs;
    else
      expect_bit_identical(c.outputs, first);
    EXPECT_NE(c.plan.find("4 QDQ convs to int8"), std::string::npos) << c.plan;
    size_t int8_kernels = 0;
    for (const std::string& d : c.decisions)
      if (d.find("QConv") != std::string::npos && d.find(": dnnl") != std::string::npos)
        ++int8_kernels;
    EXPECT_EQ(int8_kernels, 4u) << ::testing::PrintToString(c.decisions);
    // A one-step change of one input of the last layer moves an output by at most
    // 0.04 * 127 * max w_scale; in practice far less.
    expect_int8_close(c.outputs[0], want[0], threads, /*s8_sources=*/true);
  }
}

TEST(FastPath, QdqConvTransposeWithKernelEqualStrideRunsAsAnInt8ConvAndDepthToSpace) {
  // YOLOv8-seg's proto upsampling as a quantizer writes it: QDQ input, int8 ConvTranspose 2x2/2
  // weights with per-output-channel scales along axis 1, an int32 bias through its own
  // DequantizeLinear, and a QuantizeLinear after it feeding a QDQ conv. It becomes an int8 1x1
  // conv writing u8, a DepthToSpace moving channels-last bytes, and the next int8 conv reading
  // them; the reference runs the unfused QDQ graph.
  QdqNet n;
  const int64_t cin = 24, cout = 20;
  n.b.input("x", DType::f32, {2, cin, 7, 9});
  std::string a = n.qdq("x", 0.02f, 128, DType::u8);
  std::uniform_int_distribution<int> wd(-int8_weight_max(), int8_weight_max());
  Tensor w(DType::i8, {cin, cout, 2, 2});
  for (size_t i = 0; i < w.numel(); ++i) w.data<int8_t>()[i] = static_cast<int8_t>(wd(n.rng));
  std::vector<float> ws(cout), bs(cout);
  Tensor b(DType::i32, {cout});
  for (int64_t c = 0; c < cout; ++c) {
    ws[c] = (0.5f + 0.1f * static_cast<float>(c % 5)) / (127.f * std::sqrt(float(cin)));
    bs[c] = 0.02f * ws[c];
    b.data<int32_t>()[c] = static_cast<int32_t>((c % 7 - 3) * 0.037f / bs[c]);
  }
  std::string wdq =
      n.op("DequantizeLinear", {n.constant(w), n.constant(Tensor::from_vector<float>({cout}, ws))},
           {{"axis", attr_int(1)}});
  std::string bdq =
      n.op("DequantizeLinear", {n.constant(b), n.constant(Tensor::from_vector<float>({cout}, bs))},
           {{"axis", attr_int(0)}});
  a = n.op("ConvTranspose", {a, wdq, bdq},
           {{"kernel_shape", attr_ints({2, 2})}, {"strides", attr_ints({2, 2})}});
  a = n.qdq(a, 0.03f, 100, DType::u8);
  std::string y = n.qconv(a, 0.03f, cout, 11, 3, 1, 1, true, false);
  n.b.node("Identity", {y}, {"y"});
  n.b.output("y", DType::f32);
  std::mt19937 rng(4);
  Tensor x = random_tensor({2, cin, 7, 9}, rng, -2.f, 2.f);
  std::string bytes = n.b.serialize();
  std::vector<Tensor> want = reference_run(bytes, {x});
  for (int threads : {1, 2}) {
    Compiled c = fast_run(bytes, {x}, threads);
    EXPECT_NE(c.plan.find("2 QDQ convs to int8"), std::string::npos) << c.plan;
    EXPECT_NE(c.plan.find("deconvolutions as conv + DepthToSpace 1;"), std::string::npos) << c.plan;
    size_t d2s = 0, deconv = 0;
    for (const std::string& d : c.decisions) {
      d2s += d.rfind("DepthToSpace", 0) == 0 && d.find(": cpu") != std::string::npos;
      deconv += d.rfind("ConvTranspose", 0) == 0;
    }
    EXPECT_EQ(d2s, 1u) << ::testing::PrintToString(c.decisions);
    EXPECT_EQ(deconv, 0u) << ::testing::PrintToString(c.decisions);
    expect_int8_close(c.outputs[0], want[0], threads);
  }
}

TEST(FastPath, QdqSwishConvolutionsInRowBandsMatchTheReference) {
  // INT8 convolutions whose swish runs as our own pass over row bands of the f32 result (forced
  // here, with bands of a few rows so that top, middle and bottom bands with their own padding
  // occur): 3x3 stride 1 to u8, 3x3 stride 2 to s8 (the approximate swish straight into the
  // quantized output), 1x1 to f32 (the exact loop), batch 2, odd sizes. Against the reference's
  // simulated quantization, and against the post-op kernels.
  if (!swish_quantize_available()) GTEST_SKIP() << "no AVX-512 or AVX2";
  QdqNet n;
  n.b.input("x", DType::f32, {2, 6, 23, 19});
  std::string a = n.qdq("x", 0.02f, 128, DType::u8);
  a = n.qdq(n.silu(n.qconv(a, 0.02f, 6, 24, 3, 1, 1, true, true)), 0.03f, 10, DType::u8);
  a = n.qdq(n.silu(n.qconv(a, 0.03f, 24, 32, 3, 2, 1, true, false)), 0.025f, 3, DType::i8);
  std::string y = n.silu(n.qconv(a, 0.025f, 32, 20, 1, 1, 1, false, true));
  n.b.node("Identity", {y}, {"y"});
  n.b.output("y", DType::f32);
  std::mt19937 rng(6);
  const Tensor x = random_tensor({2, 6, 23, 19}, rng, -2.f, 2.f);
  const std::string bytes = n.b.serialize();
  auto run = [&](const char* force) {
    return profiled_run(
        bytes, x, 1,
        {{"VISIONRT_CONV_OWN_ACTIVATION", force}, {"VISIONRT_QCONV_BAND_BYTES", "2048"}});
  };
  const Profiled banded = run("1"), plain = run("0");
  EXPECT_EQ(banded.count("row bands"), 3u);
  EXPECT_EQ(plain.count("row bands"), 0u);
  const Tensor &bands = banded.out, &post = plain.out;
  const std::vector<Tensor> want = reference_run(bytes, {x});
  expect_int8_close(bands, want[0], 1, /*s8_sources=*/true);
  expect_int8_close(post, want[0], 1, /*s8_sources=*/true);
  double worst = 0;
  EXPECT_LE(count_differing(bands, post, 1e-4, &worst), post.numel() / 50);
}

TEST(FastPath, QdqResizeBetweenInt8ConvsStaysChannelsLast) {
  // DeepLab's upsamplings in a QDQ model: an align_corners Resize between a conv's f32 result and
  // a QuantizeLinear runs channels-last on the own kernel (no reorders around it), in row bands
  // at two threads; an enlarging Resize that is a graph output (the logits to image size)
  // resizes plain, so the reorder moves its smaller input.
  QdqNet n;
  n.b.input("x", DType::f32, {2, 6, 7, 9});
  std::string a = n.qdq("x", 0.02f, 128, DType::u8);
  a = n.qconv(a, 0.02f, 6, 20, 3, 1, 1, true, true);
  std::map<std::string, Attribute> attrs = {
      {"mode", attr_string("linear")},
      {"coordinate_transformation_mode", attr_string("align_corners")}};
  a = n.op("Resize", {a, "", "", n.constant(Tensor::from_vector<int64_t>({4}, {2, 20, 13, 17}))},
           attrs);
  a = n.qdq(a, 0.03f, 10, DType::u8);
  a = n.qconv(a, 0.03f, 20, 8, 1, 1, 1, true, false);
  const std::string y = n.op(
      "Resize", {a, "", "", n.constant(Tensor::from_vector<int64_t>({4}, {2, 8, 49, 65}))}, attrs);
  n.b.node("Identity", {y}, {"y"});
  n.b.output("y", DType::f32);
  std::mt19937 rng(9);
  const Tensor x = random_tensor({2, 6, 7, 9}, rng, -2.f, 2.f);
  const std::string bytes = n.b.serialize();
  const std::vector<Tensor> want = reference_run(bytes, {x});
  for (int threads : {1, 2}) {
    const Profiled r = profiled_run(bytes, x, threads);
    std::vector<std::string> layouts;
    size_t reorders = 0;
    for (const ProfilingInfo& pi : r.nodes) {
      if (pi.op == "Resize") layouts.push_back(pi.layout);
      reorders += pi.op == "visionrt.Reorder";
    }
    ASSERT_EQ(layouts.size(), 2u);
    EXPECT_EQ(layouts[0], "nhwc linear align_corners");
    EXPECT_EQ(layouts[1], "nchw linear align_corners");
    // One: the second conv's f32 result to plain before the last Resize.
    EXPECT_EQ(reorders, 1u);
    expect_int8_close(r.out, want[0], threads);
  }
}

TEST(FastPath, QdqHeadTransposesReadTheChannelsLastResultOnce) {
  // SSD's and YOLOv5's heads after int8 convolutions: the f32 results are channels-last, and
  // permute(0,2,3,1) (SSD) or view(N,A,K,H,W).permute(0,1,3,4,2) (YOLOv5) of them is one
  // visionrt.ChannelsLast copy reading that layout: no reorder to plain first.
  QdqNet n;
  n.b.input("x", DType::f32, {2, 6, 7, 9});
  std::string a = n.qdq("x", 0.02f, 128, DType::u8);
  a = n.qdq(n.op("Relu", {n.qconv(a, 0.02f, 6, 24, 3, 1, 1, true, true)}), 0.03f, 0, DType::u8);
  const std::string ssd = n.op("Transpose", {n.qconv(a, 0.03f, 24, 12, 1, 1, 1, true, true)},
                               {{"perm", attr_ints({0, 2, 3, 1})}});
  const std::string v5 =
      n.op("Transpose",
           {n.op("Reshape", {n.qconv(a, 0.03f, 24, 21, 1, 1, 1, true, false),
                             n.constant(Tensor::from_vector<int64_t>({5}, {2, 3, 7, 7, 9}))})},
           {{"perm", attr_ints({0, 1, 3, 4, 2})}});
  n.b.node("Identity", {ssd}, {"y"});
  n.b.node("Identity", {v5}, {"z"});
  n.b.output("y", DType::f32);
  n.b.output("z", DType::f32);
  std::mt19937 rng(10);
  const Tensor x = random_tensor({2, 6, 7, 9}, rng, -2.f, 2.f);
  const std::string bytes = n.b.serialize();
  const std::vector<Tensor> want = reference_run(bytes, {x});
  Compiled c = fast_run(bytes, {x}, 2);
  size_t channels_last = 0, reorders = 0;
  for (const std::string& d : c.decisions) {
    channels_last += d.rfind("visionrt.ChannelsLast", 0) == 0;
    reorders += d.rfind("visionrt.Reorder", 0) == 0;
  }
  EXPECT_EQ(channels_last, 2u) << ::testing::PrintToString(c.decisions);
  EXPECT_EQ(reorders, 0u) << ::testing::PrintToString(c.decisions);
  for (size_t i = 0; i < 2; ++i) expect_int8_close(c.outputs[i], want[i], 2);
  const Profiled p = profiled_run(bytes, x, 1);
  EXPECT_EQ(p.count("nhwc -> channels last"), 2u);
}

TEST(FastPath, ProductsByConstantWeightsRunAsA1x1ConvolutionWhereItIsFaster) {
  // One [M, K] matrix by constant weights with a bias per column is also a 1x1 convolution over
  // the same bytes (matmul.cpp's conv_for_product; timed against oneDNN's matmul, forced here):
  // a MatMul + bias + ReLU over a batch folded into M, a PyTorch Linear (Gemm transB, bias [N]);
  // a Gemm whose C is a full [M, N] matrix stays a matmul. Both ways match the reference.
  Net n;
  n.b.input("x", DType::f32, {2, 9, 40});
  std::mt19937& r = n.rng;
  std::string h =
      n.op("Relu", {n.op("Add", {n.op("MatMul", {"x", n.constant(random_tensor({40, 24}, r))}),
                                 n.constant(random_tensor({24}, r))})});
  h = n.op("Reshape", {h, n.constant(Tensor::from_vector<int64_t>({2}, {18, 24}))});
  h = n.op("Gemm", {h, n.constant(random_tensor({10, 24}, r)), n.constant(random_tensor({10}, r))},
           {{"transB", attr_int(1)}});
  n.b.node("Gemm",
           {h, n.constant(random_tensor({10, 6}, r)), n.constant(random_tensor({18, 6}, r))},
           {"y"});
  n.b.output("y", DType::f32);
  std::mt19937 rng(12);
  const Tensor x = random_tensor({2, 9, 40}, rng);
  const std::string bytes = n.b.serialize();
  const std::vector<Tensor> want = reference_run(bytes, {x});
  for (int threads : {1, 2}) {
    const Profiled conv = profiled_run(bytes, x, threads, {{"VISIONRT_MATMUL_AS_CONV", "1"}});
    const Profiled mm = profiled_run(bytes, x, threads, {{"VISIONRT_MATMUL_AS_CONV", "0"}});
    EXPECT_EQ(conv.count("as 1x1 conv"), 2u);
    EXPECT_EQ(mm.count("as 1x1 conv"), 0u);
    expect_close(conv.out, want[0], 2e-5, "as conv");
    expect_close(mm.out, want[0], 2e-5, "matmul");
  }
}

TEST(FastPath, Int8WeightsAreHalvedWhereTheirPairSumsCouldOverflow) {
  // Without VNNI (int8_pairs_saturate) an output channel whose two largest |w| add to more than
  // 128 runs on w / 2 rounded half to even, with twice the scale; the others stay. Forced here on
  // any CPU: the fast path must match the reference run of the model with those weights written
  // out by hand (u8 source: exact but for requantization ties).
  const int64_t cin = 8, cout = 6;
  std::mt19937 rng(17);
  std::uniform_int_distribution<int> full(-127, 127), safe(-64, 64);
  Tensor w(DType::i8, {cout, cin, 3, 3}), halved(DType::i8, {cout, cin, 3, 3});
  const int64_t per = cin * 9;
  std::vector<float> ws(cout), ws_halved(cout);
  for (int64_t c = 0; c < cout; ++c) {
    const bool risky = c % 2 == 0;  // 0, 2, 4: full range; 1, 3, 5: |w| <= 64 (64 + 64 = 128)
    ws[c] = ws_halved[c] = (0.5f + 0.1f * static_cast<float>(c)) / (127.f * 8.5f);
    if (risky) ws_halved[c] *= 2;
    for (int64_t i = 0; i < per; ++i) {
      int v = risky ? full(rng) : safe(rng);
      if (risky && i == 5) v = c == 2 ? -127 : 127;  // odd extremes: 63.5 -> 64, -63.5 -> -64
      w.data<int8_t>()[c * per + i] = static_cast<int8_t>(v);
      // Half of v, a tie going to the even neighbour.
      int h = v / 2;
      if (v % 2 != 0) h = ((v - 1) / 2) % 2 == 0 ? (v - 1) / 2 : (v + 1) / 2;
      halved.data<int8_t>()[c * per + i] = static_cast<int8_t>(risky ? h : v);
    }
  }
  auto model = [&](const Tensor& weights, const std::vector<float>& scales) {
    QdqNet n;
    n.b.input("x", DType::f32, {1, cin, 11, 13});
    std::string a = n.qdq("x", 0.02f, 128, DType::u8);
    std::string wdq =
        n.op("DequantizeLinear",
             {n.constant(weights), n.constant(Tensor::from_vector<float>({cout}, scales))},
             {{"axis", attr_int(0)}});
    std::string y = n.op(
        "Conv",
        {a, wdq,
         n.constant(Tensor::from_vector<float>({cout}, {0.1f, -0.2f, 0.05f, 0.f, 0.3f, -0.1f}))},
        {{"kernel_shape", attr_ints({3, 3})}, {"pads", attr_ints({1, 1, 1, 1})}});
    n.b.node("Identity", {n.qdq(n.op("Relu", {y}), 0.03f, 0, DType::u8)}, {"y"});
    n.b.output("y", DType::f32);
    return n.b.serialize();
  };
  Tensor x = random_tensor({1, cin, 11, 13}, rng, -2.5f, 2.5f);
  const std::vector<Tensor> want = reference_run(model(halved, ws_halved), {x});
  for (int threads : {1, 2}) {
    Profiled r = profiled_run(model(w, ws), x, threads, {{"VISIONRT_INT8_HALVE", "1"}});
    EXPECT_EQ(r.count("7-bit weights in 3/6 channels"), 1u) << threads;
    expect_int8_close(r.out, want[0], threads);
  }
  // Nothing is halved where weights cannot overflow (all channels within 64).
  Profiled r = profiled_run(model(halved, ws_halved), x, 1, {{"VISIONRT_INT8_HALVE", "1"}});
  EXPECT_EQ(r.count("7-bit weights"), 0u);
  expect_int8_close(r.out, want[0], 1);
}

TEST(FastPath, Int8WeightsAreHalvedInTheFirstLayersByDefault) {
  // The first layers (fed by the input through a normalization and the QuantizeLinear, no
  // weighted layer between) run halved where pairs could overflow; the deeper ones keep their
  // 8 bits unless VISIONRT_INT8_HALVE=all asks for every layer, as NNCF's overflow fix.
  // Two branches read the input: both are first layers; the conv after them is not.
  const int64_t c = 8;
  std::mt19937 rng(23);
  std::uniform_int_distribution<int> full(-127, 127);
  QdqNet n;
  n.b.input("x", DType::f32, {1, c, 9, 10});
  auto conv = [&](const std::string& in) {
    Tensor w(DType::i8, {c, c, 3, 3});
    for (size_t i = 0; i < w.numel(); ++i) w.data<int8_t>()[i] = static_cast<int8_t>(full(rng));
    for (int64_t o = 0; o < c; ++o) w.data<int8_t>()[o * c * 9] = 127;  // every channel at risk
    std::string wdq =
        n.op("DequantizeLinear", {n.constant(w), n.constant(Tensor::scalar<float>(0.002f))}, {});
    return n.op("Relu", {n.op("Conv", {in, wdq}, {{"pads", attr_ints({1, 1, 1, 1})}})});
  };
  const std::string xn =
      n.qdq(n.op("Div", {"x", n.constant(Tensor::scalar<float>(2.f))}), 0.02f, 128, DType::u8);
  const std::string a = n.qdq(conv(xn), 0.03f, 0, DType::u8);
  const std::string b = n.qdq(conv(xn), 0.03f, 0, DType::u8);
  const std::string s = n.qdq(n.op("Add", {a, b}), 0.05f, 0, DType::u8);
  n.b.node("Identity", {n.qdq(conv(s), 0.03f, 0, DType::u8)}, {"y"});
  n.b.output("y", DType::f32);
  const std::string bytes = n.b.serialize();
  const Tensor x = random_tensor({1, c, 9, 10}, rng, 0.f, 5.f);
  EXPECT_EQ(profiled_run(bytes, x, 1, {{"VISIONRT_INT8_HALVE", "first"}}).count("7-bit weights"),
            2u);
  EXPECT_EQ(profiled_run(bytes, x, 1, {{"VISIONRT_INT8_HALVE", "all"}}).count("7-bit weights"), 3u);
  EXPECT_EQ(profiled_run(bytes, x, 1, {{"VISIONRT_INT8_HALVE", "0"}}).count("7-bit weights"), 0u);
}

TEST(FastPath, MaxPoolOnBlockedLayoutsRunsOnItsOwnLoopAndMatchesTheReference) {
  // Between convolutions (blocked layout) MaxPool runs on kernels/cpu/max_pool.cpp: GoogLeNet's
  // 3x3/1 pad 1 and 3x3/2 ceil_mode, SPPF's 5x5/1 pad 2, 2x2/2, an asymmetric pad, a wide
  // window; 12 channels (a partly filled last block), batch 2, one and two threads.
  struct Case {
    std::vector<int64_t> k, s, pads;
    int64_t ceil;
  };
  const std::vector<Case> cases = {
      {{3, 3}, {1, 1}, {1, 1, 1, 1}, 0}, {{3, 3}, {2, 2}, {0, 0, 0, 0}, 1},
      {{5, 5}, {1, 1}, {2, 2, 2, 2}, 0}, {{2, 2}, {2, 2}, {0, 0, 0, 0}, 0},
      {{3, 2}, {2, 1}, {0, 1, 1, 0}, 1}, {{7, 9}, {3, 2}, {3, 4, 2, 1}, 0}};
  for (const Case& c : cases) {
    Net n;
    n.b.input("x", DType::f32, {2, 5, 15, 14});
    const std::string a = n.op("Relu", {n.conv("x", 5, 12, 3)});
    const std::string p = n.op("MaxPool", {a},
                               {{"kernel_shape", attr_ints(c.k)},
                                {"strides", attr_ints(c.s)},
                                {"pads", attr_ints(c.pads)},
                                {"ceil_mode", attr_int(c.ceil)}});
    n.b.node("Identity", {n.conv(p, 12, 8, 1)}, {"y"});
    n.b.output("y", DType::f32);
    std::mt19937 rng(31);
    const Tensor x = random_tensor({2, 5, 15, 14}, rng, -2.f, 2.f);
    const std::string bytes = n.b.serialize();
    const std::vector<Tensor> want = reference_run(bytes, {x});
    for (int threads : {1, 2}) {
      const Profiled r = profiled_run(bytes, x, threads);
      EXPECT_EQ(r.count(" own"), 1u) << c.k[0] << "x" << c.k[1];
      expect_close(r.out, want[0], 1e-4,
                   "max pool " + std::to_string(c.k[0]) + "x" + std::to_string(c.k[1]));
    }
  }
}

TEST(FastPath, ConvolutionsWithFourChannelsPerGroupRunOnTheirOwnKernelOnAvx2) {
  // ResNeXt's 32x4d stage: groups of four channels split oneDNN's 8-channel blocks; on AVX2
  // machines (nChw8c) kernels/cpu/group4_conv.cpp runs them. 3x3/1 with ReLU, 3x3/2 without
  // bias, 5x5/1 pad 2 with a Clip, a 1x3 kernel with asymmetric pads; 4 x 24 x 13 x 11 maps.
  if (preferred_layout_block() != 8) GTEST_SKIP() << "blocked layout is not nChw8c here";
  struct Case {
    int64_t kh, kw, stride;
    std::vector<int64_t> pads;
    bool bias;
    const char* act;
  };
  const std::vector<Case> cases = {{3, 3, 1, {1, 1, 1, 1}, true, "Relu"},
                                   {3, 3, 2, {1, 1, 1, 1}, false, ""},
                                   {5, 5, 1, {2, 2, 2, 2}, true, "Clip"},
                                   {1, 3, 1, {0, 2, 0, 0}, true, "Relu"}};
  for (const Case& c : cases) {
    Net n;
    n.b.input("x", DType::f32, {4, 5, 13, 11});
    const std::string a = n.op("Relu", {n.conv("x", 5, 24, 3)});
    std::mt19937 wr(41);
    n.b.initializer("gw", random_tensor({24, 4, c.kh, c.kw}, wr, -0.4f, 0.4f));
    std::vector<std::string> ins = {a, "gw"};
    if (c.bias) {
      n.b.initializer("gb", random_tensor({24}, wr, -0.3f, 0.3f));
      ins.push_back("gb");
    }
    std::string g = n.op("Conv", ins,
                         {{"kernel_shape", attr_ints({c.kh, c.kw})},
                          {"strides", attr_ints({c.stride, c.stride})},
                          {"pads", attr_ints(c.pads)},
                          {"group", attr_int(6)}});
    if (std::string(c.act) == "Relu") g = n.op("Relu", {g});
    if (std::string(c.act) == "Clip")
      g = n.op("Clip", {g, n.constant(Tensor::scalar<float>(-0.5f)),
                        n.constant(Tensor::scalar<float>(0.7f))});
    n.b.node("Identity", {n.conv(g, 24, 8, 1)}, {"y"});
    n.b.output("y", DType::f32);
    std::mt19937 rng(43);
    const Tensor x = random_tensor({4, 5, 13, 11}, rng, -2.f, 2.f);
    const std::string bytes = n.b.serialize();
    const std::vector<Tensor> want = reference_run(bytes, {x});
    for (int threads : {1, 2}) {
      const Profiled r = profiled_run(bytes, x, threads);
      EXPECT_EQ(r.count("own group-4"), 1u) << c.kh << "x" << c.kw << "/" << c.stride;
      expect_close(r.out, want[0], 2e-4,
                   "group-4 conv " + std::to_string(c.kh) + "x" + std::to_string(c.kw));
    }
  }
}

TEST(FastPath, QdqResidualAddsRunInsideTheInt8Convolution) {
  // MobileNetV2/ResNet blocks as `visionrt quantize` leaves them: the residual Add stays float,
  // between a QDQ conv's f32 result and the QuantizeLinear of the sum. The Add goes into the
  // conv (a binary-add post-op), and so does the QuantizeLinear (the conv then writes int8) where
  // it alone reads the sum: a sum that is also the next block's residual stays f32. The
  // residual second and first, after a fused ReLU, an i8 output. An Add of a per-channel
  // constant (a broadcast) is not a residual and stays.
  QdqNet n;
  n.b.input("x", DType::f32, {2, 24, 11, 13});
  std::string a = n.qdq("x", 0.02f, 128, DType::u8);
  const std::string r = n.qconv(a, 0.02f, 24, 32, 1, 1, 1, true, true);  // f32, read twice
  std::string b = n.qdq(r, 0.03f, 10, DType::u8);
  b = n.op("Relu", {n.qconv(b, 0.03f, 32, 32, 3, 1, 1, true, false)});
  b = n.qdq(b, 0.025f, 0, DType::u8);
  // The first sum is also the second one's residual: that conv writes the f32 sum.
  const std::string s1 = n.op("Add", {n.qconv(b, 0.025f, 32, 32, 1, 1, 1, true, true), r});
  std::string s = n.qdq(s1, 0.04f, 120, DType::u8);
  s = n.op("Add", {s1, n.op("Relu", {n.qconv(s, 0.04f, 32, 32, 3, 1, 1, false, true)})});
  s = n.qdq(s, 0.05f, -7, DType::i8);
  s = n.op("Add", {n.qconv(s, 0.05f, 32, 32, 1, 1, 1, true, false),
                   n.constant(random_tensor({1, 32, 1, 1}, n.rng, -0.5f, 0.5f))});
  s = n.qdq(s, 0.05f, 0, DType::i8);
  const std::string y = n.qconv(s, 0.05f, 32, 8, 1, 1, 1, true, false);
  n.b.node("Identity", {y}, {"y"});
  n.b.output("y", DType::f32);
  std::mt19937 rng(8);
  const Tensor x = random_tensor({2, 24, 11, 13}, rng, -2.f, 2.f);
  const std::string bytes = n.b.serialize();
  const std::vector<Tensor> want = reference_run(bytes, {x});
  for (int threads : {1, 2}) {
    Compiled c = fast_run(bytes, {x}, threads);
    EXPECT_NE(c.plan.find("6 QDQ convs to int8 (2 with their residual add)"), std::string::npos)
        << c.plan;
    size_t int8_kernels = 0, adds = 0;
    for (const std::string& d : c.decisions) {
      int8_kernels += d.find("QConv") != std::string::npos && d.find(": dnnl") != std::string::npos;
      adds += d.find(" 'Add_") != std::string::npos;  // the broadcast one (a ScaleShift now)
    }
    EXPECT_EQ(int8_kernels, 6u) << ::testing::PrintToString(c.decisions);
    EXPECT_EQ(adds, 1u) << ::testing::PrintToString(c.decisions);
    expect_int8_close(c.outputs[0], want[0], threads, /*s8_sources=*/true);
  }
}

namespace {

// A QDQ depthwise conv (one filter per channel) with its own window: kh x kw, stride, dilation,
// pads {top, left, bottom, right}; per-channel weight scales, an int32 or a float bias.
std::string qdw(QdqNet& n, const std::string& x, float x_scale, int64_t c, int64_t kh, int64_t kw,
                int64_t stride, int64_t dil, const std::vector<int64_t>& pads, bool bias_i32) {
  std::uniform_int_distribution<int> wd(int8_pairs_saturate() ? -64 : -128, int8_weight_max());
  Tensor w(DType::i8, {c, 1, kh, kw});
  for (size_t i = 0; i < w.numel(); ++i) w.data<int8_t>()[i] = static_cast<int8_t>(wd(n.rng));
  std::vector<float> ws(c), bs(c);
  for (int64_t i = 0; i < c; ++i) {
    ws[i] = (0.5f + 0.1f * static_cast<float>(i % 5)) / (127.f * std::sqrt(float(kh * kw)));
    bs[i] = x_scale * ws[i];
  }
  std::string wdq =
      n.op("DequantizeLinear", {n.constant(w), n.constant(Tensor::from_vector<float>({c}, ws))},
           {{"axis", attr_int(0)}});
  std::string bias;
  if (bias_i32) {
    Tensor b(DType::i32, {c});
    for (int64_t i = 0; i < c; ++i)
      b.data<int32_t>()[i] = static_cast<int32_t>((i % 7 - 3) * 0.037f / bs[i]);
    bias =
        n.op("DequantizeLinear", {n.constant(b), n.constant(Tensor::from_vector<float>({c}, bs))},
             {{"axis", attr_int(0)}});
  } else {
    bias = n.constant(random_tensor({c}, n.rng, -0.2f, 0.2f));
  }
  return n.op("Conv", {x, wdq, bias},
              {{"kernel_shape", attr_ints({kh, kw})},
               {"strides", attr_ints({stride, stride})},
               {"dilations", attr_ints({dil, dil})},
               {"pads", attr_ints(pads)},
               {"group", attr_int(c)}});
}

}  // namespace

TEST(FastPath, QdqDepthwiseConvolutionsOnTheOwnVnniKernelMatchTheReference) {
  // Depthwise layers as MobileNet/DeepLab quantizations write them, on the own VNNI kernel
  // (forced; at compile it is timed against oneDNN's) and on oneDNN's: 3x3 with ReLU6 from u8 to
  // i8, 3x3 stride 2 with TF-style asymmetric padding from i8 to u8, 5x5 dilation 2 with SiLU,
  // and 1x7 (two dwords of taps per row) with a float output; 72 channels (a full block of 64
  // and a partial one) and 20, batch 2, one and two threads. Against the reference's simulated
  // quantization, and the two kernels against each other.
  if (!QDwConv::available()) GTEST_SKIP() << "no AVX-512 VNNI";
  for (int64_t c : {72, 20}) {
    QdqNet n;
    n.b.input("x", DType::f32, {2, c, 15, 13});
    std::string a = n.qdq("x", 0.02f, 128, DType::u8);
    a = n.op("Clip",
             {qdw(n, a, 0.02f, c, 3, 3, 1, 1, {1, 1, 1, 1}, true),
              n.constant(Tensor::scalar<float>(0.f)), n.constant(Tensor::scalar<float>(6.f))});
    a = n.qdq(a, 0.025f, 3, DType::i8);
    a = n.op("Relu", {qdw(n, a, 0.025f, c, 3, 3, 2, 1, {0, 0, 1, 1}, false)});
    a = n.qdq(a, 0.03f, 100, DType::u8);
    a = n.silu(qdw(n, a, 0.03f, c, 5, 5, 1, 2, {4, 4, 4, 4}, true));
    a = n.qdq(a, 0.02f, -3, DType::i8);
    std::string y = qdw(n, a, 0.02f, c, 1, 7, 1, 1, {0, 3, 0, 3}, true);
    n.b.node("Identity", {y}, {"y"});
    n.b.output("y", DType::f32);
    std::mt19937 rng(7);
    const Tensor x = random_tensor({2, c, 15, 13}, rng, -2.f, 2.f);
    const std::string bytes = n.b.serialize();
    const std::vector<Tensor> want = reference_run(bytes, {x});
    for (int threads : {1, 2}) {
      const Profiled own = profiled_run(bytes, x, threads, {{"VISIONRT_QDW_CONV", "1"}}),
                     other = profiled_run(bytes, x, threads, {{"VISIONRT_QDW_CONV", "0"}});
      EXPECT_EQ(own.count("own VNNI depthwise"), 4u) << "channels " << c;
      EXPECT_EQ(other.count("own VNNI depthwise"), 0u);
      const Tensor &mine = own.out, &theirs = other.out;
      expect_int8_close(mine, want[0], threads);
      expect_int8_close(theirs, want[0], threads);
      double worst = 0;
      EXPECT_LE(count_differing(mine, theirs, 1e-4, &worst), theirs.numel() / 50);
    }
  }
}

TEST(FastPath, QLinearConvRunsOnOneDnnInt8AndMatchesTheReference) {
  // QOperator form with constant parameters: u8 graph input (plain NCHW, reordered to nhwc),
  // per-channel weight scales, int32 bias, u8 output with a zero point; and a second layer with
  // a per-tensor scale and an i8 output reading the first one's u8 output directly.
  Net n;
  n.b.input("x", DType::u8, {1, 6, 13, 11});
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> wd(-int8_weight_max(), int8_weight_max()), xd(0, 255);
  auto weights = [&](int64_t co, int64_t ci) {
    Tensor w(DType::i8, {co, ci, 3, 3});
    for (size_t i = 0; i < w.numel(); ++i) w.data<int8_t>()[i] = static_cast<int8_t>(wd(rng));
    return w;
  };
  std::vector<float> ws1(16);
  for (size_t c = 0; c < ws1.size(); ++c) ws1[c] = std::ldexp(1.f, -9 - static_cast<int>(c % 4));
  Tensor b1(DType::i32, {16});
  for (int64_t c = 0; c < 16; ++c) b1.data<int32_t>()[c] = static_cast<int32_t>(c * 97 - 700);
  std::map<std::string, Attribute> conv_attrs = {{"kernel_shape", attr_ints({3, 3})},
                                                 {"pads", attr_ints({1, 1, 1, 1})}};
  n.b.node(
      "QLinearConv",
      {"x", n.constant(Tensor::scalar<float>(1.f / 16)), n.constant(Tensor::scalar<uint8_t>(100)),
       n.constant(weights(16, 6)), n.constant(Tensor::from_vector<float>({16}, ws1)),
       n.constant(Tensor::from_vector<int8_t>({16}, std::vector<int8_t>(16, 0))),
       n.constant(Tensor::scalar<float>(0.25f)), n.constant(Tensor::scalar<uint8_t>(120)),
       n.constant(b1)},
      {"h"}, conv_attrs);
  n.b.node("QLinearConv",
           {"h", n.constant(Tensor::scalar<float>(0.25f)), n.constant(Tensor::scalar<uint8_t>(120)),
            n.constant(weights(9, 16)), n.constant(Tensor::scalar<float>(1.f / 512)),
            n.constant(Tensor::scalar<int8_t>(0)), n.constant(Tensor::scalar<float>(0.125f)),
            n.constant(Tensor::scalar<int8_t>(-4))},
           {"y"}, conv_attrs);
  n.b.output("y", DType::i8);
  Tensor x(DType::u8, {1, 6, 13, 11});
  for (size_t i = 0; i < x.numel(); ++i) x.data<uint8_t>()[i] = static_cast<uint8_t>(xd(rng));
  std::string bytes = n.b.serialize();
  std::vector<Tensor> want = reference_run(bytes, {x});
  Compiled c = fast_run(bytes, {x}, 2);
  size_t dnnl_convs = 0;
  for (const std::string& d : c.decisions)
    dnnl_convs +=
        d.find("QLinearConv") != std::string::npos && d.find(": dnnl") != std::string::npos;
  EXPECT_EQ(dnnl_convs, 2u) << ::testing::PrintToString(c.decisions);
  // Power-of-two scales: every product and quotient is exact in f32 and in double, so the int8
  // kernels must reproduce the reference bit for bit, exact ties included (both round half to
  // even; the zero points are even, see kernels/dnnl/quant.cpp on odd ones).
  ASSERT_EQ(c.outputs[0].shape(), want[0].shape());
  EXPECT_EQ(0, std::memcmp(c.outputs[0].raw(), want[0].raw(), want[0].nbytes()));
  size_t saturated = 0;
  for (size_t i = 0; i < want[0].numel(); ++i) saturated += std::fabs(want[0].at_f64(i)) >= 127;
  EXPECT_LT(saturated, want[0].numel() / 10) << "scales saturate the output: a weak test";
}

TEST(FastPath, QdqC2fBlockKeepsItsFloatOpsChannelsLast) {
  // The float ops between int8 convolutions of a QDQ YOLOv8 (Split, residual Add, Concat,
  // MaxPool, nearest Resize) run on the channels-last f32 outputs of the quantized convs (no
  // in-place Split/Concat there: a channel slice of nhwc is not contiguous), and the
  // QuantizeLinear after them reads nhwc. Batch 1 (where in-place would apply to blocked
  // tensors), channel counts that are not multiples of 16.
  QdqNet n;
  n.b.input("x", DType::f32, {1, 6, 21, 18});
  std::string a = n.qdq("x", 0.02f, 128, DType::u8);
  std::string c1 = n.silu(n.qconv(a, 0.02f, 6, 40, 3, 1, 1, true, true));
  std::string s0 = n.fresh("split"), s1 = n.fresh("split");
  n.b.initializer("splits", Tensor::from_vector<int64_t>({2}, {20, 20}));
  n.b.node("Split", {c1, "splits"}, {s0, s1}, {{"axis", attr_int(1)}});
  std::string m =
      n.silu(n.qconv(n.qdq(s1, 0.03f, 10, DType::u8), 0.03f, 20, 20, 3, 1, 1, true, true));
  std::string r = n.op("Add", {s1, m});
  std::string cat = n.op("Concat", {s0, s1, r}, {{"axis", attr_int(1)}});
  std::string p = n.op("MaxPool", {cat},
                       {{"kernel_shape", attr_ints({5, 5})}, {"pads", attr_ints({2, 2, 2, 2})}});
  std::string up =
      n.op("Resize", {p, "", n.constant(Tensor::from_vector<float>({4}, {1, 1, 2, 2}))},
           {{"mode", attr_string("nearest")},
            {"coordinate_transformation_mode", attr_string("asymmetric")},
            {"nearest_mode", attr_string("floor")}});
  std::string y = n.qconv(n.qdq(up, 0.04f, 20, DType::u8), 0.04f, 60, 7, 1, 1, 1, true, false);
  n.b.node("Identity", {y}, {"y"});
  n.b.output("y", DType::f32);
  std::mt19937 rng(9);
  Tensor x = random_tensor({1, 6, 21, 18}, rng, -1.f, 1.f);
  std::string bytes = n.b.serialize();
  std::vector<Tensor> want = reference_run(bytes, {x});
  for (int threads : {1, 2}) {
    Compiled c = fast_run(bytes, {x}, threads);
    EXPECT_NE(c.plan.find("3 QDQ convs to int8"), std::string::npos) << c.plan;
    if (blocked_layouts()) {
      // Only the graph input's plain-to-nhwc crossing and the output's copy to plain.
      EXPECT_NE(c.plan.find("reorders 1;"), std::string::npos) << c.plan;
    }
    ASSERT_EQ(c.outputs[0].shape(), want[0].shape());
    const size_t off = count_differing(c.outputs[0], want[0], 1e-4);
    EXPECT_LE(off, want[0].numel() / 50)
        << "threads " << threads << ": " << off << " of " << want[0].numel() << " outputs differ";
  }
}

TEST(FastPath, QuantizingConcatAndImageQuantizeMatchTheReferenceBitForBit) {
  // Concat -> QuantizeLinear becomes one visionrt.QConcat (each f32 input quantized into its
  // slice of the int8 output): channels-last along the channels (4-D), plain with short rows
  // (a negative axis of a 3-D concat) and plain with rows long enough to be split in pieces; and
  // a graph input's QuantizeLinear transposing NCHW to the int8 NHWC. Values sit on a grid of
  // 1/8 with a scale of 1/2 (exact ties, rounded half to even) and beyond the saturation; odd
  // channel counts and a 16-channel one, batch 2; u8 and i8 with zero points.
  Net n;
  n.b.input("x", DType::f32, {2, 3, 13, 11});
  n.b.input("z", DType::f32, {2, 16, 13, 11});
  n.b.input("l1", DType::f32, {1, 40000});
  n.b.input("l2", DType::f32, {1, 30001});
  auto params = [&](float s, int zp, DType t) {
    return std::vector<std::string>{
        n.constant(Tensor::scalar<float>(s)),
        n.constant(t == DType::u8 ? Tensor::scalar<uint8_t>(static_cast<uint8_t>(zp))
                                  : Tensor::scalar<int8_t>(static_cast<int8_t>(zp)))};
  };
  auto quantize = [&](const std::string& v, float s, int zp, DType t, const std::string& out) {
    std::vector<std::string> p = params(s, zp, t);
    n.b.node("QuantizeLinear", {v, p[0], p[1]}, {out});
    n.b.output(out, t);
  };
  quantize("x", 0.5f, 3, DType::u8, "xq");  // graph input: plain -> nhwc
  std::string a = n.op("Relu", {"z"});
  std::string b = n.op("Mul", {"x", n.constant(Tensor::scalar<float>(2.f))});
  quantize(n.op("Concat", {"x", a, b}, {{"axis", attr_int(1)}}), 0.5f, -3, DType::i8, "cq");
  std::string r1 =
      n.op("Reshape", {"x", n.constant(Tensor::from_vector<int64_t>({3}, {2, 1, -1}))});
  std::string r2 =
      n.op("Reshape", {"z", n.constant(Tensor::from_vector<int64_t>({3}, {2, 1, -1}))});
  quantize(n.op("Concat", {r1, r2}, {{"axis", attr_int(-1)}}), 0.5f, 128, DType::u8, "rq");
  quantize(n.op("Concat", {"l1", "l2"}, {{"axis", attr_int(1)}}), 0.5f, 0, DType::i8, "lq");
  std::mt19937 rng(21);
  std::uniform_int_distribution<int> grid(-700, 700);
  auto on_grid = [&](Shape s) {
    Tensor t(DType::f32, s);
    for (size_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(grid(rng)) / 8;
    return t;
  };
  std::vector<Tensor> in = {on_grid({2, 3, 13, 11}), on_grid({2, 16, 13, 11}), on_grid({1, 40000}),
                            on_grid({1, 30001})};
  std::string bytes = n.b.serialize();
  std::vector<Tensor> want = reference_run(bytes, in);
  size_t ties = 0, saturated = 0;
  for (size_t i = 0; i < in[0].numel(); ++i) {
    const float v = in[0].data<float>()[i] / 0.5f;
    ties += v != std::floor(v);
    saturated += v + 3 > 255 || v + 3 < 0;
  }
  ASSERT_GT(ties, 50u);
  ASSERT_GT(saturated, 50u);
  for (int threads : {1, 2}) {
    Compiled c = fast_run(bytes, in, threads);
    EXPECT_EQ(count_chosen(c.decisions, ": cpu", {"visionrt.QConcat"}), 3u)
        << ::testing::PrintToString(c.decisions);
    EXPECT_EQ(count_chosen(c.decisions, ": cpu", {"QuantizeLinear"}), 1u)
        << ::testing::PrintToString(c.decisions);
    expect_bit_identical(c.outputs, want);
  }
}

TEST(FastPath, AnchorFreeHeadConcatReadsTheLevelMapsInTheirLayouts) {
  // YOLOv8's head: per level Concat(box, cls) along the channels, Reshape(N, C, -1), then Concat
  // along the positions. The last Concat becomes one visionrt.FlatConcat reading the blocked
  // (or, behind INT8 convolutions, channels-last) level maps: pure data movement, so only the
  // convolutions' rounding separates it from the reference. Channel counts that are not multiples
  // of 16 (20 + 7), levels whose H*W is not a multiple of 16, batch 2, and one input that is a
  // plain [N, C, L] tensor.
  for (bool qdq : {false, true}) {
    QdqNet n;
    n.b.input("x", DType::f32, {2, 8, 20, 18});
    n.b.input("extra", DType::f32, {2, 27, 13});
    std::string a = qdq ? n.qdq("x", 0.02f, 128, DType::u8) : std::string("x");
    std::vector<std::string> levels;
    int64_t stride = 1;
    for (int level = 0; level < 3; ++level, stride *= 2) {
      auto conv = [&](int64_t cout) {
        if (qdq) return n.qconv(a, 0.02f, 8, cout, 3, stride, 1, true, false);
        return n.conv(a, 8, cout, 3, stride);
      };
      std::string cat = n.op("Concat", {conv(20), conv(7)}, {{"axis", attr_int(1)}});
      levels.push_back(
          n.op("Reshape", {cat, n.constant(Tensor::from_vector<int64_t>({3}, {2, 27, -1}))}));
    }
    levels.insert(levels.begin() + 1, "extra");
    std::string y = n.op("Concat", levels, {{"axis", attr_int(2)}});
    n.b.node("Identity", {y}, {"y"});
    n.b.output("y", DType::f32);
    std::mt19937 rng(17);
    std::vector<Tensor> in = {random_tensor({2, 8, 20, 18}, rng, -1.f, 1.f),
                              random_tensor({2, 27, 13}, rng, -1.f, 1.f)};
    std::string bytes = n.b.serialize();
    std::vector<Tensor> want = reference_run(bytes, in);
    for (int threads : {1, 2}) {
      Compiled c = fast_run(bytes, in, threads);
      if (blocked_layouts()) {
        EXPECT_EQ(count_chosen(c.decisions, ": cpu", {"visionrt.FlatConcat"}), 1u)
            << ::testing::PrintToString(c.decisions);
      }
      if (qdq) {
        ASSERT_EQ(c.outputs[0].shape(), want[0].shape());
        EXPECT_LE(count_differing(c.outputs[0], want[0], 1e-4), want[0].numel() / 50);
      } else {
        expect_close(c.outputs[0], want[0], 2e-5, "flat concat");
      }
    }
    // In bf16 (level maps f32 from the convolutions, or bf16 ones through oneDNN's strided
    // reorders, whichever the precision pass chose).
    if (!qdq && cpu_supports_bf16()) {
      Compiled c = fast_run(bytes, in, 2, "bf16");
      if (blocked_layouts()) {
        EXPECT_EQ(count_chosen(c.decisions, ": cpu", {"visionrt.FlatConcat"}) +
                      count_chosen(c.decisions, ": dnnl", {"visionrt.FlatConcat"}),
                  1u)
            << ::testing::PrintToString(c.decisions);
      }
      expect_close(c.outputs[0], want[0], 3e-2, "flat concat, bf16");
    }
  }
}

TEST(FastPath, DflSoftmaxThenOneChannelConvIsOneExpectation) {
  // YOLOv8's DFL decoding: Softmax over 16 bins (axis 1 of [N, 16, 4, L]) then a 1x1 conv to one
  // channel with weights 0..15. Fused into visionrt.SoftmaxExpectation; also with arbitrary
  // weights, a bias, batch 2 and a length that is not a multiple of the 1024-column chunks.
  // A softmax whose output is also a graph output stays as it is.
  for (bool shared : {false, true}) {
    Net n;
    n.b.input("x", DType::f32, {2, 16, 4, 1100});
    std::string sm = n.op("Softmax", {"x"}, {{"axis", attr_int(1)}});
    std::mt19937 rng(31);
    Tensor w = random_tensor({1, 16, 1, 1}, rng, -2.f, 2.f);
    for (int64_t c = 0; c < 16 && !shared; ++c) w.data<float>()[c] = static_cast<float>(c);
    n.b.node("Conv", {sm, n.constant(w), n.constant(Tensor::from_vector<float>({1}, {0.25f}))},
             {"y"});
    n.b.output("y", DType::f32);
    if (shared) n.b.output(sm, DType::f32);
    std::vector<Tensor> in = {random_tensor({2, 16, 4, 1100}, rng, -6.f, 6.f)};
    std::string bytes = n.b.serialize();
    std::vector<Tensor> want = reference_run(bytes, in);
    for (int threads : {1, 2}) {
      Compiled c = fast_run(bytes, in, threads);
      EXPECT_EQ(count_chosen(c.decisions, ": cpu", {"visionrt.SoftmaxExpectation"}),
                shared ? 0u : 1u)
          << ::testing::PrintToString(c.decisions);
      ASSERT_EQ(c.outputs.size(), want.size());
      for (size_t o = 0; o < want.size(); ++o) expect_close(c.outputs[o], want[o], 2e-6, "dfl");
    }
  }
}

TEST(FastPath, DynamicQuantizationRunsOnOneDnnAndMatchesTheReferenceExactly) {
  // As dynamically quantized exports write it: DynamicQuantizeLinear on the activation, then
  // ConvInteger with its run-time zero point and constant int8 weights (zero weight zero
  // point), then Cast (own kernel) and the scale. The integers (u8 activations, int32 accumulators)
  // and the scale/zero point must be bit-identical to the reference; two layers, a stride-2 and a
  // grouped one, an input with a negative range so the zero point is not 0.
  Net n;
  n.b.input("x", DType::f32, {1, 5, 17, 15});
  std::mt19937 rng(4);
  std::uniform_int_distribution<int> wd(-int8_weight_max(), int8_weight_max());
  auto weights = [&](Shape s) {
    Tensor w(DType::i8, std::move(s));
    for (size_t i = 0; i < w.numel(); ++i) w.data<int8_t>()[i] = static_cast<int8_t>(wd(rng));
    return n.constant(w);
  };
  std::string wz = n.constant(Tensor::scalar<int8_t>(0));
  n.b.node("DynamicQuantizeLinear", {"x"}, {"xq", "xs", "xz"});
  n.b.node("ConvInteger", {"xq", weights({12, 5, 3, 3}), "xz", wz}, {"acc"},
           {{"pads", attr_ints({1, 1, 1, 1})}, {"strides", attr_ints({2, 2})}});
  n.b.node("Cast", {"acc"}, {"accf"}, {{"to", attr_int(1)}});
  n.b.node("Mul", {"accf", "xs"}, {"h"});
  n.b.node("DynamicQuantizeLinear", {"h"}, {"hq", "hs", "hz"});
  n.b.node("ConvInteger", {"hq", weights({12, 4, 3, 3}), "hz"}, {"y"},
           {{"pads", attr_ints({1, 1, 1, 1})}, {"group", attr_int(3)}});
  n.b.output("y", DType::i32);
  n.b.output("hq", DType::u8);
  n.b.output("hs", DType::f32);
  n.b.output("hz", DType::u8);
  n.b.output("accf", DType::f32);
  Tensor x = random_tensor({1, 5, 17, 15}, rng, -1.5f, 2.5f);
  std::string bytes = n.b.serialize();
  std::vector<Tensor> want = reference_run(bytes, {x});
  Compiled c = fast_run(bytes, {x}, 2);
  size_t fast = 0;
  for (const std::string& d : c.decisions)
    fast += (d.find("ConvInteger") != std::string::npos && d.find(": dnnl") != std::string::npos) ||
            ((d.find("DynamicQuantizeLinear") != std::string::npos || d.rfind("Cast", 0) == 0) &&
             d.find(": cpu") != std::string::npos);
  EXPECT_EQ(fast, 5u) << ::testing::PrintToString(c.decisions);
  ASSERT_EQ(c.outputs.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(c.outputs[i].shape(), want[i].shape()) << i;
    EXPECT_EQ(0, std::memcmp(c.outputs[i].raw(), want[i].raw(), want[i].nbytes()))
        << "output " << i;
  }
  EXPECT_NE(want[3].at_f64(0), 0.0) << "zero point 0: a weak test";
}

TEST(FastPath, GemmAndMatMulWithRunTimeSizesRunOnSgemm) {
  // Shapes known only at run time (as the box head after RoIAlign in R-CNN exports): Gemm with
  // transA/transB, alpha/beta and C as a scalar, [N] and [1, N]; MatMul of a rank-3 A by a 2-D B.
  // All on oneDNN's sgemm, equal to the reference within float rounding; zero rows too.
  Net n;
  n.b.input("x", DType::f32, {-1, 37});
  n.b.input("xt", DType::f32, {37, -1});
  n.b.input("x3", DType::f32, {2, -1, 37});
  std::mt19937 rng(11);
  std::string w1 = n.constant(random_tensor({23, 37}, rng)),
              c1 = n.constant(random_tensor({23}, rng));
  n.b.node("Gemm", {"x", w1, c1}, {"y1"},
           {{"transB", attr_int(1)}, {"alpha", attr_float(0.5f)}, {"beta", attr_float(2.f)}});
  std::string w2 = n.constant(random_tensor({37, 19}, rng));
  n.b.node("Gemm", {"xt", w2, n.constant(Tensor::scalar<float>(0.25f))}, {"y2"},
           {{"transA", attr_int(1)}});
  std::string w3 = n.constant(random_tensor({37, 11}, rng));
  n.b.node("MatMul", {"x3", w3}, {"y3"});
  std::string w4 = n.constant(random_tensor({37, 5}, rng)),
              c4 = n.constant(random_tensor({1, 5}, rng));
  n.b.node("Gemm", {"x", w4, c4}, {"y4"});
  // K = 0: the product is empty, the result is C alone.
  n.b.input("x0", DType::f32, {-1, 0});
  n.b.node("Gemm",
           {"x0", n.constant(Tensor(DType::f32, {0, 4})), n.constant(random_tensor({4}, rng))},
           {"y5"});
  for (const char* y : {"y1", "y2", "y3", "y4", "y5"}) n.b.output(y, DType::f32);
  std::string bytes = n.b.serialize();
  for (int64_t rows : {13, 0}) {
    std::vector<Tensor> in = {random_tensor({rows, 37}, rng), random_tensor({37, rows}, rng),
                              random_tensor({2, rows, 37}, rng), Tensor(DType::f32, {rows, 0})};
    std::vector<Tensor> want = reference_run(bytes, in);
    Compiled c = fast_run(bytes, in, 2);
    EXPECT_EQ(count_chosen(c.decisions, ": dnnl_sgemm"), 5u)
        << ::testing::PrintToString(c.decisions);
    for (size_t o = 0; o < want.size(); ++o) {
      ASSERT_EQ(c.outputs[o].shape(), want[o].shape()) << "output " << o << " rows " << rows;
      EXPECT_EQ(count_differing(c.outputs[o], want[o], 1e-4), 0u) << "output " << o;
    }
  }
}

TEST(FastPath, RoiAlignExpandAndScatterElementsMatchTheReference) {
  // The run-time-size kernels of two-stage detectors' RoI plumbing, against the reference on
  // awkward cases: RoiAlign avg (opset 16 half_pixel, adaptive sampling) and max (opset 10,
  // sampling_ratio 2), rois partly outside the map, batch 2, channels not a multiple of 8;
  // Expand of a column, a row and a scalar-like tensor (f32, i64, bool); ScatterElements along
  // axis 0, 1 and -1 with negative indices and indices smaller than the data (f32, i64 data,
  // i32 indices).
  for (int64_t opset : {16, 10}) {
    Net n;
    n.b = ModelBuilder(opset);
    n.b.input("x", DType::f32, {2, 5, 13, 11});
    n.b.input("rois", DType::f32, {6, 4});
    n.b.input("bi", DType::i64, {6});
    std::map<std::string, Attribute> a = {{"output_height", attr_int(3)},
                                          {"output_width", attr_int(4)},
                                          {"spatial_scale", attr_float(0.5f)}};
    if (opset == 10) {
      a["mode"] = attr_string("max");
      a["sampling_ratio"] = attr_int(2);
    }
    n.b.node("RoiAlign", {"x", "rois", "bi"}, {"y"}, a);
    n.b.output("y", DType::f32);
    std::mt19937 rng(21);
    Tensor x = random_tensor({2, 5, 13, 11}, rng, -3.f, 3.f);
    Tensor rois = Tensor::from_vector<float>(
        {6, 4}, {0,  0,  20, 24, 3.5f, 2.25f, 9,    7.5f,  -6, -4, 10, 30,
                 15, 18, 60, 40, 1,    1,     1.5f, 1.25f, 2,  30, 21, 25});
    Tensor bi = Tensor::from_vector<int64_t>({6}, {0, 1, 1, 0, 1, 0});
    std::string bytes = n.b.serialize();
    std::vector<Tensor> want = reference_run(bytes, {x, rois, bi});
    Compiled c = fast_run(bytes, {x, rois, bi}, 2);
    EXPECT_NE(::testing::PrintToString(c.decisions).find("RoiAlign 'RoiAlign_0': cpu"),
              std::string::npos)
        << ::testing::PrintToString(c.decisions);
    ASSERT_EQ(c.outputs[0].shape(), want[0].shape());
    double worst = 0;
    EXPECT_EQ(count_differing(c.outputs[0], want[0], 1e-5, &worst), 0u)
        << "opset " << opset << " worst " << worst;
  }
  Net n;
  n.b.input("col", DType::f32, {3, 1});
  n.b.input("ids", DType::i64, {1, 5});
  n.b.input("flag", DType::boolean, {1});
  n.b.node("Expand", {"col", n.constant(Tensor::from_vector<int64_t>({3}, {2, 3, 7}))}, {"e1"});
  n.b.node("Expand", {"ids", n.constant(Tensor::from_vector<int64_t>({3}, {4, 1, 5}))}, {"e2"});
  n.b.node("Expand", {"flag", n.constant(Tensor::from_vector<int64_t>({2}, {3, 2}))}, {"e3"});
  n.b.input("data", DType::f32, {4, 6, 5});
  n.b.input("idata", DType::i64, {3, 4});
  n.b.input("i0", DType::i32, {2, 3, 5});
  n.b.input("u0", DType::f32, {2, 3, 5});
  n.b.input("i1", DType::i64, {3, 2});
  n.b.input("u1", DType::i64, {3, 2});
  n.b.node("ScatterElements", {"data", "i0", "u0"}, {"s0"}, {{"axis", attr_int(1)}});
  n.b.node("ScatterElements", {"data", "i0", "u0"}, {"s1"}, {{"axis", attr_int(-1)}});
  n.b.node("ScatterElements", {"idata", "i1", "u1"}, {"s2"}, {{"axis", attr_int(0)}});
  n.b.output("e1", DType::f32).output("e2", DType::i64).output("e3", DType::boolean);
  n.b.output("s0", DType::f32).output("s1", DType::f32).output("s2", DType::i64);
  std::mt19937 rng(4);
  Tensor i0(DType::i32, {2, 3, 5});
  for (size_t i = 0; i < i0.numel(); ++i) i0.data<int32_t>()[i] = static_cast<int32_t>(i % 5) - 2;
  Tensor idata(DType::i64, {3, 4}), u1(DType::i64, {3, 2});
  for (size_t i = 0; i < idata.numel(); ++i) idata.data<int64_t>()[i] = static_cast<int64_t>(i);
  for (size_t i = 0; i < u1.numel(); ++i) u1.data<int64_t>()[i] = 100 + static_cast<int64_t>(i);
  std::vector<Tensor> in = {random_tensor({3, 1}, rng),
                            Tensor::from_vector<int64_t>({1, 5}, {7, -1, 0, 9, 3}),
                            Tensor::scalar<bool>(true).reshaped({1}),
                            random_tensor({4, 6, 5}, rng),
                            idata,
                            i0,
                            random_tensor({2, 3, 5}, rng),
                            Tensor::from_vector<int64_t>({3, 2}, {2, -1, 0, 1, -3, 2}),
                            u1};
  std::string bytes = n.b.serialize();
  std::vector<Tensor> want = reference_run(bytes, in);
  Compiled c = fast_run(bytes, in, 2);
  EXPECT_EQ(count_chosen(c.decisions, ": cpu", {"Expand", "ScatterElements"}), 6u)
      << ::testing::PrintToString(c.decisions);
  expect_bit_identical(c.outputs, want);
}

TEST(FastPath, TopKAndNonZeroMatchTheReference) {
  // TopK along the last axis and along axis 1 (strided), largest and smallest, with ties (the
  // lower index first) and a NaN row; NonZero on f32, bool and i64 of rank 1 to 3.
  Net n;
  n.b.input("x", DType::f32, {3, 40, 7});
  n.b.input("xi", DType::i64, {5, 9});
  n.b.input("mask", DType::boolean, {4, 6});
  n.b.node("TopK", {"x", n.constant(Tensor::from_vector<int64_t>({1}, {5}))}, {"v0", "i0"});
  n.b.node("TopK", {"x", n.constant(Tensor::from_vector<int64_t>({1}, {11}))}, {"v1", "i1"},
           {{"axis", attr_int(1)}, {"largest", attr_int(0)}});
  n.b.node("TopK", {"xi", n.constant(Tensor::from_vector<int64_t>({1}, {9}))}, {"v2", "i2"});
  n.b.node("NonZero", {"x"}, {"z0"});
  n.b.node("NonZero", {"mask"}, {"z1"});
  n.b.node("NonZero", {"xi"}, {"z2"});
  n.b.output("v0", DType::f32).output("i0", DType::i64).output("v1", DType::f32);
  n.b.output("i1", DType::i64).output("v2", DType::i64).output("i2", DType::i64);
  n.b.output("z0", DType::i64).output("z1", DType::i64).output("z2", DType::i64);
  std::mt19937 rng(8);
  Tensor x = random_tensor({3, 40, 7}, rng);
  float* xv = x.data<float>();
  for (size_t i = 0; i < x.numel(); i += 3) xv[i] = std::round(xv[i] * 2) / 2;  // ties
  for (size_t i = 0; i < x.numel(); i += 5) xv[i] = 0;                          // zeros
  xv[7] = std::nanf("");  // one NaN row for axis -1 (row 1 of batch 0)
  Tensor xi(DType::i64, {5, 9}), mask(DType::boolean, {4, 6});
  for (size_t i = 0; i < xi.numel(); ++i)
    xi.data<int64_t>()[i] = static_cast<int64_t>(i * 7 % 5) - 2;
  for (size_t i = 0; i < mask.numel(); ++i) mask.data<bool>()[i] = (i * 5 % 7) < 3;
  std::string bytes = n.b.serialize();
  std::vector<Tensor> want = reference_run(bytes, {x, xi, mask});
  Compiled c = fast_run(bytes, {x, xi, mask}, 2);
  EXPECT_EQ(count_chosen(c.decisions, ": cpu", {"TopK", "NonZero"}), 6u)
      << ::testing::PrintToString(c.decisions);
  expect_bit_identical(c.outputs, want);
}

TEST(FastPath, ComparisonsBroadcastIntoBoolLikeTheReference) {
  // Greater/Less/Equal/GreaterOrEqual/LessOrEqual of f32 into bool: a scalar threshold (the
  // score filter of detection exports), a per-row column, a full operand; equal values and NaN.
  Net n;
  n.b.input("a", DType::f32, {3, 1, 17});
  n.b.input("b", DType::f32, {1, 5, 17});
  std::string th = n.constant(Tensor::scalar<float>(0.25f));
  const char* ops[] = {"Greater", "Less", "Equal", "GreaterOrEqual", "LessOrEqual"};
  for (int i = 0; i < 5; ++i) {
    n.b.node(ops[i], {"a", "b"}, {"y" + std::to_string(i)});
    n.b.output("y" + std::to_string(i), DType::boolean);
  }
  n.b.node("Greater", {"b", th}, {"t"});
  n.b.output("t", DType::boolean);
  std::mt19937 rng(12);
  Tensor a = random_tensor({3, 1, 17}, rng), b = random_tensor({1, 5, 17}, rng);
  for (int i = 0; i < 17; i += 4) b.data<float>()[i] = a.data<float>()[i];  // equal values
  for (int i = 1; i < 17; i += 4) b.data<float>()[i] = 0.25f;
  a.data<float>()[3] = std::nanf("");
  b.data<float>()[20] = std::nanf("");
  std::string bytes = n.b.serialize();
  std::vector<Tensor> want = reference_run(bytes, {a, b});
  Compiled c = fast_run(bytes, {a, b}, 2);
  EXPECT_EQ(count_chosen(c.decisions, ": cpu"), 6u) << ::testing::PrintToString(c.decisions);
  for (const Tensor& t : c.outputs) ASSERT_EQ(t.dtype(), DType::boolean);
  expect_bit_identical(c.outputs, want);
}

TEST(FastPath, TransposeOfAnyTypeAtRunTimeSizes) {
  // Index tensors (i64 [2, N] -> [N, 2]), bool 3-D, and f32 whose sizes are only known at run
  // time (oneDNN's reorder wants static f32): the fallback kernel, equal to the reference.
  Net n;
  n.b.input("i", DType::i64, {2, 9});
  n.b.input("m", DType::boolean, {3, 4, 5});
  n.b.input("x", DType::f32, {-1, 3, 4, 6});
  n.b.node("Transpose", {"i"}, {"t0"}, {{"perm", attr_ints({1, 0})}});
  n.b.node("Transpose", {"m"}, {"t1"}, {{"perm", attr_ints({2, 0, 1})}});
  n.b.node("Transpose", {"x"}, {"t2"}, {{"perm", attr_ints({0, 2, 3, 1})}});
  n.b.node("Transpose", {"m"}, {"t3"});
  n.b.output("t0", DType::i64).output("t1", DType::boolean).output("t2", DType::f32);
  n.b.output("t3", DType::boolean);
  std::mt19937 rng(13);
  Tensor i(DType::i64, {2, 9}), m(DType::boolean, {3, 4, 5});
  for (size_t k = 0; k < i.numel(); ++k) i.data<int64_t>()[k] = static_cast<int64_t>(k * 31 % 17);
  for (size_t k = 0; k < m.numel(); ++k) m.data<bool>()[k] = k % 3 == 1;
  Tensor x = random_tensor({2, 3, 4, 6}, rng);
  std::string bytes = n.b.serialize();
  std::vector<Tensor> want = reference_run(bytes, {i, m, x});
  Compiled c = fast_run(bytes, {i, m, x}, 2);
  EXPECT_EQ(count_chosen(c.decisions, ": cpu"), 4u) << ::testing::PrintToString(c.decisions);
  expect_bit_identical(c.outputs, want);
}

TEST(FastPath, ConvolutionsAtRunTimeSizesAreBuiltPerSize) {
  // A mask head's convolutions see as many RoIs as survived detection: batch unknown at compile
  // time. Conv (+ReLU fused), a strided grouped Conv and ConvTranspose run on oneDNN kernels
  // built for each concrete size (two sizes, then the first again from the cache), equal to the
  // reference.
  Net n;
  n.b.input("x", DType::f32, {-1, 8, 14, 14});
  std::string c1 = n.op("Relu", {n.conv("x", 8, 16, 3)});
  std::string c2 = n.conv(c1, 16, 16, 3, 2, 1, 4);
  std::string w = n.constant(random_tensor({16, 6, 2, 2}, n.rng, -0.3f, 0.3f));
  n.b.node("ConvTranspose", {c2, w}, {"y"}, {{"strides", attr_ints({2, 2})}});
  n.b.output("y", DType::f32);
  std::string bytes = n.b.serialize();
  Core core;
  CompiledModel cm = core.compile_model(core.read_model_from_memory(bytes, "dyn.onnx"),
                                        {{"INFERENCE_NUM_THREADS", "2"}});
  EXPECT_EQ(count_chosen(cm.kernel_decisions(), ": per_size"), 3u)
      << ::testing::PrintToString(cm.kernel_decisions());
  InferRequest r = cm.create_infer_request();
  std::mt19937 rng(5);
  for (int64_t batch : {3, 1, 3}) {
    Tensor x = random_tensor({batch, 8, 14, 14}, rng);
    std::vector<Tensor> want = reference_run(bytes, {x});
    r.set_input_tensor(0, x);
    r.infer();
    Tensor y = r.get_output_tensor(0);
    ASSERT_EQ(y.shape(), want[0].shape()) << "batch " << batch;
    double worst = 0;
    EXPECT_EQ(count_differing(y, want[0], 1e-4, &worst), 0u) << "batch " << batch << " " << worst;
  }
}

TEST(FastPath, ResizeAtRunTimeSizesIsBuiltPerSize) {
  // Mask pasting resizes each detection's mask to its box: the source size is unknown at compile
  // time and the target size is a run-time input. Built per (size, target) with the target
  // values in the key: three different targets, then the first again, equal to the reference.
  Net n;
  n.b.input("m", DType::f32, {-1, 1, 28, 28});
  n.b.input("sizes", DType::i64, {4});
  n.b.node("Resize", {"m", "", "", "sizes"}, {"y"},
           {{"mode", attr_string("linear")},
            {"coordinate_transformation_mode", attr_string("half_pixel")}});
  n.b.output("y", DType::f32);
  std::string bytes = n.b.serialize();
  Core core;
  CompiledModel cm = core.compile_model(core.read_model_from_memory(bytes, "resize.onnx"),
                                        {{"INFERENCE_NUM_THREADS", "1"}});
  EXPECT_EQ(count_chosen(cm.kernel_decisions(), ": per_size"), 1u)
      << ::testing::PrintToString(cm.kernel_decisions());
  InferRequest r = cm.create_infer_request();
  std::mt19937 rng(6);
  for (auto hw : std::vector<std::pair<int64_t, int64_t>>{{37, 19}, {12, 50}, {28, 28}, {37, 19}}) {
    Tensor m = random_tensor({2, 1, 28, 28}, rng);
    Tensor sizes = Tensor::from_vector<int64_t>({4}, {2, 1, hw.first, hw.second});
    std::vector<Tensor> want = reference_run(bytes, {m, sizes});
    r.set_input_tensor(0, m);
    r.set_input_tensor(1, sizes);
    r.infer();
    Tensor y = r.get_output_tensor(0);
    ASSERT_EQ(y.shape(), want[0].shape());
    EXPECT_EQ(count_differing(y, want[0], 1e-5), 0u) << hw.first << "x" << hw.second;
  }
}
