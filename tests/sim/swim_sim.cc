#include "tests/sim/swim_sim.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "cluster/swim/codec.h"

namespace qim::sim {

struct Simulator::Event {
  std::int64_t time_ms = 0;
  std::uint64_t order = 0;  // FIFO among events at the same time.
  EventKind kind = EventKind::tick;
  std::size_t node = 0;
  std::uint64_t generation = 0;  // The node's life the event belongs to.
  std::uint64_t tick_token = 0;
  std::size_t peer = 0;  // push-pull: the other side.
  std::uint64_t peer_generation = 0;
  std::string from_address;
  std::vector<std::uint8_t> bytes;
};

struct Simulator::Node {
  std::string name;
  std::string address;
  std::uint64_t generation = 0;
  std::uint32_t restarts = 0;
  bool up = false;
  bool partition_side = false;
  std::unique_ptr<swim::Membership> core;
  std::uint64_t tick_token = 0;
  std::int64_t scheduled_tick_ms = std::numeric_limits<std::int64_t>::max();
  std::int64_t stalled_until_ms = 0;
  std::int64_t wake_gap_min_ms = 0;
  std::int64_t wake_gap_max_ms = 0;
  bool tick_overdue = false;
  std::deque<std::unique_ptr<Event>> queued_while_stalled;
};

bool Simulator::EventLater::operator()(const std::unique_ptr<Event>& a,
                                       const std::unique_ptr<Event>& b) const {
  if (a->time_ms != b->time_ms) return a->time_ms > b->time_ms;
  return a->order > b->order;
}

Simulator::Simulator(const SimulatorConfig& config, std::uint64_t seed)
    : config_(config), random_(seed) {}

Simulator::~Simulator() = default;

void Simulator::start_cluster(std::size_t node_count) {
  for (std::size_t i = 0; i < node_count; ++i) {
    add_node(i == 0 ? std::nullopt : std::optional<std::size_t>(0));
  }
}

std::size_t Simulator::add_node(std::optional<std::size_t> seed_node) {
  const std::size_t index = nodes_.size();
  auto node = std::make_unique<Node>();
  node->name = "n" + std::to_string(index);
  nodes_.push_back(std::move(node));
  create_core(index, seed_node);
  return index;
}

void Simulator::create_core(std::size_t index, std::optional<std::size_t> seed_node) {
  Node& node = *nodes_[index];
  // Short addresses stay within std::string's small buffer, which matters at 1000 nodes.
  node.address = "10." + std::to_string(index / 250) + "." + std::to_string(index % 250) + ":" +
                 std::to_string(7000 + node.restarts);
  node_by_address_[node.address] = index;
  node.up = true;
  ++node.generation;
  node.tick_overdue = false;
  node.stalled_until_ms = 0;
  node.queued_while_stalled.clear();
  swim::LocalNode local;
  local.name = node.name;
  local.address = node.address;
  local.meta.client_address = "c" + std::to_string(index);
  local.meta.peer_address = "p" + std::to_string(index);
  // Each restart takes a fresh range of epochs; the core adds one per self-reincarnation.
  local.restart_epoch = static_cast<std::uint64_t>(node.restarts + 1) << 32;
  node.core =
      std::make_unique<swim::Membership>(config_.swim, std::move(local), random_.next(), now_ms_);
  swim::Directives out;
  if (seed_node) {
    const std::string seeds[] = {nodes_[*seed_node]->address};
    node.core->join(seeds, now_ms_, out);
  }
  after_step(index, out);
}

void Simulator::crash(std::size_t index) {
  Node& node = *nodes_[index];
  node.up = false;
  ++node.generation;
  node.queued_while_stalled.clear();
  node.scheduled_tick_ms = std::numeric_limits<std::int64_t>::max();
}

void Simulator::restart(std::size_t index) {
  Node& node = *nodes_[index];
  if (node.up) crash(index);
  node_by_address_.erase(node.address);
  ++node.restarts;
  // Join through a random node that is up.
  std::optional<std::size_t> seed;
  for (int attempt = 0; attempt < 1000 && !seed; ++attempt) {
    const std::size_t candidate = random_.below(nodes_.size());
    if (candidate != index && nodes_[candidate]->up) seed = candidate;
  }
  node.scheduled_tick_ms = std::numeric_limits<std::int64_t>::max();
  create_core(index, seed);
}

void Simulator::stall(std::size_t index, std::int64_t duration_ms, std::int64_t wake_gap_min_ms,
                      std::int64_t wake_gap_max_ms) {
  Node& node = *nodes_[index];
  if (!node.up) return;
  const std::int64_t until = now_ms_ + duration_ms;
  if (until <= node.stalled_until_ms) return;
  node.stalled_until_ms = until;
  node.wake_gap_min_ms = wake_gap_min_ms;
  node.wake_gap_max_ms = std::max(wake_gap_min_ms, wake_gap_max_ms);
  schedule_stall_event(index, EventKind::stall_end, until);
  if (wake_gap_min_ms > 0) {
    schedule_stall_event(index, EventKind::stall_wake,
                         now_ms_ + random_.between(node.wake_gap_min_ms, node.wake_gap_max_ms));
  }
}

void Simulator::schedule_stall_event(std::size_t index, EventKind kind, std::int64_t time_ms) {
  auto event = std::make_unique<Event>();
  event->time_ms = time_ms;
  event->kind = kind;
  event->node = index;
  event->generation = nodes_[index]->generation;
  schedule(std::move(event));
}

void Simulator::run_slice(std::size_t index) {
  Node& node = *nodes_[index];
  // Overdue timers first, then the datagrams that queued up meanwhile.
  if (node.tick_overdue) {
    node.tick_overdue = false;
    swim::Directives out;
    node.core->tick(now_ms_, out);
    after_step(index, out);
  }
  std::deque<std::unique_ptr<Event>> queued = std::move(node.queued_while_stalled);
  node.queued_while_stalled.clear();
  for (auto& event : queued) {
    if (!node.up) break;
    deliver(node, *event);
  }
}

void Simulator::update_meta(std::size_t index, const swim::NodeMeta& meta) {
  swim::Directives out;
  nodes_[index]->core->update_meta(meta, now_ms_, out);
  after_step(index, out);
}

void Simulator::leave(std::size_t index) {
  swim::Directives out;
  nodes_[index]->core->leave(now_ms_, out);
  after_step(index, out);
}

void Simulator::partition(const std::vector<std::size_t>& side, bool one_way) {
  for (auto& node : nodes_)
    node->partition_side = false;
  for (std::size_t index : side)
    nodes_[index]->partition_side = true;
  partitioned_ = true;
  one_way_ = one_way;
}

void Simulator::heal() {
  partitioned_ = false;
}

bool Simulator::blocked(std::size_t from, std::size_t to) const {
  if (!partitioned_) return false;
  const bool from_side = nodes_[from]->partition_side;
  const bool to_side = nodes_[to]->partition_side;
  if (from_side == to_side) return false;
  return !one_way_ || from_side;
}

void Simulator::run_until(std::int64_t time_ms) {
  while (!queue_.empty() && queue_.front()->time_ms <= time_ms) {
    std::pop_heap(queue_.begin(), queue_.end(), EventLater{});
    std::unique_ptr<Event> event = std::move(queue_.back());
    queue_.pop_back();
    now_ms_ = event->time_ms;
    dispatch(std::move(event));
  }
  now_ms_ = std::max(now_ms_, time_ms);
}

bool Simulator::run_until_converged(std::int64_t timeout_ms, std::int64_t step_ms) {
  const std::int64_t deadline = now_ms_ + timeout_ms;
  while (now_ms_ < deadline) {
    if (all_up_see_all_up_alive()) return true;
    run_for(step_ms);
  }
  return all_up_see_all_up_alive();
}

void Simulator::schedule(std::unique_ptr<Event> event) {
  event->order = next_event_order_++;
  queue_.push_back(std::move(event));
  std::push_heap(queue_.begin(), queue_.end(), EventLater{});
}

void Simulator::dispatch(std::unique_ptr<Event> event) {
  Node& node = *nodes_[event->node];
  if (!node.up || node.generation != event->generation) return;
  if (event->kind == EventKind::tick && event->tick_token != node.tick_token) return;
  if (event->kind == EventKind::stall_end) {
    if (now_ms_ < node.stalled_until_ms) return;  // Superseded by a longer stall.
    run_slice(event->node);
    return;
  }
  if (event->kind == EventKind::stall_wake) {
    if (now_ms_ >= node.stalled_until_ms) return;  // The stall is over already.
    // A short slice: what is due now runs, the node stays stalled afterwards.
    const std::int64_t until = node.stalled_until_ms;
    node.stalled_until_ms = 0;
    run_slice(event->node);
    node.stalled_until_ms = until;
    const std::int64_t next = now_ms_ + random_.between(node.wake_gap_min_ms, node.wake_gap_max_ms);
    if (next < until) schedule_stall_event(event->node, EventKind::stall_wake, next);
    return;
  }
  if (now_ms_ < node.stalled_until_ms) {
    if (event->kind == EventKind::tick) {
      node.tick_overdue = true;
    } else if (node.queued_while_stalled.size() < config_.stalled_queue_limit) {
      node.queued_while_stalled.push_back(std::move(event));
    }
    return;
  }
  deliver(node, *event);
}

void Simulator::deliver(Node& node, Event& event) {
  const std::size_t index = event.node;
  swim::Directives out;
  switch (event.kind) {
    case EventKind::tick:
      node.core->tick(now_ms_, out);
      break;
    case EventKind::datagram:
      node.core->on_packet(event.from_address, event.bytes, now_ms_, out);
      break;
    case EventKind::push_pull_request: {
      swim::PushPullState remote;
      if (swim::decode_state(event.bytes, config_.swim.max_members, remote) !=
          swim::DecodeError::none) {
        throw std::logic_error("simulator: push-pull state failed to decode");
      }
      const swim::PushPullState reply = node.core->on_push_pull_request(remote, now_ms_, out);
      Node& initiator = *nodes_[event.peer];
      if (initiator.up && initiator.generation == event.peer_generation &&
          !blocked(index, event.peer)) {
        auto response = std::make_unique<Event>();
        response->time_ms = now_ms_ + link_delay_ms();
        response->kind = EventKind::push_pull_response;
        response->node = event.peer;
        response->generation = event.peer_generation;
        response->bytes = swim::encode_state(reply);
        traffic_.push_pull_bytes += response->bytes.size();
        schedule(std::move(response));
      }
      break;
    }
    case EventKind::push_pull_response: {
      swim::PushPullState remote;
      if (swim::decode_state(event.bytes, config_.swim.max_members, remote) !=
          swim::DecodeError::none) {
        throw std::logic_error("simulator: push-pull state failed to decode");
      }
      ++traffic_.push_pulls;
      node.core->merge_remote_state(remote, now_ms_, out);
      break;
    }
    case EventKind::stall_wake:
    case EventKind::stall_end:
      break;
  }
  after_step(index, out);
}

void Simulator::after_step(std::size_t index, swim::Directives& out) {
  ++steps_;
  for (auto& datagram : out.datagrams)
    send_datagram(index, datagram);
  for (const auto& request : out.push_pulls)
    start_push_pull(index, request);
  if (observer_) {
    for (auto& event : out.events)
      observer_(ObservedEvent{now_ms_, index, std::move(event)});
  }
  if (config_.check_invariants) nodes_[index]->core->invariants();
  reschedule_tick(index);
}

void Simulator::reschedule_tick(std::size_t index) {
  Node& node = *nodes_[index];
  const std::int64_t next = std::max(now_ms_, node.core->next_tick_ms());
  if (next == node.scheduled_tick_ms) return;
  node.scheduled_tick_ms = next;
  auto event = std::make_unique<Event>();
  event->time_ms = next;
  event->kind = EventKind::tick;
  event->node = index;
  event->generation = node.generation;
  event->tick_token = ++node.tick_token;
  schedule(std::move(event));
}

std::int64_t Simulator::link_delay_ms() {
  return random_.between(config_.network.delay_min_ms, config_.network.delay_max_ms);
}

std::optional<std::size_t> Simulator::node_at(const std::string& address) const {
  auto found = node_by_address_.find(address);
  if (found == node_by_address_.end()) return std::nullopt;
  return found->second;
}

void Simulator::send_datagram(std::size_t from, swim::SendDatagram& datagram) {
  ++traffic_.datagrams;
  traffic_.bytes += datagram.bytes.size();
  traffic_.max_datagram_bytes =
      std::max<std::uint64_t>(traffic_.max_datagram_bytes, datagram.bytes.size());
  const auto to = node_at(datagram.address);
  if (!to || blocked(from, *to)) return;
  if (random_.chance(config_.network.loss)) return;
  const int copies = random_.chance(config_.network.duplication) ? 2 : 1;
  for (int copy = 0; copy < copies; ++copy) {
    auto event = std::make_unique<Event>();
    event->time_ms = now_ms_ + link_delay_ms();
    event->kind = EventKind::datagram;
    event->node = *to;
    event->generation = nodes_[*to]->generation;
    event->from_address = nodes_[from]->address;
    event->bytes = copy + 1 == copies ? std::move(datagram.bytes) : datagram.bytes;
    schedule(std::move(event));
  }
}

void Simulator::start_push_pull(std::size_t from, const swim::StartPushPull& request) {
  const auto to = node_at(request.address);
  // A TCP connect fails outright across a partition or to a crashed node.
  if (!to || *to == from || !nodes_[*to]->up || blocked(from, *to) || blocked(*to, from)) return;
  auto event = std::make_unique<Event>();
  event->time_ms = now_ms_ + link_delay_ms();
  event->kind = EventKind::push_pull_request;
  event->node = *to;
  event->generation = nodes_[*to]->generation;
  event->peer = from;
  event->peer_generation = nodes_[from]->generation;
  event->bytes = swim::encode_state(nodes_[from]->core->local_state(request.join));
  traffic_.push_pull_bytes += event->bytes.size();
  schedule(std::move(event));
}

bool Simulator::is_up(std::size_t node) const {
  return nodes_[node]->up;
}

bool Simulator::is_stalled(std::size_t node) const {
  return nodes_[node]->stalled_until_ms > now_ms_;
}

const swim::Membership& Simulator::membership(std::size_t node) const {
  return *nodes_[node]->core;
}

const std::string& Simulator::name(std::size_t node) const {
  return nodes_[node]->name;
}

const std::string& Simulator::address(std::size_t node) const {
  return nodes_[node]->address;
}

std::size_t Simulator::up_count() const {
  return static_cast<std::size_t>(
      std::count_if(nodes_.begin(), nodes_.end(), [](const auto& node) { return node->up; }));
}

bool Simulator::sees_alive(std::size_t observer, std::size_t subject) const {
  const Node& subject_node = *nodes_[subject];
  const swim::Member* member = nodes_[observer]->core->find(subject_node.name);
  if (member == nullptr || member->state != swim::MemberState::alive) return false;
  const swim::Member& truth = subject_node.core->self();
  return member->address == truth.address && member->restart_epoch == truth.restart_epoch;
}

bool Simulator::all_up_see_all_up_alive() const {
  for (std::size_t observer = 0; observer < nodes_.size(); ++observer) {
    if (!nodes_[observer]->up) continue;
    for (std::size_t subject = 0; subject < nodes_.size(); ++subject) {
      if (nodes_[subject]->up && !sees_alive(observer, subject)) return false;
    }
  }
  return true;
}

}  // namespace qim::sim
