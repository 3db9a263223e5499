// The replication shell end to end in one process: several ReplicaHosts, each on its own
// in-memory store, linked by an in-process transport that can cut links, running a toy state
// machine. Real threads and timers, short ticks; every wait polls with a deadline.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "core/log.h"
#include "replica/partition_log.h"
#include "replica/replica_host.h"
#include "replica/snapshot_transfer.h"
#include "store/memory_kv.h"

namespace qim::replica {
namespace {

using namespace std::chrono_literals;

constexpr std::uint32_t partition_count = 4;

// Appends each command to its partition's list and stores it under the partition's prefix (so
// snapshots carry it). Commands that start with "shared-" may share a write batch; the machine
// counts every time the shell broke the contract of service/replication.h (a command written
// alone that found other writes in its batch, an after_write before the writes were stored).
class ListMachine final : public service::StateMachine {
 public:
  service::ApplyResult apply(PartitionId partition, std::span<const std::uint8_t> command,
                             store::WriteBatch& batch, bool) override {
    std::lock_guard lock(mutex_);
    std::string text(reinterpret_cast<const char*>(command.data()), command.size());
    // The batch may hold the cycle's Raft records; other commands' writes are in `log`.
    bool others = std::any_of(
        batch.ops().begin(), batch.ops().end(),
        [](const store::WriteBatch::Op& op) { return op.column == store::Column::log; });
    if (others) {
      if (shares(text)) {
        ++applied_into_shared_batch;
      } else {
        ++contract_broken;
      }
    }
    auto& list = lists_[partition];
    list.push_back(text);
    // Keyed by the command (unique in these tests), so the stored state depends only on what
    // was applied, as a state machine's must.
    std::string key = key_of(partition, text);
    batch.put(store::Column::log, key, text);
    unwritten_[partition].push_back(key);
    return {};
  }
  bool can_share_batch(std::span<const std::uint8_t> command) const override {
    return shares(std::string_view(reinterpret_cast<const char*>(command.data()), command.size()));
  }
  void after_write(PartitionId partition, bool written) override {
    std::lock_guard lock(mutex_);
    std::string value;
    for (const std::string& key : unwritten_[partition]) {
      if (!written || !kv || kv->get(store::Column::log, key, value)) ++contract_broken;
    }
    unwritten_[partition].clear();
  }
  static std::string key_of(PartitionId partition, std::string_view text) {
    return raft_keys::partition_prefix(partition) + "cmd/" + std::string(text);
  }
  void forget_partition(PartitionId partition) override {
    std::lock_guard lock(mutex_);
    lists_.erase(partition);
  }
  // Each handover appends "handover-<name>-<n>" first; `handovers_applied` counts their
  // completions (they are applied on the leader that is handing over).
  std::vector<Proposal> before_handover(PartitionId) override {
    std::string text = "handover-" + name + "-" + std::to_string(++handovers_);
    std::vector<Proposal> proposals;
    proposals.push_back(Proposal{std::vector<std::uint8_t>(text.begin(), text.end()),
                                 [this](service::ApplyResult result) {
                                   if (!result.error) ++handovers_applied;
                                 }});
    return proposals;
  }
  bool holds(PartitionId partition, const std::string& prefix) {
    std::lock_guard lock(mutex_);
    for (const std::string& text : lists_[partition]) {
      if (text.rfind(prefix, 0) == 0) return true;
    }
    return false;
  }
  std::string name;
  store::Kv* kv = nullptr;  // where the shell writes
  std::atomic<std::uint64_t> handovers_applied{0};
  std::atomic<std::uint64_t> contract_broken{0};
  std::atomic<std::uint64_t> applied_into_shared_batch{0};
  std::size_t count(PartitionId partition) {
    std::lock_guard lock(mutex_);
    return lists_[partition].size();
  }

 private:
  std::mutex mutex_;
  static bool shares(std::string_view text) { return text.starts_with("shared-"); }

