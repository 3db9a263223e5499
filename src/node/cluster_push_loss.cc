// ClusterPeers' push-loss detection: PushTail requests after numbered pushes, the receiving
// side's check of the numbers (route/push_gaps.h), and the Resync rounds that follow a gap.
#include <asio/experimental/as_tuple.hpp>

#include <algorithm>

#include <fmt/core.h>

#include "node/cluster_peers.h"
#include "proto/frame.h"
#include "proto/peer_frame.h"
#include "service/push_frames.h"

namespace qim::node {
namespace {

using peer_wire::PeerKind;

// A tail waits this long after the pushes that started it, so a burst is confirmed once.
constexpr std::chrono::milliseconds tail_settle{200};
// While the node does not answer, tails are repeated with backoff up to this delay...
constexpr std::chrono::milliseconds tail_backoff_max{5'000};
// ...and given up after this many failures in a row (about five minutes): a node silent that
// long has been declared dead and, when it returns, has had its clients reconnect and sync.
constexpr int tail_failures_max = 60;
// Resync rounds to this node's sessions are at least this far apart.
constexpr std::chrono::milliseconds resync_interval_min{1'000};
// A Resync asks clients to spread their syncs over up to this long, by the number of users
// online (two per millisecond), so a large node is not hit by all of them at once.
constexpr std::uint32_t resync_spread_ms_max = 5'000;

}  // namespace

void ClusterPeers::start_tail(const std::string& node, Peer& peer) {
  asio::co_spawn(executor_, send_tails(node, peer), asio::detached);
}

asio::awaitable<void> ClusterPeers::send_tails(std::string node, Peer& peer) {
  asio::steady_timer timer(executor_);
  auto delay = tail_settle;
  int failures = 0;
  for (;;) {
    timer.expires_after(delay);
    co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    std::uint64_t number = peer.last_number_sent.load(std::memory_order_acquire);
    if (number == peer.tail_confirmed) {
      // Done, unless flush() posted more after the load and saw the flag still set.
      peer.tail_running.store(false);
      if (peer.last_number_sent.load(std::memory_order_acquire) == number ||
          peer.tail_running.exchange(true)) {
        co_return;
      }
      delay = tail_settle;
      continue;
    }
    proto::PeerFrameBuilder builder(128);
    auto request = builder.finish_owned(
        0, PeerKind::Request,
        peer_wire::CreatePushTail(builder.fbb(), links_.restart_epoch(), number));
    auto reply = co_await links_.call(node, std::move(request), query_timeout_);
    if (reply.ok() || reply.error.code == errc::unexpected_message) {
      // Confirmed (a node of an older version does not know PushTail: nothing to confirm).
      peer.tail_confirmed = number;
      failures = 0;
      delay = tail_settle;
      continue;
    }
    if (reply.error.code == net::peer_shutting_down) co_return;
    if (++failures >= tail_failures_max) {
      logger_.warn("peer",
                   "{} has not confirmed its pushes up to #{} for {} tries ({}); giving up on it",
                   node, number, failures, reply.error.message);
      peer.tail_confirmed = number;
      failures = 0;
      continue;
    }
    delay = std::min(std::max(delay * 2, std::chrono::milliseconds(500)), tail_backoff_max);
  }
}

void ClusterPeers::check_push_number(std::string_view from_node,
                                     const peer_wire::PeerEnvelope& message) {
  const auto* pushes = message.body_as_PushBatches();
  if (pushes == nullptr) return;
  std::uint64_t expected = push_gaps_.expected(from_node);
  if (!push_gaps_.on_batch(from_node, pushes->sender_epoch(), pushes->number())) return;
  push_gaps_seen_.fetch_add(1, std::memory_order_relaxed);
  resync_sessions(expected != 0 && pushes->number() > expected
                      ? fmt::format("pushes #{}-#{} from {} were lost", expected,
                                    pushes->number() - 1, from_node)
                      : fmt::format("pushes from {} (restarted) were lost", from_node));
}

std::vector<std::uint8_t> ClusterPeers::answer_push_tail(std::string_view from_node,
                                                         const peer_wire::PushTail& tail) {
  std::uint64_t expected = push_gaps_.expected(from_node);
  bool gap = push_gaps_.on_tail(from_node, tail.sender_epoch(), tail.number());
  if (gap) {
    push_gaps_seen_.fetch_add(1, std::memory_order_relaxed);
    resync_sessions(
        expected != 0 && tail.number() >= expected
            ? fmt::format("pushes #{}-#{} from {} were lost", expected, tail.number(), from_node)
            : fmt::format("pushes from {} (restarted) were lost", from_node));
  }
  proto::PeerFrameBuilder builder(64);
  return builder.finish_owned(0, PeerKind::Reply, peer_wire::CreatePushTailAck(builder.fbb(), gap));
}

void ClusterPeers::resync_sessions(std::string reason) {
  if (resync_reason_.empty()) {
    resync_reason_ = std::move(reason);
  } else if (resync_reason_.size() < 200) {
    resync_reason_ += "; " + reason;
  }
  if (resync_scheduled_) return;
  auto due = last_resync_ + resync_interval_min;
  if (std::chrono::steady_clock::now() >= due) {
    push_resync();
    return;
  }
  resync_scheduled_ = true;
  resync_timer_.expires_at(due);
  resync_timer_.async_wait([this](std::error_code error) {
    resync_scheduled_ = false;
    if (!error) push_resync();
  });
}

void ClusterPeers::push_resync() {
  last_resync_ = std::chrono::steady_clock::now();
  std::string reason = std::exchange(resync_reason_, std::string());
  std::uint64_t online = service_.online_users({}, 1).total;
  auto spread_ms =
      static_cast<std::uint32_t>(std::min<std::uint64_t>(online / 2, resync_spread_ms_max));
  proto::FrameBuilder builder(256);
  std::size_t sessions =
      service_.push_to_everyone_here(service::encode_resync(builder, reason, spread_ms));
  resync_rounds_.fetch_add(1, std::memory_order_relaxed);
  logger_.warn("peer", "{}: told {} session(s) here to resync (spread over {} ms)", reason,
               sessions, spread_ms);
}

}  // namespace qim::node
