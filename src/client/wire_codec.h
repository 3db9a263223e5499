#pragma once
// The client's requests and answers in wire form: frame writers for AsyncConnection::request
// and parsers of the frames it returns. No I/O; the frame must stay alive while a parser reads.
#include <cstdint>
#include <string>
#include <vector>

#include "client/async_connection.h"
#include "qim/client.h"

namespace qim::client {

using FrameWriter = AsyncConnection::FrameWriter;

Error unexpected_reply(const Frame& frame, const char* expected);
Result<void> expect_ok(const Frame& frame);
Result<MessagePage> parse_page(const Frame& frame);
Result<std::vector<ConversationState>> parse_sync(const Frame& frame);
GroupInfo group_info_from_wire(const wire::GroupInfo& info);

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>> string_vector(
    flatbuffers::FlatBufferBuilder& fbb, const std::vector<std::string>& values);

FrameWriter sync_writer();
FrameWriter pull_writer(std::string conversation, std::uint64_t after_seq, std::uint32_t limit);
FrameWriter ack_writer(std::string conversation, std::uint64_t seq);

// A request whose body is one string field (friend and group operations).
template <typename Create>
FrameWriter single_string_writer(std::string value, Create create) {
  return [value = std::move(value), create](proto::FrameBuilder& builder, std::uint32_t req_id) {
    auto& fbb = builder.fbb();
    auto text = fbb.CreateString(value);
    return builder.finish(req_id, create(fbb, text));
  };
}

}  // namespace qim::client
