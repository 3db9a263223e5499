#pragma once
// Domain values the IM service takes and returns. Plain structs: no FlatBuffers here, so the
// session layer owns the wire encoding and tests can assert on values.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "qim/errc.h"

namespace qim::service {

// A value or an error. `error` is set (code != ok) exactly when the operation failed; `value`
// is then default-constructed and meaningless.
template <typename T>
struct Result {
  Error error;
  T value{};

  static Result failure(errc code, std::string message) {
    Result result;
    result.error = Error{code, std::move(message)};
    return result;
  }
  static Result failure(Error error) {
    Result result;
    result.error = std::move(error);
    return result;
  }
  static Result success(T value) {
    Result result;
    result.value = std::move(value);
    return result;
  }
  bool ok() const { return !error; }
};

// Who is asking: a logged-in session. session_id excludes the asking session from pushes it
// causes (it gets the reply instead).
struct Caller {
  std::string_view user;
  std::string_view device;
  std::uint64_t session_id = 0;
};

enum class FriendState : std::uint8_t { none = 0, pending_out = 1, pending_in = 2, accepted = 3 };
enum class FriendEventKind : std::uint8_t {
  requested = 0,
  accepted = 1,
  declined = 2,
  removed = 3
};
enum class GroupRole : std::uint8_t { member = 0, admin = 1, owner = 2 };
enum class GroupEventKind : std::uint8_t {
  added = 0,
  removed = 1,
  left = 2,
  dissolved = 3,
  role_changed = 4,
};

struct Message {
  std::string conversation;
  std::uint64_t seq = 0;
  std::string sender;
  std::string sender_device;
  std::uint64_t client_msg_id = 0;
  std::uint64_t server_time_ms = 0;
  std::string body;  // opaque bytes
};

// A message whose fields view bytes kept elsewhere (a command, a request).
struct MessageView {
  std::string_view conversation;
  std::uint64_t seq = 0;
  std::string_view sender;
  std::string_view sender_device;
  std::uint64_t client_msg_id = 0;
  std::uint64_t server_time_ms = 0;
  std::string_view body;
};

inline MessageView view_of(const Message& message) {
  return MessageView{message.conversation,  message.seq,           message.sender,
                     message.sender_device, message.client_msg_id, message.server_time_ms,
                     message.body};
}

struct SendRequest {
  std::string_view to_user;
  std::string_view to_group;
  std::uint64_t client_msg_id = 0;
  std::string_view body;
};

struct SendResult {
  std::string conversation;
  std::uint64_t seq = 0;
  std::uint64_t server_time_ms = 0;
  std::uint64_t client_msg_id = 0;
  bool duplicate = false;
};

struct ConversationState {
  std::string conversation;
  std::uint64_t head_seq = 0;
  std::uint64_t read_seq = 0;
  std::uint64_t first_seq = 1;
  std::string peer;
};

struct MessagePage {
  std::string conversation;
  std::vector<Message> messages;  // oldest first
  bool more = false;
};

struct LoginRequest {
  std::string_view user;
  std::string_view password;  // exactly one of password and token is non-empty
  std::string_view token;
  std::string_view device;
  std::string_view remote_host;
};

struct LoginGrant {
  std::string user;
  std::string device;
  std::string token;  // new for a password login, the presented one for a token login
};

struct FriendEntry {
  std::string user;
  FriendState state = FriendState::none;
  bool online = false;  // only for accepted friends
};

struct GroupInfo {
  std::string group;
  std::string name;
  std::string owner;
  std::uint32_t member_count = 0;
  GroupRole role = GroupRole::member;  // the caller's role
  std::uint64_t created_ms = 0;
};

// A device of a user, as administration sees it at the user's home.
struct DeviceSummary {
  std::string device;
  std::uint32_t sessions = 0;          // online at the home
  std::uint64_t token_created_ms = 0;  // 0: no token
  std::uint64_t token_last_used_ms = 0;
};

// A user as administration sees it (qimctl user show).
struct UserSummary {
  std::uint64_t created_ms = 0;
  bool disabled = false;
  std::vector<DeviceSummary> devices;  // sorted by device
  std::uint32_t sessions = 0;
  std::uint32_t friends = 0;        // friend records, pending or accepted
  std::vector<std::string> groups;  // sorted
};

enum class NameKind : std::uint8_t { users = 0, groups = 1 };

// One node's part of a list of ids: the names, and the partitions it read them from.
struct NamePage {
  std::vector<std::string> names;
  std::vector<std::uint32_t> partitions;
};

struct GroupMemberEntry {
  std::string user;
  GroupRole role = GroupRole::member;
  bool online = false;
  std::uint64_t joined_seq = 1;
};

struct GroupMembersPage {
  GroupInfo info;
  std::vector<GroupMemberEntry> members;  // sorted by user id
};

struct OnlinePage {
  std::uint64_t total = 0;
  std::vector<std::string> users;  // sorted
  bool more = false;
};

}  // namespace qim::service
