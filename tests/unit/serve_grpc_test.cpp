// `visionrt serve --grpc-port`: the KServe v2 gRPC service (src/serve/grpc) driven by a gRPC
// client over the loopback, checked against the runtime called directly.
#ifdef VISIONRT_WITH_GRPC
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "grpc_predict_v2.grpc.pb.h"
#include "onnx/builder.hpp"
#include "serve/grpc/grpc_server.hpp"
#include "test_util.hpp"
#include "visionrt/core.hpp"

namespace visionrt::serve {
namespace {

namespace fs = std::filesystem;

struct GrpcFixture {
  GrpcFixture() {
    model = (test::temp_dir("grpc_model") / "tiny.onnx").string();
    make_demo_detector().save(model);
    ServeOptions o;
    o.threads = 2;
    handler.add_model("tiny", model, o);
    server = std::make_unique<GrpcServer>(handler, "127.0.0.1", 0, 64u << 20);
    port = server->start();
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                       grpc::InsecureChannelCredentials());
    stub = inference::GRPCInferenceService::NewStub(channel);
  }
  std::string model;
  KServeHandler handler;
  std::unique_ptr<GrpcServer> server;
  int port = 0;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub;
};

GrpcFixture& fixture() {
  static GrpcFixture* f = new GrpcFixture();
  return *f;
}

std::vector<float> random_values(uint32_t seed) {
  std::vector<float> v(3 * 64 * 64);
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  for (float& x : v) x = u(gen);
  return v;
}

std::vector<float> direct(const std::string& model, const std::vector<float>& in) {
  Core core;
  CompiledModel cm = core.compile_model(model, {{"INFERENCE_NUM_THREADS", "1"}});
  InferRequest r = cm.create_infer_request();
  r.set_input_tensor(0, Tensor::from_vector<float>({1, 3, 64, 64}, in));
  r.infer();
  Tensor out = r.get_output_tensor(0);
  return {out.data<float>(), out.data<float>() + out.numel()};
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-5 * (1 + std::abs(want[i]))) << i;
}

TEST(ServeGrpc, HealthAndMetadata) {
  auto& f = fixture();
  {
    grpc::ClientContext c;
    inference::ServerLiveResponse r;
    ASSERT_TRUE(f.stub->ServerLive(&c, {}, &r).ok());
    EXPECT_TRUE(r.live());
  }
  {
    grpc::ClientContext c;
    inference::ServerMetadataResponse r;
    ASSERT_TRUE(f.stub->ServerMetadata(&c, {}, &r).ok());
    EXPECT_EQ(r.name(), "visionrt");
  }
  {
    grpc::ClientContext c;
    inference::ModelMetadataRequest q;
    q.set_name("tiny");
    inference::ModelMetadataResponse r;
    ASSERT_TRUE(f.stub->ModelMetadata(&c, q, &r).ok());
    ASSERT_EQ(r.inputs_size(), 1);
    EXPECT_EQ(r.inputs(0).name(), "images");
    EXPECT_EQ(r.inputs(0).datatype(), "FP32");
    EXPECT_EQ(std::vector<int64_t>(r.inputs(0).shape().begin(), r.inputs(0).shape().end()),
              (std::vector<int64_t>{1, 3, 64, 64}));
  }
  {
    grpc::ClientContext c;
    inference::ModelReadyRequest q;
    q.set_name("nope");
    inference::ModelReadyResponse r;
    grpc::Status s = f.stub->ModelReady(&c, q, &r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_NE(s.error_message().find("unknown model 'nope'"), std::string::npos);
  }
}

inference::ModelInferRequest request_of(const std::vector<float>& v, bool raw) {
  inference::ModelInferRequest q;
  q.set_model_name("tiny");
  q.set_id("g1");
  auto* in = q.add_inputs();
  in->set_name("images");
  in->set_datatype("FP32");
  for (int64_t d : {1, 3, 64, 64}) in->add_shape(d);
  if (raw)
    q.add_raw_input_contents(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
  else
    for (float x : v) in->mutable_contents()->add_fp32_contents(x);
  return q;
}

TEST(ServeGrpc, InferWithTypedAndRawContentsEqualsTheRuntime) {
  auto& f = fixture();
  for (bool raw : {false, true}) {
    SCOPED_TRACE(raw ? "raw_input_contents" : "fp32_contents");
    const std::vector<float> v = random_values(raw ? 21 : 22);
    grpc::ClientContext c;
    inference::ModelInferResponse r;
    grpc::Status s = f.stub->ModelInfer(&c, request_of(v, raw), &r);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(r.id(), "g1");
    ASSERT_EQ(r.outputs_size(), 1);
    EXPECT_EQ(r.outputs(0).name(), "output0");
    ASSERT_EQ(r.raw_output_contents_size(), 1);
    const std::string& bytes = r.raw_output_contents(0);
    std::vector<float> got(bytes.size() / 4);
    std::memcpy(got.data(), bytes.data(), bytes.size());
    expect_close(got, direct(f.model, v));
  }
}

TEST(ServeGrpc, BadRequestsAreInvalidArgumentAndTheServerGoesOn) {
  auto& f = fixture();
  const std::vector<float> v = random_values(3);
  struct Case {
    const char* what;
    std::function<void(inference::ModelInferRequest&)> edit;
    grpc::StatusCode code;
    const char* says;
  };
  const std::vector<Case> cases = {
      {"unknown model", [](auto& q) { q.set_model_name("x"); }, grpc::StatusCode::NOT_FOUND,
       "unknown model"},
      {"wrong shape", [](auto& q) { q.mutable_inputs(0)->set_shape(2, 32); },
       grpc::StatusCode::INVALID_ARGUMENT, "does not fit"},
      {"wrong datatype", [](auto& q) { q.mutable_inputs(0)->set_datatype("INT32"); },
       grpc::StatusCode::INVALID_ARGUMENT, "the model takes FP32"},
      {"short contents",
       [](auto& q) {
         q.mutable_inputs(0)->mutable_contents()->mutable_fp32_contents()->RemoveLast();
       },
       grpc::StatusCode::INVALID_ARGUMENT, "fp32_contents has 12287"},
      {"no inputs", [](auto& q) { q.clear_inputs(); }, grpc::StatusCode::INVALID_ARGUMENT,
       "no inputs"},
      {"unknown output", [](auto& q) { q.add_outputs()->set_name("y"); },
       grpc::StatusCode::INVALID_ARGUMENT, "no output 'y'"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    inference::ModelInferRequest q = request_of(v, false);
    c.edit(q);
    grpc::ClientContext ctx;
    inference::ModelInferResponse r;
    grpc::Status s = f.stub->ModelInfer(&ctx, q, &r);
    EXPECT_EQ(s.error_code(), c.code);
    EXPECT_NE(s.error_message().find(c.says), std::string::npos) << s.error_message();
  }
  // Raw contents of the wrong size.
  inference::ModelInferRequest q = request_of(v, true);
  q.mutable_raw_input_contents(0)->resize(100);
  grpc::ClientContext ctx;
  inference::ModelInferResponse r;
  grpc::Status s = f.stub->ModelInfer(&ctx, q, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("raw_input_contents holds 100 bytes"), std::string::npos);
  grpc::ClientContext ok_ctx;
  EXPECT_TRUE(f.stub->ModelInfer(&ok_ctx, request_of(v, true), &r).ok());
}

}  // namespace
}  // namespace visionrt::serve
#endif  // VISIONRT_WITH_GRPC
