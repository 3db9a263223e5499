#include "service/commands.h"

#include <cstring>

#include "qim/ids.h"
#include "qim/schemas/command_generated.h"

namespace qim::service {
namespace {

namespace fb = qim::command;
using Builder = flatbuffers::FlatBufferBuilder;

// Commands are flat: one table and its body, vectors of strings at most.
constexpr flatbuffers::uoffset_t max_depth = 8;
constexpr flatbuffers::uoffset_t max_tables = 8192;
constexpr std::size_t digest_bytes = 32;

flatbuffers::Offset<flatbuffers::String> text(Builder& fbb, std::string_view value) {
  return fbb.CreateString(value.data(), value.size());
}

flatbuffers::Offset<flatbuffers::Vector<std::uint8_t>> bytes(Builder& fbb,
                                                             std::span<const std::uint8_t> value) {
  return fbb.CreateVector(value.data(), value.size());
}

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>> texts(
    Builder& fbb, const std::vector<std::string_view>& values) {
  std::vector<flatbuffers::Offset<flatbuffers::String>> offsets;
  offsets.reserve(values.size());
  for (std::string_view value : values)
    offsets.push_back(text(fbb, value));
  return fbb.CreateVector(offsets);
}

// The body of `command`, built before the Command table that refers to it.
std::pair<fb::Body, flatbuffers::Offset<void>> build_body(Builder& fbb, const Command& command) {
  auto as = [](auto offset) { return offset.Union(); };
  switch (command.kind) {
    case CommandKind::send: {
      flatbuffers::Offset<flatbuffers::String> to_user, to_group;
      if (!command.to_user.empty()) to_user = text(fbb, command.to_user);
      if (!command.to_group.empty()) to_group = text(fbb, command.to_group);
      auto body = fbb.CreateVector(reinterpret_cast<const std::uint8_t*>(command.body.data()),
                                   command.body.size());
      return {fb::Body::Send, as(fb::CreateSend(fbb, to_user, to_group, command.client_msg_id, body,
                                                command.friends_only))};
    }
    case CommandKind::ack:
      return {fb::Body::Ack, as(fb::CreateAck(fbb, text(fbb, command.conversation), command.seq))};
    case CommandKind::register_account:
      return {fb::Body::Register, as(fb::CreateRegister(fbb, text(fbb, command.new_hash)))};
    case CommandKind::add_token: {
      auto digest = bytes(fbb, command.digest);
      auto verified = text(fbb, command.verified_hash);
      return {fb::Body::AddToken,
              as(fb::CreateAddToken(fbb, digest, verified, command.max_tokens))};
    }
    case CommandKind::touch_token:
      return {fb::Body::TouchToken, as(fb::CreateTouchToken(fbb, bytes(fbb, command.digest)))};
    case CommandKind::revoke_token:
      return {fb::Body::RevokeToken, as(fb::CreateRevokeToken(fbb, bytes(fbb, command.digest)))};
    case CommandKind::revoke_all_tokens:
      return {fb::Body::RevokeAllTokens, as(fb::CreateRevokeAllTokens(fbb))};
    case CommandKind::change_password: {
      auto verified = text(fbb, command.verified_hash);
      auto hash = text(fbb, command.new_hash);
      auto keep = bytes(fbb, command.keep);
      return {fb::Body::ChangePassword, as(fb::CreateChangePassword(fbb, verified, hash, keep))};
    }
    case CommandKind::reset_password:
      return {fb::Body::ResetPassword,
              as(fb::CreateResetPassword(fbb, text(fbb, command.new_hash)))};
    case CommandKind::set_disabled:
      return {fb::Body::SetDisabled, as(fb::CreateSetDisabled(fbb, command.disabled))};
    case CommandKind::friend_request:
      return {fb::Body::FriendRequest, as(fb::CreateFriendRequest(fbb, text(fbb, command.other)))};
    case CommandKind::friend_accept:
      return {fb::Body::FriendAccept, as(fb::CreateFriendAccept(fbb, text(fbb, command.other)))};
    case CommandKind::friend_decline:
      return {fb::Body::FriendDecline, as(fb::CreateFriendDecline(fbb, text(fbb, command.other)))};
    case CommandKind::friend_remove:
      return {fb::Body::FriendRemove, as(fb::CreateFriendRemove(fbb, text(fbb, command.other)))};
    case CommandKind::group_create: {
      auto group = text(fbb, command.group);
      auto name = text(fbb, command.name);
      auto members = texts(fbb, command.users);
      return {fb::Body::GroupCreate,
              as(fb::CreateGroupCreate(fbb, group, name, members, command.max_members))};
    }
    case CommandKind::group_add: {
      auto group = text(fbb, command.group);
      auto users = texts(fbb, command.users);
      return {fb::Body::GroupAdd, as(fb::CreateGroupAdd(fbb, group, users, command.max_members))};
    }
    case CommandKind::group_remove: {
      auto group = text(fbb, command.group);
      auto user = text(fbb, command.other);
      return {fb::Body::GroupRemove, as(fb::CreateGroupRemove(fbb, group, user))};
    }
    case CommandKind::group_set_role: {
      auto group = text(fbb, command.group);
      auto user = text(fbb, command.other);
      return {
          fb::Body::GroupSetRole,
          as(fb::CreateGroupSetRole(fbb, group, user, static_cast<std::uint8_t>(command.role)))};
    }
    case CommandKind::group_leave:
      return {fb::Body::GroupLeave, as(fb::CreateGroupLeave(fbb, text(fbb, command.group)))};
    case CommandKind::group_dissolve:
      return {fb::Body::GroupDissolve, as(fb::CreateGroupDissolve(fbb, text(fbb, command.group)))};
    case CommandKind::prune_dedup:
      return {fb::Body::PruneDedup,
              as(fb::CreatePruneDedup(fbb, command.cutoff_ms, command.max_visits))};
    case CommandKind::purge_user:
      return {fb::Body::PurgeUser, as(fb::CreatePurgeUser(fbb))};
    case CommandKind::trim_history:
      return {fb::Body::TrimHistory,
              as(fb::CreateTrimHistory(fbb, command.cutoff_ms, command.max_visits))};
    case CommandKind::cursors: {
      std::vector<flatbuffers::Offset<flatbuffers::String>> users, devices, conversations;
      std::vector<std::uint64_t> seqs;
      users.reserve(command.cursors.size());
      devices.reserve(command.cursors.size());
      conversations.reserve(command.cursors.size());
      seqs.reserve(command.cursors.size());
      for (const CursorView& cursor : command.cursors) {
        users.push_back(text(fbb, cursor.user));
        devices.push_back(text(fbb, cursor.device));
        conversations.push_back(text(fbb, cursor.conversation));
        seqs.push_back(cursor.seq);
      }
      auto users_offset = fbb.CreateVector(users);
      auto devices_offset = fbb.CreateVector(devices);
      auto conversations_offset = fbb.CreateVector(conversations);
      auto seqs_offset = fbb.CreateVector(seqs);
      return {fb::Body::Cursors, as(fb::CreateCursors(fbb, users_offset, devices_offset,
                                                      conversations_offset, seqs_offset))};
    }
  }
  return {fb::Body::NONE, 0};
}

std::string_view view(const flatbuffers::String* value) {
  return value ? std::string_view(value->data(), value->size()) : std::string_view();
}

std::span<const std::uint8_t> view(const flatbuffers::Vector<std::uint8_t>* value) {
  return value ? std::span<const std::uint8_t>(value->data(), value->size())
               : std::span<const std::uint8_t>();
}

Error malformed(std::string message) {
  return Error{errc::malformed, "command: " + std::move(message)};
}

Error need_id(std::string_view value, std::string_view field) {
  if (is_valid_id(value)) return {};
  return malformed(std::string(field) + " is not a valid id");
}

Error need_digest(std::span<const std::uint8_t> digest, std::string_view field) {
  if (digest.size() == digest_bytes) return {};
  return malformed(std::string(field) + " is not a 32-byte digest");
}

Error need_users(const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>* values,
                 std::vector<std::string_view>& users) {
  users.clear();
  if (values == nullptr) return {};
  users.reserve(values->size());
  for (const flatbuffers::String* value : *values) {
    if (!is_valid_id(view(value))) return malformed("a member is not a valid id");
    users.push_back(view(value));
  }
  return {};
}

// Fills the kind's fields from the verified body and checks what apply relies on.
Error read_body(const fb::Command& root, Command& command) {
  switch (root.body_type()) {
    case fb::Body::Send: {
      const auto* send = root.body_as_Send();
      command.kind = CommandKind::send;
      command.to_user = view(send->to_user());
      command.to_group = view(send->to_group());
      command.client_msg_id = send->client_msg_id();
      auto body = view(send->body());
      command.body = {reinterpret_cast<const char*>(body.data()), body.size()};
      command.friends_only = send->friends_only();
      if (command.to_user.empty() == command.to_group.empty()) {
        return malformed("a send needs exactly one of to_user and to_group");
      }
      if (!command.to_user.empty()) {
        if (Error error = need_id(command.to_user, "to_user")) return error;
        if (command.to_user == command.user) return malformed("a send to its own sender");
      } else if (Error error = need_id(command.to_group, "to_group")) {
        return error;
      }
      if (command.client_msg_id == 0) return malformed("client_msg_id is 0");
      if (command.body.empty()) return malformed("the body is empty");
      if (!is_valid_device(command.device)) return malformed("device is not a valid device id");
      return {};
    }
    case fb::Body::Ack: {
      const auto* ack = root.body_as_Ack();
      command.kind = CommandKind::ack;
      command.conversation = view(ack->conversation());
      command.seq = ack->seq();
      if (!parse_conversation(command.conversation)) return malformed("not a conversation id");
      if (!is_valid_device(command.device)) return malformed("device is not a valid device id");
      return {};
    }
    case fb::Body::Register:
      command.kind = CommandKind::register_account;
      command.new_hash = view(root.body_as_Register()->password_hash());
      if (command.new_hash.empty()) return malformed("no password hash");
      return {};
    case fb::Body::AddToken: {
      const auto* add = root.body_as_AddToken();
      command.kind = CommandKind::add_token;
      command.digest = view(add->digest());
      command.verified_hash = view(add->verified_hash());
      command.max_tokens = add->max_tokens();
      if (!is_valid_device(command.device)) return malformed("device is not a valid device id");
      return need_digest(command.digest, "digest");
    }
    case fb::Body::TouchToken:
      command.kind = CommandKind::touch_token;
      command.digest = view(root.body_as_TouchToken()->digest());
      return need_digest(command.digest, "digest");
    case fb::Body::RevokeToken:
      command.kind = CommandKind::revoke_token;
      command.digest = view(root.body_as_RevokeToken()->digest());
      return need_digest(command.digest, "digest");
    case fb::Body::RevokeAllTokens:
      command.kind = CommandKind::revoke_all_tokens;
      return {};
    case fb::Body::ChangePassword: {
      const auto* change = root.body_as_ChangePassword();
      command.kind = CommandKind::change_password;
      command.verified_hash = view(change->verified_hash());
      command.new_hash = view(change->new_hash());
      command.keep = view(change->keep());
      if (command.new_hash.empty()) return malformed("no password hash");
      if (!command.keep.empty()) return need_digest(command.keep, "keep");
      return {};
    }
    case fb::Body::ResetPassword:
      command.kind = CommandKind::reset_password;
      command.new_hash = view(root.body_as_ResetPassword()->new_hash());
      if (command.new_hash.empty()) return malformed("no password hash");
      return {};
    case fb::Body::SetDisabled:
      command.kind = CommandKind::set_disabled;
      command.disabled = root.body_as_SetDisabled()->disabled();
      return {};
    case fb::Body::FriendRequest:
      command.kind = CommandKind::friend_request;
      command.other = view(root.body_as_FriendRequest()->other());
      break;
    case fb::Body::FriendAccept:
      command.kind = CommandKind::friend_accept;
      command.other = view(root.body_as_FriendAccept()->other());
      break;
    case fb::Body::FriendDecline:
      command.kind = CommandKind::friend_decline;
      command.other = view(root.body_as_FriendDecline()->other());
      break;
    case fb::Body::FriendRemove:
      command.kind = CommandKind::friend_remove;
      command.other = view(root.body_as_FriendRemove()->other());
      break;
    case fb::Body::GroupCreate: {
      const auto* create = root.body_as_GroupCreate();
      command.kind = CommandKind::group_create;
      command.group = view(create->group());
      command.name = view(create->name());
      command.max_members = create->max_members();
      if (Error error = need_users(create->members(), command.users)) return error;
      return need_id(command.group, "group");
    }
    case fb::Body::GroupAdd: {
      const auto* add = root.body_as_GroupAdd();
      command.kind = CommandKind::group_add;
      command.group = view(add->group());
      command.max_members = add->max_members();
      if (Error error = need_users(add->users(), command.users)) return error;
      return need_id(command.group, "group");
    }
    case fb::Body::GroupRemove: {
      const auto* remove = root.body_as_GroupRemove();
      command.kind = CommandKind::group_remove;
      command.group = view(remove->group());
      command.other = view(remove->user());
      if (Error error = need_id(command.other, "user")) return error;
      return need_id(command.group, "group");
    }
    case fb::Body::GroupSetRole: {
      const auto* set = root.body_as_GroupSetRole();
      command.kind = CommandKind::group_set_role;
      command.group = view(set->group());
      command.other = view(set->user());
      if (set->role() > static_cast<std::uint8_t>(GroupRole::owner)) return malformed("role");
      command.role = static_cast<GroupRole>(set->role());
      if (Error error = need_id(command.other, "user")) return error;
      return need_id(command.group, "group");
    }
    case fb::Body::GroupLeave:
      command.kind = CommandKind::group_leave;
      command.group = view(root.body_as_GroupLeave()->group());
      return need_id(command.group, "group");
    case fb::Body::GroupDissolve:
      command.kind = CommandKind::group_dissolve;
      command.group = view(root.body_as_GroupDissolve()->group());
      return need_id(command.group, "group");
    case fb::Body::PruneDedup: {
      const auto* prune = root.body_as_PruneDedup();
      command.kind = CommandKind::prune_dedup;
      command.cutoff_ms = prune->cutoff_ms();
      command.max_visits = prune->max_visits();
      return {};
    }
    case fb::Body::PurgeUser:
      command.kind = CommandKind::purge_user;
      return {};
    case fb::Body::TrimHistory: {
      const auto* trim = root.body_as_TrimHistory();
      command.kind = CommandKind::trim_history;
      command.cutoff_ms = trim->cutoff_ms();
      command.max_visits = trim->max_visits();
      return {};
    }
    case fb::Body::Cursors: {
      const auto* cursors = root.body_as_Cursors();
      command.kind = CommandKind::cursors;
      const auto* users = cursors->users();
      const auto* devices = cursors->devices();
      const auto* conversations = cursors->conversations();
      const auto* seqs = cursors->seqs();
      if (!users || !devices || !conversations || !seqs)
        return malformed("cursors: a vector is missing");
      std::size_t count = users->size();
      if (devices->size() != count || conversations->size() != count || seqs->size() != count) {
        return malformed("cursors: the vectors differ in length");
      }
      command.cursors.reserve(count);
      for (std::size_t i = 0; i < count; ++i) {
        CursorView cursor{view(users->Get(i)), view(devices->Get(i)), view(conversations->Get(i)),
                          seqs->Get(i)};
        if (Error error = need_id(cursor.user, "cursors: user")) return error;
        if (!is_valid_device(cursor.device)) return malformed("cursors: not a valid device id");
        if (!parse_conversation(cursor.conversation)) {
          return malformed("cursors: not a conversation id");
        }
        command.cursors.push_back(cursor);
      }
      return {};
    }
    default:
      return malformed("unknown kind");
  }
  // The friend commands.
  if (Error error = need_id(command.other, "other")) return error;
  if (command.other == command.user) return malformed("a friendship with oneself");
  return {};
}

}  // namespace

std::vector<std::uint8_t> encode_command(const Command& command) {
  // Reused by every command this thread encodes; released when a large one grew it.
  thread_local Builder fbb(512);
  fbb.Clear();
  auto [type, body] = build_body(fbb, command);
  auto user = text(fbb, command.user);
  auto device = text(fbb, command.device);
  fb::CommandBuilder root(fbb);
  root.add_time_ms(command.time_ms);
  root.add_user(user);
  root.add_device(device);
  root.add_session_id(command.session_id);
  root.add_body_type(type);
  root.add_body(body);
  fbb.Finish(root.Finish(), fb::CommandIdentifier());
  std::vector<std::uint8_t> encoded(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
  if (fbb.GetSize() > 64 * 1024) fbb = Builder(512);
  return encoded;
}

namespace {

// The verified root of `bytes`, copied into `aligned` first when not 8-byte aligned (FlatBuffers
// reads scalars in place); nullptr when it does not verify.
const fb::Command* verified_root(std::span<const std::uint8_t> bytes,
                                 std::vector<std::uint64_t>& aligned) {
  if (bytes.size() < 8) return nullptr;
  const std::uint8_t* data = bytes.data();
  if (reinterpret_cast<std::uintptr_t>(data) % 8 != 0) {
    aligned.resize((bytes.size() + 7) / 8);
    std::memcpy(aligned.data(), bytes.data(), bytes.size());
    data = reinterpret_cast<const std::uint8_t*>(aligned.data());
  }
  flatbuffers::Verifier verifier(data, bytes.size(), max_depth, max_tables);
  if (!fb::VerifyCommandBuffer(verifier)) return nullptr;
  return fb::GetCommand(data);
}

}  // namespace

bool is_send_command(std::span<const std::uint8_t> bytes) {
  std::vector<std::uint64_t> aligned;
  const fb::Command* root = verified_root(bytes, aligned);
  return root != nullptr && root->body_type() == fb::Body::Send;
}

Error decode_command(std::span<const std::uint8_t> bytes, std::vector<std::uint64_t>& aligned,
                     Command& command) {
  if (bytes.size() < 8) return malformed("too short");
  const fb::Command* root = verified_root(bytes, aligned);
  if (root == nullptr) return malformed("does not verify");
  command = Command{};
  command.time_ms = root->time_ms();
  command.user = view(root->user());
  command.device = view(root->device());
  command.session_id = root->session_id();
  // Maintenance commands have no caller.
  if (root->body_type() != fb::Body::PruneDedup && root->body_type() != fb::Body::TrimHistory &&
      root->body_type() != fb::Body::Cursors) {
    if (Error error = need_id(command.user, "user")) return error;
  }
  return read_body(*root, command);
}

}  // namespace qim::service
