#include "replica/replica_host.h"

#include <algorithm>
#include <cstdlib>
#include <random>

#include <fmt/core.h>

#include "core/thread_name.h"
#include "replication/placement/reconfigure.h"
#include "replication/raft/codec.h"
#include "replication/raft/configuration.h"

namespace qim::replica {
namespace {

using Clock = std::chrono::steady_clock;
using replication::ActionKind;

std::int64_t to_ns(Clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
}

std::int64_t to_ms(Clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

// Raft batches for one node are cut at about this size (peer frames are capped at 4 MiB).
constexpr std::size_t max_batch_bytes = 2 << 20;
// A removed replica keeps running this long before its data goes, so that the last messages
// of the change (the commit index) still reach the others.
constexpr auto removal_grace = std::chrono::seconds(1);
// A replica created for a leader's message that never received a configuration (a stale
// leader's heartbeat) is dropped after this long.
constexpr auto orphan_timeout = std::chrono::seconds(60);
// The host's view for administrators is refreshed at most this often.
constexpr auto status_interval = std::chrono::milliseconds(200);
// One configuration step per group at most this often.
constexpr auto action_interval = std::chrono::seconds(1);

std::size_t approximate_bytes(const raft::Message& message) {
  std::size_t bytes = 96;
  for (const raft::Entry& entry : message.entries)
    bytes += raft::entry_bytes(entry);
  return bytes;
}

// "1-4, 7, 9-10".
std::string format_ranges(const std::vector<PartitionId>& sorted) {
  std::string text;
  for (std::size_t i = 0; i < sorted.size();) {
    std::size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1)
      ++j;
    if (!text.empty()) text += ", ";
    text += std::to_string(sorted[i]);
    if (j > i) text += "-" + std::to_string(sorted[j]);
    i = j + 1;
  }
  return text;
}

const char* action_name(ActionKind kind) {
  switch (kind) {
    case ActionKind::add_learner:
      return "adding a learner";
    case ActionKind::promote:
      return "promoting a learner to voter";
    case ActionKind::remove:
      return "removing a replica";
    case ActionKind::transfer_leadership:
      return "transferring leadership";
    case ActionKind::none:
      break;
  }
  return "nothing";
}

}  // namespace

struct SnapshotStream {
  PartitionId partition = 0;
  raft::NodeId to = 0;
  raft::Term term = 0;
  std::string node;
  std::unique_ptr<SnapshotReader> reader;
  LogPoint point;
  std::uint32_t sequence = 0;
  bool last_sent = false;
  std::size_t rows_sent = 0;
  Clock::time_point started;
};

ReplicaHost::ReplicaHost(HostOptions options, const route::Partitions& partitions, store::Kv& kv,
                         Transport& transport, core::Logger& logger, asio::io_context* loop)
    : options_(std::move(options)),
      partitions_(partitions),
      kv_(kv),
      transport_(transport),
      logger_(logger),
      context_(loop != nullptr ? *loop : own_context_),
      tick_timer_(context_),
      random_state_(std::random_device{}() ^ (options_.replica_id * 0x9e3779b97f4a7c15ull)),
      lease_until_ns_(new std::atomic<std::int64_t>[partitions.count()]) {
  for (std::uint32_t p = 0; p < partitions.count(); ++p)
    lease_until_ns_[p].store(0, std::memory_order_relaxed);
}

ReplicaHost::~ReplicaHost() {
  stop();
}

void ReplicaHost::fatal(const std::string& what, const Error& error) {
  logger_.error("replica", "{}: {}; stopping: a replica must never skip or lose a write", what,
                error.message);
  std::_Exit(3);
}

Error ReplicaHost::open(bool bootstrap) {
  std::vector<PartitionId> finished;
  if (Error error = finish_interrupted_installs(kv_, finished)) return error;
  for (PartitionId partition : finished) {
    logger_.info("replica", "partition {}: finished a snapshot install a restart interrupted",
                 partition);
  }
  std::set<PartitionId> present;
  Error error = kv_.scan(
      store::Column::raft_state, {}, {}, false, [&](std::string_view key, std::string_view) {
        if (key.size() == 3 && (key[2] == 'h' || key[2] == 's')) {
          present.insert(static_cast<PartitionId>(static_cast<std::uint8_t>(key[0]) << 8 |
                                                  static_cast<std::uint8_t>(key[1])));
        }
        return true;
      });
  if (error) return error;
  for (PartitionId partition : present) {
    if (partition >= partitions_.count()) {
      return {errc::internal, "the store holds partition " + std::to_string(partition) +
                                  " but the cluster has " + std::to_string(partitions_.count()) +
                                  " partitions (--partitions must not change)"};
    }
    auto group = std::make_unique<Group>(kv_, partition);
    if (Error loaded = group->log.load()) return loaded;
    group->config = group->log.applied().config;
    // Its own removal was applied but the node stopped before dropping it: nothing will ever
    // contact it again (leaders send nothing to non-members, and it never campaigns), so it is
    // dropped as a removed replica, or it would hold a leave until the bound.
    if (!group->config.voters.empty() && !raft::is_member(group->config, options_.replica_id)) {
      group->removed = true;
      group->last_action = Clock::now();
      logger_.info("replica", "partition {}: this replica was removed before the node stopped",
                   partition);
    }
    make_node(*group);
    groups_.emplace(partition, std::move(group));
  }
  if (groups_.empty() && bootstrap) {
    store::WriteBatch batch;
    raft::Configuration solo{{options_.replica_id}, {}};
    for (PartitionId partition = 0; partition < partitions_.count(); ++partition) {
      auto group = std::make_unique<Group>(kv_, partition);
      group->log.bootstrap(raft::bootstrap_snapshot(solo), raft::bootstrap_hard_state(), batch);
      group->config = solo;
      groups_.emplace(partition, std::move(group));
    }
    if (Error written = kv_.write(batch, true)) return written;
    for (auto& [partition, group] : groups_)
      make_node(*group);
    logger_.info("replica", "created the cluster's {} partitions, each led by this node",
                 partitions_.count());
  }
  hosted_ = groups_.size();
  return {};
}

void ReplicaHost::make_node(Group& group) {
  raft::Options options;
  options.id = options_.replica_id;
  options.election_ticks = options_.election_ticks;
  options.heartbeat_ticks = options_.heartbeat_ticks;
  options.pre_vote = true;
  options.check_quorum = true;
  // Clients wait for the leader's apply only: followers can learn the commit index with the
  // next append or heartbeat, which halves the Raft messages of a lone write.
  options.announce_commit = false;
  options.applied = group.log.applied().index;
  random_state_ = random_state_ * 6364136223846793005ull + 1442695040888963407ull;
  options.random_seed = random_state_ ^ group.log.partition();
  group.node = std::make_unique<raft::Node>(options, group.log);
  group.role = group.node->role();
  group.term = group.node->term();
  group.leader = group.node->leader();
}

void ReplicaHost::start() {
  last_tick_ = Clock::now();
  // Tick 0 is now: leases dated by it hold from the first cycle on.
  tick_times_.emplace_back(ticks_, last_tick_);
  auto first = [this] {
    // A group whose only voter is this node elects itself at once.
    for (auto& [partition, group] : groups_) {
      const auto& voters = group->node->config().voters;
      if (voters.size() == 1 && voters.front() == options_.replica_id) group->node->campaign();
    }
    run_cycle();
    ticking_ = true;
    schedule_tick();
  };
  if (&context_ != &own_context_) {
    asio::post(context_, std::move(first));
    return;
  }
  thread_ = std::thread([this, first = std::move(first)] {
    core::name_this_thread("qim-replica");
    asio::post(context_, first);
    context_.run();
  });
}

void ReplicaHost::stop() {
  if (stopped_.exchange(true)) return;
  auto halt = [this] {
    close_inbox();
    for (auto& [partition, group] : groups_)
      fail_pending(*group, errc::shutting_down, "the node is shutting down");
    tick_timer_.cancel();
  };
  if (thread_.joinable()) {
    asio::post(context_, [this, halt] {
      halt();
      context_.stop();
    });
    thread_.join();
  } else if (&context_ != &own_context_) {
    halt();  // on the shared loop's thread, or after it stopped
  } else {
    close_inbox();  // never started
  }
  for (std::uint32_t p = 0; p < partitions_.count(); ++p)
    lease_until_ns_[p].store(0);
}

void ReplicaHost::enqueue(std::function<void()> work, std::function<void()> dropped) {
  {
    std::lock_guard lock(inbox_mutex_);
    if (!inbox_closed_) {
      inbox_.push_back({std::move(work), std::move(dropped)});
      if (!inbox_scheduled_) {
        inbox_scheduled_ = true;
        asio::post(context_, [this] { drain_inbox(); });
      }
      return;
    }
  }
  if (dropped) dropped();
}

void ReplicaHost::close_inbox() {
  std::vector<Queued> left;
  {
    std::lock_guard lock(inbox_mutex_);
    inbox_closed_ = true;
    left.swap(inbox_);
  }
  for (Queued& item : left) {
    if (item.dropped) item.dropped();
  }
}

void ReplicaHost::drain_inbox() {
  if (stopped_) return;  // a shared loop runs on after stop(); what is queued is close_inbox()'s
  std::vector<Queued> work;
  {
    std::lock_guard lock(inbox_mutex_);
    work.swap(inbox_);
    inbox_scheduled_ = false;
  }
  // After a stall (SIGSTOP, a busy loop) the time that passed is ticked before the messages
  // that waited are handled: a heartbeat answered and then followed by the replayed ticks would
  // let this replica campaign at once, inside the lease its answer just granted the leader.
  if (ticking_ && Clock::now() >= last_tick_ + options_.tick) tick();
  for (Queued& item : work)
    item.work();
  run_cycle();
}

ReplicaHost::Group* ReplicaHost::find(PartitionId partition) {
  auto it = groups_.find(partition);
  return it == groups_.end() ? nullptr : it->second.get();
}

ReplicaHost::Group& ReplicaHost::create_group(PartitionId partition, bool) {
  auto group = std::make_unique<Group>(kv_, partition);
  group->last_action = Clock::now();
  store::WriteBatch batch;
  if (Error error = group->log.adopt_tombstone(batch)) fatal("reviving a replica", error);
  if (!batch.empty()) {
    if (Error error = kv_.write(batch, true)) fatal("reviving a replica", error);
  }
  make_node(*group);
  Group& created = *group;
  groups_.emplace(partition, std::move(group));
  hosted_ = groups_.size();
  logger_.info("replica", "partition {}: a replica starts here (asked by its leader)", partition);
  return created;
}

// --- Proposer -----------------------------------------------------------------------------------

void ReplicaHost::propose(PartitionId partition, std::vector<std::uint8_t> command,
                          std::function<void(service::ApplyResult)> done) {
  ReplicaProbe::bump(probe_.proposals);
  if (stopped_) {
    ReplicaProbe::bump(probe_.proposals_failed);
    done(service::ApplyResult{{errc::shutting_down, "the node is shutting down"}, {}});
    return;
  }
  // Shared by the work and its drop: exactly one of them runs.
  auto shared = std::make_shared<std::function<void(service::ApplyResult)>>(std::move(done));
  enqueue(
      [this, partition, command = std::move(command), shared]() mutable {
        Group* group = find(partition);
        if (group == nullptr || group->removed || group->role != raft::Role::leader) {
          ReplicaProbe::bump(probe_.proposals_failed);
          (*shared)(service::ApplyResult{
              {errc::unavailable, "partition " + std::to_string(partition) +
                                      " is not led by this node now (its leadership is moving); "
                                      "retry shortly"},
              {}});
          return;
        }
        append(*group, command, std::move(*shared));
      },
      [this, shared] {
        ReplicaProbe::bump(probe_.proposals_failed);
        (*shared)(service::ApplyResult{{errc::shutting_down, "the node is shutting down"}, {}});
      });
}

void ReplicaHost::propose_taken(
    PartitionId partition, std::function<std::vector<service::StateMachine::Proposal>()> take) {
  if (stopped_) return;
  // On this thread, hand_over()'s take and this one never interleave: either these commands are
  // appended before the transfer starts, or the handover took what they would have held.
  enqueue([this, partition, take = std::move(take)] {
    Group* group = find(partition);
    if (group == nullptr || group->removed || group->role != raft::Role::leader ||
        group->node->transferring()) {
      return;  // what `take` would take stays where it is
    }
    for (service::StateMachine::Proposal& proposal : take()) {
      ReplicaProbe::bump(probe_.proposals);
      append(*group, proposal.command, std::move(proposal.done));
    }
  });
}

void ReplicaHost::append(Group& group, std::span<const std::uint8_t> command,
                         std::function<void(service::ApplyResult)> done) {
  auto index = group.node->propose(
      std::string(reinterpret_cast<const char*>(command.data()), command.size()));
  if (!index) {
    ReplicaProbe::bump(probe_.proposals_failed);
    errc code = index.error().code == errc::rate_limited ? errc::rate_limited : errc::unavailable;
    done(service::ApplyResult{
        {code, "partition " + std::to_string(group.log.partition()) + ": " + index.error().message},
        {}});
    return;
  }
  group.pending[*index] =
      Pending{group.node->term(), Clock::now() + options_.proposal_timeout, std::move(done)};
}

bool ReplicaHost::readable(PartitionId partition) const {
  if (partition >= partitions_.count()) return false;
  return lease_until_ns_[partition].load(std::memory_order_acquire) > to_ns(Clock::now());
}

std::vector<PartitionId> ReplicaHost::readable_partitions() const {
  std::vector<PartitionId> result;
  std::int64_t now = to_ns(Clock::now());
  for (std::uint32_t p = 0; p < partitions_.count(); ++p) {
    if (lease_until_ns_[p].load(std::memory_order_acquire) > now) result.push_back(p);
  }
  return result;
}

// --- The ready cycle ------------------------------------------------------------------------

void ReplicaHost::run_cycle() {
  for (int round = 0; round < 8; ++round) {
    struct Out {
      Group* group;
      raft::Ready ready;
    };
    std::vector<Out> out;
    for (auto& [partition, group] : groups_) {
      if (group->node->has_ready()) out.push_back({group.get(), group->node->ready()});
    }
    if (out.empty()) break;
    ReplicaProbe::bump(probe_.ready_cycles);
    // One store write per cycle: what Raft must persist, then what the committed entries write
    // (an entry committed in this cycle is in the same atomic batch as its own log record).
    bool appended = false;
    for (Out& item : out) {
      Group& group = *item.group;
      if (item.ready.snapshot) {
        const raft::SnapshotMeta& meta = *item.ready.snapshot;
        LogPoint point{meta.index, meta.term, meta.config};
        if (Error error = install_staged(kv_, group.log, point)) {
          fatal("installing a snapshot of partition " + std::to_string(group.log.partition()),
                error);
        }
        machine_->forget_partition(group.log.partition());
        ReplicaProbe::bump(probe_.snapshots_received);
        group.config = meta.config;
        group.incoming.reset();
        logger_.info("replica", "partition {}: installed a snapshot at index {} (term {})",
                     group.log.partition(), meta.index, meta.term);
      }
      if (!item.ready.entries.empty()) {
        appended = true;
        if (applied_at_once(group, item.ready)) {
          group.log.append_applied(item.ready.entries, apply_batch_);
        } else {
          group.log.append(std::move(item.ready.entries), apply_batch_);
        }
      }
      if (item.ready.hard_state) group.log.set_hard_state(*item.ready.hard_state, apply_batch_);
      compact(group, apply_batch_);
    }
    // New entries count even when none is stored (append_applied): their applied state is
    // then all there is of them, and it must be as durable as a log record before any answer.
    raft_unwritten_ = appended || !apply_batch_.empty();
    for (Out& item : out) {
      if (!item.ready.committed_entries.empty()) {
        apply_committed(*item.group, item.ready.committed_entries);
      }
    }
    // Before any message leaves (what Raft persists must be on disk first) and before any read
    // state says the entries are applied.
    write_applied();
    for (Out& item : out) {
      for (raft::Message& message : item.ready.messages) {
        if (message.type == raft::MessageType::snapshot) {
          start_snapshot_stream(*item.group, message.to);
        } else {
          queue_message(item.group->log.partition(), std::move(message));
        }
      }
    }
    // A lease ends before the messages that may end it leave: a transfer's timeout_now lets
    // another replica win an election at once, and no read here may miss what it then commits.
    for (Out& item : out) {
      if (!item.group->node->lease_start_tick()) {
        lease_until_ns_[item.group->log.partition()].store(0, std::memory_order_release);
      }
    }
    flush_outbox();
    for (Out& item : out) {
      if (item.ready.role_changed) after_role_change(*item.group);
      item.group->node->advance();
      publish_read_state(*item.group);
    }
  }
  if (!leader_log_.empty()) {
    // One line per new leader and cycle, not one per partition (a failover moves dozens).
    for (auto& [name, partitions] : leader_log_) {
      std::sort(partitions.begin(), partitions.end());
      logger_.info("replica", "{} now leads partition{} {}", name,
                   partitions.size() == 1 ? "" : "s", format_ranges(partitions));
    }
    leader_log_.clear();
  }
  if (!hint_changes_.empty()) {
    if (leader_listener_) leader_listener_(hint_changes_);
    for (const replication::MemberView& member : members_) {
      if (member.name == options_.node_name || member.health == replication::MemberHealth::dead ||
          member.health == replication::MemberHealth::left) {
        continue;
      }
      auto& contents = outbox_[member.name];
      contents.hints.insert(contents.hints.end(), hint_changes_.begin(), hint_changes_.end());
    }
    hint_changes_.clear();
    flush_outbox();
  }
  refresh_status();
}

bool ReplicaHost::applied_at_once(const Group& group, const raft::Ready& ready) const {
  // Only a group of one voter and no learner: nobody will ever ask for these entries (a
  // replica added later starts from a snapshot), and it committed them at once.
  const raft::Configuration& config = group.node->config();
  if (config.voters.size() != 1 || config.voters.front() != options_.replica_id ||
      !config.learners.empty() || ready.snapshot) {
    return false;
  }
  if (ready.entries.empty() || ready.committed_entries.empty()) return false;
  // Every new entry is among those applied in this cycle (a byte limit may hand out fewer).
  return ready.entries.front().index == group.log.last_index() + 1 &&
         ready.committed_entries.front().index <= ready.entries.front().index &&
         ready.committed_entries.back().index >= ready.entries.back().index;
}

void ReplicaHost::compact(Group& group, store::WriteBatch& batch) {
  raft::Index applied = group.log.applied().index;
  raft::Index first = group.log.first_index();
  // Hysteresis: compact in steps of a quarter of what is retained.
  if (applied < first + options_.retained_entries + options_.retained_entries / 4) return;
  group.log.compact(applied - options_.retained_entries + 1, batch);
}

void ReplicaHost::apply_committed(Group& group, std::vector<raft::Entry>& entries) {
  const PartitionId partition = group.log.partition();
  for (raft::Entry& entry : entries) {
    service::ApplyResult result;
    bool alone = false;
    if (entry.kind == raft::EntryKind::config_change) {
      raft::ConfigChange change;
      if (raft::decode(entry.data, change) && raft::apply_change(group.config, change)) {
        auto node = node_of(change.node);
        logger_.info("replica", "partition {}: {} {}: configuration now {}", partition,
                     raft::to_string(change.kind), node.value_or(std::to_string(change.node)),
                     describe(group.config));
        if (change.kind == raft::ConfigChangeKind::remove) {
          if (change.node == options_.replica_id) {
            group.removed = true;
            group.last_action = Clock::now();
          } else if (group.role == raft::Role::leader && node) {
            outbox_[*node].removed.push_back({partition, group.term, change.node});
          }
        }
      }
      if (entry.index == group.config_pending) group.config_pending = 0;
    } else if (!entry.data.empty()) {
      auto bytes = std::span<const std::uint8_t>(
          reinterpret_cast<const std::uint8_t*>(entry.data.data()), entry.data.size());
      // A command that may read what the commands before it wrote, or whose writes the next
      // ones may read, goes into the store alone.
      alone = !machine_->can_share_batch(bytes);
      if (alone) write_applied();
      result = machine_->apply(partition, bytes, apply_batch_, group.role == raft::Role::leader);
      // A refusal is a value every replica computes alike; a failure to read the store is not,
      // and skipping the entry here would make this replica differ from the others for good.
      if (result.error.code == errc::internal) {
        fatal("applying entry " + std::to_string(entry.index) + " of partition " +
                  std::to_string(partition),
              result.error);
      }
    }
    if (!group.unwritten_applied) unwritten_groups_.push_back(&group);
    group.unwritten_applied = LogPoint{entry.index, entry.term, group.config};
    // The proposer's outcome, once written: ours only if the entry at its index is of the term
    // it was proposed in (an entry of another term there means ours was overwritten).
    while (!group.pending.empty() && group.pending.begin()->first <= entry.index) {
      auto it = group.pending.begin();
      Pending pending = std::move(it->second);
      bool ours = it->first == entry.index && pending.term == entry.term;
      group.pending.erase(it);
      if (ours) {
        unwritten_outcomes_.emplace_back(std::move(pending.done), std::move(result));
      } else {
        ReplicaProbe::bump(probe_.proposals_failed);
        unwritten_outcomes_.emplace_back(
            std::move(pending.done),
            service::ApplyResult{
                {errc::unavailable, "leadership of partition " + std::to_string(partition) +
                                        " moved before the request was committed; retry"},
                {}});
      }
    }
    if (alone) write_applied();
  }
}

void ReplicaHost::write_applied() {
  if (unwritten_groups_.empty() && !raft_unwritten_) return;
  for (Group* group : unwritten_groups_) {
    group->log.set_applied(*group->unwritten_applied, apply_batch_);
    group->unwritten_applied.reset();
  }
  // Raft's records go to disk (synced in fsync mode) before anything waits on them; applied
  // entries alone need not: they are applied again from the log after a crash.
  if (raft_unwritten_) {
    if (Error error = kv_.write(apply_batch_, options_.fsync))
      fatal("persisting raft state", error);
    raft_unwritten_ = false;
  } else if (Error error = kv_.write_buffered(apply_batch_)) {
    fatal("writing applied entries", error);
  }
  apply_batch_.clear();
  for (Group* group : unwritten_groups_)
    machine_->after_write(group->log.partition(), true);
  unwritten_groups_.clear();
  // Moved out first: an outcome may propose again, and that proposal's own outcome comes later.
  auto outcomes = std::move(unwritten_outcomes_);
  unwritten_outcomes_.clear();
  for (auto& [done, result] : outcomes)
    done(std::move(result));
}

void ReplicaHost::after_role_change(Group& group) {
  raft::Role role = group.node->role();
  raft::Term term = group.node->term();
  raft::NodeId leader = group.node->leader();
  bool leader_changed = leader != group.leader || term != group.term;
  bool was_leader = group.role == raft::Role::leader;
  group.role = role;
  group.term = term;
  group.leader = leader;
  if (role == raft::Role::leader && !was_leader) {
    group.last_transfer_target = 0;
    group.term_start = group.log.last_index();
    group.config_pending = 0;
    for (const raft::Entry& entry :
         group.log.entries(group.log.applied().index + 1, group.log.last_index() + 1, SIZE_MAX)) {
      if (entry.kind == raft::EntryKind::config_change) group.config_pending = entry.index;
    }
    ++leaderships_;
    ReplicaProbe::bump(probe_.leaderships_won);
    machine_->leadership_changed(group.log.partition(), true);
  } else if (role != raft::Role::leader && was_leader) {
    --leaderships_;
    machine_->leadership_changed(group.log.partition(), false);
  }
  if (leader_changed) {
    ReplicaProbe::bump(probe_.leader_changes);
    if (leader != 0) {
      leader_log_[node_of(leader).value_or("replica " + std::to_string(leader))].push_back(
          group.log.partition());
    }
    queue_hint(LeaderHint{group.log.partition(), term, leader});
  }
}

void ReplicaHost::publish_read_state(Group& group) {
  std::int64_t until = 0;
  if (group.role == raft::Role::leader && !group.removed &&
      group.log.applied().index >= group.term_start) {
    if (auto lease_tick = group.node->lease_start_tick()) {
      // The core counts its own ticks from its creation; every host tick ticks every group, so
      // the two counters differ by a constant.
      std::uint64_t start = *lease_tick + (ticks_ - group.node->tick_count());
      for (auto it = tick_times_.rbegin(); it != tick_times_.rend(); ++it) {
        if (it->first > start) continue;
        if (it->first == start) {
          auto lease = options_.tick * (options_.election_ticks - options_.lease_margin_ticks);
          until = to_ns(it->second + lease);
        }
        break;
      }
    }
  }
  lease_until_ns_[group.log.partition()].store(until, std::memory_order_release);
  if (group.role != raft::Role::leader || until != 0) {
    group.unleased_since.reset();
  } else if (!group.unleased_since) {
    group.unleased_since = Clock::now();
  }
}

void ReplicaHost::fail_pending(Group& group, errc code, const std::string& message) {
  auto pending = std::move(group.pending);
  group.pending.clear();
  ReplicaProbe::bump(probe_.proposals_failed, pending.size());
  for (auto& [index, entry] : pending)
    entry.done(service::ApplyResult{{code, message}, {}});
}

void ReplicaHost::expire_pending() {
  auto now = Clock::now();
  for (auto& [partition, group] : groups_) {
    for (auto it = group->pending.begin(); it != group->pending.end();) {
      if (it->second.deadline > now) {
        ++it;
        continue;
      }
      auto done = std::move(it->second.done);
      it = group->pending.erase(it);
      ReplicaProbe::bump(probe_.proposals_failed);
      done(service::ApplyResult{
          {errc::unavailable, "partition " + std::to_string(partition) +
                                  ": the request was not committed in time (a majority of its "
                                  "replicas may be unreachable); its outcome is unknown, retry"},
          {}});
    }
  }
}

// --- Ticks --------------------------------------------------------------------------------------

void ReplicaHost::schedule_tick() {
  if (stopped_) return;
  tick_timer_.expires_at(last_tick_ + options_.tick);
  tick_timer_.async_wait([this](const asio::error_code& error) {
    if (error || stopped_) return;
    tick();
  });
}

void ReplicaHost::tick() {
  auto now = Clock::now();
  if (now < last_tick_ + options_.tick) {
    // A drain that found this tick overdue ran it already (the timer's wait had completed).
    schedule_tick();
    return;
  }
  // Every missed tick is replayed (a paused process must notice at once that its lease is
  // gone), but not more than a few election timeouts' worth.
  auto missed =
      std::min<std::int64_t>((now - last_tick_) / options_.tick, 4 * options_.election_ticks);
  last_tick_ = std::max(last_tick_ + options_.tick * missed, now - options_.tick);
  for (std::int64_t i = 0; i < missed; ++i) {
    ++ticks_;
    for (auto& [partition, group] : groups_)
      group->node->tick();
  }
  tick_times_.emplace_back(ticks_, now);
  while (tick_times_.size() > static_cast<std::size_t>(4 * options_.election_ticks))
    tick_times_.pop_front();
  expire_pending();
  if (now >= next_placement_) {
    next_placement_ = now + options_.placement_interval;
    plan_placement();
  }
  if (now >= next_hints_) {
    next_hints_ = now + options_.hint_interval;
    broadcast_hints();
  }
  std::vector<PartitionId> to_drop;
  for (auto& [partition, group] : groups_) {
    if (group->removed && now - group->last_action >= removal_grace) to_drop.push_back(partition);
  }
  for (PartitionId partition : to_drop)
    drop_group(partition, "it was removed from the partition's configuration");
  run_cycle();
  for (auto& [partition, group] : groups_)
    publish_read_state(*group);
  schedule_tick();
}

// --- Messages -----------------------------------------------------------------------------------

std::optional<std::string> ReplicaHost::node_of(raft::NodeId replica) const {
  if (replica == options_.replica_id) return options_.node_name;
  for (const replication::MemberView& member : members_) {
    if (member.replica_id == replica) return member.name;
  }
  return std::nullopt;
}

std::optional<std::string> ReplicaHost::reachable_node_of(raft::NodeId replica) const {
  for (const replication::MemberView& member : members_) {
    if (member.replica_id != replica) continue;
    if (member.health == replication::MemberHealth::dead ||
        member.health == replication::MemberHealth::left) {
      return std::nullopt;
    }
    return member.name;
  }
  return std::nullopt;
}

void ReplicaHost::queue_message(PartitionId partition, raft::Message message) {
  // Not to a node that is down or gone (the core probes it again when it is back).
  auto node = reachable_node_of(message.to);
  if (!node) return;
  auto& contents = outbox_[*node];
  contents.messages.push_back({partition, std::move(message)});
  std::size_t bytes = 0;
  for (const AddressedMessage& queued : contents.messages)
    bytes += approximate_bytes(queued.message);
  if (bytes >= max_batch_bytes) {
    transport_.send(*node, encode_raft_batch(contents, builder_));
    contents = {};
  }
}

void ReplicaHost::queue_hint(const LeaderHint& hint) {
  hint_changes_.push_back(hint);
}

void ReplicaHost::flush_outbox() {
  for (auto& [node, contents] : outbox_) {
    if (contents.empty()) continue;
    transport_.send(node, encode_raft_batch(contents, builder_));
    contents = {};
  }
}

void ReplicaHost::broadcast_hints() {
  std::vector<LeaderHint> hints;
  for (auto& [partition, group] : groups_) {
    if (group->role == raft::Role::leader && !group->removed) {
      hints.push_back({partition, group->term, options_.replica_id});
    }
  }
  if (hints.empty()) return;
  for (const replication::MemberView& member : members_) {
    if (member.name == options_.node_name || member.health == replication::MemberHealth::dead ||
        member.health == replication::MemberHealth::left) {
      continue;
    }
    auto& contents = outbox_[member.name];
    contents.hints.insert(contents.hints.end(), hints.begin(), hints.end());
  }
  flush_outbox();
}

void ReplicaHost::on_raft_batch(std::string from_node, proto::PeerMessage message) {
  if (stopped_) return;
  // std::function needs a copyable target; the message itself is move-only.
  auto shared = std::make_shared<proto::PeerMessage>(std::move(message));
  enqueue([this, from_node = std::move(from_node), shared] {
    const auto* batch = shared->envelope().body_as_RaftBatch();
    if (batch == nullptr) return;
    RaftBatchContents contents;
    std::string error;
    if (!decode_raft_batch(*batch, partitions_.count(), contents, error)) {
      logger_.warn("replica", "dropped a raft batch from {}: {}", from_node, error);
      return;
    }
    handle_batch(from_node, contents);
  });
}

void ReplicaHost::handle_batch(const std::string& from_node, const RaftBatchContents& contents) {
  for (const AddressedMessage& addressed : contents.messages) {
    const raft::Message& message = addressed.message;
    if (message.to != options_.replica_id) continue;  // for an earlier replica of this node
    Group* group = find(addressed.partition);
    if (group == nullptr) {
      bool from_leader =
          message.type == raft::MessageType::append || message.type == raft::MessageType::heartbeat;
      if (!from_leader || draining_) continue;
      group = &create_group(addressed.partition, false);
    }
    if (group->removed) continue;
    // A pre-vote carries the term its sender would campaign in, one above its own.
    const raft::Term sender_term = message.type == raft::MessageType::pre_vote && message.term > 0
                                       ? message.term - 1
                                       : message.term;
    if (group->role == raft::Role::leader && group->config_pending == 0 &&
        !raft::is_member(group->node->config(), message.from) && sender_term <= group->term) {
      // A replica this group no longer has (removed while it was away, so it missed the notice
      // sent at its removal): tell it to go. Its pre-votes are all a leader hears from it.
      outbox_[from_node].removed.push_back({addressed.partition, group->term, message.from});
      continue;
    }
    if (Error error = group->node->step(message)) {
      if (error.code == errc::internal && group->divergence_reported != group->node->term()) {
        // A broken safety property, not a malformed message: once per term, loudly.
        group->divergence_reported = group->node->term();
        logger_.error("replica", "partition {}: {} (from {})", addressed.partition, error.message,
                      from_node);
      } else {
        logger_.debug("replica", "partition {}: refused a {} from {}: {}", addressed.partition,
                      raft::to_string(message.type), from_node, error.message);
      }
    }
  }
  for (const RemovedNotice& notice : contents.removed) {
    if (notice.replica != options_.replica_id) continue;
    Group* group = find(notice.partition);
    if (group == nullptr || group->removed || notice.term < group->term) continue;
    logger_.info("replica", "partition {}: its leader on {} says this replica was removed",
                 notice.partition, from_node);
    group->removed = true;
    group->last_action = Clock::now();
  }
  bool probed = false;
  for (const LeaderHint& hint : contents.hints)
    probed = probe_if_stray(from_node, hint) || probed;
  if (probed) flush_outbox();
  if (!contents.hints.empty() && leader_listener_) leader_listener_(contents.hints);
}

// A leader that is not a voter of this replica's configuration: the partition moved on without
// it (removed while it was away, it missed the notice, and its own pre-votes reach only the
// voters it knows) or it lags behind. A pre-vote to that leader makes the leader say which: a
// removal notice, or nothing. The probe claims an empty log, so it can never win a vote. A
// leader that is a learner in the stale configuration counts as unknown too: pre-votes never go
// to learners, so without the probe such a stray waits until leadership moves again.
bool ReplicaHost::probe_if_stray(const std::string& leader_node, const LeaderHint& hint) {
  Group* group = find(hint.partition);
  if (group == nullptr || group->removed || group->role == raft::Role::leader) return false;
  if (hint.term < group->term || hint.leader == options_.replica_id ||
      raft::is_voter(group->node->config(), hint.leader)) {
    return false;
  }
  raft::Message probe;
  probe.type = raft::MessageType::pre_vote;
  probe.from = options_.replica_id;
  probe.to = hint.leader;
  probe.term = group->term + 1;
  outbox_[leader_node].messages.push_back({hint.partition, std::move(probe)});
  return true;
}

// --- Snapshots ----------------------------------------------------------------------------------

void ReplicaHost::start_snapshot_stream(Group& group, raft::NodeId to) {
  const PartitionId partition = group.log.partition();
  if (group.streaming.contains(to)) return;
  auto node = node_of(to);
  if (!node || snapshot_streams_ >= options_.max_snapshot_streams) {
    group.node->report_snapshot(to, false);
    return;
  }
  auto stream = std::make_shared<SnapshotStream>();
  stream->partition = partition;
  stream->to = to;
  stream->term = group.term;
  stream->node = *node;
  stream->reader = std::make_unique<SnapshotReader>(kv_.snapshot(), partition);
  stream->started = Clock::now();
  if (!stream->reader->point(stream->point)) {
    group.node->report_snapshot(to, false);
    return;
  }
  group.streaming.insert(to);
  ++snapshot_streams_;
  logger_.info("replica", "partition {}: sending a snapshot at index {} to {}", partition,
               stream->point.index, stream->node);
  send_next_chunk(std::move(stream));
}

void ReplicaHost::send_next_chunk(std::shared_ptr<SnapshotStream> stream) {
  auto finish = [this](const std::shared_ptr<SnapshotStream>& done, bool ok, const Error& error) {
    --snapshot_streams_;
    Group* group = find(done->partition);
    if (group != nullptr) {
      group->streaming.erase(done->to);
      group->node->report_snapshot(done->to, ok);
    }
    auto elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - done->started);
    if (ok) {
      ReplicaProbe::bump(probe_.snapshots_sent);
      logger_.info("replica", "partition {}: snapshot sent to {} ({} records, {} ms)",
                   done->partition, done->node, done->rows_sent, elapsed.count());
    } else {
      logger_.warn("replica", "partition {}: snapshot to {} failed: {}", done->partition,
                   done->node, error.message);
    }
  };
  std::vector<SnapshotRow> rows;
  bool done = false;
  if (Error error = stream->reader->next(options_.snapshot_chunk_bytes, rows, done)) {
    finish(stream, false, error);
    return;
  }
  SnapshotChunkHeader header;
  header.partition = stream->partition;
  header.from = options_.replica_id;
  header.to = stream->to;
  header.term = stream->term;
  header.point = stream->point;
  header.sequence = stream->sequence++;
  header.last = done;
  stream->last_sent = done;
  stream->rows_sent += rows.size();
  transport_.call(stream->node, encode_snapshot_chunk(header, rows, builder_),
                  [this, stream, finish](Error error) {
                    enqueue([this, stream, finish, error = std::move(error)] {
                      if (error) {
                        finish(stream, false, error);
                      } else if (stream->last_sent) {
                        finish(stream, true, {});
                      } else {
                        send_next_chunk(stream);
                      }
                    });
                  });
}

