#include "node/raft_transport.h"

namespace qim::node {

void RaftTransport::call(const std::string& node, std::vector<std::uint8_t> payload,
                         std::function<void(Error)> done) {
  asio::co_spawn(
      executor_,
      [this, node, payload = std::move(payload),
       done = std::move(done)]() mutable -> asio::awaitable<void> {
        auto reply = co_await links_.call(node, std::move(payload), chunk_timeout_);
        if (!reply.ok()) {
          done(reply.error);
          co_return;
        }
        const auto* ack = reply.value.envelope().body_as_SnapshotChunkAck();
        if (ack == nullptr || !ack->accepted()) {
          done(Error{errc::unexpected_message, node + " did not accept the snapshot chunk"});
          co_return;
        }
        done({});
      },
      asio::detached);
}

}  // namespace qim::node
