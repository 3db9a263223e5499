#include "net/peer_links.h"

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <sodium.h>

#include <algorithm>
#include <array>
#include <exception>
#include <utility>

#include "net/gossip_transport.h"  // format_address
#include "net/prefixed_message.h"
#include "proto/frame.h"

namespace qim::net {

namespace {

using asio::experimental::as_tuple;
constexpr auto use_nothrow = as_tuple(asio::use_awaitable);
using Clock = std::chrono::steady_clock;
using Challenge = std::array<std::uint8_t, proto::peer_challenge_bytes>;

// Accept errors such as EMFILE repeat: back off instead of spinning.
constexpr std::chrono::milliseconds accept_error_backoff{50};

Challenge random_challenge() {
  Challenge challenge;
  randombytes_buf(challenge.data(), challenge.size());
  return challenge;
}

std::optional<asio::ip::address> parse_ip(std::string_view host) {
  asio::error_code error;
  auto address = asio::ip::make_address(std::string(host), error);
  if (error) return std::nullopt;
  return address;
}

PeerHandshakeResult handshake_failure(errc code, std::string message) {
  PeerHandshakeResult result;
  result.error = {code, std::move(message)};
  return result;
}

std::string remote_of(const asio::ip::tcp::socket& socket) {
  asio::error_code error;
  auto endpoint = socket.remote_endpoint(error);
  return error ? std::string("unknown") : format_address(endpoint.address(), endpoint.port());
}

}  // namespace

// A call waiting for its reply. Lives in the frame of call_on_executor(); registered in its
// link's pending_calls until it has a result or has given up.
struct PeerLinks::PendingCall {
  explicit PendingCall(asio::any_io_executor executor) : wake(std::move(executor)) {}
  asio::steady_timer wake;  // expires at the deadline; cancelled when the result is set
  std::optional<PeerCallResult> result;
  std::uint64_t written_on_connection = 0;  // 0: not written yet
};

struct PeerLinks::OutboundLink {
  OutboundLink(asio::any_io_executor executor, std::string node_name,
               const PeerLinkOptions& options)
      : node(std::move(node_name)),
        queue(executor, options.queue_bytes, options.queue_frames),
        backoff_timer(executor) {}

