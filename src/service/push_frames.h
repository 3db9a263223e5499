#pragma once
// Encoders for the frames the service pushes (req_id 0): Deliver, presence, friend and group
// events. Each returns bytes inside `builder`, valid until its next use, so one encoding is
// handed to every recipient's Connection::send.
#include <cstdint>
#include <span>
#include <string_view>

#include "proto/frame.h"
#include "route/placement.h"
#include "service/types.h"

namespace qim::service {

std::span<const std::uint8_t> encode_deliver(proto::FrameBuilder& builder,
                                             const MessageView& message);
std::span<const std::uint8_t> encode_presence(proto::FrameBuilder& builder, std::string_view user,
                                              bool online);
std::span<const std::uint8_t> encode_friend_event(proto::FrameBuilder& builder,
                                                  std::string_view user, FriendEventKind kind);
std::span<const std::uint8_t> encode_group_event(proto::FrameBuilder& builder,
                                                 std::string_view group, GroupEventKind kind,
                                                 std::string_view user, std::string_view by);

// Redirect to `home`: the reply to a Login or Register for a user homed elsewhere (req_id of
// the request), or a push (req_id 0) to a session whose user's home moved.
std::span<const std::uint8_t> encode_redirect(proto::FrameBuilder& builder, std::uint32_t req_id,
                                              const route::NodeInfo& home);

// Resync (req_id 0): pushes meant for the session may have been lost; its client syncs after
// a random wait below `spread_ms`.
std::span<const std::uint8_t> encode_resync(proto::FrameBuilder& builder, std::string_view reason,
                                            std::uint32_t spread_ms);

// Wire form of a Message table (shared by Deliver and the session's MessageBatch).
flatbuffers::Offset<wire::Message> build_message(flatbuffers::FlatBufferBuilder& fbb,
                                                 const MessageView& message);
inline flatbuffers::Offset<wire::Message> build_message(flatbuffers::FlatBufferBuilder& fbb,
                                                        const Message& message) {
  return build_message(fbb, view_of(message));
}

}  // namespace qim::service
