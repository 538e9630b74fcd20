#include "serve/grpc/grpc_server.hpp"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstring>
#include <limits>

#include "common/strings.hpp"
#include "grpc_predict_v2.grpc.pb.h"

namespace visionrt::serve {
namespace {

grpc::Status status_of(const std::exception& e) {
  if (auto* h = dynamic_cast<const HttpError*>(&e)) {
    switch (h->status()) {
      case 404:
        return {grpc::StatusCode::NOT_FOUND, h->what()};
      case 413:
      case 507:
        return {grpc::StatusCode::RESOURCE_EXHAUSTED, h->what()};
      default:
        return {h->status() < 500 ? grpc::StatusCode::INVALID_ARGUMENT : grpc::StatusCode::INTERNAL,
                h->what()};
    }
  }
  if (dynamic_cast<const InputError*>(&e)) return {grpc::StatusCode::INVALID_ARGUMENT, e.what()};
  return {grpc::StatusCode::INTERNAL, e.what()};
}

template <typename F>
grpc::Status guarded(F&& f) {
  try {
    f();
    return grpc::Status::OK;
  } catch (const std::bad_alloc&) {
    return {grpc::StatusCode::RESOURCE_EXHAUSTED, "out of memory for this request"};
  } catch (const std::exception& e) {
    return status_of(e);
  }
}

// Copies `n` typed contents into the tensor, range-checked into narrower integer types.
template <typename T, typename Repeated>
void put_contents(Tensor* t, const Repeated& values, const std::string& name, const char* field) {
  if (static_cast<size_t>(values.size()) != t->numel())
    throw HttpError(400, str_cat("input '", name, "': ", field, " has ", values.size(),
                                 " elements, its shape holds ", t->numel()));
  T* out = static_cast<T*>(t->raw());
  for (int i = 0; i < values.size(); ++i) {
    const auto v = values.Get(i);
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      if (static_cast<decltype(v)>(static_cast<T>(v)) != v)  // does not survive narrowing
        throw HttpError(400, str_cat("input '", name, "': element ", i, " (", v,
                                     ") is out of range for ", kserve_datatype(t->dtype())));
    }
    out[i] = static_cast<T>(v);
  }
}

void fill_from_contents(Tensor* t, const inference::InferTensorContents& c,
                        const std::string& name) {
  switch (t->dtype()) {
    case DType::f32:
      return put_contents<float>(t, c.fp32_contents(), name, "fp32_contents");
    case DType::f64:
      return put_contents<double>(t, c.fp64_contents(), name, "fp64_contents");
    case DType::i8:
      return put_contents<int8_t>(t, c.int_contents(), name, "int_contents");
    case DType::i16:
      return put_contents<int16_t>(t, c.int_contents(), name, "int_contents");
    case DType::i32:
      return put_contents<int32_t>(t, c.int_contents(), name, "int_contents");
    case DType::i64:
      return put_contents<int64_t>(t, c.int64_contents(), name, "int64_contents");
    case DType::u8:
      return put_contents<uint8_t>(t, c.uint_contents(), name, "uint_contents");
    case DType::u16:
      return put_contents<uint16_t>(t, c.uint_contents(), name, "uint_contents");
    case DType::u32:
      return put_contents<uint32_t>(t, c.uint_contents(), name, "uint_contents");
    case DType::u64:
      return put_contents<uint64_t>(t, c.uint64_contents(), name, "uint64_contents");
    case DType::boolean:
      return put_contents<bool>(t, c.bool_contents(), name, "bool_contents");
    default:
      break;
  }
  throw HttpError(400, str_cat("input '", name, "': ", kserve_datatype(t->dtype()),
                               " has no typed contents field; send it in raw_input_contents"));
}

class Service final : public inference::GRPCInferenceService::Service {
 public:
  explicit Service(KServeHandler& h) : h_(h) {}

