#include "node/membership_node.h"

#include <asio/experimental/as_tuple.hpp>

#include <algorithm>
#include <exception>
#include <fstream>
#include <utility>

#include "cluster/swim/codec.h"
#include "node/atomic_file.h"

namespace qim::node {

namespace swim = cluster::swim;

namespace {

using asio::experimental::as_tuple;
constexpr auto use_nothrow = as_tuple(asio::use_awaitable);
// The snapshot is rebuilt on every membership event, and otherwise at most this often (it
// also carries incarnations, which change without an event).
constexpr std::int64_t snapshot_refresh_interval_ms = 250;

std::chrono::steady_clock::time_point time_point_of(std::int64_t monotonic_ms) {
  return std::chrono::steady_clock::time_point(std::chrono::milliseconds(monotonic_ms));
}

}  // namespace

MembershipNode::MembershipNode(asio::any_io_executor executor, const auth::ClusterKey& key,
                               core::Logger& logger, MembershipOptions options,
                               std::uint64_t restart_epoch, std::uint64_t random_seed)
    : executor_(std::move(executor)),
      logger_(logger),
      options_(std::move(options)),
      restart_epoch_(restart_epoch),
      random_seed_(random_seed),
      transport_(executor_, key, logger, options_.transport),
      tick_timer_(executor_),
      join_timer_(executor_),
      tasks_done_(executor_),
      jitter_state_(random_seed | 1) {}

MembershipNode::~MembershipNode() = default;

std::int64_t MembershipNode::now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool MembershipNode::bind(std::string& error) {
  return transport_.bind(options_.gossip_listen, error);
}

swim::NodeMeta MembershipNode::own_meta() const {
  swim::NodeMeta meta;
  meta.client_address = options_.client_address;
  meta.peer_address = options_.peer_address;
  meta.protocol_version = 3;
  meta.ws_port = options_.ws_port;
  meta.replica_id = options_.replica_id;
  meta.cluster_id = cluster_id_;
  meta.partitions = options_.partitions;
  meta.draining = draining_;
  return meta;
}

void MembershipNode::publish_meta() {
  if (!membership_) return;
  swim::Directives out;
  std::int64_t now = now_ms();
  membership_->update_meta(own_meta(), now, out);
  execute(out);
  refresh_snapshot(now);
}

void MembershipNode::set_draining(bool draining) {
  if (draining_ == draining) return;
  draining_ = draining;
  publish_meta();
}

void MembershipNode::set_cluster_id(std::uint64_t cluster_id) {
  if (cluster_id_ == cluster_id) return;
  cluster_id_ = cluster_id;
  publish_meta();
}

void MembershipNode::start() {
  cluster_id_ = options_.cluster_id;
  swim::NodeMeta meta = own_meta();
  std::int64_t now = now_ms();
  membership_.emplace(
      options_.swim,
      swim::LocalNode{options_.node_name, transport_.local_address(), meta, restart_epoch_},
      random_seed_, now);
  refresh_snapshot(now);
  logger_.info("gossip", "gossiping on {} as {} (restart epoch {})", transport_.local_address(),
               options_.node_name, restart_epoch_);
  transport_.start(*this);
  spawn(tick_loop());
  if (options_.seeds.empty()) {
    joined_ = true;
    logger_.info("gossip", "no seeds: started a new cluster");
  } else {
    spawn(join_loop());
  }
}

void MembershipNode::spawn(asio::awaitable<void> task) {
  ++running_tasks_;
  asio::co_spawn(executor_, std::move(task), [this](std::exception_ptr exception) {
    if (exception) {
      try {
        std::rethrow_exception(exception);
      } catch (const std::exception& failure) {
        logger_.error("gossip", "membership task failed: {}", failure.what());
      }
    }
    task_finished();
  });
}

void MembershipNode::task_finished() {
  --running_tasks_;
  if (running_tasks_ == 0) tasks_done_.cancel();
}

std::chrono::milliseconds MembershipNode::jittered(std::chrono::milliseconds delay) {
  // xorshift64: retry jitter needs spread, not quality.
  jitter_state_ ^= jitter_state_ << 13;
  jitter_state_ ^= jitter_state_ >> 7;
  jitter_state_ ^= jitter_state_ << 17;
  auto spread = std::max<std::int64_t>(1, delay.count() / 2);  // +-25%
  auto offset = static_cast<std::int64_t>(jitter_state_ % static_cast<std::uint64_t>(spread));
  return std::chrono::milliseconds(delay.count() - spread / 2 + offset);
}

// --- driving the core ------------------------------------------------------------------------

asio::awaitable<void> MembershipNode::tick_loop() {
  while (!stopping_) {
    armed_tick_ms_ = membership_->next_tick_ms();
    tick_timer_.expires_at(time_point_of(armed_tick_ms_));
    co_await tick_timer_.async_wait(use_nothrow);  // also woken early by new input
    if (stopping_) break;
    std::int64_t now = now_ms();
    if (now < membership_->next_tick_ms()) continue;
    swim::Directives out;
    membership_->tick(now, out);
    execute(out);
  }
}

asio::awaitable<void> MembershipNode::join_loop() {
  auto backoff = options_.join_backoff_initial;
  int attempt = 0;
  while (!joined_ && !stopping_) {
    ++attempt;
    swim::Directives out;
    membership_->join(options_.seeds, now_ms(), out);
    execute(out);
    join_timer_.expires_after(jittered(backoff));
    co_await join_timer_.async_wait(use_nothrow);  // cancelled as soon as a seed answers
    if (joined_ || stopping_) break;
    if (attempt == 1 || attempt % 10 == 0) {
      logger_.warn("gossip", "no seed answered yet ({} attempts); retrying", attempt);
    }
    backoff = std::min(backoff * 2, options_.join_backoff_max);
  }
}

asio::awaitable<void> MembershipNode::run_push_pull(swim::StartPushPull directive) {
  auto state = swim::encode_state(membership_->local_state(directive.join));
  auto reply = co_await transport_.push_pull(directive.address, std::move(state));
  if (stopping_) co_return;
  if (!reply) {
    logger_.debug("gossip", "push-pull with {} failed", directive.address);
    co_return;
  }
  swim::PushPullState remote;
  auto error = swim::decode_state(*reply, options_.swim.max_members, remote);
  if (error != swim::DecodeError::none) {
    logger_.warn("gossip", "push-pull answer from {} is malformed: {}", directive.address,
                 swim::to_string(error));
    co_return;
  }
  swim::Directives out;
  membership_->merge_remote_state(remote, now_ms(), out);
  execute(out);
  if (directive.join && !joined_) {
    joined_ = true;
    join_timer_.cancel();
    logger_.info("gossip", "joined the cluster through {} ({} members)", directive.address,
                 membership_->live_member_count());
  }
}

void MembershipNode::on_gossip_datagram(std::string_view from_address,
                                        std::span<const std::uint8_t> plaintext) {
  if (!membership_ || stopping_) return;
  swim::Directives out;
  membership_->on_packet(from_address, plaintext, now_ms(), out);
  execute(out);
}

std::optional<std::vector<std::uint8_t>> MembershipNode::on_push_pull_request(
    std::string_view from_address, std::span<const std::uint8_t> state) {
  if (!membership_ || stopping_) return std::nullopt;
  swim::PushPullState remote;
  auto error = swim::decode_state(state, options_.swim.max_members, remote);
  if (error != swim::DecodeError::none) {
    logger_.warn("gossip", "push-pull state from {} is malformed: {}", from_address,
                 swim::to_string(error));
    return std::nullopt;
  }
  swim::Directives out;
  auto reply = membership_->on_push_pull_request(remote, now_ms(), out);
  execute(out);
  return swim::encode_state(reply);
}

void MembershipNode::execute(swim::Directives& out) {
  for (const auto& datagram : out.datagrams) {
    transport_.send_datagram(datagram.address, datagram.bytes);
  }
  for (auto& push_pull : out.push_pulls) {
    if (stopping_) break;
    // The transport bounds outbound push-pulls; one over the limit fails at once and the core
    // tries again next round.
    spawn(run_push_pull(std::move(push_pull)));
  }
  for (const auto& event : out.events)
    log_event(event);
  std::int64_t now = now_ms();
  if (!out.events.empty() || now - tracked_refresh_ms_ >= snapshot_refresh_interval_ms) {
    refresh_snapshot(now);
  }
  if (!joined_ && membership_->live_member_count() > 1) {
    joined_ = true;  // a member found us first
    join_timer_.cancel();
  }
  // New input may have moved the next deadline earlier than the one the loop sleeps on.
  if (membership_->next_tick_ms() < armed_tick_ms_) tick_timer_.cancel();
  out.clear();
}

void MembershipNode::log_event(const swim::MembershipEvent& event) {
  const swim::Member& member = event.member;
  if (event.type == swim::EventType::suspect || event.type == swim::EventType::dead) {
    if (!event.cause_name.empty()) {
      logger_.info("gossip", "member {} {} {} (reported by {})", member.name, member.address,
                   swim::to_string(event.type), event.cause_name);
      return;
    }
  }
  if (event.type == swim::EventType::joined || event.type == swim::EventType::metadata_changed) {
    logger_.info("gossip", "member {} {} {} (client {}, incarnation {})", member.name,
                 member.address, swim::to_string(event.type), member.meta.client_address,
                 member.incarnation);
    return;
  }
  logger_.info("gossip", "member {} {} {}", member.name, member.address,
               swim::to_string(event.type));
}

void MembershipNode::refresh_snapshot(std::int64_t now) {
  tracked_refresh_ms_ = now;
  std::vector<MemberSnapshot> members;
  members.reserve(membership_->member_count());
  std::unordered_map<std::string, Tracked> tracked;
  tracked.reserve(membership_->member_count());
  membership_->for_each_member([&](const swim::Member& member) {
    Tracked entry{member.state, member.restart_epoch, now};
    auto previous = tracked_.find(member.name);
    if (previous != tracked_.end() && previous->second.state == member.state &&
        previous->second.restart_epoch == member.restart_epoch) {
      entry.since_ms = previous->second.since_ms;
    }
    tracked.emplace(member.name, entry);
    members.push_back(MemberSnapshot{
        member.name, member.address, member.meta.client_address, member.state, member.incarnation,
        member.restart_epoch, entry.since_ms, member.meta.peer_address, member.meta.replica_id,
        member.meta.cluster_id, member.meta.partitions, member.meta.draining, member.meta.ws_port});
  });
  tracked_ = std::move(tracked);
  std::sort(members.begin(), members.end(),
            [](const MemberSnapshot& a, const MemberSnapshot& b) { return a.name < b.name; });
  if (change_listener_) change_listener_(members);
  std::lock_guard lock(snapshot_mutex_);
  snapshot_ = std::move(members);
}

std::vector<MemberSnapshot> MembershipNode::snapshot() const {
  std::lock_guard lock(snapshot_mutex_);
  return snapshot_;
}

// --- leaving and stopping --------------------------------------------------------------------

asio::awaitable<void> MembershipNode::leave() {
  if (!membership_ || stopping_ || membership_->self().state == swim::MemberState::left) {
    co_return;
  }
  swim::Directives out;
  membership_->leave(now_ms(), out);
  execute(out);
  logger_.info("gossip", "leaving the cluster");
  // The leave spreads with the gossip rounds the tick loop keeps running; a few rounds reach
  // every member of a small cluster, and the bound keeps shutdown prompt in a large one.
  auto linger = std::clamp(std::chrono::milliseconds(4 * options_.swim.gossip_interval_ms),
                           std::chrono::milliseconds(50), options_.leave_timeout);
  asio::steady_timer timer(executor_);
  timer.expires_after(linger);
  co_await timer.async_wait(use_nothrow);
}

asio::awaitable<void> MembershipNode::stop() {
  stopping_ = true;
  tick_timer_.cancel();
  join_timer_.cancel();
  co_await transport_.stop();
  while (running_tasks_ > 0) {
    tasks_done_.expires_after(std::chrono::milliseconds(10));
    co_await tasks_done_.async_wait(use_nothrow);
  }
}

// --- restart epoch ---------------------------------------------------------------------------

bool next_restart_epoch(const std::string& data_directory, std::int64_t wall_ms,
                        std::uint64_t& epoch, std::string& error) {
  std::string path = data_directory + "/restart.epoch";
  std::uint64_t previous = 0;
  {
    std::ifstream in(path);
    in >> previous;  // missing or garbled: 0
  }
  epoch = std::max<std::uint64_t>(
      static_cast<std::uint64_t>(std::max<std::int64_t>(wall_ms, 0)) << 16, previous + 1);
  return write_file_atomically(path, fmt::format("{}\n", epoch), error);
}

}  // namespace qim::node
