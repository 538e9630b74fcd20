// Control flow (If, Loop, Scan) on models built in code, against hand-computed values: outer-scope
// captures (a graph input and an initializer read inside a body), a nested If inside a branch,
// loop-carried state with an early exit and scan outputs, zero iterations, Scan with reversed
// directions and a non-zero output axis, and load errors inside subgraphs.
#include <gtest/gtest.h>

#include "onnx/builder.hpp"
#include "test_util.hpp"
#include "visionrt/core.hpp"
#include "visionrt/error.hpp"

using namespace visionrt;

namespace {

std::vector<Tensor> run(const ModelBuilder& b, const std::vector<Tensor>& inputs) {
  Core core;
  CompiledModel cm = core.compile_model(core.read_model_from_memory(b.serialize(), "cf.onnx"));
  InferRequest r = cm.create_infer_request();
  for (size_t i = 0; i < inputs.size(); ++i) r.set_input_tensor(i, inputs[i]);
  r.infer();
  std::vector<Tensor> out;
  for (size_t i = 0; i < cm.outputs().size(); ++i) out.push_back(r.get_output_tensor(i).clone());
  return out;
}

std::vector<float> floats(const Tensor& t) {
  std::vector<float> v;
  for (size_t i = 0; i < t.numel(); ++i) v.push_back(static_cast<float>(t.at_f64(i)));
  return v;
}

Tensor f32(const Shape& s, std::vector<float> v) { return Tensor::from_vector<float>(s, v); }
Tensor flag(bool b) { return Tensor::scalar<bool>(b); }

}  // namespace

TEST(ControlFlow, IfReadsOuterScopeValuesAndNestsAnotherIf) {
  // y = cond ? (cond2 ? x * w : x + w) : x - 1, with x a graph input and w an initializer, both
  // read only inside the branches (the nested If reads them two levels down).
  ModelBuilder inner_then, inner_else, then_b, else_b, m(13);
  inner_then.node("Mul", {"x", "w"}, {"t_out"}).output("t_out", DType::f32);
  inner_else.node("Add", {"x", "w"}, {"e_out"}).output("e_out", DType::f32);
  then_b.node_with_graphs("If", {"cond2"}, {"nested"},
                          {{"then_branch", &inner_then}, {"else_branch", &inner_else}});
  then_b.output("nested", DType::f32);
  else_b.initializer("one", Tensor::scalar<float>(1.f));
  else_b.node("Sub", {"x", "one"}, {"minus"}).output("minus", DType::f32);
  m.input("cond", DType::boolean, {}).input("cond2", DType::boolean, {});
  m.input("x", DType::f32, {3});
  m.initializer("w", f32({3}, {10, 20, 30}));
  m.node_with_graphs("If", {"cond"}, {"y"}, {{"then_branch", &then_b}, {"else_branch", &else_b}});
  m.output("y", DType::f32);
  Tensor x = f32({3}, {1, 2, 3});
  EXPECT_EQ(floats(run(m, {flag(true), flag(true), x})[0]), (std::vector<float>{10, 40, 90}));
  EXPECT_EQ(floats(run(m, {flag(true), flag(false), x})[0]), (std::vector<float>{11, 22, 33}));
  EXPECT_EQ(floats(run(m, {flag(false), flag(true), x})[0]), (std::vector<float>{0, 1, 2}));
  // A condition that is not one value is a clear error.
  std::string msg = test::error_of<InputError>([&] {
    run(m, {Tensor(DType::boolean, {2}), flag(true), x});
  });
  EXPECT_NE(msg.find("input 'cond'"), std::string::npos) << msg;
}