void ReplicaHost::on_snapshot_chunk(std::string from_node, SnapshotChunkHeader header,
                                    std::vector<SnapshotRow> rows,
                                    std::function<void(Error)> reply) {
  if (stopped_) {
    reply({errc::shutting_down, "the node is shutting down"});
    return;
  }
  auto shared = std::make_shared<std::vector<SnapshotRow>>(std::move(rows));
  auto answer = std::make_shared<std::function<void(Error)>>(std::move(reply));
  enqueue([this, from_node = std::move(from_node), header, shared,
           answer] { handle_chunk(from_node, header, *shared, *answer); },
          [answer] {
            (*answer)({errc::shutting_down, "the node is shutting down"});
          });
}

void ReplicaHost::handle_chunk(const std::string& from_node, const SnapshotChunkHeader& header,
                               const std::vector<SnapshotRow>& rows,
                               const std::function<void(Error)>& reply) {
  if (header.to != options_.replica_id) {
    reply({errc::wrong_node, "snapshot chunk for a replica this node does not have"});
    return;
  }
  Group* group = find(header.partition);
  if (group == nullptr) {
    if (draining_) {
      reply({errc::unavailable, "this node is leaving the cluster"});
      return;
    }
    group = &create_group(header.partition, false);
  }
  if (group->removed) {
    reply({errc::unavailable, "this replica was removed"});
    return;
  }
  store::WriteBatch batch;
  if (header.sequence == 0) {
    clear_staged(header.partition, batch);
    group->incoming = Incoming{header.from, header.term, header.point.index, header.point.term, 0};
  } else if (!group->incoming || group->incoming->from != header.from ||
             group->incoming->index != header.point.index ||
             group->incoming->index_term != header.point.term ||
             group->incoming->next_sequence != header.sequence) {
    reply({errc::invalid_argument, "snapshot chunk out of order; start the snapshot again"});
    return;
  }
  stage_rows(header.partition, rows, batch);
  if (Error error = kv_.write(batch, false)) fatal("staging a snapshot", error);
  ++group->incoming->next_sequence;
  if (header.last) {
    raft::Message snapshot;
    snapshot.type = raft::MessageType::snapshot;
    snapshot.from = header.from;
    snapshot.to = options_.replica_id;
    snapshot.term = header.term;
    snapshot.index = header.point.index;
    snapshot.log_term = header.point.term;
    snapshot.snapshot =
        raft::SnapshotMeta{header.point.index, header.point.term, header.point.config};
    if (Error error = group->node->step(snapshot)) {
      logger_.debug("replica", "partition {}: refused a snapshot from {}: {}", header.partition,
                    from_node, error.message);
    }
  }
  reply({});
}