  const std::string node;
  PeerSendQueue queue;  // thread-safe
  // Executor-only below.
  bool task_running = false;
  bool ever_connected = false;
  PeerConnection* connection = nullptr;
  std::unordered_map<std::uint32_t, PendingCall*> pending_calls;
  asio::steady_timer backoff_timer;
  asio::ip::tcp::socket* dialing_socket = nullptr;
};

struct PeerLinks::Dialed {
  asio::ip::tcp::socket socket;
  PeerHandshakeResult handshake;
};

PeerLinks::PeerLinks(asio::any_io_executor executor, const auth::ClusterKey& key,
                     PeerDirectory& directory, core::Logger& logger, std::uint64_t restart_epoch,
                     PeerLinkOptions options)
    : executor_(std::move(executor)),
      key_(key),
      directory_(directory),
      logger_(logger),
      restart_epoch_(restart_epoch),
      options_(options),
      acceptor_(executor_),
      link_starter_bell_(executor_, 1),
      jitter_state_(randombytes_random() | 1),
      tasks_done_(executor_) {
  jitter_state_ = (jitter_state_ << 32) | randombytes_random() | 1;
}

PeerLinks::~PeerLinks() = default;

bool PeerLinks::bind(const HostPort& address, std::string& error) {
  auto ip = parse_ip(address.host);
  if (!ip) {
    error = fmt::format("peer address '{}' is not an IP address", address.host);
    return false;
  }
  asio::ip::tcp::endpoint endpoint(*ip, address.port);
  asio::error_code code;
  acceptor_.open(endpoint.protocol(), code);
  if (!code) acceptor_.set_option(asio::socket_base::reuse_address(true), code);
  if (!code) acceptor_.bind(endpoint, code);
  if (!code) acceptor_.listen(asio::socket_base::max_listen_connections, code);
  if (!code) local_port_ = acceptor_.local_endpoint(code).port();
  if (code) {
    asio::error_code ignored;
    acceptor_.close(ignored);
    error = fmt::format("cannot listen for peer links on {}: {}", format_address(*ip, address.port),
                        code.message());
    return false;
  }
  local_address_ = format_address(*ip, local_port_);
  return true;
}

void PeerLinks::start(PeerHandler& handler) {
  handler_ = &handler;
  logger_.info("peer", "accepting peer links on {}", local_address_);
  spawn(accept_loop());
  spawn(link_starter());
}

void PeerLinks::spawn(asio::awaitable<void> task) {
  ++running_tasks_;
  asio::co_spawn(executor_, std::move(task), [this](std::exception_ptr exception) {
    if (exception) {
      try {
        std::rethrow_exception(exception);
      } catch (const std::exception& failure) {
        logger_.error("peer", "peer link task failed: {}", failure.what());
      }
    }
    task_finished();
  });
}

void PeerLinks::task_finished() {
  --running_tasks_;
  if (running_tasks_ == 0) tasks_done_.cancel();
}

asio::awaitable<void> PeerLinks::stop() {
  stopping_ = true;
  asio::error_code ignored;
  acceptor_.close(ignored);
  link_starter_bell_.close();
  std::vector<OutboundLink*> links;
  {
    std::lock_guard lock(mutex_);
    for (auto& [node, link] : outbound_)
      links.push_back(link.get());
  }
  for (auto* link : links) {
    fail_calls(*link, peer_shutting_down, "the node is shutting down");
    PeerLinkCounters::add(counters_.frames_dropped, link->queue.close());
    link->backoff_timer.cancel();
    if (link->connection) link->connection->close();
    if (link->dialing_socket) link->dialing_socket->close(ignored);
  }
  for (auto& [id, connection] : inbound_)
    connection->close();
  for (auto* socket : handshaking_)
    socket->close(ignored);
  while (running_tasks_ > 0 || calls_entering_.load() > 0) {
    // Cancelled by the last task; the short bound covers calls still entering from other
    // threads, which end as soon as they reach the executor.
    tasks_done_.expires_after(std::chrono::milliseconds(10));
    co_await tasks_done_.async_wait(use_nothrow);
  }
  std::lock_guard lock(mutex_);
  outbound_.clear();
}

PeerLinkStats PeerLinks::stats() const {
  PeerLinkStats stats = counters_.load();
  std::lock_guard lock(mutex_);
  stats.outbound_links = outbound_.size();
  for (const auto& [node, link] : outbound_) {
    stats.queued_frames += link->queue.frames();
    stats.queued_bytes += link->queue.bytes();
  }
  return stats;
}

bool PeerLinks::warn_allowed() {
  auto now = Clock::now();
  if (now - last_warning_ < std::chrono::seconds(1)) return false;
  last_warning_ = now;
  return true;
}

std::chrono::milliseconds PeerLinks::jittered(std::chrono::milliseconds delay) {
  // xorshift64: redial jitter needs spread, not quality.
  jitter_state_ ^= jitter_state_ << 13;
  jitter_state_ ^= jitter_state_ >> 7;
  jitter_state_ ^= jitter_state_ << 17;
  auto spread = std::max<std::int64_t>(1, delay.count() / 2);  // +-25%
  auto offset = static_cast<std::int64_t>(jitter_state_ % static_cast<std::uint64_t>(spread));
  return std::chrono::milliseconds(delay.count() - spread / 2 + offset);
}

// --- sending ---------------------------------------------------------------------------------

Error PeerLinks::prepare(std::vector<std::uint8_t>& payload, std::uint32_t req_id,
                         peer_wire::PeerKind kind) const {
  // The payload is copied into an 8-byte-aligned buffer by std::vector's allocator already.
  Error error;
  if (!proto::verify_peer_envelope(payload, error)) {
    return {errc::invalid_argument, "not a PeerEnvelope: " + error.message};
  }
  if (payload.size() + auth::sealed_overhead_bytes > options_.max_frame_bytes) {
    return {errc::limit_exceeded,
            fmt::format("a peer message of {} bytes exceeds the frame limit of {} bytes",
                        payload.size(), options_.max_frame_bytes)};
  }
  if (!proto::stamp_peer_envelope(payload, req_id, kind)) {
    return {errc::invalid_argument, "the envelope lacks req_id or kind (use PeerFrameBuilder)"};
  }
  return {};
}

PeerLinks::OutboundLink* PeerLinks::find_or_create_link(const std::string& node, bool& created) {
  created = false;
  auto found = outbound_.find(node);
  if (found != outbound_.end()) return found->second.get();
  if (outbound_.size() >= options_.max_outbound_links) return nullptr;
  created = true;
  auto link = std::make_unique<OutboundLink>(executor_, node, options_);
  auto* raw = link.get();
  outbound_.emplace(node, std::move(link));
  return raw;
}

bool PeerLinks::post(std::string node, std::vector<std::uint8_t> message) {
  if (stopping_.load()) return false;
  if (prepare(message, 0, peer_wire::PeerKind::Oneway)) {
    PeerLinkCounters::add(counters_.frames_dropped);
    return false;
  }
  bool created = false;
  {
    std::lock_guard lock(mutex_);
    if (stopping_.load()) return false;
    auto* link = find_or_create_link(node, created);
    if (!link || !link->queue.try_push({std::move(message), 0})) {
      PeerLinkCounters::add(counters_.frames_dropped);
      return false;
    }
  }
  // The link's task is spawned on the executor; a token already waiting covers this link too.
  if (created) link_starter_bell_.try_send(asio::error_code(), true);
  return true;
}

asio::awaitable<void> PeerLinks::link_starter() {
  while (!stopping_) {
    auto [error, rang] = co_await link_starter_bell_.async_receive(use_nothrow);
    if (error || stopping_) break;
    std::vector<OutboundLink*> idle;
    {
      std::lock_guard lock(mutex_);
      for (auto& [node, link] : outbound_) {
        if (!link->task_running) idle.push_back(link.get());
      }
    }
    // Spawned outside the lock: the task takes the lock itself.
    for (auto* link : idle)
      start_link(*link);
  }
}

void PeerLinks::start_link(OutboundLink& link) {
  if (link.task_running || stopping_) return;
  link.task_running = true;
  spawn(run_outbound(link));
}

asio::awaitable<PeerCallResult> PeerLinks::call(std::string node, std::vector<std::uint8_t> request,
                                                std::chrono::milliseconds timeout) {
  // Entered before stopping_ is read, so stop() either sees this call or it sees stop().
  ++calls_entering_;
  if (stopping_.load()) {
    --calls_entering_;
    co_return PeerCallResult::failure(peer_shutting_down, "the node is shutting down");
  }
  if ((co_await asio::this_coro::executor) == executor_) {
    // Already there: the request is queued before this coroutine first yields, so calls made
    // one after another on the executor are written in that order.
    co_return co_await call_on_executor(std::move(node), std::move(request), timeout);
  }
  auto on_executor =
      asio::co_spawn(executor_, call_on_executor(std::move(node), std::move(request), timeout),
                     asio::use_awaitable);
  auto result = co_await std::move(on_executor);
  co_return result;
}

asio::awaitable<PeerCallResult> PeerLinks::call_on_executor(std::string node,
                                                            std::vector<std::uint8_t> request,
                                                            std::chrono::milliseconds timeout) {
  struct Leave {
    std::atomic<std::size_t>& count;
    ~Leave() { --count; }
  } leave{calls_entering_};

  if (stopping_) co_return PeerCallResult::failure(peer_shutting_down, "the node is shutting down");
  if (node == directory_.local_name()) {
    co_return PeerCallResult::failure(errc::invalid_argument,
                                      fmt::format("'{}' is this node", node));
  }
  if (!directory_.peer_address(node)) {
    co_return PeerCallResult::failure(peer_unavailable,
                                      fmt::format("'{}' is not a live member", node));
  }
  std::uint32_t req_id = next_request_id_++;
  if (req_id == 0) req_id = next_request_id_++;  // 0 means "no request"
  if (Error error = prepare(request, req_id, peer_wire::PeerKind::Request)) {
    co_return PeerCallResult::failure(std::move(error));
  }
  timeout = std::clamp(timeout, std::chrono::milliseconds(0), options_.max_call_timeout);

  OutboundLink* link = nullptr;
  {
    std::lock_guard lock(mutex_);
    bool created = false;
    link = find_or_create_link(node, created);
    if (link && !link->queue.try_push({std::move(request), req_id})) link = nullptr;
  }
  if (!link) {
    PeerLinkCounters::add(counters_.calls_overloaded);
    co_return PeerCallResult::failure(
        peer_overloaded, fmt::format("the link to '{}' has too much queued; retry later", node));
  }
  start_link(*link);

  PendingCall call(executor_);
  call.wake.expires_after(timeout);
  link->pending_calls.emplace(req_id, &call);
  while (!call.result) {
    co_await call.wake.async_wait(use_nothrow);
    if (call.result || Clock::now() >= call.wake.expiry()) break;
  }
  if (call.result) co_return std::move(*call.result);

  // Timed out: whoever sets a result also unregisters the call, so the link is still there.
  link->pending_calls.erase(req_id);
  if (link->queue.remove_request(req_id)) PeerLinkCounters::add(counters_.frames_dropped);
  co_return PeerCallResult::failure(
      peer_unavailable, fmt::format("no reply from '{}' within {} ms{}", node, timeout.count(),
                                    link->connection ? "" : " (no link: the node is unreachable)"));
}

void PeerLinks::fail_calls(OutboundLink& link, errc code, const std::string& message,
                           std::uint64_t only_connection) {
  for (auto it = link.pending_calls.begin(); it != link.pending_calls.end();) {
    PendingCall& call = *it->second;
    if (only_connection != 0 && call.written_on_connection != only_connection) {
      ++it;
      continue;
    }
    call.result = PeerCallResult::failure(code, message);
    call.wake.cancel();
    it = link.pending_calls.erase(it);
  }
}

bool PeerLinks::claim_request(PeerConnection& connection, std::uint32_t request_id) {
  OutboundLink* link = nullptr;
  {
    std::lock_guard lock(mutex_);
    auto found = outbound_.find(connection.remote_name());
    if (found != outbound_.end()) link = found->second.get();
  }
  if (!link) return false;
  auto call = link->pending_calls.find(request_id);
  if (call == link->pending_calls.end()) return false;
  call->second->written_on_connection = connection.id();
  return true;
}

// --- outbound links --------------------------------------------------------------------------

asio::awaitable<void> PeerLinks::run_outbound(OutboundLink& link) {
  auto backoff = options_.backoff_initial;
  bool failed_before = false;
  while (!stopping_) {
    // Dial only when there is something to send: an idle link stays down until used.
    if (link.queue.empty() && link.pending_calls.empty()) {
      if (!co_await link.queue.wait()) break;
      continue;
    }
    auto address = directory_.peer_address(link.node);
    if (!address) {
      logger_.info("peer", "dropping the link to {}: not a live member", link.node);
      fail_calls(link, peer_unavailable, fmt::format("'{}' is not a live member", link.node));
      break;
    }
    auto dialed = co_await dial(link.node, *address);
    if (stopping_) break;
    if (!dialed) {
      PeerLinkCounters::add(counters_.dials_failed);
      failed_before = true;
      link.backoff_timer.expires_after(jittered(backoff));
      backoff = std::min(backoff * 2, options_.backoff_max);
      co_await link.backoff_timer.async_wait(use_nothrow);
      continue;
    }
    if (link.ever_connected || failed_before) PeerLinkCounters::add(counters_.reconnects);
    if (link.ever_connected || failed_before) {
      logger_.info("peer", "link to {} at {} is up again", link.node, *address);
    } else {
      logger_.debug("peer", "link to {} at {} is up", link.node, *address);
    }
    link.ever_connected = true;
    failed_before = false;
    backoff = options_.backoff_initial;
    auto started = Clock::now();
    co_await serve_outbound(link, std::move(*dialed));
    if (stopping_) break;
    // A link that dies at once (a peer that accepts and then drops us) must not make us
    // redial in a tight loop.
    if (Clock::now() - started < options_.heartbeat_interval) {
      link.backoff_timer.expires_after(jittered(backoff));
      backoff = std::min(backoff * 2, options_.backoff_max);
      co_await link.backoff_timer.async_wait(use_nothrow);
    }
  }
  remove_link(link);
}

asio::awaitable<void> PeerLinks::serve_outbound(OutboundLink& link, Dialed dialed) {
  PeerConnection connection(std::move(dialed.socket), std::move(*dialed.handshake.cipher),
                            link.node, next_connection_id_++, PeerSide::outbound, link.queue,
                            *this);
  link.connection = &connection;
  counters_.outbound_connected.fetch_add(1, std::memory_order_relaxed);
  co_await connection.run();
  counters_.outbound_connected.fetch_sub(1, std::memory_order_relaxed);
  link.connection = nullptr;
  // Requests written on it may or may not have been executed: their callers decide.
  fail_calls(link, peer_unavailable,
             fmt::format("the link to '{}' closed before the reply", link.node), connection.id());
}

void PeerLinks::remove_link(OutboundLink& link) {
  fail_calls(link, stopping_ ? peer_shutting_down : peer_unavailable,
             fmt::format("the link to '{}' is gone", link.node));
  std::lock_guard lock(mutex_);
  PeerLinkCounters::add(counters_.frames_dropped, link.queue.close());
  outbound_.erase(link.node);  // destroys `link`
}

asio::awaitable<std::optional<PeerLinks::Dialed>> PeerLinks::dial(std::string node,
                                                                  std::string address) {
  using namespace asio::experimental::awaitable_operators;
  asio::ip::tcp::socket socket(executor_);
  OutboundLink* link = nullptr;
  {
    std::lock_guard lock(mutex_);
    auto found = outbound_.find(node);
    if (found != outbound_.end()) link = found->second.get();
  }
  if (link) link->dialing_socket = &socket;
  Challenge challenge_a = random_challenge();
  PeerIdentity local{directory_.local_name(), restart_epoch_, local_address_};

  auto attempt = [&]() -> asio::awaitable<PeerHandshakeResult> {
    auto host_port = parse_host_port(address);
    if (!host_port) co_return handshake_failure(errc::invalid_argument, "bad address");
    asio::ip::tcp::resolver resolver(executor_);
    auto [resolve_error, endpoints] = co_await resolver.async_resolve(
        host_port->host, std::to_string(host_port->port), use_nothrow);
    if (resolve_error) {
      co_return handshake_failure(peer_unavailable, resolve_error.message());
    }
    auto [connect_error, endpoint] = co_await asio::async_connect(socket, endpoints, use_nothrow);
    if (connect_error) {
      co_return handshake_failure(peer_unavailable, connect_error.message());
    }
    asio::error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    auto hello = make_peer_hello(key_, local, challenge_a);
    if (!co_await write_prefixed_message(socket, hello)) {
      co_return handshake_failure(peer_unavailable, "hello could not be written");
    }
    auto answer = co_await read_prefixed_message(socket, options_.max_handshake_bytes);
    if (!answer) {
      co_return handshake_failure(errc::auth_failed,
                                  "the peer closed the connection instead of answering "
                                  "(a different cluster key?)");
    }
    co_return open_peer_answer(key_, challenge_a, node, *answer);
  };

  asio::steady_timer deadline(executor_);
  deadline.expires_after(options_.handshake_timeout);
  auto outcome = co_await (attempt() || deadline.async_wait(use_nothrow));
  // The link may have been erased meanwhile only by its own task, which is awaiting us.
  if (link) link->dialing_socket = nullptr;
  PeerHandshakeResult result;
  if (outcome.index() == 0) {
    result = std::move(std::get<0>(outcome));
  } else {
    result.error = {peer_unavailable, "connect and handshake timed out"};
  }
  if (!result.cipher) {
    if (warn_allowed()) {
      logger_.warn("peer", "cannot link to {} at {}: {}", node, address, result.error.message);
    } else {
      logger_.debug("peer", "cannot link to {} at {}: {}", node, address, result.error.message);
    }
    asio::error_code ignored;
    socket.close(ignored);
    co_return std::nullopt;
  }
  co_return Dialed{std::move(socket), std::move(result)};
}

bool PeerLinks::still_member(const std::string& node) const {
  return directory_.peer_address(node).has_value();
}

// --- inbound links ---------------------------------------------------------------------------

asio::awaitable<void> PeerLinks::accept_loop() {
  asio::steady_timer backoff(executor_);
  while (!stopping_) {
    auto [error, socket] = co_await acceptor_.async_accept(use_nothrow);
    if (stopping_ || !acceptor_.is_open()) break;
    if (error) {
      logger_.warn("peer", "accept failed: {}", error.message());
      backoff.expires_after(accept_error_backoff);
      co_await backoff.async_wait(use_nothrow);
      continue;
    }
    if (inbound_sockets_ >= options_.max_inbound_links) {
      PeerLinkCounters::add(counters_.inbound_refused_over_limit);
      asio::error_code ignored;
      socket.close(ignored);
      continue;
    }
    ++inbound_sockets_;
    spawn(serve_inbound(std::move(socket)));
  }
}

asio::awaitable<void> PeerLinks::serve_inbound(asio::ip::tcp::socket socket) {
  using namespace asio::experimental::awaitable_operators;
  struct Leave {
    std::size_t& count;
    ~Leave() { --count; }
  } leave{inbound_sockets_};
  std::string from = remote_of(socket);
  asio::error_code ignored;
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);

