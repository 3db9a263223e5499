// route/handoff.h batches and node/handoff_store.h over a MemoryKv: what a pass reads and in
// which batches, what it deletes after the ack, and what a receiver writes or keeps.
#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "core/log.h"
#include "node/handoff_store.h"
#include "proto/frame.h"
#include "proto/peer_frame.h"
#include "qim/ids.h"
#include "route/handoff.h"
#include "route/placement.h"
#include "service/keys.h"
#include "service/placement_keys.h"
#include "store/memory_kv.h"

using namespace qim;
using store::Column;

namespace {

// Keys as the service builds them (the partition count does not matter to these tests).
const route::Partitions test_partitions(64, cluster::HashKey{});
const service::Keys test_keys(test_partitions);

using RecordId = std::pair<Column, std::string>;
using Contents = std::map<RecordId, std::string>;

route::Placement cluster_view(const std::string& self, const std::vector<std::string>& names) {
  std::vector<route::NodeInfo> members;
  for (const std::string& name : names)
    members.push_back({name, "127.0.0.1", 7000, ""});
  return route::Placement(self, std::move(members), {}, 1);
}

std::string user(int i) {
  return "user" + std::to_string(i);
}

// Records of every column, as the service writes them: users with accounts and cursors,
// friendships with their direct conversations, groups with their rosters, and the logs.
Contents sample(int users, std::size_t value_bytes = 8) {
  Contents records;
  std::string value(value_bytes, 'v');
  for (int i = 0; i < users; ++i) {
    std::string a = user(i), b = user((i + 1) % users);
    std::string direct = direct_conversation(a, b);
    records[{Column::accounts, test_keys.account(a)}] = "account:" + a;
    records[{Column::cursors, test_keys.cursor(a, direct, "laptop")}] = value;
    records[{Column::friends, test_keys.friend_of(a, b)}] = value;
    records[{Column::friends, test_keys.friend_of(b, a)}] = value;
    records[{Column::convs, test_keys.conv(a, direct)}] = value;
    records[{Column::convs, test_keys.conv(b, direct)}] = value;
    for (std::uint64_t seq = 1; seq <= 3; ++seq) {
      records[{Column::log, test_keys.log(direct, seq)}] = value + std::to_string(seq);
      records[{Column::dedup, test_keys.dedup(direct, a, seq)}] = value;
    }
    if (i % 4 == 0) {
      std::string group = "grp" + std::to_string(i);
      std::string conversation = group_conversation(group);
      records[{Column::groups, test_keys.group(group)}] = value;
      records[{Column::members, test_keys.member(group, a)}] = value;
      records[{Column::members, test_keys.member(group, b)}] = value;
      records[{Column::convs, test_keys.conv(a, conversation)}] = value;
      records[{Column::log, test_keys.log(conversation, 1)}] = value;
    }
  }
  return records;
}

void load(store::Kv& kv, const Contents& records) {
  store::WriteBatch batch;
  for (const auto& [id, value] : records)
    batch.put(id.first, id.second, value);
  REQUIRE_FALSE(kv.write(batch, true));
}

Contents contents(store::Kv& kv) {
  Contents records;
  for (std::size_t c = 0; c < store::column_count; ++c) {
    auto column = static_cast<Column>(c);
    REQUIRE_FALSE(kv.scan(column, "", "", false, [&](std::string_view key, std::string_view value) {
      records[{column, std::string(key)}] = std::string(value);
      return true;
    }));
  }
  return records;
}

std::string home_of(const route::Placement& placement, Column column, const std::string& key) {
  auto placement_key = service::placement_key(column, key);
  REQUIRE(placement_key);
  return placement.home_of(*placement_key).name;
}

// Runs a pass's reading to the end, "shipping" each full or final batch into `shipped`.
struct Reading {
  std::map<std::string, Contents> shipped;
  std::vector<std::size_t> batch_sizes;  // encoded bytes
  std::size_t unparsable = 0;
};

Reading read_all(store::Kv& kv, const route::Placement& placement, std::size_t max_bytes,
                 std::size_t step) {
  route::HandoffBatches batches(placement, max_bytes);
  node::ScanCursor cursor;
  Reading reading;
  auto ship = [&](const std::string& node) {
    auto records = batches.take(node);
    REQUIRE_FALSE(records.empty());
    reading.batch_sizes.push_back(node::encode_handoff(records).size());
    for (route::HandoffRecord& record : records) {
      auto id = RecordId{static_cast<Column>(record.column), record.key};
      CHECK(reading.shipped[node].count(id) == 0);  // each record once
      reading.shipped[node][id] = record.value;
    }
  };
  int rounds = 0;
  while (!cursor.finished()) {
    REQUIRE(++rounds < 100000);
    node::ScanStop stop = node::fill_batches(kv, cursor, batches, step);
    REQUIRE_FALSE(stop.error);
    reading.unparsable += stop.unparsable;
    if (!stop.full_node.empty()) ship(stop.full_node);
  }
  for (const std::string& node : batches.pending())
    ship(node);
  return reading;
}

}  // namespace

