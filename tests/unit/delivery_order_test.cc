// DeliveryOrder: each conversation's messages reach the application in seq order, once, from
// pushes and pulls alike; gaps are pulled at once; memory stays bounded (client/delivery_order.h).
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "client/delivery_order.h"

namespace {

using namespace std::chrono_literals;
using qim::ConversationState;
using qim::Error;
using qim::Message;
using qim::client::DeliveryDirectives;
using qim::client::DeliveryLimits;
using qim::client::DeliveryOrder;
using TimePoint = DeliveryOrder::TimePoint;
using ResyncState = DeliveryOrder::ResyncState;

Message message(const std::string& conversation, std::uint64_t seq) {
  Message m;
  m.conversation = conversation;
  m.seq = seq;
  m.body = conversation + "#" + std::to_string(seq);
  return m;
}

std::vector<Message> range(const std::string& conversation, std::uint64_t first,
                           std::uint64_t last) {
  std::vector<Message> messages;
  for (std::uint64_t seq = first; seq <= last; ++seq)
    messages.push_back(message(conversation, seq));
  return messages;
}

// Drives one DeliveryOrder and remembers what it handed over and asked for.
struct Harness {
  explicit Harness(DeliveryLimits limits = {}) : order(limits) {
    DeliveryDirectives out;
    order.on_session_ready(now, out);
    take(out);
  }

  void take(DeliveryDirectives& out) {
    for (auto& delivery : out.deliveries) {
      everything.push_back(delivery.message);
      if (delivery.own) {
        own.push_back(delivery.message.seq);
        continue;
      }
      delivered.push_back(delivery.message);
      from_sync.push_back(delivery.from_sync);
    }
    for (auto& pull : out.pulls)
      pulls.push_back(pull);
    if (out.sync) syncs.push_back(*out.sync);
    order.check_invariants();
  }
  void sent(const std::string& conversation, std::uint64_t seq) {
    DeliveryDirectives out;
    order.on_sent(conversation, seq, now, out);
    take(out);
  }
  void push(const std::string& conversation, std::uint64_t seq) {
    DeliveryDirectives out;
    order.on_push(message(conversation, seq), now, out);
    take(out);
  }
  void answer_pull(std::size_t index, std::vector<Message> messages, bool more) {
    auto pull = pulls.at(index);
    pulls.erase(pulls.begin() + static_cast<std::ptrdiff_t>(index));
    DeliveryDirectives out;
    order.on_pull(pull.id, std::move(messages), more, now, out);
    take(out);
  }
  void fail_pull(std::size_t index) {
    auto pull = pulls.at(index);
    pulls.erase(pulls.begin() + static_cast<std::ptrdiff_t>(index));
    DeliveryDirectives out;
    order.on_pull_failed(pull.id, Error{qim::errc::unavailable, "test"}, now, out);
    take(out);
  }
  void answer_sync(const std::vector<ConversationState>& states) {
    REQUIRE_FALSE(syncs.empty());
    auto id = syncs.front();
    syncs.erase(syncs.begin());
    DeliveryDirectives out;
    order.on_sync(id, states, now, out);
    take(out);
  }
  void fail_sync() {
    REQUIRE_FALSE(syncs.empty());
    auto id = syncs.front();
    syncs.erase(syncs.begin());
    DeliveryDirectives out;
    order.on_sync_failed(id, Error{qim::errc::unavailable, "test"}, now, out);
    take(out);
  }
  void advance(std::chrono::milliseconds by) {
    now += by;
    DeliveryDirectives out;
    order.tick(now, out);
    take(out);
  }
  std::uint64_t resync(std::chrono::milliseconds delay = 0ms) {
    DeliveryDirectives out;
    auto number = order.request_resync(now, delay, out);
    take(out);
    return number;
  }
  std::vector<std::uint64_t> seqs() const {
    std::vector<std::uint64_t> out;
    for (const auto& m : delivered)
      out.push_back(m.seq);
    return out;
  }

