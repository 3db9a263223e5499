// The handoff between real node parts in one process: PlacementTracker, Rebalancer and
// HandoffReceiver of two nodes over loopback peer links, each with its own MemoryKv. The
// control executor is driven by the test thread; store work runs on a real thread pool. Every
// wait polls a condition with a deadline; nothing sleeps to synchronise.
#include <catch2/catch.hpp>

#include <asio.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "auth/cluster_key.h"
#include "auth/password.h"
#include "core/clock.h"
#include "core/log.h"
#include "net/peer_links.h"
#include "node/handoff_receiver.h"
#include "node/handoff_store.h"
#include "node/placement_tracker.h"
#include "node/rebalancer.h"
#include "proto/frame.h"
#include "proto/peer_frame.h"
#include "qim/ids.h"
#include "service/im_service.h"
#include "service/inline_proposer.h"
#include "service/keys.h"
#include "service/placement_keys.h"
#include "store/memory_kv.h"

using namespace qim;
using namespace std::chrono_literals;
using store::Column;
using Clock = std::chrono::steady_clock;

namespace {

// Keys as the service builds them (the partition count does not matter to these tests).
const route::Partitions test_partitions(64, cluster::HashKey{});
const service::Keys test_keys(test_partitions);

using RecordId = std::pair<Column, std::string>;
using Contents = std::map<RecordId, std::string>;

// Silent unless QIM_TEST_LOG is set (then everything, for debugging a failure).
core::Logger& quiet() {
  static core::Logger logger(std::getenv("QIM_TEST_LOG") ? core::LogLevel::debug
                                                         : core::LogLevel::off);
  return logger;
}

const auth::ClusterKey& cluster_key() {
  static const auth::ClusterKey key = [] {
    REQUIRE(auth::initialize());
    return auth::ClusterKey::generate();
  }();
  return key;
}

net::PeerLinkOptions fast_links() {
  net::PeerLinkOptions options;
  options.handshake_timeout = 1'000ms;
  options.backoff_initial = 20ms;
  options.backoff_max = 200ms;
  return options;
}

// What node/cluster_peers.cc does with handoff messages.
class HandoffHandler final : public net::PeerHandler {
 public:
  explicit HandoffHandler(node::HandoffReceiver& receiver) : receiver_(receiver) {}
  asio::awaitable<std::vector<std::uint8_t>> on_request(
      std::string_view from_node, const peer_wire::PeerEnvelope& request) override {
    if (const auto* handoff = request.body_as_Handoff()) {
      co_return co_await receiver_.accept(from_node, *handoff);
    }
    proto::PeerFrameBuilder builder;
    co_return builder.error(0, peer_wire::PeerKind::Reply, errc::unexpected_message, "body");
  }
  void on_oneway(std::string_view from_node, const peer_wire::PeerEnvelope& message) override {
    if (const auto* done = message.body_as_HandoffDone()) receiver_.done(from_node, *done);
  }

 private:
  node::HandoffReceiver& receiver_;
};

// A MemoryKv whose next `failing_writes` writes fail, as a full disk would.
class FlakyKv final : public store::Kv {
 public:
  Error get(Column column, std::string_view key, std::string& value) override {
    return kv_.get(column, key, value);
  }
  Error write(const store::WriteBatch& batch, bool sync) override {
    if (failing_writes.load() > 0) {
      --failing_writes;
      return Error{errc::internal, "disk full"};
    }
    return kv_.write(batch, sync);
  }
  Error scan(Column column, std::string_view prefix, std::string_view start, bool reverse,
             const store::ScanVisitor& visit) override {
    return kv_.scan(column, prefix, start, reverse, visit);
  }
  std::uint64_t approximate_size_bytes() const override { return kv_.approximate_size_bytes(); }
  Error flush() override { return {}; }

  std::atomic<int> failing_writes{0};

 private:
  store::MemoryKv kv_;
};

struct TestNode {
  TestNode(asio::io_context& io, asio::thread_pool& blocking, std::string node_name,
           std::uint16_t client_port)
      : name(std::move(node_name)),
        port(client_port),
        proposer(kv, test_partitions),
        service(kv, clock, quiet(), service::Options{}, proposer, test_partitions),
        tracker(route::NodeInfo{name, "127.0.0.1", port, ""}, {}, io.get_executor(), quiet()),
        links(io.get_executor(), cluster_key(), tracker, quiet(), epoch, fast_links()),
        receiver(kv, blocking.get_executor(), tracker, quiet()),
        handler(receiver),
        rebalancer(io.get_executor(), blocking.get_executor(), kv, links, tracker, service,
                   quiet()) {
    proposer.attach(service);
    service.use_placement(tracker);
    tracker.set_change_listener([this] { rebalancer.placement_changed(); });
    receiver.set_stray_listener([this] { rebalancer.placement_changed(); });
    std::string error;
    INFO(error);
    REQUIRE(links.bind({"127.0.0.1", 0}, error));
    links.start(handler);
  }

