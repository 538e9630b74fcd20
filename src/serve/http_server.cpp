#include "serve/http_server.hpp"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/strings.hpp"

namespace visionrt::serve {

namespace {

std::string too_large(size_t max_body) {
  return str_cat("the request body is larger than the ", max_body,
                 " bytes allowed (--max-body-mb)");
}

}  // namespace

struct HttpServer::Impl {
  KServeHandler* handler = nullptr;
  HttpOptions opt;
  httplib::Server svr;
  int listen_fd = -1;  // the listening socket, once bound
  std::mutex run_mu;   // run() and stop() from different threads
  bool stop_requested = false, started = false;
  std::atomic<bool> finished{false};

  // Bodies are read through a content reader, not by cpp-httplib itself: it caps bodies typed
  // application/x-www-form-urlencoded (curl's default for --data-binary) at 8 KiB.
  void serve(const httplib::Request& req, httplib::Response& res,
             const httplib::ContentReader* reader) {
    const auto t0 = std::chrono::steady_clock::now();
    Request r;
    r.method = req.method;
    r.path = req.path;
    for (const auto& [k, v] : req.params) r.query.emplace(k, v);  // the first of repeated keys
    for (const auto& [k, v] : req.headers) {
      std::string key = k;
      for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers.emplace(std::move(key), v);
    }
    bool read_ok = true;
    const uint64_t declared = req.get_header_value<uint64_t>("Content-Length");
    if (reader && declared > opt.max_body_bytes) {
      // Refused. A body up to twice the limit is read and dropped first, so that the client,
      // still sending, gets to read the answer; a larger one is cut off.
      if (declared <= drain_limit())
        (*reader)([](const char*, size_t) { return true; });
      else
        res.set_header("Connection", "close");
      res.status = 413;
      res.set_content(nlohmann::json{{"error", too_large(opt.max_body_bytes)}}.dump(),
                      "application/json");
      log(req, res, t0);
      return;
    }
    if (reader && req.is_multipart_form_data()) {
      // A browser form: the field named "image", else the first file.
      std::vector<httplib::MultipartFormData> parts;
      read_ok = (*reader)(
          [&](const httplib::MultipartFormData& part) {
            parts.push_back(part);
            return true;
          },
          [&](const char* data, size_t n) {
            parts.back().content.append(data, n);
            return true;
          });
      auto it = std::find_if(parts.begin(), parts.end(),
                             [](const httplib::MultipartFormData& p) { return p.name == "image"; });
      if (it == parts.end()) it = parts.begin();
      if (it != parts.end()) r.body = std::move(it->content);
    } else if (reader) {
      read_ok = (*reader)([&](const char* data, size_t n) {
        if (r.body.size() + n > opt.max_body_bytes) return false;  // chunked, over the limit
        r.body.append(data, n);
        return true;
      });
    } else {
      r.body = req.body;
    }
    if (!read_ok) {
      res.status = 400;
      res.set_header("Connection", "close");
      res.set_content(
          nlohmann::json{{"error", str_cat("the request body could not be read (", r.body.size(),
                                           " bytes arrived: truncated, malformed "
                                           "chunks or over the limit)")}}
              .dump(),
          "application/json");
      log(req, res, t0);
      return;
    }
    Reply reply = handler->handle(r);
    res.status = reply.status;
    for (const auto& [k, v] : reply.headers) res.set_header(k, v);
    res.set_content(std::move(reply.body), reply.content_type.c_str());
    log(req, res, t0);
  }

  size_t drain_limit() const { return opt.max_body_bytes * 2; }

  void log(const httplib::Request& req, const httplib::Response& res,
           std::chrono::steady_clock::time_point t0) const {
    if (opt.access_log) {
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "%s %s %s %d %.1f ms\n", req.remote_addr.c_str(), req.method.c_str(),
                   req.path.c_str(), res.status, ms);
    }
  }
};

