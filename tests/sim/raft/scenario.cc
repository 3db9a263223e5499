#include "tests/sim/raft/scenario.h"

#include <algorithm>
#include <map>
#include <optional>

#include "tests/sim/raft/cluster.h"

namespace qim::sim::raft {
namespace {

class Dice {
 public:
  explicit Dice(std::uint64_t seed) : random_(seed) {}
  std::uint64_t below(std::uint64_t bound) { return random_.below(bound); }
  std::uint64_t next() { return random_.next(); }
  bool chance(double probability) {
    return static_cast<double>(random_.next() >> 11) * 0x1.0p-53 < probability;
  }
  std::int64_t between(std::int64_t low, std::int64_t high) {
    return low + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(high - low) + 1));
  }
  template <typename T>
  const T& pick(const std::vector<T>& values) {
    return values[below(values.size())];
  }

 private:
  consensus::Random random_;
};

ClusterConfig shape(Dice& dice, const ScenarioOptions& options, bool churn) {
  ClusterConfig config;
  config.nodes = options.large ? 3 + dice.below(5) : 3 + dice.below(3);
  config.groups = options.large ? 4 + dice.below(13) : 4 + dice.below(5);
  config.replicas_per_group = config.nodes >= 5 && dice.chance(0.3) ? 5 : 3;
  config.clients = 2 + dice.below(options.large ? 8 : 6);
  config.sends_per_client = options.large ? 400 : 80;
  config.power_loss = dice.chance(0.3);
  config.crash_mid_cycle = config.power_loss ? 0.0005 : 0.0;
  config.compaction = dice.pick(std::vector<double>{0.0, 0.01, 0.05});
  config.raft.election_ticks = 10;
  config.raft.heartbeat_ticks = 1;
  config.raft.max_inflight_messages = dice.pick(std::vector<std::size_t>{2, 16, 256});
  config.raft.max_message_bytes = dice.pick(std::vector<std::size_t>{1, 512, 1 << 20});
  config.raft.max_uncommitted_bytes = dice.pick(std::vector<std::size_t>{2048, 64 << 20});
  if (churn) {
    // Shorter terms and more groups: more elections, each group an independent try.
    config.raft.election_ticks = 5;
    config.groups = 8 + dice.below(9);
    config.isolate_new_leaders = dice.pick(std::vector<double>{0.5, 0.9});
    config.isolate_at_first_commit = dice.pick(std::vector<double>{0.2, 0.5});
    config.config_chaos = dice.pick(std::vector<double>{0.0, 0.3, 0.6});
    config.raft.max_message_bytes = 1;  // one entry per append: the widest windows
  }
  config.quiesce = dice.pick(std::vector<double>{0.0, 0.1, 0.5});
  // qimd's way (followers learn the commit index with the next append or heartbeat) and the
  // eager one.
  config.raft.announce_commit = dice.chance(0.3);
  config.check_invariants = options.check_invariants;
  config.trace = options.trace;
  return config;
}

NetworkFaults random_network(Dice& dice) {
  NetworkFaults faults;
  faults.loss = dice.pick(std::vector<double>{0.0, 0.01, 0.05, 0.15});
  faults.duplication = dice.pick(std::vector<double>{0.0, 0.02, 0.1});
  faults.delay_min_ms = 1;
  faults.delay_max_ms = dice.between(2, 12);
  faults.long_delay = dice.pick(std::vector<double>{0.0, 0.01, 0.05});
  faults.long_delay_max_ms = dice.between(20, 150);
  return faults;
}

// The kinds of fault a run may inject. Each seed enables its own mix (swarm testing): a run
// with few kinds of fault goes deeper into each.
enum class Fault : std::uint8_t {
  heal,
  symmetric_partition,
  one_way_links,
  bridge_partition,
  isolate_node,
  crash_node,
  crash_leader,
  isolate_leader,
  network_change,
  replica_change,
  transfer,
  pause_node,
  pause_leader,
  // Pause a group's leader and move one of its followers away while it sleeps; when it resumes
  // the group's new leader crashes. The removed replica was dropped, and the old leader, back
  // with its old configuration and nobody leading, asks it again (and for its vote).
  pause_leader_move_follower,
  count,
};

