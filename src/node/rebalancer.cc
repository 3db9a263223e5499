#include "node/rebalancer.h"

#include <asio/experimental/as_tuple.hpp>

#include <algorithm>
#include <unordered_set>

#include "proto/frame.h"
#include "proto/peer_frame.h"
#include "route/handoff.h"

namespace qim::node {
namespace {

using asio::use_awaitable;
// `co_await asio::post(asio::bind_executor(e, use_awaitable))` resumes the coroutine on `e`:
// store work hops to the blocking pool and back, so the control thread (gossip) never waits
// on the disk.

constexpr auto handoff_call_timeout = std::chrono::seconds(10);
constexpr auto retry_delay = std::chrono::seconds(2);

// The columns keyed by user id, in which every key starts with the user id.
constexpr store::Column user_columns[] = {store::Column::accounts, store::Column::friends,
                                          store::Column::convs, store::Column::cursors};

struct Record {
  store::Column column;
  std::string key;
  std::string value;
};

// Every record of `user` in the user-keyed columns. Runs on the blocking executor.
Error collect_user(store::Kv& kv, const std::string& user, std::vector<Record>& out) {
  std::string value;
  Error error = kv.get(store::Column::accounts, user, value);
  if (error.code == errc::not_found) return {};  // deleted meanwhile: nothing to move
  if (error) return error;
  out.push_back({store::Column::accounts, user, std::move(value)});
  std::string prefix = user;
  prefix.push_back('\0');
  for (store::Column column :
       {store::Column::friends, store::Column::convs, store::Column::cursors}) {
    error = kv.scan(column, prefix, "", false, [&](std::string_view key, std::string_view record) {
      out.push_back({column, std::string(key), std::string(record)});
      return true;
    });
    if (error) return error;
  }
  return {};
}

std::vector<std::uint8_t> encode_batch(std::span<const Record> records) {
  proto::PeerFrameBuilder builder(64 * 1024);
  auto& fbb = builder.fbb();
  std::vector<flatbuffers::Offset<peer_wire::HandoffRecord>> offsets;
  offsets.reserve(records.size());
  for (const Record& record : records) {
    auto key = fbb.CreateVector(reinterpret_cast<const std::uint8_t*>(record.key.data()),
                                record.key.size());
    auto value = fbb.CreateVector(reinterpret_cast<const std::uint8_t*>(record.value.data()),
                                  record.value.size());
    offsets.push_back(
        peer_wire::CreateHandoffRecord(fbb, static_cast<std::uint8_t>(record.column), key, value));
  }
  auto vector = fbb.CreateVector(offsets);
  return builder.finish_owned(0, peer_wire::PeerKind::Request,
                              peer_wire::CreateHandoff(fbb, vector));
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
      idle_(control) {}

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
  auto placement = placement_.placement();
  co_await asio::post(asio::bind_executor(blocking_, use_awaitable));
  std::vector<std::string> held;
  Error scanned = kv_.scan(store::Column::accounts, "", "", false,
                           [&](std::string_view user, std::string_view) {
                             held.emplace_back(user);
                             return true;
                           });
  co_await asio::post(asio::bind_executor(control_, use_awaitable));
  if (scanned) {
    logger_.error("route", "handoff: reading the accounts failed: {}", scanned.message);
    co_return;
  }
  auto plan = route::plan_handoff(*placement, held);
  std::unordered_set<std::string> moved;
  bool complete = true;
  for (auto& [node, users] : plan) {
    std::size_t count = users.size();
    bool shipped = co_await ship(node, users);
    if (!shipped) {
      complete = false;
      continue;
    }
    logger_.info("route", "handed {} user(s) over to {}", count, node);
    for (std::string& user : users)
      moved.insert(std::move(user));
  }
  // Only users whose records are at their new home are sent there.
  std::size_t redirected = service_.redirect_moved_sessions(
      [&moved](std::string_view user) { return moved.count(std::string(user)) == 1; });
  if (redirected > 0) logger_.info("route", "redirected {} user(s) to their new home", redirected);
  if (!complete && !stopping_) {
    // A peer did not take its keys; the records stay here (nothing is lost) and are offered
    // again shortly.
    asio::steady_timer delay(control_, retry_delay);
    co_await delay.async_wait(asio::experimental::as_tuple(use_awaitable));
    again_ = true;
  }
}

asio::awaitable<bool> Rebalancer::ship(std::string node, std::vector<std::string> users) {
  std::size_t next_user = 0;
  while (next_user < users.size()) {
    // Collect one batch of whole users, off the control thread.
    co_await asio::post(asio::bind_executor(blocking_, use_awaitable));
    std::vector<Record> records;
    std::size_t batch_bytes = 0;
    Error error;
    while (next_user < users.size() && batch_bytes < max_batch_bytes / 2) {
      std::size_t first = records.size();
      error = collect_user(kv_, users[next_user], records);
      if (error) break;
      for (std::size_t i = first; i < records.size(); ++i)
        batch_bytes += records[i].key.size() + records[i].value.size() + 32;
      ++next_user;
    }
    std::vector<std::uint8_t> payload = encode_batch(records);
    co_await asio::post(asio::bind_executor(control_, use_awaitable));
    if (error) {
      logger_.error("route", "handoff to {}: reading records failed: {}", node, error.message);
      co_return false;
    }
    if (records.empty()) continue;
    auto reply = co_await peers_.call(node, std::move(payload), handoff_call_timeout);
    if (!reply.ok() || reply.value.envelope().body_as_HandoffAck() == nullptr) {
      logger_.warn("route", "handoff to {} not acknowledged: {}", node,
                   reply.ok() ? "an unexpected reply" : reply.error.message);
      co_return false;
    }
    // The new home has them durably. Delete what is unchanged since it was read; a record
    // written meanwhile stays and goes with the next run.
    co_await asio::post(asio::bind_executor(blocking_, use_awaitable));
    store::WriteBatch erase;
    std::string current;
    for (const Record& record : records) {
      if (!kv_.get(record.column, record.key, current) && current == record.value) {
        erase.erase(record.column, record.key);
      } else {
        again_ = true;
      }
    }
    Error erased = kv_.write(erase, true);
    co_await asio::post(asio::bind_executor(control_, use_awaitable));
    if (erased) {
      logger_.error("route", "handoff to {}: deleting handed-over records failed: {}", node,
                    erased.message);
      co_return false;
    }
  }
  co_return true;
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
  while (running_) {
    idle_.expires_after(std::chrono::seconds(1));
    co_await idle_.async_wait(asio::experimental::as_tuple(use_awaitable));
  }
}

}  // namespace qim::node
