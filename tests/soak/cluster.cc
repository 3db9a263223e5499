#include "cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

namespace qim::soak {
namespace {

// Ports below the ephemeral range (/proc/sys/net/ipv4/ip_local_port_range starts at 32768),
// ten per node slot: client, gossip (+1, UDP and TCP), admin (+2), peer (+3).
constexpr std::uint16_t lowest_port = 20'000;
constexpr std::uint16_t highest_port = 32'000;
constexpr std::uint16_t ports_per_slot = 10;
constexpr int port_block_attempts = 50;
constexpr auto convergence_poll = std::chrono::milliseconds(200);

// SWIM timings of a test cluster: a dead node is noticed in about a second.
const std::vector<std::string> soak_swim_args = {
    "--probe-interval-ms",  "200", "--probe-timeout-ms",      "100",
    "--gossip-interval-ms", "50",  "--push-pull-interval-ms", "2000"};

bool can_bind(std::uint16_t port, int type) {
  int fd = ::socket(AF_INET, type, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

SoakCluster::SoakCluster(ClusterOptions options) : options_(std::move(options)) {}

SoakCluster::~SoakCluster() {
  for (auto& [name, node] : nodes_) {
    if (node.process && node.process->running()) node.process->kill();
  }
}

bool SoakCluster::pick_ports(std::string& error) {
  std::mt19937_64 random(options_.seed);
  std::uint32_t span = max_nodes * ports_per_slot;
  std::uniform_int_distribution<std::uint32_t> base(lowest_port, highest_port - span);
  for (int attempt = 0; attempt < port_block_attempts; ++attempt) {
    auto candidate = static_cast<std::uint16_t>(base(random) / ports_per_slot * ports_per_slot);
    bool free = true;
    for (std::uint32_t port = candidate; port < candidate + span && free; ++port) {
      std::uint32_t offset = (port - candidate) % ports_per_slot;
      if (offset > 3) continue;
      free = can_bind(static_cast<std::uint16_t>(port), SOCK_STREAM) &&
             (offset != 1 || can_bind(static_cast<std::uint16_t>(port), SOCK_DGRAM));
    }
    if (free) {
      base_port_ = candidate;
      return true;
    }
  }
  error = "no free block of ports between 20000 and 32000";
  return false;
}

std::uint16_t SoakCluster::port_of(const std::string& name) {
  auto it = nodes_.find(name);
  if (it != nodes_.end()) return it->second.port;
  return static_cast<std::uint16_t>(base_port_ + ports_per_slot * next_slot_++);
}

std::vector<std::string> SoakCluster::seeds_for(const std::string& name) const {
  std::vector<std::string> seeds;
  for (const auto& other : initial_names()) {
    if (other == name) continue;
    auto it = nodes_.find(other);
    std::uint16_t port = it == nodes_.end()
                             ? static_cast<std::uint16_t>(
                                   base_port_ + ports_per_slot * (std::stoul(other.substr(1)) - 1))
                             : it->second.port;
    seeds.push_back("--seed");
    seeds.push_back("127.0.0.1:" + std::to_string(port + 1));
  }
  return seeds;
}

bool SoakCluster::start(std::uint32_t nodes, std::chrono::milliseconds timeout,
                        std::string& error) {
  std::error_code ignored;
  std::filesystem::create_directories(options_.work_dir, ignored);
  std::filesystem::create_directories(options_.log_dir, ignored);
  if (!pick_ports(error)) return false;
  key_file_ = options_.work_dir + "/cluster.key";
  auto generated =
      test_support::run_command({options_.qimd_path, "--generate-cluster-key", key_file_});
  if (!generated.exit_code || *generated.exit_code != 0) {
    error = "qimd --generate-cluster-key failed: " + generated.out + generated.err;
    return false;
  }
  initial_ = nodes;
  for (std::uint32_t i = 1; i <= nodes; ++i) {
    if (!start_node("n" + std::to_string(i), error)) return false;
  }
  auto names = initial_names();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!converged(names)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      error = "the initial nodes did not see each other alive in time";
      return false;
    }
    std::this_thread::sleep_for(convergence_poll);
  }
  while (!replicated(names)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      error = "the partitions were not all replicated and led in time";
      return false;
    }
    std::this_thread::sleep_for(convergence_poll);
  }
  return true;
}

bool SoakCluster::replicated(const std::vector<std::string>& names) {
  auto* node = names.empty() ? nullptr : find(names.front());
  if (node == nullptr) return false;
  auto result = test_support::run_command(
      {options_.qimctl_path, "--port-file", node->port_file(), "--data-dir", node->data_dir(),
       "--timeout-ms", "2000", "--json", "partitions"},
      std::chrono::seconds(5));
  if (!result.exit_code || *result.exit_code != 0) return false;
  auto parsed = nlohmann::json::parse(result.out, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) return false;
  return parsed.value("under_replicated", -1) == 0 && parsed.value("leaderless", -1) == 0 &&
         parsed.value("nodes_answered", std::size_t{0}) == names.size();
}

bool SoakCluster::start_node(const std::string& name, std::string& error) {
  auto it = nodes_.find(name);
  if (it == nodes_.end()) {
    if (next_slot_ >= max_nodes) {
      error = "no port slot left for " + name;
      return false;
    }
    Node node;
    node.port = port_of(name);
    test_support::ServerOptions server;
    server.qimd_path = options_.qimd_path;
    server.node_name = name;
    server.root_dir = options_.work_dir + "/" + name;
    server.log_path = log_path(name);
    server.listen_port = node.port;
    server.extra_args = {"--cluster-key-file", key_file_};
    // n1 creates the cluster (every initial node names the others as seeds, so none would).
    if (name == "n1") server.extra_args.push_back("--bootstrap");
    server.extra_args.insert(server.extra_args.end(), soak_swim_args.begin(), soak_swim_args.end());
    // n1, n3, ... run on one event loop (clients, peers and replicas alike), the others with
    // their clients on I/O threads of their own: both ways go through every fault.
    if (!name.empty() && (name.back() - '0') % 2 == 1) {
      server.extra_args.insert(server.extra_args.end(), {"--threads", "1"});
    }
    auto seeds = seeds_for(name);
    server.extra_args.insert(server.extra_args.end(), seeds.begin(), seeds.end());
    server.extra_args.insert(server.extra_args.end(), options_.extra_args.begin(),
                             options_.extra_args.end());
    node.process = std::make_unique<test_support::ServerProcess>(std::move(server));
    it = nodes_.emplace(name, std::move(node)).first;
    order_.push_back(name);
  }
  if (!it->second.process->start()) {
    error = name + ": " + it->second.process->error();
    return false;
  }
  return true;
}

bool SoakCluster::converged(const std::vector<std::string>& names) {
  std::set<std::string> expected(names.begin(), names.end());
  for (const auto& name : names) {
    auto* node = find(name);
    if (node == nullptr) return false;
    auto result = test_support::run_command(
        {options_.qimctl_path, "--port-file", node->port_file(), "--data-dir", node->data_dir(),
         "--timeout-ms", "2000", "--json", "members"},
        std::chrono::seconds(5));
    if (!result.exit_code || *result.exit_code != 0) return false;
    auto parsed = nlohmann::json::parse(result.out, nullptr, false);
    if (parsed.is_discarded()) return false;
    const auto& members = parsed.is_array() ? parsed : parsed.value("members", nlohmann::json());
    std::set<std::string> alive;
    for (const auto& member : members) {
      if (member.value("state", "") == "alive") alive.insert(member.value("name", ""));
    }
    if (alive != expected) return false;
  }
  return true;
}

test_support::ServerProcess* SoakCluster::find(const std::string& name) {
  auto it = nodes_.find(name);
  return it == nodes_.end() ? nullptr : it->second.process.get();
}

std::vector<std::string> SoakCluster::initial_names() const {
  std::vector<std::string> names;
  for (std::uint32_t i = 1; i <= initial_; ++i)
    names.push_back("n" + std::to_string(i));
  return names;
}

std::vector<Endpoint> SoakCluster::initial_endpoints() const {
  std::vector<Endpoint> endpoints;
  for (const auto& name : initial_names()) {
    auto it = nodes_.find(name);
    if (it != nodes_.end()) endpoints.push_back({"127.0.0.1", it->second.port});
  }
  return endpoints;
}

std::string SoakCluster::log_path(const std::string& name) const {
  return options_.log_dir + "/" + name + ".log";
}

}  // namespace qim::soak
