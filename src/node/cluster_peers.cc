#include "node/cluster_peers.h"

#include <memory>

#include "proto/frame.h"
#include "proto/peer_frame.h"

namespace qim::node {

using peer_wire::PeerKind;

ClusterPeers::ClusterPeers(asio::any_io_executor executor, net::PeerLinks& links,
                           const service::PlacementSource& placement, service::ImService& service,
                           store::Kv& kv, core::Logger& logger,
                           std::chrono::milliseconds query_timeout)
    : executor_(std::move(executor)),
      links_(links),
      placement_(placement),
      service_(service),
      kv_(kv),
      logger_(logger),
      query_timeout_(query_timeout) {}

asio::awaitable<std::vector<std::uint8_t>> ClusterPeers::on_request(
    std::string_view from_node, const peer_wire::PeerEnvelope& request) {
  proto::PeerFrameBuilder builder;
  if (const auto* query = request.body_as_OnlineQuery()) {
    service::OnlinePage page = service_.online_users(proto::view(query->after()), query->limit());
    auto& fbb = builder.fbb();
    std::vector<flatbuffers::Offset<flatbuffers::String>> users;
    users.reserve(page.users.size());
    for (const std::string& user : page.users)
      users.push_back(fbb.CreateString(user));
    auto vector = fbb.CreateVector(users);
    co_return builder.finish_owned(
        0, PeerKind::Reply, peer_wire::CreateOnlineQueryResult(fbb, page.total, vector, page.more));
  }
  if (const auto* handoff = request.body_as_Handoff()) {
    co_return accept_handoff(from_node, *handoff);
  }
  logger_.debug("peer", "{} sent a request this node does not serve (body {})", from_node,
                static_cast<int>(request.body_type()));
  co_return builder.error(0, PeerKind::Reply, errc::unexpected_message,
                          "body: a request this node does not serve");
}

std::vector<std::uint8_t> ClusterPeers::accept_handoff(std::string_view from_node,
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

void ClusterPeers::on_oneway(std::string_view from_node, const peer_wire::PeerEnvelope& message) {
  logger_.debug("peer", "{} sent a one-way message this node does not handle (body {})", from_node,
                static_cast<int>(message.body_type()));
}

void ClusterPeers::online_elsewhere(std::string after, std::uint32_t limit,
                                    std::function<void(std::vector<service::OnlinePage>)> done) {
  auto placement = placement_.placement();
  std::vector<std::string> targets;
  for (const route::NodeInfo& node : placement->members()) {
    if (node.name != placement->self_name()) targets.push_back(node.name);
  }
  if (targets.empty()) return done({});
  // Ask every other node at once; each call ends by its deadline, so `done` runs exactly once.
  // `outstanding` is set before any call starts, and only the calls touch the gather after
  // that, one at a time on the links' executor, so it needs no lock.
  struct Gather {
    std::vector<service::OnlinePage> pages;
    std::size_t outstanding = 0;
    std::function<void(std::vector<service::OnlinePage>)> done;
  };
  auto gather = std::make_shared<Gather>();
  gather->done = std::move(done);
  gather->outstanding = targets.size();
  proto::PeerFrameBuilder builder;
  for (std::string& name : targets) {
    builder.reset();
    auto after_offset = builder.fbb().CreateString(after);
    auto request = builder.finish_owned(
        0, PeerKind::Request, peer_wire::CreateOnlineQuery(builder.fbb(), after_offset, limit));
    asio::co_spawn(
        executor_,
        [this, gather, name = std::move(name),
         request = std::move(request)]() mutable -> asio::awaitable<void> {
          auto reply = co_await links_.call(name, std::move(request), query_timeout_);
          const peer_wire::OnlineQueryResult* result =
              reply.ok() ? reply.value.envelope().body_as_OnlineQueryResult() : nullptr;
          if (result != nullptr) {
            service::OnlinePage page;
            page.total = result->total();
            page.more = result->more();
            if (result->users() != nullptr) {
              for (const auto* user : *result->users())
                page.users.emplace_back(proto::view(user));
            }
            gather->pages.push_back(std::move(page));
          } else {
            logger_.warn("peer", "online users: no answer from {}: {}", name,
                         reply.ok() ? "an unexpected reply" : reply.error.message);
          }
          if (--gather->outstanding == 0) gather->done(std::move(gather->pages));
        },
        asio::detached);
  }
}

}  // namespace qim::node
