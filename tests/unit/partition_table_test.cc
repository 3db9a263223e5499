// qimctl partitions' merge of the nodes' replica reports (admin/partition_table.h): the
// highest-term leader's view wins, lag and under-replication are computed from it.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "admin/partition_table.h"

namespace qim::admin {
namespace {

constexpr std::uint64_t r1 = 0x11, r2 = 0x22, r3 = 0x33, r4 = 0x44;

std::vector<MemberReplica> three_live() {
  return {{"n1", r1, true}, {"n2", r2, true}, {"n3", r3, true}};
}

ReplicaStatusView leader_view(std::uint32_t partition, std::uint64_t replica, std::uint64_t term,
                              std::uint64_t last_index,
                              std::vector<std::pair<std::uint64_t, std::uint64_t>> matches) {
  ReplicaStatusView view;
  view.partition = partition;
  view.replica = replica;
  view.role = role_leader;
  view.term = term;
  view.leader = replica;
  view.commit = last_index;
  view.last_index = last_index;
  view.voters = {replica};
  for (auto [follower, match] : matches) {
    view.voters.push_back(follower);
    view.followers.push_back({follower, match, false, true});
  }
  return view;
}

ReplicaStatusView follower_view(std::uint32_t partition, std::uint64_t replica, std::uint64_t term,
                                std::uint64_t leader, std::vector<std::uint64_t> voters) {
  ReplicaStatusView view;
  view.partition = partition;
  view.replica = replica;
  view.term = term;
  view.leader = leader;
  view.voters = std::move(voters);
  return view;
}

TEST_CASE("partition table: the leader's view gives the row, lag is to the slowest voter",
          "[admin][partitions]") {
  std::vector<NodeReplicaReport> reports = {
      {"n1", r1, true, "", {leader_view(0, r1, 3, 100, {{r2, 100}, {r3, 93}})}},
      {"n2", r2, true, "", {follower_view(0, r2, 3, r1, {r1, r2, r3})}},
      {"n3", r3, true, "", {follower_view(0, r3, 3, r1, {r1, r2, r3})}},
  };
  PartitionTableView table = merge_partition_reports(reports, three_live(), 1, 3);
  REQUIRE(table.rows.size() == 1);
  const PartitionRowView& row = table.rows[0];
  CHECK(row.leader == "n1");
  CHECK(row.leader_confirmed);
  CHECK(row.term == 3);
  CHECK(row.commit == 100);
  CHECK(row.voters == std::vector<std::string>{"n1", "n2", "n3"});
  CHECK(row.lag == 7);
  CHECK_FALSE(row.under_replicated);
  CHECK(table.under_replicated == 0);
  CHECK(table.leaderless == 0);
  CHECK(table.nodes_answered == 3);
  REQUIRE(table.nodes.size() == 3);
  CHECK(table.nodes[0].node == "n1");
  CHECK(table.nodes[0].leaders == 1);
  CHECK(table.nodes[0].replicas == 1);
  CHECK(table.nodes[1].leaders == 0);
}

TEST_CASE("partition table: a deposed leader's stale view loses to the new term's leader",
          "[admin][partitions]") {
  // n1 still believes it leads term 2 (partitioned away); n2 leads term 3 without n1.
  std::vector<NodeReplicaReport> reports = {
      {"n1", r1, true, "", {leader_view(0, r1, 2, 50, {{r2, 50}, {r3, 50}})}},
      {"n2", r2, true, "", {leader_view(0, r2, 3, 60, {{r1, 50}, {r3, 60}})}},
  };
  std::vector<MemberReplica> members = {{"n1", r1, false}, {"n2", r2, true}, {"n3", r3, true}};
  PartitionTableView table = merge_partition_reports(reports, members, 1, 3);
  const PartitionRowView& row = table.rows[0];
  CHECK(row.leader == "n2");
  CHECK(row.term == 3);
  CHECK(row.lag == 10);
  CHECK(row.down == std::vector<std::string>{"n1"});
  CHECK(row.under_replicated);  // a voter is down
  CHECK(table.under_replicated == 1);
  // Two live members: two voters would be enough, but one of the three is down.
  CHECK(table.replicas_wanted == 2);
}

TEST_CASE("partition table: without a leader, the highest term's belief is shown unconfirmed",
          "[admin][partitions]") {
  std::vector<NodeReplicaReport> reports = {
      {"n2", r2, true, "", {follower_view(0, r2, 4, r1, {r1, r2, r3})}},
      {"n3", r3, true, "", {follower_view(0, r3, 5, 0, {r1, r2, r3})}},
  };
  PartitionTableView table = merge_partition_reports(reports, three_live(), 1, 3);
  const PartitionRowView& row = table.rows[0];
  CHECK(row.term == 5);
  CHECK(row.leader.empty());  // the term-5 replica knows no leader
  CHECK_FALSE(row.leader_confirmed);
  CHECK(row.lag == 0);
  CHECK(row.under_replicated);
  CHECK(table.leaderless == 1);

  reports[1].replicas[0] = follower_view(0, r3, 4, r1, {r1, r2, r3});
  table = merge_partition_reports(reports, three_live(), 1, 3);
  CHECK(table.rows[0].leader == "n1");
  CHECK_FALSE(table.rows[0].leader_confirmed);
  CHECK(table.leaderless == 0);
}

TEST_CASE("partition table: too few voters, unknown replicas, silent nodes, missing partitions",
          "[admin][partitions]") {
  ReplicaStatusView solo = leader_view(1, r1, 1, 10, {});
  ReplicaStatusView with_stranger = leader_view(0, r1, 2, 10, {{r4, 10}, {r2, 10}});
  ReplicaStatusView out_of_range = leader_view(7, r1, 1, 1, {});
  std::vector<NodeReplicaReport> reports = {
      {"n1", r1, true, "", {with_stranger, solo, out_of_range}},
      {"n3", r3, false, "no answer before the deadline", {}},
  };
  PartitionTableView table = merge_partition_reports(reports, three_live(), 3, 3);
  REQUIRE(table.rows.size() == 3);
  // r4 is no member this node knows: shown by id, and counted down.
  CHECK(table.rows[0].voters == std::vector<std::string>{"0000000000000044", "n1", "n2"});
  CHECK(table.rows[0].down == std::vector<std::string>{"0000000000000044"});
  CHECK(table.rows[0].under_replicated);
  // One voter where three are wanted.
  CHECK(table.rows[1].voters == std::vector<std::string>{"n1"});
  CHECK(table.rows[1].down.empty());
  CHECK(table.rows[1].under_replicated);
  // Nobody reported partition 2.
  CHECK_FALSE(table.rows[2].reported);
  CHECK(table.rows[2].under_replicated);
  CHECK(table.leaderless == 1);
  CHECK(table.under_replicated == 3);
  CHECK(table.nodes_asked == 2);
  CHECK(table.nodes_answered == 1);
  CHECK(table.nodes[0].replicas == 2);  // partition 7 is beyond the count and ignored
  CHECK_FALSE(table.nodes[1].answered);
  CHECK(replica_name(three_live(), r2) == "n2");
}

}  // namespace
}  // namespace qim::admin
