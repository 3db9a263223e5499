#include "node/config.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <thread>

#include <asio.hpp>

#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include "auth/cluster_key.h"
#include "auth/password.h"
#include "net/self_signed_certificate.h"
#include "route/partitions.h"

namespace qim::node {

namespace {

constexpr std::int64_t kib = 1024;
constexpr std::int64_t mib = 1024 * 1024;

// Flag values as given, before validation.
struct RawFlags {
  std::string listen = "127.0.0.1:7700";
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;  // empty: no client certificates asked for
  bool insecure_listen = false;
  std::string ws_listen;  // empty: no WebSocket port
  std::vector<std::string> ws_allowed_origins;
  std::string web_root;
  std::string data_directory = "./qim-data";
  std::int64_t threads = 1;
  std::string node_name = "qim-1";
  std::string dm_policy = "friends";
  std::string durability = "replicated";
  std::string password_cost = "interactive";
  std::int64_t max_body_bytes = 16 * kib;
  std::int64_t max_frame_bytes = 64 * kib;
  std::int64_t max_connections = 10'000;
  std::int64_t session_queue_bytes = 4 * mib;
  std::int64_t heartbeat_interval_ms = 3'000;
  std::int64_t idle_timeout_ms = 0;  // 0: derived from the heartbeat interval
  double messages_per_second = 200;
  double message_burst = 400;
  std::int64_t max_group_members = 2'000;
  std::int64_t max_friends = 2'000;
  std::string log_level = "info";
  std::string port_file;
  std::string gossip_listen;  // empty: derived from --listen
  std::string admin_listen;   // empty: derived from --listen
  std::string peer_listen;    // empty: derived from --listen
  std::string http_listen;    // empty: derived from --listen; "off": none
  std::string registration = "open";
  double registrations_per_minute = 10;
  std::vector<std::string> seeds;
  std::string cluster_key_file;
  std::string generate_cluster_key;
  std::vector<std::string> generate_tls_cert;  // CERT KEY
  std::vector<std::string> tls_cert_hosts;
  int tls_cert_days = 365;
  std::string admin_token_file;
  std::int64_t probe_interval_ms = 1000;
  std::int64_t probe_timeout_ms = 500;
  std::int64_t suspicion_multiplier = 4;
  std::int64_t gossip_interval_ms = 200;
  std::int64_t push_pull_interval_ms = 30'000;
  std::int64_t vnodes = 128;
  std::int64_t maintenance_interval_ms = 600'000;
  std::int64_t cursor_flush_ms = 200;
  double retain_days = 0;  // 0: forever; fractions allowed (0.5: twelve hours)
  std::int64_t partitions = route::Partitions::default_count;
  std::int64_t replicas = 3;
  std::int64_t replace_after_s = 300;
  std::int64_t raft_tick_ms = 100;
  std::int64_t election_ticks = 10;
  bool bootstrap = false;
  std::string shutdown = "leave";
  bool check_config = false;
};

std::size_t hardware_threads() {
  auto count = static_cast<std::size_t>(std::thread::hardware_concurrency());
  return std::clamp<std::size_t>(count, 1, net::max_io_threads);
}

// Collects the first validation error.
class Checker {
 public:
  void require(bool condition, std::string message) {
    if (!condition && error_.empty()) error_ = std::move(message);
  }
  void range(std::string_view flag, std::int64_t value, std::int64_t low, std::int64_t high) {
    require(value >= low && value <= high,
            fmt::format("--{} must be between {} and {}, got {}", flag, low, high, value));
  }
  const std::string& error() const { return error_; }

