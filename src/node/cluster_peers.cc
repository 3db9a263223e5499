#include "node/cluster_peers.h"

#include <memory>

#include "proto/frame.h"
#include "proto/peer_frame.h"

namespace qim::node {

using peer_wire::PeerKind;

ClusterPeers::ClusterPeers(asio::any_io_executor executor, net::PeerLinks& links,
                           const service::PlacementSource& placement, service::ImService& service,
                           store::Kv& kv, HandoffReceiver& handoff, core::Logger& logger,
                           std::chrono::milliseconds query_timeout)
    : executor_(std::move(executor)),
      links_(links),
      placement_(placement),
      service_(service),
      kv_(kv),
      handoff_(handoff),
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
    co_return handoff_.accept(from_node, *handoff);
  }
  logger_.debug("peer", "{} sent a request this node does not serve (body {})", from_node,
                static_cast<int>(request.body_type()));
  co_return builder.error(0, PeerKind::Reply, errc::unexpected_message,
                          "body: a request this node does not serve");
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