void ReplicaHost::drop_group(PartitionId partition, const char* why) {
  Group* group = find(partition);
  if (group == nullptr) return;
  store::WriteBatch batch;
  erase_partition_data(partition, batch);
  group->log.erase_all(batch);
  if (Error error = kv_.write(batch, true)) fatal("dropping a replica", error);
  machine_->forget_partition(partition);
  fail_pending(*group, errc::unavailable,
               "partition " + std::to_string(partition) + " moved away from this node; retry");
  if (group->role == raft::Role::leader) --leaderships_;
  lease_until_ns_[partition].store(0);
  groups_.erase(partition);
  hosted_ = groups_.size();
  logger_.info("replica", "partition {}: replica dropped with its data ({})", partition, why);
}

// --- Membership and placement -------------------------------------------------------------

void ReplicaHost::update_members(std::vector<replication::MemberView> members) {
  enqueue([this, members = std::move(members)]() mutable {
    auto key = [](const std::vector<replication::MemberView>& views) {
      std::vector<std::tuple<std::string, raft::NodeId, int, bool>> result;
      for (const auto& view : views)
        result.emplace_back(view.name, view.replica_id, static_cast<int>(view.health),
                            view.draining);
      std::sort(result.begin(), result.end());
      return result;
    };
    if (key(members) != key(members_)) members_changed_ = Clock::now();
    members_ = std::move(members);
  });
}

