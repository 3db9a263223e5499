// route/readiness.h: which keys a node may serve after a placement change, driven by hand:
// placements, HandoffDone reports and the time are plain arguments.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "route/placement.h"
#include "route/readiness.h"

using namespace qim::route;
using namespace std::chrono_literals;

namespace {

using TimePoint = Readiness::TimePoint;
constexpr auto timeout = 30s;
const TimePoint t0 = TimePoint() + 1000s;

NodeInfo node(const std::string& name) {
  return NodeInfo{name, "127.0.0.1", 7000, ""};
}

// `self`'s placement over `names` (self need not be among them).
Placement view(const std::string& self, const std::vector<std::string>& names,
               std::uint64_t version = 1) {
  std::vector<NodeInfo> members;
  for (const std::string& name : names)
    members.push_back(node(name));
  return Placement(self, std::move(members), {}, version);
}

std::vector<std::string> keys(int count) {
  std::vector<std::string> result;
  for (int i = 0; i < count; ++i)
    result.push_back(i % 2 == 0 ? "user" + std::to_string(i) : "g:group" + std::to_string(i));
  return result;
}

// The keys `self` owns under `placement` that `readiness` blocks.
std::size_t blocked(const Readiness& readiness, const Placement& placement) {
  std::size_t count = 0;
  for (const std::string& key : keys(2000)) {
    if (placement.is_local(key) && readiness.blocks(key)) ++count;
  }
  return count;
}

std::size_t local(const Placement& placement) {
  std::size_t count = 0;
  for (const std::string& key : keys(2000))
    count += placement.is_local(key) ? 1 : 0;
  return count;
}

}  // namespace

TEST_CASE("readiness: layout fingerprints agree across nodes and tell layouts apart",
          "[readiness]") {
  auto a = view("n1", {"n1", "n2", "n3"}, 4);
  auto b = view("n3", {"n3", "n2", "n1"}, 9);  // another node, order, version
  CHECK(layout_fingerprint(a) == layout_fingerprint(b));
  // A draining node's placement (without itself) matches what the others route by.
  CHECK(layout_fingerprint(view("n3", {"n1", "n2"})) ==
        layout_fingerprint(view("n1", {"n1", "n2"})));
  CHECK(layout_fingerprint(a) != layout_fingerprint(view("n1", {"n1", "n2"})));
  CHECK(layout_fingerprint(a) != layout_fingerprint(view("n1", {"n1", "n2", "n4"})));
  qim::cluster::RingOptions fewer;
  fewer.vnodes_per_member = 16;
  std::vector<NodeInfo> members{node("n1"), node("n2"), node("n3")};
  CHECK(layout_fingerprint(a) != layout_fingerprint(Placement("n1", members, fewer, 1)));
}

TEST_CASE("readiness: a node that joins serves each key once its previous home is done",
          "[readiness]") {
  Readiness readiness(timeout);
  auto solo = Placement::solo(node("n4"));
  auto joined = view("n4", {"n1", "n2", "n3", "n4"});
  const std::uint64_t layout = layout_fingerprint(joined);
  readiness.placement_changed(solo, joined, t0);
  REQUIRE(local(joined) > 0);
  CHECK(blocked(readiness, joined) == local(joined));
  CHECK(readiness.awaited() == std::vector<std::string>{"n1", "n2", "n3"});

  // A Done for another layout (n1 still routes without n4) ends nothing.
  CHECK_FALSE(readiness.handoff_done("n1", layout_fingerprint(view("n1", {"n1", "n2", "n3"}))));
  CHECK(blocked(readiness, joined) == local(joined));

  // n1's Done frees exactly the keys that lived at n1 before n4 came.
  auto before = view("n1", {"n1", "n2", "n3"});
  CHECK(readiness.handoff_done("n1", layout));
  std::size_t from_n1 = 0;
  for (const std::string& key : keys(2000)) {
    if (!joined.is_local(key)) continue;
    bool was_n1 = before.home_of(key).name == "n1";
    from_n1 += was_n1 ? 1 : 0;
    INFO(key);
    CHECK(readiness.blocks(key) == !was_n1);
  }
  CHECK(from_n1 > 0);
  CHECK(readiness.handoff_done("n2", layout));
  CHECK(readiness.handoff_done("n3", layout));
  CHECK(blocked(readiness, joined) == 0);
  CHECK(readiness.gate() == nullptr);
  CHECK_FALSE(readiness.next_deadline());
}

TEST_CASE("readiness: the members that stay lose keys to a newcomer and never wait",
          "[readiness]") {
  Readiness readiness(timeout);
  auto three = view("n1", {"n1", "n2", "n3"}, 1);
  readiness.placement_changed(view("n1", {"n1", "n2"}, 0), three, t0);
  auto four = view("n1", {"n1", "n2", "n3", "n4"}, 2);
  readiness.placement_changed(three, four, t0);
  CHECK(readiness.awaited().empty());
  CHECK(blocked(readiness, four) == 0);
  // A member that leaves or dies is not waited for: its keys are served at once.
  auto without_n2 = view("n1", {"n1", "n3", "n4"}, 3);
  readiness.placement_changed(four, without_n2, t0);
  CHECK(local(without_n2) > local(four));
  CHECK(blocked(readiness, without_n2) == 0);
}

