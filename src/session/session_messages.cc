// Messages: Send, Ack, Sync, Pull, History.
#include <vector>

#include "service/push_frames.h"
#include "session/session.h"

namespace qim::session {

void Session::on_send(std::uint32_t req_id, const wire::Send& request) {
  if (!take_write_budget(req_id)) return;
  auto body = proto::view(request.body());
  service::SendRequest send{
      proto::view(request.to_user()), proto::view(request.to_group()), request.client_msg_id(),
      std::string_view(reinterpret_cast<const char*>(body.data()), body.size())};
  using SendOutcome = service::Result<service::SendResult>;
  call<SendOutcome>(
      req_id, [&](auto done) { service_.send(caller(), send, std::move(done)); },
      [this, req_id](const SendOutcome& result) {
        if (!result.ok()) return send_error(req_id, result.error);
        const service::SendResult& ack = result.value;
        auto& fbb = builder_.fbb();
        builder_.reset();
        auto conversation = fbb.CreateString(ack.conversation);
        send_frame(builder_.finish(
            req_id, wire::CreateSendAck(fbb, conversation, ack.seq, ack.server_time_ms,
                                        ack.client_msg_id, ack.duplicate)));
      });
}

void Session::on_ack(std::uint32_t req_id, const wire::Ack& request) {
  call<Error>(
      req_id,
      [&](auto done) {
        service_.ack(caller(), proto::view(request.conversation()), request.seq(), std::move(done));
      },
      [this, req_id](const Error& error) { send_status(req_id, error); });
}

void Session::on_sync(std::uint32_t req_id) {
  auto result = service_.sync(caller());
  if (!result.ok()) return send_error(req_id, result.error);
  auto& fbb = builder_.fbb();
  builder_.reset();
  std::vector<flatbuffers::Offset<wire::ConversationState>> states;
  states.reserve(result.value.size());
  for (const service::ConversationState& state : result.value) {
    auto conversation = fbb.CreateString(state.conversation);
    auto peer = fbb.CreateString(state.peer);
    states.push_back(wire::CreateConversationState(fbb, conversation, state.head_seq,
                                                   state.read_seq, state.first_seq, peer));
  }
  auto vector = fbb.CreateVector(states);
  send_frame(builder_.finish(req_id, wire::CreateSyncResult(fbb, vector)));
}

void Session::send_batch(std::uint32_t req_id, const service::MessagePage& page) {
  auto& fbb = builder_.fbb();
  builder_.reset();
  std::vector<flatbuffers::Offset<wire::Message>> messages;
  messages.reserve(page.messages.size());
  for (const service::Message& message : page.messages) {
    messages.push_back(service::build_message(fbb, message));
  }
  auto conversation = fbb.CreateString(page.conversation);
  auto vector = fbb.CreateVector(messages);
  send_frame(
      builder_.finish(req_id, wire::CreateMessageBatch(fbb, conversation, vector, page.more)));
}

void Session::on_pull(std::uint32_t req_id, const wire::Pull& request) {
  auto result = service_.pull(caller(), proto::view(request.conversation()), request.after_seq(),
                              request.limit());
  if (!result.ok()) return send_error(req_id, result.error);
  send_batch(req_id, result.value);
}

void Session::on_history(std::uint32_t req_id, const wire::History& request) {
  auto result = service_.history(caller(), proto::view(request.conversation()),
                                 request.before_seq(), request.limit());
  if (!result.ok()) return send_error(req_id, result.error);
  send_batch(req_id, result.value);
}

}  // namespace qim::session
