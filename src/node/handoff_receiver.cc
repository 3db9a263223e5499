#include "node/handoff_receiver.h"

#include "proto/frame.h"
#include "proto/peer_frame.h"

namespace qim::node {

using peer_wire::PeerKind;

std::vector<std::uint8_t> HandoffReceiver::accept(std::string_view from_node,
                                                  const peer_wire::Handoff& handoff) {
  proto::PeerFrameBuilder builder;
  auto refuse = [&](std::string_view message) {
    logger_.warn("peer", "refused a handoff from {}: {}", from_node, message);
    return builder.error(0, PeerKind::Reply, errc::invalid_argument, message);
  };
  store::WriteBatch batch;
  std::uint32_t count = 0;
  if (handoff.records() != nullptr) {
    for (const auto* record : *handoff.records()) {
      auto column = static_cast<store::Column>(record->column());
      bool user_keyed = column == store::Column::accounts || column == store::Column::friends ||
                        column == store::Column::convs || column == store::Column::cursors;
      if (!user_keyed) return refuse("records.column: only user-keyed columns are handed off");
      auto key = proto::view(record->key());
      auto value = proto::view(record->value());
      if (key.empty() || key.size() > 1024) return refuse("records.key: 1 to 1024 bytes");
      batch.put(column, std::string_view(reinterpret_cast<const char*>(key.data()), key.size()),
                std::string_view(reinterpret_cast<const char*>(value.data()), value.size()));
      ++count;
    }
  }
  // Durable before the ack: the sender deletes its copy when it gets one.
  if (Error error = kv_.write(batch, true)) {
    logger_.error("peer", "writing a handoff from {} failed: {}", from_node, error.message);
    return builder.error(0, PeerKind::Reply, errc::internal, "the store refused the records");
  }
  logger_.info("peer", "took over {} record(s) from {}", count, from_node);
  auto& fbb = builder.fbb();
  return builder.finish_owned(0, PeerKind::Reply, peer_wire::CreateHandoffAck(fbb, count));
}

}  // namespace qim::node
