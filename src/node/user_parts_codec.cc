#include "node/user_parts_codec.h"

#include <algorithm>

#include "proto/frame.h"

namespace qim::node {

std::vector<std::uint8_t> encode_user_parts(const service::UserParts& parts) {
  proto::PeerFrameBuilder builder(1024);
  auto& fbb = builder.fbb();
  std::vector<flatbuffers::Offset<wire::ConversationState>> conversations;
  for (const service::ConversationState& state : parts.conversations) {
    auto conversation = fbb.CreateString(state.conversation);
    auto peer = fbb.CreateString(state.peer);
    conversations.push_back(
        wire::CreateConversationState(fbb, conversation, state.head_seq, 0, state.first_seq, peer));
  }
  std::vector<flatbuffers::Offset<wire::Friend>> friends;
  for (const service::FriendEntry& entry : parts.friends) {
    auto user = fbb.CreateString(entry.user);
    friends.push_back(
        wire::CreateFriend(fbb, user, static_cast<wire::FriendState>(entry.state), false));
  }
  std::vector<flatbuffers::Offset<wire::GroupInfo>> groups;
  for (const service::GroupInfo& info : parts.groups) {
    auto group = fbb.CreateString(info.group);
    auto name = fbb.CreateString(info.name);
    auto owner = fbb.CreateString(info.owner);
    groups.push_back(wire::CreateGroupInfo(fbb, group, name, owner, info.member_count,
                                           static_cast<wire::GroupRole>(info.role),
                                           info.created_ms));
  }
  auto conversations_vector = fbb.CreateVector(conversations);
  auto friends_vector = fbb.CreateVector(friends);
  auto groups_vector = fbb.CreateVector(groups);
  auto partitions_vector = fbb.CreateVector(parts.partitions);
  return builder.finish_owned(
      0, peer_wire::PeerKind::Reply,
      peer_wire::CreateUserPartsResult(fbb, conversations_vector, friends_vector, groups_vector,
                                       partitions_vector));
}

service::UserParts decode_user_parts(const peer_wire::UserPartsResult& result) {
  service::UserParts parts;
  if (result.conversations() != nullptr) {
    for (const auto* state : *result.conversations()) {
      service::ConversationState out;
      out.conversation.assign(proto::view(state->conversation()));
      out.head_seq = state->head_seq();
      out.first_seq = std::max<std::uint64_t>(1, state->first_seq());
      out.peer.assign(proto::view(state->peer()));
      if (!out.conversation.empty()) parts.conversations.push_back(std::move(out));
    }
  }
  if (result.friends() != nullptr) {
    for (const auto* entry : *result.friends()) {
      auto state = static_cast<std::uint8_t>(entry->state());
      if (state > static_cast<std::uint8_t>(service::FriendState::accepted)) continue;
      service::FriendEntry out{std::string(proto::view(entry->user())),
                               static_cast<service::FriendState>(state), false};
      if (!out.user.empty()) parts.friends.push_back(std::move(out));
    }
  }
  if (result.groups() != nullptr) {
    for (const auto* info : *result.groups()) {
      auto role = static_cast<std::uint8_t>(info->role());
      if (role > static_cast<std::uint8_t>(service::GroupRole::owner)) continue;
      service::GroupInfo out;
      out.group.assign(proto::view(info->group()));
      out.name.assign(proto::view(info->name()));
      out.owner.assign(proto::view(info->owner()));
      out.member_count = info->member_count();
      out.role = static_cast<service::GroupRole>(role);
      out.created_ms = info->created_ms();
      if (!out.group.empty()) parts.groups.push_back(std::move(out));
    }
  }
  if (result.partitions() != nullptr) {
    parts.partitions.assign(result.partitions()->begin(), result.partitions()->end());
  }
  return parts;
}

}  // namespace qim::node
