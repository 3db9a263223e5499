#include "service/reach.h"

#include <algorithm>
#include <unordered_map>

#include "service/partition_coverage.h"

namespace qim::service {

bool KnownUsers::contains(std::string_view user) {
  std::lock_guard lock(mutex_);
  if (current_.find(user) != current_.end()) return true;
  if (previous_.find(user) == previous_.end()) return false;
  add_locked(user);  // still in use: carried into the newer generation
  return true;
}

void KnownUsers::add(std::string_view user) {
  std::lock_guard lock(mutex_);
  if (current_.find(user) == current_.end()) add_locked(user);
}

void KnownUsers::remove(std::string_view user) {
  std::lock_guard lock(mutex_);
  if (auto it = current_.find(user); it != current_.end()) current_.erase(it);
  if (auto it = previous_.find(user); it != previous_.end()) previous_.erase(it);
}

std::size_t KnownUsers::size() const {
  std::lock_guard lock(mutex_);
  return current_.size() + previous_.size();
}

void KnownUsers::add_locked(std::string_view user) {
  if (current_.size() >= per_generation_) {
    previous_.swap(current_);
    current_.clear();
  }
  current_.emplace(user);
}

std::shared_ptr<const route::Placement> Reach::cluster_placement() const {
  if (placement_ == nullptr || cluster_ == nullptr) return nullptr;
  auto placement = placement_->placement();
  if (placement->members().size() <= 1 && placement->find(placement->self_name()) != nullptr)
    return nullptr;
  return placement;
}

namespace {

// The node taken for the user's home no longer leads the account's partition: the answer is
// not known yet, which is not "no such user".
Error moving(std::string_view user, const std::string& node) {
  return Error{errc::unavailable,
               "the home of " + std::string(user) + " is moving away from " + node + "; retry"};
}

}  // namespace

Error Reach::exists(std::string_view user) {
  auto placement = cluster_placement();
  if (!placement || placement->is_local(user)) return accounts_.exists(user);
  const route::NodeInfo& home = placement->home_of(user);
  if (!home.up) {
    return Error{errc::unavailable, "the home node of " + std::string(user) + " (" + home.name +
                                        ") is down; retry later"};
  }
  if (cluster_->known_user(user)) return {};
  auto tally = cluster_->user_tally(home.name, user);
  if (!tally.ok()) return tally.error;
  if (!tally.value.exists && tally.value.account_unreadable) return moving(user, home.name);
  if (!tally.value.exists) return Error{errc::not_found, "no such user"};
  return {};
}

Result<std::vector<Reach::UserCheck>> Reach::check_users(std::span<const std::string> users) {
  using R = Result<std::vector<UserCheck>>;
  std::vector<UserCheck> checks(users.size());
  auto placement = cluster_placement();
  if (!placement) {
    for (std::size_t i = 0; i < users.size(); ++i)
      checks[i].exists = accounts_.exists(users[i]);
    return R::success(std::move(checks));
  }
  // Every other live node is asked about every user at once; a user's home answers whether
  // the account exists.
  std::map<std::string, std::vector<UserTally>> answers;
  for (const route::NodeInfo& node : placement->members()) {
    // A down node's part is unknown; the limits it feeds are enforced with what is reachable.
    if (node.name == placement->self_name() || !node.up || users.empty()) continue;
    auto tallies = cluster_->user_tallies(node.name, users);
    if (!tallies.ok()) return R::failure(std::move(tallies.error));
    if (tallies.value.size() != users.size()) {
      return R::failure(errc::internal, "node " + node.name + " answered oddly");
    }
    for (std::size_t i = 0; i < users.size(); ++i) {
      const UserTally& tally = tallies.value[i];
      UserTally& sum = checks[i].elsewhere;
      sum.exists = sum.exists || tally.exists;
      sum.disabled = sum.disabled || tally.disabled;
      sum.friends += tally.friends;
      sum.groups += tally.groups;
    }
    answers.emplace(node.name, std::move(tallies.value));
  }
  for (std::size_t i = 0; i < users.size(); ++i) {
    const std::string& user = users[i];
    const route::NodeInfo& home = placement->home_of(user);
    if (home.name == placement->self_name()) {
      checks[i].exists = accounts_.exists(user);
    } else if (auto answer = answers.find(home.name); answer != answers.end()) {
      const UserTally& tally = answer->second[i];
      if (!tally.exists && tally.account_unreadable) {
        checks[i].exists = moving(user, home.name);
      } else if (!tally.exists) {
        checks[i].exists = Error{errc::not_found, "no such user"};
      }
    } else {
      checks[i].exists = Error{errc::unavailable, "the home node of " + user + " (" + home.name +
                                                      ") is down; retry later"};
    }
  }
  return R::success(std::move(checks));
}

Result<std::vector<UserParts>> Reach::parts_elsewhere(std::string_view user, UserPart part,
                                                      std::span<const PartitionId> here,
                                                      std::uint32_t partition_count) {
  using R = Result<std::vector<UserParts>>;
  PartitionCoverage coverage(partition_count);
  coverage.add(here);
  std::vector<UserParts> parts;
  if (cluster_placement() && !coverage.complete()) {
    parts = cluster_->user_parts_elsewhere(user, part, coverage);
  }
  for (const UserParts& other : parts)
    coverage.add(other.partitions);
  static constexpr std::string_view names[] = {"conversations", "friends", "groups"};
  if (Error error = coverage.check(names[static_cast<std::size_t>(part)], user)) {
    return R::failure(std::move(error));
  }
  return R::success(std::move(parts));
}

Result<UserTally> Reach::tally_elsewhere(std::string_view user) {
  UserTally sum;
  auto placement = cluster_placement();
  if (!placement) return Result<UserTally>::success(sum);
  for (const route::NodeInfo& node : placement->members()) {
    // A down node's part is unknown; the limits it feeds are enforced with what is reachable.
    if (node.name == placement->self_name() || !node.up) continue;
    auto tally = cluster_->user_tally(node.name, user);
    if (!tally.ok()) return tally;
    sum.exists = sum.exists || tally.value.exists;
    sum.disabled = sum.disabled || tally.value.disabled;
    sum.friends += tally.value.friends;
    sum.groups += tally.value.groups;
  }
  return Result<UserTally>::success(sum);
}

std::vector<bool> Reach::online(std::span<const std::string> users) {
  std::vector<bool> flags(users.size(), false);
  auto placement = cluster_placement();
  // Users homed elsewhere, grouped by home, with their positions in `users`.
  std::unordered_map<std::string, std::vector<std::size_t>> remote;
  for (std::size_t i = 0; i < users.size(); ++i) {
    if (!placement || placement->is_local(users[i])) {
      flags[i] = registry_.is_online(users[i]);
    } else if (const route::NodeInfo& home = placement->home_of(users[i]); home.up) {
      remote[home.name].push_back(i);
    }
  }
  for (auto& [node, positions] : remote) {
    std::vector<std::string> asked;
    asked.reserve(positions.size());
    for (std::size_t i : positions)
      asked.push_back(users[i]);
    auto answer = cluster_->online_among(node, asked);
    if (!answer.ok()) continue;  // unknown counts as offline
    std::sort(answer.value.begin(), answer.value.end());
    for (std::size_t i : positions) {
      flags[i] = std::binary_search(answer.value.begin(), answer.value.end(), users[i]);
    }
  }
  return flags;
}

}  // namespace qim::service
