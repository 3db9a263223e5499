#pragma once
// A deterministic multi-Raft cluster simulator. Many nodes (processes), each hosting replicas of
// many groups, driven from one seed: a simulated clock (a queue of timed events), a network that
// drops, delays, duplicates and reorders messages and can be partitioned per direction, crashes
// and restarts (with exactly what was persisted; in power-loss mode without what was not yet
// synced), pauses (SIGSTOP: the process keeps its memory, hears nothing until SIGCONT and then
// replays the ticks it missed), and a shell per node written like the real one: per cycle it
// collects every group's Ready, writes them all, syncs once, sends, applies, advances. Clients
// send messages to the replicated messaging state machine; a controller moves replicas, wipes
// them and transfers leadership; a replica dropped after its removal comes back, empty, when a
// stale leader still addresses it. The Checker sees everything.
//
// Nothing reads the real clock or global randomness; one seed replays a run exactly.
#include <array>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "replication/raft/node.h"
#include "replication/raft/random.h"
#include "tests/sim/raft/checker.h"
#include "tests/sim/raft/disk.h"
#include "tests/sim/raft/messaging.h"

namespace qim::sim::raft {

struct NetworkFaults {
  double loss = 0.0;
  double duplication = 0.0;
  std::int64_t delay_min_ms = 1;
  std::int64_t delay_max_ms = 5;
  // Some messages take much longer (reordering across heartbeats and elections).
  double long_delay = 0.0;
  std::int64_t long_delay_max_ms = 80;
};

struct ClusterConfig {
  std::size_t nodes = 3;
  std::size_t groups = 4;
  std::size_t replicas_per_group = 3;
  std::size_t conversations_per_group = 3;
  std::size_t clients = 4;
  std::size_t sends_per_client = 40;
  std::int64_t tick_ms = 10;
  // Per-replica options; id and random_seed are set per replica.
  consensus::Options raft;
  // fsync durability: every cycle syncs its writes before sending; a crash is a power cut that
  // loses unsynced writes (and sometimes strikes between a cycle's write and its sync).
  bool power_loss = false;
  double crash_mid_cycle = 0.0;
  // Chance per replica per cycle that the shell compacts its log below applied - margin.
  double compaction = 0.02;
  std::int64_t client_timeout_ms = 300;
  // Nemesis: the chance that a newly elected leader's node is cut off from every other node
  // within isolation_delay_ms_max of its election (while its first appends are in flight), for
  // isolation_ms_min..max.
  // This is what builds divergent uncommitted tails across terms (figure 8 of the paper).
  double isolate_new_leaders = 0.0;
  std::int64_t isolation_delay_ms_max = 40;
  // The chance that a leader's node is cut off at once when its commit index first moves in its
  // term (when entries of older terms commit along with its no-op).
  double isolate_at_first_commit = 0.0;
  // Quiescence: the chance per tick that an idle leader that can quiesce does. A quiet follower
  // is woken, as the real shell does from gossip, when its leader's node is down or cannot
  // reach it (after a detection delay: wake_detection per tick).
  double quiesce = 0.0;
  double wake_detection = 0.3;
  // The chance that a new leader at once proposes a random configuration change (add a learner
  // on a free node, promote a learner, remove a learner or a voter beyond three), as a
  // rebalancer acting on each leader's view would; replicas left out of the configuration are
  // deleted later. Changes then race with leader changes.
  double config_chaos = 0.0;
  std::int64_t isolation_ms_min = 50;
  std::int64_t isolation_ms_max = 800;
  // As qimd's shell does: a replica dropped with its data after its removal from the group keeps
  // a tombstone (its term and vote); an append or heartbeat from a leader that still counts it
  // creates it again under the same id, with an empty log and the tombstone's term and vote.
  bool revive_removed = true;
  bool check_invariants = true;
  // Where the trace of events goes (nullptr: no trace).
  std::FILE* trace = nullptr;
};

class Cluster {
 public:
  Cluster(const ClusterConfig& config, std::uint64_t seed);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  std::int64_t now_ms() const { return now_ms_; }
  // Runs events up to and including time_ms (stops early once the checker failed).
  void run_until(std::int64_t time_ms);
  void run_for(std::int64_t duration_ms) { run_until(now_ms_ + duration_ms); }