TEST(ControlFlow, LoopCarriesStateStacksScanOutputsAndStopsOnItsCondition) {
  // for i in range(M) while cond: s = s + x * i; scan out s; cond = sum(s) < limit.
  // x = [1, 2] (outer scope), s0 = [0, 0], limit = 20: s after i=0..4 is [0,0], [1,2], [3,6],
  // [6,12] (sum 18 < 20 continues), [10,20] (sum 30 stops). Five iterations of M = 10.
  ModelBuilder body, m(13);
  body.input("i", DType::i64, {}).input("c", DType::boolean, {}).input("s", DType::f32, {2});
  body.node("Cast", {"i"}, {"fi"}, {{"to", attr_int(1)}});
  body.node("Mul", {"x", "fi"}, {"xi"}).node("Add", {"s", "xi"}, {"s2"});
  body.node("ReduceSum", {"s2"}, {"total"}, {{"keepdims", attr_int(0)}});
  body.node("Less", {"total", "limit"}, {"go"});
  body.node("Identity", {"s2"}, {"scan"});
  body.output("go", DType::boolean).output("s2", DType::f32).output("scan", DType::f32, {2});
  m.input("x", DType::f32, {2}).input("M", DType::i64, {});
  m.initializer("limit", Tensor::scalar<float>(20.f));
  m.initializer("s0", f32({2}, {0, 0}));
  m.initializer("go0", flag(true));
  m.node_with_graphs("Loop", {"M", "go0", "s0"}, {"s_final", "s_all"}, {{"body", &body}});
  m.output("s_final", DType::f32).output("s_all", DType::f32);
  Tensor x = f32({2}, {1, 2});
  std::vector<Tensor> r = run(m, {x, Tensor::scalar<int64_t>(10)});
  EXPECT_EQ(floats(r[0]), (std::vector<float>{10, 20}));
  EXPECT_EQ(r[1].shape(), (Shape{5, 2}));
  EXPECT_EQ(floats(r[1]), (std::vector<float>{0, 0, 1, 2, 3, 6, 6, 12, 10, 20}));
  // M = 2 stops first; M = 0 runs nothing: the initial state and an empty scan output.
  r = run(m, {x, Tensor::scalar<int64_t>(2)});
  EXPECT_EQ(floats(r[0]), (std::vector<float>{1, 2}));
  EXPECT_EQ(r[1].shape(), (Shape{2, 2}));
  r = run(m, {x, Tensor::scalar<int64_t>(0)});
  EXPECT_EQ(floats(r[0]), (std::vector<float>{0, 0}));
  EXPECT_EQ(r[1].shape(), (Shape{0, 2}));
}

TEST(ControlFlow, LoopCarriedConcatAppendsRowsAsTorchvisionPastesMasks) {
  // res = zeros(0, 2); for i in range(M): res = cat((res, [[i, 10 i] * x]))  (the body reads res
  // only in the Concat: run as an append) and, in a second carried value, the same with the
  // running row count added (the body reads it through Shape: the Concat stays in the body).
  // Both give the same rows; M = 0 returns the initial [0, 2].
  ModelBuilder body, m(13);
  body.input("i", DType::i64, {}).input("c", DType::boolean, {});
  body.input("res", DType::f32, {-1, 2}).input("res2", DType::f32, {-1, 2});
  body.node("Cast", {"i"}, {"fi"}, {{"to", attr_int(1)}});
  body.node("Mul", {"fi", "scale"}, {"row1"});
  body.node("Mul", {"row1", "x"}, {"row"});
  body.node("Concat", {"res", "row"}, {"res_next"}, {{"axis", attr_int(0)}});
  body.node("Shape", {"res2"}, {"n2"});
  body.node("Slice", {"n2", "zero", "one"}, {"rows_so_far"});
  body.node("Cast", {"rows_so_far"}, {"rows_f"}, {{"to", attr_int(1)}});
  body.node("Sub", {"row", "rows_f"}, {"row_minus"});
  body.node("Add", {"row_minus", "rows_f"}, {"row2"});
  body.node("Concat", {"res2", "row2"}, {"res2_next"}, {{"axis", attr_int(0)}});
  body.node("Identity", {"c"}, {"go"});
  body.output("go", DType::boolean).output("res_next", DType::f32).output("res2_next", DType::f32);
  m.input("x", DType::f32, {1, 2}).input("M", DType::i64, {});
  m.initializer("scale", f32({1, 2}, {1, 10}));
  m.initializer("zero", Tensor::from_vector<int64_t>({1}, {0}));
  m.initializer("one", Tensor::from_vector<int64_t>({1}, {1}));
  m.initializer("empty", Tensor(DType::f32, {0, 2}));
  m.initializer("go0", flag(true));
  m.node_with_graphs("Loop", {"M", "go0", "empty", "empty"}, {"rows", "rows2"}, {{"body", &body}});
  m.output("rows", DType::f32).output("rows2", DType::f32);
  std::vector<Tensor> r = run(m, {f32({1, 2}, {2, 3}), Tensor::scalar<int64_t>(4)});
  const std::vector<float> want = {0, 0, 2, 30, 4, 60, 6, 90};
  EXPECT_EQ(r[0].shape(), (Shape{4, 2}));
  EXPECT_EQ(floats(r[0]), want);
  EXPECT_EQ(floats(r[1]), want);
  r = run(m, {f32({1, 2}, {2, 3}), Tensor::scalar<int64_t>(0)});
  EXPECT_EQ(r[0].shape(), (Shape{0, 2}));
}