std::vector<Fault> fault_mix(Dice& dice) {
  std::vector<Fault> mix = {Fault::heal, Fault::heal};
  for (int kind = 1; kind < static_cast<int>(Fault::count); ++kind) {
    if (dice.chance(0.6)) {
      mix.push_back(static_cast<Fault>(kind));
      if (dice.chance(0.3)) mix.push_back(static_cast<Fault>(kind));  // weigh it twice
    }
  }
  return mix;
}

// The node of some group's leader, if any.
std::optional<std::size_t> a_leader_node(Cluster& cluster, Dice& dice) {
  const std::size_t groups = cluster.group_count();
  const std::size_t start = dice.below(groups);
  for (std::size_t k = 0; k < groups; ++k) {
    if (auto view = cluster.leader(static_cast<GroupId>((start + k) % groups))) return view->node;
  }
  return std::nullopt;
}

// The nodes that host no replica of `group`.
std::vector<std::size_t> free_nodes(const Cluster& cluster, GroupId group) {
  const std::vector<std::size_t> hosts = cluster.nodes_hosting(group);
  std::vector<std::size_t> free;
  for (std::size_t n = 0; n < cluster.node_count(); ++n) {
    if (std::find(hosts.begin(), hosts.end(), n) == hosts.end()) free.push_back(n);
  }
  return free;
}

void isolate(Cluster& cluster, std::size_t node) {
  for (std::size_t other = 0; other < cluster.node_count(); ++other) {
    cluster.block(node, other);
    cluster.block(other, node);
  }
}

// One fault (or repair) from the run's mix.
// Faults in progress: nodes to restart and to resume (at a time), and groups whose leader
// crashes when a given node resumes.
struct Pending {
  std::map<std::size_t, std::int64_t> restart_at;
  std::map<std::size_t, std::int64_t> resume_at;
  std::map<std::size_t, GroupId> crash_leader_at_resume;
};

void crash_for(Cluster& cluster, Dice& dice, Pending& pending, std::size_t node) {
  if (!cluster.up(node)) return;
  cluster.crash(node);
  // Sometimes back at once (votes and appends still in flight), sometimes long after.
  pending.restart_at[node] =
      cluster.now_ms() + (dice.chance(0.5) ? dice.between(5, 60) : dice.between(60, 1500));
}

