#pragma once
// What the service asks of the other nodes. The node implements this over peer links
// (node/cluster_peers.h); without one (a single node, unit tests) every key is local and none
// of it is called.
//
// BLOCKING methods wait for the answer (bounded by the node's query timeout): call them only
// from the blocking pool, never from an I/O thread or the peer links' executor.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "route/partitions.h"
#include "service/partition_coverage.h"
#include "service/types.h"

namespace qim::service {

// What one node holds about a user whose records are spread over the cluster.
struct UserTally {
  bool exists = false;  // the account is there (only the user's home has it)
  bool disabled = false;
  std::uint32_t friends = 0;  // friend records (pending or accepted) held there
  std::uint32_t groups = 0;   // group memberships held there
  // The node may not read the account's partition now (its leadership moved): `exists` is
  // unknown, not false.
  bool account_unreadable = false;
};

enum class UserPart : std::uint8_t { conversations = 0, friends = 1, groups = 2 };

// One node's part of a user's conversation, friend or group list.
struct UserParts {
  std::vector<ConversationState> conversations;  // read_seq 0: cursors live at the user's home
  std::vector<FriendEntry> friends;              // online false: presence lives at homes
  std::vector<GroupInfo> groups;
  std::vector<route::PartitionId> partitions;  // what the part was read from (led there)
};

// Where a push goes at the users' home: every session of each user, except one session of
// `except_user` (the sender's own session, which got the reply instead).
struct PushTarget {
  std::vector<std::string> users;
  std::string except_user;
  std::uint64_t except_session = 0;
  // Sent on once by a node that was no longer the users' home; never sent on again.
  bool forwarded = false;
};

class ClusterQueries {
 public:
  virtual ~ClusterQueries() = default;
  // The pages of online users after `after` (at most `limit` each) of every other live node.
  // Nodes that do not answer in time are left out. `done` is called exactly once, from any
  // thread. Thread-safe.
  virtual void online_elsewhere(std::string after, std::uint32_t limit,
                                std::function<void(std::vector<OnlinePage>)> done) = 0;

  // Runs `request` (a verified client Envelope) at `node` as `caller`; `done` gets the client
  // frame to relay, or the failure (Unavailable when the node cannot be reached in time).
  // Requests forwarded from one session to one node run there in the order they were sent.
  // `done` is called exactly once, from any thread.
  virtual void forward(const std::string& node, const Caller& caller,
                       std::span<const std::uint8_t> request,
                       std::function<void(Result<std::vector<std::uint8_t>>)> done) = 0;

  // One-way: pushes `frame` (a whole client frame) to `target`'s sessions at `node`, their
  // home. Pushes to one node arrive in the order they were made. Never blocks; a push that
  // cannot be queued is dropped (the users' clients resync by seq).
  virtual void push_to(const std::string& node, std::span<const std::uint8_t> frame,
                       PushTarget target) = 0;

  // Runs `work` on the blocking pool, one at a time in submission order (presence
  // announcements, which gather a user's friends from every node).
  virtual void run_serially(std::function<void()> work) = 0;

  // BLOCKING: what `node` holds about `user`.
  virtual Result<UserTally> user_tally(const std::string& node, std::string_view user) = 0;
  // BLOCKING: the same for each of `users`, in order, asked in one request.
  virtual Result<std::vector<UserTally>> user_tallies(const std::string& node,
                                                      std::span<const std::string> users) {
    std::vector<UserTally> tallies;
    tallies.reserve(users.size());
    for (const std::string& user : users) {
      auto tally = user_tally(node, user);
      if (!tally.ok()) return Result<std::vector<UserTally>>::failure(std::move(tally.error));
      tallies.push_back(tally.value);
    }
    return Result<std::vector<UserTally>>::success(std::move(tallies));
  }
  // Whether `user` is known to have an account (some node said so, or they sent a request
  // through another node). A yes stays true until forget_user (an admin deleted the account);
  // no means "not known", not "does not exist". Never blocks.
  virtual bool known_user(std::string_view /*user*/) { return false; }
  virtual void forget_user(std::string_view /*user*/) {}
  // BLOCKING: the parts of `user`'s list that other live nodes hold, asked of all at once.
  // Returns as soon as the parts and `covered` (what the caller read itself) cover every
  // partition, without waiting for the slower nodes (a paused one answers nothing until its
  // timeout), or once every node answered or timed out. A node that does not answer is left out
  // (and logged); the caller checks that the parts cover every partition
  // (service/partition_coverage.h) and refuses a list that does not.
  virtual std::vector<UserParts> user_parts_elsewhere(std::string_view user, UserPart part,
                                                      const PartitionCoverage& covered) = 0;
  // BLOCKING: which of `users` (homed at `node`) have a session there.
  virtual Result<std::vector<std::string>> online_among(const std::string& node,
                                                        std::vector<std::string> users) = 0;
  // BLOCKING: the head of `conversation` and the first seq `user` may read there.
  virtual Result<ConversationState> conversation_head(const std::string& node,
                                                      std::string_view user,
                                                      std::string_view conversation) = 0;
};

// One cluster-wide page from per-node pages: the first `limit` distinct users (a user moving
// between nodes may briefly be on two), `more` when any node has more, and the total summed.
OnlinePage merge_online_pages(std::span<const OnlinePage> pages, std::uint32_t limit);

// One cluster-wide page of ids from per-node pages (each at most `limit` ids, sorted): the
// first `limit` distinct ids, and every partition any page was read from (sorted, distinct).
// `more`: some node may have ids past the page's last.
NamePage merge_name_pages(std::span<const NamePage> pages, std::uint32_t limit, bool& more);

}  // namespace qim::service
