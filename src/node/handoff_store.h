#pragma once
// The store side of a handoff, as plain blocking functions (the rebalancer and the receiver run
// them on the blocking pool): reading the records that move, encoding a batch, deleting what
// the new home acknowledged, and writing what another node hands over.
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/log.h"
#include "qim/errc.h"
#include "route/handoff.h"
#include "store/kv.h"

namespace qim::node {

// Every column but meta (node-local), in the order a pass reads them.
inline constexpr store::Column handoff_columns[] = {
    store::Column::accounts, store::Column::cursors, store::Column::friends, store::Column::convs,
    store::Column::groups,   store::Column::members, store::Column::log,     store::Column::dedup};
inline constexpr std::size_t handoff_column_count = std::size(handoff_columns);

// Where a pass's reading resumes.
struct ScanCursor {
  std::size_t column = 0;  // index into handoff_columns
  std::string from;        // the first key to read in that column; "" from its start
  bool finished() const { return column >= handoff_column_count; }
};

struct ScanStop {
  Error error;
  // Set when a batch is full: that node's batch must be shipped before reading on (the cursor
  // is at the record that did not fit).
  std::string full_node;
  std::size_t scanned = 0;     // records read by this call
  std::size_t unparsable = 0;  // records whose key does not parse (they stay here)
  std::size_t home_down = 0;   // records whose home is down (they stay until it is back)
};

// Reads records from `cursor` on and offers each to `batches`, until a batch is full, the
// store is read to its end (cursor.finished()), `max_records` were read (the cursor is then at
// the next key), or an error.
ScanStop fill_batches(store::Kv& kv, ScanCursor& cursor, route::HandoffBatches& batches,
                      std::size_t max_records);

// The Handoff request carrying `records`.
std::vector<std::uint8_t> encode_handoff(std::span<const route::HandoffRecord> records);

// Deletes, in one durable batch, each of `records` that still holds the value that was shipped.
// `kept` receives the indexes of the records that changed or vanished meanwhile (a changed one
// goes with the next pass).
Error erase_handed_over(store::Kv& kv, std::span<const route::HandoffRecord> records,
                        std::vector<std::size_t>& kept);

// A record received in a Handoff; the views point into the request.
struct ReceivedRecord {
  store::Column column;
  std::string_view key;
  std::string_view value;
};

struct ApplyResult {
  Error error;
  std::uint32_t applied = 0;    // written, or already present with the same value
  std::uint32_t conflicts = 0;  // log/dedup records kept because ours differs
};

// Writes `records` in one durable batch, except that a log or dedup record already stored with
// a different value is kept as it is (log entries are immutable; each conflict is logged).
// REQUIRES: the caller serialises calls (the check and the write are not atomic together).
ApplyResult apply_handoff(store::Kv& kv, std::span<const ReceivedRecord> records,
                          std::string_view from_node, core::Logger& logger);

}  // namespace qim::node