  // ---- Faults -------------------------------------------------------------------------------
  void set_network(const NetworkFaults& faults) { network_ = faults; }
  const NetworkFaults& network() const { return network_; }
  void block(std::size_t from, std::size_t to);
  void heal_links();
  bool link_blocked(std::size_t from, std::size_t to) const;
  void crash(std::size_t node);
  void restart(std::size_t node);
  bool up(std::size_t node) const;
  // SIGSTOP and SIGCONT: while paused the node's timers and inbound messages wait; at resume
  // a tick timer that fell due replays the ticks missed since the last one (at most four
  // election timeouts' worth, as qimd does), before the messages that queued up are handled.
  void pause(std::size_t node);
  void resume(std::size_t node);
  bool paused(std::size_t node) const { return nodes_[node].paused; }
  std::size_t node_count() const { return nodes_.size(); }

  // ---- Operations -----------------------------------------------------------------------------
  // Moves the group's replica on `from_node` to `to_node` (learner, promote, remove).
  bool start_move(GroupId group, std::size_t from_node, std::size_t to_node);
  // Deletes the group's replica on `node` (its data directory) and replaces it by a new replica
  // with a new id on the same node.
  bool start_wipe(GroupId group, std::size_t node);
  void transfer_leadership(GroupId group);
  bool op_in_progress(GroupId group) const { return ops_.count(group) > 0; }
  std::size_t ops_in_progress() const { return ops_.size(); }
  std::vector<std::size_t> nodes_hosting(GroupId group) const;
  std::size_t group_count() const { return config_.groups; }

  void set_clients_active(bool active);
  void set_compaction(double chance) { config_.compaction = chance; }
  void set_crash_mid_cycle(double chance) { config_.crash_mid_cycle = chance; }
  // Stops (0) or sets the nemesis and the configuration chaos.
  void set_chaos(double chance) {
    config_.isolate_new_leaders = chance;
    config_.isolate_at_first_commit = chance;
    config_.config_chaos = chance;
  }

  // ---- Observation ---------------------------------------------------------------------------
  // The up (not paused) replica that leads `group` with the highest term, if any.
  struct LeaderView {
    std::size_t node;
    consensus::NodeId id;
    consensus::Term term;
  };
  std::optional<LeaderView> leader(GroupId group) const;
  // Proposes a probe send on the group's leader; returns the command to wait for.
  std::optional<SendCommand> propose_probe(GroupId group);
  bool probe_applied(GroupId group, const SendCommand& probe) const;
  // Every member replica (by the leader's configuration) is up and has applied the leader's
  // commit index.
  bool group_caught_up(GroupId group) const;
  // Final checks on a settled cluster: state machines equal across members, acknowledged sends.
  void check_settled();

  Checker& checker() { return checker_; }
  const Checker& checker() const { return checker_; }
  // Election times observed after a leader's node crashed: from the crash to the next leader of
  // the group, in ms.
  const std::vector<std::int64_t>& election_times_ms() const { return election_times_ms_; }
  std::uint64_t messages_sent() const { return messages_sent_; }
  std::uint64_t acknowledged() const { return acknowledged_; }
  std::uint64_t snapshots_sent() const { return snapshots_sent_; }
  std::uint64_t config_changes_done() const { return config_changes_done_; }
  std::uint64_t power_cuts_mid_cycle() const { return power_cuts_mid_cycle_; }
  std::uint64_t leader_changes() const { return leader_changes_; }
  std::uint64_t nemesis_isolations() const { return nemesis_isolations_; }
  std::uint64_t quiesced_groups() const { return quiesced_groups_; }
  std::uint64_t revived_replicas() const { return revived_replicas_; }
  std::uint64_t pauses() const { return pauses_; }

