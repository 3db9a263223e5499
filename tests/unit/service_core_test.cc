#include <catch2/catch.hpp>

#include "qim/ids.h"
#include "service/cluster_queries.h"
#include "service/keys.h"
#include "service/login_limiter.h"
#include "service/partition_caches.h"
#include "service/recent_sends.h"
#include "service/records.h"
#include "session_test_fixture.h"
#include "store/memory_kv.h"

using namespace qim;
using namespace qim::service;

TEST_CASE("service keys: log keys order numerically and parse back", "[service]") {
  Keys keys(qim::testing::test_partitions());
  std::string prefix = keys.log_prefix("d:a:b");
  std::string k255 = keys.log("d:a:b", 255), k256 = keys.log("d:a:b", 256);
  CHECK(k255 < k256);
  CHECK(k255.starts_with(prefix));
  CHECK(keys::log_seq(k256, prefix) == std::optional<std::uint64_t>(256));
  CHECK_FALSE(keys::log_seq(prefix + "abc", prefix).has_value());
  std::string pair = keys::partition_prefix(keys.partition_of("d:alice:bob"));
  CHECK(keys.friend_of("alice", "bob") == pair + std::string("alice\0bob", 9));
  std::string user = keys::partition_prefix(keys.partition_of("u"));
  CHECK(keys.cursor("u", "d:a:b", "phone") == user + std::string("u\0d:a:b\0phone", 13));
  std::string dedup = keys.dedup("g:x", "s", 1);
  CHECK(dedup.size() == 2 + 3 + 1 + 1 + 1 + 8);
  CHECK(dedup.back() == '\1');
  // A user's convs prefix does not cover a user whose id extends it.
  PartitionId group = keys.partition_of("g:x");
  CHECK(keys.conv("alice", "g:x").starts_with(keys.convs_prefix(group, "alice")));
  CHECK_FALSE(keys.conv("alice2", "g:x").starts_with(keys.convs_prefix(group, "alice")));
}

TEST_CASE("service caches: a head set since the partition's last write is never evicted",
          "[service]") {
  Keys keys(qim::testing::test_partitions());
  store::MemoryKv kv;
  PartitionCaches caches(kv, keys);
  std::size_t share = std::max<std::size_t>(
      256, PartitionCaches::max_cached_heads / qim::testing::test_partitions().count());
  PartitionId partition = keys.partition_of("d:a:b");
  std::vector<std::string> conversations;
  for (int i = 0; conversations.size() < 2 * share + 2; ++i) {
    std::string conversation = direct_conversation("a", "u" + std::to_string(i));
    if (keys.partition_of(conversation) == partition) conversations.push_back(conversation);
  }
  // A full cache of written heads.
  for (std::size_t i = 0; i < share; ++i)
    caches.set_head(conversations[i], 5);
  caches.heads_written(partition);
  // Then a batch's worth of new heads, more than the cache holds: each evicts a written one,
  // none evicts an unwritten one (reloading it from the store would go back to an older seq).
  for (std::size_t i = share; i < 2 * share + 1; ++i)
    caches.set_head(conversations[i], 9);
  std::size_t written_left = 0;
  for (std::size_t i = 0; i < share; ++i)
    written_left += caches.has_head(conversations[i]) ? 1 : 0;
  CHECK(written_left == 0);
  for (std::size_t i = share; i < 2 * share + 1; ++i) {
    INFO(i);
    REQUIRE(caches.has_head(conversations[i]));
  }
  std::uint64_t seq = 0;
  REQUIRE_FALSE(caches.head(conversations[share], seq));
  CHECK(seq == 9);
  // Once written, they may be evicted again.
  caches.heads_written(partition);
  caches.set_head(conversations.back(), 1);
  std::size_t cached = 0;
  for (const std::string& conversation : conversations)
    cached += caches.has_head(conversation) ? 1 : 0;
  CHECK(cached == share + 1);
}

TEST_CASE("service records: round trip, and corrupted bytes are refused", "[service]") {
  AccountRecord account;
  account.password_hash = "$argon2id$...";
  account.created_ms = 5;
  account.disabled = true;
  account.tokens.push_back(TokenEntry{{1, 2, 3}, "phone", 6, 7});
  std::string bytes = encode(account);
  AccountRecord decoded;
  REQUIRE(decode(bytes, decoded));
  CHECK(decoded.password_hash == account.password_hash);
  CHECK(decoded.disabled);
  REQUIRE(decoded.tokens.size() == 1);
  CHECK(decoded.tokens[0].digest == account.tokens[0].digest);
  CHECK(decoded.tokens[0].last_used_ms == 7);

  // Unaligned input is copied before reading.
  std::string shifted = "x" + bytes;
  CHECK(decode(std::string_view(shifted).substr(1), decoded));

  Message message;
  message.seq = 9;
  message.sender = "alice";
  message.body = std::string("\0\1\2", 3);
  Message read;
  REQUIRE(decode_log_entry(encode_log_entry(message), read));
  CHECK(read.seq == 9);
  CHECK(read.body == message.body);

  std::string garbage(40, '\xff');
  CHECK_FALSE(decode(garbage, decoded));
  CHECK_FALSE(decode_log_entry(garbage, read));
  CHECK_FALSE(decode(std::string_view("abc"), decoded));
  std::string truncated = bytes.substr(0, bytes.size() / 2);
  CHECK_FALSE(decode(truncated, decoded));
}