 private:
  std::string error_;
};

bool valid_node_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

// Plaintext stays on this host: "localhost" or a loopback IP address.
bool is_loopback_host(const std::string& host) {
  if (host == "localhost") return true;
  asio::error_code error;
  auto address = asio::ip::make_address(host, error);
  return !error && address.is_loopback();
}

bool is_ip_literal(const std::string& host) {
  asio::error_code error;
  auto address = asio::ip::make_address(host, error);
  return !error && !address.is_unspecified();
}

// The port `offset` above the client port, or 0 (any) when the client port is 0 or the sum
// leaves the port range.
std::uint16_t derived_port(std::uint16_t client_port, int offset) {
  int port = client_port == 0 ? 0 : client_port + offset;
  return port > 65535 ? 0 : static_cast<std::uint16_t>(port);
}

// A serialized http(s) origin as a browser sends it: scheme://host[:port], nothing after.
bool valid_origin(std::string_view origin) {
  for (std::string_view scheme : {"https://", "http://"}) {
    if (origin.starts_with(scheme) && origin.size() > scheme.size()) {
      std::string_view authority = origin.substr(scheme.size());
      return std::all_of(authority.begin(), authority.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.' || c == ':' || c == '[' || c == ']';
      });
    }
  }
  return false;
}

// Validates and maps; false with `error` set.
bool build_config(const RawFlags& flags, Config& config, std::string& error) {
  Checker check;
  auto listen = net::parse_host_port(flags.listen);
  check.require(listen.has_value(),
                fmt::format("--listen must be host:port (e.g. 127.0.0.1:7700 or [::1]:7700), "
                            "got '{}'",
                            flags.listen));
  check.require(flags.tls_cert.empty() == flags.tls_key.empty(),
                "--tls-cert and --tls-key go together: give both (PEM files) or neither");
  check.require(flags.tls_client_ca.empty() || !flags.tls_cert.empty(),
                "--tls-client-ca needs TLS: give --tls-cert and --tls-key as well");
  // Plaintext client ports only on loopback unless the operator says otherwise.
  auto require_private = [&](std::string_view flag, const net::HostPort& address,
                             const std::string& given) {
    if (!flags.tls_cert.empty() || flags.insecure_listen) return;
    check.require(is_loopback_host(address.host),
                  fmt::format("{} {} is not a loopback address and would carry passwords "
                              "in plaintext: give --tls-cert and --tls-key, or --insecure-listen "
                              "to allow plaintext there anyway (e.g. behind a TLS proxy)",
                              flag, given));
  };
  if (listen) require_private("--listen", *listen, flags.listen);
  // The admin and HTTP ports have no TLS at all: loopback only, unless the operator says so.
  auto require_loopback = [&](std::string_view flag, const net::HostPort& address,
                              const std::string& given, std::string_view carries) {
    if (flags.insecure_listen) return;
    check.require(is_loopback_host(address.host),
                  fmt::format("{} {} is not a loopback address and would carry {} in plaintext: "
                              "keep it on loopback (run qimctl on the node, scrape through a "
                              "local agent or proxy), or give --insecure-listen",
                              flag, given, carries));
  };
  std::optional<net::HostPort> ws_listen;
  if (!flags.ws_listen.empty()) {
    ws_listen = net::parse_host_port(flags.ws_listen);
    check.require(ws_listen.has_value(),
                  fmt::format("--ws-listen must be host:port (e.g. 127.0.0.1:7780), got '{}'",
                              flags.ws_listen));
    if (ws_listen) require_private("--ws-listen", *ws_listen, flags.ws_listen);
  }
  for (const std::string& origin : flags.ws_allowed_origins) {
    check.require(valid_origin(origin),
                  fmt::format("--ws-allowed-origin must be scheme://host[:port] as a browser "
                              "sends it (e.g. https://chat.example.com), got '{}'",
                              origin));
  }
  check.require(flags.ws_allowed_origins.empty() || ws_listen,
                "--ws-allowed-origin needs --ws-listen");
  check.require(flags.web_root.empty() || ws_listen,
                "--web-root needs --ws-listen (the files are served on the WebSocket port)");
  if (!flags.web_root.empty()) {
    std::error_code ignored;
    check.require(std::filesystem::is_directory(flags.web_root, ignored),
                  fmt::format("--web-root {} is not a directory", flags.web_root));
  }
  check.require(!flags.data_directory.empty(), "--data-dir must not be empty");
  check.range("threads", flags.threads, 1, static_cast<std::int64_t>(net::max_io_threads));
  check.require(valid_node_name(flags.node_name),
                fmt::format("--node-name must be 1-64 characters of [A-Za-z0-9_.-], got '{}'",
                            flags.node_name));
  check.require(flags.dm_policy == "friends" || flags.dm_policy == "anyone",
                fmt::format("--dm-policy must be friends or anyone, got '{}'", flags.dm_policy));
  check.require(
      flags.durability == "replicated" || flags.durability == "local" ||
          flags.durability == "fsync",
      fmt::format("--durability must be replicated or fsync, got '{}'", flags.durability));
  auto password_cost = auth::PasswordCost::parse(flags.password_cost);
  check.require(password_cost.has_value(),
                fmt::format("--pwhash-cost must be interactive, moderate, min or <ops>:<mem_kib> "
                            "within libsodium's bounds, got '{}'",
                            flags.password_cost));
  check.range("max-frame-bytes", flags.max_frame_bytes, 4 * kib, 16 * mib);
  check.range("max-body-bytes", flags.max_body_bytes, 1,
              std::max<std::int64_t>(1, flags.max_frame_bytes - 1024));
  check.range("max-connections", flags.max_connections, 1, 1'000'000);
  check.range("session-queue-bytes", flags.session_queue_bytes,
              std::max<std::int64_t>(flags.max_frame_bytes, 4 * kib), 1024 * mib);
  check.range("heartbeat-interval-ms", flags.heartbeat_interval_ms, 100, 600'000);
  check.require(flags.idle_timeout_ms == 0 ||
                    (flags.idle_timeout_ms >= 100 && flags.idle_timeout_ms <= 24 * 3600 * 1000),
                fmt::format("--idle-timeout-ms must be 0 (derived from --heartbeat-interval-ms) "
                            "or between 100 and 86400000, got {}",
                            flags.idle_timeout_ms));
  check.require(flags.messages_per_second > 0 && flags.messages_per_second <= 1e6,
                fmt::format("--messages-per-second must be > 0 and <= 1000000, got {}",
                            flags.messages_per_second));
  check.require(
      flags.message_burst >= 1 && flags.message_burst <= 1e7,
      fmt::format("--message-burst must be between 1 and 10000000, got {}", flags.message_burst));
  check.range("max-group-members", flags.max_group_members, 2, 100'000);
  check.range("max-friends", flags.max_friends, 1, 100'000);
  std::optional<net::HostPort> gossip_listen;
  if (!flags.gossip_listen.empty()) {
    gossip_listen = net::parse_host_port(flags.gossip_listen);
    check.require(gossip_listen && is_ip_literal(gossip_listen->host),
                  fmt::format("--gossip-listen must be ip:port with a specific IP address (it is "
                              "advertised to the other members), got '{}'",
                              flags.gossip_listen));
  }
  std::optional<net::HostPort> peer_listen;
  if (!flags.peer_listen.empty()) {
    peer_listen = net::parse_host_port(flags.peer_listen);
    check.require(peer_listen && is_ip_literal(peer_listen->host),
                  fmt::format("--peer-listen must be ip:port with a specific IP address (it is "
                              "advertised to the other members), got '{}'",
                              flags.peer_listen));
  }
  std::optional<net::HostPort> admin_listen;
  if (!flags.admin_listen.empty()) {
    admin_listen = net::parse_host_port(flags.admin_listen);
    check.require(admin_listen.has_value(),
                  fmt::format("--admin-listen must be host:port, got '{}'", flags.admin_listen));
    if (admin_listen) {
      require_loopback("--admin-listen", *admin_listen, flags.admin_listen,
                       "the admin token and the passwords qimctl sets");
    }
  }
  std::optional<net::HostPort> http_listen;
  if (!flags.http_listen.empty() && flags.http_listen != "off") {
    http_listen = net::parse_host_port(flags.http_listen);
    check.require(
        http_listen.has_value(),
        fmt::format("--http-listen must be host:port or off, got '{}'", flags.http_listen));
    if (http_listen) {
      require_loopback("--http-listen", *http_listen, flags.http_listen,
                       "the node's metrics and health");
    }
  }
  check.require(flags.registration == "open" || flags.registration == "closed",
                fmt::format("--registration must be open or closed, got '{}'", flags.registration));
  check.require(flags.registrations_per_minute > 0 && flags.registrations_per_minute <= 1e6,
                fmt::format("--registrations-per-minute must be > 0 and <= 1000000, got {}",
                            flags.registrations_per_minute));
  for (const std::string& seed : flags.seeds) {
    auto parsed = net::parse_host_port(seed);
    check.require(parsed && parsed->port != 0 && seed.size() <= 128,
                  fmt::format("--seed must be host:port of a member's gossip address (e.g. "
                              "10.0.0.5:7701), got '{}'",
                              seed));
  }
  check.require(flags.seeds.size() <= 64, "--seed may be given at most 64 times");
  check.range("probe-interval-ms", flags.probe_interval_ms, 10, 60'000);
  check.range("probe-timeout-ms", flags.probe_timeout_ms, 5,
              std::max<std::int64_t>(5, flags.probe_interval_ms));
  check.range("suspicion-multiplier", flags.suspicion_multiplier, 1, 100);
  check.range("gossip-interval-ms", flags.gossip_interval_ms, 5, 60'000);
  check.range("push-pull-interval-ms", flags.push_pull_interval_ms, 100, 24 * 3600 * 1000);
  check.range("vnodes", flags.vnodes, 1, 4096);
  check.range("maintenance-interval-ms", flags.maintenance_interval_ms, 100, 24 * 3600 * 1000);
  check.range("cursor-flush-ms", flags.cursor_flush_ms, 10, 60'000);
  // A fraction of a day is allowed, down to a second (what rounds to nothing would mean forever).
  check.require(
      flags.retain_days == 0 || (flags.retain_days * 86'400 >= 1 && flags.retain_days <= 36'500),
      fmt::format("--retain-days must be 0 (forever) or from one second (0.0000116) to "
                  "36500 days, got {}",
                  flags.retain_days));
  check.range("partitions", flags.partitions, route::Partitions::min_count,
              route::Partitions::max_count);
  check.range("replicas", flags.replicas, 1, 7);
  check.range("replace-after", flags.replace_after_s, 1, 7 * 24 * 3600);
  check.range("raft-tick-ms", flags.raft_tick_ms, 10, 10'000);
  check.range("election-ticks", flags.election_ticks, 3, 100);
  check.require(flags.shutdown == "leave" || flags.shutdown == "stop",
                fmt::format("--shutdown must be leave or stop, got '{}'", flags.shutdown));
  core::LogLevel log_level = core::LogLevel::info;
  check.require(
      core::parse_log_level(flags.log_level, log_level),
      fmt::format("--log-level must be debug, info, warn or error, got '{}'", flags.log_level));
  if (!check.error().empty()) {
    error = check.error();
    return false;
  }

  config.listen = *listen;
  config.ws_listen = ws_listen;
  if (!flags.tls_cert.empty()) {
    config.tls_files = {.certificate_file = flags.tls_cert,
                        .key_file = flags.tls_key,
                        .client_ca_file = flags.tls_client_ca};
    config.tls = net::TlsContext::load(config.tls_files, error);
    if (!config.tls) return false;
  }
  config.data_directory = flags.data_directory;
  config.io_threads = static_cast<std::size_t>(flags.threads);
  config.blocking_threads = std::max<std::size_t>(2, hardware_threads());
  config.log_level = log_level;
  config.port_file = flags.port_file;

  std::string derived_host = is_ip_literal(listen->host) ? listen->host : "127.0.0.1";
  config.gossip_listen_given = gossip_listen.has_value();
  config.gossip_listen =
      gossip_listen ? *gossip_listen : net::HostPort{derived_host, derived_port(listen->port, 1)};
  config.peer_listen_given = peer_listen.has_value();
  config.peer_listen =
      peer_listen ? *peer_listen : net::HostPort{derived_host, derived_port(listen->port, 3)};
  config.admin_listen_given = admin_listen.has_value();
  config.admin_listen =
      admin_listen ? *admin_listen : net::HostPort{"127.0.0.1", derived_port(listen->port, 2)};
  config.http_enabled = flags.http_listen != "off";
  config.http_listen_given = http_listen.has_value();
  config.http_listen =
      http_listen ? *http_listen : net::HostPort{"127.0.0.1", derived_port(listen->port, 4)};
  config.seeds = flags.seeds;
  config.cluster_key_file = flags.cluster_key_file;
  config.admin_token_file = flags.admin_token_file;
  config.swim.probe_interval_ms = flags.probe_interval_ms;
  config.swim.probe_timeout_ms = flags.probe_timeout_ms;
  config.swim.suspicion_multiplier = static_cast<int>(flags.suspicion_multiplier);
  config.swim.gossip_interval_ms = flags.gossip_interval_ms;
  config.swim.push_pull_interval_ms = flags.push_pull_interval_ms;
  config.vnodes_per_member = static_cast<std::uint32_t>(flags.vnodes);
  config.maintenance_interval = std::chrono::milliseconds(flags.maintenance_interval_ms);
  config.cursor_flush_interval = std::chrono::milliseconds(flags.cursor_flush_ms);
  config.partitions = static_cast<std::uint32_t>(flags.partitions);
  config.replicas = static_cast<std::uint32_t>(flags.replicas);
  config.replace_after = std::chrono::seconds(flags.replace_after_s);
  config.raft_tick = std::chrono::milliseconds(flags.raft_tick_ms);
  config.election_ticks = static_cast<int>(flags.election_ticks);
  config.bootstrap = flags.bootstrap || flags.seeds.empty();
  config.shutdown = flags.shutdown == "stop" ? ShutdownMode::stop : ShutdownMode::leave;

  service::Options& service = config.service;
  service.node_name = flags.node_name;
  service.dm_policy =
      flags.dm_policy == "anyone" ? service::DmPolicy::anyone : service::DmPolicy::friends;
  service.durability =
      flags.durability == "fsync" ? service::Durability::fsync : service::Durability::local;
  service.password_cost = *password_cost;
  service.max_body_bytes = static_cast<std::uint32_t>(flags.max_body_bytes);
  service.max_frame_bytes = static_cast<std::uint32_t>(flags.max_frame_bytes);
  service.max_group_members = static_cast<std::uint32_t>(flags.max_group_members);
  service.max_friends = static_cast<std::uint32_t>(flags.max_friends);
  service.messages_per_second = flags.messages_per_second;
  // Clients ping once silent for the heartbeat interval, and the node closes a connection it
  // heard nothing from for the idle timeout: by default two intervals and a second (a ping may
  // be late from a busy client). With 3 s that is 7 s (8 s with the sweep's granularity), so a
  // dead client is noticed well within 10 s while an idle phone wakes only every 3 s; the
  // client, for its part, gives a node up an interval and its Pong timeout (3 s) after it last
  // spoke: 6 s. An explicit idle timeout shortens the advertised interval to keep that ratio.
  std::int64_t idle_timeout_ms =
      flags.idle_timeout_ms != 0 ? flags.idle_timeout_ms : 2 * flags.heartbeat_interval_ms + 1'000;
  service.heartbeat_interval_ms = static_cast<std::uint32_t>(
      std::max<std::int64_t>(50, std::min(flags.heartbeat_interval_ms, idle_timeout_ms * 3 / 7)));
  service.registration_open = flags.registration == "open";
  service.history_retention_ms =
      static_cast<std::uint64_t>(std::llround(flags.retain_days * 24 * 3600 * 1000));
  service.registrations_per_minute_per_address = flags.registrations_per_minute;
  service.message_burst = flags.message_burst;

  net::ListenerOptions& listener = config.listener;
  listener.max_connections = static_cast<std::size_t>(flags.max_connections);
  listener.connection.max_frame_bytes = service.max_frame_bytes;
  listener.connection.session_queue_bytes = static_cast<std::size_t>(flags.session_queue_bytes);
  listener.connection.idle_timeout = std::chrono::milliseconds(idle_timeout_ms);
  listener.connection.ws.allowed_origins = flags.ws_allowed_origins;
  listener.connection.ws.serves_files = !flags.web_root.empty();
  listener.connection.web_root = flags.web_root;
  return true;
}

// --generate-tls-cert: writes the files and says how to use them; the exit code.
int generate_tls_cert(const RawFlags& flags) {
  net::SelfSignedRequest request;
  request.certificate_file = flags.generate_tls_cert.at(0);
  request.key_file = flags.generate_tls_cert.at(1);
  request.hosts =
      flags.tls_cert_hosts.empty() ? net::default_certificate_hosts() : flags.tls_cert_hosts;
  request.days = flags.tls_cert_days;
  std::string error;
  if (!net::write_self_signed_certificate(request, error)) {
    std::fprintf(stderr, "qimd: --generate-tls-cert: %s\n", error.c_str());
    return exit_failure;
  }
  std::string hosts;
  for (const std::string& host : request.hosts)
    hosts += (hosts.empty() ? "" : ", ") + host;
  std::printf(
      "wrote a self-signed certificate for %s (valid %d days) to %s and its key to %s\n"
      "serve it with: qimd --tls-cert %s --tls-key %s ...\n"
      "clients trust it with: qim --ca %s (or qim --pin: trust on first use)\n",
      hosts.c_str(), request.days, request.certificate_file.c_str(), request.key_file.c_str(),
      request.certificate_file.c_str(), request.key_file.c_str(), request.certificate_file.c_str());
  return exit_ok;
}

}  // namespace

ParseResult parse_command_line(int argc, char** argv) {
  RawFlags flags;
  flags.threads = static_cast<std::int64_t>(hardware_threads());

  CLI::App app{"qimd: an IM server node (route, im-server and manage roles in one binary)", "qimd"};
  app.option_defaults()->always_capture_default();
  app.set_config("--config", "", "Read flags from this file (TOML or INI: key = value)")
      ->check(CLI::ExistingFile);
  app.allow_config_extras(CLI::config_extras_mode::error);

  app.add_option("--listen", flags.listen,
                 "Client address to listen on, host:port (port 0: any); TLS 1.3 only when "
                 "--tls-cert is given, else loopback only unless --insecure-listen");
  app.add_option("--tls-cert", flags.tls_cert,
                 "PEM certificate chain for the client port (TLS 1.3); reloaded on SIGHUP");
  app.add_option("--tls-key", flags.tls_key,
                 "PEM private key of --tls-cert (keep it mode 0600); reloaded on SIGHUP");
  app.add_option("--tls-client-ca", flags.tls_client_ca,
                 "PEM CA certificates: clients (native and WebSocket) must present a "
                 "certificate one of them signed; reloaded on SIGHUP");
  app.add_flag("--insecure-listen", flags.insecure_listen,
               "Allow plaintext on non-loopback addresses: a client or WebSocket port without "
               "--tls-cert (e.g. behind a TLS terminating proxy), the admin and HTTP ports; "
               "passwords, tokens and the admin token then cross that network in the clear");
  app.add_option("--ws-listen", flags.ws_listen,
                 "WebSocket address, host:port (path /ws; wss:// with --tls-cert, else ws:// and "
                 "loopback only unless --insecure-listen); also serves --web-root");
  app.add_option("--ws-allowed-origin", flags.ws_allowed_origins,
                 "Origin allowed to open a WebSocket, e.g. https://chat.example.com "
                 "(repeatable; none: only pages from the WebSocket port's own host)");
  app.add_option("--web-root", flags.web_root,
                 "Directory of the browser client's files, served on the WebSocket port");
  app.add_option("--data-dir", flags.data_directory, "Data directory (created if missing)");
  app.add_option(
      "--threads", flags.threads,
      "I/O threads for client connections, 1-256 (default: the CPU cores; 1: they share the "
      "main event loop)");
  app.add_option("--node-name", flags.node_name, "This node's name, 1-64 of [A-Za-z0-9_.-]");
  app.add_option("--dm-policy", flags.dm_policy, "Who may message a user directly: friends|anyone");
  app.add_option("--durability", flags.durability,
                 "When a write is acknowledged: replicated (in a majority of its replicas' "
                 "write-ahead logs) | fsync (fsynced there too, group-committed)");
  app.add_option("--pwhash-cost", flags.password_cost,
                 "Password hashing cost: interactive|moderate|min|<ops>:<mem_kib>");
  app.add_option("--max-body-bytes", flags.max_body_bytes,
                 "Largest message body; at most max-frame-bytes - 1024");
  app.add_option("--max-frame-bytes", flags.max_frame_bytes,
                 "Largest client frame, 4096 B-16 MiB; a larger one closes the connection");
  app.add_option("--max-connections", flags.max_connections,
                 "Client connections; one more is told TooManyConnections and closed");
  app.add_option("--session-queue-bytes", flags.session_queue_bytes,
                 "Outbound bytes queued per connection before it is dropped as a slow consumer");
  app.add_option("--heartbeat-interval-ms", flags.heartbeat_interval_ms,
                 "Advertised to clients in HelloOk: they ping after this long without traffic");
  app.add_option("--idle-timeout-ms", flags.idle_timeout_ms,
                 "Close a connection that sends no frame for this long (clients ping); 0: two "
                 "heartbeat intervals and a second");
  app.add_option("--messages-per-second", flags.messages_per_second,
                 "Per-session rate of writing requests (token bucket refill)");
  app.add_option("--message-burst", flags.message_burst,
                 "Per-session burst of writing requests (token bucket size)");
  app.add_option("--max-group-members", flags.max_group_members, "Members per group");
  app.add_option("--max-friends", flags.max_friends, "Friends and pending requests per user");
  app.add_option("--log-level", flags.log_level, "debug|info|warn|error");
  app.add_option("--port-file", flags.port_file,
                 "Once listening, write the bound ports here (atomically: tmp + rename): the "
                 "client port on the first line, then 'gossip <port>', 'admin <port>', "
                 "'peer <port>' and 'http <port>'");
  app.add_option("--gossip-listen", flags.gossip_listen,
                 "Gossip address, ip:port, UDP and TCP (default: --listen's host, port + 1)");
  app.add_option("--peer-listen", flags.peer_listen,
                 "Peer link address (node <-> node TCP), ip:port (default: --listen's host, "
                 "port + 3)");
  app.add_option("--seed", flags.seeds,
                 "Gossip address of a member to join through, host:port (repeatable)")
      ->allow_extra_args(false);
  app.add_option("--cluster-key-file", flags.cluster_key_file,
                 "The cluster key (64 hex chars or base64); default <data-dir>/cluster.key, "
                 "created on first start");
  app.add_option("--generate-cluster-key", flags.generate_cluster_key,
                 "Write a new cluster key to this file (mode 0600) and exit");
  app.add_option("--generate-tls-cert", flags.generate_tls_cert,
                 "Write a self-signed certificate and its key (ECDSA P-256) to CERT and KEY "
                 "(mode 0600) for --tls-cert/--tls-key, and exit")
      ->expected(2)
      ->type_name("CERT KEY");
  app.add_option("--tls-cert-host", flags.tls_cert_hosts,
                 "With --generate-tls-cert: a DNS name or IP address clients connect to "
                 "(repeatable; default localhost, 127.0.0.1, ::1 and this host's name)");
  app.add_option("--tls-cert-days", flags.tls_cert_days,
                 "With --generate-tls-cert: days the certificate is valid, 1-3650");
  app.add_option("--admin-listen", flags.admin_listen,
                 "Admin (qimctl) address, host:port (default: 127.0.0.1, --listen's port + 2)");
  app.add_option("--http-listen", flags.http_listen,
                 "Operators' HTTP address for /metrics, /livez and /readyz, host:port, or off "
                 "(default: 127.0.0.1, --listen's port + 4)");
  app.add_option("--registration", flags.registration,
                 "Who may create accounts: open (any client) | closed (only qimctl user create)");
  app.add_option("--registrations-per-minute", flags.registrations_per_minute,
                 "Client registrations allowed per remote address and minute (burst of 5)");
  app.add_option("--admin-token-file", flags.admin_token_file,
                 "A cluster-wide admin token file (give every node the same one); default: a "
                 "token derived from the cluster key. Either way copied to "
                 "<data-dir>/admin.token for qimctl --data-dir");
  app.add_option("--probe-interval-ms", flags.probe_interval_ms,
                 "SWIM: how often each member probes another, 10-60000");
  app.add_option("--probe-timeout-ms", flags.probe_timeout_ms,
                 "SWIM: how long a probe waits for an ack before indirect probes");
  app.add_option("--suspicion-multiplier", flags.suspicion_multiplier,
                 "SWIM: suspicion timeout = multiplier * log10(members) * probe interval");
  app.add_option("--gossip-interval-ms", flags.gossip_interval_ms,
                 "SWIM: how often membership updates are gossiped, 5-60000");
  app.add_option("--push-pull-interval-ms", flags.push_pull_interval_ms,
                 "SWIM: how often a member exchanges full state with another over TCP");
  app.add_option("--vnodes", flags.vnodes,
                 "Ring: virtual nodes per member, 1-4096; every member must use the same value");
  app.add_option("--cursor-flush-ms", flags.cursor_flush_ms,
                 "How often read cursors acknowledged since the last time are written, in ms "
                 "(10-60000); a crash forgets at most this much of them (clients then see those "
                 "messages again and drop them)");
  app.add_option("--maintenance-interval-ms", flags.maintenance_interval_ms,
                 "How often periodic maintenance (expired dedup records, history retention) "
                 "runs, 100 ms-24 h");
  app.add_option("--retain-days", flags.retain_days,
                 "Messages older than this many days (server time) are deleted by the "
                 "maintenance sweep, 0-36500, fractions allowed (0.5: twelve hours); 0 keeps them "
                 "forever");
  app.add_option("--partitions", flags.partitions,
                 "Partitions of the key space, 1-4096, fixed when the cluster is created; every "
                 "node must use the same value");
  app.add_option("--replicas", flags.replicas,
                 "Replicas of each partition (one Raft group each), 1-7; fewer while the cluster "
                 "has fewer nodes");
  app.add_option("--replace-after", flags.replace_after_s,
                 "Seconds a node may be dead before its replicas are rebuilt on other nodes");
  app.add_option("--raft-tick-ms", flags.raft_tick_ms,
                 "Raft: tick length; leaders heartbeat every tick, 10-10000 ms");
  app.add_option("--election-ticks", flags.election_ticks,
                 "Raft: ticks without a leader before a follower campaigns (randomised up to "
                 "twice this), 3-100");
  app.add_flag("--bootstrap", flags.bootstrap,
               "Create a new cluster (also the default when no --seed is given and the data "
               "directory is new)");
  app.add_option("--shutdown", flags.shutdown,
                 "What SIGTERM does: leave (move this node's replicas away, then exit) or stop "
                 "(hand leaderships over and exit; replicas catch up when it returns)");

  app.add_flag("--check-config", flags.check_config,
               "Validate the flags and the config file, print the outcome and exit (0: valid)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    int code = app.exit(error);  // prints help, or the error and a hint
    return {std::nullopt, code == 0 ? exit_ok : exit_usage};
  } catch (const std::exception& error) {
    std::fprintf(stderr, "qimd: %s\n", error.what());
    return {std::nullopt, exit_usage};
  }

  if (!flags.generate_cluster_key.empty()) {
    if (!auth::initialize()) {
      std::fprintf(stderr, "qimd: libsodium failed to initialise\n");
      return {std::nullopt, exit_failure};
    }
    std::string key_error;
    if (!auth::write_key_file(flags.generate_cluster_key, auth::ClusterKey::generate(),
                              key_error)) {
      std::fprintf(stderr, "qimd: %s\n", key_error.c_str());
      return {std::nullopt, exit_failure};
    }
    std::printf("wrote a new cluster key to %s; give every node of the cluster a copy\n",
                flags.generate_cluster_key.c_str());
    return {std::nullopt, exit_ok};
  }

  if (!flags.generate_tls_cert.empty()) return {std::nullopt, generate_tls_cert(flags)};

  Config config;
  std::string error;
  if (!build_config(flags, config, error)) {
    std::fprintf(stderr, "qimd: %s\nRun with --help for more information.\n", error.c_str());
    return {std::nullopt, exit_usage};
  }
  if (flags.check_config) {
    std::printf("qimd: the configuration is valid\n");
    return {std::nullopt, exit_ok};
  }
  return {std::move(config), exit_ok};
}

}  // namespace qim::node
