#pragma once
// In-order, exactly-once delivery of each conversation's messages to the application, from
// live pushes and pulls alike: a sans-IO core fed with pushes, Sync and Pull answers and the
// time, which returns what to hand over and what to ask the server (DeliveryDirectives). The
// client (client_delivery.cc) sends the requests and feeds the answers back.
//
// Per conversation it keeps `next`, the seq the application gets next: everything below it was
// handed over, or lies at or below the conversation's floor. A push at `next` is handed over at
// once; one above it is held while the missing range is pulled, at once; one below it is a
// duplicate and dropped. Pulled messages go through the same gate, so a message that was pulled
// is never handed over again when its push comes late, and a push held above a gap is handed
// over (as live) as soon as the pull fills the gap.
//
// Own messages. The sending session gets a SendAck instead of a push of its message; on_sent()
// reports it, and it takes its place in the order like a push, handed over as `own` (the
// application has it already: the client acks it but shows nothing), so it is neither shown by a
// later pull nor mistaken for a gap.
//
// Floors. The floor is the device's read cursor (or the seq before the user joined a group) as
// the last Sync reported it: messages at or below it were read already. A conversation's floor
// is known once a Sync names it, or from its push of seq 1. The first push of a conversation
// with no known floor and a higher seq is held, and a Sync is asked for (one for all of them);
// its answer sets the floor, the messages between the floor and the push are pulled and handed
// over first (from_sync), then the push. If that Sync fails, or does not name the conversation
// (a membership newer than its snapshot), the first push held sets the floor (its seq - 1).
//
// Resync (after a reconnect, a server Resync, or deliver_backlog): a Sync, then every
// conversation it names whose head is at or above `next` catches up: it is pulled page by page
// up to that head. A last page short of the head (the server that answered lags the head it
// reported, as during a change of leader) is pulled again with backoff, up to max_failures
// times, rather than taken as the end. resync_state() tells when all of that is done. A resync
// whose Sync failed sync_attempts_max times in a row is reported failed, and another follows
// at the next step of the same backoff (and so on, each failure failing the resyncs its Sync
// covered, while the session lasts): what it was for may be in any conversation.
//
// Bounds and fallbacks: held pushes per conversation and in total, conversations tracked (the
// least recently used without pending work is forgotten; it then counts as never seen), pulls
// in flight, pages per catch-up, failures per conversation. A held bound hit, or a gap not
// repaired within gap_timeout, makes the conversation drop its held pushes and catch up by
// pulls to the highest seq it has seen: nothing is lost, what was dropped is pulled again. A
// gap the server cannot fill (its log has no such messages yet) is retried with backoff until
// gap_timeout, then given up the same way: the conversation then waits for its next push or
// resync, which pulls again.
//
// Not thread-safe: the client's I/O thread owns it. Time is an argument.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "qim/client.h"

