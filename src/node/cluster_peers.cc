#include "node/cluster_peers.h"

#include <asio/experimental/as_tuple.hpp>

#include <memory>
#include <optional>

#include "node/user_parts_codec.h"

#include "proto/frame.h"
#include "proto/peer_frame.h"

namespace qim::node {

using peer_wire::PeerKind;

ClusterPeers::ClusterPeers(asio::any_io_executor executor, asio::any_io_executor blocking,
                           net::PeerLinks& links, const service::PlacementSource& placement,
                           service::ImService& service, AdminRelay& admin, core::Logger& logger,
                           std::chrono::milliseconds query_timeout)
    : executor_(std::move(executor)),
      blocking_(blocking),
      sessions_(executor_),
      links_(links),
      placement_(placement),
      service_(service),
      admin_(admin),
      logger_(logger),
      query_timeout_(query_timeout),
      server_here_(service),
      serial_(asio::make_strand(blocking)),
      resync_timer_(executor_) {}

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
  if (const auto* batch = request.body_as_ForwardBatch()) {
    co_return co_await serve_forwards(from_node, batch, nullptr);
  }
  if (const auto* forward = request.body_as_Forward()) {
    co_return co_await serve_forwards(from_node, nullptr, forward);
  }
  if (const auto* facts = request.body_as_UserFacts()) {
    service::UserTally tally = service_.tally_here(proto::view(facts->user()));
    co_return builder.finish_owned(
        0, PeerKind::Reply,
        peer_wire::CreateUserFactsResult(builder.fbb(), tally.exists, tally.disabled, tally.friends,
                                         tally.groups, tally.account_unreadable));
  }
  if (const auto* facts = request.body_as_UserFactsBatch()) {
    auto& fbb = builder.fbb();
    std::vector<flatbuffers::Offset<peer_wire::UserFactsResult>> results;
    if (facts->users() != nullptr) {
      results.reserve(facts->users()->size());
      for (const auto* user : *facts->users()) {
        service::UserTally tally = service_.tally_here(proto::view(user));
        results.push_back(peer_wire::CreateUserFactsResult(fbb, tally.exists, tally.disabled,
                                                           tally.friends, tally.groups,
                                                           tally.account_unreadable));
      }
    }
    auto vector = fbb.CreateVector(results);
    co_return builder.finish_owned(0, PeerKind::Reply,
                                   peer_wire::CreateUserFactsBatchResult(fbb, vector));
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
  if (const auto* show = request.body_as_AdminUserShowQuery())
    co_return co_await admin_.serve(*show);
  if (const auto* names = request.body_as_AdminNameListQuery())
    co_return co_await admin_.serve(*names);
  if (const auto* purge = request.body_as_AdminUserPurge()) co_return co_await admin_.serve(*purge);
  if (const auto* dissolve = request.body_as_AdminGroupDissolve())
    co_return co_await admin_.serve(*dissolve);
  if (request.body_type() == peer_wire::PeerBody::SnapshotChunk && replicas_ != nullptr) {
    co_return co_await accept_snapshot_chunk(from_node, request);
  }
  if (request.body_type() == peer_wire::PeerBody::ReplicaStatusQuery && replicas_ != nullptr) {
    co_return encode_replica_status(replicas_->status(), placement_.placement()->self_name(),
                                    replica_id_);
  }
  if (const auto* tail = request.body_as_PushTail()) co_return answer_push_tail(from_node, *tail);
  logger_.debug("peer", "{} sent a request this node does not serve (body {})", from_node,
                static_cast<int>(request.body_type()));
  co_return builder.error(0, PeerKind::Reply, errc::unexpected_message,
                          "body: a request this node does not serve");
}

asio::awaitable<std::vector<std::uint8_t>> ClusterPeers::serve_forwards(
    std::string_view from_node, const peer_wire::ForwardBatch* batch,
    const peer_wire::Forward* single) {
  auto found = sources_.find(std::string(from_node));
  if (found == sources_.end()) {
    found = sources_.emplace(std::string(from_node), Source(asio::make_strand(blocking_))).first;
  }
  // Entries of sources_ stay where they are (a node-based map, never erased from).
  Source& source = found->second;
  // Wait for the batches this node sent earlier (they arrived earlier: FIFO).
  if (source.busy) {
    asio::steady_timer turn(executor_, asio::steady_timer::time_point::max());
    source.waiting.push_back(&turn);
    co_await turn.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  }
  source.busy = true;
  // The turn passes on however this one ends.
  struct PassTurn {
    Source& source;
    bool passed = false;
    void release() {
      if (passed) return;
      passed = true;
      if (source.waiting.empty()) {
        source.busy = false;
        return;
      }
      source.waiting.front()->cancel();  // still busy: the next one's turn
      source.waiting.pop_front();
    }
    ~PassTurn() { release(); }
  } pass{source};

  bool here = single != nullptr ? runs_here(*single) : true;
  if (batch != nullptr && batch->forwards() != nullptr) {
    for (const auto* forward : *batch->forwards()) {
      if (!runs_here(*forward)) {
        here = false;
        break;
      }
    }
  }
  // Every request is started in arrival order (a session's sends enter the log in the order
  // it sent them); their answers come as their commands are applied, in any order, and the
  // batch is answered once all are in. Starting them does not wait for the log.
  std::vector<const peer_wire::Forward*> forwards;
  if (single != nullptr) {
    forwards.push_back(single);
  } else if (batch != nullptr && batch->forwards() != nullptr) {
    for (const auto* forward : *batch->forwards())
      forwards.push_back(forward);
  }
  auto gather = std::make_shared<ForwardGather>(executor_, forwards.size());
  // The envelope stays valid until this coroutine completes. (The coroutines below get plain
  // pointers to this frame's locals: GCC 12 mishandles non-trivial lambda captures around
  // co_await, freeing a captured shared_ptr twice.)
  std::vector<std::string> flushes;
  if (here) {
    flushes = co_await asio::co_spawn(
        sessions_, start_forwards(&server_here_, &forwards, gather.get()), asio::use_awaitable);
  } else {
    flushes = co_await asio::co_spawn(
        source.strand, start_forwards(nullptr, &forwards, gather.get()), asio::use_awaitable);
  }
  // The next batch from this node may start: this one's requests are in.
  pass.release();
  co_await gather->wait();
  // The answer is queued on its link as this coroutine returns, before these flushes run: a
  // sender hears of its messages no later than their other recipients.
  for (std::string& node : flushes) {
    asio::post(sessions_, [this, node = std::move(node)] { flush(node); });
  }
  co_return encode_answers(gather->frames, single != nullptr);
}

asio::awaitable<std::vector<std::string>> ClusterPeers::start_forwards(
    session::DetachedServer* server, const std::vector<const peer_wire::Forward*>* forwards,
    ForwardGather* gather) {
  std::optional<session::DetachedServer> own;
  if (server == nullptr) server = &own.emplace(service_);
  std::vector<std::string> flushes;
  {
    DeferFlushes defer(flushes);
    for (std::size_t i = 0; i < forwards->size(); ++i) {
      const peer_wire::Forward& forward = *(*forwards)[i];
      // Views into the request, which outlives the call (the reply owns its bytes).
      service::Caller caller{proto::view(forward.user()), proto::view(forward.device()),
                             forward.session_id()};
      std::shared_ptr<ForwardGather> keep = gather->shared_from_this();
      server->serve(
          caller, proto::view(forward.request()),
          [keep, i](std::vector<std::uint8_t> frame) { keep->answer(i, std::move(frame)); });
    }
  }
  co_return flushes;
}

ClusterPeers::ForwardGather::ForwardGather(asio::any_io_executor executor, std::size_t count)
    : frames(count),
      executor_(std::move(executor)),
      timer_(executor_, asio::steady_timer::time_point::max()),
      outstanding_(count) {}

void ClusterPeers::ForwardGather::answer(std::size_t index, std::vector<std::uint8_t> frame) {
  bool last = false;
  {
    std::lock_guard lock(mutex_);
    frames[index] = std::move(frame);
    last = --outstanding_ == 0;
  }
  if (last) {
    asio::post(executor_, [self = shared_from_this()] { self->timer_.cancel(); });
  }
}

asio::awaitable<void> ClusterPeers::ForwardGather::wait() {
  {
    std::lock_guard lock(mutex_);
    if (outstanding_ == 0) co_return;
  }
  asio::error_code ignored;
  co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
}

bool ClusterPeers::runs_here(const peer_wire::Forward& forward) {
  auto request = proto::view(forward.request());
  // Not aligned: the pool copies it (this only happens with a sender that does not align it).
  if (reinterpret_cast<std::uintptr_t>(request.data()) % 8 != 0) return false;
  Error error;
  const wire::Envelope* envelope = proto::verify_envelope(request, error);
  if (envelope == nullptr) return true;  // answered Malformed at once
  std::string_view caller = proto::view(forward.user());
  switch (envelope->body_type()) {
    case wire::Body::Pull:
    case wire::Body::History:
      return true;
    case wire::Body::Send: {
      const auto* send = envelope->body_as_Send();
      if (send->to_user() == nullptr) return true;  // a group message: the roster is here
      // A direct message checks that the recipient exists: that may ask their home.
      std::string_view to = proto::view(send->to_user());
      auto placement = service_.cluster_placement();
      if (!placement) return true;
      const route::NodeInfo& home = placement->home_of(to);
      if (home.name == placement->self_name() || !home.up) return true;
      if (known_users_.contains(to)) return true;
      if (service_.options().dm_policy == service::DmPolicy::friends) {
        // An accepted friend is not looked up; the friendship lives here, with the pair.
        auto state = service_.friends().state(caller, to);
        return state.ok() && state.value == service::FriendState::accepted;
      }
      return false;
    }
    default:
      return false;  // friend and group changes look users up on other nodes
  }
}

std::vector<std::uint8_t> ClusterPeers::encode_answers(
    const std::vector<std::vector<std::uint8_t>>& frames, bool single) {
  // The answers together must fit one peer frame; one that would not is replaced by an error
  // (the sender budgets its batches so that this does not happen).
  constexpr std::size_t answer_budget = proto::default_peer_max_frame_bytes - 64 * 1024;
  proto::PeerFrameBuilder builder(single ? 1024 : 16 * 1024);
  auto& fbb = builder.fbb();
  auto answer = [&](const std::vector<std::uint8_t>& answer) {
    std::span<const std::uint8_t> frame = answer;
    std::span<const std::uint8_t> replaced;
    proto::FrameBuilder error_builder(256);
    if (frame.size() <= proto::frame_header_bytes) {
      replaced = error_builder.error(0, errc::internal, "the request produced no answer");
      frame = replaced;
    } else if (fbb.GetSize() + frame.size() > answer_budget) {
      const auto* answered = wire::GetEnvelope(frame.data() + proto::frame_header_bytes);
      replaced = error_builder.error(answered->req_id(), errc::unavailable,
                                     "the answers to this batch of forwarded requests were too "
                                     "large together; retry");
      frame = replaced;
    }
    auto bytes = fbb.CreateVector(frame.data(), frame.size());
    return peer_wire::CreateForwardResult(fbb, bytes);
  };
  if (single) {
    auto result = answer(frames.front());
    return builder.finish_owned(0, PeerKind::Reply, result);
  }
  std::vector<flatbuffers::Offset<peer_wire::ForwardResult>> results;
  results.reserve(frames.size());
  for (const auto& frame : frames)
    results.push_back(answer(frame));
  auto vector = fbb.CreateVector(results);
  return builder.finish_owned(0, PeerKind::Reply, peer_wire::CreateForwardBatchResult(fbb, vector));
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

void ClusterPeers::deliver(std::string_view from_node, const peer_wire::PushBatch& push) {
  auto frame = proto::view(push.frame());
  // A frame must at least carry its own length prefix; the sessions' clients verify the rest.
  if (frame.size() < 8) {
    logger_.debug("peer", "{} sent an empty push", from_node);
    return;
  }
  service::PushTarget target;
  if (push.users() != nullptr) {
    target.users.reserve(push.users()->size());
    for (const auto* user : *push.users())
      target.users.emplace_back(proto::view(user));
  }
  target.except_user.assign(proto::view(push.except_user()));
  target.except_session = push.except_session();
  target.forwarded = push.forwarded();
  service_.push_here(frame, target);
}

bool ClusterPeers::deliver_pushes(std::string_view from_node,
                                  const peer_wire::PeerEnvelope& message) {
  if (const auto* pushes = message.body_as_PushBatches()) {
    if (pushes->batches() != nullptr) {
      for (const auto* push : *pushes->batches())
        deliver(from_node, *push);
    }
    return true;
  }
  if (const auto* push = message.body_as_PushBatch()) {
    deliver(from_node, *push);
    return true;
  }
  return false;
}

void ClusterPeers::on_oneway_owned(std::string_view from_node, proto::PeerMessage message) {
  auto type = message.envelope().body_type();
  if (type == peer_wire::PeerBody::RaftBatch) {
    if (replicas_ != nullptr) replicas_->on_raft_batch(std::string(from_node), std::move(message));
    return;
  }
  if (sessions_ != executor_ &&
      (type == peer_wire::PeerBody::PushBatches || type == peer_wire::PeerBody::PushBatch)) {
    check_push_number(from_node, message.envelope());
    // Posted in arrival order, so they are delivered in that order.
    asio::post(sessions_, [this, from = std::string(from_node), message = std::move(message)] {
      deliver_pushes(from, message.envelope());
    });
    return;
  }
  on_oneway(from_node, message.envelope());
}

void ClusterPeers::on_oneway(std::string_view from_node, const peer_wire::PeerEnvelope& message) {
  check_push_number(from_node, message);
  if (deliver_pushes(from_node, message)) return;
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

namespace qim::node {

asio::awaitable<std::vector<std::uint8_t>> ClusterPeers::accept_snapshot_chunk(
    std::string_view from_node, const peer_wire::PeerEnvelope& request) {
  proto::PeerFrameBuilder builder;
  replica::SnapshotChunkHeader header;
  std::vector<replica::SnapshotRow> rows;
  std::string error;
  auto partitions = placement_.placement()->partitions().count();
  if (!replica::decode_snapshot_chunk(*request.body_as_SnapshotChunk(), partitions, header, rows,
                                      error)) {
    co_return builder.error(0, PeerKind::Reply, errc::invalid_argument, "snapshot chunk: " + error);
  }
  // The replicas answer on their own thread; the answer comes back here through the timer.
  struct Wait {
    explicit Wait(asio::any_io_executor executor)
        : timer(std::move(executor), asio::steady_timer::time_point::max()) {}
    asio::steady_timer timer;
    Error result;
  };
  auto wait = std::make_shared<Wait>(executor_);
  replicas_->on_snapshot_chunk(std::string(from_node), header, std::move(rows),
                               [wait, executor = executor_](Error result) {
                                 asio::post(executor, [wait, result = std::move(result)]() mutable {
                                   wait->result = std::move(result);
                                   wait->timer.cancel();
                                 });
                               });
  asio::error_code ignored;
  co_await wait->timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  if (wait->result) {
    co_return builder.error(0, PeerKind::Reply, wait->result.code, wait->result.message);
  }
  co_return builder.finish_owned(0, PeerKind::Reply,
                                 peer_wire::CreateSnapshotChunkAck(builder.fbb(), true));
}

std::vector<std::uint8_t> encode_replica_status(const std::vector<replica::ReplicaStatus>& replicas,
                                                std::string_view node_name,
                                                std::uint64_t replica_id) {
  proto::PeerFrameBuilder builder(1024);
  auto& fbb = builder.fbb();
  std::vector<flatbuffers::Offset<peer_wire::ReplicaState>> states;
  states.reserve(replicas.size());
  for (const replica::ReplicaStatus& status : replicas) {
    std::vector<flatbuffers::Offset<peer_wire::FollowerState>> followers;
    for (const auto& follower : status.followers) {
      followers.push_back(peer_wire::CreateFollowerState(
          fbb, follower.id, follower.match, follower.learner, follower.recently_active));
    }
    auto voters = fbb.CreateVector(status.config.voters);
    auto learners = fbb.CreateVector(status.config.learners);
    auto follower_vector = fbb.CreateVector(followers);
    states.push_back(peer_wire::CreateReplicaState(
        fbb, status.partition, status.replica, static_cast<std::uint8_t>(status.role), status.term,
        status.leader, status.commit, status.applied, status.last_index, voters, learners,
        follower_vector));
  }
  auto name = fbb.CreateString(node_name);
  auto vector = fbb.CreateVector(states);
  return builder.finish_owned(0, PeerKind::Reply,
                              peer_wire::CreateReplicaStatusResult(fbb, name, replica_id, vector));
}

}  // namespace qim::node