  std::map<PartitionId, std::vector<std::string>> lists_;
  std::map<PartitionId, std::vector<std::string>> unwritten_;  // keys applied, not yet written
  std::uint64_t handovers_ = 0;
};

class Network;

class LoopTransport final : public Transport {
 public:
  LoopTransport(Network& network, std::string self) : network_(network), self_(std::move(self)) {}
  void send(const std::string& node, std::vector<std::uint8_t> payload) override;
  void call(const std::string& node, std::vector<std::uint8_t> payload,
            std::function<void(Error)> done) override;

 private:
  Network& network_;
  std::string self_;
};

// An in-memory store that counts its writes.
class CountingKv final : public store::Kv {
 public:
  Error get(store::Column column, std::string_view key, std::string& value) override {
    return kv_.get(column, key, value);
  }
  Error write(const store::WriteBatch& batch, bool sync) override {
    ++writes;
    return kv_.write(batch, sync);
  }
  Error write_buffered(const store::WriteBatch& batch) override {
    ++writes;
    return kv_.write_buffered(batch);
  }
  Error make_durable(bool sync) override { return kv_.make_durable(sync); }
  Error scan(store::Column column, std::string_view prefix, std::string_view start, bool reverse,
             const store::ScanVisitor& visit) override {
    return kv_.scan(column, prefix, start, reverse, visit);
  }
  std::unique_ptr<store::KvSnapshot> snapshot() override { return kv_.snapshot(); }
  std::uint64_t approximate_size_bytes() const override { return kv_.approximate_size_bytes(); }
  Error flush() override { return kv_.flush(); }
  std::atomic<std::uint64_t> writes{0};

 private:
  store::MemoryKv kv_;
};

struct TestNode {
  std::string name;
  raft::NodeId replica_id;
  CountingKv kv;
  ListMachine machine;
  std::unique_ptr<LoopTransport> transport;
  std::unique_ptr<ReplicaHost> host;
};

class Network {
 public:
  ReplicaHost* host(const std::string& name) {
    std::lock_guard lock(mutex_);
    if (blocked_.contains(name)) return nullptr;
    auto it = hosts_.find(name);
    return it == hosts_.end() ? nullptr : it->second;
  }
  void attach(const std::string& name, ReplicaHost* host) {
    std::lock_guard lock(mutex_);
    hosts_[name] = host;
  }
  void detach(const std::string& name) {
    std::lock_guard lock(mutex_);
    hosts_.erase(name);
  }
  // Cut a node off (both directions).
  void isolate(const std::string& name, bool isolated) {
    std::lock_guard lock(mutex_);
    if (isolated) {
      blocked_.insert(name);
    } else {
      blocked_.erase(name);
    }
  }
  bool blocked(const std::string& name) {
    std::lock_guard lock(mutex_);
    return blocked_.contains(name);
  }
  // Checked whenever a message leaves a node: at most one node may serve reads of a partition.
  // Counts the moments two did.
  void check_leases(std::uint32_t partitions) {
    std::lock_guard lock(mutex_);
    for (PartitionId p = 0; p < partitions; ++p) {
      int readable = 0;
      for (const auto& [name, host] : hosts_) {
        if (host->readable(p)) ++readable;
      }
      if (readable > 1) ++double_leases;
    }
  }
  std::atomic<std::uint64_t> double_leases{0};
  void note_bad_message() { ++bad_messages; }
  std::atomic<std::uint64_t> bad_messages{0};  // messages between hosts that did not verify

