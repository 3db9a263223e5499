// ImService's administrative operations (qimctl user show/list/kick/delete, group list): each
// reads or proposes like a client request would, at the home of its key.
#include <algorithm>
#include <map>

#include "proto/frame.h"
#include "service/im_service.h"
#include "service/records.h"

namespace qim::service {

Result<UserSummary> ImService::describe_user(std::string_view user) {
  using R = Result<UserSummary>;
  if (Error error = require_readable(proposer_, keys_.partition_of(user), "this user")) {
    return R::failure(std::move(error));
  }
  AccountRecord account;
  if (Error error = accounts_.read(user, account)) return R::failure(std::move(error));
  UserSummary summary;
  summary.created_ms = account.created_ms;
  summary.disabled = account.disabled;
  std::map<std::string, DeviceSummary, std::less<>> devices;
  for (const TokenEntry& token : account.tokens) {
    DeviceSummary& device = devices[token.device];
    device.device = token.device;
    device.token_created_ms = token.created_ms;
    device.token_last_used_ms = token.last_used_ms;
  }
  for (const auto& [name, sessions] : registry_.devices_of(user)) {
    DeviceSummary& device = devices[name];
    device.device = name;
    device.sessions = sessions;
    summary.sessions += sessions;
  }
  for (auto& [name, device] : devices)
    summary.devices.push_back(std::move(device));
  Caller caller{user, {}, 0};
  auto friends = friends_.list(caller);
  if (!friends.ok()) return R::failure(std::move(friends.error));
  summary.friends = static_cast<std::uint32_t>(friends.value.size());
  auto groups = groups_.my_groups(caller);
  if (!groups.ok()) return R::failure(std::move(groups.error));
  for (const GroupInfo& group : groups.value)
    summary.groups.push_back(group.group);
  std::sort(summary.groups.begin(), summary.groups.end());
  return R::success(std::move(summary));
}

NamePage ImService::names_here(NameKind kind, std::string_view prefix, std::string_view after,
                               std::uint32_t limit) const {
  NamePage page;
  store::Column column = kind == NameKind::users ? store::Column::accounts : store::Column::groups;
  for (PartitionId partition : proposer_.readable_partitions()) {
    std::string key_prefix = keys::partition_prefix(partition);
    key_prefix.append(prefix);
    // Resume just past `after` (the smallest key greater than it) when it is inside the range.
    std::string start;
    if (!after.empty() && after >= prefix) {
      start = keys::partition_prefix(partition);
      start.append(after);
      start.push_back('\0');
    }
    std::size_t found = 0;
    Error error =
        kv_.scan(column, key_prefix, start, false, [&](std::string_view key, std::string_view) {
          page.names.emplace_back(key.substr(keys::partition_prefix_bytes));
          return ++found < limit;
        });
    if (error) {
      logger_.warn("admin", "listing partition {} failed: {}", partition, error.message);
      continue;
    }
    page.partitions.push_back(partition);
  }
  std::sort(page.names.begin(), page.names.end());
  if (page.names.size() > limit) page.names.resize(limit);
  return page;
}

void ImService::kick_device(std::string_view user, std::string_view device, Done done) {
  if (Error error = require_readable(proposer_, keys_.partition_of(user), "this user")) {
    return done(std::move(error));
  }
  AccountRecord account;
  if (Error error = accounts_.read(user, account)) return done(std::move(error));
  auto kick_sessions = [this, user = std::string(user), device = std::string(device)] {
    auto frame = proto::make_error_frame(0, errc::kicked, "this device was logged out");
    std::lock_guard lock(presence_locks_.mutex_for(user));
    std::size_t kicked = registry_.kick_device(user, device, frame);
    if (kicked > 0 && !registry_.is_online(user)) announce(user, false);
    return kicked;
  };
  auto token = std::find_if(account.tokens.begin(), account.tokens.end(),
                            [&](const TokenEntry& entry) { return entry.device == device; });
  if (token == account.tokens.end()) {
    if (kick_sessions() == 0) {
      return done(Error{errc::not_found, "device: the user has no token or session on it"});
    }
    return done({});
  }
  auth::TokenDigest digest = token->digest;
  accounts_.revoke_token(user, digest, [kick_sessions, done = std::move(done)](Error error) {
    if (!error) kick_sessions();
    done(std::move(error));
  });
}

std::vector<PartitionId> ImService::purge_targets(std::string_view user,
                                                  std::span<const PartitionId> partitions) const {
  std::vector<PartitionId> targets;
  PartitionId own = keys_.partition_of(user);
  for (PartitionId partition : partitions) {
    if (partition != own && purge_.has_records(partition, user)) targets.push_back(partition);
  }
  return targets;
}

void ImService::purge_user(std::string_view user, PartitionId partition, Done done) {
  Command command;
  command.kind = CommandKind::purge_user;
  command.time_ms = static_cast<std::uint64_t>(clock_.wall_ms());
  command.user = user;
  if (partition != keys_.partition_of(user)) {
    return propose(proposer_, partition, command, std::move(done));
  }
  propose(proposer_, partition, command,
          [this, user = std::string(user), done = std::move(done)](Error error) {
            if (!error) kick(user, "the account was deleted");
            done(std::move(error));
          });
}

}  // namespace qim::service
