#include "client/delivery_order.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace qim::client {
namespace {

// A Sync that fails is retried this many times in all before its resyncs fail.
constexpr std::uint32_t sync_attempts_max = 3;
// Eviction looks this far from the least recently used end for a conversation without
// pending work before it forgets the least recently used one whatever it holds.
constexpr std::size_t eviction_scan_max = 64;

void require(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "DeliveryOrder invariant violated: %s\n", what);
  std::abort();
}

}  // namespace

// Invariants (check_invariants):
//   - held_total_ is the sum of the held pushes, at most max_held; a conversation holds at most
//     max_held_per_conversation;
//   - a known conversation holds only seqs above `next` (one at `next` is handed over at once),
//     and has gap_since set exactly when it holds something;
//   - an unknown one has next 0, no pull, and is in awaiting_floor_ exactly when it holds;
//   - pulls_ maps every pull in flight to its conversation, at most max_pulls_in_flight, none
//     while the session is not ready (nor a Sync);
//   - timed_ names exactly the conversations with a gap or a retry deadline;
//   - catching_up_for_resync_ counts the conversations counted_for_resync, each catching up;
//   - resyncs_done_ <= resyncs_synced_ <= resyncs_asked_, resyncs_failed_ <= resyncs_asked_.

DeliveryOrder::DeliveryOrder(DeliveryLimits limits) : limits_(limits) {
  limits_.max_held_per_conversation = std::max<std::size_t>(limits_.max_held_per_conversation, 1);
  limits_.max_held = std::max<std::size_t>(limits_.max_held, 1);
  limits_.max_conversations = std::max<std::size_t>(limits_.max_conversations, 1);
  limits_.max_pulls_in_flight = std::max<std::size_t>(limits_.max_pulls_in_flight, 1);
  limits_.page_limit = std::max<std::uint32_t>(limits_.page_limit, 1);
  limits_.max_pages_per_catch_up = std::max<std::uint32_t>(limits_.max_pages_per_catch_up, 1);
  limits_.max_failures = std::max<std::uint32_t>(limits_.max_failures, 1);
}

// --- Conversations --------------------------------------------------------------------------

DeliveryOrder::Conversation* DeliveryOrder::find(const std::string& id) {
  auto found = conversations_.find(id);
  return found == conversations_.end() ? nullptr : &found->second;
}

std::uint64_t DeliveryOrder::next_seq(const std::string& conversation) const {
  auto found = conversations_.find(conversation);
  if (found == conversations_.end() || !found->second.known) return 0;
  return found->second.next;
}

bool DeliveryOrder::busy(const Conversation& conversation) const {
  return !conversation.held.empty() || conversation.pull_id != 0 || conversation.queued ||
         conversation.catch_up_to != 0;
}

DeliveryOrder::Conversation& DeliveryOrder::touch(const std::string& id) {
  if (Conversation* known = find(id)) {
    recency_.splice(recency_.begin(), recency_, known->recency);
    return *known;
  }
  if (conversations_.size() >= limits_.max_conversations) forget_one_idle();
  recency_.push_front(id);
  Conversation& added = conversations_[id];
  added.id = id;
  added.recency = recency_.begin();
  return added;
}

void DeliveryOrder::forget_one_idle() {
  auto victim = std::prev(recency_.end());
  auto candidate = victim;
  for (std::size_t scanned = 0; scanned < eviction_scan_max; ++scanned) {
    if (!busy(conversations_.at(*candidate))) {
      victim = candidate;
      break;
    }
    if (candidate == recency_.begin()) break;
    --candidate;
  }
  Conversation& gone = conversations_.at(*victim);
  drop_held(gone);
  if (gone.pull_id != 0) {
    pulls_.erase(gone.pull_id);
    --pulls_in_flight_;
  }
  if (gone.queued) pull_queue_.remove(gone.id);
  if (gone.counted_for_resync) --catching_up_for_resync_;
  timed_.erase(gone.id);
  awaiting_floor_.erase(gone.id);
  std::string id = gone.id;
  recency_.erase(victim);
  conversations_.erase(id);
  settle_resyncs();
}

// --- Handing over ---------------------------------------------------------------------------