 private:
  std::mutex mutex_;
  std::map<std::string, ReplicaHost*> hosts_;
  std::set<std::string> blocked_;
};

void LoopTransport::send(const std::string& node, std::vector<std::uint8_t> payload) {
  network_.check_leases(partition_count);
  if (network_.blocked(self_)) return;
  ReplicaHost* host = network_.host(node);
  if (host == nullptr) return;
  Error error;
  auto message = proto::PeerMessage::verify(std::move(payload), error);
  // Host threads call this: Catch's assertions are for the test's thread, so count instead.
  if (!message.valid()) return network_.note_bad_message();
  host->on_raft_batch(self_, std::move(message));
}

void LoopTransport::call(const std::string& node, std::vector<std::uint8_t> payload,
                         std::function<void(Error)> done) {
  ReplicaHost* host = network_.blocked(self_) ? nullptr : network_.host(node);
  if (host == nullptr) return done({errc::unavailable, "unreachable"});
  Error error;
  auto message = proto::PeerMessage::verify(std::move(payload), error);
  SnapshotChunkHeader header;
  std::vector<SnapshotRow> rows;
  std::string why;
  if (!message.valid() || !decode_snapshot_chunk(*message.envelope().body_as_SnapshotChunk(),
                                                 partition_count, header, rows, why)) {
    network_.note_bad_message();
    return done({errc::malformed, "bad snapshot chunk"});
  }
  host->on_snapshot_chunk(self_, header, std::move(rows), std::move(done));
}

class Cluster {
 public:
  explicit Cluster(std::size_t count, raft::Index retained = 8'192) : retained_(retained) {
    for (std::size_t i = 0; i < count; ++i) {
      auto node = std::make_unique<TestNode>();
      node->name = "n" + std::to_string(i + 1);
      node->replica_id = 1000 + i;
      nodes_.push_back(std::move(node));
    }
  }
  ~Cluster() {
    for (auto& node : nodes_)
      stop(*node);
  }

  TestNode& node(std::size_t index) { return *nodes_[index]; }

  void start(TestNode& node, bool bootstrap) {
    HostOptions options;
    options.node_name = node.name;
    options.replica_id = node.replica_id;
    options.replicas = 3;
    options.tick = 10ms;
    options.election_ticks = 10;
    options.placement_interval = 20ms;
    options.leader_balance_interval = 200ms;
    options.membership_settle = 100ms;
    options.hint_interval = 100ms;
    options.replace_after_ms = 500;
    options.retained_entries = retained_;
    node.transport = std::make_unique<LoopTransport>(network_, node.name);
    node.host =
        std::make_unique<ReplicaHost>(options, partitions_, node.kv, *node.transport, logger_);
    node.machine.name = node.name;
    node.machine.kv = &node.kv;
    node.host->use_state_machine(node.machine);
    REQUIRE_FALSE(node.host->open(bootstrap));
    network_.attach(node.name, node.host.get());
    node.host->start();
    running_.insert(node.name);
    publish_members();
  }
  void stop(TestNode& node) {
    if (!node.host) return;
    network_.detach(node.name);
    node.host->stop();
    node.host.reset();
    running_.erase(node.name);
  }
  // What every running node is told about membership: running nodes alive, stopped ones dead
  // (since `dead_since` for the replace_after clock).
  void publish_members() {
    std::vector<replication::MemberView> views;
    auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count();
    for (auto& node : nodes_) {
      if (!ever_started_.contains(node->name) && !running_.contains(node->name)) continue;
      ever_started_.insert(node->name);
      bool up = running_.contains(node->name) && !paused_.contains(node->name);
      if (!up && !dead_since_.contains(node->name)) dead_since_[node->name] = now_ms;
      if (up) dead_since_.erase(node->name);
      views.push_back({node->name, node->replica_id,
                       up ? replication::MemberHealth::alive : replication::MemberHealth::dead,
                       up ? 0 : dead_since_[node->name], false});
    }
    for (auto& node : nodes_) {
      if (node->host) node->host->update_members(views);
    }
  }
  Network& network() { return network_; }
  // A node that keeps running but is cut off and seen dead by the others (SIGSTOP-like).
  void pause(TestNode& node, bool paused) {
    network_.isolate(node.name, paused);
    if (paused) {
      paused_.insert(node.name);
    } else {
      paused_.erase(node.name);
    }
    publish_members();
  }

  // Proposes `text` to `partition` wherever it is led; true once applied there.
  bool propose_somewhere(PartitionId partition, const std::string& text) {
    for (auto& node : nodes_) {
      if (!node->host || !node->host->readable(partition)) continue;
      std::promise<service::ApplyResult> promise;
      auto future = promise.get_future();
      std::vector<std::uint8_t> bytes(text.begin(), text.end());
      node->host->propose(partition, bytes,
                          [&promise](service::ApplyResult result) { promise.set_value(result); });
      if (future.wait_for(5s) != std::future_status::ready) {
        UNSCOPED_INFO("proposal to partition " << partition << " on " << node->name
                                               << " got no answer");
        return false;
      }
      auto result = future.get();
      if (result.error) {
        UNSCOPED_INFO("proposal to partition " << partition << " on " << node->name << ": "
                                               << result.error.message);
      }
      return !result.error;
    }
    return false;
  }

