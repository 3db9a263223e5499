// The checker on synthetic histories: a clean one passes, and each kind of violation is found
// where it was planted, and correct behaviour (retries, refusals the data justifies) is not
// flagged.
#include "checker.h"

#include <catch2/catch.hpp>

#include "history.h"

namespace qim::soak {
namespace {

std::uint64_t next_op_id = 1;

Operation op(std::string name, std::string user, std::string target, std::int64_t start_ms,
             errc code = errc::ok, std::string phase = "setup") {
  Operation out;
  out.op = std::move(name);
  out.user = std::move(user);
  out.target = std::move(target);
  out.op_id = next_op_id++;
  out.start_ms = start_ms;
  out.end_ms = start_ms + 5;
  out.node = "n1";
  out.phase = std::move(phase);
  out.code = code;
  return out;
}

SendAttempt send(std::string user, std::string to_user, std::string to_group,
                 std::string conversation, std::uint64_t counter, std::int64_t start_ms,
                 std::uint64_t seq) {
  SendAttempt out;
  out.user = std::move(user);
  out.to_user = std::move(to_user);
  out.to_group = std::move(to_group);
  out.conversation = std::move(conversation);
  out.counter = counter;
  out.client_msg_id = counter;
  out.body = out.user + " #" + std::to_string(counter);
  out.start_ms = start_ms;
  out.end_ms = start_ms + 10;
  out.node = "n1";
  out.ack_conversation = out.conversation;
  out.seq = seq;
  return out;
}

StoredMessage stored(const SendAttempt& sent) {
  return {sent.seq, sent.user, sent.client_msg_id, sent.body};
}

Delivery delivery(const std::string& user, const SendAttempt& sent, std::int64_t at_ms,
                  bool live = true) {
  return {
      user,      user + "-s1", at_ms, sent.conversation, sent.seq, sent.user, sent.client_msg_id,
      sent.body, live};
}

const char* direct = "d:alice:bob";
const char* group = "g:team";

// alice and bob are friends and, with carol, in group "team" (alice owns it); alice sends two
// direct messages and bob one group message; everyone was handed what they should get and the
// end state is intact.
History clean_history() {
  History h;
  h.run.seed = 7;
  h.run.leave_bound_ms = 30'000;
  for (const char* user : {"alice", "bob", "carol"})
    h.operations.push_back(op("register", user, user, 0));
  h.operations.push_back(op("friend_request", "alice", "bob", 10));
  h.operations.push_back(op("friend_accept", "bob", "alice", 20));
  Operation create = op("group_create", "alice", "team", 30);
  create.members = {"bob", "carol"};
  h.operations.push_back(create);
  h.phases.push_back({"run", 100});
  h.sends.push_back(send("alice", "bob", "", direct, 1, 100, 1));
  h.sends.push_back(send("alice", "bob", "", direct, 2, 200, 2));
  h.sends.push_back(send("bob", "", "team", group, 1, 150, 1));
  h.deliveries.push_back(delivery("bob", h.sends[0], 111));
  h.deliveries.push_back(delivery("bob", h.sends[1], 211));
  h.deliveries.push_back(delivery("alice", h.sends[2], 161));
  h.deliveries.push_back(delivery("carol", h.sends[2], 161));
  h.phases.push_back({"drain", 300});
  h.syncs.push_back(
      {"alice", "d1", "alice-s1", "session_end", 400, 405, {{direct, 2, 0, 1}, {group, 1, 0, 1}}});
  h.syncs.push_back(
      {"bob", "d1", "bob-s1", "session_end", 400, 405, {{direct, 2, 2, 1}, {group, 1, 0, 1}}});
  h.syncs.push_back({"carol", "d1", "carol-s1", "session_end", 400, 405, {{group, 1, 1, 1}}});
  for (const char* user : {"alice", "bob", "carol"})
    h.operations.push_back(op("login", user, user, 500, errc::ok, "final"));
  h.syncs.push_back(
      {"alice", "d1", "alice-f", "final", 510, 515, {{direct, 2, 0, 1}, {group, 1, 0, 1}}});
  h.syncs.push_back(
      {"bob", "d1", "bob-f", "final", 510, 515, {{direct, 2, 2, 1}, {group, 1, 0, 1}}});
  h.syncs.push_back({"carol", "d1", "carol-f", "final", 510, 515, {{group, 1, 1, 1}}});
  h.read_backs.push_back(
      {direct, "alice", 520, true, errc::ok, {}, {stored(h.sends[0]), stored(h.sends[1])}});
  h.read_backs.push_back(
      {direct, "bob", 520, true, errc::ok, {}, {stored(h.sends[0]), stored(h.sends[1])}});
  h.read_backs.push_back({group, "carol", 520, true, errc::ok, {}, {stored(h.sends[2])}});
  h.friend_lists.push_back({"alice", 530, errc::ok, {}, {{"bob", "accepted"}}});
  h.friend_lists.push_back({"bob", 530, errc::ok, {}, {{"alice", "accepted"}}});
  h.friend_lists.push_back({"carol", 530, errc::ok, {}, {}});
  h.rosters.push_back({"team", "alice", 540, errc::ok, {}, {"alice", "bob", "carol"}});
  return h;
}

std::uint64_t count(const CheckResult& result, ViolationKind kind) {
  return result.violation_counts[static_cast<std::size_t>(kind)];
}

// Exactly `kind` was found (once or more), and nothing else.
void require_only(const CheckResult& result, ViolationKind kind) {
  for (const auto& violation : result.violations) {
    INFO(violation_kind_name(violation.kind) << ": " << violation.detail);
    CHECK(violation.kind == kind);
  }
  REQUIRE(count(result, kind) > 0);
}

}  // namespace

TEST_CASE("a clean history has no violations", "[soak][checker]") {
  History h = clean_history();
  CheckResult result = check_history(h);
  for (const auto& violation : result.violations)
    INFO(violation_kind_name(violation.kind) << ": " << violation.detail);
  REQUIRE(result.total_violations() == 0);
  CHECK(result.counts.acknowledged == 3);
  CHECK(result.counts.verified == 3);
  CHECK(result.counts.lost == 0);
}

TEST_CASE("a retry acknowledged as a duplicate at the same seq is correct", "[soak][checker]") {
  History h = clean_history();
  SendAttempt timed_out = h.sends[0];
  timed_out.code = errc::unavailable;
  timed_out.message = "timed out";
  timed_out.start_ms = 90;
  timed_out.end_ms = 95;
  SendAttempt retry = h.sends[0];
  retry.attempt = 2;
  retry.duplicate = true;
  h.sends.push_back(timed_out);
  h.sends.push_back(retry);
  CheckResult result = check_history(h);
  REQUIRE(result.total_violations() == 0);
  CHECK(result.counts.duplicate_acks == 1);
  CHECK(result.counts.send_errors["unavailable"] == 1);
}

TEST_CASE("an acknowledged message missing from the log is lost", "[soak][checker]") {
  History h = clean_history();
  for (auto& read_back : h.read_backs) {
    if (read_back.conversation == direct) read_back.messages.pop_back();
  }
  // The heads agree with the shortened log, so only the loss itself is reported.
  for (auto& sync : h.syncs) {
    for (auto& view : sync.conversations) {
      if (view.conversation == direct) view.head_seq = 1;
      if (view.conversation == direct) view.read_seq = std::min<std::uint64_t>(view.read_seq, 1);
    }
  }
  h.deliveries.erase(h.deliveries.begin() + 1);
  auto result = check_history(h);
  CHECK(count(result, ViolationKind::lost_message) == 1);
  CHECK(result.counts.lost == 1);
  // The heads went back below the acknowledged seq too.
  CHECK(count(result, ViolationKind::head_regressed) == 1);
  CHECK(result.total_violations() == 2);
}

TEST_CASE("a loss is reported once, not again for the push and the read of the message",
          "[soak][checker]") {
  History h = clean_history();
  for (auto& read_back : h.read_backs) {
    if (read_back.conversation == direct) read_back.messages.pop_back();
  }
  for (auto& sync : h.syncs) {
    for (auto& view : sync.conversations) {
      if (view.conversation == direct) view.head_seq = 1;
      if (view.conversation == direct) view.read_seq = std::min<std::uint64_t>(view.read_seq, 1);
    }
  }
  // bob was handed alice's second message and read it during the run, before it was lost.
  ReadBack read;
  read.conversation = direct;
  read.reader = "bob";
  read.phase = "run";
  read.complete = true;
  read.start_ms = 250;
  read.at_ms = 255;
  read.messages = {stored(h.sends[0]), stored(h.sends[1])};
  h.read_backs.push_back(read);
  auto result = check_history(h);
  CHECK(count(result, ViolationKind::lost_message) == 1);
  CHECK(count(result, ViolationKind::head_regressed) == 1);
  CHECK(result.total_violations() == 2);
}

TEST_CASE("another message at an acknowledged seq is an overwrite", "[soak][checker]") {
  History h = clean_history();
  SendAttempt other = send("bob", "alice", "", direct, 9, 250, 0);
  other.code = errc::unavailable;  // never acknowledged, yet stored over alice's second
  h.sends.push_back(other);
  for (auto& read_back : h.read_backs) {
    if (read_back.conversation == direct) read_back.messages[1] = {2, "bob", 9, other.body};
  }
  // alice was handed bob's message at seq 2 instead; bob never sees his own.
  h.deliveries[1] = {"alice", "alice-s1", 260, direct, 2, "bob", 9, other.body, true};
  h.syncs[1].conversations[0].read_seq = 1;
  h.syncs[4].conversations[0].read_seq = 1;
  auto result = check_history(h);
  require_only(result, ViolationKind::overwritten_message);
}

TEST_CASE("an acknowledged message at another seq is misplaced", "[soak][checker]") {
  History h = clean_history();
  for (auto& read_back : h.read_backs) {
    if (read_back.conversation != direct) continue;
    std::swap(read_back.messages[0].seq, read_back.messages[1].seq);
    std::swap(read_back.messages[0], read_back.messages[1]);
  }
  auto result = check_history(h);
  REQUIRE(count(result, ViolationKind::misplaced_message) == 2);
}

TEST_CASE("a stored body that differs from the sent one", "[soak][checker]") {
  History h = clean_history();
  h.read_backs[0].messages[0].body = "garbled";
  h.read_backs[1].messages[0].body = "garbled";
  h.deliveries[0].body = "garbled";
  auto result = check_history(h);
  require_only(result, ViolationKind::body_mismatch);
}

TEST_CASE("one client_msg_id stored twice", "[soak][checker]") {
  History h = clean_history();
  for (auto& read_back : h.read_backs) {
    if (read_back.conversation == direct) read_back.messages.push_back({3, "alice", 2, "alice #2"});
  }
  for (auto& sync : h.syncs) {
    for (auto& view : sync.conversations) {
      if (view.conversation == direct) view.head_seq = 3;
    }
  }
  h.deliveries.push_back(delivery("bob", h.sends[1], 300));
  h.deliveries.back().seq = 3;
  auto result = check_history(h);
  require_only(result, ViolationKind::duplicate_message);
}

TEST_CASE("two acknowledgements of one message at different seqs", "[soak][checker]") {
  History h = clean_history();
  SendAttempt again = h.sends[0];
  again.attempt = 2;
  again.seq = 2;
  h.sends.push_back(again);
  auto result = check_history(h);
  REQUIRE(count(result, ViolationKind::ack_conflict) == 1);
}

TEST_CASE("a hole in a log is a seq gap", "[soak][checker]") {
  History h = clean_history();
  SendAttempt third = send("alice", "bob", "", direct, 3, 250, 3);
  h.sends.push_back(third);
  for (auto& read_back : h.read_backs) {
    if (read_back.conversation != direct) continue;
    read_back.messages.erase(read_back.messages.begin() + 1);  // seq 2 gone
    read_back.messages.push_back(stored(third));
  }
  for (auto& sync : h.syncs) {
    for (auto& view : sync.conversations) {
      if (view.conversation == direct) view.head_seq = 3;
    }
  }
  h.deliveries.push_back(delivery("bob", third, 270));
  auto result = check_history(h);
  CHECK(count(result, ViolationKind::seq_gap) == 1);
  CHECK(count(result, ViolationKind::lost_message) == 1);  // seq 2 was acknowledged
}

TEST_CASE("a head beyond the log is a seq gap", "[soak][checker]") {
  History h = clean_history();
  h.syncs[3].conversations[0].head_seq = 5;  // alice's final sync
  auto result = check_history(h);
  require_only(result, ViolationKind::seq_gap);
}

TEST_CASE("a sender's later message at a lower seq", "[soak][checker]") {
  History h = clean_history();
  h.sends[0].seq = 2;
  h.sends[1].seq = 1;
  for (auto& read_back : h.read_backs) {
    if (read_back.conversation == direct)
      read_back.messages = {stored(h.sends[1]), stored(h.sends[0])};
  }
  h.deliveries[0].seq = 2;
  h.deliveries[1].seq = 1;
  std::swap(h.deliveries[0], h.deliveries[1]);
  auto result = check_history(h);
  require_only(result, ViolationKind::sender_order);
}

TEST_CASE("no order is required of messages the sender overlapped", "[soak][checker]") {
  History h = clean_history();
  // The second message was first sent before the first was acknowledged (it gave up).
  h.sends[1].start_ms = 105;
  h.sends[0].seq = 2;
  h.sends[1].seq = 1;
  for (auto& read_back : h.read_backs) {
    if (read_back.conversation == direct)
      read_back.messages = {stored(h.sends[1]), stored(h.sends[0])};
  }
  h.deliveries[0].seq = 2;
  h.deliveries[1].seq = 1;
  std::swap(h.deliveries[0], h.deliveries[1]);
  REQUIRE(check_history(h).total_violations() == 0);
}

TEST_CASE("a stored message nobody sent is a phantom", "[soak][checker]") {
  History h = clean_history();
  h.read_backs[2].messages.push_back({2, "mallory", 1, "hello"});
  h.syncs[3].conversations[1].head_seq = 2;
  auto result = check_history(h);
  CHECK(count(result, ViolationKind::phantom_message) == 1);
}

TEST_CASE("two readers who read different logs disagree", "[soak][checker]") {
  History h = clean_history();
  h.read_backs[1].messages[1].body = "something else";
  auto result = check_history(h);
  CHECK(count(result, ViolationKind::readers_disagree) == 1);
}

TEST_CASE("a read during the run that lacks an acknowledged message", "[soak][checker]") {
  History h = clean_history();
  ReadBack read;
  read.conversation = direct;
  read.reader = "bob";
  read.phase = "run";
  read.complete = true;
  read.start_ms = 250;  // both of alice's messages were acknowledged by then
  read.at_ms = 255;
  SECTION("an empty read") {}
  SECTION("one message of two") {
    read.messages = {stored(h.sends[0])};
  }
  h.read_backs.push_back(read);
  auto result = check_history(h);
  require_only(result, ViolationKind::read_missing);
}

TEST_CASE("reads during the run that are correct", "[soak][checker]") {
  History h = clean_history();
  ReadBack read;
  read.conversation = direct;
  read.reader = "bob";
  read.phase = "run";
  read.complete = true;
  SECTION("before the second message was acknowledged") {
    read.start_ms = 205;
    read.at_ms = 206;
    read.messages = {stored(h.sends[0])};
  }
  SECTION("a page with more to follow") {
    read.start_ms = 250;
    read.at_ms = 255;
    read.messages = {stored(h.sends[0])};
    read.more = true;
  }
  SECTION("after seq 1") {
    read.start_ms = 250;
    read.at_ms = 255;
    read.after_seq = 1;
    read.messages = {stored(h.sends[1])};
  }
  h.read_backs.push_back(read);
  REQUIRE(check_history(h).total_violations() == 0);
}

TEST_CASE("a read during the run that returns something else than the log", "[soak][checker]") {
  History h = clean_history();
  ReadBack read;
  read.conversation = direct;
  read.reader = "bob";
  read.phase = "run";
  read.complete = true;
  read.start_ms = 150;
  read.at_ms = 155;
  read.messages = {{1, "alice", 77, "a message that was overwritten later"}};
  h.read_backs.push_back(read);
  auto result = check_history(h);
  require_only(result, ViolationKind::read_mismatch);
}

TEST_CASE("a seq handed to a session twice", "[soak][checker]") {
  History h = clean_history();
  h.deliveries.push_back(delivery("bob", h.sends[1], 250, /*live=*/false));
  auto result = check_history(h);
  require_only(result, ViolationKind::push_duplicate);
}

TEST_CASE("a lower seq handed after a higher one", "[soak][checker]") {
  History h = clean_history();
  std::swap(h.deliveries[0], h.deliveries[1]);
  auto result = check_history(h);
  require_only(result, ViolationKind::push_reorder);
}

TEST_CASE("a session handed something else than the log holds", "[soak][checker]") {
  History h = clean_history();
  h.deliveries[3].body = "not what bob sent";
  auto result = check_history(h);
  require_only(result, ViolationKind::push_mismatch);
}

TEST_CASE("a message a quiet session never got is a lost push", "[soak][checker]") {
  History h = clean_history();
  h.deliveries.erase(h.deliveries.begin() + 3);  // carol never got bob's group message
  auto result = check_history(h);
  require_only(result, ViolationKind::push_lost);
}

TEST_CASE("a session is not expected to be handed its own messages", "[soak][checker]") {
  // clean_history() already has alice's session never handed her own direct messages.
  History h = clean_history();
  h.syncs.erase(h.syncs.begin());  // and without alice's session_end nothing is expected
  REQUIRE(check_history(h).total_violations() == 0);
}

TEST_CASE("a read cursor that goes backwards", "[soak][checker]") {
  History h = clean_history();
  h.syncs.push_back({"bob", "d1", "bob-s1", "run", 300, 305, {{direct, 2, 2, 1}}});
  h.syncs[1].conversations[0].read_seq = 1;  // bob's session_end sync, after it
  auto result = check_history(h);
  require_only(result, ViolationKind::cursor_regressed);
}

namespace {

// carol's ack of the group's seq 1 at 300 ms, which her later syncs do not show.
History history_with_lost_ack() {
  History h = clean_history();
  Operation ack = op("ack", "carol", group, 300, errc::ok, "run");
  ack.seq = 1;
  h.operations.push_back(ack);
  h.syncs[2].conversations[0].read_seq = 0;
  h.syncs[5].conversations[0].read_seq = 0;
  return h;
}

}  // namespace

TEST_CASE("an acknowledged ack not in a later sync", "[soak][checker]") {
  History h = history_with_lost_ack();
  auto result = check_history(h);
  require_only(result, ViolationKind::cursor_lost);
}

TEST_CASE("a cursor lost next to a kill or stop is allowed, next to a leave it is not",
          "[soak][checker]") {
  History h = history_with_lost_ack();
  SECTION("kill") {
    h.faults.push_back({1, "kill", "n2", 310, 320, false, false, -1, 9, 0, {}});
    auto result = check_history(h);
    CHECK(result.total_violations() == 0);
    CHECK(result.counts.cursors_excused >= 1);
  }
  SECTION("a kill long after") {
    CheckOptions options;
    options.cursor_loss_window_ms = 5;
    h.faults.push_back({1, "kill", "n2", 1000, 1010, false, false, -1, 9, 0, {}});
    require_only(check_history(h, options), ViolationKind::cursor_lost);
  }
  SECTION("leave") {
    h.faults.push_back({1, "term", "n2", 200, 260, true, true, 0, 0, 50, {}});
    require_only(check_history(h), ViolationKind::cursor_lost);
  }
}

TEST_CASE("a head lower than an acknowledged seq", "[soak][checker]") {
  History h = clean_history();
  h.syncs.push_back({"alice", "d1", "alice-s1", "run", 250, 255, {{direct, 1, 0, 1}}});
  auto result = check_history(h);
  require_only(result, ViolationKind::head_regressed);
}

TEST_CASE("an account that cannot log in at the end", "[soak][checker]") {
  History h = clean_history();
  for (auto& operation : h.operations) {
    if (operation.op == "login" && operation.user == "carol") operation.code = errc::auth_failed;
  }
  auto result = check_history(h);
  require_only(result, ViolationKind::account_lost);
}

TEST_CASE("a friendship gone at the end", "[soak][checker]") {
  History h = clean_history();
  h.friend_lists[1].friends.clear();
  auto result = check_history(h);
  require_only(result, ViolationKind::friendship_lost);
}

TEST_CASE("a removed friendship is not expected at the end", "[soak][checker]") {
  History h = clean_history();
  Operation remove = op("friend_remove", "alice", "bob", 290, errc::ok, "run");
  h.operations.push_back(remove);
  h.friend_lists[0].friends.clear();
  h.friend_lists[1].friends.clear();
  REQUIRE(check_history(h).total_violations() == 0);
}

TEST_CASE("a member missing from the final roster", "[soak][checker]") {
  History h = clean_history();
  h.rosters[0].members = {"alice", "bob"};
  auto result = check_history(h);
  require_only(result, ViolationKind::membership_lost);
}

TEST_CASE("a conversation missing from the final sync", "[soak][checker]") {
  History h = clean_history();
  h.syncs[4].conversations.pop_back();  // bob's final sync lacks the group
  auto result = check_history(h);
  require_only(result, ViolationKind::conversation_missing);
}

TEST_CASE("refusals the data does not justify", "[soak][checker]") {
  History h = clean_history();
  SECTION("not_friends between friends") {
    SendAttempt refused = send("bob", "alice", "", direct, 2, 260, 0);
    refused.code = errc::not_friends;
    h.sends.push_back(refused);
  }
  SECTION("auth_failed for the right password") {
    h.operations.push_back(op("login", "bob", "bob", 260, errc::auth_failed, "run"));
  }
  SECTION("invalid_argument for an ack of a seq that was handed out") {
    Operation ack = op("ack", "bob", direct, 260, errc::invalid_argument, "run");
    ack.seq = 2;
    h.operations.push_back(ack);
  }
  SECTION("internal") {
    SendAttempt refused = send("carol", "", "team", group, 1, 260, 0);
    refused.code = errc::internal;
    h.sends.push_back(refused);
  }
  SECTION("a token refused on reconnect") {
    h.connections.push_back({"carol", "carol-s1", 260, "gave_up", errc::auth_failed, "no"});
  }
  auto result = check_history(h);
  require_only(result, ViolationKind::unjustified_refusal);
  CHECK(result.refusals.size() == 1);
}

TEST_CASE("refusals the data justifies are not violations", "[soak][checker]") {
  History h = clean_history();
  SECTION("not_friends after the friendship was removed") {
    h.operations.push_back(op("friend_remove", "alice", "bob", 250, errc::ok, "run"));
    SendAttempt refused = send("bob", "alice", "", direct, 2, 260, 0);
    refused.code = errc::not_friends;
    h.sends.push_back(refused);
    h.friend_lists[0].friends.clear();
    h.friend_lists[1].friends.clear();
  }
  SECTION("not_friends while the removal is in flight") {
    Operation remove = op("friend_remove", "alice", "bob", 255, errc::ok, "run");
    h.operations.push_back(remove);
    SendAttempt refused = send("bob", "alice", "", direct, 2, 250, 0);
    refused.code = errc::not_friends;
    h.sends.push_back(refused);
    h.friend_lists[0].friends.clear();
    h.friend_lists[1].friends.clear();
  }
  SECTION("already_exists on a retry after a timeout") {
    Operation first = op("friend_request", "carol", "alice", 250, errc::unavailable, "run");
    Operation retry = first;
    retry.attempt = 2;
    retry.code = errc::already_exists;
    retry.start_ms = retry.end_ms = 260;
    h.operations.push_back(first);
    h.operations.push_back(retry);
  }
  SECTION("availability errors") {
    for (errc code : {errc::unavailable, errc::rate_limited, errc::shutting_down}) {
      SendAttempt failed = send("bob", "alice", "", direct, 5, 260, 0);
      failed.code = code;
      h.sends.push_back(failed);
    }
    h.operations.push_back(op("login", "bob", "bob", 260, errc::unavailable, "run"));
    h.connections.push_back({"carol", "carol-s1", 260, "gave_up", errc::unavailable, "down"});
  }
  REQUIRE(check_history(h).total_violations() == 0);
}

TEST_CASE("a node that exits unbidden has crashed", "[soak][checker]") {
  History h = clean_history();
  h.exits.push_back({"n2", 250, false, -1, 6});
  h.exits.push_back({"n3", 260, true, -1, 9});  // the nemesis's kill -9
  auto result = check_history(h);
  require_only(result, ViolationKind::node_crash);
  CHECK(count(result, ViolationKind::node_crash) == 1);
}

TEST_CASE("a graceful leave that fails or takes too long", "[soak][checker]") {
  History h = clean_history();
  FaultRecord fault{1, "term", "n2", 200, 260, true, true, 0, 0, 50, {}};
  SECTION("non-zero exit") {
    fault.exit_code = 1;
  }
  SECTION("killed by a signal") {
    fault.exit_code = -1;
    fault.signal = 11;
  }
  SECTION("beyond the bound") {
    fault.leave_ms = 40'000;
  }
  SECTION("never exited") {
    fault.exited = false;
  }
  h.faults.push_back(fault);
  auto result = check_history(h);
  require_only(result, ViolationKind::leave_failed);
}

TEST_CASE("a clean leave is no violation", "[soak][checker]") {
  History h = clean_history();
  h.faults.push_back({1, "term", "n2", 200, 260, true, true, 0, 0, 50, {}});
  // A joined node still a member at the end was never told to leave.
  h.faults.push_back({2, "join", "j1", 210, 300, false, false, -1, 0, 0, {}});
  REQUIRE(check_history(h).total_violations() == 0);
}

TEST_CASE("an assertion in a node's log", "[soak][checker]") {
  History h = clean_history();
  h.log_problems.push_back({"n1", "qimd: src/x.cc:10: Assertion `false' failed."});
  auto result = check_history(h);
  require_only(result, ViolationKind::log_problem);
}

TEST_CASE("a conversation that cannot be read back", "[soak][checker]") {
  History h = clean_history();
  for (auto& read_back : h.read_backs) {
    if (read_back.conversation == group) {
      read_back.complete = false;
      read_back.code = errc::unavailable;
    }
  }
  auto result = check_history(h);
  CHECK(count(result, ViolationKind::readback_failed) == 1);
  CHECK(result.counts.unverified == 1);
}

TEST_CASE("availability around a fault", "[soak][checker]") {
  History h = clean_history();
  SendAttempt failed = send("bob", "alice", "", direct, 3, 160, 0);
  failed.code = errc::unavailable;
  h.sends.push_back(failed);
  h.faults.push_back({1, "kill", "n2", 150, 190, false, false, -1, 9, 0, {}});
  auto result = check_history(h);
  REQUIRE(result.faults.size() == 1);
  const auto& fault = result.faults[0];
  CHECK(fault.attempts_during == 2);  // bob's group message at 150, his failed attempt at 160
  CHECK(fault.acked_during == 1);
  CHECK(fault.attempts_after == 1);  // alice's second message at 200
  CHECK(fault.acked_after == 1);
  CHECK(fault.recovery_ms == 20);  // alice's send from 200 acknowledged at 210
  CHECK(result.by_kind["kill"].faults == 1);
}

TEST_CASE("a logged-out stretch is put down to the faults in effect during it", "[soak][checker]") {
  History h = clean_history();
  // carol out 1000-4000 during one stop; alice out 10000-19000 while a kill and a join overlap.
  h.faults.push_back({1, "stop", "n2", 1200, 3900, false, false, -1, 0, 0, {}});
  h.faults.push_back({2, "kill", "n3", 9000, 15000, false, false, -1, 9, 0, {}});
  h.faults.push_back({3, "join", "j1", 16000, 60000, true, true, 0, 0, 500, {}});
  h.connections.push_back({"carol", "carol-s1", 1000, "disconnected", errc::unavailable, "x"});
  h.connections.push_back({"carol", "carol-s1", 4000, "reconnected", errc::ok, "on n1"});
  h.connections.push_back({"alice", "alice-s1", 10000, "disconnected", errc::unavailable, "x"});
  h.connections.push_back({"alice", "alice-s1", 19000, "reconnected", errc::ok, "on n1"});
  auto result = check_history(h);
  CHECK(result.longest_login_stall_ms == 9000);
  CHECK(result.longest_single_fault_login_stall_ms == 3000);
  CHECK_THAT(result.longest_single_fault_login_stall_where, Catch::Contains("carol-s1"));
  // The join long over (its share taken, not yet leaving): alice's stretch had one fault.
  h.faults.back().start_ms = 5000;
  result = check_history(h);
  CHECK(result.longest_single_fault_login_stall_ms == 9000);
}

TEST_CASE("a catch-up is measured from the disconnect to its end, apart from the login",
          "[soak][checker]") {
  History h = clean_history();
  h.faults.push_back({1, "stop", "n2", 1200, 3900, false, false, -1, 0, 0, {}});
  h.connections.push_back({"carol", "carol-s1", 1000, "disconnected", errc::unavailable, "x"});
  h.connections.push_back({"carol", "carol-s1", 3000, "reconnected", errc::ok, "on n1"});
  h.connections.push_back({"carol", "carol-s1", 3500, "catch_up_failed", errc::unavailable, "x"});
  h.connections.push_back({"carol", "carol-s1", 7000, "caught_up", errc::ok, "2 missed"});
  // A caught_up with no reconnection before it belongs to no stretch.
  h.connections.push_back({"alice", "alice-s1", 9000, "caught_up", errc::ok, "0 missed"});
  auto result = check_history(h);
  CHECK(result.longest_single_fault_login_stall_ms == 2000);
  CHECK(result.longest_single_fault_catch_up_ms == 6000);
  CHECK_THAT(result.longest_single_fault_catch_up_where, Catch::Contains("carol-s1"));
}

TEST_CASE("history records survive a round trip through JSON lines", "[soak][history]") {
  History h = clean_history();
  h.faults.push_back({1, "term", "n2", 200, 260, true, true, 0, 0, 50, "left"});
  h.exits.push_back({"n3", 260, true, -1, 9});
  h.log_problems.push_back({"n1", "AddressSanitizer: heap-use-after-free"});
  h.connections.push_back({"carol", "carol-s1", 260, "disconnected", errc::unavailable, "x"});
  History copy;
  auto add = [&](const std::string& line) { REQUIRE(parse_history_line(line, copy)); };
  add(to_json_line(h.run));
  for (const auto& r : h.phases)
    add(to_json_line(r));
  for (const auto& r : h.operations)
    add(to_json_line(r));
  for (const auto& r : h.sends)
    add(to_json_line(r));
  for (const auto& r : h.deliveries)
    add(to_json_line(r));
  for (const auto& r : h.syncs)
    add(to_json_line(r));
  for (const auto& r : h.read_backs)
    add(to_json_line(r));
  for (const auto& r : h.friend_lists)
    add(to_json_line(r));
  for (const auto& r : h.rosters)
    add(to_json_line(r));
  add(to_json_line(h.faults[0], /*started=*/true));
  add(to_json_line(h.faults[0], /*started=*/false));
  for (const auto& r : h.exits)
    add(to_json_line(r));
  for (const auto& r : h.log_problems)
    add(to_json_line(r));
  for (const auto& r : h.connections)
    add(to_json_line(r));
  CHECK_FALSE(parse_history_line("{\"type\":\"nonsense\"}", copy));
  CHECK_FALSE(parse_history_line("not json", copy));
  CHECK(copy.bad_lines == 2);
  CHECK(copy.run.seed == 7);
  CHECK(copy.sends.size() == h.sends.size());
  CHECK(copy.sends[2].to_group == "team");
  CHECK(copy.operations.size() == h.operations.size());
  CHECK(copy.operations[5].members == h.operations[5].members);
  CHECK(copy.read_backs[0].messages[1].body == h.read_backs[0].messages[1].body);
  CHECK(copy.read_backs[0].phase == "final");
  CHECK(copy.syncs[1].conversations[0].read_seq == 2);
  REQUIRE(copy.faults.size() == 1);  // the end replaced the start
  CHECK(copy.faults[0].leave_ms == 50);
  CHECK(copy.faults[0].terminated);
  CHECK(copy.connections[0].code == errc::unavailable);
  // The same verdict on the copy: only the planted log problem.
  auto result = check_history(copy);
  CHECK(result.total_violations() == 1);
  CHECK(count(result, ViolationKind::log_problem) == 1);
}

}  // namespace qim::soak
