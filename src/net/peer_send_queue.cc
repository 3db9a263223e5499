#include "net/peer_send_queue.h"

#include <asio/experimental/as_tuple.hpp>

#include <algorithm>
#include <utility>

namespace qim::net {

PeerSendQueue::PeerSendQueue(asio::any_io_executor executor, std::size_t max_bytes,
                             std::size_t max_frames)
    : max_bytes_(max_bytes), max_frames_(max_frames), doorbell_(std::move(executor), 1) {}

bool PeerSendQueue::try_push(QueuedPeerFrame frame) {
  {
    std::lock_guard lock(mutex_);
    if (closed_) return false;
    std::size_t size = frame.payload.size();
    if (!frames_.empty() && (frames_.size() >= max_frames_ || bytes_ + size > max_bytes_)) {
      return false;
    }
    bytes_ += size;
    frames_.push_back(std::move(frame));
  }
  // A token already waiting is enough: the writer takes everything when it wakes.
  doorbell_.try_send(asio::error_code(), true);
  return true;
}

void PeerSendQueue::take_all(std::deque<QueuedPeerFrame>& out) {
  std::lock_guard lock(mutex_);
  out.swap(frames_);
  bytes_ = 0;
}

bool PeerSendQueue::remove_request(std::uint32_t request_id) {
  std::lock_guard lock(mutex_);
  auto found = std::find_if(frames_.begin(), frames_.end(), [&](const QueuedPeerFrame& frame) {
    return frame.request_id == request_id;
  });
  if (found == frames_.end()) return false;
  bytes_ -= found->payload.size();
  frames_.erase(found);
  return true;
}

std::size_t PeerSendQueue::close() {
  std::size_t dropped = 0;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    dropped = frames_.size();
    frames_.clear();
    bytes_ = 0;
  }
  doorbell_.try_send(asio::error_code(), true);
  return dropped;
}

asio::awaitable<bool> PeerSendQueue::wait() {
  {
    std::lock_guard lock(mutex_);
    if (closed_) co_return false;
  }
  auto [error, rang] =
      co_await doorbell_.async_receive(asio::experimental::as_tuple(asio::use_awaitable));
  if (error) co_return false;
  std::lock_guard lock(mutex_);
  co_return !closed_;
}

bool PeerSendQueue::empty() const {
  std::lock_guard lock(mutex_);
  return frames_.empty();
}

std::size_t PeerSendQueue::frames() const {
  std::lock_guard lock(mutex_);
  return frames_.size();
}

std::size_t PeerSendQueue::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

}  // namespace qim::net
