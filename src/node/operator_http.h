#pragma once
// The operators' HTTP port (--http-listen, loopback by default): /metrics in the Prometheus
// text format, /livez and /readyz. A small HTTP library (Debian's cpp-httplib) serves it on a
// thread of its own with two workers, so a slow scraper never touches the event loops; each
// answer is computed by the handlers given at construction (node/node_metrics.h).
//
// Bounds: GET only, request bodies refused over 4 KiB, 5 s read and write timeouts, at most two
// requests served at once (more wait in the library's queue).
//
// Owned by main; stop() before the objects the handlers use are destroyed.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "core/log.h"
#include "net/endpoint.h"

namespace httplib {
class Server;
}

namespace qim::node {

struct Probe {
  bool ok = false;
  std::string text;  // the body: "ok", or why not, one reason per line
};

struct OperatorHandlers {
  std::function<std::string()> metrics;  // the exposition text
  std::function<Probe()> live;
  std::function<Probe()> ready;
};

class OperatorHttp {
 public:
  OperatorHttp(OperatorHandlers handlers, core::Logger& logger);
  ~OperatorHttp();
  OperatorHttp(const OperatorHttp&) = delete;
  OperatorHttp& operator=(const OperatorHttp&) = delete;

  // Binds `address` (port 0: any free one). False with `error` set when it cannot.
  bool bind(const net::HostPort& address, std::string& error);
  std::uint16_t port() const { return port_; }
  // Serves on a thread of its own. REQUIRES: bind() succeeded.
  void start();
  // Stops serving and joins the thread. Idempotent.
  void stop();

 private:
  OperatorHandlers handlers_;
  core::Logger& logger_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> finished_{false};  // the serving thread returned
  std::uint16_t port_ = 0;
};

}  // namespace qim::node
