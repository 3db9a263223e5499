#pragma once
// This node's side of the peer protocol (schemas/peer.fbs beyond the link layer): it answers
// the other nodes' requests from the local service, and asks them on the service's behalf
// (service::ClusterQueries) over the peer links.
//
// Threads: requests and one-way messages arrive on the links' executor (the control thread,
// which also runs gossip). Cheap answers (facts, parts, heads, presence) are made there.
// Pushes from other nodes are delivered on the sessions' executor (use_sessions_executor).
// Forwarded client requests arrive in batches (ForwardBatch); one sending node's batches run
// one after another in arrival order, so one session's requests run in the order it sent
// them. A batch that only touches this node's store (a group message; a direct message to a
// user homed here or known to exist; a pull or history page: message writes are
// group-committed, so none of it waits for the disk) runs on the sessions' executor, like a
// request of a local session; any other batch runs on the blocking pool, on the sending
// node's strand, and may wait for other nodes' cheap answers (never for another forwarded
// request, so no cycle can form).
//
// Outgoing: pushes and forwarded requests for a node wait in its outbox (net/peer_outbox.h)
// until a flush on the links' executor, posted when the outbox stops being empty, sends all
// of them as one PushBatches message and few ForwardBatch requests (at most one round of
// ForwardBatch requests is in flight per node: what queues up meanwhile leaves together).
//
// Push loss (cluster_push_loss.cc): the PushBatches for each node are numbered (net/
// peer_outbox.h), and a PushTail request follows each burst of them, repeated with backoff
// until answered, naming the last number posted or dropped. Arriving numbers and tails go
// through route::PushGaps on the links' executor, in arrival order; a gap means pushes for this
// node's sessions were lost on the way, and every session here is told Resync (at most once per
// second: gaps found meanwhile share the next one), so that its client pulls what it lacks.
#include <asio.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/log.h"
#include "net/peer_links.h"
#include "net/peer_outbox.h"
#include "node/admin_relay.h"
#include "replica/replica_host.h"
#include "route/push_gaps.h"
#include "service/cluster_queries.h"
#include "service/im_service.h"
#include "service/placement_source.h"
#include "service/reach.h"
#include "session/detached.h"
#include "store/kv.h"

