#include "qim-bench/delivery_ledger.h"

namespace qim::bench {
namespace {
constexpr std::uint64_t max_flat_streams = 4'000'000;
}

DeliveryLedger::DeliveryLedger(std::uint32_t senders, std::uint32_t receivers,
                               std::uint32_t receivers_per_message)
    : senders_(senders),
      receivers_(receivers),
      receivers_per_message_(receivers_per_message),
      messages_(senders) {
  std::uint64_t pairs = std::uint64_t{senders} * receivers;
  if (pairs <= max_flat_streams) flat_streams_.resize(pairs);
  if (receivers_per_message > 1) seen_bits_.resize(receivers);
}

std::uint64_t DeliveryLedger::on_sent(std::uint32_t sender, std::uint64_t send_time_ns) {
  auto& log = messages_[sender];
  log.push_back(Message{send_time_ns, 0, Ack::pending});
  return log.size() - 1;
}

std::uint64_t DeliveryLedger::on_ack(std::uint32_t sender, std::uint64_t sequence, bool ok) {
  if (sender >= senders_ || sequence >= messages_[sender].size()) return 0;
  Message& message = messages_[sender][sequence];
  if (message.ack == Ack::pending) message.ack = ok ? Ack::ok : Ack::failed;
  return message.send_time_ns;
}

DeliveryLedger::Ack DeliveryLedger::ack_of(std::uint32_t sender, std::uint64_t sequence) const {
  if (sender >= senders_ || sequence >= messages_[sender].size()) return Ack::failed;
  return messages_[sender][sequence].ack;
}

DeliveryLedger::Stream& DeliveryLedger::stream(std::uint32_t receiver, std::uint32_t sender) {
  if (!flat_streams_.empty()) return flat_streams_[std::uint64_t{receiver} * senders_ + sender];
  return mapped_streams_[std::uint64_t{receiver} << 32 | sender];
}

bool DeliveryLedger::seen_before(std::uint32_t receiver, std::uint64_t sequence) {
  auto& bits = seen_bits_[receiver];
  std::size_t word = sequence / 64;
  if (word >= bits.size()) bits.resize(word + 1 + bits.size() / 2);
  std::uint64_t mask = std::uint64_t{1} << (sequence % 64);
  bool seen = (bits[word] & mask) != 0;
  bits[word] |= mask;
  return seen;
}

DeliveryLedger::Outcome DeliveryLedger::on_delivery(std::uint32_t receiver, std::uint32_t sender,
                                                    std::uint64_t sequence,
                                                    std::uint64_t server_seq, bool& out_of_order,
                                                    bool& finished) {
  out_of_order = false;
  finished = false;
  if (sender >= senders_ || receiver >= receivers_ || sequence >= messages_[sender].size())
    return Outcome::unknown;
  Message& message = messages_[sender][sequence];
  bool duplicate =
      receivers_per_message_ == 1 ? message.deliveries > 0 : seen_before(receiver, sequence);
  if (duplicate) return Outcome::duplicate;
  ++message.deliveries;
  finished = message.deliveries == receivers_per_message_;
  Stream& order = stream(receiver, sender);
  if (sequence + 1 <= order.last_sequence_plus_one || server_seq <= order.last_server_seq) {
    out_of_order = true;
  } else {
    order.last_sequence_plus_one = sequence + 1;
    order.last_server_seq = server_seq;
  }
  return Outcome::first;
}

DeliveryLedger::Totals DeliveryLedger::totals() const {
  Totals totals;
  for (const auto& log : messages_) {
    for (const Message& message : log) {
      ++totals.sent;
      if (message.ack == Ack::ok) ++totals.acked;
      if (message.ack == Ack::failed) ++totals.ack_failed;
      if (message.ack == Ack::pending) ++totals.unacked;
      bool complete = message.deliveries >= receivers_per_message_;
      if (complete) ++totals.finished;
      if (message.ack == Ack::ok && !complete) ++totals.lost;
    }
  }
  return totals;
}

}  // namespace qim::bench