  grpc::Status ServerLive(grpc::ServerContext*, const inference::ServerLiveRequest*,
                          inference::ServerLiveResponse* res) override {
    res->set_live(true);
    return grpc::Status::OK;
  }
  grpc::Status ServerReady(grpc::ServerContext*, const inference::ServerReadyRequest*,
                           inference::ServerReadyResponse* res) override {
    res->set_ready(h_.ready());
    return grpc::Status::OK;
  }
  grpc::Status ModelReady(grpc::ServerContext*, const inference::ModelReadyRequest* req,
                          inference::ModelReadyResponse* res) override {
    return guarded([&] {
      h_.find_model(req->name(), req->version());
      res->set_ready(true);
    });
  }
  grpc::Status ServerMetadata(grpc::ServerContext*, const inference::ServerMetadataRequest*,
                              inference::ServerMetadataResponse* res) override {
    res->set_name("visionrt");
    res->set_version("0.1.0");
    res->add_extensions("model_repository");
    return grpc::Status::OK;
  }
  grpc::Status ModelMetadata(grpc::ServerContext*, const inference::ModelMetadataRequest* req,
                             inference::ModelMetadataResponse* res) override {
    return guarded([&] {
      ServedModel& m = h_.find_model(req->name(), req->version());
      res->set_name(m.name());
      res->add_versions("1");
      res->set_platform("onnx");
      auto fill = [](const PortInfo& p, inference::ModelMetadataResponse::TensorMetadata* t) {
        t->set_name(p.name);
        t->set_datatype(kserve_datatype(p.dtype));
        if (p.has_rank)
          for (int64_t d : p.shape) t->add_shape(d < 0 ? -1 : d);
      };
      for (const PortInfo& p : m.compiled().inputs()) fill(p, res->add_inputs());
      for (const PortInfo& p : m.compiled().outputs()) fill(p, res->add_outputs());
    });
  }
  grpc::Status ModelInfer(grpc::ServerContext*, const inference::ModelInferRequest* req,
                          inference::ModelInferResponse* res) override {
    return guarded([&] {
      ServedModel& m = h_.find_model(req->model_name(), req->model_version());
      if (req->inputs_size() == 0) throw HttpError(400, "the inference request has no inputs");
      const bool raw = req->raw_input_contents_size() > 0;
      if (raw && req->raw_input_contents_size() != req->inputs_size())
        throw HttpError(400, str_cat("raw_input_contents has ", req->raw_input_contents_size(),
                                     " entries for ", req->inputs_size(), " inputs"));
      std::vector<std::pair<std::string, Tensor>> inputs;
      for (int i = 0; i < req->inputs_size(); ++i) {
        const auto& in = req->inputs(i);
        Tensor t = new_input(m, in.name(), in.datatype(),
                             Shape(in.shape().begin(), in.shape().end()), inputs);
        if (raw) {
          const std::string& bytes = req->raw_input_contents(i);
          if (bytes.size() != t.nbytes())
            throw HttpError(400, str_cat("input '", in.name(), "': raw_input_contents holds ",
                                         bytes.size(), " bytes, ", in.datatype(),
                                         shape_str(t.shape()), " needs ", t.nbytes()));
          if (!bytes.empty()) std::memcpy(t.raw(), bytes.data(), bytes.size());
        } else {
          fill_from_contents(&t, in.contents(), in.name());
        }
        inputs.emplace_back(in.name(), std::move(t));
      }
      check_inputs_complete(m, inputs);
      std::vector<size_t> wanted;
      for (const auto& o : req->outputs()) wanted.push_back(output_index(m, o.name()));
      if (wanted.empty())
        for (size_t i = 0; i < m.compiled().outputs().size(); ++i) wanted.push_back(i);

      const std::vector<Tensor> outs = m.infer(inputs);

      res->set_model_name(m.name());
      res->set_model_version("1");
      res->set_id(req->id());
      for (size_t k : wanted) {
        const Tensor& t = outs[k];
        auto* o = res->add_outputs();
        o->set_name(m.compiled().outputs()[k].name);
        o->set_datatype(kserve_datatype(t.dtype()));
        for (int64_t d : t.shape()) o->add_shape(d);
        res->add_raw_output_contents(static_cast<const char*>(t.raw()), t.nbytes());
      }
    });
  }

 private:
  KServeHandler& h_;
};

}  // namespace

struct GrpcServer::Impl {
  KServeHandler* handler = nullptr;
  std::string host;
  int port = 0;
  size_t max_message = 0;
  std::unique_ptr<Service> service;
  std::unique_ptr<grpc::Server> server;
};

GrpcServer::GrpcServer(KServeHandler& handler, const std::string& host, int port,
                       size_t max_message_bytes)
    : impl_(std::make_unique<Impl>()) {
  impl_->handler = &handler;
  impl_->host = host;
  impl_->port = port;
  impl_->max_message = max_message_bytes;
}

GrpcServer::~GrpcServer() { stop(0); }

int GrpcServer::start() {
  Impl& m = *impl_;
  m.service = std::make_unique<Service>(*m.handler);
  grpc::ServerBuilder b;
  int chosen = 0;
  const std::string address = str_cat(m.host, ":", m.port);
  b.AddListeningPort(address, grpc::InsecureServerCredentials(), &chosen);
  b.RegisterService(m.service.get());
  const int max = static_cast<int>(
      std::min<size_t>(m.max_message, static_cast<size_t>(std::numeric_limits<int>::max())));
  b.SetMaxReceiveMessageSize(max);
  b.SetMaxSendMessageSize(-1);
  m.server = b.BuildAndStart();
  if (!m.server || chosen == 0)
    throw IoError(str_cat("gRPC: cannot listen on ", address,
                          " (in use, or not an address of this machine)"));
  return chosen;
}

void GrpcServer::stop(int grace_s) {
  if (!impl_->server) return;
  impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(grace_s));
  impl_->server->Wait();
  impl_->server.reset();
}

}  // namespace visionrt::serve
