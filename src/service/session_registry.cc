#include "service/session_registry.h"

#include <algorithm>
#include <functional>

namespace qim::service {

SessionRegistry::UserShard& SessionRegistry::user_shard(std::string_view user) {
  return user_shards_[std::hash<std::string_view>{}(user) % shard_count];
}

const SessionRegistry::UserShard& SessionRegistry::user_shard(std::string_view user) const {
  return user_shards_[std::hash<std::string_view>{}(user) % shard_count];
}

std::uint64_t SessionRegistry::attach(session::Connection& connection) {
  std::uint64_t id = next_session_id_.fetch_add(1, std::memory_order_relaxed);
  ConnectionShard& shard = connection_shard(id);
  std::lock_guard lock(shard.mutex);
  shard.connections.emplace(id, &connection);
  sessions_.fetch_add(1, std::memory_order_relaxed);
  return id;
}

void SessionRegistry::detach(std::uint64_t session_id) {
  ConnectionShard& shard = connection_shard(session_id);
  std::lock_guard lock(shard.mutex);
  if (shard.connections.erase(session_id) > 0) sessions_.fetch_sub(1, std::memory_order_relaxed);
}

bool SessionRegistry::add(std::string_view user, std::string_view device, std::uint64_t session_id,
                          session::Connection& connection,
                          std::span<const std::uint8_t> kick_frame) {
  UserShard& shard = user_shard(user);
  std::lock_guard lock(shard.mutex);
  auto it = shard.users.find(user);
  bool came_online = it == shard.users.end();
  if (came_online) {
    it = shard.users.emplace(std::string(user), std::vector<UserSession>{}).first;
    users_online_.fetch_add(1, std::memory_order_relaxed);
  }
  std::vector<UserSession>& sessions = it->second;
  auto kick = [&](std::vector<UserSession>::iterator victim) {
    victim->connection->send(kick_frame);
    victim->connection->close_after_flush();
    sessions.erase(victim);
  };
  auto same_device = std::find_if(sessions.begin(), sessions.end(),
                                  [&](const UserSession& s) { return s.device == device; });
  if (same_device != sessions.end()) kick(same_device);
  // Sessions are appended, so the front is the oldest.
  if (sessions.size() >= max_sessions_per_user) kick(sessions.begin());
  sessions.push_back(UserSession{session_id, std::string(device), &connection});
  return came_online;
}

bool SessionRegistry::remove(std::string_view user, std::uint64_t session_id) {
  UserShard& shard = user_shard(user);
  std::lock_guard lock(shard.mutex);
  auto it = shard.users.find(user);
  if (it == shard.users.end()) return false;
  std::vector<UserSession>& sessions = it->second;
  auto found = std::find_if(sessions.begin(), sessions.end(),
                            [&](const UserSession& s) { return s.session_id == session_id; });
  if (found == sessions.end()) return false;
  sessions.erase(found);
  if (!sessions.empty()) return false;
  shard.users.erase(it);
  users_online_.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

std::size_t SessionRegistry::kick_others(std::string_view user, std::uint64_t except_session_id,
                                         std::span<const std::uint8_t> kick_frame) {
  UserShard& shard = user_shard(user);
  std::lock_guard lock(shard.mutex);
  auto it = shard.users.find(user);
  if (it == shard.users.end()) return 0;
  std::vector<UserSession>& sessions = it->second;
  std::size_t kicked = 0;
  std::erase_if(sessions, [&](const UserSession& s) {
    if (s.session_id == except_session_id) return false;
    s.connection->send(kick_frame);
    s.connection->close_after_flush();
    ++kicked;
    return true;
  });
  if (sessions.empty()) {
    shard.users.erase(it);
    users_online_.fetch_sub(1, std::memory_order_relaxed);
  }
  return kicked;
}

std::size_t SessionRegistry::kick_device(std::string_view user, std::string_view device,
                                         std::span<const std::uint8_t> kick_frame) {
  UserShard& shard = user_shard(user);
  std::lock_guard lock(shard.mutex);
  auto it = shard.users.find(user);
  if (it == shard.users.end()) return 0;
  std::vector<UserSession>& sessions = it->second;
  std::size_t kicked = 0;
  std::erase_if(sessions, [&](const UserSession& s) {
    if (s.device != device) return false;
    s.connection->send(kick_frame);
    s.connection->close_after_flush();
    ++kicked;
    return true;
  });
  if (sessions.empty()) {
    shard.users.erase(it);
    users_online_.fetch_sub(1, std::memory_order_relaxed);
  }
  return kicked;
}

std::vector<std::pair<std::string, std::uint32_t>> SessionRegistry::devices_of(
    std::string_view user) const {
  std::map<std::string, std::uint32_t, std::less<>> counts;
  {
    const UserShard& shard = user_shard(user);
    std::lock_guard lock(shard.mutex);
    auto it = shard.users.find(user);
    if (it != shard.users.end()) {
      for (const UserSession& session : it->second)
        ++counts[session.device];
    }
  }
  return {counts.begin(), counts.end()};
}

std::size_t SessionRegistry::push(std::string_view user, std::span<const std::uint8_t> frame,
                                  std::uint64_t except_session_id) {
  UserShard& shard = user_shard(user);
  std::lock_guard lock(shard.mutex);
  auto it = shard.users.find(user);
  if (it == shard.users.end()) return 0;
  std::size_t sent = 0;
  for (const UserSession& s : it->second) {
    if (s.session_id == except_session_id) continue;
    // A full queue makes the shell close that connection; the client resyncs by seq.
    s.connection->send(frame);
    ++sent;
  }
  return sent;
}

bool SessionRegistry::is_online(std::string_view user) const {
  const UserShard& shard = user_shard(user);
  std::lock_guard lock(shard.mutex);
  return shard.users.find(user) != shard.users.end();
}

OnlinePage SessionRegistry::online_page(std::string_view after, std::size_t limit) const {
  OnlinePage page;
  std::vector<std::string> candidates;
  // Each shard contributes at most limit + 1 names, so the page costs O(shards * limit)
  // whatever the number of users online.
  for (const UserShard& shard : user_shards_) {
    std::lock_guard lock(shard.mutex);
    auto it = after.empty() ? shard.users.begin() : shard.users.upper_bound(after);
    for (std::size_t taken = 0; it != shard.users.end() && taken <= limit; ++it, ++taken) {
      candidates.push_back(it->first);
    }
  }
  std::sort(candidates.begin(), candidates.end());
  page.more = candidates.size() > limit;
  if (page.more) candidates.resize(limit);
  page.users = std::move(candidates);
  page.total = users_online();
  return page;
}

std::vector<std::string> SessionRegistry::online_users() const {
  std::vector<std::string> users;
  users.reserve(users_online());
  for (const UserShard& shard : user_shards_) {
    std::lock_guard lock(shard.mutex);
    for (const auto& [user, sessions] : shard.users)
      users.push_back(user);
  }
  return users;
}

void SessionRegistry::close_all(std::span<const std::uint8_t> frame) {
  for (ConnectionShard& shard : connection_shards_) {
    std::lock_guard lock(shard.mutex);
    for (auto& [id, connection] : shard.connections) {
      connection->send(frame);
      connection->close_after_flush();
    }
  }
}

}  // namespace qim::service