void DeliveryOrder::hand_over(Conversation& conversation, Message message, bool from_sync, bool own,
                              DeliveryDirectives& out) {
  conversation.next = message.seq + 1;
  // Progress, by push or pull: the failures before it no longer count against the next pull.
  conversation.failures = 0;
  ++(own ? stats_.delivered_own : from_sync ? stats_.delivered_pulled : stats_.delivered_live);
  out.deliveries.push_back({std::move(message), from_sync && !own, own});
  if (conversation.catch_up_to != 0 && conversation.next > conversation.catch_up_to) {
    end_catch_up(conversation);
  }
}

void DeliveryOrder::drain(Conversation& conversation, DeliveryDirectives& out) {
  while (!conversation.held.empty()) {
    auto first = conversation.held.begin();
    if (first->first > conversation.next) break;
    Held held = std::move(first->second);
    bool next = first->first == conversation.next;
    conversation.held.erase(first);
    --held_total_;
    if (next) {
      hand_over(conversation, std::move(held.message), false, held.own, out);
    } else {
      ++stats_.duplicates_dropped;
    }
  }
  if (conversation.held.empty()) conversation.gap_since.reset();
  conversation.own_above.erase(conversation.own_above.begin(),
                               conversation.own_above.lower_bound(conversation.next));
  update_timers(conversation);
}

void DeliveryOrder::remember_own(Conversation& conversation, std::uint64_t seq) {
  if (conversation.known && seq < conversation.next) return;
  conversation.own_above.insert(seq);
  if (conversation.own_above.size() > limits_.max_held_per_conversation) {
    conversation.own_above.erase(conversation.own_above.begin());
  }
}

void DeliveryOrder::drop_held(Conversation& conversation) {
  for (const auto& [seq, held] : conversation.held) {
    if (held.own) remember_own(conversation, seq);
  }
  held_total_ -= conversation.held.size();
  conversation.held.clear();
  conversation.gap_since.reset();
  update_timers(conversation);
}

void DeliveryOrder::fall_back(Conversation& conversation, std::uint64_t seen_seq) {
  ++stats_.fallbacks;
  std::uint64_t highest = seen_seq;
  if (!conversation.held.empty()) highest = std::max(highest, conversation.held.rbegin()->first);
  conversation.catch_up_to = std::max(conversation.catch_up_to, highest);
  conversation.pages = 0;
  conversation.failures = 0;
  drop_held(conversation);
}

void DeliveryOrder::set_floor(Conversation& conversation, std::uint64_t next, TimePoint now,
                              DeliveryDirectives& out) {
  if (!conversation.known) {
    conversation.known = true;
    conversation.next = std::max<std::uint64_t>(next, 1);
    awaiting_floor_.erase(conversation.id);
    if (!conversation.held.empty()) {
      conversation.gap_since = now;
      ++stats_.gaps_opened;
    }
  } else {
    conversation.next = std::max(conversation.next, next);
  }
  drain(conversation, out);
}

void DeliveryOrder::release_held_below(Conversation& conversation, std::uint64_t seq,
                                       DeliveryDirectives& out) {
  while (!conversation.held.empty() && conversation.held.begin()->first < seq) {
    auto first = conversation.held.begin();
    Held held = std::move(first->second);
    bool fresh = first->first >= conversation.next;
    conversation.held.erase(first);
    --held_total_;
    if (fresh) {
      hand_over(conversation, std::move(held.message), false, held.own, out);
    } else {
      ++stats_.duplicates_dropped;
    }
  }
}

void DeliveryOrder::end_catch_up(Conversation& conversation) {
  conversation.catch_up_to = 0;
  conversation.pages = 0;
  if (conversation.counted_for_resync) {
    conversation.counted_for_resync = false;
    --catching_up_for_resync_;
    settle_resyncs();
  }
}

void DeliveryOrder::accept(Conversation& conversation, Held held, TimePoint now,
                           DeliveryDirectives& out) {
  std::uint64_t seq = held.message.seq;
  if (seq < conversation.next || conversation.held.contains(seq)) {
    ++stats_.duplicates_dropped;
    return;
  }
  if (seq == conversation.next) {
    hand_over(conversation, std::move(held.message), false, held.own, out);
    drain(conversation, out);
    return;
  }
  if (conversation.held.size() >= limits_.max_held_per_conversation ||
      held_total_ >= limits_.max_held) {
    if (held.own) remember_own(conversation, seq);
    fall_back(conversation, seq);
    return;
  }
  conversation.held.emplace(seq, std::move(held));
  ++held_total_;
  if (!conversation.gap_since) {
    conversation.gap_since = now;
    ++stats_.gaps_opened;
  }
  update_timers(conversation);
}

