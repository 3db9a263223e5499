#include "replica/snapshot_transfer.h"

#include <algorithm>

namespace qim::replica {
namespace {

// Install writes are cut into batches of about this size.
constexpr std::size_t install_batch_bytes = 4 << 20;

bool is_data_column(std::uint8_t column) {
  return std::any_of(std::begin(store::data_columns), std::end(store::data_columns),
                     [&](store::Column data) { return static_cast<std::uint8_t>(data) == column; });
}

std::string staging_prefix(PartitionId partition, store::Column column) {
  std::string key = raft_keys::partition_prefix(partition);
  key.push_back(static_cast<char>(column));
  return key;
}

std::span<const std::uint8_t> bytes_of(const std::string& text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

std::string text_of(const flatbuffers::Vector<std::uint8_t>* bytes) {
  if (bytes == nullptr) return {};
  return {reinterpret_cast<const char*>(bytes->data()), bytes->size()};
}

}  // namespace

SnapshotReader::SnapshotReader(std::unique_ptr<store::KvSnapshot> view, PartitionId partition)
    : view_(std::move(view)), partition_(partition) {}

bool SnapshotReader::point(LogPoint& point) {
  std::string value;
  if (view_->get(store::Column::raft_state, raft_keys::applied(partition_), value)) return false;
  return decode_point(value, point);
}

Error SnapshotReader::next(std::size_t max_bytes, std::vector<SnapshotRow>& rows, bool& done) {
  rows.clear();
  done = false;
  std::size_t bytes = 0;
  const std::string prefix = raft_keys::partition_prefix(partition_);
  constexpr std::size_t columns = std::size(store::data_columns);
  while (column_ < columns) {
    store::Column column = store::data_columns[column_];
    bool more = false;
    Error error = view_->scan(
        column, prefix, resume_, false, [&](std::string_view key, std::string_view value) {
          if (!rows.empty() && bytes + key.size() + value.size() > max_bytes) {
            resume_.assign(key);
            more = true;
            return false;
          }
          bytes += key.size() + value.size() + 8;
          rows.push_back({column, std::string(key), std::string(value)});
          return true;
        });
    if (error) return error;
    if (more) return {};
    ++column_;
    resume_.clear();
  }
  done = true;
  return {};
}

std::vector<std::uint8_t> encode_snapshot_chunk(const SnapshotChunkHeader& header,
                                                const std::vector<SnapshotRow>& rows,
                                                proto::PeerFrameBuilder& builder) {
  builder.reset();
  auto& fbb = builder.fbb();
  std::vector<flatbuffers::Offset<peer_wire::SnapshotRow>> wire_rows;
  wire_rows.reserve(rows.size());
  for (const SnapshotRow& row : rows) {
    auto key = fbb.CreateVector(bytes_of(row.key).data(), row.key.size());
    auto value = fbb.CreateVector(bytes_of(row.value).data(), row.value.size());
    wire_rows.push_back(
        peer_wire::CreateSnapshotRow(fbb, static_cast<std::uint8_t>(row.column), key, value));
  }
  auto row_vector = fbb.CreateVector(wire_rows);
  flatbuffers::Offset<flatbuffers::Vector<std::uint64_t>> voters = 0, learners = 0;
  if (header.last) {
    voters = fbb.CreateVector(header.point.config.voters);
    learners = fbb.CreateVector(header.point.config.learners);
  }
  auto chunk = peer_wire::CreateSnapshotChunk(
      fbb, header.partition, header.from, header.to, header.term, header.point.index,
      header.point.term, header.sequence, row_vector, header.last, voters, learners);
  return builder.finish_owned(0, peer_wire::PeerKind::Request, chunk);
}

bool decode_snapshot_chunk(const peer_wire::SnapshotChunk& chunk, std::uint32_t partitions,
                           SnapshotChunkHeader& header, std::vector<SnapshotRow>& rows,
                           std::string& error) {
  if (chunk.partition() >= partitions) {
    error = "snapshot chunk for partition " + std::to_string(chunk.partition()) +
            " of a cluster with " + std::to_string(partitions);
    return false;
  }
  header.partition = chunk.partition();
  header.from = chunk.from();
  header.to = chunk.to();
  header.term = chunk.term();
  header.point.index = chunk.snapshot_index();
  header.point.term = chunk.snapshot_term();
  header.sequence = chunk.sequence();
  header.last = chunk.last();
  if (chunk.voters() != nullptr) {
    header.point.config.voters.assign(chunk.voters()->begin(), chunk.voters()->end());
  }
  if (chunk.learners() != nullptr) {
    header.point.config.learners.assign(chunk.learners()->begin(), chunk.learners()->end());
  }
  const std::string prefix = raft_keys::partition_prefix(header.partition);
  rows.clear();
  if (chunk.rows() == nullptr) return true;
  rows.reserve(chunk.rows()->size());
  for (const peer_wire::SnapshotRow* row : *chunk.rows()) {
    if (row == nullptr || !is_data_column(row->column())) {
      error = "snapshot row of a column that holds no partition data";
      return false;
    }
    SnapshotRow& out = rows.emplace_back();
    out.column = static_cast<store::Column>(row->column());
    out.key = text_of(row->key());
    out.value = text_of(row->value());
    if (!out.key.starts_with(prefix)) {
      error = "snapshot row outside its partition";
      return false;
    }
  }
  return true;
}

void clear_staged(PartitionId partition, store::WriteBatch& batch) {
  batch.erase_range(store::Column::staging, raft_keys::partition_prefix(partition),
                    raft_keys::partition_end(partition));
}

void stage_rows(PartitionId partition, const std::vector<SnapshotRow>& rows,
                store::WriteBatch& batch) {
  for (const SnapshotRow& row : rows) {
    std::string key = staging_prefix(partition, row.column);
    key.append(row.key);
    batch.put(store::Column::staging, key, row.value);
  }
}

void erase_partition_data(PartitionId partition, store::WriteBatch& batch) {
  std::string begin = raft_keys::partition_prefix(partition);
  std::string end = raft_keys::partition_end(partition);
  for (store::Column column : store::data_columns)
    batch.erase_range(column, begin, end);
  batch.erase_range(store::Column::staging, begin, end);
}

namespace {

// Steps 2 and 3 of an install (the marker is already written).
Error copy_staged_and_finish(store::Kv& kv, PartitionLog& log, const LogPoint& point) {
  const PartitionId partition = log.partition();
  store::WriteBatch batch;
  std::string begin = raft_keys::partition_prefix(partition);
  std::string end = raft_keys::partition_end(partition);
  for (store::Column column : store::data_columns)
    batch.erase_range(column, begin, end);
  std::size_t bytes = 0;
  Error failed;
  for (store::Column column : store::data_columns) {
    std::string prefix = staging_prefix(partition, column);
    Error error = kv.scan(store::Column::staging, prefix, {}, false,
                          [&](std::string_view key, std::string_view value) {
                            batch.put(column, key.substr(prefix.size()), value);
                            bytes += key.size() + value.size();
                            if (bytes >= install_batch_bytes) {
                              if (Error written = kv.write(batch, false)) {
                                failed = written;
                                return false;
                              }
                              batch.clear();
                              bytes = 0;
                            }
                            return true;
                          });
    if (error) return error;
    if (failed) return failed;
  }
  log.reset_to(point, batch);
  clear_staged(partition, batch);
  batch.erase(store::Column::raft_state, raft_keys::installing(partition));
  return kv.write(batch, true);
}

}  // namespace

Error install_staged(store::Kv& kv, PartitionLog& log, const LogPoint& point) {
  store::WriteBatch marker;
  marker.put(store::Column::raft_state, raft_keys::installing(log.partition()),
             encode_point(point));
  if (Error error = kv.write(marker, true)) return error;
  return copy_staged_and_finish(kv, log, point);
}

Error finish_interrupted_installs(store::Kv& kv, std::vector<PartitionId>& finished) {
  std::vector<std::pair<PartitionId, LogPoint>> interrupted;
  Error decode_error;
  Error error = kv.scan(
      store::Column::raft_state, {}, {}, false, [&](std::string_view key, std::string_view value) {
        if (key.size() != 3 || key[2] != 'i') return true;
        PartitionId partition = static_cast<PartitionId>(static_cast<std::uint8_t>(key[0]) << 8 |
                                                         static_cast<std::uint8_t>(key[1]));
        LogPoint point;
        if (!decode_point(value, point)) {
          decode_error = {errc::internal, "a snapshot install marker of partition " +
                                              std::to_string(partition) + " is corrupted"};
          return false;
        }
        interrupted.emplace_back(partition, point);
        return true;
      });
  if (error) return error;
  if (decode_error) return decode_error;
  for (auto& [partition, point] : interrupted) {
    PartitionLog log(kv, partition);
    if (Error loaded = log.load()) return loaded;
    if (Error done = copy_staged_and_finish(kv, log, point)) return done;
    finished.push_back(partition);
  }
  return {};
}

}  // namespace qim::replica
