#include "admin/partition_table.h"

#include <algorithm>
#include <map>

#include <fmt/core.h>

namespace qim::admin {
namespace {

const MemberReplica* find_member(const std::vector<MemberReplica>& members, std::uint64_t replica) {
  for (const MemberReplica& member : members) {
    if (member.replica_id == replica && replica != 0) return &member;
  }
  return nullptr;
}

// Whether `a` is a better view of its partition than `b`: a leader over a non-leader, then
// the higher term, then the longer log.
bool better(const ReplicaStatusView& a, const ReplicaStatusView& b) {
  bool a_leads = a.role == role_leader;
  bool b_leads = b.role == role_leader;
  if (a_leads != b_leads) return a_leads;
  if (a.term != b.term) return a.term > b.term;
  return a.last_index > b.last_index;
}

std::vector<std::string> names(const std::vector<MemberReplica>& members,
                               const std::vector<std::uint64_t>& replicas) {
  std::vector<std::string> result;
  result.reserve(replicas.size());
  for (std::uint64_t replica : replicas)
    result.push_back(replica_name(members, replica));
  std::sort(result.begin(), result.end());
  return result;
}

}  // namespace

std::string replica_name(const std::vector<MemberReplica>& members, std::uint64_t replica) {
  if (const MemberReplica* member = find_member(members, replica)) return member->name;
  return fmt::format("{:016x}", replica);
}

PartitionTableView merge_partition_reports(const std::vector<NodeReplicaReport>& reports,
                                           const std::vector<MemberReplica>& members,
                                           std::uint32_t partition_count, std::uint32_t replicas) {
  PartitionTableView table;
  table.partition_count = partition_count;
  std::uint32_t live = 0;
  for (const MemberReplica& member : members)
    live += member.live ? 1 : 0;
  table.replicas_wanted = std::min(replicas, std::max(live, 1u));

  struct Chosen {
    const ReplicaStatusView* view = nullptr;
    const std::string* node = nullptr;  // the node that reported it
  };
  std::vector<Chosen> best(partition_count);
  std::map<std::string, NodeShareView> shares;
  for (const NodeReplicaReport& report : reports) {
    NodeShareView& share = shares[report.node];
    share.node = report.node;
    share.answered = report.answered;
    ++table.nodes_asked;
    if (!report.answered) continue;
    ++table.nodes_answered;
    for (const ReplicaStatusView& status : report.replicas) {
      if (status.partition >= partition_count) continue;
      ++share.replicas;
      Chosen& chosen = best[status.partition];
      if (chosen.view == nullptr || better(status, *chosen.view)) chosen = {&status, &report.node};
    }
  }

  table.rows.reserve(partition_count);
  for (std::uint32_t partition = 0; partition < partition_count; ++partition) {
    PartitionRowView& row = table.rows.emplace_back();
    row.partition = partition;
    const ReplicaStatusView* view = best[partition].view;
    if (view == nullptr) {
      row.under_replicated = true;
      ++table.under_replicated;
      ++table.leaderless;
      continue;
    }
    row.reported = true;
    row.term = view->term;
    row.commit = view->commit;
    row.last_index = view->last_index;
    row.voters = names(members, view->voters);
    row.learners = names(members, view->learners);
    for (std::uint64_t voter : view->voters) {
      const MemberReplica* member = find_member(members, voter);
      if (member == nullptr || !member->live) row.down.push_back(replica_name(members, voter));
    }
    std::sort(row.down.begin(), row.down.end());
    row.leader_confirmed = view->role == role_leader;
    if (row.leader_confirmed) {
      row.leader = *best[partition].node;
    } else if (view->leader != 0) {
      row.leader = replica_name(members, view->leader);
    }
    if (row.leader_confirmed) {
      // The slowest voter; the leader's own log is its match.
      std::uint64_t slowest = view->last_index;
      for (std::uint64_t voter : view->voters) {
        if (voter == view->replica) continue;
        std::uint64_t match = 0;
        for (const FollowerView& follower : view->followers) {
          if (follower.replica == voter) match = follower.match;
        }
        slowest = std::min(slowest, match);
      }
      row.lag = view->last_index - slowest;
      shares[row.leader].node = row.leader;
      ++shares[row.leader].leaders;
    }
    if (row.leader.empty()) ++table.leaderless;
    row.under_replicated =
        row.voters.size() < table.replicas_wanted || !row.down.empty() || row.leader.empty();
    if (row.under_replicated) ++table.under_replicated;
  }
  for (auto& [name, share] : shares)
    table.nodes.push_back(std::move(share));
  return table;
}

}  // namespace qim::admin
