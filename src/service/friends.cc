#include "service/friends.h"

#include <algorithm>

#include "qim/ids.h"
#include "service/keys.h"
#include "service/push_frames.h"
#include "service/records.h"

namespace qim::service {
namespace {

Error internal(std::string message) {
  return Error{errc::internal, std::move(message)};
}

}  // namespace

Friends::Friends(store::Kv& kv, const core::Clock& clock, Reach& reach, const Options& options)
    : kv_(kv), clock_(clock), reach_(reach), options_(options) {}

Result<FriendState> Friends::state(std::string_view user, std::string_view other) {
  using R = Result<FriendState>;
  std::string value;
  Error error = kv_.get(store::Column::friends, keys::friend_of(user, other), value);
  if (error.code == errc::not_found) return R::success(FriendState::none);
  if (error) return R::failure(internal("reading the friendship failed: " + error.message));
  FriendRecord record;
  if (!decode(value, record)) return R::failure(internal("a friend record is corrupted"));
  return R::success(record.state);
}

Result<std::size_t> Friends::count_here(std::string_view user, std::size_t stop_at) {
  std::size_t found = 0;
  Error error = kv_.scan(store::Column::friends, keys::friends_prefix(user), {}, false,
                         [&](std::string_view, std::string_view) { return ++found < stop_at; });
  if (error) return Result<std::size_t>::failure(internal("counting friends failed"));
  return Result<std::size_t>::success(found);
}

Result<std::size_t> Friends::count(std::string_view user, std::size_t stop_at) {
  auto here = count_here(user, stop_at);
  if (!here.ok()) return here;
  auto elsewhere = reach_.tally_elsewhere(user);
  if (!elsewhere.ok()) return Result<std::size_t>::failure(std::move(elsewhere.error));
  return Result<std::size_t>::success(here.value + elsewhere.value.friends);
}

Error Friends::write_pair(std::string_view a, std::string_view b, FriendState a_state,
                          FriendState b_state) {
  std::uint64_t now_ms = static_cast<std::uint64_t>(clock_.wall_ms());
  store::WriteBatch batch;
  batch.put(store::Column::friends, keys::friend_of(a, b),
            encode(FriendRecord{a_state, now_ms, now_ms}));
  batch.put(store::Column::friends, keys::friend_of(b, a),
            encode(FriendRecord{b_state, now_ms, now_ms}));
  Error error = kv_.write(batch, options_.durability == Durability::fsync);
  if (error) return internal("storing the friendship failed: " + error.message);
  return {};
}

Error Friends::erase_pair(std::string_view a, std::string_view b) {
  store::WriteBatch batch;
  batch.erase(store::Column::friends, keys::friend_of(a, b));
  batch.erase(store::Column::friends, keys::friend_of(b, a));
  Error error = kv_.write(batch, options_.durability == Durability::fsync);
  if (error) return internal("removing the friendship failed: " + error.message);
  return {};
}

void Friends::push_event(std::string_view to, std::string_view about, FriendEventKind kind) {
  proto::FrameBuilder builder(128);
  reach_.push(to, encode_friend_event(builder, about, kind));
}

void Friends::push_presence(std::string_view to, std::string_view about, bool online) {
  proto::FrameBuilder builder(96);
  reach_.push(to, encode_presence(builder, about, online));
}

Error Friends::check_other(const Caller& caller, std::string_view other) {
  if (!is_valid_id(other)) {
    return Error{errc::invalid_argument, "user: must be 1-32 characters from [a-z0-9_.-]"};
  }
  if (other == caller.user) return Error{errc::invalid_argument, "user: that is you"};
  return {};
}

Error Friends::request(const Caller& caller, std::string_view other) {
  if (Error error = check_other(caller, other)) return error;
  if (Error error = reach_.exists(other)) {
    if (error.code == errc::not_found) error.message = "user: no such user";
    return error;
  }
  StripedMutex<1024>::PairLock lock(locks_, caller.user, other);
  auto current = state(caller.user, other);
  if (!current.ok()) return current.error;
  switch (current.value) {
    case FriendState::accepted:
      return Error{errc::already_exists, "user: already your friend"};
    case FriendState::pending_out:
      return Error{errc::already_exists, "user: request already sent"};
    case FriendState::pending_in:
      return accept_locked(caller, other);
    case FriendState::none:
      break;
  }
  for (std::string_view user : {caller.user, other}) {
    auto friends = count(user, options_.max_friends);
    if (!friends.ok()) return friends.error;
    if (friends.value >= options_.max_friends) {
      return Error{errc::limit_exceeded, user == caller.user
                                             ? "user: you have the maximum number of friends"
                                             : "user: they have the maximum number of friends"};
    }
  }
  if (Error error =
          write_pair(caller.user, other, FriendState::pending_out, FriendState::pending_in)) {
    return error;
  }
  push_event(other, caller.user, FriendEventKind::requested);
  return {};
}

Error Friends::accept(const Caller& caller, std::string_view other) {
  if (Error error = check_other(caller, other)) return error;
  StripedMutex<1024>::PairLock lock(locks_, caller.user, other);
  auto current = state(caller.user, other);
  if (!current.ok()) return current.error;
  if (current.value != FriendState::pending_in) {
    return Error{errc::not_found, "user: no pending request from this user"};
  }
  return accept_locked(caller, other);
}

Error Friends::accept_locked(const Caller& caller, std::string_view other) {
  if (Error error = write_pair(caller.user, other, FriendState::accepted, FriendState::accepted)) {
    return error;
  }
  push_event(other, caller.user, FriendEventKind::accepted);
  // Now friends: each learns whether the other is online.
  if (reach_.is_online(other)) push_presence(caller.user, other, true);
  if (reach_.is_online(caller.user)) push_presence(other, caller.user, true);
  return {};
}

Error Friends::decline(const Caller& caller, std::string_view other) {
  if (Error error = check_other(caller, other)) return error;
  StripedMutex<1024>::PairLock lock(locks_, caller.user, other);
  auto current = state(caller.user, other);
  if (!current.ok()) return current.error;
  if (current.value != FriendState::pending_in) {
    return Error{errc::not_found, "user: no pending request from this user"};
  }
  if (Error error = erase_pair(caller.user, other)) return error;
  push_event(other, caller.user, FriendEventKind::declined);
  return {};
}

Error Friends::remove(const Caller& caller, std::string_view other) {
  if (Error error = check_other(caller, other)) return error;
  StripedMutex<1024>::PairLock lock(locks_, caller.user, other);
  auto current = state(caller.user, other);
  if (!current.ok()) return current.error;
  if (current.value == FriendState::none) {
    return Error{errc::not_found, "user: not a friend and no pending request"};
  }
  if (Error error = erase_pair(caller.user, other)) return error;
  push_event(other, caller.user, FriendEventKind::removed);
  return {};
}

Result<std::vector<FriendEntry>> Friends::list_here(std::string_view user) {
  using R = Result<std::vector<FriendEntry>>;
  std::vector<FriendEntry> entries;
  std::string prefix = keys::friends_prefix(user);
  bool corrupt = false;
  // Bounded: max_friends records per user, with slack for concurrent requests.
  std::size_t cap = static_cast<std::size_t>(options_.max_friends) * 2 + 16;
  Error error = kv_.scan(
      store::Column::friends, prefix, {}, false, [&](std::string_view key, std::string_view bytes) {
        FriendRecord record;
        if (!decode(bytes, record)) {
          corrupt = true;
          return false;
        }
        entries.push_back(FriendEntry{std::string(keys::suffix(key, prefix)), record.state, false});
        return entries.size() < cap;
      });
  if (error) return R::failure(internal("reading friends failed: " + error.message));
  if (corrupt) return R::failure(internal("a friend record is corrupted"));
  return R::success(std::move(entries));
}

Result<std::vector<FriendEntry>> Friends::gather(std::string_view user) {
  auto entries = list_here(user);
  if (!entries.ok() || !reach_.cluster_placement()) return entries;
  for (UserParts& part : reach_.cluster()->user_parts_elsewhere(user, UserPart::friends)) {
    for (FriendEntry& entry : part.friends)
      entries.value.push_back(std::move(entry));
  }
  // A pair being handed between nodes may briefly be on both.
  auto by_user = [](const FriendEntry& a, const FriendEntry& b) { return a.user < b.user; };
  std::sort(entries.value.begin(), entries.value.end(), by_user);
  entries.value.erase(
      std::unique(entries.value.begin(), entries.value.end(),
                  [](const FriendEntry& a, const FriendEntry& b) { return a.user == b.user; }),
      entries.value.end());
  return entries;
}

Result<std::vector<FriendEntry>> Friends::list(const Caller& caller) {
  auto entries = gather(caller.user);
  if (!entries.ok()) return entries;
  std::vector<std::string> accepted;
  for (const FriendEntry& entry : entries.value) {
    if (entry.state == FriendState::accepted) accepted.push_back(entry.user);
  }
  std::vector<bool> online = reach_.online(accepted);
  std::size_t next = 0;
  for (FriendEntry& entry : entries.value) {
    if (entry.state == FriendState::accepted) entry.online = online[next++];
  }
  return entries;
}

void Friends::announce_presence(std::string_view user, bool online) {
  auto entries = gather(user);
  if (!entries.ok()) return;
  std::vector<std::string_view> friends;
  for (const FriendEntry& entry : entries.value) {
    if (entry.state == FriendState::accepted) friends.push_back(entry.user);
  }
  if (friends.empty()) return;
  proto::FrameBuilder builder(96);
  reach_.push_each(friends, encode_presence(builder, user, online), {}, 0);
}

}  // namespace qim::service
