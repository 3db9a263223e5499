#include "service/friends.h"

#include <algorithm>

#include "qim/ids.h"
#include "service/push_frames.h"
#include "service/records.h"

namespace qim::service {
namespace {

Error internal(std::string message) {
  return Error{errc::internal, std::move(message)};
}

}  // namespace

Friends::Friends(store::Kv& kv, const Keys& keys, Proposer& proposer, Events& events, Reach& reach,
                 const core::Clock& clock, const Options& options)
    : kv_(kv),
      keys_(keys),
      proposer_(proposer),
      events_(events),
      reach_(reach),
      clock_(clock),
      options_(options) {}

Result<FriendState> Friends::read_state(store::Kv& kv, const Keys& keys, std::string_view user,
                                        std::string_view other) {
  using R = Result<FriendState>;
  std::string value;
  Error error = kv.get(store::Column::friends, keys.friend_of(user, other), value);
  if (error.code == errc::not_found) return R::success(FriendState::none);
  if (error) return R::failure(internal("reading the friendship failed: " + error.message));
  FriendRecord record;
  if (!decode(value, record)) return R::failure(internal("a friend record is corrupted"));
  return R::success(record.state);
}

Result<FriendState> Friends::state(std::string_view user, std::string_view other) {
  if (Error error = require_readable(
          proposer_, keys_.partition_of(direct_conversation(user, other)), "this friendship")) {
    return Result<FriendState>::failure(std::move(error));
  }
  return read_state(kv_, keys_, user, other);
}

Result<std::size_t> Friends::count_here(std::string_view user, std::size_t stop_at) {
  std::size_t found = 0;
  for (PartitionId partition : proposer_.readable_partitions()) {
    if (found >= stop_at) break;
    Error error = kv_.scan(store::Column::friends, keys_.friends_prefix(partition, user), {}, false,
                           [&](std::string_view, std::string_view) { return ++found < stop_at; });
    if (error) return Result<std::size_t>::failure(internal("counting friends failed"));
  }
  return Result<std::size_t>::success(found);
}

Result<std::size_t> Friends::count(std::string_view user, std::size_t stop_at) {
  auto here = count_here(user, stop_at);
  if (!here.ok()) return here;
  auto elsewhere = reach_.tally_elsewhere(user);
  if (!elsewhere.ok()) return Result<std::size_t>::failure(std::move(elsewhere.error));
  return Result<std::size_t>::success(here.value + elsewhere.value.friends);
}

Error Friends::check_other(const Caller& caller, std::string_view other) {
  if (!is_valid_id(other)) {
    return Error{errc::invalid_argument, "user: must be 1-32 characters from [a-z0-9_.-]"};
  }
  if (other == caller.user) return Error{errc::invalid_argument, "user: that is you"};
  return {};
}

void Friends::propose_change(CommandKind kind, const Caller& caller, std::string_view other,
                             Done done) {
  Command command;
  command.kind = kind;
  command.time_ms = static_cast<std::uint64_t>(clock_.wall_ms());
  command.user = caller.user;
  command.device = caller.device;
  command.session_id = caller.session_id;
  command.other = other;
  propose(proposer_, keys_.partition_of(direct_conversation(caller.user, other)), command,
          std::move(done));
}

void Friends::request(const Caller& caller, std::string_view other, Done done) {
  if (Error error = check_other(caller, other)) return done(std::move(error));
  if (Error error = reach_.exists(other)) {
    if (error.code == errc::not_found) error.message = "user: no such user";
    return done(std::move(error));
  }
  auto current = state(caller.user, other);
  if (!current.ok()) return done(std::move(current.error));
  // The friend counts live in other partitions: checked here, before proposing, as advisory
  // limits. A request answered by accepting adds no record, so it is not counted.
  if (current.value == FriendState::none) {
    for (std::string_view user : {caller.user, other}) {
      auto friends = count(user, options_.max_friends);
      if (!friends.ok()) return done(std::move(friends.error));
      if (friends.value >= options_.max_friends) {
        return done(Error{errc::limit_exceeded,
                          user == caller.user ? "user: you have the maximum number of friends"
                                              : "user: they have the maximum number of friends"});
      }
    }
  }
  propose_change(CommandKind::friend_request, caller, other, std::move(done));
}

void Friends::accept(const Caller& caller, std::string_view other, Done done) {
  if (Error error = check_other(caller, other)) return done(std::move(error));
  propose_change(CommandKind::friend_accept, caller, other, std::move(done));
}

void Friends::decline(const Caller& caller, std::string_view other, Done done) {
  if (Error error = check_other(caller, other)) return done(std::move(error));
  propose_change(CommandKind::friend_decline, caller, other, std::move(done));
}

void Friends::remove(const Caller& caller, std::string_view other, Done done) {
  if (Error error = check_other(caller, other)) return done(std::move(error));
  propose_change(CommandKind::friend_remove, caller, other, std::move(done));
}

void Friends::write_pair(const ApplyContext& context, FriendState user_state,
                         FriendState other_state) {
  const Command& command = context.command;
  std::uint64_t now_ms = command.time_ms;
  context.batch.put(store::Column::friends, keys_.friend_of(command.user, command.other),
                    encode(FriendRecord{user_state, now_ms, now_ms}));
  context.batch.put(store::Column::friends, keys_.friend_of(command.other, command.user),
                    encode(FriendRecord{other_state, now_ms, now_ms}));
}

void Friends::erase_pair(const ApplyContext& context) {
  const Command& command = context.command;
  context.batch.erase(store::Column::friends, keys_.friend_of(command.user, command.other));
  context.batch.erase(store::Column::friends, keys_.friend_of(command.other, command.user));
}

void Friends::push_event(const ApplyContext& context, FriendEventKind kind) {
  if (!context.leader) return;
  proto::FrameBuilder builder(128);
  std::string_view to[] = {context.command.other};
  events_.push(context.partition, std::span<const std::string_view>(to),
               encode_friend_event(builder, context.command.user, kind), {}, 0);
}

Error Friends::apply(const ApplyContext& context) {
  const Command& command = context.command;
  if (keys_.partition_of(direct_conversation(command.user, command.other)) != context.partition) {
    return Error{errc::malformed, "command: the friendship is not in this partition"};
  }
  auto current = read_state(kv_, keys_, command.user, command.other);
  if (!current.ok()) return current.error;
  switch (command.kind) {
    case CommandKind::friend_request:
      switch (current.value) {
        case FriendState::accepted:
          return Error{errc::already_exists, "user: already your friend"};
        case FriendState::pending_out:
          return Error{errc::already_exists, "user: request already sent"};
        case FriendState::pending_in:
          return apply_accept(context);
        case FriendState::none:
          break;
      }
      write_pair(context, FriendState::pending_out, FriendState::pending_in);
      push_event(context, FriendEventKind::requested);
      return {};
    case CommandKind::friend_accept:
      if (current.value != FriendState::pending_in) {
        return Error{errc::not_found, "user: no pending request from this user"};
      }
      return apply_accept(context);
    case CommandKind::friend_decline:
      if (current.value != FriendState::pending_in) {
        return Error{errc::not_found, "user: no pending request from this user"};
      }
      erase_pair(context);
      push_event(context, FriendEventKind::declined);
      return {};
    case CommandKind::friend_remove:
      if (current.value == FriendState::none) {
        return Error{errc::not_found, "user: not a friend and no pending request"};
      }
      erase_pair(context);
      push_event(context, FriendEventKind::removed);
      return {};
    default:
      return Error{errc::malformed, "command: not a friend command"};
  }
}

Error Friends::apply_accept(const ApplyContext& context) {
  write_pair(context, FriendState::accepted, FriendState::accepted);
  push_event(context, FriendEventKind::accepted);
  if (!context.leader) return {};
  // Now friends: each learns whether the other is online (presence is not replicated state,
  // only what the leader pushes).
  const Command& command = context.command;
  if (reach_.cluster_placement() != nullptr) {
    // Whether a user homed elsewhere is online is a question to another node: never asked
    // while a partition's commands are being applied (it would hold up the partition), but
    // right after, one at a time off the I/O threads, like every presence announcement.
    reach_.cluster()->run_serially(
        [this, user = std::string(command.user), other = std::string(command.other)] {
          proto::FrameBuilder frames(96);
          if (reach_.is_online(other)) reach_.push(user, encode_presence(frames, other, true));
          if (reach_.is_online(user)) reach_.push(other, encode_presence(frames, user, true));
        });
    return {};
  }
  proto::FrameBuilder builder(96);
  if (reach_.is_online(command.other)) {
    std::string_view to[] = {command.user};
    events_.push(context.partition, std::span<const std::string_view>(to),
                 encode_presence(builder, command.other, true), {}, 0);
  }
  if (reach_.is_online(command.user)) {
    std::string_view to[] = {command.other};
    events_.push(context.partition, std::span<const std::string_view>(to),
                 encode_presence(builder, command.user, true), {}, 0);
  }
  return {};
}

Result<std::vector<FriendEntry>> Friends::list_here(std::string_view user,
                                                    std::span<const PartitionId> partitions) {
  using R = Result<std::vector<FriendEntry>>;
  std::vector<FriendEntry> entries;
  bool corrupt = false;
  // Bounded: max_friends records per user, with slack for concurrent requests.
  std::size_t cap = static_cast<std::size_t>(options_.max_friends) * 2 + 16;
  for (PartitionId partition : partitions) {
    if (entries.size() >= cap) break;
    std::string prefix = keys_.friends_prefix(partition, user);
    Error error = kv_.scan(store::Column::friends, prefix, {}, false,
                           [&](std::string_view key, std::string_view bytes) {
                             FriendRecord record;
                             if (!decode(bytes, record)) {
                               corrupt = true;
                               return false;
                             }
                             entries.push_back(FriendEntry{std::string(keys::suffix(key, prefix)),
                                                           record.state, false});
                             return entries.size() < cap;
                           });
    if (error) return R::failure(internal("reading friends failed: " + error.message));
    if (corrupt) return R::failure(internal("a friend record is corrupted"));
  }
  std::sort(entries.begin(), entries.end(),
            [](const FriendEntry& a, const FriendEntry& b) { return a.user < b.user; });
  return R::success(std::move(entries));
}

Result<std::vector<FriendEntry>> Friends::gather(std::string_view user) {
  std::vector<PartitionId> here = proposer_.readable_partitions();
  auto entries = list_here(user, here);
  if (!entries.ok()) return entries;
  auto parts = reach_.parts_elsewhere(user, UserPart::friends, here, keys_.partitions().count());
  if (!parts.ok()) return Result<std::vector<FriendEntry>>::failure(std::move(parts.error));
  for (UserParts& part : parts.value) {
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
