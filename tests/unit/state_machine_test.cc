// The IM service as the state machine the partitions' logs replicate (service/replication.h):
// every command kind's outcome and refusals, determinism across replicas and restarts, dedup
// of retried sends, cursors that never move back, bounded and resumable pruning and history
// trims, partitioned keys, and corrupt commands.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "qim/ids.h"
#include "service/commands.h"
#include "service/history_trim.h"
#include "service/keys.h"
#include "service/placement_keys.h"
#include "service/records.h"
#include "session/detached.h"
#include "session_test_fixture.h"

namespace qim::testing {
namespace {

using service::ApplyResult;
using service::Command;
using service::CommandKind;
using service::PartitionId;

service::Options replica_options() {
  service::Options options = test_options();
  options.dm_policy = service::DmPolicy::anyone;
  return options;
}

// One replica: its store and its service (the state machine). restart() replaces the service,
// as a process restart would: nothing cached survives, the store does.
struct Replica {
  Replica(service::Proposer& proposer, service::Options replica_options)
      : proposer(proposer), options(std::move(replica_options)) {
    restart();
  }
  void restart() {
    service.reset();
    service = std::make_unique<service::ImService>(kv, clock, logger, options, proposer,
                                                   test_partitions());
  }

  service::Proposer& proposer;
  service::Options options;
  store::MemoryKv kv;
  core::ManualClock clock;
  core::Logger logger{core::LogLevel::off};
  std::unique_ptr<service::ImService> service;
};

// A log for tests: each proposal is appended and applied by every replica in log order, at once
// or when the test calls flush(). The first replica leads: it pushes, and its outcome answers
// the proposer.
class TestLog final : public service::Proposer {
 public:
  void propose(PartitionId partition, std::vector<std::uint8_t> command,
               std::function<void(ApplyResult)> done) override {
    entries.push_back({partition, std::move(command)});
    pending.push_back({entries.size() - 1, std::move(done)});
    if (!defer) flush();
  }
  // hold_takes: a flush's take waits in held_takes (as it waits for the shell's thread) until
  // run_held_takes().
  void propose_taken(PartitionId partition,
                     std::function<std::vector<service::StateMachine::Proposal>()> take) override {
    if (!hold_takes) return Proposer::propose_taken(partition, std::move(take));
    held_takes.emplace_back(partition, std::move(take));
  }
  void run_held_takes() {
    auto takes = std::move(held_takes);
    held_takes.clear();
    for (auto& [partition, take] : takes)
      Proposer::propose_taken(partition, std::move(take));
  }
  bool readable(PartitionId partition) const override { return !unreadable.contains(partition); }
  std::vector<PartitionId> readable_partitions() const override {
    std::vector<PartitionId> partitions;
    for (PartitionId p = 0; p < test_partitions().count(); ++p) {
      if (readable(p)) partitions.push_back(p);
    }
    return partitions;
  }

  bool hold_takes = false;
  std::vector<std::pair<PartitionId, std::function<std::vector<service::StateMachine::Proposal>()>>>
      held_takes;

  void flush() {
    while (!pending.empty()) {
      auto [index, done] = std::move(pending.front());
      pending.pop_front();
      done(apply_entry(index));
    }
  }
  // Appends `command` to `partition`'s log as if proposed, and applies it.
  ApplyResult append(PartitionId partition, std::vector<std::uint8_t> command) {
    entries.push_back({partition, std::move(command)});
    return apply_entry(entries.size() - 1);
  }
  // Applies entry `index` on every replica, writing each one's batch as the shell does.
  ApplyResult apply_entry(std::size_t index) {
    ApplyResult leader;
    for (std::size_t i = 0; i < replicas.size(); ++i) {
      store::WriteBatch batch;
      ApplyResult result = replicas[i]->service->apply(entries[index].partition,
                                                       entries[index].command, batch, i == 0);
      if (result.error) CHECK(batch.empty());
      if (!batch.empty()) REQUIRE_FALSE(replicas[i]->kv.write(batch, false));
      replicas[i]->service->after_write(entries[index].partition, true);
      if (i == 0) leader = std::move(result);
    }
    return leader;
  }

  struct Entry {
    PartitionId partition;
    std::vector<std::uint8_t> command;
  };
  std::vector<Replica*> replicas;
  std::vector<Entry> entries;
  std::deque<std::pair<std::size_t, std::function<void(ApplyResult)>>> pending;
  bool defer = false;
  std::set<PartitionId> unreadable;
};

// A leader and a follower over one log.
struct Group {
  explicit Group(service::Options options = replica_options())
      : leader(log, options), follower(log, options) {
    log.replicas = {&leader, &follower};
  }
  service::ImService& service() { return *leader.service; }
  const service::Keys& keys() { return leader.service->keys(); }

