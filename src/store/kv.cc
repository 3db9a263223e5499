#include "store/kv.h"

namespace qim::store {

const char* column_name(Column column) noexcept {
  switch (column) {
    case Column::accounts:
      return "accounts";
    case Column::friends:
      return "friends";
    case Column::convs:
      return "convs";
    case Column::cursors:
      return "cursors";
    case Column::groups:
      return "groups";
    case Column::members:
      return "members";
    case Column::log:
      return "log";
    case Column::dedup:
      return "dedup";
    case Column::meta:
      return "meta";
    case Column::raft_log:
      return "raft_log";
    case Column::raft_state:
      return "raft_state";
    case Column::staging:
      return "staging";
  }
  return "unknown";
}

}  // namespace qim::store
