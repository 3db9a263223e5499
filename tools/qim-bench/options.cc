#include "qim-bench/options.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include <fmt/core.h>
#include <CLI/CLI.hpp>

namespace qim::bench {
namespace {

std::optional<Endpoint> parse_endpoint(const std::string& text) {
  std::string host;
  std::string port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  if (host.empty() || port_text.empty() || port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  int port = std::stoi(port_text);
  if (port < 1 || port > 65535) return std::nullopt;
  return Endpoint{host, static_cast<std::uint16_t>(port)};
}

bool valid_prefix(const std::string& prefix) {
  return !prefix.empty() && prefix.size() <= 16 &&
         std::all_of(prefix.begin(), prefix.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
                  c == '-';
         });
}

// Unique enough across runs against one data directory: time and pid.
std::string generated_prefix() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now).count();
  return fmt::format("b{:x}{:x}", static_cast<std::uint32_t>(seconds) & 0xffffff,
                     static_cast<std::uint32_t>(getpid()) & 0xfff);
}

}  // namespace

const char* workload_name(Workload workload) {
  switch (workload) {
    case Workload::o2o:
      return "o2o";
    case Workload::fanout:
      return "fanout";
    case Workload::idle:
      return "idle";
    case Workload::login:
      return "login";
    case Workload::handshake:
      return "handshake";
  }
  return "unknown";
}