  template <typename Condition>
  static bool eventually(Condition condition, std::chrono::milliseconds limit = 10s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (condition()) return true;
      std::this_thread::sleep_for(5ms);  // poll interval
    }
    return condition();
  }

  // Every partition readable somewhere, and a proposal to each goes through; and every
  // message between hosts so far verified.
  bool all_writable(const std::string& tag) {
    CHECK(network_.bad_messages == 0);
    for (PartitionId p = 0; p < partition_count; ++p) {
      bool done = eventually([&] { return propose_somewhere(p, tag + std::to_string(p)); });
      if (!done) {
        UNSCOPED_INFO("partition " << p << " is not writable");
        for (auto& node : nodes_) {
          if (!node->host) continue;
          for (const ReplicaStatus& status : node->host->status()) {
            if (status.partition != p) continue;
            UNSCOPED_INFO(node->name << ": role " << raft::to_string(status.role) << " term "
                                     << status.term << " leader " << status.leader << " commit "
                                     << status.commit << " applied " << status.applied << " last "
                                     << status.last_index << " " << raft::to_string(status.config)
                                     << " readable " << node->host->readable(p));
          }
        }
        return false;
      }
    }
    return true;
  }

  // Every replica `node` holds is in its partition's configuration as its leader has it.
  bool no_strays(TestNode& node) {
    for (const ReplicaStatus& held : node.host->status()) {
      bool counted = false;
      for (auto& other : nodes_) {
        if (!other->host || !other->host->readable(held.partition)) continue;
        for (const ReplicaStatus& leader : other->host->status()) {
          if (leader.partition != held.partition) continue;
          const raft::Configuration& config = leader.config;
          counted = std::ranges::count(config.voters, node.replica_id) +
                        std::ranges::count(config.learners, node.replica_id) >
                    0;
        }
      }
      if (!counted) return false;
    }
    return true;
  }

  // Waits until nodes [0, nodes) each count `voters` voters in `partition`.
  bool voters_everywhere(PartitionId partition, std::size_t nodes, std::size_t voters) {
    return eventually([&] {
      for (std::size_t n = 0; n < nodes; ++n) {
        if (voters_of(*nodes_[n], partition) != voters) return false;
      }
      return true;
    });
  }

  // Waits for the node that may read `partition` (its leader); nodes_.size() if none came.
  std::size_t reader_of(PartitionId partition) {
    std::size_t reader = nodes_.size();
    eventually([&] {
      for (std::size_t n = 0; n < nodes_.size(); ++n) {
        if (nodes_[n]->host && nodes_[n]->host->readable(partition)) reader = n;
      }
      return reader < nodes_.size();
    });
    return reader;
  }

  std::size_t voters_of(TestNode& node, PartitionId partition) {
    for (const ReplicaStatus& status : node.host->status()) {
      if (status.partition == partition) return status.config.voters.size();
    }
    return 0;
  }

 private:
  core::Logger logger_{std::getenv("QIM_TEST_LOG") ? core::LogLevel::debug : core::LogLevel::warn};
  route::Partitions partitions_{partition_count, cluster::HashKey{}};
  Network network_;
  raft::Index retained_;
  std::vector<std::unique_ptr<TestNode>> nodes_;
  std::set<std::string> running_;
  std::set<std::string> paused_;
  std::set<std::string> ever_started_;
  std::map<std::string, std::int64_t> dead_since_;
};

// The commands the state machine stored for `partition` on `node` (snapshots carry them).
std::size_t stored(TestNode& node, PartitionId partition) {
  std::size_t count = 0;
  node.kv.scan(store::Column::log, raft_keys::partition_prefix(partition), {}, false,
               [&](std::string_view, std::string_view) {
                 ++count;
                 return true;
               });
  return count;
}

}  // namespace

