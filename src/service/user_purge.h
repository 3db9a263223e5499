#pragma once
// Deleting a user (qimctl user delete), the state machine's part: the purge_user command
// removes, in the partition it is applied to, every record of its user. A user's records are
// spread over many partitions (each friendship with its pair, each membership with its group),
// so deletion is one purge per partition that holds some, proposed by that partition's leader;
// the user's own partition (the account, the cursors) goes last (node/local_admin.h).
//
// What a purge removes is decided at apply from the partition's applied state, so every
// replica removes the same records and a second purge of the same user removes nothing.
// Messages stay in their conversations' logs (the other side's history), until retention; a
// direct conversation whose other user was deleted before loses its log with the last
// membership (Conversations::drop_direct).
//
// Thread-safety: apply() only on the partition's apply thread; has_records() anywhere.
#include <string_view>

#include "service/apply_context.h"
#include "service/conversations.h"
#include "service/events.h"
#include "service/keys.h"
#include "service/partition_caches.h"
#include "store/kv.h"

namespace qim::service {

class UserPurge {
 public:
  UserPurge(store::Kv& kv, const Keys& keys, PartitionCaches& caches, Events& events,
            Conversations& conversations)
      : kv_(kv), keys_(keys), caches_(caches), events_(events), conversations_(conversations) {}

  // Whether `partition` holds friend or conversation records of `user` (or, being the user's
  // own partition, anything at all of theirs); a store failure counts as yes.
  bool has_records(PartitionId partition, std::string_view user) const;

  // Applies purge_user.
  Error apply(const ApplyContext& context);

 private:
  Error purge_friends(const ApplyContext& context);
  Error purge_conversations(const ApplyContext& context);
  // Takes the user out of `group` (in this partition): hands ownership on or dissolves it.
  Error leave_group(const ApplyContext& context, std::string_view group);
  Error purge_account(const ApplyContext& context);

  store::Kv& kv_;
  const Keys& keys_;
  PartitionCaches& caches_;
  Events& events_;
  Conversations& conversations_;
};

}  // namespace qim::service
