// A user's friend list is gathered from the partitions every node leads; while one partition
// has no reader (its leadership is moving, or its leader did not answer), the list is refused
// as Unavailable, never shown without that partition's friends.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "core/clock.h"
#include "qim/ids.h"
#include "service/accounts.h"
#include "service/counters.h"
#include "service/events.h"
#include "service/friends.h"
#include "service/inline_proposer.h"
#include "service/keys.h"
#include "service/partition_coverage.h"
#include "service/reach.h"
#include "service/records.h"
#include "service/session_registry.h"
#include "store/memory_kv.h"

#include "fixed_placement.h"
#include "unreachable_cluster.h"

namespace {

using namespace qim;
using service::PartitionId;

// Reads only the partitions the test says this node leads.
class PartlyLeading final : public service::Proposer {
 public:
  explicit PartlyLeading(service::Proposer& inner) : inner_(inner) {}
  std::set<PartitionId> led;

  void propose(PartitionId partition, std::vector<std::uint8_t> command,
               std::function<void(service::ApplyResult)> done) override {
    inner_.propose(partition, std::move(command), std::move(done));
  }
  bool readable(PartitionId partition) const override { return led.count(partition) == 1; }
  std::vector<PartitionId> readable_partitions() const override { return {led.begin(), led.end()}; }

 private:
  service::Proposer& inner_;
};

// The other nodes answer with the parts the test gives them; what the asker had read itself
// is noted (the gatherer stops waiting once the parts complete it).
class PartsCluster final : public testing::UnreachableCluster {
 public:
  std::vector<service::UserParts> parts;
  int asked = 0;
  std::uint32_t missing_when_asked = 0;

  std::vector<service::UserParts> user_parts_elsewhere(
      std::string_view, service::UserPart, const service::PartitionCoverage& covered) override {
    ++asked;
    missing_when_asked = covered.missing();
    return parts;
  }
};

struct Fixture {
  store::MemoryKv kv;
  core::ManualClock clock;
  service::Options options;
  service::SessionRegistry registry;
  service::Counters counters;
  route::Partitions partitions{8, cluster::HashKey{}};
  service::Keys keys{partitions};
  service::InlineProposer inline_proposer{kv, partitions};
  PartlyLeading proposer{inline_proposer};
  service::Accounts accounts{kv, keys, proposer, clock, options};
  service::Reach reach{registry, accounts};
  service::Events events{reach, counters, partitions.count()};
  service::Friends friends{kv, keys, proposer, events, reach, clock, options};
  std::shared_ptr<const route::Placement> placement =
      std::make_shared<route::Placement>(testing::spread_placement(
          "n1", {testing::test_node("n1", 7700), testing::test_node("n2", 7710)}));
  testing::FixedPlacement source{placement};
  PartsCluster cluster;

  Fixture() { reach.use_cluster(source, cluster); }

  // alice's side of a friendship with `other`, in the pair's partition; returns the partition.
  PartitionId befriend(const std::string& other) {
    store::WriteBatch batch;
    service::FriendRecord record;
    record.state = service::FriendState::accepted;
    batch.put(store::Column::friends, keys.friend_of("alice", other), service::encode(record));
    REQUIRE(!kv.write(batch, false));
    return keys.partition_of(direct_conversation("alice", other));
  }
};

std::set<std::string> names(const std::vector<service::FriendEntry>& entries) {
  std::set<std::string> result;
  for (const auto& entry : entries)
    result.insert(entry.user);
  return result;
}

service::Caller alice() {
  service::Caller caller;
  caller.user = "alice";
  caller.device = "laptop";
  return caller;
}

}  // namespace

TEST_CASE("partition coverage: complete only when every partition was read", "[coverage]") {
  service::PartitionCoverage coverage(4);
  CHECK(coverage.missing() == 4);
  std::vector<PartitionId> first = {0, 2, 2, 9};  // repeats and strangers count once or not
  coverage.add(first);
  CHECK(coverage.missing() == 2);
  Error error = coverage.check("friends", "alice");
  CHECK(error.code == errc::unavailable);
  CHECK(error.message.find("2 of 4 partition(s) holding alice's friends") != std::string::npos);
  std::vector<PartitionId> rest = {1, 3};
  coverage.add(rest);
  CHECK(coverage.missing() == 0);
  CHECK(!coverage.check("friends", "alice"));
}

TEST_CASE("friend list: refused while a partition has no reader, complete once it has one",
          "[coverage]") {
  Fixture f;
  // Friends in two different partitions.
  std::string first = "bob", second;
  PartitionId p1 = f.befriend(first), p2 = p1;
  for (int i = 0; p2 == p1; ++i) {
    second = "carol" + std::to_string(i);
    p2 = f.keys.partition_of(direct_conversation("alice", second));
  }
  f.befriend(second);

  // This node leads every partition but p2's; the other node answers for none of them.
  for (PartitionId p = 0; p < f.partitions.count(); ++p) {
    if (p != p2) f.proposer.led.insert(p);
  }
  auto short_list = f.friends.list(alice());
  REQUIRE(!short_list.ok());
  CHECK(short_list.error.code == errc::unavailable);
  CHECK(f.cluster.asked == 1);
  CHECK(f.cluster.missing_when_asked == 1);  // only p2 is wanted from the others

  // The other node now answers for p2, with what it holds there.
  service::UserParts part;
  part.partitions = {p2};
  part.friends.push_back(service::FriendEntry{second, service::FriendState::accepted, false});
  f.cluster.parts = {part};
  auto full = f.friends.list(alice());
  REQUIRE(full.ok());
  CHECK(names(full.value) == std::set<std::string>{first, second});

  // A node's part counts for the partitions it says it read, not for what it sent.
  f.cluster.parts[0].partitions.clear();
  CHECK(f.friends.list(alice()).error.code == errc::unavailable);

  // Leading every partition, this node asks no other.
  f.proposer.led.insert(p2);
  int asked = f.cluster.asked;
  auto local = f.friends.list(alice());
  REQUIRE(local.ok());
  CHECK(names(local.value) == std::set<std::string>{first, second});
  CHECK(f.cluster.asked == asked);
}
