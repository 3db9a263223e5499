#pragma once
// The SWIM + Lifeguard membership state machine, sans I/O.
//
// Ownership and threading: one Membership per process, owned by the node's gossip shell and
// used from one executor (it is not thread-safe). The shell feeds it time (monotonic ms),
// datagrams and push-pull states, and carries out the Directives it appends:
//
//   Directives out;
//   membership.tick(now_ms, out);                    // at or after next_tick_ms()
//   membership.on_packet(from, bytes, now_ms, out);  // every UDP datagram received
//   // StartPushPull{address}: send local_state(join) over TCP; the peer's shell answers with
//   // on_push_pull_request(state, ...); pass the answer to merge_remote_state(...).
//
// Invariants (checked by invariants()): every name maps to one record; our own record is alive
// (or left after leave()); exactly the suspect records carry a suspicion timer; the member
// table, broadcast queue and relayed-probe list stay within their Config limits; updates are
// applied only in the order alive(N) < suspect(N) < alive(N+1) < ... < dead, per restart epoch.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cluster/swim/awareness.h"
#include "cluster/swim/broadcast_queue.h"
#include "cluster/swim/config.h"
#include "cluster/swim/counters.h"
#include "cluster/swim/directives.h"
#include "cluster/swim/member.h"
#include "cluster/swim/messages.h"
#include "cluster/swim/random.h"
#include "cluster/swim/suspicion.h"

namespace qim::cluster::swim {

struct LocalNode {
  std::string name;
  std::string address;
  NodeMeta meta;
  // Must grow across restarts of the same name (e.g. wall-clock ms << 16); the core adds one
  // each time it finds itself declared dead.
  std::uint64_t restart_epoch = 0;
};

class Membership {
 public:
  // REQUIRES: self.name non-empty and at most kMaxNameBytes; addresses at most
  // kMaxAddressBytes; config limits positive.
  Membership(const Config& config, LocalNode self, std::uint64_t random_seed, std::int64_t now_ms);

  // Contacts seeds by push-pull (join = true). Our alive message is already queued.
  void join(std::span<const std::string> seed_addresses, std::int64_t now_ms, Directives& out);
  // Gossips that we leave. Keep calling tick() for a few gossip intervals, then stop.
  void leave(std::int64_t now_ms, Directives& out);
  // Gossips new metadata under a higher incarnation.
  void update_meta(const NodeMeta& meta, std::int64_t now_ms, Directives& out);

  void tick(std::int64_t now_ms, Directives& out);
  // The time tick() next has work to do.
  std::int64_t next_tick_ms() const;

  void on_packet(std::string_view from_address, std::span<const std::uint8_t> bytes,
                 std::int64_t now_ms, Directives& out);

  // Our full state, to send when starting a push-pull.
  PushPullState local_state(bool join) const;
  // A peer opened a push-pull: merges its state, then returns ours (after the merge, so a node
  // that learns it was declared dead answers with its new restart epoch).
  PushPullState on_push_pull_request(const PushPullState& remote, std::int64_t now_ms,
                                     Directives& out);
  // The answer to our push-pull.
  void merge_remote_state(const PushPullState& remote, std::int64_t now_ms, Directives& out);

  const Member& self() const { return records_[self_slot_].member; }
  const Member* find(std::string_view name) const;
  template <typename Visitor>
  void for_each_member(Visitor&& visit) const {
    for (const Record& record : records_) {
      if (record.in_use) visit(record.member);
    }
  }
  // Alive and suspect members, ourselves included.
  std::size_t live_member_count() const { return live_count_; }
  std::size_t member_count() const { return slot_by_name_.size(); }
  int awareness_score() const { return awareness_.score(); }
  const Counters& counters() const { return counters_; }
  const Config& config() const { return config_; }

  // Aborts with a message if an internal invariant is broken. O(members).
  void invariants() const;

 private:
  struct Record {
    Member member;
    std::int64_t state_change_ms = 0;
    std::optional<Suspicion> suspicion;
    std::string suspected_by;  // The first accuser, for the buddy-system message.
    bool in_use = false;
  };

  struct Probe {
    std::uint32_t sequence = 0;
    std::uint32_t target_slot = 0;
    std::string target_name;
    std::string target_address;
    std::int64_t indirect_at_ms = 0;
    std::int64_t deadline_ms = 0;
    bool indirect_sent = false;
    int expected_nacks = 0;
    int nacks_received = 0;
  };

