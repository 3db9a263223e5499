#pragma once
// A deterministic cluster simulator for the SWIM core: many Membership instances in one process,
// a simulated clock (a queue of timed events) and a simulated network with loss, delay, jitter,
// duplication, one-way and two-way partitions, crashes, restarts and stalls. One seed reproduces
// a run; nothing reads the real clock or global randomness.
//
// A stalled node (CPU starvation, long GC) processes nothing until the stall ends (or until its
// next short slice of CPU, see stall()): its timers fire late and datagrams queue up. When it
// runs, its overdue timers run first and then the queued datagrams, as an event loop that
// checks timers before the socket would.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "cluster/swim/membership.h"
#include "cluster/swim/random.h"

namespace qim::sim {

namespace swim = qim::cluster::swim;

struct NetworkConfig {
  double loss = 0.0;         // Probability that a datagram is dropped.
  double duplication = 0.0;  // Probability that a datagram is delivered twice.
  // One-way delay is uniform in [delay_min_ms, delay_max_ms]; jitter reorders datagrams.
  std::int64_t delay_min_ms = 1;
  std::int64_t delay_max_ms = 5;
};

struct SimulatorConfig {
  swim::Config swim;
  NetworkConfig network;
  // Datagrams queued for a stalled node beyond this are dropped (a full socket buffer).
  std::size_t stalled_queue_limit = 2048;
  // Run Membership::invariants() after every step of a node when true.
  bool check_invariants = true;
};

struct ObservedEvent {
  std::int64_t time_ms = 0;
  std::size_t observer = 0;
  swim::MembershipEvent event;
};

struct TrafficStats {
  std::uint64_t datagrams = 0;
  std::uint64_t bytes = 0;
  std::uint64_t max_datagram_bytes = 0;
  std::uint64_t push_pulls = 0;  // Completed TCP exchanges (two messages each).
  std::uint64_t push_pull_bytes = 0;
};

class Simulator {
 public:
  Simulator(const SimulatorConfig& config, std::uint64_t seed);
  ~Simulator();

  // Adds n nodes at the current time; each joins through node 0.
  void start_cluster(std::size_t node_count);
  // Adds one node that joins through `seed_node` (or nobody if it is the first).
  std::size_t add_node(std::optional<std::size_t> seed_node);

  void run_until(std::int64_t time_ms);
  void run_for(std::int64_t duration_ms) { run_until(now_ms_ + duration_ms); }
  // Runs until every up node sees every up node alive, checking every step_ms. Returns false
  // on timeout.
  bool run_until_converged(std::int64_t timeout_ms, std::int64_t step_ms = 100);

  // Faults.
  void crash(std::size_t node);
  // Brings a crashed node back with the same name, a new port and a new restart epoch.
  void restart(std::size_t node);
  // Stops the node for duration_ms. With a wake gap, the node is starved rather than frozen:
  // every wake_gap_min_ms..wake_gap_max_ms it gets a short slice in which it runs its overdue
  // timers and then reads its queued datagrams.
  void stall(std::size_t node, std::int64_t duration_ms, std::int64_t wake_gap_min_ms = 0,
             std::int64_t wake_gap_max_ms = 0);
  // Splits the cluster: datagrams and push-pulls between `side` and the rest are dropped, both
  // ways, or only from `side` to the rest when one_way.
  void partition(const std::vector<std::size_t>& side, bool one_way = false);
  void heal();
  void set_loss(double loss) { config_.network.loss = loss; }
  // Has a node gossip new metadata (an update to disseminate).
  void update_meta(std::size_t node, const swim::NodeMeta& meta);
  // Has a node leave gracefully; it keeps running (gossiping its departure).
  void leave(std::size_t node);

  // Observation.
  std::int64_t now_ms() const { return now_ms_; }
  std::size_t size() const { return nodes_.size(); }
  bool is_up(std::size_t node) const;
  bool is_stalled(std::size_t node) const;
  const swim::Membership& membership(std::size_t node) const;
  const std::string& name(std::size_t node) const;
  const std::string& address(std::size_t node) const;
  std::size_t up_count() const;
  // `observer` holds `subject` alive with its current address and restart epoch.
  bool sees_alive(std::size_t observer, std::size_t subject) const;
  bool all_up_see_all_up_alive() const;
  const TrafficStats& traffic() const { return traffic_; }
  void reset_traffic() { traffic_ = TrafficStats{}; }
  void set_observer(std::function<void(const ObservedEvent&)> observer) {
    observer_ = std::move(observer);
  }
  swim::Random& random() { return random_; }
  std::uint64_t steps() const { return steps_; }

 private:
  enum class EventKind {
    tick,
    datagram,
    push_pull_request,
    push_pull_response,
    stall_wake,
    stall_end
  };
  struct Event;
  struct Node;
  struct EventLater {
    bool operator()(const std::unique_ptr<Event>& a, const std::unique_ptr<Event>& b) const;
  };

  void schedule(std::unique_ptr<Event> event);
  void dispatch(std::unique_ptr<Event> event);
  void deliver(Node& node, Event& event);
  void after_step(std::size_t node_index, swim::Directives& out);
  void reschedule_tick(std::size_t node_index);
  void run_slice(std::size_t node_index);
  void schedule_stall_event(std::size_t node_index, EventKind kind, std::int64_t time_ms);
  void send_datagram(std::size_t from, swim::SendDatagram& datagram);
  void start_push_pull(std::size_t from, const swim::StartPushPull& request);
  bool blocked(std::size_t from, std::size_t to) const;
  std::int64_t link_delay_ms();
  std::optional<std::size_t> node_at(const std::string& address) const;
  void create_core(std::size_t node_index, std::optional<std::size_t> seed_node);

  SimulatorConfig config_;
  swim::Random random_;
  std::int64_t now_ms_ = 0;
  std::uint64_t next_event_order_ = 0;
  std::uint64_t steps_ = 0;
  std::vector<std::unique_ptr<Event>> queue_;  // A heap ordered by EventLater.
  std::vector<std::unique_ptr<Node>> nodes_;
  std::unordered_map<std::string, std::size_t> node_by_address_;
  bool partitioned_ = false;
  bool one_way_ = false;
  TrafficStats traffic_;
  std::function<void(const ObservedEvent&)> observer_;
};

}  // namespace qim::sim
