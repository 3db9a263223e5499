#include "net/peer_connection.h"

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <algorithm>
#include <cstring>
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
// What the reader asks the socket for at once (more when a larger frame is arriving).
constexpr std::size_t read_chunk_bytes = 64 * 1024;

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
  // Received bytes wait in [begin, end) of `buffer`; every complete frame in it is handled
  // before the next read, so a burst of frames costs one system call, not two per frame.
  std::vector<std::uint8_t> buffer(read_chunk_bytes);
  std::size_t begin = 0;
  std::size_t end = 0;
  for (;;) {
    std::size_t frame_bytes = 0;  // of the incomplete frame at `begin`, once its length is known
    bool keep_going = true;
    while (end - begin >= proto::frame_header_bytes && socket_.is_open()) {
      std::uint32_t length = proto::decode_frame_length(buffer.data() + begin);
      // Checked before anything is allocated for it.
      if (length < auth::sealed_overhead_bytes || length > options.max_frame_bytes) {
        links_.note_bad_frame(*this,
                              fmt::format("frame length {} outside [{}, {}]", length,
                                          auth::sealed_overhead_bytes, options.max_frame_bytes));
        keep_going = false;
        break;
      }
      if (end - begin < proto::frame_header_bytes + length) {
        frame_bytes = proto::frame_header_bytes + length;
        break;
      }
      std::span<const std::uint8_t> sealed(buffer.data() + begin + proto::frame_header_bytes,
                                           length);
      begin += proto::frame_header_bytes + length;
      auto plaintext = cipher_.open(sealed);
      if (!plaintext) {
        links_.note_bad_frame(*this,
                              "a frame did not open (wrong key, replayed, reordered or "
                              "altered)");
        keep_going = false;
        break;
      }
      Error error;
      auto message = proto::PeerMessage::verify(std::move(*plaintext), error);
      if (!message.valid()) {
        links_.note_bad_frame(*this, error.message);
        keep_going = false;
        break;
      }
      PeerLinkCounters::add(counters.frames_received);
      PeerLinkCounters::add(counters.bytes_received, proto::frame_header_bytes + length);
      last_received_ = Clock::now();
      if (!links_.on_frame(*this, std::move(message))) {
        keep_going = false;
        break;
      }
    }
    if (!keep_going || !socket_.is_open()) break;
    // Keep the incomplete frame, at the front; make room for all of it (its length is checked).
    if (begin == end) {
      begin = end = 0;
    } else if (begin > 0) {
      std::memmove(buffer.data(), buffer.data() + begin, end - begin);
      end -= begin;
      begin = 0;
    }
    std::size_t wanted = std::max(read_chunk_bytes, frame_bytes);
    if (buffer.size() < wanted) {
      buffer.resize(wanted);
    } else if (buffer.size() > retained_write_bytes && end <= read_chunk_bytes &&
               frame_bytes <= read_chunk_bytes) {
      // A large frame has passed: an idle link goes back to holding little memory.
      std::vector<std::uint8_t> smaller(read_chunk_bytes);
      std::memcpy(smaller.data(), buffer.data(), end);
      buffer.swap(smaller);
    }
    auto [error, count] = co_await socket_.async_read_some(
        asio::buffer(buffer.data() + end, buffer.size() - end), use_nothrow);
    if (error) break;
    end += count;
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
