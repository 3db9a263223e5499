#pragma once
// The gossip transport of a node: one UDP socket for probes and gossip, and a TCP listener on
// the same host:port for push-pull state exchanges, plus dialling out for push-pulls. It seals
// every datagram and every push-pull message with the cluster key and opens what it receives;
// it never looks inside the plaintext (the membership core decides everything).
//
// Wire formats (both sealed with auth::ClusterKey: nonce || ciphertext || tag):
//   datagram   seal(swim datagram, AD = "qim-gossip/1")            one UDP datagram
//   push-pull  u32 LE length || seal(swim state, AD = "qim-push-pull/1")   request, then reply
// Unsealable datagrams are dropped and counted; a push-pull that is too large, unsealable or
// slower than its deadline closes its connection.
#include <asio.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "auth/cluster_key.h"
#include "core/log.h"
#include "net/endpoint.h"

namespace qim::net {

struct GossipTransportOptions {
  // Largest push-pull state accepted (sealed, after the length prefix).
  std::size_t max_push_pull_bytes = 4 * 1024 * 1024;
  // A whole push-pull exchange (connect, request, reply) must finish within this.
  std::chrono::milliseconds push_pull_timeout{5'000};
  // Push-pull connections at once, each way; more inbound ones are closed at accept, more
  // outbound ones are refused by push_pull().
  std::size_t max_inbound_push_pulls = 16;
  std::size_t max_outbound_push_pulls = 8;
  // Largest datagram received; larger ones are truncated by the kernel and fail to open.
  std::size_t max_datagram_bytes = 64 * 1024;
};

// Counters; read and written on the transport's executor only.
struct GossipTransportCounters {
  std::uint64_t datagrams_received = 0;
  std::uint64_t datagrams_unsealable = 0;  // wrong key, tampered, truncated or not ours at all
  std::uint64_t datagrams_sent = 0;
  std::uint64_t datagrams_send_failed = 0;  // bad address, full socket buffer, no route
  std::uint64_t push_pulls_served = 0;
  std::uint64_t push_pulls_refused = 0;  // inbound over the limit, unsealable or failed
  std::uint64_t push_pulls_completed = 0;
  std::uint64_t push_pulls_failed = 0;  // outbound: unreachable, timed out, unsealable
};

// What the transport hands opened bytes to: the membership runner. Called on the transport's
// executor.
class GossipHandler {
 public:
  virtual ~GossipHandler() = default;
  // One opened datagram from `from_address` ("ip:port").
  virtual void on_gossip_datagram(std::string_view from_address,
                                  std::span<const std::uint8_t> plaintext) = 0;
  // A peer opened a push-pull with its state; returns our state to answer with, or nullopt to
  // close without an answer (undecodable state).
  virtual std::optional<std::vector<std::uint8_t>> on_push_pull_request(
      std::string_view from_address, std::span<const std::uint8_t> state) = 0;
};

// Owned by the membership runner (node/). Everything runs on the one executor given at
// construction (main's control thread); nothing here is thread-safe.
// Lifecycle: bind(), start(handler), then any number of send_datagram()/push_pull(); stop()
// closes every socket and completes when no task of ours is left. The handler must outlive
// stop()'s completion.
class GossipTransport {
 public:
  GossipTransport(asio::any_io_executor executor, const auth::ClusterKey& key, core::Logger& logger,
                  GossipTransportOptions options = {});
  ~GossipTransport();

  GossipTransport(const GossipTransport&) = delete;
  GossipTransport& operator=(const GossipTransport&) = delete;

  // Binds UDP and TCP to the same host:port (port 0: one free for both). False with `error`
  // set on failure. REQUIRES: `address.host` is an IP literal.
  bool bind(const HostPort& address, std::string& error);
  // "ip:port" (IPv6 in brackets) of the bound sockets. REQUIRES: bind() succeeded.
  const std::string& local_address() const { return local_address_; }
  std::uint16_t local_port() const { return local_port_; }

  // Starts receiving datagrams and accepting push-pulls. REQUIRES: bind() succeeded.
  void start(GossipHandler& handler);

  // Seals and sends one datagram at once, without queueing: if the address is not an IP
  // literal, or the socket buffer is full, the datagram is dropped and counted (gossip is
  // lossy by design; the protocol retransmits).
  void send_datagram(std::string_view address, std::span<const std::uint8_t> plaintext);

  // Push-pull with `address` ("host:port"; names are resolved): sends our state, returns the
  // peer's (opened), or nullopt on any failure or after the deadline. Refuses at once (nullopt)
  // when max_outbound_push_pulls are in flight or the transport is stopping.
  asio::awaitable<std::optional<std::vector<std::uint8_t>>> push_pull(
      std::string address, std::vector<std::uint8_t> state);

  asio::awaitable<void> stop();

  const GossipTransportCounters& counters() const { return counters_; }

 private:
  asio::awaitable<void> receive_loop();
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve_push_pull(asio::ip::tcp::socket socket);
  // Runs `exchange` on `socket` bounded by the push-pull deadline; the socket is tracked so
  // stop() can close it. Returns the exchange's result, or nullopt on timeout.
  template <typename Exchange>
  asio::awaitable<std::optional<std::vector<std::uint8_t>>> with_deadline(
      asio::ip::tcp::socket& socket, Exchange exchange);
  void task_finished();

  asio::any_io_executor executor_;
  const auth::ClusterKey& key_;
  core::Logger& logger_;
  const GossipTransportOptions options_;
  asio::ip::udp::socket udp_socket_;
  asio::ip::tcp::acceptor acceptor_;
  std::string local_address_;
  std::uint16_t local_port_ = 0;
  GossipHandler* handler_ = nullptr;
  bool stopping_ = false;

  // Sockets of push-pulls in flight, so stop() can close them.
  std::unordered_set<asio::ip::tcp::socket*> push_pull_sockets_;
  std::size_t inbound_push_pulls_ = 0;
  std::size_t outbound_push_pulls_ = 0;
  // Spawned tasks (loops and inbound push-pulls) still running; stop() waits for zero.
  std::size_t running_tasks_ = 0;
  asio::steady_timer tasks_done_;
  GossipTransportCounters counters_;
};

// "ip:port", with IPv6 addresses in brackets: the form gossip addresses take.
std::string format_address(const asio::ip::address& address, std::uint16_t port);

}  // namespace qim::net
