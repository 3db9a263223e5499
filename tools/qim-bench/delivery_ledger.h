#pragma once
// Bookkeeping of every message sent in the measured run: acknowledged or not, delivered how
// many times, and whether each receiver saw each sender's messages in order. Fixed per-message
// cost (16 bytes), no allocation per delivery.
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace qim::bench {

class DeliveryLedger {
 public:
  enum class Ack : std::uint8_t { pending, ok, failed };
  enum class Outcome { first, duplicate, unknown };

  struct Totals {
    std::uint64_t sent = 0;
    std::uint64_t acked = 0;
    std::uint64_t ack_failed = 0;
    std::uint64_t unacked = 0;   // no SendAck nor Error by the end of the drain
    std::uint64_t lost = 0;      // acked, but some receiver never got it
    std::uint64_t finished = 0;  // every expected receiver got it
  };

  // `receivers_per_message`: 1 for direct messages, members - 1 for a group.
  DeliveryLedger(std::uint32_t senders, std::uint32_t receivers,
                 std::uint32_t receivers_per_message);

  // Returns the new message's per-sender sequence number (0, 1, 2, ...).
  std::uint64_t on_sent(std::uint32_t sender, std::uint64_t send_time_ns);
  // Returns the message's send time (0 if unknown).
  std::uint64_t on_ack(std::uint32_t sender, std::uint64_t sequence, bool ok);
  Ack ack_of(std::uint32_t sender, std::uint64_t sequence) const;

  // Records one delivery. `out_of_order` is set when the receiver already saw a later message
  // of this sender (by sender sequence or by server seq). `finished` is set when this was the
  // last expected receiver.
  Outcome on_delivery(std::uint32_t receiver, std::uint32_t sender, std::uint64_t sequence,
                      std::uint64_t server_seq, bool& out_of_order, bool& finished);

  Totals totals() const;

 private:
  struct Message {
    std::uint64_t send_time_ns;
    std::uint32_t deliveries;
    Ack ack;
  };
  struct Stream {
    std::uint64_t last_sequence_plus_one = 0;
    std::uint64_t last_server_seq = 0;
  };
  Stream& stream(std::uint32_t receiver, std::uint32_t sender);
  bool seen_before(std::uint32_t receiver, std::uint64_t sequence);

  const std::uint32_t senders_;
  const std::uint32_t receivers_;
  const std::uint32_t receivers_per_message_;
  std::vector<std::vector<Message>> messages_;  // by sender, by sequence
  // Order per (receiver, sender): a flat table when small enough, else a map.
  std::vector<Stream> flat_streams_;
  std::unordered_map<std::uint64_t, Stream> mapped_streams_;
  // Group messages: which sequences each receiver has seen (single sender).
  std::vector<std::vector<std::uint64_t>> seen_bits_;
};

}  // namespace qim::bench