std::string ReplicaHost::describe(const raft::Configuration& config) const {
  auto names = [this](const std::vector<raft::NodeId>& ids) {
    std::string text;
    for (raft::NodeId id : ids) {
      if (!text.empty()) text += ", ";
      text += node_of(id).value_or(fmt::format("{:016x}", id));
    }
    return text;
  };
  std::string text = "voters " + names(config.voters);
  if (!config.learners.empty()) text += "; learners " + names(config.learners);
  return text;
}

std::vector<replication::ReplicaId> ReplicaHost::live_replicas() const {
  std::vector<replication::ReplicaId> live{options_.replica_id};
  for (const replication::MemberView& member : members_) {
    if (member.replica_id != 0 && member.replica_id != options_.replica_id &&
        (member.health == replication::MemberHealth::alive ||
         member.health == replication::MemberHealth::suspect)) {
      live.push_back(member.replica_id);
    }
  }
  return live;
}

void ReplicaHost::start_drain() {
  draining_ = true;
  enqueue([this] {
    next_placement_ = Clock::now();
    logger_.info("replica", "draining: {} replica(s) and {} leadership(s) to move away",
                 groups_.size(), leaderships_.load());
  });
}

void ReplicaHost::transfer_all_leaderships() {
  enqueue([this] {
    for (auto& [partition, group] : groups_) {
      if (group->role != raft::Role::leader) continue;
      auto status = group->node->status();
      auto live = live_replicas();
      for (const raft::FollowerStatus& follower : status.followers) {
        if (follower.learner || !follower.recently_active ||
            std::find(live.begin(), live.end(), follower.id) == live.end()) {
          continue;
        }
        hand_over(*group, follower.id);
        break;
      }
    }
  });
}

