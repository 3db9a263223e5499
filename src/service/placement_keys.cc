#include "service/placement_keys.h"

#include "qim/ids.h"
#include "service/keys.h"

namespace qim::service {
namespace {

// The first component of a composite key, or nullopt when `key` has no separator.
std::optional<std::string_view> first(std::string_view key) {
  auto at = key.find(keys::separator);
  if (at == std::string_view::npos || at == 0) return std::nullopt;
  return key.substr(0, at);
}

}  // namespace

std::optional<std::string> placement_key(store::Column column, std::string_view stored_key) {
  using store::Column;
  if (column == Column::meta || stored_key.size() <= keys::partition_prefix_bytes) {
    return std::nullopt;
  }
  std::string_view key = stored_key.substr(keys::partition_prefix_bytes);
  switch (column) {
    case Column::accounts:
      return std::string(key);
    case Column::cursors: {
      auto user = first(key);
      if (!user) return std::nullopt;
      return std::string(*user);
    }
    case Column::friends: {
      auto user = first(key);
      if (!user) return std::nullopt;
      std::string_view other = key.substr(user->size() + 1);
      if (other.empty() || other.find(keys::separator) != std::string_view::npos)
        return std::nullopt;
      return direct_conversation(*user, other);
    }
    case Column::convs: {
      auto user = first(key);
      if (!user) return std::nullopt;
      std::string_view conversation = key.substr(user->size() + 1);
      if (conversation.empty()) return std::nullopt;
      return std::string(conversation);
    }
    case Column::log:
    case Column::dedup: {
      auto conversation = first(key);
      if (!conversation) return std::nullopt;
      return std::string(*conversation);
    }
    case Column::groups:
      if (key.find(keys::separator) != std::string_view::npos) return std::nullopt;
      return group_conversation(key);
    case Column::members: {
      auto group = first(key);
      if (!group) return std::nullopt;
      return group_conversation(*group);
    }
    case Column::meta:
    case Column::raft_log:
    case Column::raft_state:
    case Column::staging:
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace qim::service