TEST_CASE("service login limiter: budgets per key, peeking does not spend, map bounded",
          "[service]") {
  LoginLimiter limiter(2, 100, 4);
  CHECK(limiter.allowed("alice", "a1", 0));
  CHECK(limiter.allowed("alice", "a1", 0));
  limiter.record_failure("alice", "a1", 0);
  CHECK(limiter.allowed("alice", "a1", 0));
  limiter.record_failure("alice", "a1", 0);
  CHECK_FALSE(limiter.allowed("alice", "a1", 0));
  CHECK(limiter.allowed("bob", "a1", 0));
  CHECK(limiter.allowed("alice", "a1", 30'000));  // 2 per minute: one back after 30 s
  for (int i = 0; i < 10; ++i)
    limiter.record_failure("u" + std::to_string(i), "a2", 0);
  CHECK(limiter.tracked_users() <= 4);
  CHECK(limiter.tracked_addresses() <= 4);
}

TEST_CASE("service: a retry is recognised among the conversation's last window messages",
          "[service][messages]") {
  service::Options options = qim::testing::test_options();
  options.dm_policy = DmPolicy::anyone;
  options.message_burst = 1e9;  // the test sends a window's worth at once
  qim::testing::World world(options);
  auto alice = world.login("alice");
  auto bob = world.login("bob");
  auto seq_of = [](const auto& reply) {
    const auto* ack = reply.envelope->body_as_SendAck();
    REQUIRE(ack != nullptr);
    return ack->seq();
  };
  REQUIRE(seq_of(alice->send_to_user("bob", 7, "first")) == 1);
  // The same id from the other participant is another message.
  REQUIRE(seq_of(bob->send_to_user("alice", 7, "mine")) == 2);
  auto retry = alice->send_to_user("bob", 7, "first");
  REQUIRE(retry.envelope->body_as_SendAck() != nullptr);
  CHECK(retry.envelope->body_as_SendAck()->duplicate());
  CHECK(seq_of(retry) == 1);
  const std::uint64_t window = service::RecentSends::window;
  for (std::uint64_t id = 100; id < 100 + window - 2; ++id)
    REQUIRE(seq_of(bob->send_to_user("alice", id, "chatter")) == id - 97);
  // Seq 1 is the oldest of the last `window` seqs (head = window): still recognised.
  CHECK(seq_of(alice->send_to_user("bob", 7, "first")) == 1);
  REQUIRE(seq_of(bob->send_to_user("alice", 5000, "one more")) == window + 1);
  // Now it has left the window: the same id is a new message.
  auto late = alice->send_to_user("bob", 7, "first");
  CHECK_FALSE(late.envelope->body_as_SendAck()->duplicate());
  CHECK(seq_of(late) == window + 2);
  CHECK(seq_of(alice->send_to_user("bob", 7, "first")) == window + 2);
}

TEST_CASE("service: what is kept of recent sends stays within its share", "[service][messages]") {
  store::MemoryKv kv;
  Keys keys(qim::testing::test_partitions());
  RecentSends recent(kv, keys);
  const std::size_t share =
      std::max<std::size_t>(2 * (RecentSends::window + RecentSends::conversation_units),
                            RecentSends::max_units / keys.partitions().count());
  // Many one-message conversations, then one long one: old conversations make room.
  for (std::uint64_t i = 0; i < share; ++i) {
    recent.appended(0, "d:a:u" + std::to_string(i), "a", i, 1, 1000);
    recent.written(0);
  }
  CHECK(recent.units(0) <= share);
  CHECK(recent.units(0) > share / 2);
  for (std::uint64_t seq = 1; seq <= 3 * RecentSends::window; ++seq) {
    recent.appended(0, "g:busy", "a", seq, seq, 1000);
    recent.written(0);
  }
  CHECK(recent.units(0) <= share);
  CHECK(recent.units(1) == 0);
  // The busy conversation keeps its window: the oldest of it is still found in memory
  // (unwritten entries are trusted without a store read).
  recent.appended(0, "g:busy", "a", 999'999, 3 * RecentSends::window + 1, 1000);
  std::optional<RecentSends::Original> original;
  REQUIRE_FALSE(recent.find(0, "g:busy", 3 * RecentSends::window + 1, "a", 999'999, original));
  REQUIRE(original.has_value());
  CHECK(original->seq == 3 * RecentSends::window + 1);
}

TEST_CASE("service: recent sends tell a retry by sender and id, written or not",
          "[service][messages]") {
  store::MemoryKv kv;
  Keys keys(qim::testing::test_partitions());
  RecentSends recent(kv, keys);
  std::optional<RecentSends::Original> original;
  // Unwritten entries answer from memory alone.
  recent.appended(0, "d:a:b", "a", 7, 1, 1000);
  recent.appended(0, "d:a:b", "b", 7, 2, 1001);
  REQUIRE_FALSE(recent.find(0, "d:a:b", 2, "b", 7, original));
  REQUIRE(original.has_value());
  CHECK(original->seq == 2);
  REQUIRE_FALSE(recent.find(0, "d:a:b", 2, "a", 7, original));
  REQUIRE(original.has_value());
  CHECK(original->seq == 1);
  CHECK(original->server_time_ms == 1000);
  REQUIRE_FALSE(recent.find(0, "d:a:b", 2, "a", 8, original));
  CHECK_FALSE(original.has_value());
  REQUIRE_FALSE(recent.find(0, "d:a:b", 2, "c", 7, original));
  CHECK_FALSE(original.has_value());
  // Written entries are checked against the store: here it holds none, as after retention.
  recent.written(0);
  REQUIRE_FALSE(recent.find(0, "d:a:b", 2, "a", 7, original));
  CHECK_FALSE(original.has_value());
  // Entries that leave the window leave the index too: the units come back to one window.
  const std::size_t before = recent.units(0);
  for (std::uint64_t seq = 3; seq <= 2 + 2 * RecentSends::window; ++seq)
    recent.appended(0, "d:a:b", "a", 100 + seq, seq, 1000);
  CHECK(recent.units(0) == before - 2 + RecentSends::window);
  REQUIRE_FALSE(recent.find(0, "d:a:b", 2 + 2 * RecentSends::window, "a",
                            102 + 2 * RecentSends::window, original));
  REQUIRE(original.has_value());
  CHECK(original->seq == 2 + 2 * RecentSends::window);
  // Many entries are indexed: the oldest kept is found, one that left is not.
  const std::uint64_t oldest = 3 + RecentSends::window;
  REQUIRE_FALSE(recent.find(0, "d:a:b", 2 + 2 * RecentSends::window, "a", 100 + oldest, original));
  REQUIRE(original.has_value());
  CHECK(original->seq == oldest);
  REQUIRE_FALSE(recent.find(0, "d:a:b", 2 + 2 * RecentSends::window, "a", 99 + oldest, original));
  CHECK_FALSE(original.has_value());
}

TEST_CASE("service: a corrupted log entry is an Internal error, not a crash",
          "[service][messages]") {
  service::Options options = qim::testing::test_options();
  options.dm_policy = DmPolicy::anyone;
  qim::testing::World world(options);
  auto alice = world.login("alice");
  auto bob = world.login("bob");
  REQUIRE(alice->send_to_user("bob", 1, "a").type() == wire::Body::SendAck);
  store::WriteBatch batch;
  batch.put(store::Column::log, world.service.keys().log("d:alice:bob", 1),
            std::string_view("not a record"));
  REQUIRE_FALSE(world.kv.write(batch, false));
  CHECK(bob->pull("d:alice:bob", 0, 0).error_code() == errc::internal);
  CHECK(bob->history("d:alice:bob", 0, 0).error_code() == errc::internal);
}

TEST_CASE("service: cluster-wide online pages merge sorted, distinct and bounded",
          "[service][cluster]") {
  std::vector<service::OnlinePage> pages(3);
  pages[0] = {2, {"bob", "dave"}, false};
  pages[1] = {3, {"alice", "carol", "erin"}, true};
  pages[2] = {1, {"bob"}, false};  // a user moving between nodes, briefly on two
  auto merged = service::merge_online_pages(pages, 10);
  CHECK(merged.total == 6);
  CHECK(merged.users == std::vector<std::string>{"alice", "bob", "carol", "dave", "erin"});
  CHECK(merged.more);  // node 1 has more after erin
  auto first = service::merge_online_pages(pages, 2);
  CHECK(first.users == std::vector<std::string>{"alice", "bob"});
  CHECK(first.more);
  auto none = service::merge_online_pages({}, 5);
  CHECK(none.total == 0);
  CHECK(none.users.empty());
  CHECK_FALSE(none.more);
}
