#pragma once
// The membership runner: the shell around the SWIM core. It owns swim::Membership and the
// gossip transport, drives the core from one timer at next_tick_ms(), feeds it datagrams and
// push-pull states, carries out its directives, logs membership events, joins through the
// seeds (retrying with backoff until one answers), leaves gracefully, and publishes a
// thread-safe snapshot of the member list for the admin endpoint.
#include <asio.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "auth/cluster_key.h"
#include "cluster/swim/config.h"
#include "cluster/swim/membership.h"
#include "core/log.h"
#include "net/endpoint.h"
#include "net/gossip_transport.h"

namespace qim::node {

struct MembershipOptions {
  std::string node_name = "qim-1";
  net::HostPort gossip_listen{"127.0.0.1", 7701};
  // Advertised to the cluster in the member's metadata.
  std::string client_address;
  // "ip:port" of this node's peer link listener (net::PeerLinks::local_address()), advertised
  // in the member's metadata; other nodes dial it. Empty: no peer links.
  std::string peer_address;
  // The WebSocket listener's port (0: none), advertised so other nodes can redirect browsers.
  std::uint16_t ws_port = 0;
  // Replication identity, advertised in the metadata: this node's Raft replica id, its
  // cluster's id (0: not joined to one yet) and the cluster's partition count.
  std::uint64_t replica_id = 0;
  std::uint64_t cluster_id = 0;
  std::uint32_t partitions = 0;
  // "host:port" gossip addresses of existing members to join through; empty: start alone.
  std::vector<std::string> seeds;
  cluster::swim::Config swim;
  net::GossipTransportOptions transport;
  // Join retries: the first after join_backoff_initial, doubling up to join_backoff_max, each
  // with +-25% jitter so nodes started together do not retry in step.
  std::chrono::milliseconds join_backoff_initial{500};
  std::chrono::milliseconds join_backoff_max{30'000};
  // leave() keeps gossiping this long at most, so peers hear "left" rather than time us out.
  std::chrono::milliseconds leave_timeout{1'000};
};

// One member as this node sees it, for the admin endpoint.
struct MemberSnapshot {
  std::string name;
  std::string gossip_address;
  std::string client_address;
  cluster::swim::MemberState state = cluster::swim::MemberState::alive;
  std::uint32_t incarnation = 0;
  std::uint64_t restart_epoch = 0;
  // Monotonic time (steady clock, ms) since which this node has seen the member in `state`.
  std::int64_t state_since_ms = 0;
  std::string peer_address;
  std::uint64_t replica_id = 0;  // from the member's metadata (0 from a version-1 member)
  std::uint64_t cluster_id = 0;
  std::uint32_t partitions = 0;
  bool draining = false;
  std::uint16_t ws_port = 0;  // 0: none, or a member older than metadata version 3
};

// Owned by main. Runs on the control executor given at construction (one thread): the core,
// the transport and every coroutine here; only snapshot() may be called from other threads.
// Lifecycle: bind(), start(), then leave() (optional) and stop(); stop() completes when no
// task of ours is left, after which the object may be destroyed.
class MembershipNode final : public net::GossipHandler {
 public:
  // REQUIRES: options.node_name is a valid member name; restart_epoch grows across restarts.
  MembershipNode(asio::any_io_executor executor, const auth::ClusterKey& key, core::Logger& logger,
                 MembershipOptions options, std::uint64_t restart_epoch, std::uint64_t random_seed);
  ~MembershipNode() override;

  MembershipNode(const MembershipNode&) = delete;
  MembershipNode& operator=(const MembershipNode&) = delete;

  // Binds the gossip sockets. False with `error` set on failure.
  bool bind(std::string& error);
  // REQUIRES: bind() succeeded.
  const std::string& gossip_address() const { return transport_.local_address(); }
  std::uint16_t gossip_port() const { return transport_.local_port(); }

  // Creates the core and starts ticking, receiving and joining. REQUIRES: bind() succeeded.
  void start();
  // Gossips that we leave and keeps gossiping for a bounded time (see leave_timeout).
  asio::awaitable<void> leave();
  // Stops every task and closes the sockets.
  asio::awaitable<void> stop();
  // Gossips new metadata: draining (leaving, replicas moving away) or a cluster id learnt on
  // joining. Control executor only; REQUIRES: start() ran.
  void set_draining(bool draining);
  void set_cluster_id(std::uint64_t cluster_id);

  // Thread-safe: the member list as of the latest change (ourselves included).
  std::vector<MemberSnapshot> snapshot() const;
  // The gossip transport's counters. Control executor only (the admin endpoint reads them
  // there).
  const net::GossipTransportCounters& transport_counters() const { return transport_.counters(); }
  // Called on the control executor with the member list after each membership event (and on
  // periodic refreshes). REQUIRES: set before start().
  void set_change_listener(std::function<void(const std::vector<MemberSnapshot>&)> listener) {
    change_listener_ = std::move(listener);
  }

  // net::GossipHandler (control executor).
  void on_gossip_datagram(std::string_view from_address,
                          std::span<const std::uint8_t> plaintext) override;
  std::optional<std::vector<std::uint8_t>> on_push_pull_request(
      std::string_view from_address, std::span<const std::uint8_t> state) override;

 private:
  struct Tracked {
    cluster::swim::MemberState state;
    std::uint64_t restart_epoch = 0;
    std::int64_t since_ms = 0;
  };

  static std::int64_t now_ms();
  asio::awaitable<void> tick_loop();
  cluster::swim::NodeMeta own_meta() const;
  void publish_meta();
  asio::awaitable<void> join_loop();
  asio::awaitable<void> run_push_pull(cluster::swim::StartPushPull directive);
  // Carries out what the core asked for, logs its events and refreshes the snapshot.
  void execute(cluster::swim::Directives& out);
  void log_event(const cluster::swim::MembershipEvent& event);
  void refresh_snapshot(std::int64_t now_ms);
  void spawn(asio::awaitable<void> task);
  void task_finished();
  std::chrono::milliseconds jittered(std::chrono::milliseconds delay);

  asio::any_io_executor executor_;
  core::Logger& logger_;
  const MembershipOptions options_;
  const std::uint64_t restart_epoch_;
  const std::uint64_t random_seed_;
  net::GossipTransport transport_;
  std::optional<cluster::swim::Membership> membership_;  // from start()

  asio::steady_timer tick_timer_;
  std::int64_t armed_tick_ms_ = 0;  // what tick_timer_ waits for
  asio::steady_timer join_timer_;
  bool joined_ = false;
  bool stopping_ = false;
  std::size_t running_tasks_ = 0;
  asio::steady_timer tasks_done_;
  std::uint64_t jitter_state_;  // a cheap generator for retry jitter, seeded per node

  std::unordered_map<std::string, Tracked> tracked_;  // control executor only
  bool draining_ = false;                             // control executor only
  std::uint64_t cluster_id_ = 0;                      // control executor only
  std::int64_t tracked_refresh_ms_ = 0;
  std::function<void(const std::vector<MemberSnapshot>&)> change_listener_;
  mutable std::mutex snapshot_mutex_;
  std::vector<MemberSnapshot> snapshot_;  // GUARDED_BY(snapshot_mutex_)
};

// The restart epoch for this start of the node: max(wall-clock ms << 16, the last one + 1),
// persisted in `<data_directory>/restart.epoch`, so it grows across restarts even when the
// clock steps back. False with `error` set when the file cannot be written.
bool next_restart_epoch(const std::string& data_directory, std::int64_t wall_ms,
                        std::uint64_t& epoch, std::string& error);

}  // namespace qim::node
