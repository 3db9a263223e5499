#include "node/cluster_peers.h"

#include <memory>

#include "node/user_parts_codec.h"
#include "session/detached.h"

#include "proto/frame.h"
#include "proto/peer_frame.h"

namespace qim::node {

using peer_wire::PeerKind;

ClusterPeers::ClusterPeers(asio::any_io_executor executor, asio::any_io_executor blocking,
                           net::PeerLinks& links, const service::PlacementSource& placement,
                           service::ImService& service, HandoffReceiver& handoff, AdminRelay& admin,
                           core::Logger& logger, std::chrono::milliseconds query_timeout)
    : executor_(std::move(executor)),
      blocking_(blocking),
      links_(links),
      placement_(placement),
      service_(service),
      handoff_(handoff),
      admin_(admin),
      logger_(logger),
      query_timeout_(query_timeout),
      serial_(asio::make_strand(blocking)) {}

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
  if (const auto* forward = request.body_as_Forward()) {
    co_return co_await serve_forward(from_node, *forward);
  }
  if (const auto* facts = request.body_as_UserFacts()) {
    service::UserTally tally = service_.tally_here(proto::view(facts->user()));
    co_return builder.finish_owned(
        0, PeerKind::Reply,
        peer_wire::CreateUserFactsResult(builder.fbb(), tally.exists, tally.disabled, tally.friends,
                                         tally.groups));
  }
  if (const auto* parts = request.body_as_UserParts()) {
    co_return answer_parts(*parts);
  }
  if (const auto* head = request.body_as_ConvHead()) {
    auto state = service_.conversation_head_here(proto::view(head->user()),
                                                 proto::view(head->conversation()));
    if (!state.ok()) {
      co_return builder.error(0, PeerKind::Reply, state.error.code, state.error.message);
    }
    co_return builder.finish_owned(0, PeerKind::Reply,
                                   peer_wire::CreateConvHeadResult(
                                       builder.fbb(), state.value.head_seq, state.value.first_seq));
  }
  if (const auto* among = request.body_as_OnlineAmong()) {
    std::vector<std::string> users;
    if (among->users() != nullptr) {
      users.reserve(among->users()->size());
      for (const auto* user : *among->users())
        users.emplace_back(proto::view(user));
    }
    std::vector<std::string> online = service_.online_among(users);
    auto& fbb = builder.fbb();
    auto vector = fbb.CreateVectorOfStrings(online);
    co_return builder.finish_owned(0, PeerKind::Reply,
                                   peer_wire::CreateOnlineAmongResult(fbb, vector));
  }
  if (const auto* stats = request.body_as_NodeStatsQuery()) co_return co_await admin_.serve(*stats);
  if (const auto* op = request.body_as_AdminUserOp()) co_return co_await admin_.serve(*op);
  if (const auto* group = request.body_as_AdminGroupQuery())
    co_return co_await admin_.serve(*group);
  if (const auto* handoff = request.body_as_Handoff()) {
    co_return co_await handoff_.accept(from_node, *handoff);
  }
  logger_.debug("peer", "{} sent a request this node does not serve (body {})", from_node,
                static_cast<int>(request.body_type()));
  co_return builder.error(0, PeerKind::Reply, errc::unexpected_message,
                          "body: a request this node does not serve");
}

asio::awaitable<std::vector<std::uint8_t>> ClusterPeers::serve_forward(
    std::string_view from_node, const peer_wire::Forward& forward) {
  auto strand = forward_strands_.find(std::string(from_node));
  if (strand == forward_strands_.end()) {
    strand = forward_strands_.emplace(std::string(from_node), asio::make_strand(blocking_)).first;
  }
  std::string user(proto::view(forward.user())), device(proto::view(forward.device()));
  auto bytes = proto::view(forward.request());
  std::vector<std::uint8_t> request(bytes.begin(), bytes.end());
  service::Caller caller{user, device, forward.session_id()};
  // Posted to the strand now, before this coroutine yields, so requests from one node run in
  // the order they arrived.
  std::vector<std::uint8_t> frame = co_await asio::co_spawn(
      strand->second,
      [this, &caller, &request]() -> asio::awaitable<std::vector<std::uint8_t>> {
        co_return session::serve_detached(service_, caller, request);
      },
      asio::use_awaitable);
  proto::PeerFrameBuilder builder(frame.size() + 64);
  auto& fbb = builder.fbb();
  auto vector = fbb.CreateVector(frame);
  co_return builder.finish_owned(0, PeerKind::Reply, peer_wire::CreateForwardResult(fbb, vector));
}

std::vector<std::uint8_t> ClusterPeers::answer_parts(const peer_wire::UserParts& query) {
  auto part = static_cast<std::uint8_t>(query.part());
  if (part > static_cast<std::uint8_t>(service::UserPart::groups)) {
    proto::PeerFrameBuilder builder;
    return builder.error(0, PeerKind::Reply, errc::invalid_argument, "part: unknown");
  }
  auto parts = service_.parts_here(proto::view(query.user()), static_cast<service::UserPart>(part));
  if (!parts.ok()) {
    proto::PeerFrameBuilder builder;
    return builder.error(0, PeerKind::Reply, parts.error.code, parts.error.message);
  }
  return encode_user_parts(parts.value);
}

bool ClusterPeers::before_write() {
  Error error = service_.make_durable();
  if (error) logger_.error("store", "cannot make writes durable: {}", error.message);
  return !error;
}

void ClusterPeers::on_oneway(std::string_view from_node, const peer_wire::PeerEnvelope& message) {
  if (const auto* push = message.body_as_PushBatch()) {
    service::PushTarget target;
    if (push->users() != nullptr) {
      target.users.reserve(push->users()->size());
      for (const auto* user : *push->users())
        target.users.emplace_back(proto::view(user));
    }
    target.except_user.assign(proto::view(push->except_user()));
    target.except_session = push->except_session();
    auto frame = proto::view(push->frame());
    // A frame must at least carry its own length prefix; the sessions' clients verify the rest.
    if (frame.size() < 8) {
      logger_.debug("peer", "{} sent an empty push", from_node);
      return;
    }
    service_.push_here(frame, target);
    return;
  }
  if (const auto* done = message.body_as_HandoffDone()) {
    handoff_.done(from_node, *done);
    return;
  }
  logger_.debug("peer", "{} sent a one-way message this node does not handle (body {})", from_node,
                static_cast<int>(message.body_type()));
}

void ClusterPeers::online_elsewhere(std::string after, std::uint32_t limit,
                                    std::function<void(std::vector<service::OnlinePage>)> done) {
  auto placement = placement_.placement();
  std::vector<std::string> targets;
  for (const route::NodeInfo& node : placement->members()) {
    if (node.name != placement->self_name() && node.up) targets.push_back(node.name);
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
