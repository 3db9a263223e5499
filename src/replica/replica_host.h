#pragma once
// ReplicaHost: the replication shell (DESIGN §8). Hosts this node's replicas of the partitions'
// Raft groups (one raft::Node each) and carries out what they ask for:
//
//   - one thread, one event loop. Inputs (proposals, Raft batches from other nodes, snapshot
//     chunks, membership changes) queue in an inbox and are handled together; then one ready
//     cycle runs for every group that has something: the new entries and hard states of all
//     groups go to the store in ONE write batch (one WAL write; fsynced with --durability
//     fsync), then their messages leave, one RaftBatch per destination node, then the
//     committed entries are applied in log order through the service's StateMachine (each with
//     its applied point in the same batch) and the proposers get their outcomes;
//   - ticks from a timer; after a stall (a paused process) every missed tick is replayed, so a
//     leader that slept notices it lost its lease before it serves anything;
//   - leader leases for reads (readable()): a leader that has heard from a quorum recently, has
//     applied everything committed before its term, and whose lease has not expired in real time;
//   - snapshots: streamed to replicas that need one, staged and installed on the receiving side
//     (snapshot_transfer.h); the log is compacted behind the applied point, keeping
//     retained_entries for followers that lag briefly;
//   - placement: every placement_interval, each group this node leads moves its configuration
//     one step toward the target replica set (replication/placement), and leaderships move to
//     the preferred leaders; replicas removed from a group are dropped with their data;
//   - leader hints for routing: every change of who leads a partition, and periodically the
//     partitions this node leads, go to every other node.
//
// Ownership and threading: owned by main, outlives the peer links' handler. The Proposer
// methods, the on_* inputs and status() may be called from any thread; everything else (the
// groups) lives on the host's thread. Callbacks (proposal outcomes, the leader listener) run
// on the host's thread and must not block.
#include <asio.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/log.h"
#include "proto/peer_frame.h"
#include "replica/partition_log.h"
#include "replica/probe.h"
#include "replica/raft_wire.h"
#include "replica/snapshot_transfer.h"
#include "replication/placement/layout.h"
#include "replication/raft/node.h"
#include "route/partitions.h"
#include "service/replication.h"
#include "store/kv.h"