void ReplicaHost::hand_over(Group& group, raft::NodeId to) {
  for (service::StateMachine::Proposal& proposal :
       machine_->before_handover(group.log.partition())) {
    ReplicaProbe::bump(probe_.proposals);
    append(group, proposal.command, std::move(proposal.done));
  }
  group.node->transfer_leadership(to);
}

void ReplicaHost::plan_placement() {
  auto now = Clock::now();
  // Replicas created for a stale leader's message that never received a configuration.
  std::vector<PartitionId> orphans;
  for (auto& [partition, group] : groups_) {
    if (group->config.voters.empty() && group->config.learners.empty() &&
        group->node->config().voters.empty() && group->node->config().learners.empty() &&
        !group->incoming && now - group->last_action >= orphan_timeout) {
      orphans.push_back(partition);
    }
  }
  for (PartitionId partition : orphans)
    drop_group(partition, "it never received its partition's state");

  if (members_.empty()) return;
  std::vector<replication::MemberView> members = members_;
  if (draining_) {
    for (auto& member : members) {
      if (member.replica_id == options_.replica_id) member.draining = true;
    }
  }
  replication::LayoutOptions layout_options;
  layout_options.partitions = partitions_.count();
  layout_options.replicas = options_.replicas;
  layout_options.replace_after_ms = options_.replace_after_ms;
  layout_options.ring = options_.ring;
  layout_ = replication::Layout::compute(members, layout_options, to_ms(now));
  auto live = live_replicas();
  bool settled = now - members_changed_ >= options_.membership_settle;
  for (auto& [partition, group] : groups_) {
    if (group->role != raft::Role::leader || group->removed || group->config_pending != 0) continue;
    if (now - group->last_action < action_interval) continue;
    auto status = group->node->status();
    if (status.transferring) continue;
    // A leader that sent timeout_now for a transfer that never happened keeps no lease for the
    // rest of its term (the message may still arrive): its partition could serve no reads
    // until the next term. Hand it to another voter, which starts one.
    auto unleased_limit = options_.tick * options_.election_ticks * 3;
    if (group->unleased_since && now - *group->unleased_since >= unleased_limit) {
      for (const raft::FollowerStatus& follower : status.followers) {
        bool up = std::find(live.begin(), live.end(), follower.id) != live.end();
        if (follower.learner || !follower.recently_active || !up ||
            follower.match < status.last_index) {
          continue;
        }
        group->last_action = now;
        group->last_transfer = now;
        group->unleased_since.reset();
        hand_over(*group, follower.id);
        logger_.info("replica", "partition {}: leading without a lease; handing it to {}",
                     partition, node_of(follower.id).value_or("another replica"));
        break;
      }
      if (group->last_action == now) continue;
    }
    replication::GroupView view;
    view.self = options_.replica_id;
    view.voters = status.config.voters;
    view.learners = status.config.learners;
    view.last_index = status.last_index;
    for (const raft::FollowerStatus& follower : status.followers) {
      view.followers.push_back({follower.id, follower.match, follower.recently_active});
    }
    replication::ReconfigureOptions reconfigure;
    reconfigure.balance_leaders =
        settled && !draining_ && now - group->last_transfer >= options_.leader_balance_interval;
    // Still leading after handing over: that handover failed.
    reconfigure.failed_handover = group->last_transfer_target;
    auto action = replication::next_action(view, layout_.target(partition), live, reconfigure);
    if (action.kind == ActionKind::none) continue;
    group->last_action = now;
    std::string name =
        node_of(action.replica).value_or("replica " + std::to_string(action.replica));
    if (action.kind == ActionKind::transfer_leadership) {
      group->last_transfer = now;
      group->last_transfer_target = action.replica;
      hand_over(*group, action.replica);
      logger_.info("replica", "partition {}: transferring leadership to {}", partition, name);
      continue;
    }
    raft::ConfigChange change{action.kind == ActionKind::add_learner
                                  ? raft::ConfigChangeKind::add_learner
                              : action.kind == ActionKind::promote ? raft::ConfigChangeKind::promote
                                                                   : raft::ConfigChangeKind::remove,
                              action.replica};
    auto index = group->node->propose_config_change(change);
    if (!index) {
      logger_.debug("replica", "partition {}: {} {} refused: {}", partition,
                    action_name(action.kind), name, index.error().message);
      continue;
    }
    group->config_pending = *index;
    logger_.info("replica", "partition {}: {} ({})", partition, action_name(action.kind), name);
  }
  if (draining_ && !groups_.empty() && now >= next_drain_report_) {
    next_drain_report_ = now + std::chrono::seconds(5);
    std::string waiting;
    std::size_t listed = 0;
    for (auto& [partition, group] : groups_) {
      if (listed++ == 8) {
        waiting += ", ...";
        break;
      }
      if (!waiting.empty()) waiting += ", ";
      std::string leader = group->leader == options_.replica_id ? "this node"
                           : group->leader == 0
                               ? "no leader"
                               : node_of(group->leader).value_or("an unknown node");
      waiting += "partition " + std::to_string(partition) + " (led by " + leader + ")";
    }
    logger_.info("replica",
                 "leaving: {} replica(s) still on this node, waiting for their leaders to move "
                 "them: {}",
                 groups_.size(), waiting);
  }
}

void ReplicaHost::refresh_status() {
  auto now = Clock::now();
  if (now - last_status_ < status_interval) return;
  last_status_ = now;
  std::vector<ReplicaStatus> statuses;
  statuses.reserve(groups_.size());
  for (auto& [partition, group] : groups_) {
    auto status = group->node->status();
    ReplicaStatus& entry = statuses.emplace_back();
    entry.partition = partition;
    entry.replica = status.id;
    entry.role = status.role;
    entry.term = status.term;
    entry.leader = status.leader;
    entry.commit = status.commit;
    entry.applied = group->log.applied().index;
    entry.last_index = status.last_index;
    entry.config = status.config;
    entry.followers = std::move(status.followers);
  }
  std::sort(statuses.begin(), statuses.end(), [](const ReplicaStatus& a, const ReplicaStatus& b) {
    return a.partition < b.partition;
  });
  std::lock_guard lock(status_mutex_);
  status_ = std::move(statuses);
}

std::vector<ReplicaStatus> ReplicaHost::status() const {
  std::lock_guard lock(status_mutex_);
  return status_;
}

}  // namespace qim::replica