void DeliveryOrder::on_push(Message message, TimePoint now, DeliveryDirectives& out) {
  receive(std::move(message), false, now, out);
}

void DeliveryOrder::on_sent(const std::string& conversation, std::uint64_t seq, TimePoint now,
                            DeliveryDirectives& out) {
  Message message;
  message.conversation = conversation;
  message.seq = seq;
  receive(std::move(message), true, now, out);
}

void DeliveryOrder::receive(Message message, bool own, TimePoint now, DeliveryDirectives& out) {
  if (message.seq == 0 || message.conversation.empty()) return;  // not a message of a log
  Conversation& conversation = touch(message.conversation);
  if (!conversation.known && message.seq == 1) set_floor(conversation, 1, now, out);
  if (conversation.known) {
    accept(conversation, Held{std::move(message), own}, now, out);
    schedule(conversation, now, out);
    return;
  }
  // No floor yet: hold it until a Sync says where the application starts.
  std::uint64_t seq = message.seq;
  if (conversation.held.contains(seq)) {
    ++stats_.duplicates_dropped;
  } else if (conversation.held.size() >= limits_.max_held_per_conversation ||
             held_total_ >= limits_.max_held) {
    ++stats_.fallbacks;
    conversation.catch_up_to = std::max(conversation.catch_up_to, seq);
    if (own) remember_own(conversation, seq);
  } else {
    conversation.held.emplace(seq, Held{std::move(message), own});
    ++held_total_;
  }
  awaiting_floor_.insert(conversation.id);
  if (sync_id_ == 0 && (!sync_wanted_at_ || *sync_wanted_at_ > now)) {
    request_resync(now, std::chrono::milliseconds(0), out);
  }
}

// --- Pulls ----------------------------------------------------------------------------------

bool DeliveryOrder::wants_pull(const Conversation& conversation, TimePoint now) const {
  if (!ready_ || !conversation.known || conversation.pull_id != 0) return false;
  if (conversation.retry_at && *conversation.retry_at > now) return false;
  return !conversation.held.empty() ||
         (conversation.catch_up_to != 0 && conversation.catch_up_to >= conversation.next);
}

void DeliveryOrder::schedule(Conversation& conversation, TimePoint now, DeliveryDirectives& out) {
  if (!wants_pull(conversation, now)) return;
  if (pulls_in_flight_ >= limits_.max_pulls_in_flight) {
    if (!conversation.queued) {
      conversation.queued = true;
      pull_queue_.push_back(conversation.id);
    }
    return;
  }
  std::uint64_t id = next_request_id_++;
  conversation.pull_id = id;
  conversation.retry_at.reset();
  pulls_.emplace(id, conversation.id);
  ++pulls_in_flight_;
  std::uint32_t limit = limits_.page_limit;
  bool catching_up = conversation.catch_up_to != 0;
  if (!catching_up && !conversation.held.empty()) {
    // Only the gap: what lies above it is held already.
    std::uint64_t gap = conversation.held.begin()->first - conversation.next;
    limit = static_cast<std::uint32_t>(std::min<std::uint64_t>(gap, limit));
  }
  out.pulls.push_back({id, conversation.id, conversation.next - 1, limit});
  update_timers(conversation);
}

void DeliveryOrder::dispatch_queued(TimePoint now, DeliveryDirectives& out) {
  while (pulls_in_flight_ < limits_.max_pulls_in_flight && !pull_queue_.empty()) {
    std::string id = std::move(pull_queue_.front());
    pull_queue_.pop_front();
    Conversation* conversation = find(id);
    if (conversation == nullptr) continue;
    conversation->queued = false;
    schedule(*conversation, now, out);
  }
}

