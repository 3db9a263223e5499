#include "node/handoff_store.h"

#include "proto/frame.h"
#include "proto/peer_frame.h"
#include "service/placement_keys.h"

namespace qim::node {

ScanStop fill_batches(store::Kv& kv, ScanCursor& cursor, route::HandoffBatches& batches,
                      std::size_t max_records) {
  ScanStop stop;
  std::string home;
  while (!cursor.finished()) {
    store::Column column = handoff_columns[cursor.column];
    bool stopped = false;
    std::string resume;
    stop.error =
        kv.scan(column, "", cursor.from, false, [&](std::string_view key, std::string_view value) {
          if (stop.scanned == max_records) {
            resume.assign(key);
            stopped = true;
            return false;
          }
          auto placement_key = service::placement_key(column, key);
          if (!placement_key) {
            ++stop.scanned;
            ++stop.unparsable;
            return true;
          }
          auto offered =
              batches.offer(static_cast<std::uint8_t>(column), key, value, *placement_key, home);
          if (offered == route::HandoffBatches::Offer::full) {
            // Read again once that batch is on its way.
            resume.assign(key);
            stop.full_node = home;
            stopped = true;
            return false;
          }
          if (offered == route::HandoffBatches::Offer::home_down) ++stop.home_down;
          ++stop.scanned;
          return true;
        });
    if (stop.error) return stop;
    if (stopped) {
      cursor.from = std::move(resume);
      return stop;
    }
    ++cursor.column;
    cursor.from.clear();
  }
  return stop;
}

std::vector<std::uint8_t> encode_handoff(std::span<const route::HandoffRecord> records) {
  std::size_t bytes = route::handoff_envelope_overhead;
  for (const route::HandoffRecord& record : records)
    bytes += route::handoff_record_cost(record.key.size(), record.value.size());
  proto::PeerFrameBuilder builder(bytes);
  auto& fbb = builder.fbb();
  std::vector<flatbuffers::Offset<peer_wire::HandoffRecord>> offsets;
  offsets.reserve(records.size());
  for (const route::HandoffRecord& record : records) {
    auto key = fbb.CreateVector(reinterpret_cast<const std::uint8_t*>(record.key.data()),
                                record.key.size());
    auto value = fbb.CreateVector(reinterpret_cast<const std::uint8_t*>(record.value.data()),
                                  record.value.size());
    offsets.push_back(peer_wire::CreateHandoffRecord(fbb, record.column, key, value));
  }
  auto vector = fbb.CreateVector(offsets);
  return builder.finish_owned(0, peer_wire::PeerKind::Request,
                              peer_wire::CreateHandoff(fbb, vector));
}

Error erase_handed_over(store::Kv& kv, std::span<const route::HandoffRecord> records,
                        std::vector<std::size_t>& kept) {
  kept.clear();
  store::WriteBatch erase;
  std::string current;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const route::HandoffRecord& record = records[i];
    auto column = static_cast<store::Column>(record.column);
    Error error = kv.get(column, record.key, current);
    if (error && error.code != errc::not_found) return error;
    if (!error && current == record.value) {
      erase.erase(column, record.key);
    } else {
      kept.push_back(i);
    }
  }
  if (erase.empty()) return {};
  return kv.write(erase, true);
}

ApplyResult apply_handoff(store::Kv& kv, std::span<const ReceivedRecord> records,
                          std::string_view from_node, core::Logger& logger) {
  ApplyResult result;
  store::WriteBatch batch;
  std::string current;
  for (const ReceivedRecord& record : records) {
    if (record.column == store::Column::log || record.column == store::Column::dedup) {
      Error error = kv.get(record.column, record.key, current);
      if (!error) {
        if (current == record.value) {
          ++result.applied;  // a retried batch: already here
        } else {
          ++result.conflicts;
          logger.warn("peer",
                      "handoff from {}: kept this node's {} record for {} (the handed-over one "
                      "differs; entries are immutable)",
                      from_node, store::column_name(record.column),
                      service::placement_key(record.column, record.key).value_or("?"));
        }
        continue;
      }
      if (error.code != errc::not_found) {
        result.error = error;
        return result;
      }
    }
    batch.put(record.column, record.key, record.value);
    ++result.applied;
  }
  if (!batch.empty()) result.error = kv.write(batch, true);
  if (result.error) result.applied = 0;
  return result;
}

}  // namespace qim::node
