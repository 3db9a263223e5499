#include "node/node_metrics.h"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>

#include <fmt/core.h>

#include "admin/metrics_text.h"
#include "qim/schemas/client_generated.h"

namespace qim::node {
namespace {

using admin::MetricsText;
using Type = MetricsText::Type;

constexpr const char* version = "0.1.0";

double number(std::uint64_t value) {
  return static_cast<double>(value);
}

// "Send" -> "send", "FriendRequest" -> "friend_request".
std::string snake_case(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c >= 'A' && c <= 'Z') {
      if (!out.empty()) out += '_';
      out += static_cast<char>(c - 'A' + 'a');
    } else {
      out += c;
    }
  }
  return out;
}

const char* state_label(cluster::swim::MemberState state) {
  switch (state) {
    case cluster::swim::MemberState::alive:
      return "alive";
    case cluster::swim::MemberState::suspect:
      return "suspect";
    case cluster::swim::MemberState::dead:
      return "dead";
    case cluster::swim::MemberState::left:
      return "left";
  }
  return "unknown";
}

}  // namespace

std::string NodeMetrics::render() {
  Sources& s = sources_;
  admin::NodeStatsView stats = s.local.stats();
  service::RequestMetrics::Snapshot requests = s.service.request_metrics().snapshot();
  net::ClientTraffic traffic = s.listener.traffic();
  net::PeerLinkStats peers = s.peers.stats();
  store::RocksHealth store = s.store.health();
  std::vector<replica::ReplicaStatus> replicas = s.replicas.status();
  const replica::ReplicaProbe& probe = s.replicas.probe();
  auto read = [](const std::atomic<std::uint64_t>& counter) {
    return number(counter.load(std::memory_order_relaxed));
  };

  MetricsText out;
  out.family("qim_build_info", Type::gauge, "The running qimd's version (always 1).");
  out.sample("qim_build_info", {{"version", version}}, 1);
  out.single("qim_uptime_seconds", Type::gauge, "Seconds since this node started.",
             number(stats.uptime_ms) / 1000.0);

  // Clients.
  out.family("qim_client_connections", Type::gauge,
             "Client connections by transport: tcp (native, TLS or not), ws, wss.");
  out.sample("qim_client_connections", {{"transport", "tcp"}},
             number(s.listener.connection_count(net::ClientTransport::native)));
  out.sample("qim_client_connections", {{"transport", "ws"}},
             number(s.listener.connection_count(net::ClientTransport::ws)));
  out.sample("qim_client_connections", {{"transport", "wss"}},
             number(s.listener.connection_count(net::ClientTransport::wss)));
  out.single("qim_sessions", Type::gauge, "Logged-in client sessions.", number(stats.sessions));
  out.single("qim_users_online", Type::gauge, "Users with a session on this node.",
             number(stats.users_online));
  out.single("qim_logins_total", Type::counter, "Successful logins.", number(requests.logins));
  out.single("qim_login_failures_total", Type::counter,
             "Refused logins (wrong password or token, disabled, rate limited, ...).",
             number(requests.login_failures));
  out.single("qim_registrations_total", Type::counter, "Accounts registered by clients.",
             number(requests.registrations));
  out.single("qim_registration_failures_total", Type::counter,
             "Client registrations refused (closed, rate limited, taken, ...).",
             number(requests.registration_failures));
  out.single("qim_client_received_bytes_total", Type::counter,
             "Bytes of frames received from clients.", number(traffic.bytes_received));
  out.single("qim_client_sent_bytes_total", Type::counter,
             "Bytes of frames queued to clients (replies and pushes).", number(traffic.bytes_sent));
  out.single("qim_slow_consumer_disconnects_total", Type::counter,
             "Client connections closed because their outbound queue overflowed.",
             number(traffic.slow_consumers));
  out.single("qim_requests_total", Type::counter, "Client frames received.",
             number(stats.requests));

  out.family("qim_request_duration_seconds", Type::histogram,
             "Time from a client request's arrival to its reply, by operation.");
  for (std::size_t op = 0; op < service::RequestMetrics::max_operations; ++op) {
    const auto& histogram = requests.latency[op];
    if (histogram.count == 0) continue;
    if (op > static_cast<std::size_t>(wire::Body::MAX)) continue;
    std::string name = snake_case(wire::EnumNameBody(static_cast<wire::Body>(op)));
    if (name.empty()) continue;
    out.histogram("qim_request_duration_seconds", {{"operation", name}},
                  service::RequestMetrics::bucket_bounds_seconds, histogram.counts,
                  histogram.sum_seconds);
  }
  out.family("qim_errors_total", Type::counter, "Error replies sent to clients, by code.");
  for (std::size_t code = 1; code < service::RequestMetrics::codes; ++code) {
    out.sample("qim_errors_total", {{"code", errc_name(static_cast<errc>(code))}},
               number(requests.errors[code]));
  }

  // Messages.
  out.single("qim_messages_stored_total", Type::counter,
             "Messages appended to a conversation on this node (applied as its leader).",
             number(stats.messages_stored));
  out.single("qim_messages_delivered_total", Type::counter,
             "Deliver frames handed to this node's client sessions.",
             number(stats.messages_pushed));
  out.single("qim_push_drops_total", Type::counter,
             "Pushes for other nodes dropped because an outbox or a peer link was full.",
             number(s.cluster.pushes_dropped()));

  // Peer links.
  out.single("qim_peer_queued_frames", Type::gauge, "Frames waiting in peer link queues.",
             number(peers.queued_frames));
  out.single("qim_peer_queued_bytes", Type::gauge, "Bytes waiting in peer link queues.",
             number(peers.queued_bytes));
  out.single("qim_peer_links_connected", Type::gauge, "Outbound peer links with a connection.",
             number(peers.outbound_connected));
  out.single("qim_peer_reconnects_total", Type::counter,
             "Outbound peer links established again after a connection ended.",
             number(peers.reconnects));
  out.single("qim_peer_frames_dropped_total", Type::counter, "Peer frames not delivered.",
             number(peers.frames_dropped));
  out.single("qim_peer_dials_failed_total", Type::counter,
             "Outbound peer connections or handshakes that failed.", number(peers.dials_failed));
  out.single("qim_peer_sent_bytes_total", Type::counter, "Bytes written on peer links.",
             number(peers.bytes_sent));
  out.single("qim_peer_received_bytes_total", Type::counter, "Bytes read from peer links.",
             number(peers.bytes_received));

  // Gossip and membership.
  if (stats.gossip) {
    const admin::GossipCountersView& g = *stats.gossip;
    out.single("qim_gossip_datagrams_received_total", Type::counter, "Gossip datagrams received.",
               number(g.datagrams_received));
    out.single("qim_gossip_datagrams_unsealable_total", Type::counter,
               "Gossip datagrams that did not open with the cluster key.",
               number(g.datagrams_unsealable));
    out.single("qim_gossip_datagrams_sent_total", Type::counter, "Gossip datagrams sent.",
               number(g.datagrams_sent));
    out.single("qim_gossip_datagrams_send_failed_total", Type::counter,
               "Gossip datagrams that could not be sent.", number(g.datagrams_send_failed));
    out.single("qim_gossip_push_pulls_total", Type::counter,
               "Full-state exchanges with another member that completed.",
               number(g.push_pulls_completed));
    out.single("qim_gossip_push_pull_failures_total", Type::counter,
               "Full-state exchanges that failed or were refused.",
               number(g.push_pulls_failed + g.push_pulls_refused));
  }
  out.family("qim_members", Type::gauge,
             "Members of the cluster as this node sees them, by state.");
  {
    std::map<std::string, std::uint64_t> by_state = {
        {"alive", 0}, {"suspect", 0}, {"dead", 0}, {"left", 0}};
    for (const MemberSnapshot& member : s.membership.snapshot())
      ++by_state[state_label(member.state)];
    for (const auto& [state, count] : by_state)
      out.sample("qim_members", {{"state", state}}, number(count));
  }

  // Store.
  out.single("qim_store_size_bytes", Type::gauge, "The store's estimate of its size on disk.",
             number(stats.store_bytes));
  out.single("qim_store_wal_size_bytes", Type::gauge, "Live write-ahead log files.",
             number(store.wal_bytes));
  out.single("qim_store_write_stopped", Type::gauge,
             "1 while RocksDB stops writes (too many files or memtables).",
             store.write_stopped ? 1 : 0);
  out.single("qim_store_delayed_write_rate_bytes", Type::gauge,
             "The rate RocksDB slows writes to (bytes per second); 0 when not slowed.",
             number(store.delayed_write_rate));
  out.single("qim_store_compaction_pending", Type::gauge, "1 while a compaction is pending.",
             store.compaction_pending ? 1 : 0);
  out.single("qim_store_pending_compaction_bytes", Type::gauge,
             "Estimated bytes compaction has to rewrite.", number(store.pending_compaction_bytes));
  out.single("qim_store_block_cache_hits_total", Type::counter, "Block cache hits.",
             number(store.block_cache_hits));
  out.single("qim_store_block_cache_misses_total", Type::counter, "Block cache misses.",
             number(store.block_cache_misses));
  out.single("qim_store_block_cache_usage_bytes", Type::gauge, "Block cache memory in use.",
             number(store.block_cache_usage_bytes));
  out.single("qim_store_keys_written_total", Type::counter,
             "Keys put or deleted in the store (Raft log, applied state, cursors, everything).",
             number(store.keys_written));
  out.single("qim_store_write_batches_total", Type::counter,
             "Write batches the store wrote (group commit may share a WAL write among several).",
             number(store.write_batches));

  // Replication.
  std::uint64_t lag_max = 0, leaderless = 0, behind = 0;
  for (const replica::ReplicaStatus& status : replicas) {
    if (status.leader == 0) ++leaderless;
    if (status.commit > status.applied + caught_up_entries) ++behind;
    if (status.role != replication::raft::Role::leader) continue;
    std::uint64_t slowest = status.last_index;
    for (auto voter : status.config.voters) {
      if (voter == status.replica) continue;
      std::uint64_t match = 0;
      for (const auto& follower : status.followers) {
        if (follower.id == voter) match = follower.match;
      }
      slowest = std::min(slowest, match);
    }
    lag_max = std::max(lag_max, status.last_index - slowest);
  }
  out.single("qim_partitions", Type::gauge, "Partitions of the cluster's key space.", s.partitions);
  out.single("qim_replicas_hosted", Type::gauge, "Partition replicas hosted on this node.",
             number(s.replicas.hosted()));
  out.single("qim_partitions_led", Type::gauge, "Partitions this node leads.",
             number(s.replicas.leaderships()));
  out.single("qim_replicas_leaderless", Type::gauge,
             "Hosted replicas whose partition has no known leader.", number(leaderless));
  out.single("qim_replicas_behind", Type::gauge,
             "Hosted replicas whose applied index trails their commit index by more than 64.",
             number(behind));
  out.single("qim_replication_lag_entries", Type::gauge,
             "Over the partitions this node leads: the largest gap between the leader's last "
             "index and its slowest voter's.",
             number(lag_max));
  out.single("qim_leader_changes_total", Type::counter,
             "Leader or term changes seen by hosted replicas (elections, transfers).",
             read(probe.leader_changes));
  out.single("qim_leaderships_won_total", Type::counter, "Times a hosted replica became leader.",
             read(probe.leaderships_won));
  out.single("qim_snapshots_sent_total", Type::counter, "Partition snapshots sent completely.",
             read(probe.snapshots_sent));
  out.single("qim_snapshots_received_total", Type::counter, "Partition snapshots installed.",
             read(probe.snapshots_received));
  out.single("qim_proposals_total", Type::counter, "Commands proposed to partitions led here.",
             read(probe.proposals));
  out.single("qim_proposal_failures_total", Type::counter,
             "Proposals without an outcome from the log (not leader, timed out, overwritten).",
             read(probe.proposals_failed));
  out.single("qim_replica_ready_cycles_total", Type::counter,
             "Replica host cycles that had work; each makes at most one store write for every "
             "partition (proposals divided by cycles is the batching).",
             read(probe.ready_cycles));
  out.single("qim_ready", Type::gauge, "1 when /readyz answers ready.", ready().ok ? 1 : 0);
  return out.text();
}