void DeliveryOrder::on_pull(std::uint64_t id, std::vector<Message> messages, bool more,
                            TimePoint now, DeliveryDirectives& out) {
  auto found = pulls_.find(id);
  if (found == pulls_.end()) return;  // forgotten: the session was lost meanwhile
  std::string conversation_id = std::move(found->second);
  pulls_.erase(found);
  --pulls_in_flight_;
  Conversation* conversation = find(conversation_id);
  if (conversation == nullptr || conversation->pull_id != id) {
    dispatch_queued(now, out);
    return;
  }
  Conversation& c = *conversation;
  c.pull_id = 0;
  std::sort(messages.begin(), messages.end(),
            [](const Message& a, const Message& b) { return a.seq < b.seq; });
  for (Message& message : messages) {
    if (message.seq < c.next) {
      ++stats_.duplicates_dropped;
      continue;
    }
    // A seq above `next` means the log has nothing in between for this user (retention, or a
    // range before the user joined): held pushes below it go first, then it.
    release_held_below(c, message.seq, out);
    if (message.seq < c.next) {
      ++stats_.duplicates_dropped;
      continue;
    }
    if (auto held = c.held.find(message.seq); held != c.held.end()) {
      // It came as a push (or was sent here) too: handed over as it came.
      Held first = std::move(held->second);
      c.held.erase(held);
      --held_total_;
      ++stats_.duplicates_dropped;
      hand_over(c, std::move(first.message), false, first.own, out);
      continue;
    }
    if (message.conversation.empty()) message.conversation = c.id;
    bool own = c.own_above.erase(message.seq) != 0;
    hand_over(c, std::move(message), true, own, out);
  }
  drain(c, out);
  if (!more || messages.empty()) {
    // The server has nothing after next - 1 for now. If the Sync's head or the pushes held above
    // say more exists, the server that answered is behind (a reader whose log lags what was
    // reported): pulled again with backoff. A catch-up short of its head is given up after
    // max_failures (the next push or resync pulls again); held pushes, at the gap deadline.
    bool short_of_head = c.catch_up_to != 0 && c.next <= c.catch_up_to;
    if (short_of_head || !c.held.empty()) ++c.failures;
    if (c.catch_up_to != 0 && (!short_of_head || c.failures >= limits_.max_failures)) {
      if (short_of_head) c.failures = 0;
      end_catch_up(c);
    }
    if (c.catch_up_to != 0 || !c.held.empty()) c.retry_at = now + backoff(c.failures);
  } else if (c.catch_up_to != 0 && ++c.pages >= limits_.max_pages_per_catch_up) {
    end_catch_up(c);  // the rest comes with the next resync
  }
  update_timers(c);
  schedule(c, now, out);
  dispatch_queued(now, out);
}

void DeliveryOrder::on_pull_failed(std::uint64_t id, const Error& /*error*/, TimePoint now,
                                   DeliveryDirectives& out) {
  auto found = pulls_.find(id);
  if (found == pulls_.end()) return;
  std::string conversation_id = std::move(found->second);
  pulls_.erase(found);
  --pulls_in_flight_;
  Conversation* conversation = find(conversation_id);
  if (conversation != nullptr && conversation->pull_id == id) {
    Conversation& c = *conversation;
    c.pull_id = 0;
    if (++c.failures >= limits_.max_failures) {
      // Given up until the next push or resync of this conversation, which pulls again.
      c.failures = 0;
      drop_held(c);
      end_catch_up(c);
    } else {
      c.retry_at = now + backoff(c.failures);
    }
    update_timers(c);
  }
  dispatch_queued(now, out);
}

std::chrono::milliseconds DeliveryOrder::backoff(std::uint32_t failures) const {
  auto delay = limits_.retry_initial;
  for (std::uint32_t i = 1; i < failures && delay < limits_.retry_max; ++i)
    delay *= 2;
  return std::min(delay, limits_.retry_max);
}

void DeliveryOrder::update_timers(Conversation& conversation) {
  if (conversation.gap_since || conversation.retry_at) {
    timed_.insert(conversation.id);
  } else {
    timed_.erase(conversation.id);
  }
}

// --- Resyncs --------------------------------------------------------------------------------

std::uint64_t DeliveryOrder::request_resync(TimePoint now, std::chrono::milliseconds delay,
                                            DeliveryDirectives& out) {
  ++resyncs_asked_;
  TimePoint at = now + delay;
  if (!sync_wanted_at_ || at < *sync_wanted_at_) sync_wanted_at_ = at;
  issue_sync(now, out);
  return resyncs_asked_;
}

DeliveryOrder::ResyncState DeliveryOrder::resync_state(std::uint64_t resync) const {
  if (resync <= resyncs_done_) return ResyncState::done;
  if (resync <= resyncs_failed_) return ResyncState::failed;
  return ResyncState::pending;
}

