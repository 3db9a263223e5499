#include "node/rebalancer.h"

#include <asio/experimental/as_tuple.hpp>

#include <exception>

#include "node/handoff_store.h"
#include "proto/frame.h"
#include "proto/peer_frame.h"
#include "route/readiness.h"

namespace qim::node {
namespace {

using asio::use_awaitable;
// `co_await asio::post(asio::bind_executor(e, use_awaitable))` resumes the coroutine on `e`:
// store work hops to the blocking pool and back, so the control thread (gossip) never waits
// on the disk.

constexpr auto handoff_call_timeout = std::chrono::seconds(10);
constexpr auto retry_delay = std::chrono::seconds(2);

// The accounts and cursors of a user are what its sessions need at the new home.
bool follows_sessions(std::uint8_t column) {
  return column == static_cast<std::uint8_t>(store::Column::accounts) ||
         column == static_cast<std::uint8_t>(store::Column::cursors);
}

}  // namespace

Rebalancer::Rebalancer(asio::any_io_executor control, asio::any_io_executor blocking, store::Kv& kv,
                       net::PeerLinks& peers, PlacementTracker& placement,
                       service::ImService& service, core::Logger& logger)
    : control_(control),
      blocking_(std::move(blocking)),
      kv_(kv),
      peers_(peers),
      placement_(placement),
      service_(service),
      logger_(logger),
      idle_(control),
      repeat_(control) {}

void Rebalancer::placement_changed() {
  if (stopping_) return;
  if (running_) {
    again_ = true;
    return;
  }
  running_ = true;
  asio::co_spawn(control_, run_loop(), [this](std::exception_ptr exception) {
    if (exception) {
      try {
        std::rethrow_exception(exception);
      } catch (const std::exception& failure) {
        logger_.error("route", "handoff failed: {}", failure.what());
      }
    }
    running_ = false;
    idle_.cancel();
  });
}

asio::awaitable<void> Rebalancer::run_loop() {
  for (;;) {
    again_ = false;
    co_await hand_off_once();
    if (!again_ || stopping_) co_return;
  }
}

asio::awaitable<void> Rebalancer::hand_off_once() {
  ++generation_;
  repeat_.cancel();
  auto placement = placement_.placement();
  const std::uint64_t layout = route::layout_fingerprint(*placement);
  route::HandoffBatches batches(*placement, max_batch_bytes);
  PassState pass;
  ScanCursor cursor;
  std::size_t unparsable = 0;
  std::size_t home_down = 0;
  bool read_all = true;
  while (!cursor.finished()) {
    if (stopping_) {
      read_all = false;
      break;
    }
    co_await asio::post(asio::bind_executor(blocking_, use_awaitable));
    ScanStop stop;
    try {
      stop = fill_batches(kv_, cursor, batches, scan_step_records);
    } catch (const std::exception& failure) {
      stop.error = Error{errc::internal, failure.what()};
    }
    co_await asio::post(asio::bind_executor(control_, use_awaitable));
    unparsable += stop.unparsable;
    home_down += stop.home_down;
    if (stop.error) {
      logger_.error("route", "handoff: reading the store failed: {}", stop.error.message);
      read_all = false;
      break;
    }
    if (!stop.full_node.empty()) {
      if (!co_await ship(stop.full_node, batches.take(stop.full_node), pass)) {
        batches.fail(stop.full_node);
      }
    }
  }
  for (const std::string& node : batches.pending()) {
    // Not shipped when stopping: that node must then not hear Done.
    if (stopping_ || !co_await ship(node, batches.take(node), pass)) batches.fail(node);
  }
  if (unparsable > 0) {
    logger_.warn("route", "handoff: {} record(s) have keys that place nowhere; they stay here",
                 unparsable);
  }
  if (home_down > 0) {
    logger_.info("route",
                 "handoff: {} record(s) stay here until their home, which is down, is back",
                 home_down);
  }

  bool failed = !read_all;
  bool kept = false;
  std::vector<std::string> told;
  for (const route::NodeInfo& member : placement->members()) {
    // A member that is down hears nothing; its coming back is a placement change (a pass).
    if (member.name == placement->self_name() || !member.up) continue;
    const NodeTally* tally = nullptr;
    if (auto found = pass.nodes.find(member.name); found != pass.nodes.end()) {
      tally = &found->second;
    }
    if (tally != nullptr && tally->records > 0) {
      logger_.info("route", "handed {} record(s) over to {}", tally->records, member.name);
    }
    failed |= batches.failed(member.name);
    kept |= tally != nullptr && tally->kept;
    // Done only when nothing for that node is left here: it then serves what it gained.
    if (read_all && !batches.failed(member.name) && (tally == nullptr || !tally->kept)) {
      send_done(member.name, layout);
      told.push_back(member.name);
    }
  }
  if (!told.empty() && !stopping_) {
    asio::co_spawn(control_, repeat_dones(generation_, layout, std::move(told)), asio::detached);
  }

  // Only users whose records are at their new home are sent there.
  std::unordered_set<std::string> moved;
  for (auto& [node, tally] : pass.nodes) {
    if (batches.failed(node)) continue;
    for (std::string& user : tally.users) {
      if (pass.users_left.count(user) == 0) moved.insert(std::move(user));
    }
  }
  std::size_t redirected = service_.redirect_moved_sessions(
      [&moved](std::string_view user) { return moved.count(std::string(user)) == 1; });
  if (redirected > 0) logger_.info("route", "redirected {} user(s) to their new home", redirected);
  ++passes_;
  if (kept) again_ = true;  // records written meanwhile go now
  if (failed && !stopping_) {
    // A peer did not take its records (or the store could not be read); they stay here
    // (nothing is lost) and are offered again shortly.
    asio::steady_timer delay(control_, retry_delay);
    co_await delay.async_wait(asio::experimental::as_tuple(use_awaitable));
    again_ = true;
  }
}

asio::awaitable<bool> Rebalancer::ship(const std::string& node,
                                       std::vector<route::HandoffRecord> records, PassState& pass) {
  if (records.empty()) co_return true;
  co_await asio::post(asio::bind_executor(blocking_, use_awaitable));
  std::vector<std::uint8_t> payload = encode_handoff(records);
  co_await asio::post(asio::bind_executor(control_, use_awaitable));
  auto reply = co_await peers_.call(node, std::move(payload), handoff_call_timeout);
  const peer_wire::HandoffAck* ack =
      reply.ok() ? reply.value.envelope().body_as_HandoffAck() : nullptr;
  if (ack == nullptr) {
    logger_.warn("route", "handoff to {} not acknowledged: {}", node,
                 reply.ok() ? "an unexpected reply" : reply.error.message);
    co_return false;
  }
  if (ack->applied() < records.size()) {
    logger_.warn("route",
                 "{} kept {} log/dedup record(s) of its own that differ from ours (entries are "
                 "immutable; ours are dropped)",
                 node, records.size() - ack->applied());
  }
  // The new home has them durably. Delete what is unchanged since it was read; a record
  // written meanwhile stays and goes with the next pass.
  co_await asio::post(asio::bind_executor(blocking_, use_awaitable));
  std::vector<std::size_t> kept;
  Error erased;
  try {
    erased = erase_handed_over(kv_, records, kept);
  } catch (const std::exception& failure) {
    erased = Error{errc::internal, failure.what()};
  }
  co_await asio::post(asio::bind_executor(control_, use_awaitable));
  if (erased) {
    logger_.error("route", "handoff to {}: deleting handed-over records failed: {}", node,
                  erased.message);
    co_return false;
  }
  // What the service cached of them is stale here now (if they come back, it must reload).
  for (const route::HandoffRecord& record : records)
    service_.forget_cached(record.placement_key);
  NodeTally& tally = pass.nodes[node];
  tally.records += records.size() - kept.size();
  tally.kept |= !kept.empty();
  std::size_t next_kept = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    bool was_kept = next_kept < kept.size() && kept[next_kept] == i;
    if (was_kept) ++next_kept;
    if (!follows_sessions(records[i].column)) continue;
    if (was_kept) {
      pass.users_left.insert(records[i].placement_key);
    } else {
      tally.users.push_back(std::move(records[i].placement_key));
    }
  }
  co_return true;
}