  node::MemberSnapshot member(cluster::swim::MemberState state = cluster::swim::MemberState::alive,
                              std::uint64_t restart_epoch = 1) const {
    node::MemberSnapshot snapshot;
    snapshot.name = name;
    snapshot.client_address = "127.0.0.1:" + std::to_string(port);
    snapshot.state = state;
    snapshot.restart_epoch = restart_epoch;
    snapshot.peer_address = links.local_address();
    return snapshot;
  }

  std::string name;
  std::uint16_t port;
  std::uint64_t epoch = 1;
  FlakyKv kv;
  core::ManualClock clock;
  service::InlineProposer proposer;
  service::ImService service;
  node::PlacementTracker tracker;
  net::PeerLinks links;
  node::HandoffReceiver receiver;
  HandoffHandler handler;
  node::Rebalancer rebalancer;
};

template <typename Condition>
void run_until(asio::io_context& io, Condition condition, std::chrono::milliseconds limit) {
  auto deadline = Clock::now() + limit;
  while (!condition()) {
    io.run_one_for(10ms);
    REQUIRE(Clock::now() < deadline);
  }
}

template <typename T>
T run(asio::io_context& io, asio::awaitable<T> task) {
  auto future = asio::co_spawn(io, std::move(task), asio::use_future);
  run_until(
      io, [&] { return future.wait_for(0s) == std::future_status::ready; }, 10'000ms);
  return future.get();
}

void shut_down(asio::io_context& io, std::vector<TestNode*> nodes) {
  for (TestNode* node : nodes) {
    run(io, node->rebalancer.stop());
    node->tracker.drain();  // nothing waits any more: no timer is left
  }
  for (TestNode* node : nodes)
    run(io, node->links.stop());
  run_until(
      io, [&] { return io.stopped(); }, 5'000ms);
}

// Records of every column for `users` users and their direct conversations and groups.
Contents sample(int users) {
  Contents records;
  for (int i = 0; i < users; ++i) {
    std::string a = "user" + std::to_string(i), b = "user" + std::to_string((i + 1) % users);
    std::string direct = direct_conversation(a, b);
    records[{Column::accounts, test_keys.account(a)}] = "account " + a;
    records[{Column::cursors, test_keys.cursor(a, direct, "laptop")}] = "3";
    records[{Column::friends, test_keys.friend_of(a, b)}] = "f";
    records[{Column::friends, test_keys.friend_of(b, a)}] = "f";
    records[{Column::convs, test_keys.conv(a, direct)}] = "c";
    records[{Column::convs, test_keys.conv(b, direct)}] = "c";
    records[{Column::log, test_keys.log(direct, 1)}] = "hello from " + a;
    records[{Column::dedup, test_keys.dedup(direct, a, 1)}] = "d";
    if (i % 5 == 0) {
      std::string group = "grp" + std::to_string(i);
      records[{Column::groups, test_keys.group(group)}] = "g";
      records[{Column::members, test_keys.member(group, a)}] = "m";
      records[{Column::convs, test_keys.conv(a, group_conversation(group))}] = "c";
      records[{Column::log, test_keys.log(group_conversation(group), 1)}] = "hi all";
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

std::string placement_key(const RecordId& id) {
  auto key = service::placement_key(id.first, id.second);
  REQUIRE(key);
  return *key;
}

// The records of `all` whose home under `placement` is `node`, by placement key.
std::map<std::string, std::vector<RecordId>> homed_at(const Contents& all,
                                                      const route::Placement& placement,
                                                      const std::string& node) {
  std::map<std::string, std::vector<RecordId>> keys;
  for (const auto& [id, value] : all) {
    std::string key = placement_key(id);
    if (placement.home_of(key).name == node) keys[key].push_back(id);
  }
  return keys;
}

bool all_ready(const node::PlacementTracker& tracker,
               const std::map<std::string, std::vector<RecordId>>& keys) {
  for (const auto& [key, ids] : keys) {
    if (!tracker.ready(key)) return false;
  }
  return true;
}

}  // namespace

TEST_CASE(
    "handoff: a joining node gets every record it is home of, and serves a key only once "
    "it has all of them",
    "[handoff]") {
  asio::io_context io(1);
  asio::thread_pool blocking(2);
  TestNode n1(io, blocking, "n1", 7001);
  TestNode n2(io, blocking, "n2", 7002);
  const Contents original = sample(80);
  load(n1.kv, original);
  store::WriteBatch meta;
  meta.put(Column::meta, "format", "1");
  REQUIRE_FALSE(n1.kv.write(meta, true));

  // n2 already holds a different entry at the head of one of the logs it will own (written
  // while it wrongly served the conversation): it keeps its own.
  const route::Placement both("n2", {{"n1", "127.0.0.1", 7001, ""}, {"n2", "127.0.0.1", 7002, ""}},
                              {}, 1);
  RecordId clash;
  for (const auto& [id, value] : original) {
    if (id.first == Column::log && both.home_of(placement_key(id)).name == "n2") {
      clash = id;
      break;
    }
  }
  REQUIRE_FALSE(clash.second.empty());
  store::WriteBatch theirs;
  theirs.put(clash.first, clash.second, "n2's own entry");
  REQUIRE_FALSE(n2.kv.write(theirs, true));

  // Each starts alone (its first membership view, itself, changes nothing).
  CHECK_FALSE(n1.tracker.update({n1.member()}));
  CHECK_FALSE(n2.tracker.update({n2.member()}));

  // n2 learns of n1 first: everything it now owns waits for n1.
  n2.tracker.update({n1.member(), n2.member()});
  auto at_n2 = homed_at(original, both, "n2");
  REQUIRE(at_n2.size() > 20);
  for (const auto& [key, ids] : at_n2) {
    INFO(key);
    CHECK(n2.tracker.placement()->is_local(key));
    CHECK_FALSE(n2.tracker.ready(key));
  }

  // Then n1 learns of n2 and hands over. Whenever a key turns ready at n2, all its records
  // must be there.
  n1.tracker.update({n1.member(), n2.member()});
  std::size_t early = 0;
  run_until(
      io,
      [&] {
        auto held = contents(n2.kv);
        for (const auto& [key, ids] : at_n2) {
          if (!n2.tracker.ready(key)) continue;
          for (const RecordId& id : ids)
            early += held.count(id) == 0 ? 1 : 0;
        }
        return all_ready(n2.tracker, at_n2);
      },
      10'000ms);
  CHECK(early == 0);
  // n1 was alone before: it waited for n2's (empty) pass, whose first Done n1 could not take
  // yet (it did not know n2); the repeated one arrives.
  auto at_n1 = homed_at(original, both, "n1");
  run_until(
      io, [&] { return all_ready(n1.tracker, at_n1); }, 10'000ms);

  Contents held1 = contents(n1.kv), held2 = contents(n2.kv);
  CHECK(held1.count({Column::meta, "format"}) == 1);
  std::set<Column> columns_moved;
  for (const auto& [id, value] : original) {
    INFO(store::column_name(id.first) << " " << id.second);
    bool at_home2 = both.home_of(placement_key(id)).name == "n2";
    CHECK(held1.count(id) == (at_home2 ? 0u : 1u));
    REQUIRE(held2.count(id) == (at_home2 ? 1u : 0u));
    if (!at_home2) continue;
    columns_moved.insert(id.first);
    CHECK(held2[id] == (id == clash ? "n2's own entry" : value));
  }
  CHECK(columns_moved.size() == node::handoff_column_count);
  CHECK(n2.receiver.conflicts() == 1);

  // n2 leaves: it hands everything back; n1 does not wait for a node that left.
  n2.tracker.drain();
  n1.tracker.update({n1.member(), n2.member(cluster::swim::MemberState::left)});
  CHECK(all_ready(n1.tracker, at_n2));
  run_until(
      io,
      [&] {
        auto left = contents(n2.kv);
        return left.size() == 0;
      },
      10'000ms);
  Contents back = contents(n1.kv);
  for (const auto& [id, value] : original) {
    INFO(store::column_name(id.first) << " " << id.second);
    REQUIRE(back.count(id) == 1);
    CHECK(back[id] == (id == clash ? "n2's own entry" : value));
  }
  shut_down(io, {&n1, &n2});
}

TEST_CASE("handoff: the receiver refuses records that place nowhere and the meta column",
          "[handoff]") {
  asio::io_context io(1);
  asio::thread_pool blocking(1);
  TestNode n1(io, blocking, "n1", 7001);
  auto offer = [&](std::uint8_t column, std::string key) {
    std::vector<route::HandoffRecord> records = {
        {static_cast<std::uint8_t>(Column::accounts), "fine", "v", "fine"},
        {column, std::move(key), "v", ""}};
    Error error;
    auto request = proto::PeerMessage::verify(node::encode_handoff(records), error);
    REQUIRE(request.valid());
    auto reply_bytes = run(io, n1.receiver.accept("n9", *request.envelope().body_as_Handoff()));
    auto reply = proto::PeerMessage::verify(std::move(reply_bytes), error);
    REQUIRE(reply.valid());
    return reply.envelope().body_as_PeerError() == nullptr
               ? std::string("accepted")
               : std::string(proto::view(reply.envelope().body_as_PeerError()->message()));
  };
  CHECK_THAT(offer(static_cast<std::uint8_t>(Column::friends), "no-separator"),
             Catch::Contains("records[1].key"));
  CHECK_THAT(offer(static_cast<std::uint8_t>(Column::convs), std::string("user\0", 5)),
             Catch::Contains("records[1].key"));
  CHECK_THAT(offer(static_cast<std::uint8_t>(Column::meta), "format"),
             Catch::Contains("records[1].column"));
  CHECK_THAT(offer(200, "x"), Catch::Contains("records[1].column"));
  CHECK(contents(n1.kv).empty());  // a refused batch writes nothing
  CHECK(offer(static_cast<std::uint8_t>(Column::groups), "grp") == "accepted");
  CHECK(contents(n1.kv).size() == 2);
  shut_down(io, {&n1});
}

TEST_CASE("handoff: keys stop waiting for a silent previous home after the timeout", "[handoff]") {
  asio::io_context io(1);
  core::Logger& logger = quiet();
  node::PlacementTracker tracker(route::NodeInfo{"n2", "127.0.0.1", 7002, ""}, {},
                                 io.get_executor(), logger, 300ms);
  int changes = 0;
  tracker.set_change_listener([&] { ++changes; });
  auto member = [](std::string name, std::uint16_t port, std::uint64_t epoch) {
    node::MemberSnapshot snapshot;
    snapshot.name = std::move(name);
    snapshot.client_address = "127.0.0.1:" + std::to_string(port);
    snapshot.restart_epoch = epoch;
    snapshot.peer_address = "127.0.0.1:1";
    return snapshot;
  };
  CHECK_FALSE(tracker.update({member("n2", 7002, 1)}));
  auto started = Clock::now();
  CHECK(tracker.update({member("n1", 7001, 1), member("n2", 7002, 1)}));
  CHECK(changes == 1);
  std::string key;
  for (int i = 0; key.empty(); ++i) {
    if (tracker.placement()->is_local("user" + std::to_string(i))) key = "user" + std::to_string(i);
  }
  CHECK_FALSE(tracker.ready(key));
  // A Done for another layout changes nothing.
  tracker.handoff_done("n1", 12345);
  CHECK_FALSE(tracker.ready(key));
  // n1 restarts without the layout changing: a pass runs so that it hears Done from us.
  CHECK_FALSE(tracker.update({member("n1", 7001, 2), member("n2", 7002, 1)}));
  CHECK(changes == 2);
  run_until(
      io, [&] { return tracker.ready(key); }, 5'000ms);
  CHECK(Clock::now() - started >= 300ms);
  tracker.drain();
  run_until(
      io, [&] { return io.stopped(); }, 5'000ms);
}

TEST_CASE("handoff: a batch the new home could not write is offered again, and Done waits for it",
          "[handoff]") {
  asio::io_context io(1);
  asio::thread_pool blocking(2);
  TestNode n1(io, blocking, "n1", 7001);
  TestNode n2(io, blocking, "n2", 7002);
  const Contents original = sample(40);
  load(n1.kv, original);
  n2.kv.failing_writes = 1;  // the first Handoff n2 gets fails

  n2.tracker.update({n1.member(), n2.member()});
  n1.tracker.update({n1.member(), n2.member()});
  const route::Placement both("n2", {{"n1", "127.0.0.1", 7001, ""}, {"n2", "127.0.0.1", 7002, ""}},
                              {}, 1);
  auto at_n2 = homed_at(original, both, "n2");
  // The first pass fails: nothing is deleted at n1 and n2 may serve none of its keys.
  run_until(
      io, [&] { return n1.rebalancer.passes() >= 1; }, 10'000ms);
  CHECK(n2.kv.failing_writes.load() == 0);
  CHECK(contents(n1.kv) == original);
  std::size_t early = 0;
  run_until(
      io,
      [&] {
        auto held = contents(n2.kv);
        for (const auto& [key, ids] : at_n2) {
          if (!n2.tracker.ready(key)) continue;
          for (const RecordId& id : ids)
            early += held.count(id) == 0 ? 1 : 0;
        }
        return all_ready(n2.tracker, at_n2);
      },
      10'000ms);
  CHECK(early == 0);
  CHECK(n1.rebalancer.passes() >= 2);
  Contents held2 = contents(n2.kv);
  for (const auto& [key, ids] : at_n2) {
    for (const RecordId& id : ids)
      CHECK(held2.count(id) == 1);
  }
  shut_down(io, {&n1, &n2});
}