void DeliveryOrder::issue_sync(TimePoint now, DeliveryDirectives& out) {
  if (!ready_ || sync_id_ != 0 || !sync_wanted_at_ || *sync_wanted_at_ > now) return;
  sync_id_ = next_request_id_++;
  sync_covers_ = resyncs_asked_;
  sync_wanted_at_.reset();
  out.sync = sync_id_;
}

void DeliveryOrder::settle_resyncs() {
  if (catching_up_for_resync_ == 0 && resyncs_done_ < resyncs_synced_) {
    resyncs_done_ = resyncs_synced_;
  }
}

void DeliveryOrder::on_sync(std::uint64_t id, const std::vector<ConversationState>& states,
                            TimePoint now, DeliveryDirectives& out) {
  if (id == 0 || id != sync_id_) return;
  sync_id_ = 0;
  sync_failures_ = 0;
  resyncs_synced_ = std::max(resyncs_synced_, sync_covers_);
  for (const ConversationState& state : states) {
    Conversation& c = touch(state.conversation);
    std::uint64_t floor =
        std::max(state.read_seq, state.first_seq > 0 ? state.first_seq - 1 : std::uint64_t{0});
    set_floor(c, floor + 1, now, out);
    if (state.head_seq >= c.next) {
      c.catch_up_to = std::max(c.catch_up_to, state.head_seq);
      c.pages = 0;
      c.failures = 0;  // earlier short pulls do not cut this catch-up short
      if (!c.counted_for_resync) {
        c.counted_for_resync = true;
        ++catching_up_for_resync_;
      }
    }
    schedule(c, now, out);
  }
  // Pushes of conversations this Sync did not name (newer than its snapshot): the first one
  // held sets the floor.
  std::vector<std::string> waiting(awaiting_floor_.begin(), awaiting_floor_.end());
  for (const std::string& conversation_id : waiting) {
    if (Conversation* c = find(conversation_id)) {
      set_floor(*c, c->held.empty() ? c->catch_up_to : c->held.begin()->first, now, out);
      schedule(*c, now, out);
    }
  }
  awaiting_floor_.clear();
  settle_resyncs();
  issue_sync(now, out);  // a resync asked while this one was in flight
}

void DeliveryOrder::on_sync_failed(std::uint64_t id, const Error& error, TimePoint now,
                                   DeliveryDirectives& out) {
  if (id == 0 || id != sync_id_) return;
  sync_id_ = 0;
  // Pushes waiting for a floor wait no longer: the first one held sets it.
  std::vector<std::string> waiting(awaiting_floor_.begin(), awaiting_floor_.end());
  for (const std::string& conversation_id : waiting) {
    if (Conversation* c = find(conversation_id)) {
      set_floor(*c, c->held.empty() ? c->catch_up_to : c->held.begin()->first, now, out);
      schedule(*c, now, out);
    }
  }
  awaiting_floor_.clear();
  // The backoff goes on doubling across the resyncs below: a Sync fails while partitions
  // change leaders, which takes a moment, not a fixed retry_max.
  TimePoint retry = now + backoff(++sync_failures_);
  if (sync_failures_ < sync_attempts_max) {
    if (!sync_wanted_at_ || retry < *sync_wanted_at_) sync_wanted_at_ = retry;
    return;
  }
  resyncs_failed_ = std::max(resyncs_failed_, sync_covers_);
  resync_error_ = error;
  // Those who waited are told; the catch-up is not given up. What the resync was for (messages
  // sent while the session was away) may be in any conversation, and no push will reveal it: a
  // resync of its own follows, until one succeeds or the session ends.
  ++resyncs_asked_;
  if (!sync_wanted_at_ || retry < *sync_wanted_at_) sync_wanted_at_ = retry;
  issue_sync(now, out);  // one asked meanwhile gets its own attempts
}

// --- Session and time -----------------------------------------------------------------------

void DeliveryOrder::on_session_ready(TimePoint now, DeliveryDirectives& out) {
  ready_ = true;
  issue_sync(now, out);
  for (auto& [id, conversation] : conversations_)
    schedule(conversation, now, out);
}

void DeliveryOrder::on_session_lost() {
  ready_ = false;
  pulls_.clear();
  pulls_in_flight_ = 0;
  pull_queue_.clear();
  for (auto& [id, conversation] : conversations_) {
    conversation.pull_id = 0;
    conversation.queued = false;
    conversation.counted_for_resync = false;
  }
  catching_up_for_resync_ = 0;
  sync_id_ = 0;
  sync_failures_ = 0;
  sync_wanted_at_.reset();
  if (resyncs_done_ < resyncs_asked_ && resyncs_failed_ < resyncs_asked_) {
    resyncs_failed_ = resyncs_asked_;
    resync_error_ = Error{errc::unavailable, "the connection was lost during the resync"};
  }
}