  DeliveryOrder order;
  TimePoint now{std::chrono::seconds(1000)};
  std::vector<Message> delivered;
  std::vector<bool> from_sync;
  std::vector<std::uint64_t> own;   // own messages taking their place
  std::vector<Message> everything;  // shown and own, in the order handed over
  std::vector<DeliveryDirectives::Pull> pulls;
  std::vector<std::uint64_t> syncs;
};

using Seqs = std::vector<std::uint64_t>;

TEST_CASE("delivery order: pushes in order go straight through, duplicates are dropped",
          "[delivery]") {
  Harness h;
  for (std::uint64_t seq : {1, 2, 2, 3, 1, 4})
    h.push("d:a:b", seq);
  CHECK(h.seqs() == Seqs{1, 2, 3, 4});
  CHECK(h.pulls.empty());
  CHECK(h.syncs.empty());
  CHECK(h.order.stats().duplicates_dropped == 2);
  CHECK(std::none_of(h.from_sync.begin(), h.from_sync.end(), [](bool b) { return b; }));
}

TEST_CASE("delivery order: a push beyond the next seq pulls exactly the gap at once",
          "[delivery]") {
  Harness h;
  h.push("g:x", 1);
  h.push("g:x", 4);  // 2 and 3 are missing
  CHECK(h.seqs() == Seqs{1});
  REQUIRE(h.pulls.size() == 1);
  CHECK(h.pulls[0].conversation == "g:x");
  CHECK(h.pulls[0].after_seq == 1);
  CHECK(h.pulls[0].limit == 2);
  h.push("g:x", 5);  // held too; no second pull while one is in flight
  CHECK(h.pulls.size() == 1);
  h.answer_pull(0, range("g:x", 2, 3), true);
  CHECK(h.seqs() == Seqs{1, 2, 3, 4, 5});
  CHECK(h.from_sync == std::vector<bool>{false, true, true, false, false});
  CHECK(h.order.held() == 0);
  // The push of a message that was pulled comes late: never handed over again.
  h.push("g:x", 3);
  h.push("g:x", 2);
  CHECK(h.seqs() == Seqs{1, 2, 3, 4, 5});
  CHECK(h.pulls.empty());
}

TEST_CASE("delivery order: this session's own messages take their place and are never shown",
          "[delivery]") {
  Harness h;
  h.sent("d:a:b", 1);  // a SendAck: the server pushes it only to the sender's other sessions
  h.sent("d:a:b", 2);
  h.push("d:a:b", 3);  // the reply
  CHECK(h.seqs() == Seqs{3});
  CHECK(h.own == Seqs{1, 2});
  CHECK(h.pulls.empty());
  // A reply that overtakes the SendAck: its gap is the own message, which then fills it.
  h.push("d:a:b", 5);
  REQUIRE(h.pulls.size() == 1);
  h.sent("d:a:b", 4);
  CHECK(h.seqs() == Seqs{3, 5});
  CHECK(h.own == Seqs{1, 2, 4});
  // The pull of the gap comes back with the own message: not shown.
  h.answer_pull(0, range("d:a:b", 4, 4), true);
  CHECK(h.seqs() == Seqs{3, 5});
  // In an unknown conversation, an own message held with the pushes does not show in the pull.
  h.push("g:x", 7);
  h.sent("g:x", 8);
  h.answer_sync({{"g:x", 8, 5, 1, "x"}});
  REQUIRE(h.pulls.size() == 1);
  CHECK(h.pulls[0].after_seq == 5);
  h.answer_pull(0, range("g:x", 6, 8), false);
  CHECK(h.seqs() == Seqs{3, 5, 6, 7});
  CHECK(h.own == Seqs{1, 2, 4, 8});
}

TEST_CASE("delivery order: a pull that fails is retried with backoff", "[delivery]") {
  Harness h;
  h.push("d:a:b", 1);
  h.push("d:a:b", 3);
  REQUIRE(h.pulls.size() == 1);
  h.fail_pull(0);
  CHECK(h.pulls.empty());
  REQUIRE(h.order.next_deadline());
  h.advance(
      std::chrono::duration_cast<std::chrono::milliseconds>(*h.order.next_deadline() - h.now));
  REQUIRE(h.pulls.size() == 1);
  CHECK(h.pulls[0].after_seq == 1);
  h.answer_pull(0, range("d:a:b", 2, 2), true);
  CHECK(h.seqs() == Seqs{1, 2, 3});
}

TEST_CASE("delivery order: progress by a push clears the pull failures before it", "[delivery]") {
  DeliveryLimits limits;
  limits.max_failures = 3;
  Harness h(limits);
  h.push("d:a:b", 1);
  h.push("d:a:b", 3);
  for (int attempt = 0; attempt < 2; ++attempt) {
    REQUIRE(h.pulls.size() == 1);
    h.fail_pull(0);
    h.advance(1s);
  }
  REQUIRE(h.pulls.size() == 1);
  h.push("d:a:b", 2);  // the push came after all: 2 and 3 go through
  CHECK(h.seqs() == Seqs{1, 2, 3});
  h.answer_pull(0, {}, false);  // the pull in flight finds nothing new
  h.push("d:a:b", 5);
  REQUIRE(h.pulls.size() == 1);
  h.fail_pull(0);
  // One failure of this gap, not the third in a row: retried, the push above still held.
  CHECK(h.order.held() == 1);
  h.advance(1s);
  REQUIRE(h.pulls.size() == 1);
  h.answer_pull(0, range("d:a:b", 4, 4), false);
  CHECK(h.seqs() == Seqs{1, 2, 3, 4, 5});
}

TEST_CASE("delivery order: the first push of an unknown conversation waits for the floor",
          "[delivery]") {
  Harness h;
  SECTION("a Sync gives the read cursor; the unread messages before the push come first") {
    h.push("g:x", 6);
    CHECK(h.delivered.empty());
    REQUIRE(h.syncs.size() == 1);
    h.push("g:x", 7);
    CHECK(h.syncs.size() == 1);  // one Sync for all of them
    h.answer_sync({{"g:x", 6, /*read_seq=*/3, /*first_seq=*/1, "x"}});
    REQUIRE(h.pulls.size() == 1);
    CHECK(h.pulls[0].after_seq == 3);
    h.answer_pull(0, range("g:x", 4, 6), false);
    CHECK(h.seqs() == Seqs{4, 5, 6, 7});
    // 6 was pulled too, but it came as a push first: it is handed over as such.
    CHECK(h.from_sync == std::vector<bool>{true, true, false, false});
  }
  SECTION("a member who joined at seq 5 starts there") {
    h.push("g:x", 5);
    h.answer_sync({{"g:x", 5, 0, /*first_seq=*/5, "x"}});
    CHECK(h.seqs() == Seqs{5});
    CHECK(h.pulls.empty());
  }
  SECTION("a Sync that fails, or does not name it, lets the first push set the floor") {
    h.push("g:x", 6);
    h.push("g:y", 9);
    h.fail_sync();
    CHECK(h.seqs() == Seqs{6, 9});
    h.push("g:z", 4);
    REQUIRE(h.syncs.size() == 1);  // the failed one's retry, brought forward for the new floor
    h.answer_sync({});
    CHECK(h.seqs() == Seqs{6, 9, 4});
  }
  SECTION("seq 1 needs no floor") {
    h.push("d:a:b", 1);
    CHECK(h.seqs() == Seqs{1});
    CHECK(h.syncs.empty());
  }
}

TEST_CASE("delivery order: a resync catches every conversation up, page by page", "[delivery]") {
  DeliveryLimits limits;
  limits.page_limit = 2;
  Harness h(limits);
  h.push("d:a:b", 1);
  auto resync = h.resync();
  CHECK(h.order.resync_state(resync) == ResyncState::pending);
  h.answer_sync({{"d:a:b", 4, 0, 1, "b"}, {"g:x", 3, 1, 1, "x"}, {"g:y", 0, 0, 1, "y"}});
  REQUIRE(h.pulls.size() == 2);
  CHECK(h.order.resync_state(resync) == ResyncState::pending);
  // d:a:b from 1 in two pages; g:x from its read cursor 1.
  std::size_t direct = h.pulls[0].conversation == "d:a:b" ? 0 : 1;
  CHECK(h.pulls[direct].after_seq == 1);
  CHECK(h.pulls[1 - direct].after_seq == 1);
  h.answer_pull(1 - direct, range("g:x", 2, 3), false);
  direct = 0;
  h.answer_pull(direct, range("d:a:b", 2, 3), true);
  REQUIRE(h.pulls.size() == 1);
  CHECK(h.pulls[0].after_seq == 3);
  h.answer_pull(0, range("d:a:b", 4, 4), false);
  CHECK(h.order.resync_state(resync) == ResyncState::done);
  CHECK(h.order.next_seq("d:a:b") == 5);
  CHECK(h.order.next_seq("g:x") == 4);
  CHECK(h.order.next_seq("g:y") == 1);
}

TEST_CASE("delivery order: a catch-up that ends short of the Sync's head pulls again",
          "[delivery]") {
  DeliveryLimits limits;
  limits.max_failures = 3;
  Harness h(limits);
  h.push("d:a:b", 1);
  auto resync = h.resync();
  h.answer_sync({{"d:a:b", 3, 1, 1, "b"}});
  REQUIRE(h.pulls.size() == 1);
  CHECK(h.pulls[0].after_seq == 1);
  SECTION("the server catches up") {
    // Answered by a server whose log is behind the head its Sync reported.
    h.answer_pull(0, range("d:a:b", 2, 2), false);
    CHECK(h.pulls.empty());
    CHECK(h.order.resync_state(resync) == ResyncState::pending);
    REQUIRE(h.order.next_deadline());
    h.advance(
        std::chrono::duration_cast<std::chrono::milliseconds>(*h.order.next_deadline() - h.now));
    REQUIRE(h.pulls.size() == 1);
    CHECK(h.pulls[0].after_seq == 2);
    h.answer_pull(0, {}, false);
    h.advance(5s);
    REQUIRE(h.pulls.size() == 1);
    h.answer_pull(0, range("d:a:b", 3, 3), false);
    CHECK(h.seqs() == Seqs{1, 2, 3});
    CHECK(h.order.resync_state(resync) == ResyncState::done);
  }
  SECTION("it never does: given up after max_failures, and the resync ends") {
    for (std::uint32_t attempt = 0; attempt < limits.max_failures; ++attempt) {
      REQUIRE(h.pulls.size() == 1);
      h.answer_pull(0, {}, false);
      h.advance(5s);
    }
    CHECK(h.pulls.empty());
    CHECK(h.order.resync_state(resync) == ResyncState::done);
    CHECK(h.seqs() == Seqs{1});
    // The next Sync that names the head catches up again, with its own attempts.
    auto again = h.resync();
    h.answer_sync({{"d:a:b", 3, 1, 1, "b"}});
    REQUIRE(h.pulls.size() == 1);
    h.answer_pull(0, range("d:a:b", 2, 3), false);
    CHECK(h.seqs() == Seqs{1, 2, 3});
    CHECK(h.order.resync_state(again) == ResyncState::done);
  }
}

TEST_CASE("delivery order: a resync fails when its Sync fails for good or the session is lost",
          "[delivery]") {
  Harness h;
  SECTION("Sync failures") {
    auto resync = h.resync();
    for (int attempt = 0; attempt < 3; ++attempt) {
      REQUIRE(h.syncs.size() == 1);
      h.fail_sync();
      if (attempt < 2) {
        CHECK(h.order.resync_state(resync) == ResyncState::pending);
        h.advance(5s);
      }
    }
    CHECK(h.order.resync_state(resync) == ResyncState::failed);
    CHECK(h.syncs.empty());
    // Not given up: another Sync follows at the backoff's next step (100, 200, then 400 ms),
    // and its answer catches the conversations up.
    auto follow_up = h.order.latest_resync();
    CHECK(follow_up > resync);
    h.advance(399ms);
    CHECK(h.syncs.empty());
    h.advance(1ms);
    REQUIRE(h.syncs.size() == 1);
    // It fails too: reported, and the next waits twice as long.
    h.fail_sync();
    CHECK(h.order.resync_state(follow_up) == ResyncState::failed);
    h.advance(799ms);
    CHECK(h.syncs.empty());
    h.advance(1ms);
    REQUIRE(h.syncs.size() == 1);
    CHECK(h.order.resync_state(h.order.latest_resync()) == ResyncState::pending);
    h.answer_sync({{"d:a:b", 2, 0, 1, "b"}});
    REQUIRE(h.pulls.size() == 1);
    h.answer_pull(0, range("d:a:b", 1, 2), false);
    CHECK(h.seqs() == Seqs{1, 2});
    h.advance(10s);
    CHECK(h.syncs.empty());  // and no more once one succeeded
  }
  SECTION("the session is lost; answers that come late are ignored") {
    h.push("d:a:b", 1);
    h.push("d:a:b", 3);
    auto resync = h.resync();
    REQUIRE(h.pulls.size() == 1);
    REQUIRE(h.syncs.size() == 1);
    h.order.on_session_lost();
    CHECK(h.order.resync_state(resync) == ResyncState::failed);
    CHECK(h.order.pulls_in_flight() == 0);
    h.answer_pull(0, range("d:a:b", 2, 2), true);
    h.answer_sync({});
    CHECK(h.seqs() == Seqs{1});
    // Back: the gap is pulled again.
    DeliveryDirectives out;
    h.order.on_session_ready(h.now, out);
    h.take(out);
    REQUIRE(h.pulls.size() == 1);
    h.answer_pull(0, range("d:a:b", 2, 2), true);
    CHECK(h.seqs() == Seqs{1, 2, 3});
  }
}

TEST_CASE("delivery order: held pushes are bounded; beyond, the conversation catches up by pulls",
          "[delivery]") {
  DeliveryLimits limits;
  limits.max_held_per_conversation = 4;
  limits.max_held = 6;
  limits.page_limit = 100;
  Harness h(limits);
  h.push("g:x", 1);
  h.push("g:y", 1);
  for (std::uint64_t seq = 3; seq <= 20; ++seq)
    h.push("g:x", seq);
  CHECK(h.order.held() <= 4);
  CHECK(h.order.stats().fallbacks >= 1);
  for (std::uint64_t seq = 3; seq <= 6; ++seq)
    h.push("g:y", seq);
  CHECK(h.order.held() <= limits.max_held);
  // Answer whatever is asked from the full logs until nothing more is asked.
  for (int round = 0; round < 20 && !h.pulls.empty(); ++round) {
    auto pull = h.pulls.front();
    std::uint64_t last = pull.conversation == "g:x" ? 20 : 6;
    std::uint64_t to = std::min(last, pull.after_seq + pull.limit);
    h.answer_pull(0, range(pull.conversation, pull.after_seq + 1, to), to < last);
  }
  CHECK(h.pulls.empty());
  CHECK(h.order.next_seq("g:x") == 21);
  CHECK(h.order.next_seq("g:y") == 7);
  CHECK(h.order.held() == 0);
}

TEST_CASE("delivery order: a gap not repaired in time gives its held pushes up to a catch-up",
          "[delivery]") {
  Harness h;
  h.push("d:a:b", 1);
  h.push("d:a:b", 3);
  REQUIRE(h.pulls.size() == 1);
  // The server does not have seq 2 yet: empty answers are retried until the gap deadline, then
  // the catch-up to seq 3 is retried until it gives up too.
  h.answer_pull(0, {}, false);
  CHECK(h.order.held() == 1);
  while (h.now < TimePoint(std::chrono::seconds(1000)) + 20s) {
    h.advance(250ms);
    while (!h.pulls.empty())
      h.answer_pull(0, {}, false);
  }
  CHECK(h.order.held() == 0);
  CHECK(h.order.stats().fallbacks == 1);
  CHECK(h.seqs() == Seqs{1});
  // Later the server has it: the next push pulls the range again, and nothing is lost.
  h.push("d:a:b", 4);
  REQUIRE(h.pulls.size() == 1);
  CHECK(h.pulls[0].after_seq == 1);
  h.answer_pull(0, range("d:a:b", 2, 3), true);
  CHECK(h.seqs() == Seqs{1, 2, 3, 4});
}

TEST_CASE("delivery order: pulls in flight are bounded and the rest wait their turn",
          "[delivery]") {
  DeliveryLimits limits;
  limits.max_pulls_in_flight = 2;
  Harness h(limits);
  for (int i = 0; i < 5; ++i) {
    std::string conversation = "g:" + std::to_string(i);
    h.push(conversation, 1);
    h.push(conversation, 3);
  }
  CHECK(h.pulls.size() == 2);
  while (!h.pulls.empty()) {
    auto pull = h.pulls.front();
    h.answer_pull(0, range(pull.conversation, 2, 2), true);
    CHECK(h.order.pulls_in_flight() <= 2);
  }
  CHECK(h.delivered.size() == 15);
}

TEST_CASE("delivery order: the conversations tracked are bounded", "[delivery]") {
  DeliveryLimits limits;
  limits.max_conversations = 8;
  Harness h(limits);
  for (int i = 0; i < 100; ++i)
    h.push("g:" + std::to_string(i), 1);
  CHECK(h.order.conversations() <= 8);
  CHECK(h.delivered.size() == 100);
}

// A server with one log per conversation, and a network that delays, reorders, duplicates and
// loses pushes and fails some requests: whatever happens, each conversation's output is
// strictly increasing with no duplicates, memory stays within its bounds, and after a final
// resync every message is out.
TEST_CASE("delivery order: in order and exactly once over random runs", "[delivery]") {
  // Fixed seeds always run; QIM_TEST_SEED replays a failing one, and one fresh seed per run
  // widens coverage over time. A failure prints the seed.
  std::uint64_t seed = GENERATE(1, 2, 3, 4, 5, 0);
  if (seed == 0) {
    const char* fixed = std::getenv("QIM_TEST_SEED");
    seed = fixed ? std::strtoull(fixed, nullptr, 10) : std::random_device()();
  }
  INFO("seed " << seed << " (rerun with QIM_TEST_SEED=" << seed << ")");
  std::mt19937_64 random(seed);
  auto chance = [&random](int percent) { return static_cast<int>(random() % 100) < percent; };

  DeliveryLimits limits;
  limits.max_held_per_conversation = 8;
  limits.max_held = 20;
  limits.page_limit = 5;
  limits.max_pulls_in_flight = 3;
  Harness h(limits);
  const std::vector<std::string> conversations = {"d:a:b", "g:x", "g:y", "g:z"};
  std::map<std::string, std::uint64_t> head;         // the server's logs: 1..head
  std::map<std::string, std::uint64_t> read_cursor;  // what the Sync reports
  for (const auto& conversation : conversations) {
    head[conversation] = random() % 4;
    read_cursor[conversation] = head[conversation] == 0 ? 0 : random() % head[conversation];
  }
  std::deque<Message> network;  // pushes in flight
  std::map<std::string, std::uint64_t> last_out;
  std::set<std::pair<std::string, std::uint64_t>> own_sent;
  auto check_output = [&] {
    for (const auto& m : h.everything) {
      auto& last = last_out[m.conversation];
      REQUIRE(m.seq > last);  // strictly increasing: in order, no duplicate
      last = m.seq;
    }
    for (const auto& m : h.delivered) {
      REQUIRE(m.body == m.conversation + "#" + std::to_string(m.seq));
      REQUIRE_FALSE(own_sent.contains({m.conversation, m.seq}));  // never shown to its sender
    }
    h.everything.clear();
    h.delivered.clear();
    REQUIRE(h.order.held() <= limits.max_held);
  };
  auto answer_requests = [&](int fail_percent) {
    while (!h.syncs.empty()) {
      if (chance(fail_percent)) {
        h.fail_sync();
        continue;
      }
      std::vector<ConversationState> states;
      for (const auto& conversation : conversations)
        states.push_back({conversation, head[conversation], read_cursor[conversation], 1, ""});
      h.answer_sync(states);
    }
    while (!h.pulls.empty()) {
      std::size_t index = random() % h.pulls.size();
      if (chance(fail_percent)) {
        h.fail_pull(index);
        continue;
      }
      auto pull = h.pulls[index];
      std::uint64_t last = head[pull.conversation];
      std::uint64_t to = std::min(last, pull.after_seq + pull.limit);
      auto page = pull.after_seq + 1 <= to ? range(pull.conversation, pull.after_seq + 1, to)
                                           : std::vector<Message>{};
      h.answer_pull(index, std::move(page), to < last);
    }
  };

  for (int step = 0; step < 400; ++step) {
    int what = static_cast<int>(random() % 100);
    if (what < 40) {
      // A message is stored and pushed; the push may be lost or duplicated.
      const auto& conversation = conversations[random() % conversations.size()];
      std::uint64_t seq = ++head[conversation];
      if (chance(20)) {
        // Sent by this session: its SendAck takes the place of a push.
        own_sent.insert({conversation, seq});
        h.sent(conversation, seq);
      } else {
        if (!chance(15)) network.push_back(message(conversation, seq));
        if (chance(5)) network.push_back(message(conversation, seq));
      }
    } else if (what < 75 && !network.empty()) {
      // A push arrives, not necessarily the oldest.
      std::size_t index = chance(70) ? 0 : random() % network.size();
      Message arriving = network[index];
      network.erase(network.begin() + static_cast<std::ptrdiff_t>(index));
      DeliveryDirectives out;
      h.order.on_push(std::move(arriving), h.now, out);
      h.take(out);
    } else if (what < 90) {
      answer_requests(10);
    } else if (what < 95) {
      h.advance(std::chrono::milliseconds(random() % 3000));
    } else if (what < 97) {
      h.resync(std::chrono::milliseconds(random() % 500));
    } else {
      h.order.on_session_lost();
      h.pulls.clear();
      h.syncs.clear();
      DeliveryDirectives out;
      h.order.on_session_ready(h.now, out);
      h.take(out);
      h.resync();
    }
    check_output();
  }
  // Quiet: everything pending arrives, then a resync; every message is out, once.
  while (!network.empty()) {
    DeliveryDirectives out;
    h.order.on_push(network.front(), h.now, out);
    network.pop_front();
    h.take(out);
  }
  auto final_resync = h.resync();
  for (int round = 0; round < 200 && h.order.resync_state(final_resync) != ResyncState::done;
       ++round) {
    answer_requests(0);
    h.advance(3s);
  }
  answer_requests(0);
  CHECK(h.order.resync_state(final_resync) == ResyncState::done);
  check_output();
  // The run went through what it is meant to: gaps repaired by pulls, duplicates dropped.
  CHECK(h.order.stats().gaps_opened > 0);
  CHECK(h.order.stats().delivered_pulled > 0);
  CHECK(h.order.stats().duplicates_dropped > 0);
  for (const auto& conversation : conversations) {
    INFO(conversation);
    CHECK(h.order.next_seq(conversation) == head[conversation] + 1);
    if (head[conversation] > read_cursor[conversation]) {
      CHECK(last_out[conversation] == head[conversation]);
    }
  }
}

}  // namespace