HttpServer::HttpServer(KServeHandler& handler, const HttpOptions& options)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.handler = &handler;
  m.opt = options;
  const size_t threads = static_cast<size_t>(std::max(1, options.http_threads));
  m.svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  m.svr.set_payload_max_length(m.drain_limit());
  m.svr.set_read_timeout(options.read_timeout_s, 0);
  m.svr.set_write_timeout(options.write_timeout_s, 0);
  m.svr.set_keep_alive_timeout(options.keep_alive_s);
  // No Nagle delay on replies: cpp-httplib writes the header and the body apart, and a body
  // shorter than a segment (a binary reply of some KiB) then waited for the client's delayed ACK,
  // 40 ms on Linux (binary /infer on the demo model from one TCP_NODELAY client: 37 requests/s,
  // 3,600 without the wait).
  m.svr.set_tcp_nodelay(true);
  // A keep-alive connection serves up to 1000 requests (cpp-httplib's default is 5: busy clients
  // reconnected every fifth request).
  m.svr.set_keep_alive_max_count(1000);
  // cpp-httplib's default socket options set SO_REUSEPORT, with which a second server binds the
  // same port without an error and the kernel splits the connections between the two; only
  // SO_REUSEADDR (rebinding over TIME_WAIT after a restart). The socket is kept for bind().
  m.svr.set_socket_options([this](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    impl_->listen_fd = sock;
  });
  auto h = [this](const httplib::Request& req, httplib::Response& res) {
    impl_->serve(req, res, nullptr);
  };
  auto hr = [this](const httplib::Request& req, httplib::Response& res,
                   const httplib::ContentReader& reader) { impl_->serve(req, res, &reader); };
  m.svr.Get(".*", h);
  m.svr.Post(".*", hr);
  m.svr.Put(".*", hr);
  m.svr.Delete(".*", h);
  m.svr.Patch(".*", hr);
  // Errors cpp-httplib answers itself (413 for a body over the limit, 400 for a malformed
  // request line) get a JSON body like ours.
  const size_t max_body = options.max_body_bytes;
  m.svr.set_error_handler([max_body](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string msg = res.status == 413
                          ? too_large(max_body)
                          : str_cat("malformed HTTP request (HTTP ", res.status,
                                    "; a POST needs Content-Length or chunked encoding)");
    res.set_content(nlohmann::json{{"error", msg}}.dump(), "application/json");
  });
}

HttpServer::~HttpServer() = default;

int HttpServer::bind() {
  Impl& m = *impl_;
  if (m.opt.port == 0) {
    port_ = m.svr.bind_to_any_port(m.opt.host);
    if (port_ <= 0) throw IoError(str_cat("cannot listen on ", m.opt.host, " (any port)"));
  } else {
    if (!m.svr.bind_to_port(m.opt.host, m.opt.port))
      throw IoError(str_cat("cannot listen on ", m.opt.host, ":", m.opt.port,
                            " (in use, or not an address of this machine)"));
    port_ = m.opt.port;
  }
  // cpp-httplib listens with a backlog of 5 (compiled into Debian's library): more clients
  // connecting at once had their SYNs dropped and retried after 1 s. listen() again on the
  // listening socket only raises its backlog.
  if (m.listen_fd >= 0) ::listen(m.listen_fd, SOMAXCONN);
  return port_;
}

void HttpServer::run() {
  Impl& m = *impl_;
  {
    std::lock_guard<std::mutex> lock(m.run_mu);
    if (m.stop_requested) return;  // stopped before it started
    m.started = true;
  }
  m.svr.listen_after_bind();
  m.finished = true;
}

void HttpServer::stop() {
  Impl& m = *impl_;
  {
    std::lock_guard<std::mutex> lock(m.run_mu);
    m.stop_requested = true;
    if (!m.started) return;  // run() will not start
  }
  // cpp-httplib's stop() does nothing until the accept loop runs: a stop right after run() began
  // (a SIGTERM at start-up) would be lost and run() never return.
  while (!m.svr.is_running() && !m.finished)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  m.svr.stop();
}

}  // namespace visionrt::serve