TEST_CASE("handoff: batches keep records of other homes, within the byte budget", "[handoff]") {
  auto placement = cluster_view("n1", {"n1", "n2", "n3"});
  route::HandoffBatches batches(placement, 1000);
  std::string home;
  int stays = 0, added = 0;
  for (int i = 0; i < 200 && added < 5; ++i) {
    auto offered = batches.offer(0, user(i), std::string(100, 'x'), user(i), home);
    if (offered == route::HandoffBatches::Offer::stays) {
      ++stays;
      continue;
    }
    if (home != "n2") continue;
    REQUIRE(offered == route::HandoffBatches::Offer::added);
    ++added;
  }
  REQUIRE(added == 5);
  CHECK(stays > 0);
  CHECK(batches.bytes("n2") <= 1000);
  // A sixth record of 100 bytes would pass the budget: ship first.
  for (int i = 200;; ++i) {
    if (placement.home_of(user(i)).name != "n2") continue;
    CHECK(batches.offer(0, user(i), std::string(100, 'x'), user(i), home) ==
          route::HandoffBatches::Offer::full);
    CHECK(batches.take("n2").size() == 5);
    CHECK(batches.offer(0, user(i), std::string(100, 'x'), user(i), home) ==
          route::HandoffBatches::Offer::added);
    break;
  }
  // A record larger than any batch travels alone.
  for (int i = 400;; ++i) {
    if (placement.home_of(user(i)).name != "n3") continue;
    batches.take("n3");
    CHECK(batches.offer(0, user(i), std::string(5000, 'x'), user(i), home) ==
          route::HandoffBatches::Offer::added);
    CHECK(batches.offer(0, user(i), "", user(i), home) == route::HandoffBatches::Offer::full);
    CHECK(batches.take("n3").size() == 1);
    CHECK(batches.offer(0, user(i), "", user(i), home) == route::HandoffBatches::Offer::added);
    break;
  }
  CHECK(batches.pending() == std::vector<std::string>{"n2", "n3"});
  batches.fail("n3");
  CHECK(batches.pending() == std::vector<std::string>{"n2"});
  CHECK(batches.take("n3").empty());
  for (int i = 600;; ++i) {
    if (placement.home_of(user(i)).name != "n3") continue;
    CHECK(batches.offer(0, user(i), "", user(i), home) == route::HandoffBatches::Offer::skipped);
    break;
  }
}

TEST_CASE("handoff: records whose home is down stay, and do not fail the pass", "[handoff]") {
  std::vector<route::NodeInfo> members{{"n1", "127.0.0.1", 7001, ""},
                                       {"n2", "127.0.0.1", 7002, ""}};
  members[1].up = false;
  route::Placement placement("n1", members, {}, 1);
  route::HandoffBatches batches(placement, 1000);
  std::string home;
  for (int i = 0;; ++i) {
    if (placement.home_of(user(i)).name != "n2") continue;
    CHECK(batches.offer(0, user(i), "v", user(i), home) == route::HandoffBatches::Offer::home_down);
    break;
  }
  CHECK(batches.pending().empty());
  CHECK_FALSE(batches.failed("n2"));
}

