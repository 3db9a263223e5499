#pragma once
// Counters of the peer links, kept apart from the logic. Written on the links' executor (and
// by post() on any thread), read by stats readers on any thread: relaxed atomics, since each
// counter is independent and readers only want a recent value.
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace qim::net {

// A copy of the counters at one moment, plus the current queue depths.
struct PeerLinkStats {
  std::uint64_t frames_sent = 0;
  std::uint64_t frames_received = 0;
  std::uint64_t bytes_sent = 0;  // on the socket: length prefixes and sealing included
  std::uint64_t bytes_received = 0;
  // Outbound: connect or handshake failed (unreachable, refused, wrong key, timed out).
  std::uint64_t dials_failed = 0;
  // Inbound: hellos that did not open, did not verify, or came from a non-member.
  std::uint64_t handshakes_failed = 0;
  // Established connections closed for a bad frame: oversize, unopenable, unverifiable, or a
  // message the link never accepts in that direction.
  std::uint64_t connections_closed_bad_frame = 0;
  // Frames not delivered: post() on a full queue, expired requests never written, replies
  // nobody waits for, messages for a node that left, replies to a closed inbound link.
  std::uint64_t frames_dropped = 0;
  // call()s refused at once because the link's queue was full.
  std::uint64_t calls_overloaded = 0;
  // Outbound links established again after their previous connection ended.
  std::uint64_t reconnects = 0;
  std::uint64_t inbound_refused_over_limit = 0;
  // Current state.
  std::size_t outbound_links = 0;
  std::size_t outbound_connected = 0;
  std::size_t inbound_links = 0;
  std::size_t queued_frames = 0;  // outbound queues, not yet written
  std::size_t queued_bytes = 0;
};

struct PeerLinkCounters {
  using Counter = std::atomic<std::uint64_t>;
  Counter frames_sent{0};
  Counter frames_received{0};
  Counter bytes_sent{0};
  Counter bytes_received{0};
  Counter dials_failed{0};
  Counter handshakes_failed{0};
  Counter connections_closed_bad_frame{0};
  Counter frames_dropped{0};
  Counter calls_overloaded{0};
  Counter reconnects{0};
  Counter inbound_refused_over_limit{0};
  std::atomic<std::size_t> outbound_connected{0};
  std::atomic<std::size_t> inbound_links{0};

  static void add(Counter& counter, std::uint64_t amount = 1) {
    counter.fetch_add(amount, std::memory_order_relaxed);
  }

  // The counter part of a PeerLinkStats (the caller fills in queue depths and link counts).
  PeerLinkStats load() const {
    auto get = [](const Counter& counter) { return counter.load(std::memory_order_relaxed); };
    PeerLinkStats stats;
    stats.frames_sent = get(frames_sent);
    stats.frames_received = get(frames_received);
    stats.bytes_sent = get(bytes_sent);
    stats.bytes_received = get(bytes_received);
    stats.dials_failed = get(dials_failed);
    stats.handshakes_failed = get(handshakes_failed);
    stats.connections_closed_bad_frame = get(connections_closed_bad_frame);
    stats.frames_dropped = get(frames_dropped);
    stats.calls_overloaded = get(calls_overloaded);
    stats.reconnects = get(reconnects);
    stats.inbound_refused_over_limit = get(inbound_refused_over_limit);
    stats.outbound_connected = outbound_connected.load(std::memory_order_relaxed);
    stats.inbound_links = inbound_links.load(std::memory_order_relaxed);
    return stats;
  }
};

}  // namespace qim::net
