#pragma once
// qimd's configuration: command-line flags and the same keys in a config file (CLI11), mapped
// onto the service's and the I/O shell's options and validated.
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "cluster/swim/config.h"
#include "core/log.h"
#include "net/client_listener.h"
#include "net/endpoint.h"
#include "net/tls_context.h"
#include "service/options.h"

namespace qim::node {

// Exit codes of qimd.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;  // could not start (store, socket, port file)
inline constexpr int exit_usage = 2;    // a bad flag, value or config file

enum class ShutdownMode { leave, stop };

struct Config {
  net::HostPort listen{"127.0.0.1", 7700};
  // TLS on the client port: the PEM files (kept to reload them on SIGHUP) and the context
  // loaded from them at startup. Null: the client port speaks plaintext, which the
  // configuration allows only on loopback or with --insecure-listen.
  net::TlsFiles tls_files;
  std::shared_ptr<const net::TlsContext> tls;
  // The WebSocket port (wss with `tls`, else ws); none when unset. Its policy (origins, web
  // root) is in listener.connection.
  std::optional<net::HostPort> ws_listen;
  std::string data_directory = "./qim-data";
  std::size_t io_threads = 1;
  std::size_t blocking_threads = 2;
  core::LogLevel log_level = core::LogLevel::info;
  // Once listening, "<client port>\n" then "gossip <port>\n" and "admin <port>\n" are written
  // here (readers of the first line alone keep working). Empty: none.
  std::string port_file;
  service::Options service;
  net::ListenerOptions listener;

  // Cluster membership. When not given, the gossip and admin addresses derive from --listen
  // (port + 1 and + 2 on the same host, admin on loopback; port 0 stays 0), and fall back to
  // a free port with a warning when that one is taken.
  net::HostPort gossip_listen{"127.0.0.1", 7701};
  bool gossip_listen_given = false;
  net::HostPort admin_listen{"127.0.0.1", 7702};
  bool admin_listen_given = false;
  // Peer links (node <-> node TCP): advertised to the other members, so a specific IP.
  // Default: --listen's host, port + 3 (port 0 stays 0).
  net::HostPort peer_listen{"127.0.0.1", 7703};
  bool peer_listen_given = false;
  // The operators' HTTP port (/metrics, /livez, /readyz). Default: 127.0.0.1, the client
  // port + 4 (port 0 stays 0), falling back to a free port like admin; disabled when off.
  net::HostPort http_listen{"127.0.0.1", 7704};
  bool http_listen_given = false;
  bool http_enabled = true;
  std::vector<std::string> seeds;  // "host:port", validated
  std::string cluster_key_file;    // empty: <data-dir>/cluster.key, created if missing
  std::string admin_token_file;    // empty: derived from the cluster key (admin_token.h)
  cluster::swim::Config swim;
  std::uint32_t vnodes_per_member = 128;  // ring tokens per member
  // Periodic maintenance (pruning expired dedup records, history retention).
  std::chrono::milliseconds maintenance_interval{600'000};
  // Buffered read cursors are proposed this often (service/read_cursors.h).
  std::chrono::milliseconds cursor_flush_interval{200};
  // Replication (DESIGN §8).
  std::uint32_t partitions = 64;
  std::uint32_t replicas = 3;
  std::chrono::seconds replace_after{300};
  std::chrono::milliseconds raft_tick{100};
  int election_ticks = 10;
  // Create a new cluster when the data directory is new (no --seed, or --bootstrap).
  bool bootstrap = true;
  ShutdownMode shutdown = ShutdownMode::leave;
};

struct ParseResult {
  std::optional<Config> config;  // set: run with it
  int exit_code = exit_ok;       // otherwise: exit with this (help printed, or an error)
};

// Parses argv (and the file named by --config). Prints --help, and every error with what was
// wrong, itself. Never throws.
ParseResult parse_command_line(int argc, char** argv);

}  // namespace qim::node
