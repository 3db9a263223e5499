#pragma once
// qim-bench's command line: which workload, against which servers, how hard and how long.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace asio::ssl {
class context;
}

namespace qim::bench {

enum class Workload { o2o, fanout, idle, login, handshake };

const char* workload_name(Workload workload);

struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
};

struct Options {
  Workload workload = Workload::o2o;
  std::vector<Endpoint> servers;     // users are spread over them round-robin
  std::uint32_t users = 1000;        // o2o and login
  std::uint32_t contacts = 0;        // o2o: each user writes to that many others; 0: anyone
  std::uint32_t members = 500;       // fanout: group size, sender included
  std::uint32_t connections = 1000;  // idle
  std::uint32_t window = 0;          // 0: the workload's default (o2o 4, fanout 8)
  double rate = 0;                   // messages/s over all senders; 0: saturate (windowed)
  std::uint32_t body_bytes = 64;
  // Receivers acknowledge what they read: one Ack per conversation per socket read burst, as a
  // client that shows messages moves its read cursor.
  bool read_acks = false;
  std::chrono::milliseconds duration{10'000};
  std::chrono::milliseconds warmup{2'000};
  std::chrono::milliseconds drain{5'000};
  std::uint32_t threads = 1;
  std::string prefix;  // user and group id prefix; generated when not given
  std::string password = "bench-password";
  std::vector<int> server_pids;  // CPU and RSS are summed over them (a cluster)
  // TLS 1.3 on every connection (--tls, --ca, --insecure-skip-verify, as qim takes them).
  bool tls = false;
  std::string ca_file;  // empty: the system's trust store
  bool verify = true;
  // Made from the three above once parsed (tls_context.h); shared by every connection.
  std::shared_ptr<asio::ssl::context> tls_context;
  bool json = false;
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds request_timeout{10'000};
  std::uint32_t setup_concurrency = 64;
  std::uint32_t login_concurrency = 64;
  std::uint32_t max_redirects = 3;
  // Rate mode: messages sent but not finished, per shard, beyond which the pacer skips sends
  // (and counts them) rather than queue without bound.
  std::uint32_t max_in_flight = 100'000;

  std::uint32_t effective_window() const {
    return window != 0 ? window : (workload == Workload::fanout ? 8 : 4);
  }
};

struct ParsedOptions {
  std::optional<Options> options;  // nullopt: exit with exit_code (help or a bad flag)
  int exit_code = 0;
};

ParsedOptions parse_options(int argc, char** argv);

}  // namespace qim::bench
