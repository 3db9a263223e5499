#include "node/handoff_receiver.h"

#include <exception>

#include "node/handoff_store.h"
#include "proto/frame.h"
#include "proto/peer_frame.h"
#include "service/placement_keys.h"

namespace qim::node {

using asio::use_awaitable;
using peer_wire::PeerKind;

asio::awaitable<std::vector<std::uint8_t>> HandoffReceiver::accept(
    std::string_view from_node, const peer_wire::Handoff& handoff) {
  std::string from(from_node);
  auto caller = co_await asio::this_coro::executor;
  // Off the links' executor for the store; back before anything else touches the caller's
  // state, also when the blocking part fails.
  co_await asio::post(asio::bind_executor(blocking_, use_awaitable));
  std::vector<std::uint8_t> reply;
  bool stray = false;
  try {
    reply = write(from, handoff, stray);
  } catch (const std::exception& failure) {
    logger_.error("peer", "writing a handoff from {} failed: {}", from, failure.what());
    reply.clear();
  }
  co_await asio::post(asio::bind_executor(caller, use_awaitable));
  if (reply.empty()) {
    proto::PeerFrameBuilder builder;
    co_return builder.error(0, PeerKind::Reply, errc::internal, "the records were not written");
  }
  if (stray && on_stray_) on_stray_();
  co_return reply;
}

std::vector<std::uint8_t> HandoffReceiver::write(const std::string& from_node,
                                                 const peer_wire::Handoff& handoff, bool& stray) {
  proto::PeerFrameBuilder builder;
  auto refuse = [&](std::string message) {
    logger_.warn("peer", "refused a handoff from {}: {}", from_node, message);
    return builder.error(0, PeerKind::Reply, errc::invalid_argument, message);
  };
  std::vector<ReceivedRecord> records;
  if (handoff.records() != nullptr) {
    records.reserve(handoff.records()->size());
    std::size_t index = 0;
    for (const auto* record : *handoff.records()) {
      auto column = static_cast<store::Column>(record->column());
      if (record->column() >= store::column_count || column == store::Column::meta) {
        return refuse(fmt::format("records[{}].column: {} is not a column that is handed off",
                                  index, record->column()));
      }
      auto key = proto::view(record->key());
      auto value = proto::view(record->value());
      if (key.empty() || key.size() > 1024) {
        return refuse(fmt::format("records[{}].key: 1 to 1024 bytes", index));
      }
      std::string_view key_text(reinterpret_cast<const char*>(key.data()), key.size());
      if (!service::placement_key(column, key_text)) {
        return refuse(fmt::format("records[{}].key: not a key of column {}", index,
                                  store::column_name(column)));
      }
      records.push_back(
          {column, key_text,
           std::string_view(reinterpret_cast<const char*>(value.data()), value.size())});
      ++index;
    }
  }
  ApplyResult result;
  {
    std::lock_guard lock(write_mutex_);
    // Durable before the ack: the sender deletes its copy when it gets one.
    result = apply_handoff(kv_, records, from_node, logger_);
  }
  if (result.error) {
    logger_.error("peer", "writing a handoff from {} failed: {}", from_node, result.error.message);
    return builder.error(0, PeerKind::Reply, errc::internal, "the store refused the records");
  }
  conflicts_.fetch_add(result.conflicts, std::memory_order_relaxed);
  if (on_written_) {
    std::string last;
    for (const ReceivedRecord& record : records) {
      std::string key = *service::placement_key(record.column, record.key);
      if (key != last) on_written_(key);
      last = std::move(key);
    }
  }
  auto placement = tracker_.placement();
  for (const ReceivedRecord& record : records) {
    if (!placement->is_local(*service::placement_key(record.column, record.key))) {
      stray = true;
      break;
    }
  }
  logger_.info("peer", "took over {} record(s) from {}{}", result.applied, from_node,
               result.conflicts == 0
                   ? std::string()
                   : fmt::format(", kept {} of ours that differ", result.conflicts));
  if (stray) {
    logger_.info("peer", "some records from {} belong to another node here; passing them on",
                 from_node);
  }
  auto& fbb = builder.fbb();
  return builder.finish_owned(0, PeerKind::Reply, peer_wire::CreateHandoffAck(fbb, result.applied));
}

void HandoffReceiver::done(std::string_view from_node, const peer_wire::HandoffDone& message) {
  tracker_.handoff_done(from_node, message.layout());
}

}  // namespace qim::node
