#include "service/push_frames.h"

namespace qim::service {
namespace {

flatbuffers::Offset<flatbuffers::String> string_of(flatbuffers::FlatBufferBuilder& fbb,
                                                   std::string_view text) {
  return fbb.CreateString(text.data(), text.size());
}

}  // namespace

flatbuffers::Offset<wire::Message> build_message(flatbuffers::FlatBufferBuilder& fbb,
                                                 const MessageView& message) {
  auto conversation = string_of(fbb, message.conversation);
  auto sender = string_of(fbb, message.sender);
  auto device = string_of(fbb, message.sender_device);
  auto body = fbb.CreateVector(reinterpret_cast<const std::uint8_t*>(message.body.data()),
                               message.body.size());
  return wire::CreateMessage(fbb, conversation, message.seq, sender, device, message.client_msg_id,
                             message.server_time_ms, body);
}

std::span<const std::uint8_t> encode_deliver(proto::FrameBuilder& builder,
                                             const MessageView& message) {
  builder.reset();
  auto& fbb = builder.fbb();
  auto wire_message = build_message(fbb, message);
  return builder.finish(0, wire::CreateDeliver(fbb, wire_message));
}

std::span<const std::uint8_t> encode_presence(proto::FrameBuilder& builder, std::string_view user,
                                              bool online) {
  builder.reset();
  auto& fbb = builder.fbb();
  auto name = string_of(fbb, user);
  return builder.finish(0, wire::CreatePresenceEvent(fbb, name, online));
}

std::span<const std::uint8_t> encode_friend_event(proto::FrameBuilder& builder,
                                                  std::string_view user, FriendEventKind kind) {
  builder.reset();
  auto& fbb = builder.fbb();
  auto name = string_of(fbb, user);
  return builder.finish(
      0, wire::CreateFriendEvent(fbb, name, static_cast<wire::FriendEventKind>(kind)));
}

std::span<const std::uint8_t> encode_group_event(proto::FrameBuilder& builder,
                                                 std::string_view group, GroupEventKind kind,
                                                 std::string_view user, std::string_view by) {
  builder.reset();
  auto& fbb = builder.fbb();
  auto group_name = string_of(fbb, group);
  auto user_name = string_of(fbb, user);
  auto by_name = string_of(fbb, by);
  return builder.finish(
      0, wire::CreateGroupEvent(fbb, group_name, static_cast<wire::GroupEventKind>(kind), user_name,
                                by_name));
}

std::span<const std::uint8_t> encode_resync(proto::FrameBuilder& builder, std::string_view reason,
                                            std::uint32_t spread_ms) {
  builder.reset();
  auto& fbb = builder.fbb();
  auto text = string_of(fbb, reason);
  return builder.finish(0, wire::CreateResync(fbb, text, spread_ms));
}

std::span<const std::uint8_t> encode_redirect(proto::FrameBuilder& builder, std::uint32_t req_id,
                                              const route::NodeInfo& home) {
  builder.reset();
  auto& fbb = builder.fbb();
  auto host = fbb.CreateString(home.client_host);
  auto node = fbb.CreateString(home.name);
  return builder.finish(req_id,
                        wire::CreateRedirect(fbb, host, home.client_port, node, home.ws_port));
}

}  // namespace qim::service