namespace qim::client {

struct DeliveryLimits {
  std::size_t max_held_per_conversation = 256;
  std::size_t max_held = 4'096;
  std::size_t max_conversations = 100'000;
  std::size_t max_pulls_in_flight = 16;
  std::uint32_t page_limit = 200;
  std::uint32_t max_pages_per_catch_up = 1'000;
  // A gap still open after this long is given up to a catch-up (see above).
  std::chrono::milliseconds gap_timeout{5'000};
  // Failed pulls and Syncs are retried after this, doubling up to retry_max, at most
  // max_failures times in a row before the conversation (or the resync) gives up.
  std::chrono::milliseconds retry_initial{100};
  std::chrono::milliseconds retry_max{2'000};
  std::uint32_t max_failures = 8;
};

struct DeliveryDirectives {
  struct Delivery {
    Message message;
    bool from_sync = false;  // it came from a pull
    bool own = false;        // this session sent it (only conversation and seq are set)
  };
  struct Pull {
    std::uint64_t id = 0;  // hand it back with the answer
    std::string conversation;
    std::uint64_t after_seq = 0;
    std::uint32_t limit = 0;
  };
  std::vector<Delivery> deliveries;  // in order per conversation
  std::vector<Pull> pulls;
  std::optional<std::uint64_t> sync;  // send a Sync; hand the id back with its answer

  bool empty() const { return deliveries.empty() && pulls.empty() && !sync; }
};

struct DeliveryStats {
  std::uint64_t delivered_live = 0;
  std::uint64_t delivered_pulled = 0;
  std::uint64_t delivered_own = 0;
  std::uint64_t duplicates_dropped = 0;
  std::uint64_t gaps_opened = 0;
  std::uint64_t fallbacks = 0;  // held pushes dropped for a catch-up (bound or deadline)
};

class DeliveryOrder {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit DeliveryOrder(DeliveryLimits limits = {});

  // Requests go out only while a session is ready. Those in flight when it is lost are
  // forgotten (answers that still come are ignored), and the resyncs not done fail.
  void on_session_ready(TimePoint now, DeliveryDirectives& out);
  void on_session_lost();
  // Forgets every conversation (another user or device logged in).
  void reset();

  void on_push(Message message, TimePoint now, DeliveryDirectives& out);
  // This session's message `seq` in `conversation` was stored (a SendAck). REQUIRES: reported
  // in the order the connection received it relative to pushes (before later pushes).
  void on_sent(const std::string& conversation, std::uint64_t seq, TimePoint now,
               DeliveryDirectives& out);

  // Asks for a resync (see above) after `delay`, or sooner if one is already wanted. Returns
  // its number for resync_state(). A resync asked while a Sync is in flight gets a Sync of its
  // own after that one, since it may concern later messages.
  std::uint64_t request_resync(TimePoint now, std::chrono::milliseconds delay,
                               DeliveryDirectives& out);
  enum class ResyncState { pending, done, failed };
  ResyncState resync_state(std::uint64_t resync) const;
  // The number of the last resync asked, by a caller or as the follow-up of a failed one.
  std::uint64_t latest_resync() const { return resyncs_asked_; }
  // Why the last failed resync failed.
  const Error& resync_error() const { return resync_error_; }

  void on_sync(std::uint64_t id, const std::vector<ConversationState>& states, TimePoint now,
               DeliveryDirectives& out);
  void on_sync_failed(std::uint64_t id, const Error& error, TimePoint now, DeliveryDirectives& out);
  // A page of messages with seq > after_seq (oldest first) for the pull `id`.
  void on_pull(std::uint64_t id, std::vector<Message> messages, bool more, TimePoint now,
               DeliveryDirectives& out);
  void on_pull_failed(std::uint64_t id, const Error& error, TimePoint now, DeliveryDirectives& out);

  // Deadlines: delayed Syncs, retries, gap timeouts.
  void tick(TimePoint now, DeliveryDirectives& out);
  std::optional<TimePoint> next_deadline() const;

  std::size_t held() const { return held_total_; }
  std::size_t conversations() const { return conversations_.size(); }
  std::size_t pulls_in_flight() const { return pulls_in_flight_; }
  // The seq the application gets next in `conversation` (0: no floor known).
  std::uint64_t next_seq(const std::string& conversation) const;
  const DeliveryStats& stats() const { return stats_; }
  // Checks the invariants listed in the .cc; aborts when one does not hold.
  void check_invariants() const;

 private:
  struct Held {
    Message message;
    bool own = false;
  };
  struct Conversation {
    std::string id;
    bool known = false;                  // `next` is meaningful (a floor is known)
    std::uint64_t next = 0;              // the seq handed over next
    std::map<std::uint64_t, Held> held;  // pushes (and own sends) above `next`
    // Own sends above `next` that are not held (a fallback dropped them, or there was no room):
    // handed over as own when a pull brings them. At most max_held_per_conversation.
    std::set<std::uint64_t> own_above;
    std::uint64_t catch_up_to = 0;       // pull until `next` is above it (0: no catch-up)
    bool counted_for_resync = false;     // a resync waits for this catch-up
    std::uint32_t pages = 0;             // pulled in the current catch-up
    std::uint64_t pull_id = 0;           // the pull in flight (0: none)
    bool queued = false;                 // waiting for a pull slot
    std::optional<TimePoint> gap_since;  // held is not empty since then
    std::optional<TimePoint> retry_at;   // no pull before then (after a failure)
    std::uint32_t failures = 0;          // failed or short pulls since the last progress
    std::list<std::string>::iterator recency;
  };

  Conversation& touch(const std::string& id);
  Conversation* find(const std::string& id);
  void forget_one_idle();
  bool busy(const Conversation& conversation) const;

  // A push or an own send: handed over if next, held if above, dropped if below.
  void receive(Message message, bool own, TimePoint now, DeliveryDirectives& out);
  void accept(Conversation& conversation, Held held, TimePoint now, DeliveryDirectives& out);
  void hand_over(Conversation& conversation, Message message, bool from_sync, bool own,
                 DeliveryDirectives& out);
  // Hands over held pushes that are next; drops held ones below `next`.
  void drain(Conversation& conversation, DeliveryDirectives& out);
  // Drops the held pushes; own sends among them are remembered in own_above.
  void drop_held(Conversation& conversation);
  void remember_own(Conversation& conversation, std::uint64_t seq);
  // Gives up the held pushes: the conversation catches up to the highest seq it has seen.
  void fall_back(Conversation& conversation, std::uint64_t seen_seq);
  // Sets (or raises) `next`; a conversation that becomes known with pushes held has a gap.
  void set_floor(Conversation& conversation, std::uint64_t next, TimePoint now,
                 DeliveryDirectives& out);
  // Hands over (as live) the held pushes below `seq`: a pull skipped past them.
  void release_held_below(Conversation& conversation, std::uint64_t seq, DeliveryDirectives& out);
  void end_catch_up(Conversation& conversation);
  bool wants_pull(const Conversation& conversation, TimePoint now) const;
  // Asks for the pulls that are wanted, within the bound on pulls in flight.
  void schedule(Conversation& conversation, TimePoint now, DeliveryDirectives& out);
  void dispatch_queued(TimePoint now, DeliveryDirectives& out);
  void issue_sync(TimePoint now, DeliveryDirectives& out);
  void update_timers(Conversation& conversation);
  void settle_resyncs();
  std::chrono::milliseconds backoff(std::uint32_t failures) const;

  DeliveryLimits limits_;
  bool ready_ = false;
  std::unordered_map<std::string, Conversation> conversations_;
  std::list<std::string> recency_;  // most recently used first
  std::size_t held_total_ = 0;
  std::size_t pulls_in_flight_ = 0;
  std::list<std::string> pull_queue_;     // conversations waiting for a pull slot
  std::set<std::string> timed_;           // conversations with a gap or a retry deadline
  std::set<std::string> awaiting_floor_;  // holding pushes until a Sync names them
  std::uint64_t next_request_id_ = 1;
  std::unordered_map<std::uint64_t, std::string> pulls_;  // pull id -> conversation

  // Resyncs: numbered 1, 2, 3, ...; a Sync covers every resync asked before it was sent.
  std::uint64_t resyncs_asked_ = 0;
  std::uint64_t resyncs_synced_ = 0;  // covered by an answered Sync
  std::uint64_t resyncs_done_ = 0;    // and all their catch-ups done
  std::uint64_t resyncs_failed_ = 0;  // covered by a Sync that failed for good, or lost
  std::optional<TimePoint> sync_wanted_at_;
  std::uint64_t sync_id_ = 0;        // the Sync in flight (0: none)
  std::uint64_t sync_covers_ = 0;    // resyncs_asked_ when it was sent
  std::uint32_t sync_failures_ = 0;  // in a row
  std::size_t catching_up_for_resync_ = 0;
  Error resync_error_;
  DeliveryStats stats_;
};

}  // namespace qim::client