  handshaking_.insert(&socket);
  Challenge challenge_b = random_challenge();
  PeerIdentity local{directory_.local_name(), restart_epoch_, local_address_};
  auto exchange = [&]() -> asio::awaitable<PeerHandshakeResult> {
    auto hello = co_await read_prefixed_message(socket, options_.max_handshake_bytes);
    if (!hello) {
      co_return handshake_failure(errc::malformed,
                                  "no hello (closed, or a length of 0 or over the limit)");
    }
    auto result = answer_peer_hello(key_, directory_, local, challenge_b, *hello);
    if (!result.answer.empty() && !co_await write_prefixed_message(socket, result.answer)) {
      result.cipher.reset();
      result.error = {peer_unavailable, "the answer could not be written"};
    }
    co_return result;
  };
  asio::steady_timer deadline(executor_);
  deadline.expires_after(options_.handshake_timeout);
  auto outcome = co_await (exchange() || deadline.async_wait(use_nothrow));
  handshaking_.erase(&socket);
  PeerHandshakeResult result;
  if (outcome.index() == 0) {
    result = std::move(std::get<0>(outcome));
  } else {
    result.error = {errc::malformed, "no hello within the handshake timeout"};
  }
  if (!result.cipher || stopping_) {
    if (!stopping_) PeerLinkCounters::add(counters_.handshakes_failed);
    if (warn_allowed()) {
      logger_.warn("peer", "refused a peer link from {}: {}", from, result.error.message);
    } else {
      logger_.debug("peer", "refused a peer link from {}: {}", from, result.error.message);
    }
    socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    co_return;
  }

