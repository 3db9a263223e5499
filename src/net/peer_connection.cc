#include "net/peer_connection.h"

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <utility>

#include "net/peer_links.h"
#include "proto/frame.h"

namespace qim::net {

namespace {

using asio::experimental::as_tuple;
constexpr auto use_nothrow = as_tuple(asio::use_awaitable);
using Clock = std::chrono::steady_clock;

// Write buffers beyond this are released once written, so an idle link holds little memory
// whatever burst it carried.
constexpr std::size_t retained_write_bytes = 256 * 1024;

}  // namespace

PeerConnection::PeerConnection(asio::ip::tcp::socket socket, PeerCipher cipher,
                               std::string remote_name, std::uint64_t id, PeerSide side,
                               PeerSendQueue& queue, PeerLinks& links)
    : socket_(std::move(socket)),
      cipher_(std::move(cipher)),
      remote_name_(std::move(remote_name)),
      id_(id),
      side_(side),
      queue_(queue),
      links_(links),
      heartbeat_timer_(socket_.get_executor()),
      last_received_(Clock::now()),
      last_sent_(Clock::now()) {}

asio::awaitable<void> PeerConnection::run() {
  using namespace asio::experimental::awaitable_operators;
  co_await (reader() || writer() || heartbeat());
  close();
}

void PeerConnection::close() {
  asio::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  heartbeat_timer_.cancel();
}

asio::awaitable<void> PeerConnection::reader() {
  auto& counters = links_.counters_;
  const auto& options = links_.options_;
  std::vector<std::uint8_t> sealed;
  for (;;) {
    std::uint8_t header[proto::frame_header_bytes];
    auto [header_error, header_count] =
        co_await asio::async_read(socket_, asio::buffer(header), use_nothrow);
    if (header_error) break;
    std::uint32_t length = proto::decode_frame_length(header);
    // Checked before anything is allocated.
    if (length < auth::sealed_overhead_bytes || length > options.max_frame_bytes) {
      links_.note_bad_frame(*this,
                            fmt::format("frame length {} outside [{}, {}]", length,
                                        auth::sealed_overhead_bytes, options.max_frame_bytes));
      break;
    }
    sealed.resize(length);
    auto [body_error, body_count] =
        co_await asio::async_read(socket_, asio::buffer(sealed), use_nothrow);
    if (body_error) break;
    auto plaintext = cipher_.open(sealed);
    if (!plaintext) {
      links_.note_bad_frame(*this,
                            "a frame did not open (wrong key, replayed, reordered or "
                            "altered)");
      break;
    }
    Error error;
    auto message = proto::PeerMessage::verify(std::move(*plaintext), error);
    if (!message.valid()) {
      links_.note_bad_frame(*this, error.message);
      break;
    }
    PeerLinkCounters::add(counters.frames_received);
    PeerLinkCounters::add(counters.bytes_received, proto::frame_header_bytes + length);
    last_received_ = Clock::now();
    if (!links_.on_frame(*this, std::move(message))) break;
    if (sealed.capacity() > retained_write_bytes) std::vector<std::uint8_t>().swap(sealed);
  }
  close();
}

asio::awaitable<void> PeerConnection::writer() {
  auto& counters = links_.counters_;
  std::deque<QueuedPeerFrame> batch;
  std::vector<std::uint8_t> buffer;
  for (;;) {
    queue_.take_all(batch);
    if (batch.empty()) {
      if (!co_await queue_.wait()) break;
      continue;
    }
    buffer.clear();
    std::uint64_t frames = 0;
    for (auto& frame : batch) {
      if (frame.request_id != 0 && !links_.claim_request(*this, frame.request_id)) {
        PeerLinkCounters::add(counters.frames_dropped);
        continue;
      }
      auto sealed = cipher_.seal(frame.payload);
      std::uint8_t header[proto::frame_header_bytes];
      proto::encode_frame_length(static_cast<std::uint32_t>(sealed.size()), header);
      buffer.insert(buffer.end(), header, header + sizeof header);
      buffer.insert(buffer.end(), sealed.begin(), sealed.end());
      ++frames;
    }
    batch.clear();
    if (buffer.empty()) continue;
    if (!links_.before_write()) break;
    auto [error, count] = co_await asio::async_write(socket_, asio::buffer(buffer), use_nothrow);
    if (error) break;
    PeerLinkCounters::add(counters.frames_sent, frames);
    PeerLinkCounters::add(counters.bytes_sent, buffer.size());
    last_sent_ = Clock::now();
    if (buffer.capacity() > retained_write_bytes) std::vector<std::uint8_t>().swap(buffer);
  }
  close();
}

asio::awaitable<void> PeerConnection::heartbeat() {
  const auto& options = links_.options_;
  const auto interval = options.heartbeat_interval;
  proto::PeerFrameBuilder builder(64);
  for (;;) {
    heartbeat_timer_.expires_after(interval);
    auto [error] = co_await heartbeat_timer_.async_wait(use_nothrow);
    if (error || !socket_.is_open()) break;
    auto now = Clock::now();
    if (now - last_received_ > options.missed_heartbeats * interval) {
      links_.logger_.info(
          "peer", "link {} {} silent for {} ms; closing",
          side_ == PeerSide::outbound ? "to" : "from", remote_name_,
          std::chrono::duration_cast<std::chrono::milliseconds>(now - last_received_).count());
      break;
    }
    if (side_ == PeerSide::outbound && !links_.still_member(remote_name_)) {
      links_.logger_.info("peer", "{} is no longer a live member; closing its link", remote_name_);
      break;
    }
    // A full queue means traffic is waiting anyway; the ping is then not needed.
    if (now - last_sent_ >= interval) queue_.try_push({builder.ping(next_ping_nonce_++), 0});
  }
  close();
}

}  // namespace qim::net
