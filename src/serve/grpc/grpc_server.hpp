// The KServe v2 protocol over gRPC (inference.GRPCInferenceService, src/serve/proto), on
// Debian's gRPC, beside the REST server and over the same KServeHandler models. Built when
// libgrpc++-dev is installed (VISIONRT_WITH_GRPC). Like src/onnx, this folder is the only place
// that sees its protobuf messages.
#pragma once
#include <memory>
#include <string>

#include "serve/kserve.hpp"

namespace visionrt::serve {

class GrpcServer {
 public:
  // `max_message_bytes`: the largest request (gRPC's default, 4 MiB, is less than one
  // 640x640 image tensor).
  GrpcServer(KServeHandler& handler, const std::string& host, int port, size_t max_message_bytes);
  ~GrpcServer();
  // Starts serving on its own threads; returns the port (0 asked: the one chosen). Throws
  // IoError if it cannot listen.
  int start();
  // Stops accepting; calls in flight get up to `grace_s` seconds to finish.
  void stop(int grace_s = 30);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace visionrt::serve
