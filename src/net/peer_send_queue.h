#pragma once
// The bounded outbound queue of one peer link: unsealed payloads waiting for the link's
// writer, and the doorbell that wakes it. Sealing happens in the writer (net/peer_cipher.h),
// because the frame counter must follow the order frames reach the socket.
#include <asio.hpp>
#include <asio/experimental/concurrent_channel.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

namespace qim::net {

struct QueuedPeerFrame {
  std::vector<std::uint8_t> payload;  // a stamped PeerEnvelope, not sealed yet
  // Non-zero for a request whose caller waits for the reply: the writer skips it when the
  // caller has given up meanwhile.
  std::uint32_t request_id = 0;
};

// Thread-safe (pushes come from any thread; take_all() and wait() from the link's executor).
// Owned by the outbound link (it outlives reconnects) or by an inbound connection's coroutine.
//
// Bounds: at most max_frames frames and max_bytes payload bytes queued; an empty queue takes
// any one frame, so a frame larger than max_bytes is not refused forever. The batch the
// writer has taken out is not counted: memory per link stays below twice the bounds.
class PeerSendQueue {
 public:
  PeerSendQueue(asio::any_io_executor executor, std::size_t max_bytes, std::size_t max_frames);

  PeerSendQueue(const PeerSendQueue&) = delete;
  PeerSendQueue& operator=(const PeerSendQueue&) = delete;

  // Appends and rings the doorbell. False (and nothing queued) when full or closed.
  bool try_push(QueuedPeerFrame frame);
  // Moves every queued frame to `out` (which must be empty).
  void take_all(std::deque<QueuedPeerFrame>& out);
  // Removes a request nobody waits for any more; false when it is not queued (written, or
  // never queued).
  bool remove_request(std::uint32_t request_id);
  // Refuses pushes from now on and drops what is queued; returns how many frames it dropped.
  // Waiters wake up.
  std::size_t close();

  // Executor only: completes when a push may have happened since the last wait, or at once
  // when closed (false then).
  asio::awaitable<bool> wait();

  bool empty() const;
  std::size_t frames() const;
  std::size_t bytes() const;

 private:
  // (The bool is only there because Asio 1.22 cannot instantiate void(error_code) alone.)
  using Bell = asio::experimental::concurrent_channel<void(asio::error_code, bool)>;

  const std::size_t max_bytes_;
  const std::size_t max_frames_;
  mutable std::mutex mutex_;
  std::deque<QueuedPeerFrame> frames_;  // GUARDED_BY(mutex_)
  std::size_t bytes_ = 0;               // GUARDED_BY(mutex_)
  bool closed_ = false;                 // GUARDED_BY(mutex_)
  Bell doorbell_;
};

}  // namespace qim::net