namespace qim::node {

// Owned by main; outlives the peer links' stop() and every session. The ClusterQueries
// methods may be called from any thread (the BLOCKING ones from the blocking pool only).
class ClusterPeers final : public net::PeerHandler, public service::ClusterQueries {
 public:
  ClusterPeers(asio::any_io_executor executor, asio::any_io_executor blocking,
               net::PeerLinks& links, const service::PlacementSource& placement,
               service::ImService& service, AdminRelay& admin, core::Logger& logger,
               std::chrono::milliseconds query_timeout = std::chrono::milliseconds(2'000));

  // net::PeerHandler
  asio::awaitable<std::vector<std::uint8_t>> on_request(
      std::string_view from_node, const peer_wire::PeerEnvelope& request) override;
  void on_oneway(std::string_view from_node, const peer_wire::PeerEnvelope& message) override;
  void on_oneway_owned(std::string_view from_node, proto::PeerMessage message) override;

  // Where this node's client sessions live (an I/O thread's executor): forwarded requests
  // that wait for no other node run there, pushes from other nodes are delivered there, and
  // the answers to forwarded requests are handed to their sessions from there, so that a batch
  // of them reaches those sessions without waking that thread once per session. By default
  // the links' executor. REQUIRES: called before the links start.
  void use_sessions_executor(asio::any_io_executor sessions) { sessions_ = std::move(sessions); }
  // Group commit: pushes and forwarded replies may reveal buffered writes.
  bool before_write() override;
  // The partitions' replicas hosted here: Raft batches, snapshot chunks and replica status
  // requests go to them. REQUIRES: called before the links start.
  void use_replicas(replica::ReplicaHost& replicas, std::uint64_t replica_id) {
    replicas_ = &replicas;
    replica_id_ = replica_id;
  }

  // service::ClusterQueries
  void online_elsewhere(std::string after, std::uint32_t limit,
                        std::function<void(std::vector<service::OnlinePage>)> done) override;
  void forward(const std::string& node, const service::Caller& caller,
               std::span<const std::uint8_t> request,
               std::function<void(service::Result<std::vector<std::uint8_t>>)> done) override;
  void push_to(const std::string& node, std::span<const std::uint8_t> frame,
               service::PushTarget target) override;
  void run_serially(std::function<void()> work) override;
  service::Result<service::UserTally> user_tally(const std::string& node,
                                                 std::string_view user) override;
  service::Result<std::vector<service::UserTally>> user_tallies(
      const std::string& node, std::span<const std::string> users) override;
  bool known_user(std::string_view user) override { return known_users_.contains(user); }
  void forget_user(std::string_view user) override { known_users_.remove(user); }
  std::vector<service::UserParts> user_parts_elsewhere(
      std::string_view user, service::UserPart part,
      const service::PartitionCoverage& covered) override;
  service::Result<std::vector<std::string>> online_among(const std::string& node,
                                                         std::vector<std::string> users) override;
  service::Result<service::ConversationState> conversation_head(
      const std::string& node, std::string_view user, std::string_view conversation) override;

  // For tests and stats: pushes dropped because an outbox or a link was full.
  std::uint64_t pushes_dropped() const { return pushes_dropped_.load(std::memory_order_relaxed); }
  // Gaps in other nodes' push numbering, and Resync rounds pushed to this node's sessions.
  std::uint64_t push_gaps() const { return push_gaps_seen_.load(std::memory_order_relaxed); }
  std::uint64_t resync_rounds() const { return resync_rounds_.load(std::memory_order_relaxed); }

 private:
  // A node that sends us forwarded requests: its batches run one after another, in arrival
  // order (each on the sessions' executor or on the pool), so one session's requests run in
  // the order it sent them. Executor-only.
  struct Source {
    explicit Source(asio::strand<asio::any_io_executor> s) : strand(std::move(s)) {}
    asio::strand<asio::any_io_executor> strand;  // for its batches that run on the pool
    bool busy = false;                           // a batch of it is running
    // Batches waiting for their turn, oldest first: each waits on its timer, which is
    // cancelled when its turn comes.
    std::deque<asio::steady_timer*> waiting;
  };

  // Answers a ForwardBatch (or a lone Forward: `batch` null): here at once, or on the sending
  // node's strand of the pool (see the threads above).
  asio::awaitable<std::vector<std::uint8_t>> serve_forwards(std::string_view from_node,
                                                            const peer_wire::ForwardBatch* batch,
                                                            const peer_wire::Forward* single);
  // Whether `forward` may run on the links' executor: it cannot wait for another node.
  bool runs_here(const peer_wire::Forward& forward);
  // The answers of one batch of forwarded requests, as they come (from any thread); the batch's
  // coroutine waits for the last one on the links' executor.
  class ForwardGather : public std::enable_shared_from_this<ForwardGather> {
   public:
    ForwardGather(asio::any_io_executor executor, std::size_t count);
    void answer(std::size_t index, std::vector<std::uint8_t> frame);
    asio::awaitable<void> wait();
    std::vector<std::vector<std::uint8_t>> frames;  // read once wait() returned

   private:
    asio::any_io_executor executor_;
    asio::steady_timer timer_;
    std::mutex mutex_;
    std::size_t outstanding_;  // GUARDED_BY(mutex_)
  };
  // Starts each forward with `server` (a fresh one when null), answers going to `gather`;
  // returns the outboxes their pushes started filling. The pointers outlive the call.
  asio::awaitable<std::vector<std::string>> start_forwards(
      session::DetachedServer* server, const std::vector<const peer_wire::Forward*>* forwards,
      ForwardGather* gather);
  // ForwardBatchResult (or ForwardResult when `single`) around the answers, in order.
  static std::vector<std::uint8_t> encode_answers(
      const std::vector<std::vector<std::uint8_t>>& frames, bool single);
  // While forwarded requests are being served on this thread, flushes their pushes would
  // start are collected in `nodes` instead of posted.
  struct DeferFlushes {
    explicit DeferFlushes(std::vector<std::string>& nodes);
    ~DeferFlushes();
    std::vector<std::string>* previous;
  };
  // Posts a flush of `node`'s outbox, or defers it (DeferFlushes).
  void schedule_flush(const std::string& node);
  std::vector<std::uint8_t> answer_parts(const peer_wire::UserParts& query);
  // Hands a snapshot chunk to the replicas and answers once they have staged it.
  asio::awaitable<std::vector<std::uint8_t>> accept_snapshot_chunk(
      std::string_view from_node, const peer_wire::PeerEnvelope& request);
  void deliver(std::string_view from_node, const peer_wire::PushBatch& push);
  // Delivers a PushBatches or PushBatch message; false when it is neither.
  bool deliver_pushes(std::string_view from_node, const peer_wire::PeerEnvelope& message);

  // What waits for one other node.
  struct Peer {
    explicit Peer(std::uint64_t epoch) : outbox({}, epoch) {}
    net::PeerOutbox outbox;  // thread-safe
    // ForwardBatch requests sent and not answered yet; executor-only. Forwards queued
    // meanwhile wait for the answers and then leave together: at most one round of batches is
    // in flight per node, so a busy link carries few large batches, an idle one no delay.
    std::size_t forward_batches_in_flight = 0;
    // Every PushBatches number up to this one was posted to the link or dropped: what the next
    // PushTail names. Written by flush(), read by the tail loop.
    std::atomic<std::uint64_t> last_number_sent{0};
    // Set while a tail loop runs for this node (flush() starts one when it finds it unset).
    std::atomic<bool> tail_running{false};
    std::uint64_t tail_confirmed = 0;  // the last number the node acknowledged; tail loop only
  };
  Peer& peer_for(const std::string& node);
  // Posted to the sessions' executor when one kind of `node`'s outbox stops being empty, so
  // it runs after the burst of work that filled it: sends the pushes, and has the links'
  // executor send the forwards unless a round of them is in flight.
  void flush(const std::string& node);
  // Links' executor only.
  void send_forwards(const std::string& node, Peer& peer);
  asio::awaitable<void> call_forwards(std::string node, Peer& peer,
                                      net::PeerOutbox::ForwardBatch batch);
  // BLOCKING: one call over the links, waited for on this (pool) thread.
  net::PeerCallResult call_blocking(const std::string& node, std::vector<std::uint8_t> request);

  // Push loss (cluster_push_loss.cc). Sending side: after flush() posted numbered pushes to
  // `node`, a tail loop (links' executor) sends PushTail until the node has confirmed the last
  // number, backing off while it does not answer.
  void start_tail(const std::string& node, Peer& peer);
  asio::awaitable<void> send_tails(std::string node, Peer& peer);
  // Receiving side, links' executor, in arrival order: the numbering of a push message, and a
  // PushTail's answer.
  void check_push_number(std::string_view from_node, const peer_wire::PeerEnvelope& message);
  std::vector<std::uint8_t> answer_push_tail(std::string_view from_node,
                                             const peer_wire::PushTail& tail);
  // Links' executor: Resync to every session here now, or when the last round is a second old.
  void resync_sessions(std::string reason);
  void push_resync();

  asio::any_io_executor executor_;
  asio::any_io_executor blocking_;
  asio::any_io_executor sessions_;
  net::PeerLinks& links_;
  const service::PlacementSource& placement_;
  service::ImService& service_;
  replica::ReplicaHost* replicas_ = nullptr;
  std::uint64_t replica_id_ = 0;
  AdminRelay& admin_;
  core::Logger& logger_;
  const std::chrono::milliseconds query_timeout_;
  // By sending node; only touched on the links' executor.
  std::unordered_map<std::string, Source> sources_;
  // Serves the forwards that run on the sessions' executor (only there).
  session::DetachedServer server_here_;
  asio::strand<asio::any_io_executor> serial_;  // run_serially's queue, on the pool
  service::KnownUsers known_users_;
  // By destination node; entries are never removed (one per node ever sent to).
  std::mutex peers_mutex_;
  std::unordered_map<std::string, std::unique_ptr<Peer>> peers_;
  std::atomic<std::uint64_t> pushes_dropped_{0};
  // Push loss, links' executor only (but the counters).
  route::PushGaps push_gaps_;
  asio::steady_timer resync_timer_;
  bool resync_scheduled_ = false;
  std::chrono::steady_clock::time_point last_resync_{};
  std::string resync_reason_;
  std::atomic<std::uint64_t> push_gaps_seen_{0};
  std::atomic<std::uint64_t> resync_rounds_{0};
};

// A ReplicaStatusResult reply: what this node's replicas report (qimctl partitions).
std::vector<std::uint8_t> encode_replica_status(const std::vector<replica::ReplicaStatus>& replicas,
                                                std::string_view node_name,
                                                std::uint64_t replica_id);

}  // namespace qim::node