TEST_CASE("replica host: a bootstrapped node serves every partition alone", "[replica]") {
  Cluster cluster(1);
  cluster.start(cluster.node(0), true);
  REQUIRE(cluster.node(0).host->hosted() == partition_count);
  REQUIRE(cluster.all_writable("a"));
  for (PartitionId p = 0; p < partition_count; ++p)
    CHECK(cluster.node(0).machine.count(p) == 1);
  // Restarted from its store, it has every command and takes more.
  cluster.stop(cluster.node(0));
  cluster.start(cluster.node(0), true);
  REQUIRE(cluster.all_writable("b"));
  for (PartitionId p = 0; p < partition_count; ++p)
    CHECK(cluster.node(0).machine.count(p) >= 1);
}

TEST_CASE("replica host: commands that may share a write are stored before their outcome",
          "[replica]") {
  Cluster cluster(1);
  TestNode& node = cluster.node(0);
  cluster.start(node, true);
  REQUIRE(cluster.all_writable("warm-"));
  // Many proposals at once, shared and alone mixed, so that cycles commit several together.
  constexpr int proposals = 400;
  std::atomic<int> answered{0}, failed{0}, outcome_before_write{0};
  for (int i = 0; i < proposals; ++i) {
    PartitionId partition = static_cast<PartitionId>(i % partition_count);
    std::string text = (i % 7 == 3 ? "alone-" : "shared-") + std::to_string(i);
    node.host->propose(
        partition, std::vector<std::uint8_t>(text.begin(), text.end()),
        [&, partition, text](service::ApplyResult result) {
          std::string value;
          if (result.error) ++failed;
          if (node.kv.get(store::Column::log, ListMachine::key_of(partition, text), value)) {
            ++outcome_before_write;
          }
          ++answered;
        });
  }
  REQUIRE(Cluster::eventually([&] { return answered == proposals; }));
  CHECK(failed == 0);
  CHECK(outcome_before_write == 0);
  CHECK(node.machine.contract_broken == 0);
  CHECK(node.machine.applied_into_shared_batch > 0);
  // Restarted, it has every one of them.
  cluster.stop(node);
  cluster.start(node, true);
  REQUIRE(cluster.all_writable("after-"));
  std::size_t total = 0;
  for (PartitionId p = 0; p < partition_count; ++p)
    total += stored(node, p);
  CHECK(total == proposals + 2 * partition_count);
}

TEST_CASE("replica host: one store write per ready cycle, Raft's records and the applied ones",
          "[replica]") {
  Cluster cluster(1);
  TestNode& node = cluster.node(0);
  cluster.start(node, true);
  REQUIRE(cluster.all_writable("warm-"));
  constexpr int proposals = 300;
  std::atomic<int> answered{0}, failed{0};
  std::uint64_t writes_before = node.kv.writes;
  std::uint64_t cycles_before = node.host->probe().ready_cycles;
  for (int i = 0; i < proposals; ++i) {
    std::string text = "shared-cycle-" + std::to_string(i);
    node.host->propose(static_cast<PartitionId>(i % partition_count),
                       std::vector<std::uint8_t>(text.begin(), text.end()),
                       [&](service::ApplyResult result) {
                         if (result.error) ++failed;
                         ++answered;
                       });
  }
  REQUIRE(Cluster::eventually([&] { return answered == proposals; }));
  CHECK(failed == 0);
  std::uint64_t writes = node.kv.writes - writes_before;
  std::uint64_t cycles = node.host->probe().ready_cycles - cycles_before;
  INFO(writes << " writes in " << cycles << " ready cycles");
  CHECK(cycles > 0);
  CHECK(writes <= cycles);
}

