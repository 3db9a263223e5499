// ClusterPeers' asking side (service::ClusterQueries): forwarded requests, pushes to other
// homes, and the blocking questions the service asks while it serves a request.
#include <asio/use_future.hpp>

#include <future>

#include "node/cluster_peers.h"
#include "node/user_parts_codec.h"
#include "proto/frame.h"
#include "proto/peer_frame.h"

namespace qim::node {
namespace {

// True on the thread that runs `executor` (when it is an io_context's, as the control one is).
bool running_on(const asio::any_io_executor& executor) {
  const auto* context = executor.target<asio::io_context::executor_type>();
  return context != nullptr && context->running_in_this_thread();
}

}  // namespace

using peer_wire::PeerKind;

void ClusterPeers::forward(const std::string& node, const service::Caller& caller,
                           std::span<const std::uint8_t> request,
                           std::function<void(service::Result<std::vector<std::uint8_t>>)> done) {
  proto::PeerFrameBuilder builder(request.size() + 128);
  auto& fbb = builder.fbb();
  auto user = fbb.CreateString(caller.user);
  auto device = fbb.CreateString(caller.device);
  auto bytes = fbb.CreateVector(request.data(), request.size());
  auto payload = builder.finish_owned(
      0, PeerKind::Request, peer_wire::CreateForward(fbb, user, device, caller.session_id, bytes));
  // Spawned in call order on the links' executor, so one session's requests leave in order.
  asio::co_spawn(
      executor_,
      [this, node, payload = std::move(payload),
       done = std::move(done)]() mutable -> asio::awaitable<void> {
        using R = service::Result<std::vector<std::uint8_t>>;
        auto reply = co_await links_.call(node, std::move(payload), query_timeout_);
        if (!reply.ok()) {
          logger_.debug("peer", "forward to {} failed: {}", node, reply.error.message);
          done(R::failure(errc::unavailable, "the home of this request's data (" + node +
                                                 ") did not answer: " + reply.error.message));
          co_return;
        }
        const auto* result = reply.value.envelope().body_as_ForwardResult();
        auto frame =
            result != nullptr ? proto::view(result->frame()) : std::span<const std::uint8_t>();
        if (frame.size() < 8) {
          done(R::failure(errc::internal, "the home of this request's data sent no answer"));
          co_return;
        }
        done(R::success(std::vector<std::uint8_t>(frame.begin(), frame.end())));
      },
      asio::detached);
}

void ClusterPeers::push_to(const std::string& node, std::span<const std::uint8_t> frame,
                           service::PushTarget target) {
  proto::PeerFrameBuilder builder(frame.size() + 64 + target.users.size() * 16);
  auto& fbb = builder.fbb();
  auto bytes = fbb.CreateVector(frame.data(), frame.size());
  auto users = fbb.CreateVectorOfStrings(target.users);
  auto except = fbb.CreateString(target.except_user);
  auto payload = builder.finish_owned(
      0, PeerKind::Oneway,
      peer_wire::CreatePushBatch(fbb, bytes, users, except, target.except_session));
  if (!links_.post(node, std::move(payload))) {
    // The users resync by seq when they next sync; the message itself is stored.
    logger_.warn("peer", "a push to {} ({} user(s)) was dropped: the link is full or down", node,
                 target.users.size());
  }
}

void ClusterPeers::run_serially(std::function<void()> work) {
  asio::post(serial_, std::move(work));
}

net::PeerCallResult ClusterPeers::call_blocking(const std::string& node,
                                                std::vector<std::uint8_t> request) {
  if (running_on(executor_)) {
    // Waiting here would stop the thread that must deliver the answer.
    return net::PeerCallResult::failure(errc::internal,
                                        "a blocking peer call on the links' executor");
  }
  std::future<net::PeerCallResult> answer = asio::co_spawn(
      executor_, links_.call(node, std::move(request), query_timeout_), asio::use_future);
  try {
    return answer.get();
  } catch (const std::exception& failure) {
    return net::PeerCallResult::failure(errc::unavailable, failure.what());
  }
}

service::Result<service::UserTally> ClusterPeers::user_tally(const std::string& node,
                                                             std::string_view user) {
  using R = service::Result<service::UserTally>;
  proto::PeerFrameBuilder builder;
  auto name = builder.fbb().CreateString(user);
  auto reply = call_blocking(
      node,
      builder.finish_owned(0, PeerKind::Request, peer_wire::CreateUserFacts(builder.fbb(), name)));
  if (!reply.ok()) {
    return R::failure(
        reply.error.code == errc::internal ? errc::internal : errc::unavailable,
        "node " + node + " did not answer about " + std::string(user) + ": " + reply.error.message);
  }
  const auto* facts = reply.value.envelope().body_as_UserFactsResult();
  if (facts == nullptr) return R::failure(errc::internal, "node " + node + " answered oddly");
  return R::success(
      service::UserTally{facts->exists(), facts->disabled(), facts->friends(), facts->groups()});
}

std::vector<service::UserParts> ClusterPeers::user_parts_elsewhere(std::string_view user,
                                                                   service::UserPart part) {
  auto placement = placement_.placement();
  std::vector<std::pair<std::string, std::future<net::PeerCallResult>>> calls;
  if (running_on(executor_)) return {};
  for (const route::NodeInfo& node : placement->members()) {
    if (node.name == placement->self_name() || !node.up) continue;
    proto::PeerFrameBuilder builder;
    auto name = builder.fbb().CreateString(user);
    auto request = builder.finish_owned(
        0, PeerKind::Request,
        peer_wire::CreateUserParts(builder.fbb(), name, static_cast<peer_wire::UserPart>(part)));
    // Every node is asked before any answer is awaited.
    calls.emplace_back(
        node.name,
        asio::co_spawn(executor_, links_.call(node.name, std::move(request), query_timeout_),
                       asio::use_future));
  }
  std::vector<service::UserParts> parts;
  for (auto& [node, call] : calls) {
    net::PeerCallResult reply = net::PeerCallResult::failure(errc::unavailable, "no answer");
    try {
      reply = call.get();
    } catch (const std::exception& failure) {
      reply = net::PeerCallResult::failure(errc::unavailable, failure.what());
    }
    const auto* result = reply.ok() ? reply.value.envelope().body_as_UserPartsResult() : nullptr;
    if (result == nullptr) {
      logger_.warn("peer", "{}'s list: no part from {}: {}", user, node,
                   reply.ok() ? "an unexpected reply" : reply.error.message);
      continue;
    }
    parts.push_back(decode_user_parts(*result));
  }
  return parts;
}

service::Result<std::vector<std::string>> ClusterPeers::online_among(
    const std::string& node, std::vector<std::string> users) {
  using R = service::Result<std::vector<std::string>>;
  proto::PeerFrameBuilder builder(64 + users.size() * 16);
  auto vector = builder.fbb().CreateVectorOfStrings(users);
  auto reply = call_blocking(
      node, builder.finish_owned(0, PeerKind::Request,
                                 peer_wire::CreateOnlineAmong(builder.fbb(), vector)));
  if (!reply.ok()) return R::failure(std::move(reply.error));
  const auto* result = reply.value.envelope().body_as_OnlineAmongResult();
  if (result == nullptr) return R::failure(errc::internal, "node " + node + " answered oddly");
  std::vector<std::string> online;
  if (result->online() != nullptr) {
    for (const auto* user : *result->online())
      online.emplace_back(proto::view(user));
  }
  return R::success(std::move(online));
}

service::Result<service::ConversationState> ClusterPeers::conversation_head(
    const std::string& node, std::string_view user, std::string_view conversation) {
  using R = service::Result<service::ConversationState>;
  proto::PeerFrameBuilder builder;
  auto& fbb = builder.fbb();
  auto user_offset = fbb.CreateString(user);
  auto conversation_offset = fbb.CreateString(conversation);
  auto reply = call_blocking(
      node, builder.finish_owned(0, PeerKind::Request,
                                 peer_wire::CreateConvHead(fbb, user_offset, conversation_offset)));
  if (!reply.ok()) return R::failure(std::move(reply.error));
  const auto* result = reply.value.envelope().body_as_ConvHeadResult();
  if (result == nullptr) return R::failure(errc::internal, "node " + node + " answered oddly");
  service::ConversationState state;
  state.conversation.assign(conversation);
  state.head_seq = result->head_seq();
  state.first_seq = result->first_seq();
  return R::success(std::move(state));
}

}  // namespace qim::node
