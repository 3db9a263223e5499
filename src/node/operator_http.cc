#include "node/operator_http.h"

#include <httplib.h>

#include <chrono>

#include <fmt/core.h>

#include "core/thread_name.h"

namespace qim::node {
namespace {

constexpr std::size_t worker_threads = 2;
constexpr std::size_t max_request_body_bytes = 4096;
constexpr time_t io_timeout_seconds = 5;

void answer_probe(const Probe& probe, httplib::Response& response) {
  response.status = probe.ok ? 200 : 503;
  response.set_header("Cache-Control", "no-store");
  response.set_content(probe.text + "\n", "text/plain; charset=utf-8");
}

}  // namespace

OperatorHttp::OperatorHttp(OperatorHandlers handlers, core::Logger& logger)
    : handlers_(std::move(handlers)),
      logger_(logger),
      server_(std::make_unique<httplib::Server>()) {
  httplib::Server& server = *server_;
  server.new_task_queue = [] { return new httplib::ThreadPool(worker_threads); };
  server.set_payload_max_length(max_request_body_bytes);
  server.set_read_timeout(io_timeout_seconds, 0);
  server.set_write_timeout(io_timeout_seconds, 0);
  server.set_keep_alive_max_count(100);
  server.Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    response.set_header("Cache-Control", "no-store");
    response.set_content(handlers_.metrics(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server.Get("/livez", [this](const httplib::Request&, httplib::Response& response) {
    answer_probe(handlers_.live(), response);
  });
  server.Get("/readyz", [this](const httplib::Request&, httplib::Response& response) {
    answer_probe(handlers_.ready(), response);
  });
  server.set_error_handler([](const httplib::Request&, httplib::Response& response) {
    if (response.status == 404) {
      response.set_content("not found: try /metrics, /livez or /readyz\n", "text/plain");
    }
  });
}

OperatorHttp::~OperatorHttp() {
  stop();
}

bool OperatorHttp::bind(const net::HostPort& address, std::string& error) {
  std::string host = address.host;
  if (address.port == 0) {
    int port = server_->bind_to_any_port(host);
    if (port <= 0) {
      error = fmt::format("cannot listen for HTTP on {}:0", host);
      return false;
    }
    port_ = static_cast<std::uint16_t>(port);
    return true;
  }
  if (!server_->bind_to_port(host, address.port)) {
    error = fmt::format("cannot listen for HTTP on {}:{} (in use, or not an address of this host)",
                        host, address.port);
    return false;
  }
  port_ = address.port;
  return true;
}

void OperatorHttp::start() {
  thread_ = std::thread([this] {
    core::name_this_thread("qim-http");
    if (!server_->listen_after_bind()) logger_.warn("http", "the operators' HTTP port stopped");
    finished_ = true;
  });
}

void OperatorHttp::stop() {
  if (!thread_.joinable()) return;
  // The library's stop() only reaches a server already in its accept loop: wait (briefly, at
  // shutdown only) for the thread to get there.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!server_->is_running() && !finished_ && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  server_->stop();
  thread_.join();
}

}  // namespace qim::node
