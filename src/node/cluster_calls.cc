// ClusterPeers' asking side (service::ClusterQueries): forwarded requests, pushes to other
// homes, and the blocking questions the service asks while it serves a request.
#include <asio/use_future.hpp>

#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>

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

namespace {

// The most the answer to a forwarded request may take: the batches it travels in are budgeted
// with it, so that all the answers to one batch fit one peer frame.
std::size_t reply_estimate(std::span<const std::uint8_t> request, std::size_t max_frame_bytes) {
  // The session verified the request before forwarding it.
  switch (wire::GetEnvelope(request.data())->body_type()) {
    case wire::Body::Send:
    case wire::Body::Ack:
    case wire::Body::FriendRequest:
    case wire::Body::FriendAccept:
    case wire::Body::FriendDecline:
    case wire::Body::FriendRemove:
    case wire::Body::GroupCreate:
    case wire::Body::GroupAdd:
    case wire::Body::GroupRemove:
    case wire::Body::GroupSetRole:
    case wire::Body::GroupLeave:
    case wire::Body::GroupDissolve:
      return 1024;  // an acknowledgement, Ok or an Error
    default:
      return max_frame_bytes;  // a page of messages or members
  }
}

}  // namespace

namespace {
// DeferFlushes: where the current thread collects the flushes it defers, if it does.
thread_local std::vector<std::string>* deferred_flushes = nullptr;
}  // namespace

ClusterPeers::DeferFlushes::DeferFlushes(std::vector<std::string>& nodes)
    : previous(deferred_flushes) {
  deferred_flushes = &nodes;
}

ClusterPeers::DeferFlushes::~DeferFlushes() {
  deferred_flushes = previous;
}

void ClusterPeers::schedule_flush(const std::string& node) {
  if (deferred_flushes != nullptr) {
    deferred_flushes->push_back(node);
  } else {
    asio::post(sessions_, [this, node] { flush(node); });
  }
}

ClusterPeers::Peer& ClusterPeers::peer_for(const std::string& node) {
  std::lock_guard lock(peers_mutex_);
  auto& peer = peers_[node];
  if (!peer) peer = std::make_unique<Peer>(links_.restart_epoch());
  return *peer;
}

void ClusterPeers::forward(const std::string& node, const service::Caller& caller,
                           std::span<const std::uint8_t> request,
                           std::function<void(service::Result<std::vector<std::uint8_t>>)> done) {
  using R = service::Result<std::vector<std::uint8_t>>;
  std::size_t estimate = reply_estimate(request, service_.options().max_frame_bytes);
  // Queued in call order, so one session's requests leave (and run there) in order.
  switch (peer_for(node).outbox.add_forward(caller, request, estimate, std::move(done))) {
    case net::PeerOutbox::Added::first:
      schedule_flush(node);
      return;
    case net::PeerOutbox::Added::queued:
      return;
    case net::PeerOutbox::Added::refused:
      done(R::failure(errc::unavailable,
                      "too many requests are waiting for the home of this "
                      "request's data (" +
                          node + "); retry later"));
      return;
  }
}

void ClusterPeers::push_to(const std::string& node, std::span<const std::uint8_t> frame,
                           service::PushTarget target) {
  auto placement = placement_.placement();
  const route::NodeInfo* info = placement->find(node);
  if (info != nullptr && !info->up) {
    // Declared dead, perhaps only paused: nothing is sent, but the number it would have had is
    // used up, so the node notices the loss when it is back (by the tail the flush starts).
    pushes_dropped_.fetch_add(1, std::memory_order_relaxed);
    if (peer_for(node).outbox.skip_push()) schedule_flush(node);
    return;
  }
  switch (peer_for(node).outbox.add_push(frame, target.users, target.except_user,
                                         target.except_session, target.forwarded)) {
    case net::PeerOutbox::Added::first:
      schedule_flush(node);
      return;
    case net::PeerOutbox::Added::queued:
      return;
    case net::PeerOutbox::Added::refused:
      // The message itself is stored. The push used up a number, so the node sees the gap and
      // tells its sessions to resync; the flush already scheduled posts what is queued and
      // the tail that covers this number.
      pushes_dropped_.fetch_add(1, std::memory_order_relaxed);
      logger_.warn("peer", "a push to {} ({} user(s)) was dropped: too much is waiting for it",
                   node, target.users.size());
      return;
  }
}

void ClusterPeers::flush(const std::string& node) {
  Peer& peer = peer_for(node);
  net::PeerOutbox::Pushes pushes = peer.outbox.take_pushes();
  for (std::size_t i = 0; i < pushes.messages.size(); ++i) {
    if (!links_.post(node, std::move(pushes.messages[i]))) {
      // The messages themselves are stored; the number this one carried never arrives, so the
      // node tells its sessions to resync.
      pushes_dropped_.fetch_add(pushes.pushes_in[i], std::memory_order_relaxed);
      logger_.warn("peer", "{} push(es) to {} were dropped: the link is full or down",
                   pushes.pushes_in[i], node);
    }
  }
  if (pushes.last_number > peer.last_number_sent.load(std::memory_order_relaxed)) {
    peer.last_number_sent.store(pushes.last_number, std::memory_order_release);
    if (!peer.tail_running.exchange(true)) {
      asio::post(executor_, [this, node, &peer] { start_tail(node, peer); });
    }
  }
  if (peer.outbox.has_forwards()) {
    asio::post(executor_, [this, node, &peer] {
      if (peer.forward_batches_in_flight == 0) send_forwards(node, peer);
    });
  }
}

