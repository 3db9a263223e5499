#pragma once
// Handoff decisions: which of the records a node holds now belong to another node, where they
// go, and in which batches. A record lives at the home of its placement key
// (service/placement_keys.h). The node moves them (node/rebalancer.h) before it redirects the
// sessions that follow them, so a redirected client finds its records at the new home.
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "route/placement.h"

namespace qim::route {

// Of `held_keys` (placement keys stored here), those whose home under `placement` is another
// node, grouped by that node's name. Keys keep their input order.
std::map<std::string, std::vector<std::string>> plan_handoff(
    const Placement& placement, std::span<const std::string> held_keys);

// One stored record on its way to its new home. `column` uses store::Column's numbering (route
// knows no store); `placement_key` is the key that places it.
struct HandoffRecord {
  std::uint8_t column = 0;
  std::string key;
  std::string value;
  std::string placement_key;
};

// An upper bound of what one record adds to an encoded Handoff request (a HandoffRecord table
// with its two byte vectors, their padding and offsets), and of the envelope around them.
inline constexpr std::size_t handoff_record_overhead = 64;
inline constexpr std::size_t handoff_envelope_overhead = 128;
inline std::size_t handoff_record_cost(std::size_t key_bytes, std::size_t value_bytes) {
  return key_bytes + value_bytes + handoff_record_overhead;
}

// The outgoing batches of one handoff pass under one placement: records read from the store are
// offered in order, and each joins the batch of its home, or stays. A batch's encoded size stays
// within `max_bytes`, except that a record too large for any batch travels alone.
class HandoffBatches {
 public:
  enum class Offer {
    stays,      // its home is this node
    added,      // copied into its home's batch
    full,       // its home's batch has no room: ship it (take) and offer the record again
    skipped,    // its home failed earlier in this pass (fail): it stays until the next pass
    home_down,  // its home is down (NodeInfo::up false): it stays until that node is back
  };

  HandoffBatches(const Placement& placement, std::size_t max_bytes)
      : placement_(placement), max_bytes_(max_bytes) {}

  // `home` is set to the record's home unless it stays.
  Offer offer(std::uint8_t column, std::string_view key, std::string_view value,
              std::string_view placement_key, std::string& home);
  // Empties `node`'s batch and returns it.
  std::vector<HandoffRecord> take(const std::string& node);
  // Nodes with records waiting, in name order.
  std::vector<std::string> pending() const;
  // Drops `node`'s batch; its records offered later in this pass are skipped.
  void fail(const std::string& node);
  bool failed(const std::string& node) const { return failed_.count(node) == 1; }
  // The batch's estimated encoded size.
  std::size_t bytes(const std::string& node) const;

 private:
  struct Batch {
    std::vector<HandoffRecord> records;
    std::size_t bytes = handoff_envelope_overhead;
  };
  const Placement& placement_;
  const std::size_t max_bytes_;
  std::map<std::string, Batch> batches_;
  std::set<std::string> failed_;
};

}  // namespace qim::route