 private:
  struct PendingProposal {
    consensus::Term term = 0;
    std::size_t client = 0;
    std::uint64_t attempt = 0;
    SendCommand command;
  };
  struct Replica {
    Replica(GroupId group, consensus::NodeId id, bool power_loss)
        : group(group), id(id), disk(power_loss) {}
    GroupId group;
    consensus::NodeId id;
    ReplicaDisk disk;
    // Volatile (gone while the process is down).
    std::unique_ptr<DiskStorage> storage;
    std::unique_ptr<consensus::Node> node;
    std::optional<std::pair<consensus::SnapshotMeta, std::shared_ptr<const MessagingState>>>
        received_snapshot;
    std::map<consensus::Index, PendingProposal> pending;
    // The simulated time of Node tick k is tick_times[k % size] (for the lease check).
    std::array<std::int64_t, 64> tick_times{};
    consensus::Role last_role = consensus::Role::follower;
    consensus::Term last_term = 0;
    // The term in which this replica, as leader, last advanced its commit index.
    consensus::Term committed_as_leader_in = 0;
    std::int64_t created_ms = 0;
  };
  struct Event;
  struct SimNode {
    bool up = true;
    std::uint64_t generation = 0;
    bool cycle_scheduled = false;
    std::map<GroupId, std::unique_ptr<Replica>> replicas;
    // Tombstones of replicas dropped after their removal: id and the term and vote they had.
    std::map<GroupId, std::pair<consensus::NodeId, consensus::HardState>> tombstones;
    bool paused = false;
    std::int64_t paused_at_ms = 0;
    std::uint64_t tick_epoch = 0;
    // When the tick timer last fired (its due time): a resumed node replays what it missed
    // since then, as qimd's tick does.
    std::int64_t last_tick_ms = 0;
    // Inbound events that arrived while paused, in arrival order.
    std::vector<Event> held;
  };
  struct Address {
    std::size_t node = 0;
    GroupId group = 0;
    bool destroyed = false;
    // Destroyed after its removal, with a tombstone: messages for it still reach its node.
    bool tombstone = false;
  };
  struct Outstanding {
    SendCommand command;
    std::uint64_t attempt = 0;
  };
  struct Client {
    std::uint32_t sender = 0;
    std::uint64_t next_id = 1;
    std::size_t sent = 0;
    std::optional<Outstanding> outstanding;
    std::map<GroupId, std::size_t> leader_hint;
    std::uint64_t attempts = 0;
  };
  struct ConfigOp {
    GroupId group = 0;
    consensus::NodeId old_id = 0;
    std::size_t old_node = 0;
    consensus::NodeId new_id = 0;
    std::size_t new_node = 0;
    std::int64_t last_proposal_ms = -1;
  };

  // Events.
  struct Deliver {
    consensus::Message message;
    std::size_t from_node;
  };
  struct SnapshotDeliver {
    consensus::Message message;
    std::shared_ptr<const MessagingState> machine;
    std::size_t from_node;
  };
  struct SnapshotReport {
    consensus::NodeId leader = 0;
    consensus::NodeId target = 0;
    bool ok = false;
  };
  struct ClientRequest {
    std::size_t client = 0;
    std::uint64_t attempt = 0;
    SendCommand command;
  };
  enum class ReplyKind : std::uint8_t { ack, redirect, retry };
  struct ClientReply {
    std::size_t client = 0;
    std::uint64_t attempt = 0;
    ReplyKind kind = ReplyKind::retry;
    std::uint64_t seq = 0;
    SendCommand command;
    std::optional<std::size_t> hint;
  };
  struct ClientTimeout {
    std::size_t client = 0;
    std::uint64_t attempt = 0;
  };
  struct ClientNext {
    std::size_t client = 0;
  };
  // A node's tick timer; a resumed node starts a new one (epoch) and the old one's events die.
  struct Tick {
    std::uint64_t epoch;  // no initializer: the variant default-constructs its first type
  };
  // The ticks a paused node missed, replayed at once.
  struct ReplayTicks {
    std::int64_t count = 0;
  };
  struct Cycle {};
  struct ControllerRound {};
  struct Isolate {
    bool cut;  // false: reconnect
  };
  using Payload =
      std::variant<Tick, ReplayTicks, Deliver, SnapshotDeliver, SnapshotReport, ClientRequest,
                   ClientReply, ClientTimeout, ClientNext, Cycle, ControllerRound, Isolate>;
  struct Event {
    std::int64_t time_ms = 0;
    std::uint64_t sequence = 0;
    std::size_t node = 0;  // for node events: the target node
    std::uint64_t generation = 0;
    Payload payload;
  };
  struct EventOrder {
    bool operator()(const Event& a, const Event& b) const {
      return a.time_ms != b.time_ms ? a.time_ms > b.time_ms : a.sequence > b.sequence;
    }
  };

