// The HTTP transport of `visionrt serve`: cpp-httplib (Debian's libcpp-httplib-dev) in front of
// KServeHandler. cpp-httplib was chosen over Boost.Beast and Drogon because it is one small,
// well-kept library in Debian that gives a thread-pooled HTTP/1.1 server with keep-alive,
// timeouts, body limits and multipart parsing, which is all a REST inference endpoint needs;
// Beast would have us write that plumbing ourselves and Drogon brings a whole framework.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

#include "serve/kserve.hpp"

namespace visionrt::serve {

struct HttpOptions {
  std::string host = "0.0.0.0";
  int port = 8000;                     // 0: any free port (port() tells which)
  size_t max_body_bytes = 256u << 20;  // larger bodies get 413
  int read_timeout_s = 30;             // a client slower than this is dropped
  int write_timeout_s = 30;
  int keep_alive_s = 2;     // idle keep-alive connections close after this (bounds shutdown too)
  int http_threads = 64;    // connections served at once (each keep-alive client holds one)
  bool access_log = false;  // one line per request on stderr
};

class HttpServer {
 public:
  HttpServer(KServeHandler& handler, const HttpOptions& options);
  ~HttpServer();
  // Binds the socket (throws IoError naming host:port if it cannot); returns the port.
  int bind();
  // Serves until stop(); in-flight requests finish before it returns.
  void run();
  // Stops accepting; safe from any thread (a signal-handling thread calls it).
  void stop();
  int port() const { return port_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace visionrt::serve