void DeliveryOrder::reset() {
  on_session_lost();
  conversations_.clear();
  recency_.clear();
  timed_.clear();
  awaiting_floor_.clear();
  held_total_ = 0;
}

void DeliveryOrder::tick(TimePoint now, DeliveryDirectives& out) {
  issue_sync(now, out);
  std::vector<std::string> timed(timed_.begin(), timed_.end());
  for (const std::string& id : timed) {
    Conversation* conversation = find(id);
    if (conversation == nullptr) {
      timed_.erase(id);
      continue;
    }
    Conversation& c = *conversation;
    if (c.gap_since && now - *c.gap_since >= limits_.gap_timeout) fall_back(c, 0);
    if (c.retry_at && *c.retry_at <= now) c.retry_at.reset();
    update_timers(c);
    schedule(c, now, out);
  }
  dispatch_queued(now, out);
}

std::optional<DeliveryOrder::TimePoint> DeliveryOrder::next_deadline() const {
  std::optional<TimePoint> earliest;
  auto consider = [&earliest](TimePoint at) {
    if (!earliest || at < *earliest) earliest = at;
  };
  if (ready_ && sync_id_ == 0 && sync_wanted_at_) consider(*sync_wanted_at_);
  for (const std::string& id : timed_) {
    auto found = conversations_.find(id);
    if (found == conversations_.end()) continue;
    const Conversation& c = found->second;
    if (c.gap_since) consider(*c.gap_since + limits_.gap_timeout);
    if (c.retry_at) consider(*c.retry_at);
  }
  return earliest;
}

void DeliveryOrder::check_invariants() const {
  std::size_t held = 0, counted = 0, in_flight = 0, queued = 0;
  for (const auto& [id, c] : conversations_) {
    require(c.id == id, "a conversation's id matches its key");
    require(c.held.size() <= limits_.max_held_per_conversation, "held per conversation bound");
    require(c.own_above.size() <= limits_.max_held_per_conversation, "own_above bound");
    held += c.held.size();
    if (c.known) {
      require(c.next >= 1, "a known conversation's next is at least 1");
      require(c.held.empty() || c.held.begin()->first > c.next, "held pushes are above next");
      require(c.gap_since.has_value() == !c.held.empty(), "gap_since is set exactly on a gap");
      require(c.own_above.empty() || *c.own_above.begin() >= c.next, "own_above is not behind");
    } else {
      require(c.next == 0 && c.pull_id == 0, "an unknown conversation is not pulled");
      require(awaiting_floor_.contains(id) == (!c.held.empty() || c.catch_up_to != 0),
              "an unknown conversation holding pushes awaits a floor");
    }
    require(timed_.contains(id) == (c.gap_since || c.retry_at), "timed_ names the timed");
    if (c.counted_for_resync) {
      ++counted;
      require(c.catch_up_to != 0, "a counted conversation is catching up");
    }
    if (c.pull_id != 0) {
      ++in_flight;
      auto found = pulls_.find(c.pull_id);
      require(found != pulls_.end() && found->second == id, "a pull in flight is registered");
    }
    if (c.queued) ++queued;
  }
  require(held == held_total_ && held_total_ <= limits_.max_held, "held total and its bound");
  require(counted == catching_up_for_resync_, "resync catch-ups are counted");
  require(in_flight == pulls_in_flight_ && pulls_.size() == pulls_in_flight_,
          "pulls in flight are counted");
  require(pulls_in_flight_ <= limits_.max_pulls_in_flight, "pulls in flight bound");
  require(queued == pull_queue_.size(), "queued conversations are in the queue");
  require(ready_ || (pulls_in_flight_ == 0 && sync_id_ == 0), "no request without a session");
  require(recency_.size() == conversations_.size(), "recency lists every conversation");
  require(conversations_.size() <= limits_.max_conversations, "conversation bound");
  require(resyncs_done_ <= resyncs_synced_ && resyncs_synced_ <= resyncs_asked_ &&
              resyncs_failed_ <= resyncs_asked_,
          "resync counters are ordered");
}

}  // namespace qim::client