void Rebalancer::send_done(const std::string& node, std::uint64_t layout) {
  proto::PeerFrameBuilder builder(64);
  auto message = builder.finish_owned(0, peer_wire::PeerKind::Oneway,
                                      peer_wire::CreateHandoffDone(builder.fbb(), layout));
  if (!peers_.post(node, std::move(message))) {
    logger_.warn("route", "could not tell {} that the handoff is done (its link is busy)", node);
  }
}

asio::awaitable<void> Rebalancer::repeat_dones(std::uint64_t generation, std::uint64_t layout,
                                               std::vector<std::string> nodes) {
  // 0.5 + 1 + ... + 16 s: past the time a receiver waits for a Done anyway.
  auto delay = std::chrono::milliseconds(500);
  for (int round = 0; round < 6; ++round, delay *= 2) {
    repeat_.expires_after(delay);
    auto [error] = co_await repeat_.async_wait(asio::experimental::as_tuple(use_awaitable));
    if (error || stopping_ || generation != generation_ || running_) co_return;
    if (route::layout_fingerprint(*placement_.placement()) != layout) co_return;
    for (const std::string& node : nodes)
      send_done(node, layout);
  }
}

asio::awaitable<void> Rebalancer::drain(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running_ && std::chrono::steady_clock::now() < deadline) {
    idle_.expires_at(deadline);
    co_await idle_.async_wait(asio::experimental::as_tuple(use_awaitable));
  }
  if (running_) logger_.warn("route", "drain: handoff still running at the deadline");
}

asio::awaitable<void> Rebalancer::stop() {
  stopping_ = true;
  repeat_.cancel();
  while (running_) {
    idle_.expires_after(std::chrono::seconds(1));
    co_await idle_.async_wait(asio::experimental::as_tuple(use_awaitable));
  }
}

}  // namespace qim::node