TEST_CASE("replica host: a group of one stores its commands as applied state only, not in its log",
          "[replica]") {
  Cluster cluster(1);
  TestNode& node = cluster.node(0);
  cluster.start(node, true);
  REQUIRE(cluster.all_writable("warm-"));
  auto log_keys = [&] {
    std::size_t count = 0;
    REQUIRE_FALSE(node.kv.scan(store::Column::raft_log, {}, {}, false,
                               [&](std::string_view, std::string_view) {
                                 ++count;
                                 return true;
                               }));
    return count;
  };
  constexpr int proposals = 200;
  std::atomic<int> answered{0}, failed{0};
  for (int i = 0; i < proposals; ++i) {
    std::string text = (i % 5 == 2 ? "alone-one-" : "shared-one-") + std::to_string(i);
    node.host->propose(static_cast<PartitionId>(i % partition_count),
                       std::vector<std::uint8_t>(text.begin(), text.end()),
                       [&](service::ApplyResult result) {
                         if (result.error) ++failed;
                         ++answered;
                       });
  }
  REQUIRE(Cluster::eventually([&] { return answered == proposals; }));
  CHECK(failed == 0);
  CHECK(log_keys() == 0);
  std::size_t total = 0;
  for (PartitionId p = 0; p < partition_count; ++p)
    total += stored(node, p);
  // Restarted, the log starts after the applied point: all there, nothing applied twice.
  cluster.stop(node);
  cluster.start(node, true);
  REQUIRE(cluster.all_writable("after-"));
  std::size_t after = 0;
  for (PartitionId p = 0; p < partition_count; ++p)
    after += stored(node, p);
  CHECK(after == total + partition_count);
  CHECK(node.machine.contract_broken == 0);
  CHECK(log_keys() == 0);
}

TEST_CASE("replica host: every proposal gets an outcome, even those queued when it stops",
          "[replica]") {
  Cluster cluster(1);
  TestNode& node = cluster.node(0);
  cluster.start(node, true);
  REQUIRE(cluster.all_writable("warm-"));
  constexpr int proposals = 2'000;
  std::atomic<int> answered{0}, stored_ok{0};
  for (int i = 0; i < proposals; ++i) {
    std::string text = "shared-stop-" + std::to_string(i);
    node.host->propose(static_cast<PartitionId>(i % partition_count),
                       std::vector<std::uint8_t>(text.begin(), text.end()),
                       [&](service::ApplyResult result) {
                         if (!result.error) ++stored_ok;
                         ++answered;
                       });
  }
  node.host->stop();              // with proposals still in the inbox
  for (int i = 0; i < 10; ++i) {  // and some after it
    node.host->propose(0, std::vector<std::uint8_t>{'x'},
                       [&](service::ApplyResult) { ++answered; });
  }
  INFO(answered << " of " << proposals + 10 << " answered, " << stored_ok << " stored");
  CHECK(Cluster::eventually([&] { return answered == proposals + 10; }));
}

TEST_CASE("replica host: joining nodes get replicas, and a node's death costs an election",
          "[replica]") {
  Cluster cluster(3);
  cluster.start(cluster.node(0), true);
  REQUIRE(cluster.all_writable("one-"));
  cluster.start(cluster.node(1), false);
  cluster.start(cluster.node(2), false);
  // Every partition grows to three voters.
  REQUIRE(Cluster::eventually([&] {
    for (PartitionId p = 0; p < partition_count; ++p) {
      for (std::size_t n = 0; n < 3; ++n) {
        if (cluster.voters_of(cluster.node(n), p) != 3) return false;
      }
    }
    return true;
  }));
  REQUIRE(cluster.all_writable("three-"));
  // Leaders spread: no node leads everything once balanced.
  REQUIRE(Cluster::eventually([&] {
    for (std::size_t n = 0; n < 3; ++n) {
      if (cluster.node(n).host->leaderships() == partition_count) return false;
    }
    return true;
  }));
  // Kill the node leading partition 0; the others elect and serve.
  const std::size_t leader = cluster.reader_of(0);
  REQUIRE(leader < 3);
  cluster.stop(cluster.node(leader));
  cluster.publish_members();
  REQUIRE(cluster.all_writable("after-crash-"));
  // It comes back and catches up with what it missed.
  cluster.start(cluster.node(leader), false);
  cluster.publish_members();
  REQUIRE(cluster.all_writable("back-"));
  REQUIRE(Cluster::eventually([&] {
    for (PartitionId p = 0; p < partition_count; ++p) {
      std::size_t expected = stored(cluster.node((leader + 1) % 3), p);
      if (stored(cluster.node(leader), p) != expected) return false;
    }
    return true;
  }));
}