  void schedule(std::int64_t time_ms, std::size_t node, Payload payload);
  void schedule_cycle(std::size_t node);
  void dispatch(Event& event);

  // Node shell.
  void start_replica_node(Replica& replica);
  void on_tick(std::size_t node);
  void tick_replicas(std::size_t node);
  // Holds an inbound event for a paused node; false if the node is not paused.
  bool hold_if_paused(Event& event);
  void run_cycle(std::size_t node);
  void after_step(std::size_t node, Replica& replica);
  void observe_role(std::size_t node, Replica& replica);
  void send(std::size_t node, Replica& replica, consensus::Message&& message);
  void on_deliver(std::size_t node, Deliver& deliver);
  void on_snapshot_deliver(std::size_t node, SnapshotDeliver& deliver);
  void on_snapshot_report(std::size_t node, const SnapshotReport& report);
  void apply_committed(std::size_t node, Replica& replica, const consensus::Entry& entry);
  Replica* find_replica(std::size_t node, consensus::NodeId id);
  Replica& create_replica(std::size_t node, GroupId group,
                          const consensus::Configuration& bootstrap);
  // keep_tombstone: dropped after its removal from the group (not a wiped data directory).
  void destroy_replica(std::size_t node, GroupId group, bool keep_tombstone);
  // A leader's append or heartbeat for a replica this node dropped after its removal.
  Replica* revive_replica(std::size_t node, consensus::NodeId id, consensus::MessageType type);
  consensus::NodeId new_replica_id();
  std::int64_t delay_ms();
  bool lost(std::size_t from, std::size_t to);
  std::int64_t tick_time(const Replica& replica, std::uint64_t tick) const;

  // Clients.
  void on_client_request(std::size_t node, const ClientRequest& request);
  void on_client_reply(const ClientReply& reply);
  void on_client_timeout(const ClientTimeout& timeout);
  void client_next(std::size_t client);
  void client_submit(std::size_t client, std::optional<std::size_t> node);
  // The answer reaches the client after the client link's delay.
  void reply(ClientReply answer);

  // Controller.
  void on_controller_round();
  void propose_random_change(std::size_t node, Replica& leader);
  void delete_replicas_out_of_config();
  void drive(ConfigOp& op, bool& done);

  template <typename... Args>
  void trace(const char* format, Args... args) const;

  ClusterConfig config_;
  consensus::Random random_;
  NetworkFaults network_;
  std::vector<SimNode> nodes_;
  std::vector<std::vector<bool>> blocked_;
  std::map<consensus::NodeId, Address> directory_;
  std::vector<Client> clients_;
  bool clients_active_ = true;
  std::map<GroupId, ConfigOp> ops_;
  std::priority_queue<Event, std::vector<Event>, EventOrder> events_;
  std::uint64_t next_sequence_ = 0;
  std::int64_t now_ms_ = 0;
  Checker checker_;

  // Leader crashes being timed: group -> time of the crash.
  std::map<GroupId, std::int64_t> leader_crashed_at_;
  std::vector<std::int64_t> election_times_ms_;
  std::uint64_t messages_sent_ = 0;
  std::uint64_t acknowledged_ = 0;
  std::uint64_t snapshots_sent_ = 0;
  std::uint64_t config_changes_done_ = 0;
  std::uint64_t power_cuts_mid_cycle_ = 0;
  std::uint64_t leader_changes_ = 0;
  std::uint64_t nemesis_isolations_ = 0;
  std::uint64_t quiesced_groups_ = 0;
  std::uint64_t revived_replicas_ = 0;
  std::uint64_t pauses_ = 0;
  std::uint32_t probe_sequence_ = 0;
};

}  // namespace qim::sim::raft
