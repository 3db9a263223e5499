#include "replication/placement/layout.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace qim::replication {

std::string partition_ring_key(std::uint32_t partition) {
  return "partition/" + std::to_string(partition);
}

namespace {

bool eligible_member(const MemberView& member, const LayoutOptions& options, std::int64_t now_ms) {
  if (member.replica_id == 0 || member.draining) return false;
  switch (member.health) {
    case MemberHealth::alive:
    case MemberHealth::suspect:
      return true;
    case MemberHealth::dead:
      return now_ms - member.health_since_ms < options.replace_after_ms;
    case MemberHealth::left:
      return false;
  }
  return false;
}

// Moves leaderships from the members that lead the most to alive members that lead at least
// two fewer and hold a replica of the partition, until no such move is left. Each move lowers
// the sum of squared counts, so this ends. Deterministic: lowest counts, then partitions, first.
template <typename Alive>
void even_out_leaders(std::vector<std::vector<std::size_t>>& chosen_of,
                      std::vector<std::size_t>& leaderships, Alive alive) {
  for (;;) {
    std::vector<std::size_t> order;
    for (std::size_t member = 0; member < leaderships.size(); ++member) {
      if (alive(member)) order.push_back(member);
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return leaderships[a] < leaderships[b]; });
    bool moved = false;
    for (std::size_t under : order) {
      std::size_t best = chosen_of.size();
      for (std::size_t p = 0; p < chosen_of.size(); ++p) {
        const auto& chosen = chosen_of[p];
        if (chosen.empty() || chosen.front() == under) continue;
        if (std::find(chosen.begin(), chosen.end(), under) == chosen.end()) continue;
        if (leaderships[chosen.front()] < leaderships[under] + 2) continue;
        if (best == chosen_of.size() ||
            leaderships[chosen.front()] > leaderships[chosen_of[best].front()]) {
          best = p;
        }
      }
      if (best == chosen_of.size()) continue;
      auto& chosen = chosen_of[best];
      --leaderships[chosen.front()];
      ++leaderships[under];
      auto position = std::find(chosen.begin(), chosen.end(), under);
      std::rotate(chosen.begin(), position, position + 1);
      moved = true;
      break;
    }
    if (!moved) return;
  }
}

}  // namespace

Layout Layout::compute(const std::vector<MemberView>& members, const LayoutOptions& options,
                       std::int64_t now_ms) {
  Layout layout;
  layout.targets_.resize(options.partitions);
  std::vector<std::string> names;
  std::unordered_map<std::string, const MemberView*> by_name;
  for (const MemberView& member : members) {
    if (!eligible_member(member, options, now_ms)) continue;
    if (!by_name.emplace(member.name, &member).second) continue;  // a duplicate name: first wins
    names.push_back(member.name);
    layout.eligible_.push_back(member.replica_id);
  }
  std::sort(layout.eligible_.begin(), layout.eligible_.end());
  if (names.empty()) return layout;
  cluster::Ring ring(names, options.ring);
  const std::vector<std::string>& sorted = ring.members();
  std::size_t count = std::min<std::size_t>(options.replicas, sorted.size());

  // Bounded loads: each member holds at most ceil(fair share * (1 + slack)) replicas.
  double fair = static_cast<double>(options.partitions) * static_cast<double>(count) /
                static_cast<double>(sorted.size());
  auto cap = static_cast<std::size_t>(std::ceil(fair * (1.0 + options.load_slack)));
  cap = std::max<std::size_t>(cap, 1);
  std::vector<std::size_t> load(sorted.size(), 0);
  std::vector<std::size_t> leaderships(sorted.size(), 0);
  // Leaderships are shared among the alive members: at most a fair share each, rounded up.
  auto alive = [&](std::size_t member) {
    return by_name.at(sorted[member])->health == MemberHealth::alive;
  };
  std::size_t alive_members = 0;
  for (std::size_t member = 0; member < sorted.size(); ++member)
    alive_members += alive(member) ? 1 : 0;
  alive_members = std::max<std::size_t>(alive_members, 1);
  std::size_t leader_cap = (options.partitions + alive_members - 1) / alive_members;
  std::vector<std::size_t> walk;
  std::vector<std::vector<std::size_t>> chosen_of(options.partitions);
  for (std::uint32_t partition = 0; partition < options.partitions; ++partition) {
    // Every member in ring order from the partition's position: those under the cap first,
    // then (only if the caps leave too few) the others, still in ring order.
    ring.replicas(partition_ring_key(partition), sorted.size(), walk);
    std::vector<std::size_t> chosen;
    for (std::size_t member : walk) {
      if (chosen.size() == count) break;
      if (load[member] < cap) chosen.push_back(member);
    }
    for (std::size_t member : walk) {
      if (chosen.size() == count) break;
      if (std::find(chosen.begin(), chosen.end(), member) == chosen.end()) chosen.push_back(member);
    }
    // The preferred leader: the first alive chosen member (in ring order) still under the
    // leader cap; failing that, the chosen member with the fewest leaderships so far, alive
    // members first.
    auto leader = std::find_if(chosen.begin(), chosen.end(), [&](std::size_t member) {
      return alive(member) && leaderships[member] < leader_cap;
    });
    if (leader == chosen.end()) {
      auto rank = [&](std::size_t member) {
        return std::make_pair(alive(member) ? 0 : 1, leaderships[member]);
      };
      leader = std::min_element(chosen.begin(), chosen.end(),
                                [&](std::size_t a, std::size_t b) { return rank(a) < rank(b); });
    }
    std::rotate(chosen.begin(), leader, leader + 1);
    ++leaderships[chosen.front()];
    for (std::size_t member : chosen)
      ++load[member];
    chosen_of[partition] = std::move(chosen);
  }
  even_out_leaders(chosen_of, leaderships, alive);
  for (std::uint32_t partition = 0; partition < options.partitions; ++partition) {
    for (std::size_t member : chosen_of[partition])
      layout.targets_[partition].push_back(by_name.at(sorted[member])->replica_id);
  }
  return layout;
}

bool Layout::is_eligible(ReplicaId id) const {
  return std::binary_search(eligible_.begin(), eligible_.end(), id);
}

}  // namespace qim::replication