void inject_fault(Cluster& cluster, Dice& dice, const std::vector<Fault>& mix, Pending& pending,
                  std::FILE* trace) {
  const std::size_t nodes = cluster.node_count();
  auto note = [&](const char* what) {
    if (trace != nullptr) {
      std::fprintf(trace, "%7lld ms  fault: %s\n", static_cast<long long>(cluster.now_ms()), what);
    }
  };
  auto crash = [&](std::size_t node) { crash_for(cluster, dice, pending, node); };
  auto pause = [&](std::size_t node) {
    if (!cluster.up(node) || cluster.paused(node)) return;
    cluster.pause(node);
    // Short stalls (a GC pause, a slow disk) and long ones (SIGSTOP) that outlast elections.
    pending.resume_at[node] =
        cluster.now_ms() + (dice.chance(0.3) ? dice.between(5, 100) : dice.between(100, 2000));
  };
  switch (dice.pick(mix)) {
    case Fault::heal:
      note("heal links");
      cluster.heal_links();
      break;
    case Fault::symmetric_partition: {
      note("symmetric partition");
      cluster.heal_links();
      std::vector<bool> side(nodes);
      for (std::size_t n = 0; n < nodes; ++n)
        side[n] = dice.chance(0.5);
      for (std::size_t a = 0; a < nodes; ++a) {
        for (std::size_t b = 0; b < nodes; ++b) {
          if (side[a] != side[b]) cluster.block(a, b);
        }
      }
      break;
    }
    case Fault::one_way_links:
      note("one-way link failures");
      for (int k = 0; k < 1 + static_cast<int>(dice.below(3)); ++k) {
        cluster.block(dice.below(nodes), dice.below(nodes));
      }
      break;
    case Fault::bridge_partition: {
      // A bridge node sees both halves, which do not see each other.
      note("bridge partition");
      cluster.heal_links();
      const std::size_t bridge = dice.below(nodes);
      for (std::size_t a = 0; a < nodes; ++a) {
        for (std::size_t b = 0; b < nodes; ++b) {
          if (a != bridge && b != bridge && a % 2 != b % 2) cluster.block(a, b);
        }
      }
      break;
    }
    case Fault::isolate_node:
      note("isolate a node");
      isolate(cluster, dice.below(nodes));
      break;
    case Fault::crash_node:
      crash(dice.below(nodes));
      break;
    case Fault::crash_leader:
      if (auto node = a_leader_node(cluster, dice)) crash(*node);
      break;
    case Fault::isolate_leader:
      if (auto node = a_leader_node(cluster, dice)) {
        note("isolate a leader's node");
        isolate(cluster, *node);
      }
      break;
    case Fault::network_change:
      note("network changes");
      cluster.set_network(random_network(dice));
      break;
    case Fault::replica_change: {
      const GroupId group = static_cast<GroupId>(dice.below(cluster.group_count()));
      if (cluster.op_in_progress(group) || cluster.ops_in_progress() >= 2) break;
      const std::vector<std::size_t> hosts = cluster.nodes_hosting(group);
      if (dice.chance(0.3) || hosts.size() >= nodes) {
        cluster.start_wipe(group, dice.pick(hosts));
      } else {
        cluster.start_move(group, dice.pick(hosts), dice.pick(free_nodes(cluster, group)));
      }
      break;
    }
    case Fault::transfer:
      cluster.transfer_leadership(static_cast<GroupId>(dice.below(cluster.group_count())));
      break;
    case Fault::pause_node:
      pause(dice.below(nodes));
      break;
    case Fault::pause_leader:
      if (auto node = a_leader_node(cluster, dice)) pause(*node);
      break;
    case Fault::pause_leader_move_follower: {
      const GroupId group = static_cast<GroupId>(dice.below(cluster.group_count()));
      const std::optional<Cluster::LeaderView> view = cluster.leader(group);
      if (!view || cluster.op_in_progress(group)) break;
      std::vector<std::size_t> followers = cluster.nodes_hosting(group);
      std::erase(followers, view->node);
      const std::vector<std::size_t> free = free_nodes(cluster, group);
      if (followers.empty() || free.empty()) break;
      note("pause a leader's node and move one of its followers away");
      cluster.pause(view->node);  // leader() names only nodes that are up and not paused
      // Long enough for an election and the move (learner, catch-up, promotion, removal).
      pending.resume_at[view->node] = cluster.now_ms() + dice.between(600, 2500);
      cluster.start_move(group, dice.pick(followers), dice.pick(free));
      pending.crash_leader_at_resume[view->node] = group;
      break;
    }
    case Fault::count:
      break;
  }
}

std::string describe(const ClusterConfig& config, const NetworkFaults& network, bool churn,
                     const Cluster& cluster) {
  char line[512];
  std::snprintf(line, sizeof(line),
                "nodes=%zu groups=%zu replicas=%zu %s%s loss=%.2f inflight=%zu msg_bytes=%zu | "
                "acked=%llu committed=%zu leaders=%zu changes=%llu snapshots=%llu "
                "power_cuts_mid_cycle=%llu quiet=%llu pauses=%llu revived=%llu messages=%llu",
                config.nodes, config.groups, config.replicas_per_group,
                config.power_loss ? "fsync/power-cut" : "process-crash", churn ? " churn" : "",
                network.loss, config.raft.max_inflight_messages, config.raft.max_message_bytes,
                static_cast<unsigned long long>(cluster.acknowledged()),
                cluster.checker().committed_entries(), cluster.checker().leaders(),
                static_cast<unsigned long long>(cluster.config_changes_done()),
                static_cast<unsigned long long>(cluster.snapshots_sent()),
                static_cast<unsigned long long>(cluster.power_cuts_mid_cycle()),
                static_cast<unsigned long long>(cluster.quiesced_groups()),
                static_cast<unsigned long long>(cluster.pauses()),
                static_cast<unsigned long long>(cluster.revived_replicas()),
                static_cast<unsigned long long>(cluster.messages_sent()));
  return line;
}

}  // namespace

