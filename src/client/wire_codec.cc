#include "client/wire_codec.h"

#include <fmt/core.h>

namespace qim::client {

Error unexpected_reply(const Frame& frame, const char* expected) {
  return {errc::unexpected_message, fmt::format("expected {} from the server, got {}", expected,
                                                wire::EnumNameBody(frame.envelope->body_type()))};
}

Result<void> expect_ok(const Frame& frame) {
  if (frame.envelope->body_type() != wire::Body::Ok) return unexpected_reply(frame, "Ok");
  return {};
}

Result<MessagePage> parse_page(const Frame& frame) {
  const auto* batch = frame.envelope->body_as_MessageBatch();
  if (batch == nullptr) return unexpected_reply(frame, "MessageBatch");
  MessagePage page;
  page.conversation = proto::view(batch->conversation());
  page.more = batch->more();
  if (batch->messages() != nullptr) {
    page.messages.reserve(batch->messages()->size());
    for (const auto* message : *batch->messages()) {
      if (message != nullptr) page.messages.push_back(message_from_wire(*message));
    }
  }
  return page;
}

Result<std::vector<ConversationState>> parse_sync(const Frame& frame) {
  const auto* sync = frame.envelope->body_as_SyncResult();
  if (sync == nullptr) return unexpected_reply(frame, "SyncResult");
  std::vector<ConversationState> states;
  if (sync->conversations() != nullptr) {
    states.reserve(sync->conversations()->size());
    for (const auto* state : *sync->conversations()) {
      if (state == nullptr) continue;
      states.push_back({std::string(proto::view(state->conversation())), state->head_seq(),
                        state->read_seq(), state->first_seq(),
                        std::string(proto::view(state->peer()))});
    }
  }
  return states;
}

GroupInfo group_info_from_wire(const wire::GroupInfo& info) {
  GroupInfo out;
  out.group = proto::view(info.group());
  out.name = proto::view(info.name());
  out.owner = proto::view(info.owner());
  out.member_count = info.member_count();
  out.role = static_cast<GroupRole>(info.role());
  out.created_ms = info.created_ms();
  return out;
}

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>> string_vector(
    flatbuffers::FlatBufferBuilder& fbb, const std::vector<std::string>& values) {
  std::vector<flatbuffers::Offset<flatbuffers::String>> offsets;
  offsets.reserve(values.size());
  for (const auto& value : values)
    offsets.push_back(fbb.CreateString(value));
  return fbb.CreateVector(offsets);
}

FrameWriter sync_writer() {
  return [](proto::FrameBuilder& builder, std::uint32_t req_id) {
    return builder.finish(req_id, wire::CreateSync(builder.fbb()));
  };
}

FrameWriter pull_writer(std::string conversation, std::uint64_t after_seq, std::uint32_t limit) {
  return [conversation = std::move(conversation), after_seq, limit](proto::FrameBuilder& builder,
                                                                    std::uint32_t req_id) {
    auto& fbb = builder.fbb();
    auto id = fbb.CreateString(conversation);
    return builder.finish(req_id, wire::CreatePull(fbb, id, after_seq, limit));
  };
}

FrameWriter ack_writer(std::string conversation, std::uint64_t seq) {
  return [conversation = std::move(conversation), seq](proto::FrameBuilder& builder,
                                                       std::uint32_t req_id) {
    auto& fbb = builder.fbb();
    auto id = fbb.CreateString(conversation);
    return builder.finish(req_id, wire::CreateAck(fbb, id, seq));
  };
}

}  // namespace qim::client
