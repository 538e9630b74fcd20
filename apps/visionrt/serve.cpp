// `visionrt serve --model M.onnx [--model NAME=M2.onnx ...] [--port 8000]`: the KServe v2 REST
// server (src/serve) with its web page at "/". SIGTERM or SIGINT stops accepting, lets in-flight
// requests finish, then exits 0.
#include <fmt/core.h>
#include <pthread.h>
#include <signal.h>

#include <filesystem>
#include <thread>

#include "commands.hpp"
#include "common/file_io.hpp"
#ifdef VISIONRT_WITH_GRPC
#include "serve/grpc/grpc_server.hpp"
#endif
#include "serve/http_server.hpp"
#include "serve/kserve.hpp"
#include "visionrt/error.hpp"

namespace visionrt::cli {
namespace {

struct ServeFlags {
  std::vector<std::string> models;
  serve::ServeOptions serve;
  serve::HttpOptions http;
  std::string hint = "throughput";
  double max_body_mb = 256;
  std::string port_file;
  int grpc_port = -1;  // -1: no gRPC
  std::string grpc_port_file;
};

}  // namespace

std::function<int()> add_serve(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "serve", "Serve models over the KServe v2 REST protocol, with a web page at /");
  auto o = std::make_shared<ServeFlags>();
  cmd->add_option("--model,-m", o->models,
                  "MODEL.onnx or NAME=MODEL.onnx (repeatable); the name defaults to the file stem")
      ->required();
  cmd->add_option("--host", o->http.host, "Address to listen on (default 0.0.0.0)");
  cmd->add_option("--port", o->http.port, "Port (0: any free port; default 8000)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--hint", o->hint,
                  "throughput (one stream per core: concurrent requests side by side; default) "
                  "or latency (one stream with every thread)")
      ->check(CLI::IsMember({"throughput", "latency"}));
  cmd->add_option("--threads", o->serve.threads,
                  "Inference threads over all streams (0 = all cores)")
      ->check(CLI::Range(0, 4096));
  cmd->add_option("--precision", o->serve.precision, "f32 or bf16 (default: the CPU's best)")
      ->check(CLI::IsMember({"f32", "bf16"}));
  cmd->add_option("--task-workers", o->serve.task_workers,
                  "Predictors per model for /predict (0 = one per stream)")
      ->check(CLI::Range(0, 256));
  cmd->add_option("--max-body-mb", o->max_body_mb, "Largest request body (default 256 MiB)")
      ->check(CLI::Range(0.001, 16384.0));
  cmd->add_option("--timeout", o->http.read_timeout_s,
                  "Seconds a client may take to send a request (default 30)")
      ->check(CLI::Range(1, 3600));
  cmd->add_option("--http-threads", o->http.http_threads, "Connections served at once (default 64)")
      ->check(CLI::Range(1, 4096));
#ifdef VISIONRT_WITH_GRPC
  cmd->add_option("--grpc-port", o->grpc_port,
                  "Also serve KServe v2 over gRPC on this port (0: any free port; default: off)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--grpc-port-file", o->grpc_port_file,
                  "Write the gRPC port to this file once listening");
#endif
  cmd->add_flag("--require-task", o->serve.require_task,
                "Refuse to start when a model has no task pipeline (/predict): a model of raw "
                "tensors is then an error naming it, not an /infer-only model");
  cmd->add_flag("--access-log", o->http.access_log, "One line per request on stderr");
  cmd->add_option("--port-file", o->port_file,
                  "Write the port to this file once listening (for scripts with --port 0)");
  return [o]() {
    namespace fs = std::filesystem;
    o->serve.hint = o->hint == "latency" ? "LATENCY" : "THROUGHPUT";
    o->http.max_body_bytes = static_cast<size_t>(o->max_body_mb * 1024 * 1024);
    // Signals go to the waiting thread below, never to a worker in the middle of a request.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    serve::KServeHandler handler;
    for (const std::string& spec : o->models) {
      std::string name, path = spec;
      const auto eq = spec.find('=');
      if (eq != std::string::npos) {
        name = spec.substr(0, eq);
        path = spec.substr(eq + 1);
      } else {
        name = fs::path(spec).stem().string();
      }
      if (!fs::exists(path)) throw IoError(fmt::format("{}: no such model file", path));
      handler.add_model(name, path, o->serve);
    }
    serve::HttpServer server(handler, o->http);
    const int port = server.bind();
#ifdef VISIONRT_WITH_GRPC
    std::unique_ptr<serve::GrpcServer> grpc;
    if (o->grpc_port >= 0) {
      grpc = std::make_unique<serve::GrpcServer>(handler, o->http.host, o->grpc_port,
                                                 o->http.max_body_bytes);
      const int gport = grpc->start();
      if (!o->grpc_port_file.empty())
        write_file_atomic(o->grpc_port_file, std::to_string(gport) + "\n");
      fmt::print(stderr, "visionrt serve: KServe v2 gRPC on {}:{}\n", o->http.host, gport);
    }
#endif
    if (!o->port_file.empty()) write_file_atomic(o->port_file, std::to_string(port) + "\n");
    fmt::print(stderr, "visionrt serve: {} model(s) on http://{}:{}/ (KServe v2 REST at /v2)\n",
               handler.num_models(), o->http.host, port);
    std::thread waiter([&] {
      int sig = 0;
      sigwait(&signals, &sig);
      handler.set_ready(false);
      fmt::print(stderr, "visionrt serve: {} received, finishing in-flight requests\n",
                 sig == SIGTERM ? "SIGTERM" : "SIGINT");
      server.stop();
#ifdef VISIONRT_WITH_GRPC
      if (grpc) grpc->stop();
#endif
    });
    server.run();
    // run() also returns if the server failed; wake the waiter so that it can be joined.
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
    fmt::print(stderr, "visionrt serve: stopped\n");
    return 0;
  };
}

}  // namespace visionrt::cli