TEST_CASE("handoff: a pass reads every column but meta and sends each record to its home",
          "[handoff]") {
  store::MemoryKv kv;
  Contents original = sample(60);
  load(kv, original);
  store::WriteBatch extra;
  extra.put(Column::meta, "format", "1");           // node-local: never moves
  extra.put(Column::friends, "no-separator", "x");  // places nowhere: stays
  REQUIRE_FALSE(kv.write(extra, true));

  auto placement = cluster_view("n1", {"n1", "n2", "n3"});
  // Small batches and small read steps, so that both resumptions are exercised.
  Reading reading = read_all(kv, placement, 2048, 7);
  CHECK(reading.unparsable == 1);
  std::set<Column> columns_moved;
  std::size_t expected = 0;
  for (const auto& [id, value] : original) {
    std::string home = home_of(placement, id.first, id.second);
    INFO(store::column_name(id.first) << " " << id.second);
    if (home == "n1") {
      CHECK(reading.shipped["n2"].count(id) + reading.shipped["n3"].count(id) == 0);
      continue;
    }
    ++expected;
    columns_moved.insert(id.first);
    REQUIRE(reading.shipped[home].count(id) == 1);
    CHECK(reading.shipped[home][id] == value);
  }
  CHECK(reading.shipped["n2"].size() + reading.shipped["n3"].size() == expected);
  CHECK(reading.shipped.count("n1") == 0);
  CHECK(columns_moved.size() == node::handoff_column_count);
  CHECK(reading.batch_sizes.size() > 2);
  for (std::size_t bytes : reading.batch_sizes)
    CHECK(bytes <= 2048);
}

TEST_CASE("handoff: encoded batches stay within the budget for tiny and large records",
          "[handoff]") {
  auto placement = cluster_view("n1", {"n2"});  // draining: everything moves
  for (std::size_t value_bytes :
       {std::size_t{0}, std::size_t{1}, std::size_t{37}, std::size_t{5000}}) {
    store::MemoryKv kv;
    load(kv, sample(200, value_bytes));
    Reading reading = read_all(kv, placement, 16 * 1024, 1000);
    INFO(value_bytes);
    REQUIRE_FALSE(reading.batch_sizes.empty());
    for (std::size_t bytes : reading.batch_sizes)
      CHECK(bytes <= 16 * 1024);
  }
}

TEST_CASE("handoff: only records unchanged since they were read are deleted", "[handoff]") {
  store::MemoryKv kv;
  std::vector<route::HandoffRecord> records = {
      {static_cast<std::uint8_t>(Column::accounts), "a", "1", "a"},
      {static_cast<std::uint8_t>(Column::accounts), "b", "1", "b"},
      {static_cast<std::uint8_t>(Column::accounts), "c", "1", "c"},
  };
  store::WriteBatch batch;
  batch.put(Column::accounts, "a", "1");
  batch.put(Column::accounts, "b", "2");  // written after it was read
  batch.put(Column::accounts, "d", "1");  // not shipped
  REQUIRE_FALSE(kv.write(batch, true));   // "c" was deleted meanwhile
  std::vector<std::size_t> kept;
  REQUIRE_FALSE(node::erase_handed_over(kv, records, kept));
  CHECK(kept == std::vector<std::size_t>{1, 2});
  Contents left = contents(kv);
  CHECK(left.size() == 2);
  CHECK(left[{Column::accounts, "b"}] == "2");
  CHECK(left.count({Column::accounts, "d"}) == 1);
}

TEST_CASE("handoff: a receiver never overwrites a log or dedup record that differs", "[handoff]") {
  store::MemoryKv kv;
  core::Logger logger(core::LogLevel::off);
  std::string direct = direct_conversation("alice", "bob");
  std::string log1 = test_keys.log(direct, 1), log2 = test_keys.log(direct, 2);
  std::string log3 = test_keys.log(direct, 3);
  std::string member = test_keys.member("grp", "alice");
  std::string dedup = test_keys.dedup(direct, "alice", 9);
  store::WriteBatch existing;
  existing.put(Column::log, log1, "ours");
  existing.put(Column::log, log2, "same");
  existing.put(Column::dedup, dedup, "ours");
  existing.put(Column::accounts, "alice", "old");
  REQUIRE_FALSE(kv.write(existing, true));

  std::vector<node::ReceivedRecord> received = {
      {Column::log, log1, "theirs"},  // conflict: kept
      {Column::log, log2, "same"},    // a retry: already here
      {Column::log, log3, "new"},         {Column::dedup, dedup, "theirs"},  // conflict: kept
      {Column::accounts, "alice", "new"},  // other columns take the handed-over value
      {Column::members, member, "m"},
  };
  node::ApplyResult result = node::apply_handoff(kv, received, "n2", logger);
  REQUIRE_FALSE(result.error);
  CHECK(result.applied == 4);
  CHECK(result.conflicts == 2);
  Contents now = contents(kv);
  CHECK(now[{Column::log, log1}] == "ours");
  CHECK(now[{Column::log, log2}] == "same");
  CHECK(now[{Column::log, log3}] == "new");
  CHECK(now[{Column::dedup, dedup}] == "ours");
  CHECK(now[{Column::accounts, "alice"}] == "new");
  CHECK(now[{Column::members, member}] == "m");
}
