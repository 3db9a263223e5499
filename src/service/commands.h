#pragma once
// Commands (schemas/command.fbs): every write the service makes, as what the partition's leader
// decided before proposing it. Encoded once at the proposer; decoded at apply into views of the
// command's bytes (the message body is never copied here).
//
// One flat struct serves every kind: each kind reads the fields its comment names and leaves
// the others empty. Decoding verifies the buffer (bounded depth and table count), the kind's
// required fields and the ids it carries, so apply() sees only well-formed commands.
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "service/types.h"

namespace qim::service {

enum class CommandKind : std::uint8_t {
  send,               // to_user | to_group, client_msg_id, body, friends_only
  ack,                // conversation, seq
  register_account,   // new_hash
  add_token,          // digest, verified_hash, max_tokens
  touch_token,        // digest
  revoke_token,       // digest
  revoke_all_tokens,  //
  change_password,    // verified_hash, new_hash, keep
  reset_password,     // new_hash
  set_disabled,       // disabled
  friend_request,     // other
  friend_accept,      // other
  friend_decline,     // other
  friend_remove,      // other
  group_create,       // group, name, users, max_members
  group_add,          // group, users, max_members
  group_remove,       // group, other
  group_set_role,     // group, other, role
  group_leave,        // group
  group_dissolve,     // group
  prune_dedup,        // cutoff_ms, max_visits
  purge_user,         // (user: the user deleted)
  trim_history,       // cutoff_ms, max_visits
  cursors,            // cursors
};

// One read cursor of a `cursors` command.
struct CursorView {
  std::string_view user, device, conversation;
  std::uint64_t seq = 0;
};

// A command's fields. For encoding they may view anything that outlives the call; decoded,
// they view the command's bytes.
struct Command {
  CommandKind kind = CommandKind::send;
  // Every command: the leader's time, and who asked (empty for prune_dedup, trim_history and
  // cursors).
  // For account commands `user` is the account; `session_id` is skipped by the pushes the
  // command causes.
  std::uint64_t time_ms = 0;
  std::string_view user;
  std::string_view device;
  std::uint64_t session_id = 0;

  std::string_view to_user, to_group;
  std::uint64_t client_msg_id = 0;
  std::string_view body;
  bool friends_only = false;

  std::string_view conversation;
  std::uint64_t seq = 0;

  std::span<const std::uint8_t> digest;  // a token digest (32 bytes)
  std::span<const std::uint8_t> keep;    // change_password: the token that stays
  std::string_view verified_hash, new_hash;
  std::uint32_t max_tokens = 0;
  bool disabled = false;

  std::string_view other;  // friends: the other user; groups: the member acted on
  std::string_view group, name;
  std::vector<std::string_view> users;
  std::uint32_t max_members = 0;
  GroupRole role = GroupRole::member;

  std::uint64_t cutoff_ms = 0;
  std::uint32_t max_visits = 0;

  std::vector<CursorView> cursors;
};

// Encodes `command` (one FlatBuffers encode, into a buffer reused by the calling thread).
std::vector<std::uint8_t> encode_command(const Command& command);

// Verifies and decodes `bytes`. Returns the reason when it is not a well-formed command. The
// views point into `bytes`, or into `aligned` when `bytes` was not 8-byte aligned (FlatBuffers
// reads scalars in place), so both must outlive `command`.
Error decode_command(std::span<const std::uint8_t> bytes, std::vector<std::uint64_t>& aligned,
                     Command& command);

// Whether `bytes` verifies as a command whose body is a Send, without decoding it.
bool is_send_command(std::span<const std::uint8_t> bytes);

}  // namespace qim::service
