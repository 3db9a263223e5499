#pragma once
// Reaching users wherever they are homed: pushes to their sessions, whether they exist, whether
// they are online, and how many friends and groups they have across the cluster. On a single
// node (or before the cluster is wired) it is the session registry and the accounts; in a
// cluster, users homed elsewhere are reached over the peer protocol, with pushes batched per
// home node.
//
// Thread-safety: every method may be called from any thread. Methods marked BLOCKING may wait
// for another node in a cluster: call them from the blocking pool only (the session layer runs
// such requests there when the node is clustered).
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "service/accounts.h"
#include "service/cluster_queries.h"
#include "service/placement_source.h"
#include "service/session_registry.h"

namespace qim::service {

// A bounded set of user ids known to have an account. Only an admin's `user delete` removes an
// account; it tells every live node to forget the user. Two generations: when the newer fills up,
// the older is dropped and the newer takes its place, so the users in use stay known. Thread-safe.
class KnownUsers {
 public:
  explicit KnownUsers(std::size_t per_generation = 64 * 1024) : per_generation_(per_generation) {}
  bool contains(std::string_view user);
  void add(std::string_view user);
  void remove(std::string_view user);
  std::size_t size() const;

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const {
      return std::hash<std::string_view>()(text);
    }
  };
  using Set = std::unordered_set<std::string, Hash, std::equal_to<>>;
  void add_locked(std::string_view user);

  const std::size_t per_generation_;
  mutable std::mutex mutex_;
  Set current_;   // GUARDED_BY(mutex_)
  Set previous_;  // GUARDED_BY(mutex_)
};

class Reach {
 public:
  Reach(SessionRegistry& registry, Accounts& accounts) : registry_(registry), accounts_(accounts) {}

  // REQUIRES: called once, before any session attaches; both outlive the service.
  void use_cluster(const PlacementSource& placement, ClusterQueries& cluster) {
    placement_ = &placement;
    cluster_ = &cluster;
  }
  ClusterQueries* cluster() const { return cluster_; }
  // The placement, when this node has others to talk to; nullptr when every key is local.
  std::shared_ptr<const route::Placement> cluster_placement() const;

  // Pushes `frame` to every session of `user`, except session `except_session` of
  // `except_user`. Returns the sessions it was handed to on this node.
  std::size_t push(std::string_view user, std::span<const std::uint8_t> frame,
                   std::string_view except_user = {}, std::uint64_t except_session = 0) {
    std::string_view one[] = {user};
    return push_each(std::span<const std::string_view>(one), frame, except_user, except_session);
  }

  // The same for every user of `items` (user_of(item) gives the id): users homed here are
  // pushed at once, the others in one batch per home node.
  template <class Range, class UserOf>
  std::size_t push_each(const Range& items, UserOf user_of, std::span<const std::uint8_t> frame,
                        std::string_view except_user, std::uint64_t except_session);
  std::size_t push_each(std::span<const std::string_view> users,
                        std::span<const std::uint8_t> frame, std::string_view except_user,
                        std::uint64_t except_session) {
    return push_each(
        users, [](std::string_view user) { return user; }, frame, except_user, except_session);
  }

  // ok when the account exists, not_found when it does not. BLOCKING (not when the account is
  // here, its home is down, or the cluster already knows the user: ClusterQueries::known_user).
  Error exists(std::string_view user);
  // What a group change checks about each of its new members, in order: whether the account
  // exists (`exists` as exists() answers it) and what every other live node holds of theirs
  // (`elsewhere`, summed as tally_elsewhere() sums it). One request per other node, whatever
  // the number of users. Fails as a whole when a live node does not answer. BLOCKING.
  struct UserCheck {
    Error exists;
    UserTally elsewhere;
  };
  Result<std::vector<UserCheck>> check_users(std::span<const std::string> users);
  // Sums over every other live node (this node's own part is the caller's to add);
  // Unavailable when one of them does not answer. BLOCKING.
  Result<UserTally> tally_elsewhere(std::string_view user);
  // The other live nodes' parts of user's `part` list (none without a cluster). Unavailable
  // unless they and `here`, the partitions this node read its own part from, cover every one
  // of `partition_count` (service/partition_coverage.h): a list is refused, never shown short.
  // BLOCKING.
  Result<std::vector<UserParts>> parts_elsewhere(std::string_view user, UserPart part,
                                                 std::span<const PartitionId> here,
                                                 std::uint32_t partition_count);
  // For each of `users`, whether it has a session at its home. BLOCKING.
  std::vector<bool> online(std::span<const std::string> users);
  bool is_online(std::string_view user) {
    std::string one[] = {std::string(user)};
    return online(one)[0];
  }

 private:
  std::size_t push_local(std::string_view user, std::span<const std::uint8_t> frame,
                         std::string_view except_user, std::uint64_t except_session) {
    return registry_.push(user, frame, user == except_user ? except_session : 0);
  }

  SessionRegistry& registry_;
  Accounts& accounts_;
  const PlacementSource* placement_ = nullptr;
  ClusterQueries* cluster_ = nullptr;
};

template <class Range, class UserOf>
std::size_t Reach::push_each(const Range& items, UserOf user_of,
                             std::span<const std::uint8_t> frame, std::string_view except_user,
                             std::uint64_t except_session) {
  std::size_t pushed = 0;
  auto placement = cluster_placement();
  if (!placement) {
    for (const auto& item : items)
      pushed += push_local(user_of(item), frame, except_user, except_session);
    return pushed;
  }
  std::map<std::string_view, PushTarget> outbox;  // by home node name
  for (const auto& item : items) {
    std::string_view user = user_of(item);
    const route::NodeInfo& home = placement->home_of(user);
    if (home.name == placement->self_name()) {
      pushed += push_local(user, frame, except_user, except_session);
    } else {
      // A down home gets it too: it is not sent there, but counted as lost for it, so that a
      // node that was only paused hears of the loss when it is back (ClusterPeers::push_to).
      outbox[home.name].users.emplace_back(user);
    }
  }
  for (auto& [node, target] : outbox) {
    target.except_user.assign(except_user);
    target.except_session = except_session;
    cluster_->push_to(std::string(node), frame, std::move(target));
  }
  return pushed;
}

}  // namespace qim::service
