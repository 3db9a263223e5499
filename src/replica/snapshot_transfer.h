#pragma once
// Snapshots of a partition (DESIGN §8: a new or lagging replica catches up from a snapshot of
// the partition, then from the log).
//
// Sending: a SnapshotReader reads the partition's records from a consistent view of the store
// (store::KvSnapshot), in chunks, together with the applied point the view stands for (the
// applied point is written in the same batch as the state it names, so they always agree). The
// chunks travel as SnapshotChunk requests, one at a time.
//
// Receiving: rows are staged in the staging column (the replica keeps serving from its old
// state meanwhile); once the last chunk has arrived and the Raft core accepts the snapshot, it
// is installed: a marker is written, the partition's data columns are replaced by the staged
// rows in bounded batches, and the last batch resets the log to the snapshot point, drops the
// staging rows and the marker. A node that crashes mid-install finishes it at its next start
// (finish_interrupted_installs), so a partition is never left half old, half new.
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "proto/peer_frame.h"
#include "replica/partition_log.h"
#include "store/kv.h"

namespace qim::replica {

struct SnapshotRow {
  store::Column column = store::Column::accounts;
  std::string key;
  std::string value;
};

class SnapshotReader {
 public:
  SnapshotReader(std::unique_ptr<store::KvSnapshot> view, PartitionId partition);
  // The applied point of the partition in the view; false when it has none.
  bool point(LogPoint& point);
  // The next rows, about max_bytes of them (at least one when any remain); `done` once the
  // partition's last row was returned.
  Error next(std::size_t max_bytes, std::vector<SnapshotRow>& rows, bool& done);

 private:
  std::unique_ptr<store::KvSnapshot> view_;
  const PartitionId partition_;
  std::size_t column_ = 0;  // index into store::data_columns
  std::string resume_;      // the first key not returned yet in the current column
};

struct SnapshotChunkHeader {
  PartitionId partition = 0;
  raft::NodeId from = 0;
  raft::NodeId to = 0;
  raft::Term term = 0;
  LogPoint point;  // index and term always; the configuration in the last chunk
  std::uint32_t sequence = 0;
  bool last = false;
};

std::vector<std::uint8_t> encode_snapshot_chunk(const SnapshotChunkHeader& header,
                                                const std::vector<SnapshotRow>& rows,
                                                proto::PeerFrameBuilder& builder);
// False (with `error`) when the chunk names a partition out of range, a row of a column that is
// not a data column, or a key outside the partition.
bool decode_snapshot_chunk(const peer_wire::SnapshotChunk& chunk, std::uint32_t partitions,
                           SnapshotChunkHeader& header, std::vector<SnapshotRow>& rows,
                           std::string& error);

// Receiving side. All of these run on the replica host's thread.
// Drops whatever is staged for the partition (a new snapshot begins, or the replica goes).
void clear_staged(PartitionId partition, store::WriteBatch& batch);
void stage_rows(PartitionId partition, const std::vector<SnapshotRow>& rows,
                store::WriteBatch& batch);
// Replaces the partition's data with the staged rows and the log with `point` (see above).
// Writes and syncs its own batches.
Error install_staged(store::Kv& kv, PartitionLog& log, const LogPoint& point);
// At start: completes every install a crash interrupted. Returns the partitions it finished.
Error finish_interrupted_installs(store::Kv& kv, std::vector<PartitionId>& finished);
// Every record of the partition in the data columns and the staging column.
void erase_partition_data(PartitionId partition, store::WriteBatch& batch);

}  // namespace qim::replica
