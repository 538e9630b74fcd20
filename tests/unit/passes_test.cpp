// Graph passes on models built in code: constant folding (through the reference kernels),
// dead-node elimination, fp16 models run in fp32, and the verifier.
#include <gtest/gtest.h>

#include "onnx/builder.hpp"
#include "onnx/importer.hpp"
#include "passes/passes.hpp"
#include "visionrt/core.hpp"

using namespace visionrt;

TEST(Passes, FoldsShapeChainsAndDropsDeadNodes) {
  // y = Reshape(x, Concat(Shape(x)[0], -1)): with a static input the whole shape computation
  // folds away; the unused Neg branch is dead.
  ModelBuilder b(17);
  b.input("x", DType::f32, {2, 3, 4});
  b.node("Shape", {"x"}, {"s"});
  b.initializer("idx", Tensor::from_vector<int64_t>({1}, {0}));
  b.node("Gather", {"s", "idx"}, {"n"}, {{"axis", attr_int(0)}});
  b.initializer("minus1", Tensor::from_vector<int64_t>({1}, {-1}));
  b.node("Concat", {"n", "minus1"}, {"shape"}, {{"axis", attr_int(0)}});
  b.node("Reshape", {"x", "shape"}, {"y"});
  b.node("Neg", {"x"}, {"unused"});
  b.output("y", DType::f32);
  auto g = load_onnx_bytes(b.serialize(), "fold.onnx", "");
  ASSERT_EQ(g->nodes.size(), 5u);
  run_default_passes(*g);
  ASSERT_EQ(g->nodes.size(), 1u);
  EXPECT_EQ(g->nodes[0].op_type, "Reshape");
  const Value& shape = g->values[g->nodes[0].inputs[1]];
  ASSERT_TRUE(shape.constant.has_value());
  EXPECT_EQ(shape.constant->to_i64_vector(),
            (std::vector<int64_t>{2, -1}));  // Concat(Gather(Shape), -1)
  EXPECT_EQ(g->values[g->outputs[0]].type.dims, (Shape{2, 12}));
}

TEST(Passes, Fp16ModelRunsInFp32WithF16Boundary) {
  ModelBuilder b(17);
  b.input("x", DType::f16, {3});
  Tensor w = Tensor::from_vector<float>({3}, {1.0f / 3, 2.0f / 3, 1.0f}).cast(DType::f16);
  b.initializer("w", w);
  b.node("Mul", {"x", "w"}, {"m"});
  b.node("Mul", {"m", "w"}, {"y"});
  b.output("y", DType::f16);
  Core core;
  CompiledModel cm = core.compile_model(core.read_model_from_memory(b.serialize(), "h.onnx"));
  EXPECT_EQ(cm.inputs()[0].dtype, DType::f16);
  EXPECT_EQ(cm.outputs()[0].dtype, DType::f16);
  InferRequest r = cm.create_infer_request();
  Tensor x = Tensor::from_vector<float>({3}, {3.0f, 1.5f, 0.1f}).cast(DType::f16);
  r.set_input_tensor(0, x);
  r.infer();
  Tensor y = r.get_output_tensor(0);
  ASSERT_EQ(y.dtype(), DType::f16);
  // Expected: f32 products of the f16 operands, rounded to f16 once at the end.
  for (size_t i = 0; i < 3; ++i) {
    float wx = static_cast<float>(w.data<f16>()[i]), xx = static_cast<float>(x.data<f16>()[i]);
    EXPECT_EQ(y.data<f16>()[i].bits, f16(xx * wx * wx).bits) << i;
  }
}

TEST(Passes, VerifierRejectsUseBeforeDefinition) {
  Graph g;
  g.path = "v.onnx";
  int x = g.add_value("x");
  int y = g.add_value("y");
  int z = g.add_value("z");
  g.inputs = {x};
  Node a;
  a.op_type = "Relu";
  a.name = "a";
  a.inputs = {z};
  a.outputs = {y};
  Node b;
  b.op_type = "Relu";
  b.name = "b";
  b.inputs = {x};
  b.outputs = {z};
  g.nodes = {a, b};
  g.outputs = {y};
  EXPECT_THROW(verify_graph(g), ModelError);
  std::swap(g.nodes[0], g.nodes[1]);
  EXPECT_NO_THROW(verify_graph(g));
}