Probe NodeMetrics::live() {
  // Every loop must run a posted no-op in time; the handlers may run after the wait gave up,
  // so what they touch is shared.
  struct Pending {
    std::mutex mutex;
    std::condition_variable done;
    std::size_t outstanding = 0;
  };
  auto pending = std::make_shared<Pending>();
  pending->outstanding = sources_.loops.size();
  for (const asio::any_io_executor& loop : sources_.loops) {
    asio::post(loop, [pending] {
      std::lock_guard lock(pending->mutex);
      if (--pending->outstanding == 0) pending->done.notify_all();
    });
  }
  std::unique_lock lock(pending->mutex);
  bool ran = pending->done.wait_for(lock, live_timeout, [&] { return pending->outstanding == 0; });
  if (ran) return {true, "ok"};
  return {false, fmt::format("{} of {} event loops did not run a task within {} ms",
                             pending->outstanding, sources_.loops.size(), live_timeout.count())};
}

Probe NodeMetrics::ready() {
  std::string reasons;
  auto fail = [&reasons](const std::string& reason) {
    if (!reasons.empty()) reasons += "\n";
    reasons += reason;
  };
  if (!sources_.joined()) fail("not joined: no cluster yet (waiting for replicas via --seed)");
  if (sources_.draining()) fail("draining: leaving the cluster or shutting down");
  std::string probe_value;
  if (Error error = sources_.store.get(store::Column::meta, "format", probe_value)) {
    fail("store: " + error.message);
  }
  std::uint64_t leaderless = 0, behind = 0;
  for (const replica::ReplicaStatus& status : sources_.replicas.status()) {
    if (status.leader == 0) ++leaderless;
    if (status.commit > status.applied + caught_up_entries) ++behind;
  }
  if (leaderless > 0)
    fail(fmt::format("{} hosted partition(s) without a known leader", leaderless));
  if (behind > 0) fail(fmt::format("{} hosted replica(s) not caught up", behind));
  if (reasons.empty()) return {true, "ok"};
  return {false, reasons};
}

}  // namespace qim::node