  logger_.debug("peer", "link from {} at {} is up (restart epoch {})", result.remote_name, from,
                result.remote_restart_epoch);
  PeerSendQueue queue(executor_, options_.inbound_queue_bytes, options_.inbound_queue_frames);
  PeerConnection connection(std::move(socket), std::move(*result.cipher), result.remote_name,
                            next_connection_id_++, PeerSide::inbound, queue, *this);
  inbound_.emplace(connection.id(), &connection);
  counters_.inbound_links.fetch_add(1, std::memory_order_relaxed);
  co_await connection.run();
  counters_.inbound_links.fetch_sub(1, std::memory_order_relaxed);
  inbound_.erase(connection.id());
  // Replies still being computed find the connection gone and are dropped.
  queue.close();
}

asio::awaitable<void> PeerLinks::handle_request(std::uint64_t connection_id, std::string from,
                                                proto::PeerMessage request) {
  const std::uint32_t req_id = request.envelope().req_id();
  std::vector<std::uint8_t> reply;
  try {
    reply = co_await handler_->on_request(from, request.envelope());
  } catch (const std::exception& failure) {
    logger_.error("peer", "request handler for {} threw: {}", from, failure.what());
    reply.clear();
  }
  Error error = reply.empty() ? Error{errc::internal, "empty reply"}
                              : prepare(reply, req_id, peer_wire::PeerKind::Reply);
  if (error) {
    logger_.error("peer", "request handler for {} produced no valid reply: {}", from,
                  error.message);
    proto::PeerFrameBuilder builder;
    reply = builder.error(req_id, peer_wire::PeerKind::Reply, errc::internal,
                          "the request handler failed");
  }
  auto found = inbound_.find(connection_id);
  if (found == inbound_.end()) {
    PeerLinkCounters::add(counters_.frames_dropped);
    co_return;
  }
  --found->second->requests_in_flight;
  if (!found->second->queue().try_push({std::move(reply), 0})) {
    PeerLinkCounters::add(counters_.frames_dropped);
  }
}