ParsedOptions parse_options(int argc, char** argv) {
  Options options;
  std::string workload = "o2o";
  std::vector<std::string> servers;
  double duration_s = 10, warmup_s = 2, drain_s = 5;
  std::int64_t connect_timeout_ms = 5'000, request_timeout_ms = 10'000;
  std::vector<int> server_pids;

  CLI::App app{
      "qim-bench: load generator for qimd (one process, non-blocking sockets).\n"
      "Workloads: o2o (direct messages, windowed or --rate), fanout (one group, one sender),\n"
      "idle (logged-in idle connections; server memory per connection), login (login storm),\n"
      "handshake (connections set up per second: TCP, TLS with --tls, Hello; then closed).",
      "qim-bench"};
  app.option_defaults()->always_capture_default();
  app.add_option("workload", workload, "o2o | fanout | idle | login | handshake")
      ->check(CLI::IsMember({"o2o", "fanout", "idle", "login", "handshake"}));
  app.add_option("--server", servers,
                 "Node address host:port (repeatable; users are spread round-robin and follow "
                 "Redirect); default 127.0.0.1:7700");
  app.add_option("--users", options.users, "o2o and login: users")
      ->check(CLI::Range(2u, 1'000'000u));
  app.add_option("--contacts", options.contacts,
                 "o2o: each user writes only to its N contacts (the N users after it), so most "
                 "messages go to conversations that exist, as in real use; 0: to anyone, nearly "
                 "every message opening a new conversation")
      ->check(CLI::Range(0u, 1'000'000u));
  app.add_option("--members", options.members, "fanout: group members, the sender included")
      ->check(CLI::Range(2u, 100'000u));
  app.add_option("--connections", options.connections, "idle: logged-in connections")
      ->check(CLI::Range(1u, 1'000'000u));
  app.add_option("--window", options.window,
                 "Messages in flight per sender (o2o, default 4) or unfinished group messages "
                 "(fanout, default 8); windowed mode only")
      ->check(CLI::Range(0u, 1'000'000u));
  app.add_option("--rate", options.rate,
                 "Paced, open-loop: messages/s over all senders (fanout: group messages/s); 0 "
                 "saturates with the window")
      ->check(CLI::Range(0.0, 10'000'000.0));
  app.add_option("--body-bytes", options.body_bytes, "Message body size")
      ->check(CLI::Range(32u, 60'000u));
  app.add_flag("--read-acks", options.read_acks,
               "o2o and fanout: receivers send an Ack (read cursor) per conversation per read "
               "burst, as real clients do");
  app.add_option("--duration", duration_s, "Measured seconds")->check(CLI::Range(0.1, 3600.0));
  app.add_option("--warmup", warmup_s, "Unmeasured seconds before")->check(CLI::Range(0.0, 600.0));
  app.add_option("--drain", drain_s,
                 "At most this many seconds after, to collect what is in flight")
      ->check(CLI::Range(0.1, 600.0));
  app.add_option("--threads", options.threads,
                 "Event-loop threads; each runs an independent shard of the workload")
      ->check(CLI::Range(1u, 64u));
  app.add_option("--prefix", options.prefix,
                 "User and group id prefix, 1-16 of [a-z0-9_.-] (default: unique per run)");
  app.add_option("--password", options.password, "Password of the generated users (8-128 bytes)");
  app.add_option("--server-pid", server_pids,
                 "qimd's PID (same host): report its CPU seconds and RSS; repeat it for every "
                 "node of a cluster to report their sums");
  app.add_flag("--tls", options.tls,
               "TLS 1.3 on every connection, verifying the server against the system's trust "
               "store (or --ca)");
  app.add_option("--ca", options.ca_file, "Trust this PEM CA certificate (implies --tls)")
      ->check(CLI::ExistingFile);
  bool insecure_skip_verify = false;
  app.add_flag("--insecure-skip-verify", insecure_skip_verify,
               "TLS without checking the server's certificate (implies --tls)");
  app.add_flag("--json", options.json, "Print one JSON object instead of the summary");
  app.add_option("--connect-timeout-ms", connect_timeout_ms, "Per connection attempt")
      ->check(CLI::Range(10, 600'000));
  app.add_option("--request-timeout-ms", request_timeout_ms, "Per set-up request")
      ->check(CLI::Range(10, 600'000));
  app.add_option("--setup-concurrency", options.setup_concurrency,
                 "Connections set up (register, login, ...) at once")
      ->check(CLI::Range(1u, 10'000u));
  app.add_option("--login-concurrency", options.login_concurrency,
                 "login and handshake: logins (connections) in flight at once")
      ->check(CLI::Range(1u, 10'000u));
  app.add_option("--max-redirects", options.max_redirects, "Redirects followed per login")
      ->check(CLI::Range(0u, 16u));
  app.add_option("--max-in-flight", options.max_in_flight,
                 "Rate mode: unfinished messages per shard beyond which sends are skipped")
      ->check(CLI::Range(1u, 10'000'000u));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    int code = app.exit(error);
    return {std::nullopt, code == 0 ? 0 : 2};
  }

  auto fail = [](const std::string& message) {
    std::fprintf(stderr, "qim-bench: %s\nRun with --help for more information.\n", message.c_str());
    return ParsedOptions{std::nullopt, 2};
  };
  if (workload == "o2o") options.workload = Workload::o2o;
  if (workload == "fanout") options.workload = Workload::fanout;
  if (workload == "idle") options.workload = Workload::idle;
  if (workload == "login") options.workload = Workload::login;
  if (workload == "handshake") options.workload = Workload::handshake;
  options.tls = options.tls || !options.ca_file.empty() || insecure_skip_verify;
  options.verify = !insecure_skip_verify;
  if (insecure_skip_verify && !options.ca_file.empty())
    return fail("--ca and --insecure-skip-verify contradict each other: give one");
  if (servers.empty()) servers.push_back("127.0.0.1:7700");
  for (const auto& text : servers) {
    auto endpoint = parse_endpoint(text);
    if (!endpoint) return fail(fmt::format("--server must be host:port, got '{}'", text));
    options.servers.push_back(*endpoint);
  }
  if (options.prefix.empty()) options.prefix = generated_prefix();
  if (!valid_prefix(options.prefix))
    return fail(fmt::format("--prefix must be 1-16 of [a-z0-9_.-], got '{}'", options.prefix));
  if (options.password.size() < 8 || options.password.size() > 128)
    return fail("--password must be 8-128 bytes");
  if (options.threads > 1 && options.workload == Workload::o2o &&
      options.users / options.threads < 2)
    return fail("--users must give every thread at least 2 users");
  if (options.workload == Workload::o2o && options.contacts != 0 &&
      options.contacts >= options.users / std::max(1u, options.threads))
    return fail("--contacts must be below the users of a thread (--users / --threads)");
  for (int pid : server_pids) {
    if (pid <= 0) return fail("--server-pid must be a positive PID");
  }
  options.server_pids = std::move(server_pids);
  auto ms = [](double seconds) {
    return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
  };
  options.duration = ms(duration_s);
  options.warmup = ms(warmup_s);
  options.drain = ms(drain_s);
  options.connect_timeout = std::chrono::milliseconds(connect_timeout_ms);
  options.request_timeout = std::chrono::milliseconds(request_timeout_ms);
  return {std::move(options), 0};
}

}  // namespace qim::bench