void ClusterPeers::send_forwards(const std::string& node, Peer& peer) {
  // Spawned in order on this executor; each is queued on the link before it first yields, so
  // the batches leave in order.
  auto taken = peer.outbox.take_forwards();
  for (auto& batch : taken) {
    ++peer.forward_batches_in_flight;
    asio::co_spawn(executor_, call_forwards(node, peer, std::move(batch)), asio::detached);
  }
}

asio::awaitable<void> ClusterPeers::call_forwards(std::string node, Peer& peer,
                                                  net::PeerOutbox::ForwardBatch batch) {
  auto reply = co_await links_.call(node, std::move(batch.request), query_timeout_);
  if (!reply.ok()) {
    logger_.debug("peer", "forward to {} failed: {}", node, reply.error.message);
  }
  // Handed to the sessions from their thread, all at once.
  asio::post(sessions_, [node, batch = std::move(batch), reply = std::move(reply)]() mutable {
    if (!reply.ok()) {
      net::PeerOutbox::answer(
          batch, nullptr,
          Error{errc::unavailable, "the home of this request's data (" + node +
                                       ") did not answer: " + reply.error.message});
    } else {
      net::PeerOutbox::answer(
          batch, reply.value.envelope().body_as_ForwardBatchResult(),
          Error{errc::internal, "the home of this request's data (" + node + ") sent no answer"});
    }
  });
  // The forwards that queued up meanwhile leave now, together.
  if (--peer.forward_batches_in_flight == 0) send_forwards(node, peer);
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
  if (facts->exists()) known_users_.add(user);
  return R::success(service::UserTally{facts->exists(), facts->disabled(), facts->friends(),
                                       facts->groups(), facts->account_unreadable()});
}

service::Result<std::vector<service::UserTally>> ClusterPeers::user_tallies(
    const std::string& node, std::span<const std::string> users) {
  using R = service::Result<std::vector<service::UserTally>>;
  proto::PeerFrameBuilder builder(64 + users.size() * 24);
  auto vector = builder.fbb().CreateVectorOfStrings(users.begin(), users.end());
  auto reply = call_blocking(
      node, builder.finish_owned(0, PeerKind::Request,
                                 peer_wire::CreateUserFactsBatch(builder.fbb(), vector)));
  if (!reply.ok()) {
    return R::failure(reply.error.code == errc::internal ? errc::internal : errc::unavailable,
                      "node " + node + " did not answer about " + std::to_string(users.size()) +
                          " user(s): " + reply.error.message);
  }
  const auto* result = reply.value.envelope().body_as_UserFactsBatchResult();
  if (result == nullptr || result->facts() == nullptr || result->facts()->size() != users.size()) {
    return R::failure(errc::internal, "node " + node + " answered oddly");
  }
  std::vector<service::UserTally> tallies;
  tallies.reserve(users.size());
  for (flatbuffers::uoffset_t i = 0; i < result->facts()->size(); ++i) {
    const auto* facts = result->facts()->Get(i);
    if (facts->exists()) known_users_.add(users[i]);
    tallies.push_back(service::UserTally{facts->exists(), facts->disabled(), facts->friends(),
                                         facts->groups(), facts->account_unreadable()});
  }
  return R::success(std::move(tallies));
}

std::vector<service::UserParts> ClusterPeers::user_parts_elsewhere(
    std::string_view user, service::UserPart part, const service::PartitionCoverage& covered) {
  if (running_on(executor_)) return {};
  auto placement = placement_.placement();
  // The answers as they come; outlives this call (the calls not awaited finish on their own).
  struct Answers {
    std::mutex mutex;
    std::condition_variable arrived;
    std::vector<std::pair<std::string, net::PeerCallResult>> replies;
  };
  auto answers = std::make_shared<Answers>();
  std::size_t asked = 0;
  for (const route::NodeInfo& node : placement->members()) {
    if (node.name == placement->self_name() || !node.up) continue;
    proto::PeerFrameBuilder builder;
    auto name = builder.fbb().CreateString(user);
    auto request = builder.finish_owned(
        0, PeerKind::Request,
        peer_wire::CreateUserParts(builder.fbb(), name, static_cast<peer_wire::UserPart>(part)));
    // Every node is asked before any answer is awaited.
    asio::co_spawn(
        executor_, links_.call(node.name, std::move(request), query_timeout_),
        [answers, node = node.name](std::exception_ptr failure, net::PeerCallResult reply) {
          if (failure) reply = net::PeerCallResult::failure(errc::unavailable, "the call failed");
          std::lock_guard lock(answers->mutex);
          answers->replies.emplace_back(node, std::move(reply));
          answers->arrived.notify_one();
        });
    ++asked;
  }
  service::PartitionCoverage coverage = covered;
  std::vector<service::UserParts> parts;
  std::size_t taken = 0;
  while (taken < asked && !coverage.complete()) {
    std::string node;
    net::PeerCallResult reply;
    {
      // Bounded: every call ends by its own timeout.
      std::unique_lock lock(answers->mutex);
      answers->arrived.wait(lock, [&] { return answers->replies.size() > taken; });
      node = std::move(answers->replies[taken].first);
      reply = std::move(answers->replies[taken].second);
      ++taken;
    }
    const auto* result = reply.ok() ? reply.value.envelope().body_as_UserPartsResult() : nullptr;
    if (result == nullptr) {
      logger_.warn("peer", "{}'s list: no part from {}: {}", user, node,
                   reply.ok() ? "an unexpected reply" : reply.error.message);
      continue;
    }
    parts.push_back(decode_user_parts(*result));
    coverage.add(parts.back().partitions);
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
