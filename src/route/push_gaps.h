#pragma once
// Push-loss detection between nodes: which PushBatches another node sent here never arrived.
// Pure: numbers and sender names in, a verdict out; node/cluster_peers.cc applies it (a Resync
// push to this node's sessions, whose clients then pull what they lack).
//
// A sender numbers the PushBatches it sends to each node 1, 2, 3, ... within one run of its
// process (`epoch`: its restart epoch, which grows across restarts). A number it used for a
// batch it could not hand to its link, or skipped for a push it dropped, never arrives here.
// The receiver keeps, per sender, the epoch it is hearing and the next number it expects:
//   - the next number: in order, nothing lost;
//   - a higher one: a gap, the numbers in between were lost;
//   - a lower one: a late batch (it came on an older connection after a newer one); it is
//     delivered, the expectation does not move back;
//   - a later epoch: the sender restarted; what its old run had not sent is gone with it, and
//     its new run must start at 1 (a gap otherwise);
//   - an earlier epoch: a late batch of a run already replaced; no verdict.
// A PushTail (the sender has sent, or dropped, everything up to a number) is a gap when that
// number has not arrived yet.
//
// The first word heard from a sender since this node started sets the expectation and is not
// a gap: the sender's numbering does not restart with this node, so the numbers before it were
// mostly meant for an earlier run of this node, whose sessions are gone (their clients logged in
// here again and synced). The price: a batch lost between this node's start and its first
// contact with that sender goes unnoticed.
//
// Bounds: one entry per sender, at most max_senders (a new sender beyond that replaces the
// least recently heard one, which then counts as first contact again).
// Thread: not thread-safe; the peer links' executor owns it.
#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

namespace qim::route {

class PushGaps {
 public:
  static constexpr std::size_t default_max_senders = 4096;

  explicit PushGaps(std::size_t max_senders = default_max_senders);

  // A PushBatches numbered `number` (0: unnumbered, no verdict) in the sender's run `epoch`.
  // True when batches from `sender` were lost before it.
  bool on_batch(std::string_view sender, std::uint64_t epoch, std::uint64_t number);
  // The sender has sent every batch up to `number` in run `epoch`; true when some of them did
  // not arrive.
  bool on_tail(std::string_view sender, std::uint64_t epoch, std::uint64_t number);

  // For tests and stats.
  std::uint64_t gaps() const { return gaps_; }
  std::size_t senders() const { return senders_.size(); }
  // The next number expected from `sender` in its current run (0 when unknown).
  std::uint64_t expected(std::string_view sender) const;

 private:
  struct Sender {
    std::uint64_t epoch = 0;
    std::uint64_t next = 1;  // the next number expected in `epoch`
    std::list<std::string>::iterator recency;
  };
  // The entry for `sender`, or nullptr on first contact (after making room for it).
  Sender* find(std::string_view sender);
  Sender& add(std::string_view sender, std::uint64_t epoch, std::uint64_t next);
  bool gap() {
    ++gaps_;
    return true;
  }

  const std::size_t max_senders_;
  std::unordered_map<std::string, Sender> senders_;
  std::list<std::string> recency_;  // most recently heard first
  std::uint64_t gaps_ = 0;
};

}  // namespace qim::route