  // A ping we send on behalf of another member's indirect probe.
  struct RelayedProbe {
    std::uint32_t local_sequence = 0;
    std::uint32_t requester_sequence = 0;
    std::string requester_address;
    std::int64_t nack_at_ms = 0;
    bool want_nack = false;
  };

  Record& self_record() { return records_[self_slot_]; }
  Record* find_record(std::string_view name);
  bool leaving() const { return self().state == MemberState::left; }

  // Message handlers; `now_ms` and `out` as for the public methods.
  void handle_ping(std::string_view from_address, const Ping& ping, std::int64_t now_ms,
                   Directives& out);
  void handle_indirect_ping(std::string_view from_address, const IndirectPing& request,
                            std::int64_t now_ms, Directives& out);
  void handle_ack(const Ack& ack, Directives& out);
  void handle_nack(const Nack& nack);
  void apply_alive(const Alive& alive, std::int64_t now_ms, Directives& out);
  void apply_suspect(const Suspect& suspect, std::int64_t now_ms, Directives& out);
  void apply_dead(const Dead& dead, std::int64_t now_ms, Directives& out);

  // Our own record changes.
  void refute(std::uint64_t restart_epoch, std::uint32_t incarnation, Directives& out);
  void broadcast_self_alive();

  // Remembers when this call happened and when we asked to be ticked next, so that tick()
  // can tell how late it runs.
  void finish_call(std::int64_t now_ms);

  // Timers.
  void run_probe_timers(std::int64_t now_ms, Directives& out);
  void start_probe(std::int64_t now_ms, Directives& out);
  void send_indirect_pings(std::int64_t now_ms, Directives& out);
  void finish_failed_probe(std::int64_t now_ms, Directives& out);
  void run_relay_timers(std::int64_t now_ms, Directives& out);
  void run_suspicion_timers(std::int64_t now_ms, Directives& out);
  void gossip(std::int64_t now_ms, Directives& out);
  void start_push_pulls(std::int64_t now_ms, Directives& out);

  // Member table.
  Record* add_record(const Member& member, std::int64_t now_ms);
  void free_slot(std::uint32_t slot);
  bool evict_oldest_tombstone();
  void reap_tombstones(std::int64_t now_ms);
  void set_state(Record& record, MemberState state, std::int64_t now_ms);
  void clear_suspicion(std::uint32_t slot);
  std::optional<std::uint32_t> next_probe_target(std::int64_t now_ms);
  // Up to `count` distinct random slots satisfying `eligible`.
  template <typename Predicate>
  std::vector<std::uint32_t> pick_random_slots(std::size_t count, Predicate eligible);

  // Sending.
  void send(const std::string& address, std::span<const Message> messages, Directives& out);
  void queue_broadcast(std::string_view subject, const Message& message);
  int retransmit_limit() const;
  std::int64_t push_pull_interval_ms() const;
  std::int64_t suspicion_min_timeout_ms() const;

  static Alive alive_message(const Member& member);
  std::uint32_t slot_of(const Record& record) const {
    return static_cast<std::uint32_t>(&record - records_.data());
  }

  Config config_;
  Random random_;
  Awareness awareness_;
  BroadcastQueue broadcasts_;
  Counters counters_;

  std::vector<Record> records_;
  std::unordered_map<std::string, std::uint32_t> slot_by_name_;
  std::vector<std::uint32_t> free_slots_;
  std::uint32_t self_slot_ = 0;
  std::size_t live_count_ = 0;
  std::vector<std::uint32_t> suspects_;

  // Randomised round-robin: a shuffled list of slots walked once per round.
  std::vector<std::uint32_t> probe_order_;
  std::size_t probe_cursor_ = 0;

  std::uint32_t next_sequence_ = 1;
  std::optional<Probe> probe_;
  std::vector<RelayedProbe> relays_;

  std::int64_t next_probe_ms_ = 0;
  std::int64_t next_gossip_ms_ = 0;
  std::int64_t next_push_pull_ms_ = 0;
  std::int64_t requested_tick_ms_ = 0;
  std::int64_t last_input_ms_ = 0;
  // Lifeguard: until then no probe target is blamed and no suspicion expires (see tick()).
  std::int64_t starved_until_ms_ = 0;
};

}  // namespace qim::cluster::swim
