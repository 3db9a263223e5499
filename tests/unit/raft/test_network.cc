#include "tests/unit/raft/test_network.h"

#include <catch2/catch.hpp>

#include <algorithm>

#include "replication/raft/codec.h"
#include "replication/raft/configuration.h"

namespace qim::replication::raft::testing {
namespace {

// Bounds every loop of the harness, so that a livelock fails a test instead of hanging it.
constexpr std::size_t kMaxDeliveries = 200'000;

}  // namespace

TestNetwork::TestNetwork(std::vector<NodeId> voters, Tweak tweak, std::uint64_t seed)
    : tweak_(std::move(tweak)), seed_(seed) {
  std::sort(voters.begin(), voters.end());
  Configuration config;
  config.voters = voters;
  for (NodeId id : voters) {
    Replica& replica = replicas_[id];
    replica.id = id;
    replica.storage = MemoryStorage(bootstrap_snapshot(config), bootstrap_hard_state());
    replica.applied_index = 1;
    replica.applied_term = kBootstrapTerm;
    replica.applied_config = config;
    replica.node = std::make_unique<Node>(options_for(id), replica.storage);
    replica.node->invariants();
  }
}

Options TestNetwork::options_for(NodeId id) const {
  Options options;
  options.id = id;
  options.random_seed = seed_;
  if (tweak_) tweak_(options);
  options.id = id;
  return options;
}

Replica& TestNetwork::replica(NodeId id) {
  auto found = replicas_.find(id);
  REQUIRE(found != replicas_.end());
  return found->second;
}

std::vector<NodeId> TestNetwork::ids() const {
  std::vector<NodeId> ids;
  for (const auto& [id, replica] : replicas_)
    ids.push_back(id);
  return ids;
}

void TestNetwork::add_empty_replica(NodeId id) {
  Replica& replica = replicas_[id];
  replica.id = id;
  replica.node = std::make_unique<Node>(options_for(id), replica.storage);
}

void TestNetwork::preset_log(NodeId id, const std::vector<Term>& terms, Term term, NodeId vote) {
  Replica& replica = this->replica(id);
  std::vector<Entry> entries;
  for (std::size_t k = 0; k < terms.size(); ++k) {
    const Index index = 2 + k;
    entries.push_back(Entry{terms[k], index, EntryKind::normal,
                            std::to_string(index) + "/" + std::to_string(terms[k])});
  }
  replica.storage.append(std::move(entries));
  replica.storage.set_hard_state(HardState{term, vote, replica.applied_index});
  restart(id);
}

std::vector<Term> TestNetwork::log_terms(NodeId id) {
  Replica& replica = this->replica(id);
  std::vector<Term> terms;
  const Index first = std::max<Index>(2, replica.storage.first_index());
  const Index last = replica.storage.last_index();
  if (last < first) return terms;
  for (const Entry& entry : replica.storage.entries(first, last + 1, SIZE_MAX)) {
    terms.push_back(entry.term);
  }
  return terms;
}

void TestNetwork::restart(NodeId id) {
  Replica& replica = this->replica(id);
  replica.crashed = false;
  replica.received_snapshot.reset();
  Options options = options_for(id);
  options.applied = replica.applied_index;
  replica.node = std::make_unique<Node>(options, replica.storage);
  replica.node->invariants();
}

void TestNetwork::handle_ready(Replica& replica) {
  Node& node = *replica.node;
  for (int round = 0; node.has_ready(); ++round) {
    REQUIRE(round < 1000);
    Ready ready = node.ready();
    if (ready.snapshot) {
      REQUIRE(replica.received_snapshot);
      REQUIRE(replica.received_snapshot->first.index == ready.snapshot->index);
      replica.storage.install_snapshot(*ready.snapshot);
      replica.applied_data = std::move(replica.received_snapshot->second);
      replica.applied_index = ready.snapshot->index;
      replica.applied_term = ready.snapshot->term;
      replica.applied_config = ready.snapshot->config;
      replica.received_snapshot.reset();
    }
    if (!ready.entries.empty()) replica.storage.append(std::move(ready.entries));
    if (ready.hard_state) replica.storage.set_hard_state(*ready.hard_state);
    for (Message& message : ready.messages) {
      REQUIRE(message.from == replica.id);
      if (message.type == MessageType::snapshot) {
        // The shell streams its live state: possibly newer than what the core asked for.
        message.snapshot = state_snapshot_meta(replica);
      }
      if (message.type == MessageType::snapshot) {
        snapshot_data_[{message.from, message.to, message.snapshot.index}] = replica.applied_data;
      }
      sent_.push_back(message);
      queue_.push_back(std::move(message));
    }
    for (const Entry& entry : ready.committed_entries) {
      REQUIRE(entry.index == replica.applied_index + 1);
      if (entry.kind == EntryKind::config_change) {
        ConfigChange change;
        REQUIRE(decode(entry.data, change));
        apply_change(replica.applied_config, change);
      } else if (!entry.data.empty()) {
        replica.applied_data.push_back(entry.data);
      }
      replica.applied_index = entry.index;
      replica.applied_term = entry.term;
    }
    replica.storage.set_snapshot(state_snapshot_meta(replica));
    node.advance();
    node.invariants();
    if (node.role() == Role::leader) {
      auto [it, inserted] = leaders_.emplace(node.term(), replica.id);
      REQUIRE(it->second == replica.id);  // one leader per term
    }
  }
}

SnapshotMeta TestNetwork::state_snapshot_meta(const Replica& replica) const {
  return SnapshotMeta{replica.applied_index, replica.applied_term, replica.applied_config};
}

void TestNetwork::compact(NodeId id, Index first_kept) {
  Replica& replica = this->replica(id);
  replica.storage.set_snapshot(state_snapshot_meta(replica));
  replica.storage.compact(first_kept);
}

bool TestNetwork::blocked(const Message& message) const {
  for (const auto& [from, to] : cuts_) {
    if (message.from == from && message.to == to) return true;
  }
  return drop_ && drop_(message);
}

void TestNetwork::deliver(Message message) {
  auto found = replicas_.find(message.to);
  const bool lost = found == replicas_.end() || found->second.crashed || blocked(message);
  if (message.type == MessageType::snapshot) {
    Replica& sender = replica(message.from);
    if (lost) {
      if (!sender.crashed) {
        sender.node->report_snapshot(message.to, false);
        handle_ready(sender);
      }
      return;
    }
    auto data = snapshot_data_.find({message.from, message.to, message.snapshot.index});
    REQUIRE(data != snapshot_data_.end());
    found->second.received_snapshot = std::make_pair(message.snapshot, data->second);
  }
  if (lost) return;
  Replica& target = found->second;
  const NodeId from = message.from;
  const NodeId to = message.to;
  const bool snapshot = message.type == MessageType::snapshot;
  const Error error = target.node->step(std::move(message));
  REQUIRE_FALSE(error);
  target.node->invariants();
  handle_ready(target);
  if (snapshot) {
    Replica& sender = replica(from);
    if (!sender.crashed) {
      sender.node->report_snapshot(to, true);
      handle_ready(sender);
    }
  }
}

void TestNetwork::process_readies() {
  for (auto& [id, replica] : replicas_) {
    if (!replica.crashed) handle_ready(replica);
  }
}

void TestNetwork::deliver_all() {
  for (std::size_t delivered = 0; !queue_.empty(); ++delivered) {
    REQUIRE(delivered < kMaxDeliveries);
    Message message = std::move(queue_.front());
    queue_.pop_front();
    if (hold_ && hold_(message)) {
      held_.push_back(std::move(message));
      continue;
    }
    deliver(std::move(message));
  }
}

void TestNetwork::stabilize() {
  process_readies();
  deliver_all();
  process_readies();
  deliver_all();
}

void TestNetwork::tick(NodeId id, int n) {
  Replica& replica = this->replica(id);
  for (int i = 0; i < n; ++i) {
    if (replica.crashed) return;
    replica.node->tick();
    replica.node->invariants();
    handle_ready(replica);
  }
}

void TestNetwork::tick_all(int n) {
  for (int i = 0; i < n; ++i) {
    for (auto& [id, replica] : replicas_)
      tick(id, 1);
  }
}

void TestNetwork::elect(NodeId id) {
  node(id).campaign();
  stabilize();
  REQUIRE(node(id).role() == Role::leader);
}

Index TestNetwork::propose(NodeId id, const std::string& data) {
  Result<Index> index = node(id).propose(data);
  REQUIRE(index.ok());
  stabilize();
  return *index;
}

Index TestNetwork::change_config(NodeId leader, ConfigChangeKind kind, NodeId node) {
  Result<Index> index = this->node(leader).propose_config_change({kind, node});
  INFO(index.error().message);
  REQUIRE(index.ok());
  stabilize();
  tick(leader);  // heartbeats carry the commit index to everyone
  stabilize();
  return *index;
}

void TestNetwork::isolate(NodeId id) {
  for (const auto& [other, replica] : replicas_) {
    if (other == id) continue;
    cuts_.emplace_back(id, other);
    cuts_.emplace_back(other, id);
  }
}

void TestNetwork::cut(NodeId a, NodeId b) {
  cuts_.emplace_back(a, b);
  cuts_.emplace_back(b, a);
}

void TestNetwork::cut_one_way(NodeId from, NodeId to) {
  cuts_.emplace_back(from, to);
}

void TestNetwork::heal() {
  cuts_.clear();
  drop_ = nullptr;
  hold_ = nullptr;
}

void TestNetwork::release_held() {
  while (!held_.empty()) {
    queue_.push_back(std::move(held_.front()));
    held_.pop_front();
  }
}

std::size_t TestNetwork::count_sent(MessageType type, NodeId from, NodeId to) const {
  return static_cast<std::size_t>(std::count_if(sent_.begin(), sent_.end(), [&](const Message& m) {
    return m.type == type && (from == kNoNode || m.from == from) && (to == kNoNode || m.to == to);
  }));
}

NodeId TestNetwork::leader_of_term(Term term) const {
  auto found = leaders_.find(term);
  return found == leaders_.end() ? kNoNode : found->second;
}

std::optional<NodeId> TestNetwork::current_leader() const {
  std::optional<NodeId> leader;
  Term best = 0;
  for (const auto& [id, replica] : replicas_) {
    if (replica.crashed || replica.node->role() != Role::leader) continue;
    if (!leader || replica.node->term() > best) {
      leader = id;
      best = replica.node->term();
    }
  }
  return leader;
}

}  // namespace qim::replication::raft::testing
