#pragma once
// Peer links: one persistent, authenticated, encrypted TCP link per pair of nodes, carrying
// framed PeerEnvelopes (schemas/peer.fbs). Each node dials its own outbound link to every node
// it sends to (opened on demand at the first send, redialled with backoff); a link accepted
// from node X carries X's requests and one-way messages to us and our replies back to X.
//
// The link layer is body-agnostic: it moves verified envelopes, matches replies to requests by
// req_id and interprets only the handshake, PeerError (as a call's failure), PeerPing and
// PeerPong. Everything else goes to the PeerHandler.
//
// Wire format and handshake: schemas/README.md ("Peer links"), net/peer_handshake.h and
// net/peer_cipher.h.
#include <asio.hpp>
#include <asio/experimental/concurrent_channel.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "auth/cluster_key.h"
#include "core/log.h"
#include "net/endpoint.h"
#include "net/peer_connection.h"
#include "net/peer_counters.h"
#include "net/peer_directory.h"
#include "net/peer_handshake.h"
#include "net/peer_send_queue.h"
#include "proto/peer_frame.h"
#include "service/types.h"

namespace qim::net {

// The verified envelope of a reply; owns its bytes.
using PeerReply = proto::PeerMessage;
using PeerCallResult = service::Result<PeerReply>;

// The error codes the link layer reports. qim::errc is the wire's closed set and has no
// dedicated "overloaded" or "timed out"; these are the nearest codes, and the messages say
// which case it was.
inline constexpr errc peer_overloaded = errc::rate_limited;  // the link's queue is full
inline constexpr errc peer_unavailable = errc::unavailable;  // no link, no reply in time
inline constexpr errc peer_shutting_down = errc::shutting_down;

struct PeerLinkOptions {
  // Largest sealed frame accepted or sent (after the length prefix).
  std::uint32_t max_frame_bytes = proto::default_peer_max_frame_bytes;
  // Largest handshake frame: before the peer has proven it holds the key, it may not make us
  // allocate more than this.
  std::uint32_t max_handshake_bytes = 4 * 1024;
  // Per link, outbound: queued payload bytes and frames; beyond them call() fails with
  // peer_overloaded and post() returns false.
  std::size_t queue_bytes = 16 * 1024 * 1024;
  std::size_t queue_frames = 8 * 1024;
  // Inbound: queued replies per connection (the handler's answers wait here for the writer).
  std::size_t inbound_queue_bytes = 16 * 1024 * 1024;
  std::size_t inbound_queue_frames = 8 * 1024;
  // Requests from one inbound link handed to the handler at once; more are answered with
  // PeerError{RateLimited} at once.
  std::size_t max_requests_in_flight = 1024;
  // Distinct nodes we keep an outbound link for, and accepted connections at once.
  std::size_t max_outbound_links = 1024;
  std::size_t max_inbound_links = 1024;
  // Connect and handshake, each way, must finish within this.
  std::chrono::milliseconds handshake_timeout{3'000};
  // Redial delays after a failure: the first after backoff_initial, doubling up to
  // backoff_max, each with +-25% jitter so that nodes do not redial in step.
  std::chrono::milliseconds backoff_initial{50};
  std::chrono::milliseconds backoff_max{5'000};
  // A ping goes out on a link that wrote nothing for this long; a link that received nothing
  // for missed_heartbeats intervals is closed (and redialled on the next send).
  std::chrono::milliseconds heartbeat_interval{2'000};
  int missed_heartbeats = 3;
  // Longest deadline call() accepts.
  std::chrono::milliseconds max_call_timeout{60'000};
};

// What inbound messages are handed to. Called on the links' executor; it must not block (use
// the node's blocking pool for storage work and co_await its completion). `from_node` and the
// envelope stay valid until on_request's awaitable completes / on_oneway returns.
class PeerHandler {
 public:
  virtual ~PeerHandler() = default;
  // A request; returns the reply: a PeerEnvelope payload built with proto::PeerFrameBuilder
  // (its req_id and kind are overwritten by the link), e.g. a PeerError. An empty or invalid
  // reply, or an exception, answers PeerError{Internal}.
  virtual asio::awaitable<std::vector<std::uint8_t>> on_request(
      std::string_view from_node, const peer_wire::PeerEnvelope& request) = 0;
  // A one-way message; nothing is answered.
  virtual void on_oneway(std::string_view from_node, const peer_wire::PeerEnvelope& message) = 0;
  // The same, with the message's ownership, for a handler that keeps it beyond the call (to
  // handle it on another thread). By default, on_oneway(from_node, message.envelope()).
  virtual void on_oneway_owned(std::string_view from_node, proto::PeerMessage message) {
    on_oneway(from_node, message.envelope());
  }
  // Called by each link before it writes a batch of frames, which may reveal store writes
  // that are not durable yet (group commit). False: they could not be made durable, and the
  // link closes without writing them.
  virtual bool before_write() { return true; }
};

// The registry of a node's peer links. Owned by the node and passed by reference.
//
// Executor: everything runs on the one executor given at construction, which must not run
// handlers concurrently (an io_context run by one thread, or a strand). call(), post() and
// stats() are thread-safe; everything else is called on that executor.
// Lifecycle: bind(), start(handler), then any number of call()/post(); stop() closes every
// link, fails every pending call with peer_shutting_down, and completes when no task of ours
// is left. The handler and the directory must outlive stop()'s completion. REQUIRES: no
// call() or post() begins after stop() completed (those that begin after stop() began fail).
class PeerLinks {
 public:
  // `restart_epoch` is announced in our hellos; our advertised address is local_address().
  // REQUIRES: `key` and `directory` outlive this object.
  PeerLinks(asio::any_io_executor executor, const auth::ClusterKey& key, PeerDirectory& directory,
            core::Logger& logger, std::uint64_t restart_epoch, PeerLinkOptions options = {});
  ~PeerLinks();

  PeerLinks(const PeerLinks&) = delete;
  PeerLinks& operator=(const PeerLinks&) = delete;

  // Listens on `address` (port 0: any free port). False with `error` set on failure.
  // REQUIRES: address.host is an IP literal (it is advertised to the other members).
  bool bind(const HostPort& address, std::string& error);
  // "ip:port" (IPv6 in brackets) to advertise as this node's peer address.
  // REQUIRES: bind() succeeded.
  const std::string& local_address() const { return local_address_; }
  // The restart epoch announced in our hellos (it also marks our numbered pushes).
  std::uint64_t restart_epoch() const { return restart_epoch_; }
  std::uint16_t local_port() const { return local_port_; }

  // Starts accepting links. REQUIRES: bind() succeeded; called once.
  void start(PeerHandler& handler);
  asio::awaitable<void> stop();

  // Thread-safe. Sends `request` (a PeerEnvelope payload built with proto::PeerFrameBuilder;
  // req_id and kind are assigned here) to `node` and returns its reply, or an error:
  //   invalid_argument   the payload is not a PeerEnvelope, or `node` is this node
  //   limit_exceeded     the sealed frame would exceed max_frame_bytes
  //   peer_overloaded    the link's queue is full (fails at once: back off)
  //   peer_unavailable   `node` is not a live member, or the link was down or the peer did not
  //                      answer before the deadline, or the link closed before the reply
  //   peer_shutting_down stop() has begun
  //   any code           the peer answered PeerError{code, message}
  // Completes on the caller's executor, at the latest shortly after `timeout`. A coroutine
  // running on the links' executor has its request queued before it first yields: calls it
  // starts one after another there leave in that order.
  asio::awaitable<PeerCallResult> call(std::string node, std::vector<std::uint8_t> request,
                                       std::chrono::milliseconds timeout);

  // Thread-safe. Queues a one-way message to `node` (a PeerEnvelope payload; req_id and kind
  // are assigned here). False when the link's queue is full, the payload is invalid or too
  // large, or stop() has begun. Delivery is best-effort and in order: a message is lost when
  // the link breaks with it unwritten or `node` turns out not to be a member.
  bool post(std::string node, std::vector<std::uint8_t> message);

  // Thread-safe.
  PeerLinkStats stats() const;

 private:
  friend class PeerConnection;

  struct PendingCall;
  struct OutboundLink;

  // Spawns `task` on the executor, counted so that stop() can wait for it.
  void spawn(asio::awaitable<void> task);
  void task_finished();

  asio::awaitable<PeerCallResult> call_on_executor(std::string node,
                                                   std::vector<std::uint8_t> request,
                                                   std::chrono::milliseconds timeout);
  // Verifies and stamps a payload handed to call()/post(); an error when it cannot be sent.
  Error prepare(std::vector<std::uint8_t>& payload, std::uint32_t req_id,
                peer_wire::PeerKind kind) const;
  // The link for `node`, created when missing (nullptr when max_outbound_links are in use).
  // `created` tells whether it is new. REQUIRES: mutex_ held.
  OutboundLink* find_or_create_link(const std::string& node, bool& created);
  // Spawns the tasks of links that have none yet (links created by post() on other threads).
  asio::awaitable<void> link_starter();
  void start_link(OutboundLink& link);
  asio::awaitable<void> run_outbound(OutboundLink& link);
  struct Dialed;
  asio::awaitable<void> serve_outbound(OutboundLink& link, Dialed dialed);
  // Fails the link's calls, drops its queue and erases it. The link's task's last act.
  void remove_link(OutboundLink& link);
  // Connects to `address` and runs the dialer's handshake; nullopt on failure or timeout.
  asio::awaitable<std::optional<Dialed>> dial(std::string node, std::string address);
  void fail_calls(OutboundLink& link, errc code, const std::string& message,
                  std::uint64_t only_connection = 0);
  std::chrono::milliseconds jittered(std::chrono::milliseconds delay);

  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve_inbound(asio::ip::tcp::socket socket);
  asio::awaitable<void> handle_request(std::uint64_t connection_id, std::string from,
                                       proto::PeerMessage request);

  // From PeerConnection (executor).
  // A verified frame; false ends the connection (a message never accepted on that side).
  bool on_frame(PeerConnection& connection, proto::PeerMessage message);
  // The writer is about to write request `request_id` on `connection`: false when its caller
  // has given up (the frame is then skipped).
  bool claim_request(PeerConnection& connection, std::uint32_t request_id);
  // PeerHandler::before_write, or true before start().
  bool before_write() { return handler_ == nullptr || handler_->before_write(); }
  bool still_member(const std::string& node) const;
  void note_bad_frame(const PeerConnection& connection, std::string_view why);
  // Rate-limits warnings about misbehaving or unreachable peers: at most one warning per
  // second, the rest at debug level.
  bool warn_allowed();

  asio::any_io_executor executor_;
  const auth::ClusterKey& key_;
  PeerDirectory& directory_;
  core::Logger& logger_;
  const std::uint64_t restart_epoch_;
  const PeerLinkOptions options_;
  asio::ip::tcp::acceptor acceptor_;
  std::string local_address_;
  std::uint16_t local_port_ = 0;
  PeerHandler* handler_ = nullptr;
  mutable PeerLinkCounters counters_;

  // Set once by stop(); read anywhere.
  std::atomic<bool> stopping_{false};
  // call()s between their entry and the end of their work on the executor; stop() waits for
  // zero, so a call that raced with stop() never touches a destroyed object.
  std::atomic<std::size_t> calls_entering_{0};

  // Outbound links by node. The map (insertion, lookup, erasure) is GUARDED_BY(mutex_); each
  // link's queue is thread-safe; its other members are executor-only. Links are erased only
  // on the executor, so a pointer taken on the executor stays valid until it yields.
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::unique_ptr<OutboundLink>> outbound_;
  // Rung by post() when it created a link; link_starter() then spawns its task.
  using Bell = asio::experimental::concurrent_channel<void(asio::error_code, bool)>;
  Bell link_starter_bell_;

  // Executor-only state below.
  std::unordered_map<std::uint64_t, PeerConnection*> inbound_;  // by connection id
  std::unordered_set<asio::ip::tcp::socket*> handshaking_;      // sockets before run()
  std::size_t inbound_sockets_ = 0;                             // accepted, handshaking or running
  std::uint64_t next_connection_id_ = 1;
  std::uint32_t next_request_id_ = 1;  // unique across links, so a stale id never matches
  std::uint64_t jitter_state_;
  std::chrono::steady_clock::time_point last_warning_{};
  std::size_t running_tasks_ = 0;
  asio::steady_timer tasks_done_;
};

}  // namespace qim::net
