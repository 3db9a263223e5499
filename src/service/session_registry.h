#pragma once
// Who is online: every attached connection, and the logged-in sessions of each user.
//
// Thread-safety: all methods may be called from any thread. State is sharded (by session id
// for connections, by user-id hash for users), one mutex per shard.
//
// Lifetime contract: a Connection* held here is valid until the session's on_close detaches
// it (under the shard mutex), so sending to it while holding the shard mutex is safe.
// Lock ordering: a shard mutex is a leaf: while holding one the registry takes no other lock
// and calls only Connection::send/close_after_flush, which never block and never call back.
// Callers may therefore hold their own locks (conversation stripes, user stripes) while
// pushing, but must not call into the registry from inside Connection methods.
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "service/types.h"
#include "session/connection.h"

namespace qim::service {

class SessionRegistry {
 public:
  static constexpr std::size_t shard_count = 64;
  // A user may have at most this many sessions; a newer one evicts the oldest (kicked).
  static constexpr std::size_t max_sessions_per_user = 32;

  // Registers a connection (logged in or not) and returns its non-zero session id.
  std::uint64_t attach(session::Connection& connection);
  // Forgets a connection. Idempotent.
  void detach(std::uint64_t session_id);

  // Adds a logged-in session of `user`. Another session of the same (user, device), or the
  // oldest one when the user is at max_sessions_per_user, is removed, sent `kick_frame` and
  // closed. Returns true when this is the user's first session (the user came online).
  bool add(std::string_view user, std::string_view device, std::uint64_t session_id,
           session::Connection& connection, std::span<const std::uint8_t> kick_frame);
  // Removes a logged-in session. Returns true when it was the user's last one (the user went
  // offline). Idempotent: false when the session was not there (e.g. already kicked).
  bool remove(std::string_view user, std::uint64_t session_id);
  // Removes, sends `kick_frame` to and closes every session of `user` but `except_session_id`.
  std::size_t kick_others(std::string_view user, std::uint64_t except_session_id,
                          std::span<const std::uint8_t> kick_frame);

  // Removes, sends `kick_frame` to and closes every session of `user` on `device`.
  std::size_t kick_device(std::string_view user, std::string_view device,
                          std::span<const std::uint8_t> kick_frame);
  // How many sessions `user` has on each device, sorted by device.
  std::vector<std::pair<std::string, std::uint32_t>> devices_of(std::string_view user) const;

  // Sends `frame` to every session of `user` but `except_session_id` (0: none excepted).
  // Returns how many sessions it was handed to.
  std::size_t push(std::string_view user, std::span<const std::uint8_t> frame,
                   std::uint64_t except_session_id = 0);

  bool is_online(std::string_view user) const;

  // Online users in id order, after `after`. REQUIRES: limit >= 1.
  OnlinePage online_page(std::string_view after, std::size_t limit) const;

  // Every online user, unordered. O(users online): for rare whole-node sweeps only.
  std::vector<std::string> online_users() const;

  // Sends `frame` to every attached connection and asks each to close.
  void close_all(std::span<const std::uint8_t> frame);

  std::uint64_t session_count() const { return sessions_.load(std::memory_order_relaxed); }
  std::uint64_t users_online() const { return users_online_.load(std::memory_order_relaxed); }

 private:
  struct UserSession {
    std::uint64_t session_id;
    std::string device;
    session::Connection* connection;
  };
  struct UserShard {
    mutable std::mutex mutex;
    // Ordered so the online page is a merge of per-shard ranges.
    std::map<std::string, std::vector<UserSession>, std::less<>> users;  // GUARDED_BY(mutex)
  };
  struct ConnectionShard {
    std::mutex mutex;
    std::unordered_map<std::uint64_t, session::Connection*> connections;  // GUARDED_BY(mutex)
  };

  UserShard& user_shard(std::string_view user);
  const UserShard& user_shard(std::string_view user) const;
  ConnectionShard& connection_shard(std::uint64_t session_id) {
    return connection_shards_[session_id % shard_count];
  }

  std::array<UserShard, shard_count> user_shards_;
  std::array<ConnectionShard, shard_count> connection_shards_;
  std::atomic<std::uint64_t> next_session_id_{1};
  std::atomic<std::uint64_t> sessions_{0};
  std::atomic<std::uint64_t> users_online_{0};
};

}  // namespace qim::service