namespace qim::replica {

struct HostOptions {
  std::string node_name;
  raft::NodeId replica_id = 0;
  std::uint32_t replicas = 3;
  std::chrono::milliseconds tick{100};
  int election_ticks = 10;
  int heartbeat_ticks = 1;
  // Reads stop this many ticks before a follower could vote for another leader (clock drift).
  int lease_margin_ticks = 2;
  bool fsync = false;
  // A proposal not applied within this gets `unavailable` (outcome unknown).
  std::chrono::milliseconds proposal_timeout{5'000};
  std::int64_t replace_after_ms = 5 * 60 * 1000;
  // Applied entries kept in the log for followers that fall briefly behind; beyond that they get
  // a snapshot.
  raft::Index retained_entries = 8'192;
  std::size_t snapshot_chunk_bytes = 1 << 20;
  std::size_t max_snapshot_streams = 4;
  std::chrono::milliseconds placement_interval{500};
  // Leadership of one partition moves to its preferred leader at most this often, and only
  // after the membership has been stable this long.
  std::chrono::milliseconds leader_balance_interval{15'000};
  std::chrono::milliseconds membership_settle{3'000};
  std::chrono::milliseconds hint_interval{2'000};
  cluster::RingOptions ring;
};

// How the host reaches other nodes (the node implements it over peer links). Thread-safe.
class Transport {
 public:
  virtual ~Transport() = default;
  // One-way, best effort, in order per node: a RaftBatch envelope payload.
  virtual void send(const std::string& node, std::vector<std::uint8_t> payload) = 0;
  // A SnapshotChunk request; `done` gets ok when the receiver accepted it, from any thread.
  virtual void call(const std::string& node, std::vector<std::uint8_t> payload,
                    std::function<void(Error)> done) = 0;
};

// One replica hosted here, as an administrator sees it.
struct ReplicaStatus {
  PartitionId partition = 0;
  raft::NodeId replica = 0;
  raft::Role role = raft::Role::follower;
  raft::Term term = 0;
  raft::NodeId leader = 0;
  raft::Index commit = 0;
  raft::Index applied = 0;
  raft::Index last_index = 0;
  raft::Configuration config;
  std::vector<raft::FollowerStatus> followers;  // leader only
};

class ReplicaHost final : public service::Proposer {
 public:
  // With `loop`, the host runs on that event loop (run by one thread, which must not block for
  // long: the node's control loop, where the peer links are, so that Raft traffic crosses no
  // thread); without, on a thread of its own.
  ReplicaHost(HostOptions options, const route::Partitions& partitions, store::Kv& kv,
              Transport& transport, core::Logger& logger, asio::io_context* loop = nullptr);
  ~ReplicaHost() override;
  ReplicaHost(const ReplicaHost&) = delete;
  ReplicaHost& operator=(const ReplicaHost&) = delete;

  // What committed commands are applied with. REQUIRES: called once, before open(); `machine`
  // outlives the host.
  void use_state_machine(service::StateMachine& machine) { machine_ = &machine; }
  // Loads every replica this node holds (finishing interrupted snapshot installs first). With
  // `bootstrap` and no replica at all, creates every partition's group with this node as its
  // only voter: the first node of a new cluster. REQUIRES: before start().
  Error open(bool bootstrap);
  std::size_t hosted() const { return hosted_.load(std::memory_order_relaxed); }
  void start();
  // Stops the host (and its thread); pending proposals fail with shutting_down. Idempotent. On
  // a shared loop, call it on that loop's thread or after the loop has stopped.
  void stop();

  // service::Proposer
  void propose(PartitionId partition, std::vector<std::uint8_t> command,
               std::function<void(service::ApplyResult)> done) override;
  void propose_taken(PartitionId partition,
                     std::function<std::vector<service::StateMachine::Proposal>()> take) override;
  bool readable(PartitionId partition) const override;
  std::vector<PartitionId> readable_partitions() const override;

  // Inputs from the peer links (any thread).
  void on_raft_batch(std::string from_node, proto::PeerMessage message);
  // A SnapshotChunk request, decoded (decode_snapshot_chunk); `reply` gets ok (accepted) or
  // why not, from the host's thread.
  void on_snapshot_chunk(std::string from_node, SnapshotChunkHeader header,
                         std::vector<SnapshotRow> rows, std::function<void(Error)> reply);
  // The member list (any thread; the node's membership shell calls it on every change).
  void update_members(std::vector<replication::MemberView> members);
  // Leaving the cluster: no new replicas are accepted here; leaderships and replicas move away
  // as the others' layouts stop counting this node. drained() once none is left.
  void start_drain();
  bool drained() const { return draining_.load() && hosted() == 0; }
  // Hand every leadership held here to another voter (a stop that leaves the replicas).
  void transfer_all_leaderships();
  std::size_t leaderships() const { return leaderships_.load(std::memory_order_relaxed); }

  // Who leads which partition, as this node learns it (its own groups and other nodes'
  // hints): called on the host's thread with each batch of changes.
  void set_leader_listener(std::function<void(const std::vector<LeaderHint>&)> listener) {
    leader_listener_ = std::move(listener);
  }
  // Thread-safe: every hosted replica, as of the last ready cycle.
  std::vector<ReplicaStatus> status() const;
  // Thread-safe: the host's counters.
  const ReplicaProbe& probe() const { return probe_; }

 private:
  struct Pending {
    raft::Term term = 0;
    std::chrono::steady_clock::time_point deadline;
    std::function<void(service::ApplyResult)> done;
  };
  struct Incoming {  // a snapshot being received
    raft::NodeId from = 0;
    raft::Term term = 0;
    raft::Index index = 0;
    raft::Term index_term = 0;
    std::uint32_t next_sequence = 0;
  };
  struct Group {
    Group(store::Kv& kv, PartitionId partition) : log(kv, partition) {}
    PartitionLog log;
    std::unique_ptr<raft::Node> node;
    std::map<raft::Index, Pending> pending;
    raft::Role role = raft::Role::follower;
    raft::Term term = 0;
    raft::NodeId leader = 0;
    raft::Index term_start = 0;      // the index of this leader's first entry of its term
    raft::Index config_pending = 0;  // a proposed configuration change not applied yet
    raft::Configuration config;      // as applied
    std::chrono::steady_clock::time_point last_action{};
    std::chrono::steady_clock::time_point last_transfer{};
    raft::NodeId last_transfer_target = 0;  // of this leadership's last handover (0: none)
    // Since when this replica has led without a lease (none: it has one, or does not lead).
    std::optional<std::chrono::steady_clock::time_point> unleased_since;
    std::optional<Incoming> incoming;
    std::set<raft::NodeId> streaming;  // snapshot streams under way to these replicas
    bool removed = false;
    // The last term in which this replica, leading, reported that its group's logs diverged.
    raft::Term divergence_reported = 0;
    // The last entry applied into apply_batch_ and not written yet (none: all written).
    std::optional<LogPoint> unwritten_applied;
  };

  // Host thread only, below.
  // `dropped` (if any) runs instead of `work` when the host stops before it could run it: a
  // proposal queued then still gets its outcome.
  void enqueue(std::function<void()> work, std::function<void()> dropped = {});
  void close_inbox();
  void drain_inbox();
  Group* find(PartitionId partition);
  Group& create_group(PartitionId partition, bool bootstrap_self);
  void make_node(Group& group);
  void run_cycle();
  // Whether the Ready's new entries are all committed and applied in this very cycle by a
  // group of one voter, so the log need not store them (PartitionLog::append_applied).
  bool applied_at_once(const Group& group, const raft::Ready& ready) const;
  // Applies the entries into apply_batch_; commands the state machine lets share a batch are
  // written together at the next write_applied(), the others alone.
  void apply_committed(Group& group, std::vector<raft::Entry>& entries);
  // Writes apply_batch_ with each group's applied point (made durable per --durability when it
  // holds Raft's records), then releases what waited for it (the state machine's pushes, the
  // proposers' outcomes).
  void write_applied();
  void after_role_change(Group& group);
  void publish_read_state(Group& group);
  void fail_pending(Group& group, errc code, const std::string& message);
  void expire_pending();
  void tick();
  void schedule_tick();
  void handle_batch(const std::string& from_node, const RaftBatchContents& contents);
  bool probe_if_stray(const std::string& leader_node, const LeaderHint& hint);
  void handle_chunk(const std::string& from_node, const SnapshotChunkHeader& header,
                    const std::vector<SnapshotRow>& rows, const std::function<void(Error)>& reply);
  void start_snapshot_stream(Group& group, raft::NodeId to);
  void send_next_chunk(std::shared_ptr<struct SnapshotStream> stream);
  void drop_group(PartitionId partition, const char* why);
  // Proposes `command` to the group this node leads; `done` gets the outcome (or the refusal).
  void append(Group& group, std::span<const std::uint8_t> command,
              std::function<void(service::ApplyResult)> done);
  // Appends what the state machine holds only in memory for the partition (its
  // before_handover commands), then transfers the leadership to `to`.
  void hand_over(Group& group, raft::NodeId to);
  void plan_placement();
  void compact(Group& group, store::WriteBatch& batch);
  void queue_message(PartitionId partition, raft::Message message);
  void queue_hint(const LeaderHint& hint);
  void flush_outbox();
  void broadcast_hints();
  std::optional<std::string> node_of(raft::NodeId replica) const;
  // node_of, but only while the node is alive or suspect.
  std::optional<std::string> reachable_node_of(raft::NodeId replica) const;
  std::vector<replication::ReplicaId> live_replicas() const;
  // "voters n1, n2; learners n3", by node name where known.
  std::string describe(const raft::Configuration& config) const;
  void refresh_status();
  void fatal(const std::string& what, const Error& error);

  const HostOptions options_;
  const route::Partitions& partitions_;
  store::Kv& kv_;
  service::StateMachine* machine_ = nullptr;
  Transport& transport_;
  core::Logger& logger_;

  asio::io_context own_context_;  // used when no loop was given, run by thread_
  asio::io_context& context_;
  asio::steady_timer tick_timer_;
  std::thread thread_;
  std::atomic<bool> stopped_{false};
  std::atomic<bool> draining_{false};
  std::atomic<std::size_t> hosted_{0};
  std::atomic<std::size_t> leaderships_{0};

  std::mutex inbox_mutex_;
  struct Queued {
    std::function<void()> work;
    std::function<void()> dropped;
  };
  std::vector<Queued> inbox_;     // GUARDED_BY(inbox_mutex_)
  bool inbox_scheduled_ = false;  // GUARDED_BY(inbox_mutex_)
  bool inbox_closed_ = false;     // GUARDED_BY(inbox_mutex_); set by stop()

  // Host thread only.
  std::unordered_map<PartitionId, std::unique_ptr<Group>> groups_;
  std::chrono::steady_clock::time_point last_tick_;
  std::uint64_t ticks_ = 0;
  // The tick timer runs (set on the loop's thread once start() has dated tick 0).
  bool ticking_ = false;
  std::deque<std::pair<std::uint64_t, std::chrono::steady_clock::time_point>> tick_times_;
  std::vector<replication::MemberView> members_;
  std::chrono::steady_clock::time_point members_changed_{};
  replication::Layout layout_;
  std::chrono::steady_clock::time_point next_placement_{};
  std::chrono::steady_clock::time_point next_hints_{};
  std::map<std::string, RaftBatchContents> outbox_;  // by destination node
  std::vector<LeaderHint> hint_changes_;
  std::map<std::string, std::vector<PartitionId>> leader_log_;  // new leaders this cycle, by name
  std::size_t snapshot_streams_ = 0;
  std::chrono::steady_clock::time_point next_drain_report_{};
  std::chrono::steady_clock::time_point last_status_{};
  // The cycle's one store write: what Raft persists (raft_unwritten_ while that is not written
  // yet), then what the committed entries wrote, for every group's commands that may share it
  // (service::StateMachine::can_share_batch).
  store::WriteBatch apply_batch_;
  bool raft_unwritten_ = false;
  std::vector<Group*> unwritten_groups_;
  std::vector<std::pair<std::function<void(service::ApplyResult)>, service::ApplyResult>>
      unwritten_outcomes_;
  proto::PeerFrameBuilder builder_{4096};
  std::function<void(const std::vector<LeaderHint>&)> leader_listener_;
  std::uint64_t random_state_;

  // Read leases, by partition: the steady-clock time (ns since epoch) until which the
  // partition may be read here; 0 when not readable. Written on the host thread.
  std::unique_ptr<std::atomic<std::int64_t>[]> lease_until_ns_;

  ReplicaProbe probe_;
  mutable std::mutex status_mutex_;
  std::vector<ReplicaStatus> status_;  // GUARDED_BY(status_mutex_)
};

}  // namespace qim::replica