TEST_CASE("replica host: a new replica behind a compacted log catches up from a snapshot",
          "[replica]") {
  Cluster cluster(2, /*retained=*/16);
  cluster.start(cluster.node(0), true);
  for (int i = 0; i < 100; ++i) {
    REQUIRE(
        Cluster::eventually([&] { return cluster.propose_somewhere(1, "m" + std::to_string(i)); }));
  }
  cluster.start(cluster.node(1), false);
  REQUIRE(Cluster::eventually([&] { return cluster.voters_of(cluster.node(1), 1) == 2; }));
  // The snapshot carried the stored commands: the new replica's store has all 100 of them.
  REQUIRE(Cluster::eventually([&] { return stored(cluster.node(1), 1) >= 100; }));
  REQUIRE(cluster.propose_somewhere(1, "after"));
}

TEST_CASE("replica host: an isolated leader stops serving reads and writes", "[replica]") {
  Cluster cluster(3);
  for (std::size_t n = 0; n < 3; ++n)
    cluster.start(cluster.node(n), n == 0);
  REQUIRE(cluster.voters_everywhere(2, 3, 3));
  REQUIRE(cluster.all_writable("x"));
  const std::size_t leader = cluster.reader_of(2);
  REQUIRE(leader < 3);
  cluster.network().isolate(cluster.node(leader).name, true);
  // Its lease runs out: it may not read, while the others elect a leader that may.
  REQUIRE(Cluster::eventually([&] { return !cluster.node(leader).host->readable(2); }, 3s));
  REQUIRE(Cluster::eventually([&] {
    for (std::size_t n = 0; n < 3; ++n) {
      if (n != leader && cluster.node(n).host->readable(2)) return true;
    }
    return false;
  }));
  cluster.network().isolate(cluster.node(leader).name, false);
  REQUIRE(cluster.all_writable("healed"));
}

TEST_CASE("replica host: leadership handed back and forth never leaves two nodes reading",
          "[replica]") {
  Cluster cluster(3);
  for (std::size_t n = 0; n < 3; ++n)
    cluster.start(cluster.node(n), n == 0);
  REQUIRE(Cluster::eventually([&] {
    for (std::size_t n = 0; n < 3; ++n) {
      for (PartitionId p = 0; p < partition_count; ++p) {
        if (cluster.voters_of(cluster.node(n), p) != 3) return false;
      }
    }
    return true;
  }));
  REQUIRE(cluster.all_writable("before"));
  std::uint64_t handovers = 0;
  for (int round = 0; round < 20; ++round) {
    // The node leading partition 0 hands everything it leads over, while proposals go on.
    const std::size_t from = cluster.reader_of(0);
    REQUIRE(from < 3);
    std::uint64_t applied_before = cluster.node(from).machine.handovers_applied;
    cluster.node(from).host->transfer_all_leaderships();
    REQUIRE(cluster.all_writable("round" + std::to_string(round) + "-"));
    if (cluster.node(from).machine.handovers_applied > applied_before) ++handovers;
  }
  CHECK(cluster.network().double_leases == 0);
  // Handover commands were appended before the transfers (partition 0's every round) and
  // applied everywhere.
  CHECK(handovers > 0);
  CHECK(Cluster::eventually([&] {
    for (std::size_t n = 0; n < 3; ++n) {
      if (!cluster.node(n).machine.holds(0, "handover-")) return false;
    }
    return true;
  }));
}