ScenarioReport run_scenario(const ScenarioOptions& options) {
  Dice dice(options.seed);
  // Two runs in five churn leaders hard: faults aimed at leaders every few ticks and at
  // new leaders right after their election, healing in between. This is what builds divergent
  // uncommitted tails across terms (figure 8).
  const bool churn = dice.chance(0.4);
  const ClusterConfig config = shape(dice, options, churn);
  Cluster cluster(config, dice.next());
  Pending pending;
  std::vector<Fault> mix = fault_mix(dice);
  std::int64_t fault_gap_max_ms = dice.pick(std::vector<std::int64_t>{100, 250, 500});
  if (churn) {
    mix = {Fault::heal,           Fault::heal,
           Fault::isolate_leader, Fault::isolate_leader,
           Fault::crash_leader,   Fault::one_way_links,
           Fault::pause_leader,   Fault::pause_leader_move_follower};
    fault_gap_max_ms = 60;
  }
  NetworkFaults first_network = random_network(dice);
  if (churn) {
    first_network.loss = std::max(first_network.loss, 0.05);
    first_network.long_delay = 0.05;
  }
  cluster.set_network(first_network);
  const std::int64_t active_ms = options.large ? 4 * options.active_ms : options.active_ms;

  // Faults while clients send.
  std::int64_t next_fault_ms = dice.between(100, 300);
  // Restarts are due at their own times, not only when the next fault comes.
  while (cluster.now_ms() < active_ms && !cluster.checker().failed()) {
    std::int64_t step_ms = std::min(next_fault_ms, active_ms);
    for (const auto& [node, at] : pending.restart_at)
      step_ms = std::min(step_ms, at);
    for (const auto& [node, at] : pending.resume_at)
      step_ms = std::min(step_ms, at);
    cluster.run_until(step_ms);
    for (auto it = pending.restart_at.begin(); it != pending.restart_at.end();) {
      if (it->second <= cluster.now_ms()) {
        cluster.restart(it->first);
        it = pending.restart_at.erase(it);
      } else {
        ++it;
      }
    }
    for (auto it = pending.resume_at.begin(); it != pending.resume_at.end();) {
      if (it->second > cluster.now_ms()) {
        ++it;
        continue;
      }
      const std::size_t node = it->first;
      it = pending.resume_at.erase(it);
      cluster.resume(node);
      auto crash_leader = pending.crash_leader_at_resume.find(node);
      if (crash_leader == pending.crash_leader_at_resume.end()) continue;
      const std::optional<Cluster::LeaderView> view = cluster.leader(crash_leader->second);
      pending.crash_leader_at_resume.erase(crash_leader);
      if (view && view->node != node) crash_for(cluster, dice, pending, view->node);
    }
    if (cluster.now_ms() >= next_fault_ms) {
      inject_fault(cluster, dice, mix, pending, options.trace);
      next_fault_ms = cluster.now_ms() + dice.between(10, fault_gap_max_ms);
    }
  }

  // Heal everything; no new client sends (retries continue).
  if (options.trace != nullptr) {
    std::fprintf(options.trace, "%7lld ms  heal everything\n",
                 static_cast<long long>(cluster.now_ms()));
  }
  cluster.heal_links();
  cluster.set_network(NetworkFaults{});
  cluster.set_crash_mid_cycle(0.0);
  cluster.set_chaos(0.0);
  for (std::size_t node = 0; node < cluster.node_count(); ++node) {
    cluster.restart(node);
    cluster.resume(node);
  }
  cluster.set_clients_active(false);
  const std::int64_t healed_ms = cluster.now_ms();

  // Liveness: every group elects a leader and commits a new proposal within the bound.
  std::map<GroupId, SendCommand> probes;
  std::vector<bool> live(cluster.group_count(), false);
  std::size_t live_count = 0;
  while (live_count < live.size() && !cluster.checker().failed()) {
    if (cluster.now_ms() - healed_ms > options.liveness_limit_ms) {
      std::string stuck;
      for (GroupId group = 0; group < live.size(); ++group) {
        if (!live[group]) stuck += " " + std::to_string(group);
      }
      cluster.checker().fail("groups" + stuck + " elected no leader or committed nothing within " +
                                 std::to_string(options.liveness_limit_ms) + "ms of healing",
                             cluster.now_ms());
      break;
    }
    cluster.run_for(config.tick_ms);
    for (GroupId group = 0; group < live.size(); ++group) {
      if (live[group]) continue;
      auto probe = probes.find(group);
      if (probe != probes.end() && cluster.probe_applied(group, probe->second)) {
        live[group] = true;
        ++live_count;
        continue;
      }
      // (Re)propose every few ticks: a proposal may be lost with a leadership change.
      if (probe == probes.end() || (cluster.now_ms() - healed_ms) % 200 == 0) {
        if (std::optional<SendCommand> proposed = cluster.propose_probe(group)) {
          probes[group] = *proposed;
        }
      }
    }
  }

  // Settle: replica changes finish, clients finish their retries, every member catches up.
  const std::int64_t settle_start_ms = cluster.now_ms();
  while (!cluster.checker().failed()) {
    bool settled = cluster.ops_in_progress() == 0;
    for (GroupId group = 0; settled && group < cluster.group_count(); ++group) {
      settled = cluster.group_caught_up(group);
    }
    if (settled) {
      // One more heartbeat round so that nothing is in flight, then check.
      cluster.run_for(5 * config.tick_ms);
      bool still = cluster.ops_in_progress() == 0;
      for (GroupId group = 0; still && group < cluster.group_count(); ++group) {
        still = cluster.group_caught_up(group);
      }
      if (still) break;
    }
    if (cluster.now_ms() - settle_start_ms > options.settle_limit_ms) {
      cluster.checker().fail(
          "the cluster did not settle within " + std::to_string(options.settle_limit_ms) + "ms",
          cluster.now_ms());
      break;
    }
    cluster.run_for(config.tick_ms);
  }
  if (!cluster.checker().failed()) cluster.check_settled();

  ScenarioReport report;
  report.ok = !cluster.checker().failed();
  if (!report.ok) report.failure = cluster.checker().failure();
  report.summary = describe(config, first_network, churn, cluster);
  report.acknowledged = cluster.acknowledged();
  report.committed_entries = cluster.checker().committed_entries();
  report.config_changes = cluster.config_changes_done();
  report.snapshots = cluster.snapshots_sent();
  report.messages = cluster.messages_sent();
  report.pauses = cluster.pauses();
  report.revived = cluster.revived_replicas();
  return report;
}

std::vector<std::int64_t> measure_election_times(std::uint64_t seed, int crashes,
                                                 std::int64_t& election_timeout_ms) {
  Dice dice(seed);
  ClusterConfig config;
  config.nodes = 5;
  config.groups = 8;
  config.replicas_per_group = 3;
  config.clients = 2;
  config.raft.election_ticks = 10;
  config.check_invariants = false;
  election_timeout_ms = config.raft.election_ticks * config.tick_ms;
  Cluster cluster(config, dice.next());
  cluster.run_for(2000);
  for (int crash = 0; crash < crashes; ++crash) {
    // Crash the node of some group's leader; bring it back after the others have elected.
    std::optional<Cluster::LeaderView> view;
    for (GroupId group = 0; group < config.groups && !view; ++group) {
      view = cluster.leader(static_cast<GroupId>((crash + group) % config.groups));
    }
    if (!view) {
      cluster.run_for(500);
      continue;
    }
    cluster.crash(view->node);
    cluster.run_for(1000);
    cluster.restart(view->node);
    cluster.run_for(500 + dice.between(0, 300));
  }
  return cluster.election_times_ms();
}

}  // namespace qim::sim::raft