TEST_CASE("readiness: a Done that arrives before this node reaches its layout is kept",
          "[readiness]") {
  Readiness readiness(timeout);
  auto joined = view("n3", {"n1", "n2", "n3"});
  readiness.handoff_done("n1", layout_fingerprint(joined));  // n1 saw the join first
  readiness.placement_changed(Placement::solo(node("n3")), joined, t0);
  CHECK(readiness.awaited() == std::vector<std::string>{"n2"});
  readiness.handoff_done("n2", layout_fingerprint(joined));
  CHECK(blocked(readiness, joined) == 0);
}

TEST_CASE("readiness: a joiner that learns the members one by one waits for each", "[readiness]") {
  Readiness readiness(timeout);
  auto partial = view("n3", {"n1", "n3"}, 1);
  readiness.placement_changed(view("n3", {"n3"}, 0), partial, t0);
  CHECK(readiness.awaited() == std::vector<std::string>{"n1"});
  auto full = view("n3", {"n1", "n2", "n3"}, 2);
  readiness.placement_changed(partial, full, t0 + 1s);
  CHECK(readiness.awaited() == std::vector<std::string>{"n1", "n2"});
  // n1 is done for the full layout; what n3 owns that lived at n2 still waits.
  readiness.handoff_done("n1", layout_fingerprint(full));
  auto before = view("n1", {"n1", "n2"});
  std::size_t from_n2 = 0;
  for (const std::string& key : keys(2000)) {
    if (!full.is_local(key)) continue;
    bool was_n2 = before.home_of(key).name == "n2";
    from_n2 += was_n2 ? 1 : 0;
    INFO(key);
    CHECK(readiness.blocks(key) == was_n2);
  }
  CHECK(from_n2 > 0);
  readiness.handoff_done("n2", layout_fingerprint(full));
  CHECK(blocked(readiness, full) == 0);
}

TEST_CASE("readiness: a source that dies or leaves is no longer waited for", "[readiness]") {
  Readiness readiness(timeout);
  auto joined = view("n4", {"n1", "n2", "n3", "n4"}, 1);
  readiness.placement_changed(Placement::solo(node("n4")), joined, t0);
  auto without_n2 = view("n4", {"n1", "n3", "n4"}, 2);
  readiness.placement_changed(joined, without_n2, t0 + 1s);
  CHECK(readiness.awaited() == std::vector<std::string>{"n1", "n3"});
  // The Done must now be for the layout without n2.
  CHECK_FALSE(readiness.handoff_done("n1", layout_fingerprint(joined)));
  CHECK(readiness.handoff_done("n1", layout_fingerprint(without_n2)));
  CHECK(readiness.handoff_done("n3", layout_fingerprint(without_n2)));
  CHECK(blocked(readiness, without_n2) == 0);
}

TEST_CASE("readiness: waits end at their deadline", "[readiness]") {
  Readiness readiness(timeout);
  auto joined = view("n2", {"n1", "n2"});
  readiness.placement_changed(Placement::solo(node("n2")), joined, t0);
  REQUIRE(readiness.next_deadline() == t0 + timeout);
  CHECK(readiness.expire(t0 + timeout - 1ms).empty());
  CHECK(blocked(readiness, joined) == local(joined));
  CHECK(readiness.expire(t0 + timeout) == std::vector<std::string>{"n1"});
  CHECK(blocked(readiness, joined) == 0);
  CHECK_FALSE(readiness.next_deadline());
}

TEST_CASE("readiness: a draining node waits for nothing", "[readiness]") {
  Readiness readiness(timeout);
  auto joined = view("n2", {"n1", "n2"}, 1);
  readiness.placement_changed(Placement::solo(node("n2")), joined, t0);
  REQUIRE_FALSE(readiness.awaited().empty());
  readiness.placement_changed(joined, view("n2", {"n1"}, 2), t0);
  CHECK(readiness.awaited().empty());
  CHECK(readiness.gate() == nullptr);
}

TEST_CASE("readiness: a one-node cluster that grows waits only for the newcomer's first pass",
          "[readiness]") {
  Readiness readiness(timeout);
  auto alone = view("n1", {"n1"}, 1);
  readiness.placement_changed(Placement::solo(node("n1")), alone, t0);
  CHECK(readiness.awaited().empty());
  auto pair = view("n1", {"n1", "n2"}, 2);
  readiness.placement_changed(alone, pair, t0);
  CHECK(readiness.awaited() == std::vector<std::string>{"n2"});
  readiness.handoff_done("n2", layout_fingerprint(pair));
  CHECK(blocked(readiness, pair) == 0);
}

TEST_CASE("readiness: a source that is down (kept on the ring) is not waited for", "[readiness]") {
  Readiness readiness(timeout);
  auto joined = view("n3", {"n1", "n2", "n3"}, 1);
  readiness.placement_changed(Placement::solo(node("n3")), joined, t0);
  REQUIRE(readiness.awaited() == std::vector<std::string>{"n1", "n2"});
  std::vector<NodeInfo> members{node("n1"), node("n2"), node("n3")};
  members[1].up = false;
  Placement n2_down("n3", members, {}, 2);
  readiness.placement_changed(joined, n2_down, t0 + 1s);
  CHECK(readiness.awaited() == std::vector<std::string>{"n1"});
}