  TestLog log;
  Replica leader;
  Replica follower;
};

template <typename T, typename Start>
service::Result<T> wait_result(Start start) {
  std::optional<service::Result<T>> outcome;
  start([&outcome](service::Result<T> result) { outcome = std::move(result); });
  REQUIRE(outcome.has_value());
  return std::move(*outcome);
}

using Dump = std::vector<std::tuple<int, std::string, std::string>>;

// Every record of every column, in order.
Dump dump(store::Kv& kv) {
  Dump records;
  for (std::size_t column = 0; column < store::column_count; ++column) {
    REQUIRE_FALSE(kv.scan(static_cast<store::Column>(column), {}, {}, false,
                          [&](std::string_view key, std::string_view value) {
                            records.emplace_back(column, key, value);
                            return true;
                          }));
  }
  return records;
}

Command command_of(CommandKind kind, std::string_view user, std::uint64_t time_ms = 1000) {
  Command command;
  command.kind = kind;
  command.user = user;
  command.device = "phone";
  command.time_ms = time_ms;
  return command;
}

Error register_user(service::ImService& service, const std::string& user) {
  return wait_for([&](service::Done done) {
    service.register_account(user, "correct horse", std::move(done));
  });
}

service::Result<service::SendResult> send(service::ImService& service, std::string_view from,
                                          std::string_view to, std::uint64_t client_msg_id,
                                          bool group = false) {
  service::SendRequest request;
  (group ? request.to_group : request.to_user) = to;
  request.client_msg_id = client_msg_id;
  request.body = "hello";
  return wait_result<service::SendResult>([&](auto done) {
    service.send(service::Caller{from, "phone", 1}, request, std::move(done));
  });
}

Error friend_op(service::ImService& service, CommandKind kind, std::string_view user,
                std::string_view other) {
  service::Caller caller{user, "phone", 1};
  return wait_for([&](service::Done done) {
    switch (kind) {
      case CommandKind::friend_request:
        return service.friends().request(caller, other, std::move(done));
      case CommandKind::friend_accept:
        return service.friends().accept(caller, other, std::move(done));
      case CommandKind::friend_decline:
        return service.friends().decline(caller, other, std::move(done));
      default:
        return service.friends().remove(caller, other, std::move(done));
    }
  });
}

// Checks a refusal's code and that its message names what it should.
void check_refused(const Error& error, errc code, std::string_view message) {
  INFO(error.message);
  CHECK(error.code == code);
  CHECK_THAT(error.message, Catch::Contains(std::string(message)));
}

}  // namespace

TEST_CASE("state machine: accounts, tokens and passwords, and their refusals", "[service][apply]") {
  Group group;
  service::ImService& service = group.service();
  REQUIRE_FALSE(register_user(service, "alice"));
  check_refused(register_user(service, "alice"), errc::already_exists, "already taken");
  // The leader's pre-check passed (say it raced another registration): apply refuses.
  Command again = command_of(CommandKind::register_account, "alice");
  again.new_hash = "hash";
  check_refused(group.log.append(group.keys().partition_of("alice"), encode_command(again)).error,
                errc::already_exists, "already taken");

  auto login = [&](std::string_view password, std::string_view token) {
    return wait_result<service::LoginSuccess>([&](auto done) {
      service.login(service::LoginRequest{"alice", password, token, "phone", "192.0.2.1"},
                    std::move(done));
    });
  };
  auto first = login("correct horse", {});
  REQUIRE(first.ok());
  std::size_t entries = group.log.entries.size();
  // A token login within the hour proposes nothing; after it, it records the use.
  REQUIRE(login({}, first.value.grant.token).ok());
  CHECK(group.log.entries.size() == entries);
  group.leader.clock.advance_ms(service::token_touch_interval_ms + 1);
  REQUIRE(login({}, first.value.grant.token).ok());
  CHECK(group.log.entries.size() == entries + 1);

  PartitionId alice = group.keys().partition_of("alice");
  service::AccountRecord account;
  REQUIRE_FALSE(service.accounts().read("alice", account));
  // A token issued against a hash that changed meanwhile is refused.
  Command stale = command_of(CommandKind::add_token, "alice");
  std::vector<std::uint8_t> digest(32, 7);
  stale.digest = digest;
  stale.verified_hash = "not the hash";
  stale.max_tokens = 4;
  check_refused(group.log.append(alice, encode_command(stale)).error, errc::auth_failed,
                "changed meanwhile");
  Command touch = command_of(CommandKind::touch_token, "alice");
  touch.digest = digest;
  check_refused(group.log.append(alice, encode_command(touch)).error, errc::auth_failed,
                "unknown or revoked");
  Command change = command_of(CommandKind::change_password, "alice");
  change.verified_hash = "not the hash";
  change.new_hash = "new hash";
  check_refused(group.log.append(alice, encode_command(change)).error, errc::auth_failed,
                "changed meanwhile");

  // Revoking: one token, then all; a password change keeps the session's token only.
  auto second = login("correct horse", {});  // the same device: replaces the first token
  REQUIRE(second.ok());
  CHECK(login({}, first.value.grant.token).error.code == errc::auth_failed);
  REQUIRE_FALSE(wait_for([&](service::Done done) {
    service.change_password(service::Caller{"alice", "phone", 1}, "correct horse", "battery staple",
                            second.value.token_digest, "192.0.2.1", std::move(done));
  }));
  CHECK(login({}, second.value.grant.token).ok());
  REQUIRE_FALSE(wait_for([&](service::Done done) {
    service.logout(service::Caller{"alice", "phone", 1}, false, second.value.token_digest,
                   std::move(done));
  }));
  CHECK(login({}, second.value.grant.token).error.code == errc::auth_failed);
  REQUIRE(login("battery staple", {}).ok());
  REQUIRE_FALSE(wait_for([&](service::Done done) {
    service.reset_password("alice", "correct horse", std::move(done));
  }));
  CHECK(login("battery staple", {}).error.code == errc::auth_failed);
  REQUIRE_FALSE(wait_for(
      [&](service::Done done) { service.set_account_disabled("alice", true, std::move(done)); }));
  check_refused(login("correct horse", {}).error, errc::account_disabled, "disabled");
  check_refused(wait_for([&](service::Done done) {
                  service.set_account_disabled("nobody", true, std::move(done));
                }),
                errc::not_found, "no such user");
  // The follower applied the same: byte for byte.
  CHECK(dump(group.leader.kv) == dump(group.follower.kv));
}

TEST_CASE("state machine: friendships and their refusals", "[service][apply]") {
  Group group;
  service::ImService& service = group.service();
  for (const char* user : {"alice", "bob", "carol"})
    REQUIRE_FALSE(register_user(service, user));
  REQUIRE_FALSE(friend_op(service, CommandKind::friend_request, "alice", "bob"));
  check_refused(friend_op(service, CommandKind::friend_request, "alice", "bob"),
                errc::already_exists, "request already sent");
  check_refused(friend_op(service, CommandKind::friend_accept, "alice", "bob"), errc::not_found,
                "no pending request");
  REQUIRE_FALSE(friend_op(service, CommandKind::friend_accept, "bob", "alice"));
  check_refused(friend_op(service, CommandKind::friend_request, "alice", "bob"),
                errc::already_exists, "already your friend");
  // A request to someone who asked first accepts.
  REQUIRE_FALSE(friend_op(service, CommandKind::friend_request, "carol", "alice"));
  REQUIRE_FALSE(friend_op(service, CommandKind::friend_request, "alice", "carol"));
  CHECK(service.friends().state("carol", "alice").value == service::FriendState::accepted);
  check_refused(friend_op(service, CommandKind::friend_decline, "bob", "carol"), errc::not_found,
                "no pending request");
  REQUIRE_FALSE(friend_op(service, CommandKind::friend_request, "bob", "carol"));
  REQUIRE_FALSE(friend_op(service, CommandKind::friend_decline, "carol", "bob"));
  CHECK(service.friends().state("bob", "carol").value == service::FriendState::none);
  REQUIRE_FALSE(friend_op(service, CommandKind::friend_remove, "bob", "alice"));
  check_refused(friend_op(service, CommandKind::friend_remove, "bob", "alice"), errc::not_found,
                "not a friend");
  // The friends-only policy is decided at apply, on the pair's records.
  Command send = command_of(CommandKind::send, "bob");
  send.to_user = "alice";
  send.client_msg_id = 1;
  send.body = "hi";
  send.friends_only = true;
  check_refused(group.log
                    .append(group.keys().partition_of(direct_conversation("alice", "bob")),
                            encode_command(send))
                    .error,
                errc::not_friends, "not your friend");
  CHECK(dump(group.leader.kv) == dump(group.follower.kv));
}

TEST_CASE("state machine: groups and their refusals", "[service][apply]") {
  Group group;
  service::ImService& service = group.service();
  for (const char* user : {"owner", "admin", "member", "extra"})
    REQUIRE_FALSE(register_user(service, user));
  auto as = [](std::string_view user) { return service::Caller{user, "phone", 1}; };
  service::Groups& groups = service.groups();
  auto run = [&](auto operation) {
    return wait_for([&](service::Done done) { operation(std::move(done)); });
  };
  REQUIRE_FALSE(run([&](auto done) {
    groups.create(as("owner"), "g1", "Group", {"admin", "member"}, std::move(done));
  }));
  check_refused(run([&](auto done) { groups.create(as("admin"), "g1", "Again", {}, done); }),
                errc::already_exists, "already exists");
  check_refused(run([&](auto done) { groups.add(as("member"), "g1", {"extra"}, done); }),
                errc::forbidden, "only the owner or an admin");
  check_refused(run([&](auto done) {
                  groups.set_role(as("admin"), "g1", "member", service::GroupRole::admin, done);
                }),
                errc::forbidden, "only the owner may change roles");
  REQUIRE_FALSE(run([&](auto done) {
    groups.set_role(as("owner"), "g1", "admin", service::GroupRole::admin, done);
  }));
  REQUIRE_FALSE(run([&](auto done) { groups.add(as("admin"), "g1", {"extra"}, done); }));
  REQUIRE(send(service, "member", "g1", 1, true).ok());
  // A member added after a message reads from after it.
  auto page = groups.members(as("owner"), "g1");
  REQUIRE(page.ok());
  REQUIRE(page.value.members.size() == 4);
  CHECK(page.value.members[1].user == "extra");
  CHECK(page.value.members[1].joined_seq == 1);

  // The size limit travels in the command and is decided on the exact roster at apply.
  Command add = command_of(CommandKind::group_add, "owner");
  add.group = "g1";
  std::vector<std::string_view> users = {"zed"};
  add.users = users;
  add.max_members = 4;
  PartitionId partition = group.keys().partition_of("g:g1");
  check_refused(group.log.append(partition, encode_command(add)).error, errc::limit_exceeded,
                "at most 4 members");
  check_refused(run([&](auto done) { groups.remove(as("member"), "g1", "extra", done); }),
                errc::forbidden, "only the owner or an admin may remove");
  check_refused(run([&](auto done) { groups.remove(as("admin"), "g1", "owner", done); }),
                errc::forbidden, "owner cannot be removed");
  check_refused(run([&](auto done) { groups.remove(as("owner"), "g1", "nobody", done); }),
                errc::not_found, "not a member");
  REQUIRE_FALSE(run([&](auto done) { groups.remove(as("admin"), "g1", "extra", done); }));
  check_refused(run([&](auto done) { groups.leave(as("owner"), "g1", done); }), errc::forbidden,
                "owner cannot leave");
  REQUIRE_FALSE(run([&](auto done) { groups.leave(as("member"), "g1", done); }));
  check_refused(send(service, "member", "g1", 2, true).error, errc::not_member, "not a member");
  check_refused(run([&](auto done) { groups.dissolve(as("admin"), "g1", done); }), errc::forbidden,
                "only the owner may dissolve");
  REQUIRE_FALSE(run([&](auto done) { groups.dissolve(as("owner"), "g1", done); }));
  check_refused(send(service, "owner", "g1", 3, true).error, errc::not_found, "no such group");
  check_refused(run([&](auto done) { groups.leave(as("admin"), "g1", done); }), errc::not_found,
                "no such group");
  CHECK(dump(group.leader.kv) == dump(group.follower.kv));
}

TEST_CASE("state machine: a retried send is stored once and answered with the original seq",
          "[service][apply]") {
  Group group;
  service::ImService& service = group.service();
  REQUIRE_FALSE(register_user(service, "alice"));
  REQUIRE_FALSE(register_user(service, "bob"));
  REQUIRE(send(service, "alice", "bob", 1).value.seq == 1);
  Command retry = command_of(CommandKind::send, "alice", 5000);
  retry.to_user = "bob";
  retry.client_msg_id = 42;
  retry.body = "once";
  PartitionId partition = group.keys().partition_of(direct_conversation("alice", "bob"));
  // The same command twice (a proposer that retried after Unavailable).
  auto bytes = encode_command(retry);
  ApplyResult first = group.log.append(partition, bytes);
  ApplyResult second = group.log.append(partition, bytes);
  REQUIRE_FALSE(first.error);
  REQUIRE_FALSE(second.error);
  REQUIRE(first.sent);
  REQUIRE(second.sent);
  CHECK(first.sent->seq == 2);
  CHECK_FALSE(first.sent->duplicate);
  CHECK(second.sent->seq == 2);
  CHECK(second.sent->duplicate);
  CHECK(second.sent->server_time_ms == 5000);
  CHECK(send(service, "alice", "bob", 43).value.seq == 3);
  auto page = service.pull(service::Caller{"bob", "phone", 2}, "d:alice:bob", 0, 0);
  REQUIRE(page.ok());
  REQUIRE(page.value.messages.size() == 3);
  CHECK(page.value.messages[1].body == "once");
}

TEST_CASE("state machine: sends sharing one unwritten batch see each other's seqs and retries",
          "[service][apply]") {
  Group group;
  service::ImService& service = group.service();
  auto send_command = [](std::string_view from, std::string_view to, std::uint64_t id) {
    Command command = command_of(CommandKind::send, from);
    command.to_user = to;
    command.client_msg_id = id;
    command.body = "hi";
    return encode_command(command);
  };
  // Only sends share a batch; anything else, or bytes that are not a command, is written alone.
  CHECK(service.can_share_batch(send_command("alice", "bob", 1)));
  Command request = command_of(CommandKind::friend_request, "alice");
  request.other = "bob";
  CHECK_FALSE(service.can_share_batch(encode_command(request)));
  std::vector<std::uint8_t> garbage(64, 0xab);
  CHECK_FALSE(service.can_share_batch(garbage));

  PartitionId partition = group.keys().partition_of(direct_conversation("alice", "bob"));
  // More new conversations in that partition than its share of the head cache: applying them
  // would evict alice and bob's head if it could be evicted before its write.
  std::size_t share = std::max<std::size_t>(
      256, service::PartitionCaches::max_cached_heads / test_partitions().count());
  std::vector<std::string> others;
  for (int i = 0; others.size() < share + 8; ++i) {
    std::string user = "u" + std::to_string(i);
    if (group.keys().partition_of(direct_conversation("alice", user)) == partition) {
      others.push_back(user);
    }
  }
  store::WriteBatch batch;
  auto apply = [&](const std::vector<std::uint8_t>& command) {
    ApplyResult result = service.apply(partition, command, batch, true);
    REQUIRE_FALSE(result.error);
    REQUIRE(result.sent);
    return *result.sent;
  };
  // The cache full, then alice and bob's first message, then more new conversations, each of
  // which evicts a head.
  for (std::size_t i = 0; i < share; ++i)
    CHECK(apply(send_command("alice", others[i], 7)).seq == 1);
  CHECK(apply(send_command("alice", "bob", 1)).seq == 1);
  auto retry = apply(send_command("alice", "bob", 1));  // a retry in the same batch
  CHECK(retry.duplicate);
  CHECK(retry.seq == 1);
  for (std::size_t i = share; i < others.size(); ++i)
    CHECK(apply(send_command("alice", others[i], 7)).seq == 1);
  auto next = apply(send_command("alice", "bob", 2));
  CHECK(next.seq == 2);
  CHECK_FALSE(next.duplicate);
  REQUIRE_FALSE(group.leader.kv.write(batch, false));
  service.after_write(partition, true);
  // Written: the next batch reads the store and the caches as before.
  batch.clear();
  CHECK(apply(send_command("alice", "bob", 2)).duplicate);
  CHECK(apply(send_command("alice", "bob", 3)).seq == 3);
  CHECK(apply(send_command("alice", others.front(), 7)).duplicate);
}

TEST_CASE("state machine: an ack never moves a read cursor back", "[service][apply]") {
  Group group;
  service::ImService& service = group.service();
  REQUIRE_FALSE(register_user(service, "alice"));
  REQUIRE_FALSE(register_user(service, "bob"));
  for (std::uint64_t id = 1; id <= 3; ++id)
    REQUIRE(send(service, "alice", "bob", id).ok());
  PartitionId bob = group.keys().partition_of("bob");
  auto ack = [&](std::uint64_t seq) {
    Command command = command_of(CommandKind::ack, "bob");
    command.conversation = "d:alice:bob";
    command.seq = seq;
    return group.log.append(bob, encode_command(command)).error;
  };
  auto cursor = [&] {
    std::string value;
    std::uint64_t seq = 0;
    if (!group.follower.kv.get(store::Column::cursors,
                               group.keys().cursor("bob", "d:alice:bob", "phone"), value)) {
      REQUIRE(service::decode_cursor(value, seq));
    }
    return seq;
  };
  REQUIRE_FALSE(ack(2));
  CHECK(cursor() == 2);
  REQUIRE_FALSE(ack(1));
  CHECK(cursor() == 2);
  REQUIRE_FALSE(ack(3));
  CHECK(cursor() == 3);
  // Through the service: beyond the head is refused before proposing.
  check_refused(
      wait_for([&](service::Done done) {
        service.ack(service::Caller{"bob", "phone", 2}, "d:alice:bob", 9, std::move(done));
      }),
      errc::invalid_argument, "beyond");
}

TEST_CASE("state machine: an Ack is answered once buffered and stored by the next flush",
          "[service][apply][cursors]") {
  Group group;
  service::ImService& service = group.service();
  for (const char* user : {"alice", "bob"})
    REQUIRE_FALSE(register_user(service, user));
  for (std::uint64_t id = 1; id <= 3; ++id)
    REQUIRE(send(service, "alice", "bob", id).ok());
  service::Caller bob{"bob", "phone", 2};
  auto ack = [&](std::uint64_t seq) {
    return wait_for(
        [&](service::Done done) { service.ack(bob, "d:alice:bob", seq, std::move(done)); });
  };
  auto stored = [&](Replica& replica) {
    std::string value;
    std::uint64_t seq = 0;
    if (!replica.kv.get(store::Column::cursors, group.keys().cursor("bob", "d:alice:bob", "phone"),
                        value)) {
      REQUIRE(service::decode_cursor(value, seq));
    }
    return seq;
  };
  auto synced = [&] {
    auto states = service.sync(bob);
    REQUIRE(states.ok());
    REQUIRE(states.value.size() == 1);
    return states.value[0].read_seq;
  };
  std::size_t entries = group.log.entries.size();
  REQUIRE_FALSE(ack(2));
  CHECK(group.log.entries.size() == entries);  // nothing proposed yet
  CHECK(stored(group.follower) == 0);
  CHECK(synced() == 2);
  REQUIRE_FALSE(ack(1));  // lower: ok, and nothing moves back
  CHECK(synced() == 2);

  CHECK(service.flush_cursors() == 1);
  CHECK(stored(group.leader) == 2);
  CHECK(stored(group.follower) == 2);
  CHECK(service.cursor_commands_in_flight() == 0);
  CHECK(service.flush_cursors() == 0);  // nothing new

  SECTION("a flushed cursor is read back until it applies, and an older one never wins") {
    group.log.defer = true;
    REQUIRE_FALSE(ack(3));
    CHECK(service.flush_cursors() == 1);
    CHECK(service.cursor_commands_in_flight() == 1);
    CHECK(stored(group.leader) == 2);
    CHECK(synced() == 3);
    // A lower cursor committed ahead of it (an earlier leader's flush) changes nothing.
    Command lower;
    lower.kind = CommandKind::cursors;
    lower.time_ms = 1000;
    lower.cursors = {{"bob", "phone", "d:alice:bob", 1}};
    REQUIRE_FALSE(group.log.append(group.keys().partition_of("bob"), encode_command(lower)).error);
    CHECK(stored(group.follower) == 2);
    group.log.flush();
    CHECK(stored(group.leader) == 3);
    CHECK(stored(group.follower) == 3);
    CHECK(service.cursor_commands_in_flight() == 0);
    CHECK(synced() == 3);
  }
  SECTION("a failed flush is proposed again") {
    group.log.defer = true;
    REQUIRE_FALSE(ack(3));
    CHECK(service.flush_cursors() == 1);
    // The entry is lost (leadership moved before it committed): its proposer hears Unavailable.
    auto [index, done] = std::move(group.log.pending.front());
    group.log.pending.pop_front();
    done(ApplyResult{Error{errc::unavailable, "lost"}, std::nullopt});
    CHECK(service.cursor_commands_in_flight() == 0);
    CHECK(synced() == 3);
    group.log.defer = false;
    CHECK(service.flush_cursors() == 1);
    CHECK(stored(group.follower) == 3);
  }
  SECTION("an Ack is buffered without reading the store; a store ahead of it still wins") {
    // Cursor 3 stored by an earlier leader, which this one's buffer knows nothing of.
    service.leadership_changed(group.keys().partition_of("bob"), true);
    for (Replica* replica : {&group.leader, &group.follower}) {
      store::WriteBatch batch;
      batch.put(store::Column::cursors, group.keys().cursor("bob", "d:alice:bob", "phone"),
                service::encode_cursor(3));
      REQUIRE_FALSE(replica->kv.write(batch, false));
    }
    REQUIRE_FALSE(ack(2));
    CHECK(synced() == 3);
    CHECK(service.flush_cursors() == 1);
    CHECK(stored(group.leader) == 3);
    CHECK(stored(group.follower) == 3);
    CHECK(synced() == 3);
  }
  SECTION("a partition led elsewhere drops what it buffered") {
    REQUIRE_FALSE(ack(3));
    service.leadership_changed(group.keys().partition_of("bob"), false);
    CHECK(service.flush_cursors() == 0);
    CHECK(stored(group.follower) == 2);
    CHECK(synced() == 2);  // the stored cursor: bob is handed message 3 again
  }
  SECTION("a flush whose take waits for the shell counts as in flight until it ran") {
    group.log.hold_takes = true;
    REQUIRE_FALSE(ack(3));
    CHECK(service.flush_cursors() == 0);  // nothing taken yet
    CHECK(service.cursor_commands_in_flight() == 1);
    group.log.hold_takes = false;
    group.log.run_held_takes();
    CHECK(service.cursor_commands_in_flight() == 0);
    CHECK(stored(group.follower) == 3);
  }
  SECTION("a leader whose lease lapsed for a moment keeps what it buffered") {
    REQUIRE_FALSE(ack(3));
    group.log.unreadable.insert(group.keys().partition_of("bob"));
    CHECK(service.flush_cursors() == 1);  // it still leads, so it still appends
    group.log.unreadable.clear();
    CHECK(stored(group.follower) == 3);
    CHECK(synced() == 3);
  }
  SECTION("a change of leadership starts the buffer afresh, from the stored cursors") {
    REQUIRE_FALSE(ack(3));
    service.leadership_changed(group.keys().partition_of("bob"), true);
    CHECK(synced() == 2);
    CHECK(service.flush_cursors() == 0);
  }
  SECTION("an Ack that comes while the leadership is being handed over is not buffered") {
    PartitionId own = group.keys().partition_of("bob");
    for (std::uint64_t id = 4; id <= 5; ++id)
      REQUIRE(send(service, "alice", "bob", id).ok());
    // Seq 3 is buffered and goes with the handover's commands, which the shell appends.
    REQUIRE_FALSE(ack(3));
    auto proposals = service.before_handover(own);
    REQUIRE(proposals.size() == 1);
    for (auto& proposal : proposals) {
      ApplyResult result = group.log.append(own, std::move(proposal.command));
      proposal.done(result);
      REQUIRE_FALSE(result.error);
    }
    CHECK(stored(group.follower) == 3);
    // The old leader keeps its lease until the transfer goes out: an Ack may still come. It is
    // proposed on its own (here it applies; a real transfer would refuse it), not answered from
    // a buffer that the loss of the leadership then drops.
    std::size_t entries = group.log.entries.size();
    REQUIRE_FALSE(ack(4));
    CHECK(group.log.entries.size() == entries + 1);
    service.leadership_changed(own, false);
    CHECK(stored(group.follower) == 3 + 1);
    // Leading again: Acks are buffered again.
    service.leadership_changed(own, true);
    entries = group.log.entries.size();
    REQUIRE_FALSE(ack(5));
    CHECK(group.log.entries.size() == entries);
    CHECK(service.flush_cursors() == 1);
    CHECK(stored(group.follower) == 5);
  }
  SECTION("a deleted user's buffered cursors go with the account") {
    REQUIRE_FALSE(ack(3));
    PartitionId own = group.keys().partition_of("bob");
    REQUIRE_FALSE(wait_for([&](service::Done done) { service.purge_user("bob", own, done); }));
    CHECK(service.flush_cursors() == 0);
    CHECK(stored(group.follower) == 0);
  }
  SECTION("a session's end flushes its user's partition") {
    REQUIRE_FALSE(ack(3));
    service.detach(bob.session_id, "bob");
    CHECK(stored(group.follower) == 3);
  }
}

TEST_CASE("state machine: a cursors command skips deleted users and refuses other partitions",
          "[service][apply][cursors]") {
  Group group;
  service::ImService& service = group.service();
  REQUIRE_FALSE(register_user(service, "bob"));
  PartitionId partition = group.keys().partition_of("bob");
  std::string other;  // a user id placed in another partition
  for (int i = 0; other.empty(); ++i) {
    std::string candidate = "u" + std::to_string(i);
    if (group.keys().partition_of(candidate) != partition) other = candidate;
  }
  Command command;
  command.kind = CommandKind::cursors;
  command.time_ms = 1000;
  command.cursors = {{"bob", "phone", "d:alice:bob", 4}, {other, "phone", "d:alice:bob", 4}};
  check_refused(group.log.append(partition, encode_command(command)).error, errc::malformed,
                "partition");
  // "zed" has no account (in bob's partition or not, it is skipped).
  command.cursors = {{"bob", "phone", "d:alice:bob", 4}};
  std::string zed;
  for (int i = 0; zed.empty(); ++i) {
    std::string candidate = "z" + std::to_string(i);
    if (group.keys().partition_of(candidate) == partition) zed = candidate;
  }
  command.cursors.push_back({zed, "phone", "d:alice:bob", 4});
  REQUIRE_FALSE(group.log.append(partition, encode_command(command)).error);
  std::string value;
  CHECK_FALSE(group.follower.kv.get(store::Column::cursors,
                                    group.keys().cursor("bob", "d:alice:bob", "phone"), value));
  CHECK(group.follower.kv
            .get(store::Column::cursors, group.keys().cursor(zed, "d:alice:bob", "phone"), value)
            .code == errc::not_found);
}

TEST_CASE("state machine: a prune examines a bounded number of records and resumes",
          "[service][apply]") {
  Group group;
  // Dedup records as older builds wrote them with every message, on both replicas.
  PartitionId partition = group.keys().partition_of("d:alice:bob");
  auto write_records = [&](std::uint64_t first, std::uint64_t last) {
    for (store::Kv* kv : {&group.leader.kv, &group.follower.kv}) {
      store::WriteBatch batch;
      for (std::uint64_t id = first; id <= last; ++id) {
        batch.put(store::Column::dedup, group.keys().dedup("d:alice:bob", "alice", id),
                  service::encode(service::DedupRecord{id, 1000 + id}));
      }
      REQUIRE_FALSE(kv->write(batch, false));
    }
  };
  write_records(1, 25);
  std::string prefix = service::Keys::dedup_partition(partition);
  auto records = [&](store::Kv& kv) {
    std::size_t count = 0;
    REQUIRE_FALSE(kv.scan(store::Column::dedup, prefix, {}, false,
                          [&](std::string_view key, std::string_view) {
                            count += key.size() > prefix.size();
                            return true;
                          }));
    return count;
  };
  auto has_cursor = [&](store::Kv& kv) {
    std::string value;
    return !kv.get(store::Column::dedup, prefix, value);
  };
  Command prune;
  prune.kind = CommandKind::prune_dedup;
  prune.cutoff_ms = UINT64_MAX;  // everything is old
  prune.max_visits = 10;
  auto bytes = encode_command(prune);
  REQUIRE_FALSE(group.log.append(partition, bytes).error);
  CHECK(records(group.leader.kv) == 15);
  CHECK(has_cursor(group.leader.kv));
  group.follower.restart();  // the cursor is in the store, not in memory
  REQUIRE_FALSE(group.log.append(partition, bytes).error);
  CHECK(records(group.follower.kv) == 5);
  REQUIRE_FALSE(group.log.append(partition, bytes).error);
  CHECK(records(group.leader.kv) == 0);
  CHECK_FALSE(has_cursor(group.leader.kv));
  CHECK(dump(group.leader.kv) == dump(group.follower.kv));
  // Records younger than the cutoff stay.
  write_records(100, 100);
  prune.cutoff_ms = 1000;
  REQUIRE_FALSE(group.log.append(partition, encode_command(prune)).error);
  CHECK(records(group.leader.kv) == 1);
}

TEST_CASE("state machine: every key starts with its placement key's partition",
          "[service][apply][keys]") {
  Group group;
  service::ImService& service = group.service();
  for (const char* user : {"alice", "bob", "carol"})
    REQUIRE_FALSE(register_user(service, user));
  REQUIRE_FALSE(friend_op(service, CommandKind::friend_request, "alice", "bob"));
  REQUIRE_FALSE(friend_op(service, CommandKind::friend_request, "carol", "bob"));
  REQUIRE(send(service, "alice", "bob", 1).ok());
  REQUIRE_FALSE(wait_for([&](service::Done done) {
    service.groups().create(service::Caller{"alice", "phone", 1}, "g1", "G", {"bob", "carol"},
                            std::move(done));
  }));
  REQUIRE(send(service, "carol", "g1", 1, true).ok());
  REQUIRE_FALSE(wait_for([&](service::Done done) {
    service.ack(service::Caller{"bob", "phone", 2}, "d:alice:bob", 1, std::move(done));
  }));
  REQUIRE(service.flush_cursors() == 1);
  std::set<store::Column> seen;
  for (const auto& [column_number, key, value] : dump(group.leader.kv)) {
    auto column = static_cast<store::Column>(column_number);
    if (column == store::Column::meta) continue;
    INFO(store::column_name(column) << " key of " << key.size() << " bytes");
    auto placement = service::placement_key(column, key);
    REQUIRE(placement.has_value());
    CHECK(service::keys::partition_of_key(key) == group.keys().partition_of(*placement));
    seen.insert(column);
  }
  // Every data column was written, but dedup: no send writes it any more (the records older
  // builds wrote leave with prune_dedup).
  CHECK(seen.size() == std::size(store::data_columns) - 1);
  CHECK_FALSE(seen.contains(store::Column::dedup));
}

TEST_CASE("state machine: a corrupt command is refused without writes", "[service][apply]") {
  Group group;
  service::ImService& service = group.service();
  REQUIRE_FALSE(register_user(service, "alice"));
  REQUIRE_FALSE(register_user(service, "bob"));
  Command send_command = command_of(CommandKind::send, "alice");
  send_command.to_user = "bob";
  send_command.client_msg_id = 1;
  send_command.body = "hello";
  auto valid = encode_command(send_command);
  PartitionId partition = group.keys().partition_of("d:alice:bob");
  Dump before = dump(group.leader.kv);
  std::uint64_t seed = 1;
  if (const char* text = std::getenv("QIM_TEST_SEED")) seed = std::strtoull(text, nullptr, 10);
  INFO("seed " << seed << " (QIM_TEST_SEED replays it)");
  std::mt19937_64 random(seed);
  auto refused = [&](std::span<const std::uint8_t> bytes, PartitionId p) {
    store::WriteBatch batch;
    ApplyResult result = service.apply(p, bytes, batch, true);
    CHECK(batch.empty());
    return result.error.code;
  };
  CHECK(refused({}, partition) == errc::malformed);
  CHECK(refused(std::span(valid).first(valid.size() / 2), partition) == errc::malformed);
  std::vector<std::uint8_t> garbage(64);
  for (auto& byte : garbage)
    byte = static_cast<std::uint8_t>(random());
  CHECK(refused(garbage, partition) == errc::malformed);
  // Flipped bytes either still decode (then it is some valid command) or are refused; none
  // writes when refused, and none crashes.
  for (int i = 0; i < 200; ++i) {
    auto flipped = valid;
    flipped[random() % flipped.size()] ^= static_cast<std::uint8_t>(1 + random() % 255);
    store::WriteBatch batch;
    ApplyResult result = service.apply(partition, flipped, batch, false);
    if (result.error) CHECK(batch.empty());
  }
  // A well-formed command in another partition than its records'.
  CHECK(refused(valid, (partition + 1) % test_partitions().count()) == errc::malformed);
  CHECK(refused(valid, test_partitions().count()) == errc::malformed);
  // Not applied: the store is as before (the refusals above wrote no batch).
  CHECK(dump(group.leader.kv) == before);
}

TEST_CASE("state machine: replicas applying one log end byte-identical, across restarts",
          "[service][apply][determinism]") {
  std::uint64_t seed = 7;
  if (const char* text = std::getenv("QIM_TEST_SEED")) seed = std::strtoull(text, nullptr, 10);
  INFO("seed " << seed << " (QIM_TEST_SEED replays it)");
  std::mt19937_64 random(seed);
  TestLog log;
  service::Options options = replica_options();
  options.max_group_members = 4;
  options.history_retention_ms = 60'000;  // some conversations trimmed, some kept
  Replica a(log, options), b(log, options);
  log.replicas = {&a, &b};
  const std::vector<std::string> users = {"ann", "ben", "cat", "dan", "eve"};
  const std::vector<std::string> groups = {"g1", "g2"};
  for (const std::string& user : users)
    REQUIRE_FALSE(register_user(*a.service, user));
  auto any = [&](const std::vector<std::string>& names) -> const std::string& {
    return names[random() % names.size()];
  };
  // A random workload through the leader's service: whatever it proposes, both apply.
  auto step = [&](std::uint64_t i) {
    const std::string& user = any(users);
    std::string other = any(users);
    if (other == user) other = user == "ann" ? "ben" : "ann";
    service::Caller caller{user, random() % 2 ? "phone" : "laptop", 1};
    a.clock.advance_ms(random() % 5000);
    auto ignore = [](Error) {};
    switch (random() % 10) {
      case 0:
      case 1:
      case 2:
        send(*a.service, user, other, 1 + random() % 20);
        break;
      case 3:
        send(*a.service, user, any(groups), 1 + random() % 20, true);
        break;
      case 4: {
        static const CommandKind kinds[] = {CommandKind::friend_request, CommandKind::friend_accept,
                                            CommandKind::friend_decline,
                                            CommandKind::friend_remove};
        friend_op(*a.service, kinds[random() % 4], user, other);
        break;
      }
      case 5:
        a.service->groups().create(caller, any(groups), "G", {other, any(users)}, ignore);
        break;
      case 6:
        a.service->groups().add(caller, any(groups), {other}, ignore);
        break;
      case 7:
        if (random() % 2) {
          a.service->groups().leave(caller, any(groups), ignore);
        } else {
          a.service->groups().set_role(
              caller, any(groups), other,
              random() % 2 ? service::GroupRole::admin : service::GroupRole::member, ignore);
        }
        break;
      case 8:
        a.service->ack(caller, direct_conversation(user, other), random() % 4, ignore);
        break;
      default:
        if (i % 3 == 0) {
          a.service->groups().dissolve(caller, any(groups), ignore);
        } else if (i % 3 == 1) {
          a.service->trim_history(a.clock.wall_ms());
        } else {
          a.service->prune_dedup(a.clock.wall_ms());
        }
        break;
    }
  };
  for (std::uint64_t i = 0; i < 300; ++i)
    step(i);
  REQUIRE(log.entries.size() > 100);
  CHECK(dump(a.kv) == dump(b.kv));
  // A restarted replica loads its caches from the store and keeps applying the same.
  b.restart();
  for (std::uint64_t i = 300; i < 600; ++i)
    step(i);
  CHECK(dump(a.kv) == dump(b.kv));
  // A fresh replica replaying the whole log from the start ends the same too.
  Replica c(log, options);
  for (const TestLog::Entry& entry : log.entries) {
    store::WriteBatch batch;
    c.service->apply(entry.partition, entry.command, batch, false);
    if (!batch.empty()) REQUIRE_FALSE(c.kv.write(batch, false));
    c.service->after_write(entry.partition, true);
  }
  CHECK(dump(c.kv) == dump(a.kv));
}

TEST_CASE("state machine: reads of a partition this node may not read are Unavailable",
          "[service][apply]") {
  Group group;
  service::ImService& service = group.service();
  REQUIRE_FALSE(register_user(service, "alice"));
  REQUIRE_FALSE(register_user(service, "bob"));
  REQUIRE(send(service, "alice", "bob", 1).ok());
  service::Caller bob{"bob", "phone", 2};
  group.log.unreadable.insert(group.keys().partition_of("d:alice:bob"));
  CHECK(service.pull(bob, "d:alice:bob", 0, 0).error.code == errc::unavailable);
  CHECK(service.history(bob, "d:alice:bob", 0, 0).error.code == errc::unavailable);
  // Bob's list is refused, not shown short, while a partition holding part of it is not read.
  group.log.unreadable.insert(group.keys().partition_of("bob"));
  CHECK(service.sync(bob).error.code == errc::unavailable);
  group.log.unreadable.erase(group.keys().partition_of("bob"));
  auto sync = service.sync(bob);
  CHECK(sync.error.code == errc::unavailable);
  group.log.unreadable.clear();
  sync = service.sync(bob);
  REQUIRE(sync.ok());
  REQUIRE(sync.value.size() == 1);
  CHECK(sync.value[0].head_seq == 1);
}

TEST_CASE("state machine: a session and a detached request answer once the command applies",
          "[service][apply][session]") {
  Group group;
  service::ImService& service = group.service();
  REQUIRE_FALSE(register_user(service, "alice"));
  REQUIRE_FALSE(register_user(service, "bob"));
  FakeConnection connection;
  session::Session session(service, connection);
  std::uint32_t req_id = 1;
  auto feed = [&](auto build) {
    proto::FrameBuilder builder;
    auto bytes = builder.finish(req_id++, build(builder.fbb()));
    std::vector<std::uint64_t> aligned(bytes.size() / 8 + 2);
    std::memcpy(aligned.data(), bytes.data() + proto::frame_header_bytes,
                bytes.size() - proto::frame_header_bytes);
    session.on_frame({reinterpret_cast<const std::uint8_t*>(aligned.data()),
                      bytes.size() - proto::frame_header_bytes});
  };
  feed([](auto& fbb) { return wire::CreateHelloDirect(fbb, proto::protocol_version, "t"); });
  feed([](auto& fbb) {
    return wire::CreateLoginDirect(fbb, "alice", "correct horse", nullptr, "phone");
  });
  REQUIRE(connection.reply(2) != nullptr);
  REQUIRE(connection.reply(2)->type() == wire::Body::LoginOk);

  // The log answers later: nothing is replied until the command applies, then exactly once.
  group.log.defer = true;
  std::vector<std::uint8_t> body = {'h', 'i'};
  feed([&](auto& fbb) { return wire::CreateSendDirect(fbb, "bob", nullptr, 1, &body); });
  feed([&](auto& fbb) { return wire::CreateSendDirect(fbb, "bob", nullptr, 2, &body); });
  CHECK(connection.reply(3) == nullptr);
  CHECK(connection.reply(4) == nullptr);
  REQUIRE(group.log.pending.size() == 2);
  group.log.flush();
  REQUIRE(connection.reply(3) != nullptr);
  REQUIRE(connection.reply(4) != nullptr);
  CHECK(connection.reply(3)->envelope->body_as_SendAck()->seq() == 1);
  CHECK(connection.reply(4)->envelope->body_as_SendAck()->seq() == 2);

  // A detached request (forwarded from another node) replies from the completion, once.
  proto::FrameBuilder builder;
  auto frame = builder.finish(9, wire::CreateSendDirect(builder.fbb(), "alice", nullptr, 3, &body));
  std::vector<std::uint8_t> payload(frame.begin() + proto::frame_header_bytes, frame.end());
  int replies = 0;
  std::vector<std::uint8_t> answer;
  session::DetachedServer(service).serve(service::Caller{"bob", "laptop", 77}, payload,
                                         [&](std::vector<std::uint8_t> reply) {
                                           ++replies;
                                           answer = std::move(reply);
                                         });
  CHECK(replies == 0);
  group.log.flush();
  REQUIRE(replies == 1);
  Frame decoded = decode_frame(answer);
  CHECK(decoded.req_id() == 9);
  REQUIRE(decoded.type() == wire::Body::SendAck);
  CHECK(decoded.envelope->body_as_SendAck()->seq() == 3);
  session.on_close();
}

TEST_CASE("state machine: purging a deleted user's records, partition by partition",
          "[service][apply][purge]") {
  Group group;
  service::ImService& service = group.service();
  for (const char* user : {"ann", "bob", "cat"})
    REQUIRE_FALSE(register_user(service, user));
  auto as = [](std::string_view user) { return service::Caller{user, "phone", 1}; };
  auto run = [&](auto operation) {
    return wait_for([&](service::Done done) { operation(std::move(done)); });
  };
  service::Groups& groups = service.groups();
  REQUIRE_FALSE(friend_op(service, CommandKind::friend_request, "ann", "bob"));
  REQUIRE_FALSE(friend_op(service, CommandKind::friend_accept, "bob", "ann"));
  REQUIRE_FALSE(friend_op(service, CommandKind::friend_request, "cat", "ann"));
  // g1: ann owns it, bob is its admin; g2: ann alone; g3: bob's, ann a member.
  REQUIRE_FALSE(run([&](auto done) {
    groups.create(as("ann"), "g1", "G1", {"cat", "bob"}, done);
  }));
  REQUIRE_FALSE(run([&](auto done) {
    groups.set_role(as("ann"), "g1", "bob", service::GroupRole::admin, done);
  }));
  REQUIRE_FALSE(run([&](auto done) { groups.create(as("ann"), "g2", "G2", {}, done); }));
  REQUIRE_FALSE(run([&](auto done) { groups.create(as("bob"), "g3", "G3", {"ann"}, done); }));
  REQUIRE(send(service, "ann", "bob", 1).ok());
  REQUIRE(send(service, "ann", "g1", 2, true).ok());
  REQUIRE_FALSE(
      run([&](auto done) { service.ack(as("ann"), direct_conversation("ann", "bob"), 1, done); }));

  std::vector<PartitionId> all;
  for (PartitionId p = 0; p < test_partitions().count(); ++p)
    all.push_back(p);
  std::vector<PartitionId> targets = service.purge_targets("ann", all);
  REQUIRE_FALSE(targets.empty());
  PartitionId own = group.keys().partition_of("ann");
  CHECK(std::find(targets.begin(), targets.end(), own) == targets.end());
  for (PartitionId partition : targets) {
    REQUIRE_FALSE(run([&](auto done) { service.purge_user("ann", partition, done); }));
  }
  // Every other partition is free of ann; the account is still there until its own goes.
  CHECK(service.purge_targets("ann", all).empty());
  CHECK_FALSE(service.accounts().exists("ann"));
  REQUIRE_FALSE(run([&](auto done) { service.purge_user("ann", own, done); }));
  CHECK(service.accounts().exists("ann").code == errc::not_found);

  // Friendships are gone on both sides, pending ones too.
  CHECK(service.friends().state("bob", "ann").value == service::FriendState::none);
  CHECK(service.friends().state("cat", "ann").value == service::FriendState::none);
  // g1 passed to its admin; g2 had nobody else and is gone; g3 lost a member.
  auto g1 = groups.inspect("g1");
  REQUIRE(g1.ok());
  CHECK(g1.value.info.owner == "bob");
  REQUIRE(g1.value.members.size() == 2);
  CHECK(g1.value.members[0].user == "bob");
  CHECK(g1.value.members[0].role == service::GroupRole::owner);
  CHECK(g1.value.info.member_count == 2);
  CHECK(groups.inspect("g2").error.code == errc::not_found);
  auto g3 = groups.inspect("g3");
  REQUIRE(g3.ok());
  REQUIRE(g3.value.members.size() == 1);
  CHECK(g3.value.info.member_count == 1);
  // The group's messages stay for its remaining members.
  CHECK(send(service, "bob", "g1", 3, true).ok());

  // No record of ann is left in the columns that hold a user's records.
  for (store::Column column :
       {store::Column::accounts, store::Column::friends, store::Column::convs,
        store::Column::cursors, store::Column::members}) {
    REQUIRE_FALSE(
        group.leader.kv.scan(column, {}, {}, false, [&](std::string_view key, std::string_view) {
          INFO("column " << static_cast<int>(column));
          // Keys are the partition, then components separated by '\0'; another user's
          // membership of "d:ann:bob" stays with the messages.
          std::string_view rest = key.substr(2);
          for (;;) {
            std::size_t end = rest.find('\0');
            CHECK(rest.substr(0, end) != "ann");
            if (end == std::string_view::npos) break;
            rest.remove_prefix(end + 1);
          }
          return true;
        }));
  }
  CHECK(dump(group.leader.kv) == dump(group.follower.kv));

  // A purge applied again (a retried delete) changes nothing.
  Dump before = dump(group.leader.kv);
  for (PartitionId partition : all) {
    Command purge = command_of(CommandKind::purge_user, "ann", 5000);
    CHECK_FALSE(group.log.append(partition, encode_command(purge)).error);
  }
  CHECK(dump(group.leader.kv) == before);
  CHECK(dump(group.follower.kv) == before);
}

namespace {

// The trim_history command with `cutoff_ms`, examining at most `max_visits` log keys.
std::vector<std::uint8_t> trim_command(std::uint64_t cutoff_ms, std::uint32_t max_visits) {
  Command trim;
  trim.kind = CommandKind::trim_history;
  trim.time_ms = cutoff_ms;
  trim.cutoff_ms = cutoff_ms;
  trim.max_visits = max_visits;
  return encode_command(trim);
}

// The seqs of a conversation's log entries (the log floor left out).
std::vector<std::uint64_t> log_seqs(store::Kv& kv, const service::Keys& keys,
                                    std::string_view conversation) {
  std::vector<std::uint64_t> seqs;
  std::string prefix = keys.log_prefix(conversation);
  REQUIRE_FALSE(
      kv.scan(store::Column::log, prefix, {}, false, [&](std::string_view key, std::string_view) {
        if (auto seq = service::keys::log_seq(key, prefix)) seqs.push_back(*seq);
        return true;
      }));
  return seqs;
}

std::vector<std::uint64_t> page_seqs(const service::Result<service::MessagePage>& page) {
  REQUIRE(page.ok());
  std::vector<std::uint64_t> seqs;
  for (const service::Message& message : page.value.messages)
    seqs.push_back(message.seq);
  return seqs;
}

}  // namespace

// A deleted user's name registered again: the direct conversations the old account had go on
// where they were (their history stays with the peer), and no seq is given twice, whatever is
// cached. Once both of a conversation's users are gone, so is its log.
TEST_CASE("state machine: a deleted user's name registered again never reuses a seq",
          "[service][apply][purge]") {
  Group group;
  service::ImService& service = group.service();
  for (const char* user : {"ann", "bob", "cat"})
    REQUIRE_FALSE(register_user(service, user));
  for (std::uint64_t id = 1; id <= 3; ++id)
    REQUIRE(send(service, "ann", "bob", id).ok());
  REQUIRE(send(service, "ann", "cat", 4).ok());
  std::string with_bob = direct_conversation("ann", "bob");
  std::string with_cat = direct_conversation("ann", "cat");
  std::vector<PartitionId> all;
  for (PartitionId p = 0; p < test_partitions().count(); ++p)
    all.push_back(p);
  auto purge = [&](std::string_view user) {
    for (PartitionId partition : all) {
      REQUIRE_FALSE(wait_for(
          [&](service::Done done) { group.leader.service->purge_user(user, partition, done); }));
    }
  };
  purge("ann");
  REQUIRE_FALSE(register_user(service, "ann"));
  // Restarted: nothing cached, so the send finds its conversation's state in the store alone.
  for (Replica* replica : {&group.leader, &group.follower})
    replica->restart();
  auto again = send(*group.leader.service, "ann", "bob", 9);
  REQUIRE(again.ok());
  CHECK(again.value.seq == 4);
  auto from_bob = send(*group.leader.service, "bob", "ann", 10);
  REQUIRE(from_bob.ok());
  CHECK(from_bob.value.seq == 5);
  CHECK(log_seqs(group.leader.kv, group.keys(), with_bob) ==
        std::vector<std::uint64_t>{1, 2, 3, 4, 5});
  // cat leaves too: nobody is left in ann's first conversation with cat, and its log goes.
  purge("cat");
  CHECK(log_seqs(group.leader.kv, group.keys(), with_cat).empty());
  CHECK(dump(group.leader.kv) == dump(group.follower.kv));
}

TEST_CASE("state machine: a history trim removes only older messages and never reuses a seq",
          "[service][apply][retention]") {
  Group group;
  service::ImService& service = group.service();
  REQUIRE_FALSE(register_user(service, "alice"));
  REQUIRE_FALSE(register_user(service, "bob"));
  PartitionId partition = group.keys().partition_of("d:alice:bob");
  // A second conversation of the same partition, so that the trim moves between them.
  std::string other;
  for (int i = 0; other.empty() && i < 10'000; ++i) {
    std::string user = "u" + std::to_string(i);
    if (group.keys().partition_of(direct_conversation("alice", user)) == partition) other = user;
  }
  REQUIRE_FALSE(other.empty());
  REQUIRE_FALSE(register_user(service, other));
  std::string second = direct_conversation("alice", other);

  auto old_time = static_cast<std::uint64_t>(group.leader.clock.wall_ms());
  std::uint64_t cutoff = old_time + 5'000;
  for (std::uint64_t id = 1; id <= 5; ++id)
    REQUIRE(send(service, "alice", "bob", id).ok());
  for (std::uint64_t id = 1; id <= 2; ++id)
    REQUIRE(send(service, "alice", other, id).ok());
  group.leader.clock.advance_ms(10'000);
  for (std::uint64_t id = 6; id <= 8; ++id)
    REQUIRE(send(service, "alice", "bob", id).ok());
  service::Caller bob{"bob", "phone", 2};
  REQUIRE_FALSE(
      wait_for([&](service::Done done) { service.ack(bob, "d:alice:bob", 3, std::move(done)); }));
  REQUIRE(service.flush_cursors() == 1);

  ApplyResult trimmed = group.log.append(partition, trim_command(cutoff, 1'000));
  REQUIRE_FALSE(trimmed.error);
  CHECK_FALSE(trimmed.more);
  CHECK(log_seqs(group.leader.kv, group.keys(), "d:alice:bob") ==
        std::vector<std::uint64_t>{6, 7, 8});
  CHECK(log_seqs(group.leader.kv, group.keys(), second).empty());
  CHECK(dump(group.leader.kv) == dump(group.follower.kv));
  // Reads of the trimmed range are not errors: they return what remains.
  CHECK(page_seqs(service.pull(bob, "d:alice:bob", 0, 0)) == std::vector<std::uint64_t>{6, 7, 8});
  CHECK(page_seqs(service.history(bob, "d:alice:bob", 0, 0)) ==
        std::vector<std::uint64_t>{6, 7, 8});
  CHECK(page_seqs(service.history(bob, "d:alice:bob", 6, 0)).empty());
  service::Caller alice{"alice", "phone", 1};
  CHECK(page_seqs(service.history(alice, second, 0, 0)).empty());
  CHECK(page_seqs(service.pull(alice, second, 0, 0)).empty());

  // Trimming the same range again changes nothing.
  Dump before = dump(group.leader.kv);
  REQUIRE_FALSE(group.log.append(partition, trim_command(cutoff, 1'000)).error);
  CHECK(dump(group.leader.kv) == before);
  CHECK(dump(group.follower.kv) == before);

  // The heads survive in the store (restarts forget the cached ones): no seq is reused, and
  // the read cursor stays.
  group.leader.restart();
  group.follower.restart();
  service::ImService& restarted = group.service();
  auto head = restarted.conversation_head_here("alice", second);
  REQUIRE(head.ok());
  CHECK(head.value.head_seq == 2);
  CHECK(send(restarted, "alice", other, 3).value.seq == 3);
  CHECK(send(restarted, "alice", "bob", 9).value.seq == 9);
  std::string cursor;
  REQUIRE_FALSE(group.leader.kv.get(store::Column::cursors,
                                    group.keys().cursor("bob", "d:alice:bob", "phone"), cursor));

  // Everything old: every entry goes, the next message still follows the last seq.
  REQUIRE_FALSE(group.log.append(partition, trim_command(UINT64_MAX, 1'000)).error);
  CHECK(log_seqs(group.leader.kv, group.keys(), "d:alice:bob").empty());
  CHECK(page_seqs(restarted.history(bob, "d:alice:bob", 0, 0)).empty());
  group.leader.restart();
  group.follower.restart();
  CHECK(send(group.service(), "alice", "bob", 10).value.seq == 10);
  CHECK(dump(group.leader.kv) == dump(group.follower.kv));
}

TEST_CASE("state machine: retries are judged from the log alone, warm, restarted or trimmed",
          "[service][apply]") {
  Group group;
  service::ImService& service = group.service();
  REQUIRE_FALSE(register_user(service, "alice"));
  REQUIRE_FALSE(register_user(service, "bob"));
  for (std::uint64_t id = 1; id <= 3; ++id)
    REQUIRE(send(service, "alice", "bob", id).value.seq == id);
  // The follower restarts: it knows the recent sends only from its log's tail.
  group.follower.restart();
  auto retry = send(service, "alice", "bob", 2);
  REQUIRE(retry.ok());
  CHECK(retry.value.duplicate);
  CHECK(retry.value.seq == 2);
  CHECK(dump(group.leader.kv) == dump(group.follower.kv));
  // History retention deletes the three messages on both (the leader still remembers them in
  // memory): a retry of one is then a new message on both alike.
  PartitionId partition = group.keys().partition_of("d:alice:bob");
  std::uint64_t later = group.leader.clock.wall_ms() + 1;
  REQUIRE_FALSE(group.log.append(partition, trim_command(later, 100)).error);
  REQUIRE(log_seqs(group.leader.kv, group.keys(), "d:alice:bob").empty());
  auto after_trim = send(service, "alice", "bob", 3);
  REQUIRE(after_trim.ok());
  CHECK_FALSE(after_trim.value.duplicate);
  CHECK(after_trim.value.seq == 4);
  CHECK(dump(group.leader.kv) == dump(group.follower.kv));
}

TEST_CASE("state machine: a history trim examines a bounded number of log keys and resumes",
          "[service][apply][retention]") {
  Group group;
  service::ImService& service = group.service();
  REQUIRE_FALSE(register_user(service, "alice"));
  REQUIRE_FALSE(register_user(service, "bob"));
  for (std::uint64_t id = 1; id <= 25; ++id)
    REQUIRE(send(service, "alice", "bob", id).ok());
  PartitionId partition = group.keys().partition_of("d:alice:bob");
  std::string prefix = service::keys::partition_prefix(partition);
  auto has_cursor = [&](store::Kv& kv) {
    std::string value;
    return !kv.get(store::Column::log, prefix, value);
  };
  auto bytes = trim_command(UINT64_MAX, 10);
  ApplyResult first = group.log.append(partition, bytes);
  REQUIRE_FALSE(first.error);
  CHECK(first.more);
  CHECK(log_seqs(group.leader.kv, group.keys(), "d:alice:bob").size() == 15);
  CHECK(has_cursor(group.leader.kv));
  group.follower.restart();  // the cursor is in the store, not in memory
  CHECK(group.log.append(partition, bytes).more);
  CHECK(log_seqs(group.follower.kv, group.keys(), "d:alice:bob").size() == 5);
  ApplyResult last = group.log.append(partition, bytes);
  REQUIRE_FALSE(last.error);
  CHECK_FALSE(last.more);
  CHECK(log_seqs(group.leader.kv, group.keys(), "d:alice:bob").empty());
  CHECK_FALSE(has_cursor(group.leader.kv));
  CHECK(dump(group.leader.kv) == dump(group.follower.kv));
  // A trim that asks for no visits still examines one key, so sweeps always progress.
  REQUIRE(send(service, "alice", "bob", 100).value.seq == 26);
  ApplyResult least = group.log.append(partition, trim_command(UINT64_MAX, 0));
  REQUIRE_FALSE(least.error);
  CHECK(least.more);
  REQUIRE_FALSE(group.log.append(partition, trim_command(UINT64_MAX, 0)).error);
  CHECK(log_seqs(group.leader.kv, group.keys(), "d:alice:bob").empty());
  CHECK(send(service, "alice", "bob", 101).value.seq == 27);
  CHECK(dump(group.leader.kv) == dump(group.follower.kv));
}

TEST_CASE("state machine: the retention sweep proposes to the partitions it leads until done",
          "[service][apply][retention]") {
  SECTION("no retention: nothing is proposed") {
    Group group;
    CHECK(group.service().trim_history(100 * 24 * 3600 * 1000LL) == 0);
    CHECK(group.log.entries.empty());
  }
  SECTION("with a retention: one trim per readable partition, more while one reports more") {
    service::Options options = replica_options();
    options.history_retention_ms = 1'000;
    Group group(options);
    service::ImService& service = group.service();
    REQUIRE_FALSE(register_user(service, "alice"));
    REQUIRE_FALSE(register_user(service, "bob"));
    PartitionId partition = group.keys().partition_of("d:alice:bob");
    for (std::uint64_t id = 1;
         id <= service::HistoryTrim::max_visits + service::HistoryTrim::max_visits / 2; ++id) {
      REQUIRE(send(service, "alice", "bob", id).ok());
    }
    group.log.unreadable.insert(partition == 0 ? 1 : 0);
    std::size_t readable = group.log.readable_partitions().size();
    std::size_t entries = group.log.entries.size();
    group.leader.clock.advance_ms(5'000);
    CHECK(service.trim_history(group.leader.clock.wall_ms()) == readable + 1);
    CHECK(group.log.entries.size() == entries + readable + 1);
    CHECK(log_seqs(group.leader.kv, group.keys(), "d:alice:bob").empty());
    CHECK(dump(group.leader.kv) == dump(group.follower.kv));
  }
}

}  // namespace qim::testing