// --- frames from connections -----------------------------------------------------------------

void PeerLinks::note_bad_frame(const PeerConnection& connection, std::string_view why) {
  PeerLinkCounters::add(counters_.connections_closed_bad_frame);
  const char* direction = connection.side() == PeerSide::outbound ? "to" : "from";
  if (warn_allowed()) {
    logger_.warn("peer", "closing the link {} {}: {}", direction, connection.remote_name(), why);
  } else {
    logger_.debug("peer", "closing the link {} {}: {}", direction, connection.remote_name(), why);
  }
}

bool PeerLinks::on_frame(PeerConnection& connection, proto::PeerMessage message) {
  const auto& envelope = message.envelope();
  switch (envelope.body_type()) {
    case peer_wire::PeerBody::PeerPing: {
      proto::PeerFrameBuilder builder(64);
      // Dropped when the queue is full: traffic is flowing then, which proves liveness.
      connection.queue().try_push({builder.pong(envelope.body_as_PeerPing()->nonce()), 0});
      return true;
    }
    case peer_wire::PeerBody::PeerPong:
      return true;  // receiving it was the point
    case peer_wire::PeerBody::PeerHello:
    case peer_wire::PeerBody::PeerHelloOk:
      note_bad_frame(connection, "a handshake message after the handshake");
      return false;
    default:
      break;
  }

  if (connection.side() == PeerSide::outbound) {
    if (envelope.kind() != peer_wire::PeerKind::Reply) {
      // The remote sends its requests on its own outbound link, never on ours.
      note_bad_frame(connection, "a request or one-way message on our outbound link");
      return false;
    }
    OutboundLink* link = nullptr;
    {
      std::lock_guard lock(mutex_);
      auto found = outbound_.find(connection.remote_name());
      if (found != outbound_.end()) link = found->second.get();
    }
    PendingCall* call = nullptr;
    if (link) {
      auto found = link->pending_calls.find(envelope.req_id());
      if (found != link->pending_calls.end()) {
        call = found->second;
        link->pending_calls.erase(found);
      }
    }
    if (!call) {
      PeerLinkCounters::add(counters_.frames_dropped);  // its caller gave up
      return true;
    }
    PendingCall& pending = *call;
    if (const auto* error = envelope.body_as_PeerError()) {
      auto code = proto::from_wire(error->code());
      pending.result = PeerCallResult::failure(code == errc::ok ? errc::internal : code,
                                               std::string(proto::view(error->message())));
    } else {
      pending.result = PeerCallResult::success(std::move(message));
    }
    pending.wake.cancel();
    return true;
  }

  // Inbound.
  switch (envelope.kind()) {
    case peer_wire::PeerKind::Request: {
      if (connection.requests_in_flight >= options_.max_requests_in_flight) {
        proto::PeerFrameBuilder builder(128);
        auto refusal = builder.error(envelope.req_id(), peer_wire::PeerKind::Reply,
                                     errc::rate_limited, "too many requests in flight");
        if (!connection.queue().try_push({std::move(refusal), 0})) {
          PeerLinkCounters::add(counters_.frames_dropped);
        }
        return true;
      }
      ++connection.requests_in_flight;
      spawn(handle_request(connection.id(), connection.remote_name(), std::move(message)));
      return true;
    }
    case peer_wire::PeerKind::Oneway:
      try {
        handler_->on_oneway_owned(connection.remote_name(), std::move(message));
      } catch (const std::exception& failure) {
        logger_.error("peer", "one-way handler for {} threw: {}", connection.remote_name(),
                      failure.what());
      }
      return true;
    case peer_wire::PeerKind::Reply:
      note_bad_frame(connection, "a reply on an inbound link");
      return false;
  }
  return false;
}

}  // namespace qim::net