TEST_CASE("replica host: what a flush takes is appended before a handover, or not taken",
          "[replica]") {
  // A flush's take runs on the host's thread in turn with the handover's: asked right after a
  // handover began, it is not called (the transfer would refuse its commands, and what it took
  // would go with the leadership); asked while leading, its commands apply everywhere.
  Cluster cluster(3);
  for (std::size_t n = 0; n < 3; ++n)
    cluster.start(cluster.node(n), n == 0);
  REQUIRE(cluster.voters_everywhere(0, 3, 3));
  REQUIRE(cluster.all_writable("before"));
  const std::size_t from = cluster.reader_of(0);
  REQUIRE(from < 3);
  std::atomic<int> takes{0};
  auto take = [&](std::string text) {
    return [&takes, text] {
      ++takes;
      std::vector<service::StateMachine::Proposal> commands;
      commands.push_back(
          {std::vector<std::uint8_t>(text.begin(), text.end()), [](service::ApplyResult) {}});
      return commands;
    };
  };
  cluster.node(from).host->propose_taken(0, take("taken-while-leading"));
  REQUIRE(Cluster::eventually([&] {
    for (std::size_t n = 0; n < 3; ++n) {
      if (!cluster.node(n).machine.holds(0, "taken-while-leading")) return false;
    }
    return true;
  }));
  CHECK(takes == 1);
  // Queued right behind the handover: the transfer is under way when it runs.
  cluster.node(from).host->transfer_all_leaderships();
  cluster.node(from).host->propose_taken(0, take("taken-during-handover"));
  REQUIRE(Cluster::eventually([&] {
    for (std::size_t n = 0; n < 3; ++n) {
      if (n != from && cluster.node(n).host->readable(0)) return true;
    }
    return false;
  }));
  REQUIRE(cluster.all_writable("after"));
  CHECK(takes == 1);
  for (std::size_t n = 0; n < 3; ++n)
    CHECK_FALSE(cluster.node(n).machine.holds(0, "taken-during-handover"));
}

TEST_CASE("replica host: replicas removed while their node was away are told to go when it is back",
          "[replica]") {
  Cluster cluster(4);
  for (std::size_t n = 0; n < 3; ++n)
    cluster.start(cluster.node(n), n == 0);
  REQUIRE(Cluster::eventually([&] {
    for (PartitionId p = 0; p < partition_count; ++p) {
      if (cluster.voters_of(cluster.node(2), p) != 3) return false;
    }
    return true;
  }));
  REQUIRE(cluster.all_writable("x"));
  cluster.start(cluster.node(3), false);
  // n3 goes silent long enough to be replaced everywhere by n4; it never hears of it.
  TestNode& away = cluster.node(2);
  cluster.pause(away, true);
  REQUIRE(Cluster::eventually([&] {
    for (PartitionId p = 0; p < partition_count; ++p) {
      for (std::size_t n : {0u, 1u, 3u}) {
        if (cluster.voters_of(cluster.node(n), p) != 3) return false;
      }
      for (const ReplicaStatus& status : cluster.node(0).host->status()) {
        if (status.partition == p &&
            std::find(status.config.voters.begin(), status.config.voters.end(), away.replica_id) !=
                status.config.voters.end()) {
          return false;
        }
      }
    }
    return true;
  }));
  REQUIRE(!away.host->status().empty());
  // Back: every replica it still holds belongs to a configuration that has moved on. Each
  // must go (balancing may give it new ones, which its partitions' leaders then count).
  cluster.pause(away, false);
  REQUIRE(Cluster::eventually([&] { return cluster.no_strays(away); }, 20s));
  REQUIRE(cluster.all_writable("y"));
}

TEST_CASE("replica host: a replica whose removal was applied before a crash is dropped at start",
          "[replica]") {
  Cluster cluster(1);
  TestNode& node = cluster.node(0);
  // What a kill -9 right after applying its own removal leaves: partition 2's configuration
  // no longer has this replica, and no drop happened.
  {
    PartitionLog log(node.kv, 2);
    store::WriteBatch batch;
    raft::Configuration others{{1, 2, 3}, {}};
    log.bootstrap(raft::bootstrap_snapshot(others), raft::bootstrap_hard_state(), batch);
    REQUIRE_FALSE(node.kv.write(batch, true));
  }
  cluster.start(node, false);
  // Its only replica: it must go (kept, nothing would ever contact it again).
  REQUIRE(Cluster::eventually([&] { return node.host->hosted() == 0; }, 10s));
}

}  // namespace qim::replica
