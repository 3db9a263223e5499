#include "tests/sim/raft/cluster.h"

#include <algorithm>
#include <limits>

#include "replication/raft/codec.h"
#include "replication/raft/configuration.h"

namespace qim::sim::raft {
namespace {

double unit(consensus::Random& random) {
  return static_cast<double>(random.next() >> 11) * 0x1.0p-53;
}

bool chance(consensus::Random& random, double probability) {
  return unit(random) < probability;
}

std::int64_t between(consensus::Random& random, std::int64_t low, std::int64_t high) {
  return low + static_cast<std::int64_t>(random.below(static_cast<std::uint64_t>(high - low) + 1));
}

// Bounds a node's Ready rounds per cycle (each round is one group commit).
constexpr int kMaxRoundsPerCycle = 16;
constexpr std::int64_t kClientLinkDelayMaxMs = 3;
constexpr std::int64_t kControllerIntervalMs = 40;
constexpr std::int64_t kConfigRetryMs = 100;
// Compaction keeps at least this many applied entries for followers to catch up from.
constexpr consensus::Index kCompactionMarginMax = 20;

}  // namespace

template <typename... Args>
void Cluster::trace(const char* format, Args... args) const {
  if (config_.trace == nullptr) return;
  std::fprintf(config_.trace, "%7lld ms  ", static_cast<long long>(now_ms_));
  if constexpr (sizeof...(Args) == 0) {
    std::fputs(format, config_.trace);
  } else {
    std::fprintf(config_.trace, format, args...);
  }
  std::fputc('\n', config_.trace);
}

Cluster::Cluster(const ClusterConfig& config, std::uint64_t seed)
    : config_(config), random_(seed), nodes_(config.nodes) {
  blocked_.assign(config_.nodes, std::vector<bool>(config_.nodes, false));
  // Place each group's initial replicas on consecutive nodes from a random start.
  for (GroupId group = 0; group < config_.groups; ++group) {
    const std::size_t start = random_.below(config_.nodes);
    std::vector<std::size_t> placement;
    for (std::size_t k = 0; k < config_.replicas_per_group; ++k) {
      placement.push_back((start + k) % config_.nodes);
    }
    std::vector<consensus::NodeId> ids;
    for (std::size_t k = 0; k < placement.size(); ++k) {
      // Registered at once, so that the next id of the group cannot be the same.
      ids.push_back(new_replica_id());
      directory_[ids.back()] = Address{placement[k], group, false};
    }
    consensus::Configuration initial;
    initial.voters = ids;
    std::sort(initial.voters.begin(), initial.voters.end());
    for (std::size_t k = 0; k < placement.size(); ++k) {
      auto replica = std::make_unique<Replica>(group, ids[k], config_.power_loss);
      replica->disk.bootstrap(initial);
      nodes_[placement[k]].replicas[group] = std::move(replica);
    }
  }
  for (std::size_t node = 0; node < nodes_.size(); ++node) {
    for (auto& [group, replica] : nodes_[node].replicas)
      start_replica_node(*replica);
    // Nodes tick at their own phase within a tick.
    const std::int64_t first_tick_ms = between(random_, 0, config_.tick_ms - 1);
    nodes_[node].last_tick_ms = first_tick_ms - config_.tick_ms;
    schedule(first_tick_ms, node, Tick{});
  }
  clients_.resize(config_.clients);
  for (std::size_t c = 0; c < clients_.size(); ++c) {
    clients_[c].sender = static_cast<std::uint32_t>(c + 1);
    schedule(between(random_, 0, 50), 0, ClientNext{c});
  }
  schedule(kControllerIntervalMs, 0, ControllerRound{});
}

Cluster::~Cluster() = default;

consensus::NodeId Cluster::new_replica_id() {
  for (;;) {
    const consensus::NodeId id = 1 + random_.below(999'999);  // short, for readable traces
    if (id != consensus::kNoNode && directory_.count(id) == 0) return id;
  }
}

void Cluster::schedule(std::int64_t time_ms, std::size_t node, Payload payload) {
  Event event;
  event.time_ms = time_ms;
  event.sequence = next_sequence_++;
  event.node = node;
  event.generation = nodes_[node].generation;
  event.payload = std::move(payload);
  events_.push(std::move(event));
}

void Cluster::schedule_cycle(std::size_t node) {
  if (nodes_[node].cycle_scheduled || !nodes_[node].up) return;
  nodes_[node].cycle_scheduled = true;
  schedule(now_ms_, node, Cycle{});
}

void Cluster::run_until(std::int64_t time_ms) {
  while (!events_.empty() && events_.top().time_ms <= time_ms && !checker_.failed()) {
    Event event = std::move(const_cast<Event&>(events_.top()));
    events_.pop();
    now_ms_ = event.time_ms;
    dispatch(event);
  }
  if (!checker_.failed()) now_ms_ = std::max(now_ms_, time_ms);
}

bool Cluster::hold_if_paused(Event& event) {
  SimNode& target = nodes_[event.node];
  if (!target.paused) return false;
  // Client answers, timeouts and controller rounds are addressed to node 0 only by convention.
  const bool inbound = std::holds_alternative<Deliver>(event.payload) ||
                       std::holds_alternative<SnapshotDeliver>(event.payload) ||
                       std::holds_alternative<SnapshotReport>(event.payload) ||
                       std::holds_alternative<ClientRequest>(event.payload);
  if (inbound) {
    target.held.push_back(std::move(event));
    return true;
  }
  // A stopped process's timers fire at resume; resume() schedules them again.
  if (std::holds_alternative<Tick>(event.payload) || std::holds_alternative<Cycle>(event.payload) ||
      std::holds_alternative<ReplayTicks>(event.payload)) {
    if (std::holds_alternative<Cycle>(event.payload)) target.cycle_scheduled = false;
    return true;
  }
  return false;
}

void Cluster::dispatch(Event& event) {
  const std::size_t node = event.node;
  // Timers of a process that has since crashed die with it.
  const bool stale = event.generation != nodes_[node].generation;
  if (hold_if_paused(event)) return;
  if (auto* tick = std::get_if<Tick>(&event.payload)) {
    if (!stale && nodes_[node].up && tick->epoch == nodes_[node].tick_epoch) on_tick(node);
  } else if (auto* replay = std::get_if<ReplayTicks>(&event.payload)) {
    if (!stale && nodes_[node].up) {
      for (std::int64_t k = 0; k < replay->count; ++k)
        tick_replicas(node);
      schedule_cycle(node);
    }
  } else if (std::holds_alternative<Cycle>(event.payload)) {
    if (!stale) {
      nodes_[node].cycle_scheduled = false;
      if (nodes_[node].up) run_cycle(node);
    }
  } else if (auto* deliver = std::get_if<Deliver>(&event.payload)) {
    on_deliver(node, *deliver);
  } else if (auto* snapshot = std::get_if<SnapshotDeliver>(&event.payload)) {
    on_snapshot_deliver(node, *snapshot);
  } else if (auto* report = std::get_if<SnapshotReport>(&event.payload)) {
    if (!stale) on_snapshot_report(node, *report);
  } else if (auto* request = std::get_if<ClientRequest>(&event.payload)) {
    on_client_request(node, *request);
  } else if (auto* client_reply = std::get_if<ClientReply>(&event.payload)) {
    on_client_reply(*client_reply);
  } else if (auto* timeout = std::get_if<ClientTimeout>(&event.payload)) {
    on_client_timeout(*timeout);
  } else if (auto* next = std::get_if<ClientNext>(&event.payload)) {
    client_next(next->client);
  } else if (std::holds_alternative<ControllerRound>(event.payload)) {
    on_controller_round();
  } else if (auto* isolate = std::get_if<Isolate>(&event.payload)) {
    for (std::size_t other = 0; other < nodes_.size(); ++other) {
      if (other == node) continue;
      blocked_[node][other] = isolate->cut;
      blocked_[other][node] = isolate->cut;
    }
    trace("nemesis: n%zu %s", node, isolate->cut ? "cut off" : "reconnected");
  }
}

// ---- Node shell -------------------------------------------------------------------------------

void Cluster::start_replica_node(Replica& replica) {
  replica.storage = std::make_unique<DiskStorage>(replica.disk);
  consensus::Options options = config_.raft;
  options.id = replica.id;
  options.random_seed = random_.next();
  options.applied = replica.disk.state().applied_index;
  replica.node = std::make_unique<consensus::Node>(options, *replica.storage);
  replica.received_snapshot.reset();
  replica.pending.clear();
  replica.tick_times.fill(now_ms_);
  replica.last_role = replica.node->role();
  replica.last_term = replica.node->term();
  if (config_.check_invariants) replica.node->invariants();
}

void Cluster::on_tick(std::size_t node) {
  nodes_[node].last_tick_ms = now_ms_;
  tick_replicas(node);
  schedule_cycle(node);
  schedule(now_ms_ + config_.tick_ms, node, Tick{nodes_[node].tick_epoch});
}

void Cluster::tick_replicas(std::size_t node) {
  for (auto& [group, replica] : nodes_[node].replicas) {
    if (!replica->node) continue;
    consensus::Node& raft = *replica->node;
    if (raft.can_quiesce() && chance(random_, config_.quiesce)) {
      ++quiesced_groups_;
      trace("n%zu g%u r%llu goes quiet", node, group, static_cast<unsigned long long>(replica->id));
      raft.quiesce();
    } else if (raft.quiesced() && raft.role() != consensus::Role::leader) {
      // Node-level liveness: the leader's node is down or cannot reach us.
      auto leader = directory_.find(raft.leader());
      const bool lost = leader == directory_.end() || leader->second.destroyed ||
                        !nodes_[leader->second.node].up || nodes_[leader->second.node].paused ||
                        blocked_[leader->second.node][node];
      if (lost && chance(random_, config_.wake_detection)) {
        trace("n%zu g%u r%llu woken: its leader's node is unreachable", node, group,
              static_cast<unsigned long long>(replica->id));
        raft.wake();
      }
    }
    replica->node->tick();
    replica->tick_times[replica->node->tick_count() % replica->tick_times.size()] = now_ms_;
    if (config_.check_invariants) replica->node->invariants();
  }
}

void Cluster::run_cycle(std::size_t node_index) {
  SimNode& node = nodes_[node_index];
  for (int round = 0; round < kMaxRoundsPerCycle; ++round) {
    std::vector<std::pair<Replica*, consensus::Ready>> batch;
    for (auto& [group, replica] : node.replicas) {
      if (replica->node && replica->node->has_ready()) {
        batch.emplace_back(replica.get(), replica->node->ready());
      }
    }
    if (batch.empty()) return;
    // 1. Write every group's Ready: one batch for the node (group commit).
    for (auto& [replica, ready] : batch) {
      if (ready.snapshot) {
        if (!replica->received_snapshot ||
            replica->received_snapshot->first.index != ready.snapshot->index) {
          checker_.fail("replica " + std::to_string(replica->id) +
                            " was told to install a snapshot it never received",
                        now_ms_);
          return;
        }
        DiskWrite write;
        write.kind = DiskWrite::Kind::install_snapshot;
        write.snapshot = *ready.snapshot;
        write.machine = replica->received_snapshot->second;
        replica->disk.write(std::move(write));
        replica->received_snapshot.reset();
        trace("n%zu g%u r%llu installs snapshot at %llu", node_index, replica->group,
              static_cast<unsigned long long>(replica->id),
              static_cast<unsigned long long>(ready.snapshot->index));
      }
      if (!ready.entries.empty()) {
        DiskWrite write;
        write.kind = DiskWrite::Kind::append;
        write.entries = ready.entries;
        replica->disk.write(std::move(write));
      }
      if (ready.hard_state) {
        DiskWrite write;
        write.kind = DiskWrite::Kind::hard_state;
        write.hard_state = *ready.hard_state;
        replica->disk.write(std::move(write));
      }
    }
    // 2. A power cut between the write and its sync: nothing of this cycle was sent yet.
    if (config_.power_loss && chance(random_, config_.crash_mid_cycle)) {
      ++power_cuts_mid_cycle_;
      trace("n%zu power cut between write and sync", node_index);
      crash(node_index);
      return;
    }
    // 3. Sync, then send.
    for (auto& [group, replica] : node.replicas) {
      replica->disk.sync();
    }
    for (auto& [replica, ready] : batch) {
      const consensus::Term term = replica->node->term();
      if (ready.hard_state && replica->node->role() == consensus::Role::leader &&
          replica->committed_as_leader_in != term) {
        replica->committed_as_leader_in = term;
        if (chance(random_, config_.isolate_at_first_commit)) {
          // What this cycle sends is lost on the cut links.
          ++nemesis_isolations_;
          schedule(now_ms_, node_index, Isolate{true});
          schedule(now_ms_ + between(random_, config_.isolation_ms_min, config_.isolation_ms_max),
                   node_index, Isolate{false});
        }
      }
    }
    for (auto& [replica, ready] : batch) {
      for (consensus::Message& message : ready.messages)
        send(node_index, *replica, std::move(message));
    }
    // 4. Apply (written now, synced by the next cycle's sync), then advance.
    for (auto& [replica, ready] : batch) {
      for (const consensus::Entry& entry : ready.committed_entries) {
        apply_committed(node_index, *replica, entry);
        if (checker_.failed()) return;
      }
      replica->node->advance();
      if (config_.check_invariants) replica->node->invariants();
      observe_role(node_index, *replica);
      // The shell compacts now and then, keeping a margin for slow followers.
      const ReplicaState& state = replica->disk.state();
      if (chance(random_, config_.compaction) && state.applied_index > state.offset) {
        const consensus::Index margin = random_.below(kCompactionMarginMax + 1);
        const consensus::Index first_kept =
            state.applied_index + 1 > margin ? state.applied_index + 1 - margin : state.offset;
        if (first_kept > state.offset) {
          DiskWrite write;
          write.kind = DiskWrite::Kind::compact;
          write.first_kept = first_kept;
          replica->disk.write(std::move(write));
        }
      }
    }
  }
  schedule_cycle(node_index);
}

void Cluster::apply_committed(std::size_t node, Replica& replica, const consensus::Entry& entry) {
  checker_.on_committed(replica.group, replica.id, entry, now_ms_);
  if (entry.index != replica.disk.state().applied_index + 1) {
    checker_.fail("replica " + std::to_string(replica.id) + " applies index " +
                      std::to_string(entry.index) + " after " +
                      std::to_string(replica.disk.state().applied_index),
                  now_ms_);
    return;
  }
  DiskWrite write;
  write.kind = DiskWrite::Kind::apply;
  write.entries.push_back(entry);
  replica.disk.write(std::move(write));
  std::optional<std::uint64_t> seq;
  SendCommand command;
  if (entry.kind == consensus::EntryKind::normal && !entry.data.empty()) {
    decode(entry.data, command);
    const Conversation* conversation = replica.disk.state().machine.find(command.conversation);
    seq = conversation->seq_by_client_id.at({command.sender, command.client_msg_id});
    checker_.on_applied_send(replica.group, replica.id, command, *seq, now_ms_);
  } else if (entry.kind == consensus::EntryKind::config_change) {
    consensus::ConfigChange change;
    consensus::decode(entry.data, change);
    trace("n%zu g%u r%llu applies %s %llu at %llu", node, replica.group,
          static_cast<unsigned long long>(replica.id), consensus::to_string(change.kind),
          static_cast<unsigned long long>(change.node),
          static_cast<unsigned long long>(entry.index));
  }
  auto pending = replica.pending.find(entry.index);
  if (pending == replica.pending.end()) return;
  PendingProposal proposal = std::move(pending->second);
  replica.pending.erase(pending);
  ClientReply answer;
  answer.client = proposal.client;
  answer.attempt = proposal.attempt;
  answer.command = proposal.command;
  if (proposal.term == entry.term && seq) {
    answer.kind = ReplyKind::ack;
    answer.seq = *seq;
  } else {
    answer.kind = ReplyKind::retry;  // another entry took that index: the proposal was lost
  }
  reply(std::move(answer));
}

void Cluster::observe_role(std::size_t node, Replica& replica) {
  const consensus::Role role = replica.node->role();
  const consensus::Term term = replica.node->term();
  if (role == replica.last_role && term == replica.last_term) return;
  const bool new_leadership =
      role == consensus::Role::leader &&
      (replica.last_role != consensus::Role::leader || term != replica.last_term);
  replica.last_role = role;
  replica.last_term = term;
  if (!new_leadership) return;
  ++leader_changes_;
  trace("n%zu g%u r%llu leads term %llu", node, replica.group,
        static_cast<unsigned long long>(replica.id), static_cast<unsigned long long>(term));
  checker_.on_leader(replica.group, term, replica.id, now_ms_);
  if (chance(random_, config_.isolate_new_leaders)) {
    ++nemesis_isolations_;
    const std::int64_t cut_at = now_ms_ + between(random_, 0, config_.isolation_delay_ms_max);
    schedule(cut_at, node, Isolate{true});
    schedule(cut_at + between(random_, config_.isolation_ms_min, config_.isolation_ms_max), node,
             Isolate{false});
  }
  if (ops_.count(replica.group) == 0 && chance(random_, config_.config_chaos)) {
    propose_random_change(node, replica);
  }
  auto crashed = leader_crashed_at_.find(replica.group);
  if (crashed != leader_crashed_at_.end()) {
    election_times_ms_.push_back(now_ms_ - crashed->second);
    leader_crashed_at_.erase(crashed);
  }
  // Lease: no other replica may still hold a valid lease as leader of an older term.
  const std::int64_t lease_ms =
      static_cast<std::int64_t>(config_.raft.election_ticks - 1) * config_.tick_ms;
  for (std::size_t other = 0; other < nodes_.size(); ++other) {
    auto found = nodes_[other].replicas.find(replica.group);
    if (found == nodes_[other].replicas.end() || !found->second->node) continue;
    const Replica& holder = *found->second;
    if (holder.id == replica.id || holder.node->role() != consensus::Role::leader) continue;
    // A leader of a later term may already lead when the votes of an earlier term's election
    // arrive; the earlier leader can gather no lease of its own (a quorum has moved on), so
    // only leases of earlier terms bind.
    if (holder.node->term() > term) continue;
    const std::optional<std::uint64_t> lease = holder.node->lease_start_tick();
    if (!lease) continue;
    const std::int64_t until_ms = tick_time(holder, *lease) + lease_ms;
    if (until_ms > now_ms_) {
      checker_.fail("group " + std::to_string(replica.group) + ": replica " +
                        std::to_string(replica.id) + " leads term " + std::to_string(term) +
                        " while " + std::to_string(holder.id) + " (term " +
                        std::to_string(holder.node->term()) + ") holds a lease until " +
                        std::to_string(until_ms) + "ms",
                    now_ms_);
      return;
    }
  }
}

std::int64_t Cluster::tick_time(const Replica& replica, std::uint64_t tick) const {
  const std::uint64_t current = replica.node->tick_count();
  if (current - tick >= replica.tick_times.size())
    return std::numeric_limits<std::int64_t>::min() / 2;
  return replica.tick_times[tick % replica.tick_times.size()];
}

void Cluster::send(std::size_t node, Replica& replica, consensus::Message&& message) {
  ++messages_sent_;
  auto target = directory_.find(message.to);
  if (target == directory_.end()) return;
  if (target->second.destroyed && !(target->second.tombstone && config_.revive_removed)) return;
  const std::size_t to_node = target->second.node;
  if (message.type == consensus::MessageType::snapshot) {
    // The shell streams its live state machine; the meta says what it is.
    const ReplicaState& state = replica.disk.state();
    message.snapshot =
        consensus::SnapshotMeta{state.applied_index, state.applied_term, state.applied_config};
    auto machine = std::make_shared<const MessagingState>(state.machine);
    ++snapshots_sent_;
    trace("n%zu g%u r%llu streams snapshot at %llu to r%llu", node, replica.group,
          static_cast<unsigned long long>(replica.id),
          static_cast<unsigned long long>(message.snapshot.index),
          static_cast<unsigned long long>(message.to));
    const std::int64_t at = now_ms_ + delay_ms() + between(random_, 0, 20);
    if (lost(node, to_node)) {
      schedule(at, node, SnapshotReport{replica.id, message.to, false});
      return;
    }
    schedule(at, to_node, SnapshotDeliver{std::move(message), std::move(machine), node});
    return;
  }
  if (lost(node, to_node)) return;
  if (chance(random_, network_.duplication)) {
    schedule(now_ms_ + delay_ms(), to_node, Deliver{message, node});
  }
  schedule(now_ms_ + delay_ms(), to_node, Deliver{std::move(message), node});
}

bool Cluster::lost(std::size_t from, std::size_t to) {
  if (blocked_[from][to]) return true;
  return chance(random_, network_.loss);
}

std::int64_t Cluster::delay_ms() {
  if (chance(random_, network_.long_delay)) {
    return between(random_, network_.delay_max_ms, network_.long_delay_max_ms);
  }
  return between(random_, network_.delay_min_ms, network_.delay_max_ms);
}

Cluster::Replica* Cluster::find_replica(std::size_t node, consensus::NodeId id) {
  if (!nodes_[node].up) return nullptr;
  auto address = directory_.find(id);
  if (address == directory_.end() || address->second.destroyed || address->second.node != node) {
    return nullptr;
  }
  auto found = nodes_[node].replicas.find(address->second.group);
  if (found == nodes_[node].replicas.end() || found->second->id != id || !found->second->node) {
    return nullptr;
  }
  return found->second.get();
}

void Cluster::after_step(std::size_t node, Replica& replica) {
  if (config_.check_invariants) replica.node->invariants();
  schedule_cycle(node);
}

void Cluster::on_deliver(std::size_t node, Deliver& deliver) {
  // A link cut while the message was in flight loses it too (a broken connection).
  if (blocked_[deliver.from_node][node]) return;
  Replica* replica = find_replica(node, deliver.message.to);
  if (replica == nullptr) replica = revive_replica(node, deliver.message.to, deliver.message.type);
  if (replica == nullptr) return;
  if (config_.trace != nullptr) {
    trace("n%zu g%u  %s", node, replica->group, consensus::to_string(deliver.message).c_str());
  }
  const Error error = replica->node->step(std::move(deliver.message));
  if (error) {
    checker_.fail("step refused a message: " + error.message, now_ms_);
    return;
  }
  after_step(node, *replica);
}

void Cluster::on_snapshot_deliver(std::size_t node, SnapshotDeliver& deliver) {
  const consensus::NodeId from = deliver.message.from;
  const consensus::NodeId to = deliver.message.to;
  const std::size_t from_node = deliver.from_node;
  Replica* replica = find_replica(node, to);
  if (replica == nullptr || blocked_[from_node][node]) {
    schedule(now_ms_ + delay_ms(), from_node, SnapshotReport{from, to, false});
    return;
  }
  trace("n%zu g%u  %s", node, replica->group, consensus::to_string(deliver.message).c_str());
  replica->received_snapshot = std::make_pair(deliver.message.snapshot, deliver.machine);
  const Error error = replica->node->step(std::move(deliver.message));
  if (error) {
    checker_.fail("step refused a snapshot: " + error.message, now_ms_);
    return;
  }
  after_step(node, *replica);
  schedule(now_ms_ + delay_ms(), from_node, SnapshotReport{from, to, true});
}

void Cluster::on_snapshot_report(std::size_t node, const SnapshotReport& report) {
  Replica* replica = find_replica(node, report.leader);
  if (replica == nullptr) return;
  replica->node->report_snapshot(report.target, report.ok);
  after_step(node, *replica);
}

Cluster::Replica& Cluster::create_replica(std::size_t node, GroupId group,
                                          const consensus::Configuration& bootstrap) {
  const consensus::NodeId id = new_replica_id();
  auto replica = std::make_unique<Replica>(group, id, config_.power_loss);
  replica->disk.bootstrap(bootstrap);
  directory_[id] = Address{node, group, false};
  replica->created_ms = now_ms_;
  nodes_[node].tombstones.erase(group);
  Replica& created = *replica;
  nodes_[node].replicas[group] = std::move(replica);
  if (nodes_[node].up) start_replica_node(created);
  return created;
}

void Cluster::destroy_replica(std::size_t node, GroupId group, bool keep_tombstone) {
  auto found = nodes_[node].replicas.find(group);
  if (found == nodes_[node].replicas.end()) return;
  Replica& replica = *found->second;
  trace("n%zu g%u r%llu deleted%s", node, group, static_cast<unsigned long long>(replica.id),
        keep_tombstone ? " (tombstone kept)" : "");
  directory_[replica.id].destroyed = true;
  directory_[replica.id].tombstone = keep_tombstone;
  if (keep_tombstone) {
    // Written with the drop, in one synced batch: what the disk had is what the tombstone keeps.
    replica.disk.sync();
    const consensus::HardState& state = replica.disk.state().hard_state;
    nodes_[node].tombstones[group] = {replica.id, consensus::HardState{state.term, state.vote, 0}};
  } else {
    nodes_[node].tombstones.erase(group);
  }
  nodes_[node].replicas.erase(found);
}

Cluster::Replica* Cluster::revive_replica(std::size_t node, consensus::NodeId id,
                                          consensus::MessageType type) {
  if (!config_.revive_removed || !nodes_[node].up) return nullptr;
  if (type != consensus::MessageType::append && type != consensus::MessageType::heartbeat) {
    return nullptr;
  }
  auto address = directory_.find(id);
  if (address == directory_.end() || !address->second.destroyed || address->second.node != node) {
    return nullptr;
  }
  const GroupId group = address->second.group;
  auto tombstone = nodes_[node].tombstones.find(group);
  if (nodes_[node].replicas.count(group) > 0 || tombstone == nodes_[node].tombstones.end() ||
      tombstone->second.first != id) {
    return nullptr;
  }
  auto replica = std::make_unique<Replica>(group, id, config_.power_loss);
  replica->disk.bootstrap(consensus::Configuration{});
  DiskWrite write;
  write.kind = DiskWrite::Kind::hard_state;
  write.hard_state = tombstone->second.second;
  replica->disk.write(std::move(write));
  replica->disk.sync();
  replica->created_ms = now_ms_;
  nodes_[node].tombstones.erase(tombstone);
  address->second.destroyed = false;
  address->second.tombstone = false;
  ++revived_replicas_;
  trace("n%zu g%u r%llu created again for a leader's message (term %llu from its tombstone)", node,
        group, static_cast<unsigned long long>(id),
        static_cast<unsigned long long>(replica->disk.state().hard_state.term));
  Replica& revived = *replica;
  nodes_[node].replicas[group] = std::move(replica);
  start_replica_node(revived);
  return &revived;
}

// ---- Faults -----------------------------------------------------------------------------------

void Cluster::block(std::size_t from, std::size_t to) {
  if (from != to) blocked_[from][to] = true;
}

void Cluster::heal_links() {
  for (auto& row : blocked_)
    std::fill(row.begin(), row.end(), false);
}

bool Cluster::link_blocked(std::size_t from, std::size_t to) const {
  return blocked_[from][to];
}

bool Cluster::up(std::size_t node) const {
  return nodes_[node].up;
}

void Cluster::pause(std::size_t node_index) {
  SimNode& node = nodes_[node_index];
  if (!node.up || node.paused) return;
  node.paused = true;
  node.paused_at_ms = now_ms_;
  ++pauses_;
  trace("n%zu paused", node_index);
}

void Cluster::resume(std::size_t node_index) {
  SimNode& node = nodes_[node_index];
  if (!node.paused) return;
  node.paused = false;
  // The timer fires once at resume if it fell due; the ticks it missed are counted from the
  // last one, never more than fell due (a tick early would shorten an election timeout that a
  // leader's lease counts on).
  std::int64_t missed = 0;
  if (now_ms_ >= node.last_tick_ms + config_.tick_ms) {
    missed = std::min<std::int64_t>((now_ms_ - node.last_tick_ms) / config_.tick_ms,
                                    4 * static_cast<std::int64_t>(config_.raft.election_ticks));
    node.last_tick_ms =
        std::max(node.last_tick_ms + missed * config_.tick_ms, now_ms_ - config_.tick_ms);
  }
  trace("n%zu resumes after %lld ms (%lld ticks replayed, %zu messages waiting)", node_index,
        static_cast<long long>(now_ms_ - node.paused_at_ms), static_cast<long long>(missed),
        node.held.size());
  // The time that passed is ticked before the messages that waited are handled, as qimd's
  // shell does: a heartbeat answered first and then followed by the replayed ticks would let
  // the replica campaign at once, inside the lease its answer had just granted the leader (this
  // simulator found that order breaking leases).
  if (missed > 0) schedule(now_ms_, node_index, ReplayTicks{missed});
  std::vector<Event> held;
  held.swap(node.held);
  for (Event& event : held)
    schedule(now_ms_, node_index, std::move(event.payload));
  schedule(node.last_tick_ms + config_.tick_ms, node_index, Tick{++node.tick_epoch});
  schedule_cycle(node_index);
}

void Cluster::crash(std::size_t node_index) {
  SimNode& node = nodes_[node_index];
  if (!node.up) return;
  node.up = false;
  ++node.generation;
  node.cycle_scheduled = false;
  node.paused = false;  // kill -9 of a stopped process
  // What waited for it is lost; a snapshot's sender sees its stream break, as it does when the
  // node is down on arrival.
  for (Event& event : node.held) {
    if (auto* snapshot = std::get_if<SnapshotDeliver>(&event.payload)) {
      schedule(now_ms_ + delay_ms(), snapshot->from_node,
               SnapshotReport{snapshot->message.from, snapshot->message.to, false});
    }
  }
  node.held.clear();
  trace("n%zu crashes%s", node_index, config_.power_loss ? " (power cut)" : "");
  for (auto& [group, replica] : node.replicas) {
    if (replica->node && replica->node->role() == consensus::Role::leader) {
      leader_crashed_at_.emplace(group, now_ms_);
    }
    replica->node.reset();
    replica->storage.reset();
    replica->received_snapshot.reset();
    replica->pending.clear();
    replica->disk.lose_unsynced();
  }
}

void Cluster::restart(std::size_t node_index) {
  SimNode& node = nodes_[node_index];
  if (node.up) return;
  node.up = true;
  ++node.generation;
  trace("n%zu restarts", node_index);
  for (auto& [group, replica] : node.replicas)
    start_replica_node(*replica);
  const std::int64_t first_tick_ms = now_ms_ + between(random_, 0, config_.tick_ms - 1);
  node.last_tick_ms = first_tick_ms - config_.tick_ms;
  schedule(first_tick_ms, node_index, Tick{node.tick_epoch});
}

// ---- Clients ----------------------------------------------------------------------------------

void Cluster::set_clients_active(bool active) {
  const bool was = clients_active_;
  clients_active_ = active;
  if (active && !was) {
    for (std::size_t c = 0; c < clients_.size(); ++c) {
      if (!clients_[c].outstanding) schedule(now_ms_, 0, ClientNext{c});
    }
  }
}

void Cluster::client_next(std::size_t index) {
  Client& client = clients_[index];
  if (client.outstanding || !clients_active_ || client.sent >= config_.sends_per_client) return;
  const std::uint32_t conversations =
      static_cast<std::uint32_t>(config_.groups * config_.conversations_per_group);
  SendCommand command;
  command.conversation = static_cast<std::uint32_t>(random_.below(conversations));
  command.sender = client.sender;
  command.client_msg_id = client.next_id++;
  command.body = "m" + std::to_string(client.sender) + "." + std::to_string(command.client_msg_id) +
                 std::string(random_.below(24), '.');
  ++client.sent;
  client.outstanding = Outstanding{std::move(command), 0};
  client_submit(index, std::nullopt);
}

void Cluster::client_submit(std::size_t index, std::optional<std::size_t> node) {
  Client& client = clients_[index];
  Outstanding& outstanding = *client.outstanding;
  const GroupId group = outstanding.command.conversation % config_.groups;
  if (!node) {
    auto hint = client.leader_hint.find(group);
    node = hint != client.leader_hint.end() && chance(random_, 0.8)
               ? hint->second
               : static_cast<std::size_t>(random_.below(nodes_.size()));
  }
  outstanding.attempt = ++client.attempts;
  schedule(now_ms_ + between(random_, 1, kClientLinkDelayMaxMs), *node,
           ClientRequest{index, outstanding.attempt, outstanding.command});
  schedule(now_ms_ + config_.client_timeout_ms, 0, ClientTimeout{index, outstanding.attempt});
}

void Cluster::reply(ClientReply answer) {
  schedule(now_ms_ + between(random_, 1, kClientLinkDelayMaxMs), 0, std::move(answer));
}

void Cluster::on_client_request(std::size_t node, const ClientRequest& request) {
  if (!nodes_[node].up) return;  // lost: the client times out
  const GroupId group = request.command.conversation % config_.groups;
  ClientReply answer;
  answer.client = request.client;
  answer.attempt = request.attempt;
  answer.command = request.command;
  auto found = nodes_[node].replicas.find(group);
  if (found == nodes_[node].replicas.end() || !found->second->node) {
    answer.kind = ReplyKind::redirect;
    reply(std::move(answer));
    return;
  }
  Replica& replica = *found->second;
  if (replica.node->role() != consensus::Role::leader) {
    answer.kind = ReplyKind::redirect;
    auto leader = directory_.find(replica.node->leader());
    if (leader != directory_.end() && !leader->second.destroyed) answer.hint = leader->second.node;
    reply(std::move(answer));
    return;
  }
  consensus::Result<consensus::Index> index = replica.node->propose(encode(request.command));
  if (!index.ok()) {
    answer.kind = ReplyKind::retry;
    answer.hint = node;
    reply(std::move(answer));
    return;
  }
  replica.pending[*index] =
      PendingProposal{replica.node->term(), request.client, request.attempt, request.command};
  after_step(node, replica);
}

void Cluster::on_client_reply(const ClientReply& answer) {
  Client& client = clients_[answer.client];
  if (answer.kind == ReplyKind::ack) {
    ++acknowledged_;
    checker_.on_ack(answer.command, answer.seq, now_ms_);
    if (config_.trace != nullptr) {
      trace("client %u: (%u, %llu) acknowledged at seq %llu of conversation %u", client.sender,
            answer.command.sender, static_cast<unsigned long long>(answer.command.client_msg_id),
            static_cast<unsigned long long>(answer.seq), answer.command.conversation);
    }
  }
  if (!client.outstanding || client.outstanding->attempt != answer.attempt) return;
  const GroupId group = answer.command.conversation % config_.groups;
  switch (answer.kind) {
    case ReplyKind::ack:
      client.outstanding.reset();
      schedule(now_ms_ + between(random_, 0, 30), 0, ClientNext{answer.client});
      break;
    case ReplyKind::redirect:
      if (answer.hint) client.leader_hint[group] = *answer.hint;
      client_submit(answer.client, answer.hint);
      break;
    case ReplyKind::retry:
      // Back off a little: an election or a transfer is under way.
      client.outstanding->attempt = 0;
      schedule(now_ms_ + 20, 0, ClientTimeout{answer.client, 0});
      break;
  }
}

void Cluster::on_client_timeout(const ClientTimeout& timeout) {
  Client& client = clients_[timeout.client];
  if (!client.outstanding || client.outstanding->attempt != timeout.attempt) return;
  // Retry the same client_msg_id, somewhere else.
  client_submit(timeout.client, std::nullopt);
}

// ---- Controller -------------------------------------------------------------------------------

bool Cluster::start_move(GroupId group, std::size_t from_node, std::size_t to_node) {
  if (ops_.count(group) > 0 || from_node == to_node) return false;
  auto from = nodes_[from_node].replicas.find(group);
  if (from == nodes_[from_node].replicas.end()) return false;
  if (nodes_[to_node].replicas.count(group) > 0) return false;
  ConfigOp op;
  op.group = group;
  op.old_id = from->second->id;
  op.old_node = from_node;
  op.new_node = to_node;
  op.new_id = create_replica(to_node, group, consensus::Configuration{}).id;
  trace("g%u: move r%llu on n%zu to r%llu on n%zu", group,
        static_cast<unsigned long long>(op.old_id), from_node,
        static_cast<unsigned long long>(op.new_id), to_node);
  ops_[group] = op;
  return true;
}

bool Cluster::start_wipe(GroupId group, std::size_t node) {
  if (ops_.count(group) > 0) return false;
  auto found = nodes_[node].replicas.find(group);
  if (found == nodes_[node].replicas.end()) return false;
  ConfigOp op;
  op.group = group;
  op.old_id = found->second->id;
  op.old_node = node;
  op.new_node = node;
  trace("g%u: wipe r%llu on n%zu", group, static_cast<unsigned long long>(op.old_id), node);
  destroy_replica(node, group, false);
  op.new_id = create_replica(node, group, consensus::Configuration{}).id;
  ops_[group] = op;
  return true;
}

void Cluster::transfer_leadership(GroupId group) {
  const std::optional<LeaderView> view = leader(group);
  if (!view) return;
  Replica& replica = *nodes_[view->node].replicas.at(group);
  const std::vector<consensus::NodeId>& voters = replica.node->config().voters;
  if (voters.size() < 2) return;
  consensus::NodeId target = voters[random_.below(voters.size())];
  if (target == replica.id) return;
  trace("g%u: transfer leadership from r%llu to r%llu", group,
        static_cast<unsigned long long>(replica.id), static_cast<unsigned long long>(target));
  replica.node->transfer_leadership(target);
  after_step(view->node, replica);
}

void Cluster::on_controller_round() {
  schedule(now_ms_ + kControllerIntervalMs, 0, ControllerRound{});
  delete_replicas_out_of_config();
  for (auto it = ops_.begin(); it != ops_.end();) {
    bool done = false;
    drive(it->second, done);
    if (done) {
      ++config_changes_done_;
      it = ops_.erase(it);
    } else {
      ++it;
    }
  }
}

void Cluster::propose_random_change(std::size_t node, Replica& leader_replica) {
  const GroupId group = leader_replica.group;
  const consensus::Configuration& config = leader_replica.node->config();
  std::vector<consensus::ConfigChange> choices;
  std::vector<std::size_t> free_nodes;
  for (std::size_t n = 0; n < nodes_.size(); ++n) {
    if (nodes_[n].replicas.count(group) == 0) free_nodes.push_back(n);
  }
  if (config.learners.size() < 2 && !free_nodes.empty()) {
    choices.push_back({consensus::ConfigChangeKind::add_learner, consensus::kNoNode});
  }
  for (consensus::NodeId learner : config.learners) {
    auto address = directory_.find(learner);
    const bool exists = address != directory_.end() && !address->second.destroyed;
    if (exists && config.voters.size() < 5) {
      choices.push_back({consensus::ConfigChangeKind::promote, learner});
    }
    choices.push_back({consensus::ConfigChangeKind::remove, learner});
  }
  if (config.voters.size() >= 4) {
    choices.push_back(
        {consensus::ConfigChangeKind::remove, config.voters[random_.below(config.voters.size())]});
  }
  if (choices.empty()) return;
  consensus::ConfigChange change = choices[random_.below(choices.size())];
  if (change.kind == consensus::ConfigChangeKind::add_learner) {
    change.node = create_replica(free_nodes[random_.below(free_nodes.size())], group,
                                 consensus::Configuration{})
                      .id;
  }
  consensus::Result<consensus::Index> index = leader_replica.node->propose_config_change(change);
  trace("g%u r%llu chaos: %s %llu %s", group, static_cast<unsigned long long>(leader_replica.id),
        consensus::to_string(change.kind), static_cast<unsigned long long>(change.node),
        index.ok() ? "proposed" : index.error().message.c_str());
  after_step(node, leader_replica);
}

void Cluster::delete_replicas_out_of_config() {
  // A replica out of the group's committed configuration (the leader's) for a while goes, as the
  // real node deletes a replica it no longer hosts. Replicas of a change in progress stay.
  constexpr std::int64_t kGraceMs = 2000;
  for (GroupId group = 0; group < config_.groups; ++group) {
    const std::optional<LeaderView> view = leader(group);
    if (!view) continue;
    const consensus::Configuration config = nodes_[view->node].replicas.at(group)->node->config();
    auto op = ops_.find(group);
    for (std::size_t n = 0; n < nodes_.size(); ++n) {
      auto found = nodes_[n].replicas.find(group);
      if (found == nodes_[n].replicas.end()) continue;
      const Replica& replica = *found->second;
      if (consensus::is_member(config, replica.id) || now_ms_ - replica.created_ms < kGraceMs)
        continue;
      // As qimd's shell: a replica goes on the word of a leader of its own term or a later one,
      // never of a stale leader whose configuration may be older than the replica's.
      const consensus::Term term =
          replica.node ? replica.node->term() : replica.disk.state().hard_state.term;
      if (term > view->term) continue;
      if (op != ops_.end() &&
          (op->second.new_id == replica.id || op->second.old_id == replica.id)) {
        continue;
      }
      destroy_replica(n, group, true);
    }
  }
}

void Cluster::drive(ConfigOp& op, bool& done) {
  const std::optional<LeaderView> view = leader(op.group);
  if (!view) return;
  Replica& leader_replica = *nodes_[view->node].replicas.at(op.group);
  consensus::Node& leader_node = *leader_replica.node;
  const consensus::Configuration& config = leader_node.config();
  std::optional<consensus::ConfigChange> change;
  if (!consensus::is_member(config, op.new_id)) {
    change = consensus::ConfigChange{consensus::ConfigChangeKind::add_learner, op.new_id};
  } else if (consensus::is_learner(config, op.new_id)) {
    // Promote once it has caught up with the leader's log.
    const consensus::Node::Status status = leader_node.status();
    for (const consensus::FollowerStatus& follower : status.followers) {
      if (follower.id == op.new_id && follower.match + 1 >= status.commit) {
        change = consensus::ConfigChange{consensus::ConfigChangeKind::promote, op.new_id};
      }
    }
  } else if (consensus::is_member(config, op.old_id)) {
    change = consensus::ConfigChange{consensus::ConfigChangeKind::remove, op.old_id};
  } else {
    // Done: the old replica's data directory goes (if a wipe did not already delete it).
    auto old = nodes_[op.old_node].replicas.find(op.group);
    if (old != nodes_[op.old_node].replicas.end() && old->second->id == op.old_id) {
      destroy_replica(op.old_node, op.group, true);
    }
    trace("g%u: replica change done", op.group);
    done = true;
    return;
  }
  if (!change) return;
  if (op.last_proposal_ms >= 0 && now_ms_ - op.last_proposal_ms < kConfigRetryMs) return;
  consensus::Result<consensus::Index> index = leader_node.propose_config_change(*change);
  op.last_proposal_ms = now_ms_;
  if (index.ok()) {
    trace("g%u r%llu proposes %s %llu at %llu", op.group,
          static_cast<unsigned long long>(leader_replica.id), consensus::to_string(change->kind),
          static_cast<unsigned long long>(change->node), static_cast<unsigned long long>(*index));
    after_step(view->node, leader_replica);
  }
}

// ---- Observation ------------------------------------------------------------------------------

std::optional<Cluster::LeaderView> Cluster::leader(GroupId group) const {
  std::optional<LeaderView> best;
  for (std::size_t node = 0; node < nodes_.size(); ++node) {
    // A paused process does nothing, not even as a leader (the controller runs in the leader).
    if (nodes_[node].paused) continue;
    auto found = nodes_[node].replicas.find(group);
    if (found == nodes_[node].replicas.end() || !found->second->node) continue;
    const consensus::Node& raft = *found->second->node;
    if (raft.role() != consensus::Role::leader) continue;
    if (!best || raft.term() > best->term) best = LeaderView{node, found->second->id, raft.term()};
  }
  return best;
}

std::vector<std::size_t> Cluster::nodes_hosting(GroupId group) const {
  std::vector<std::size_t> hosts;
  for (std::size_t node = 0; node < nodes_.size(); ++node) {
    if (nodes_[node].replicas.count(group) > 0) hosts.push_back(node);
  }
  return hosts;
}

std::optional<SendCommand> Cluster::propose_probe(GroupId group) {
  const std::optional<LeaderView> view = leader(group);
  if (!view) return std::nullopt;
  Replica& replica = *nodes_[view->node].replicas.at(group);
  SendCommand probe;
  probe.conversation = group;  // conversation ids congruent to the group live there
  probe.sender = 0;
  probe.client_msg_id = ++probe_sequence_;
  probe.body = "probe";
  if (!replica.node->propose(encode(probe)).ok()) return std::nullopt;
  after_step(view->node, replica);
  return probe;
}

bool Cluster::probe_applied(GroupId group, const SendCommand& probe) const {
  const std::optional<LeaderView> view = leader(group);
  if (!view) return false;
  const Replica& replica = *nodes_[view->node].replicas.at(group);
  const Conversation* conversation = replica.disk.state().machine.find(probe.conversation);
  return conversation != nullptr &&
         conversation->seq_by_client_id.count({probe.sender, probe.client_msg_id}) > 0;
}

bool Cluster::group_caught_up(GroupId group) const {
  const std::optional<LeaderView> view = leader(group);
  if (!view) return false;
  const Replica& leader_replica = *nodes_[view->node].replicas.at(group);
  const consensus::Index commit = leader_replica.node->status().commit;
  if (leader_replica.disk.state().applied_index != commit) return false;
  const consensus::Configuration& config = leader_replica.node->config();
  for (std::size_t node = 0; node < nodes_.size(); ++node) {
    auto found = nodes_[node].replicas.find(group);
    if (found == nodes_[node].replicas.end()) continue;
    const Replica& replica = *found->second;
    if (!consensus::is_member(config, replica.id)) continue;
    if (!replica.node || replica.disk.state().applied_index != commit) return false;
  }
  return true;
}

void Cluster::check_settled() {
  for (GroupId group = 0; group < config_.groups && !checker_.failed(); ++group) {
    const std::optional<LeaderView> view = leader(group);
    if (!view) {
      checker_.fail("group " + std::to_string(group) + " has no leader after settling", now_ms_);
      return;
    }
    const Replica& leader_replica = *nodes_[view->node].replicas.at(group);
    const MessagingState& reference = leader_replica.disk.state().machine;
    const consensus::Configuration& config = leader_replica.node->config();
    for (std::size_t node = 0; node < nodes_.size(); ++node) {
      auto found = nodes_[node].replicas.find(group);
      if (found == nodes_[node].replicas.end()) continue;
      const Replica& replica = *found->second;
      if (!consensus::is_member(config, replica.id)) continue;
      if (!(replica.disk.state().machine == reference)) {
        checker_.fail("group " + std::to_string(group) + ": replica " + std::to_string(replica.id) +
                          " applied a different history than " + std::to_string(leader_replica.id),
                      now_ms_);
        return;
      }
    }
    for (std::uint32_t conversation = group;
         conversation < config_.groups * config_.conversations_per_group;
         conversation += static_cast<std::uint32_t>(config_.groups)) {
      checker_.check_acknowledged(conversation, reference, now_ms_);
    }
  }
}

}  // namespace qim::sim::raft
