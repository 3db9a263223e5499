#pragma once
// One established peer link connection, after the handshake: the socket, its session cipher
// and three coroutines.
//   reader     reads what the socket has (64 KiB at a time, more for a larger frame), then
//              for each complete u32 LE length || sealed frame in it: checks the length, opens
//              it with the cipher, verifies the envelope and hands it to PeerLinks; any bad
//              frame ends the connection.
//   writer     takes the whole queue, seals each frame (the counter follows socket order),
//              asks the handler to make what they reveal durable (PeerHandler::before_write)
//              and writes the batch with one async_write.
//   heartbeat  pings when nothing was written for an interval; ends the connection when
//              nothing was received for `missed_heartbeats` intervals, or (outbound) when the
//              remote is no longer a live member.
// run() = reader || writer || heartbeat: the first to finish ends the connection.
#include <asio.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "net/peer_cipher.h"
#include "net/peer_send_queue.h"
#include "proto/peer_frame.h"

namespace qim::net {

class PeerLinks;

enum class PeerSide : std::uint8_t { outbound, inbound };

// Ownership: lives in the frame of the PeerLinks coroutine that dialled or accepted it, and is
// destroyed when run() has returned. PeerLinks reaches it through a registry entry that the
// same coroutine removes after run(). Executor: the links' executor only; not thread-safe.
// The queue it writes from belongs to its owner and outlives it.
class PeerConnection {
 public:
  PeerConnection(asio::ip::tcp::socket socket, PeerCipher cipher, std::string remote_name,
                 std::uint64_t id, PeerSide side, PeerSendQueue& queue, PeerLinks& links);

  PeerConnection(const PeerConnection&) = delete;
  PeerConnection& operator=(const PeerConnection&) = delete;

  // Serves the connection until it ends; the socket is closed on return.
  asio::awaitable<void> run();
  // Closes the socket; run() returns promptly.
  void close();

  const std::string& remote_name() const { return remote_name_; }
  std::uint64_t id() const { return id_; }
  PeerSide side() const { return side_; }
  PeerSendQueue& queue() { return queue_; }

  // Inbound: requests handed to the handler whose replies have not been queued yet.
  std::size_t requests_in_flight = 0;

 private:
  asio::awaitable<void> reader();
  asio::awaitable<void> writer();
  asio::awaitable<void> heartbeat();

  asio::ip::tcp::socket socket_;
  PeerCipher cipher_;
  const std::string remote_name_;
  const std::uint64_t id_;
  const PeerSide side_;
  PeerSendQueue& queue_;
  PeerLinks& links_;
  asio::steady_timer heartbeat_timer_;
  std::chrono::steady_clock::time_point last_received_;
  std::chrono::steady_clock::time_point last_sent_;
  std::uint64_t next_ping_nonce_ = 1;
};

}  // namespace qim::net