TEST(ControlFlow, ScanWithReversedInputAndOutputAlongAxisOne) {
  // Running sum over the rows of a [3, 2] input read bottom-up (scan_input_directions 1), the
  // partial sums stacked along axis 1 of a [2, 3] output in reverse order; plus an outer-scope
  // offset added to every partial sum.
  ModelBuilder body, m(16);
  body.input("acc", DType::f32, {2}).input("row", DType::f32, {2});
  body.node("Add", {"acc", "row"}, {"acc2"}).node("Add", {"acc2", "offset"}, {"out"});
  body.output("acc2", DType::f32).output("out", DType::f32, {2});
  m.input("rows", DType::f32, {3, 2});
  m.initializer("init", f32({2}, {0, 0}));
  m.initializer("offset", f32({2}, {100, 200}));
  m.node_with_graphs("Scan", {"init", "rows"}, {"total", "partial"}, {{"body", &body}},
                     {{"num_scan_inputs", attr_int(1)},
                      {"scan_input_directions", attr_ints({1})},
                      {"scan_output_axes", attr_ints({1})},
                      {"scan_output_directions", attr_ints({1})}});
  m.output("total", DType::f32).output("partial", DType::f32);
  // rows bottom-up: [5,6], [3,4], [1,2]; sums [5,6], [8,10], [9,12]; +offset; reversed in time.
  std::vector<Tensor> r = run(m, {f32({3, 2}, {1, 2, 3, 4, 5, 6})});
  EXPECT_EQ(floats(r[0]), (std::vector<float>{9, 12}));
  ASSERT_EQ(r[1].shape(), (Shape{2, 3}));
  EXPECT_EQ(floats(r[1]), (std::vector<float>{109, 108, 105, 212, 210, 206}));
}

TEST(ControlFlow, ErrorsInsideSubgraphsNameTheProblem) {
  Core core;
  // An op visionrt does not have, inside a Loop body: reported at compile, by name.
  ModelBuilder body, m(13);
  body.input("i", DType::i64, {}).input("c", DType::boolean, {});
  body.node("NoSuchOp", {"i"}, {"z"}).node("Identity", {"c"}, {"c2"});
  body.output("c2", DType::boolean).output("z", DType::i64);
  m.initializer("M", Tensor::scalar<int64_t>(2));
  m.node_with_graphs("Loop", {"M", ""}, {"zs"}, {{"body", &body}});
  m.output("zs", DType::i64);
  std::string msg = test::error_of<ModelError>(
      [&] { core.compile_model(core.read_model_from_memory(m.serialize(), "bad.onnx")); });
  EXPECT_NE(msg.find("NoSuchOp"), std::string::npos) << msg;
  // Branches with different output counts: a load-time error naming the node.
  ModelBuilder a, b, n(13);
  a.node("Identity", {"x"}, {"p"}).output("p", DType::f32);
  b.node("Identity", {"x"}, {"q"}).node("Identity", {"x"}, {"r"});
  b.output("q", DType::f32).output("r", DType::f32);
  n.input("cond", DType::boolean, {}).input("x", DType::f32, {2});
  n.node_with_graphs("If", {"cond"}, {"y"}, {{"then_branch", &a}, {"else_branch", &b}});
  n.output("y", DType::f32);
  msg = test::error_of<ModelError>([&] { core.read_model_from_memory(n.serialize(), "if.onnx"); });
  EXPECT_NE(msg.find("then_branch has 1 outputs and else_branch 2"), std::string::npos) << msg;
}
