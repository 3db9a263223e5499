// The replication shell's storage pieces: the partition log in the store, the Raft batch codec,
// and snapshot reading, staging and installing (including a crash in the middle).
#include <catch2/catch.hpp>

#include "replica/partition_log.h"
#include "replica/raft_wire.h"
#include "replica/snapshot_transfer.h"
#include "store/memory_kv.h"

namespace qim::replica {
namespace {

raft::Entry entry(raft::Index index, raft::Term term, std::string data = "x") {
  return raft::Entry{term, index, raft::EntryKind::normal, std::move(data)};
}

void write(store::Kv& kv, store::WriteBatch& batch) {
  REQUIRE_FALSE(kv.write(batch, false));
  batch.clear();
}

}  // namespace

TEST_CASE("partition log: appends, overwrites a suffix, compacts, and reloads the same",
          "[replica]") {
  store::MemoryKv kv;
  store::WriteBatch batch;
  PartitionLog log(kv, 3);
  REQUIRE_FALSE(log.load());
  CHECK(log.empty());
  log.bootstrap(raft::SnapshotMeta{1, 1, {{7}, {}}}, raft::HardState{1, 0, 1}, batch);
  std::vector<raft::Entry> entries;
  for (raft::Index i = 2; i <= 10; ++i)
    entries.push_back(entry(i, 1, "e" + std::to_string(i)));
  log.append(entries, batch);
  write(kv, batch);
  CHECK(log.first_index() == 2);
  CHECK(log.last_index() == 10);
  CHECK(log.term(1) == 1u);
  CHECK(log.term(10) == 1u);
  CHECK_FALSE(log.term(11));
  // A conflicting suffix from a new leader replaces 8..10.
  log.append({entry(8, 2, "new8"), entry(9, 2, "new9")}, batch);
  write(kv, batch);
  CHECK(log.last_index() == 9);
  CHECK(log.term(8) == 2u);
  auto read = log.entries(6, 10, 1 << 20);
  REQUIRE(read.size() == 4);
  CHECK(read[2].data == "new8");
  // A byte limit returns at least one entry.
  CHECK(log.entries(2, 10, 1).size() == 1);
  log.set_applied(LogPoint{7, 1, {{7}, {}}}, batch);
  log.compact(6, batch);
  write(kv, batch);
  CHECK(log.first_index() == 6);
  CHECK(log.term(5) == 1u);
  CHECK_FALSE(log.term(4));

  PartitionLog reloaded(kv, 3);
  REQUIRE_FALSE(reloaded.load());
  CHECK(reloaded.first_index() == 6);
  CHECK(reloaded.last_index() == 9);
  CHECK(reloaded.term(5) == 1u);
  CHECK(reloaded.snapshot().index == 7);
  CHECK(reloaded.snapshot().config.voters == std::vector<raft::NodeId>{7});
  auto again = reloaded.entries(6, 10, 1 << 20);
  REQUIRE(again.size() == 4);
  CHECK(again[3].data == "new9");
  // The commit index comes back as the applied index: a commit alone is not written.
  CHECK(reloaded.hard_state() == raft::HardState{1, 0, 7});
  store::WriteBatch commit_only;
  reloaded.set_hard_state(raft::HardState{1, 0, 9}, commit_only);
  CHECK(commit_only.empty());
  CHECK(reloaded.hard_state().commit == 9);
  reloaded.set_hard_state(raft::HardState{2, 7, 9}, commit_only);  // a new term is
  write(kv, commit_only);
  PartitionLog voted(kv, 3);
  REQUIRE_FALSE(voted.load());
  CHECK(voted.hard_state() == raft::HardState{2, 7, 9});
  // Another partition's log is untouched by all of this.
  PartitionLog other(kv, 4);
  REQUIRE_FALSE(other.load());
  CHECK(other.empty());
}

TEST_CASE("partition log: entries older than the cache are read back from the store", "[replica]") {
  store::MemoryKv kv;
  store::WriteBatch batch;
  PartitionLog log(kv, 0);
  REQUIRE_FALSE(log.load());
  std::vector<raft::Entry> entries;
  raft::Index count = PartitionLog::max_cached_entries + 100;
  for (raft::Index i = 1; i <= count; ++i)
    entries.push_back(entry(i, 1, std::to_string(i)));
  log.append(entries, batch);
  write(kv, batch);
  auto read = log.entries(1, 201, 1 << 30);
  REQUIRE(read.size() == 200);
  CHECK(read.front().data == "1");
  CHECK(read.back().data == "200");
  auto across = log.entries(count - PartitionLog::max_cached_entries - 5,
                            count - PartitionLog::max_cached_entries + 5, 1 << 30);
  REQUIRE(across.size() == 10);
  for (std::size_t i = 1; i < across.size(); ++i)
    CHECK(across[i].index == across[i - 1].index + 1);
}

TEST_CASE("raft wire: a batch round-trips, and bad partitions are refused", "[replica]") {
  RaftBatchContents contents;
  raft::Message append;
  append.type = raft::MessageType::append;
  append.from = 1;
  append.to = 2;
  append.term = 5;
  append.log_term = 4;
  append.index = 10;
  append.commit = 9;
  append.entries = {entry(11, 5, "hello"), raft::Entry{5, 12, raft::EntryKind::config_change, "c"}};
  contents.messages.push_back({3, append});
  raft::Message snapshot;
  snapshot.type = raft::MessageType::snapshot;
  snapshot.snapshot = raft::SnapshotMeta{40, 4, {{1, 2}, {3}}};
  contents.messages.push_back({1, snapshot});
  contents.hints.push_back({2, 7, 99});
  contents.removed.push_back({1, 8, 3});
  proto::PeerFrameBuilder builder;
  Error error;
  auto message = proto::PeerMessage::verify(encode_raft_batch(contents, builder), error);
  REQUIRE(message.valid());
  RaftBatchContents decoded;
  std::string why;
  REQUIRE(decode_raft_batch(*message.envelope().body_as_RaftBatch(), 4, decoded, why));
  REQUIRE(decoded.messages.size() == 2);
  const raft::Message& first = decoded.messages[0].message;
  CHECK(decoded.messages[0].partition == 3);
  CHECK(first.type == raft::MessageType::append);
  CHECK(first.term == 5);
  CHECK(first.commit == 9);
  REQUIRE(first.entries.size() == 2);
  CHECK(first.entries[0].data == "hello");
  CHECK(first.entries[1].kind == raft::EntryKind::config_change);
  CHECK(decoded.messages[1].message.snapshot == raft::SnapshotMeta{40, 4, {{1, 2}, {3}}});
  CHECK(decoded.hints == contents.hints);
  CHECK(decoded.removed == contents.removed);
  CHECK_FALSE(decode_raft_batch(*message.envelope().body_as_RaftBatch(), 3, decoded, why));
}

TEST_CASE("snapshot: read in chunks, staged, installed; a crash mid-install is finished",
          "[replica]") {
  store::MemoryKv source;
  store::WriteBatch batch;
  const std::string prefix = raft_keys::partition_prefix(2);
  for (int i = 0; i < 50; ++i) {
    batch.put(store::Column::log, prefix + "log" + std::to_string(i), std::string(100, 'v'));
    batch.put(store::Column::accounts, prefix + "user" + std::to_string(i), "account");
  }
  batch.put(store::Column::accounts, raft_keys::partition_prefix(3) + "elsewhere", "x");
  PartitionLog source_log(source, 2);
  REQUIRE_FALSE(source_log.load());
  source_log.set_applied(LogPoint{77, 3, {{1, 2, 3}, {}}}, batch);
  write(source, batch);

  SnapshotReader reader(source.snapshot(), 2);
  LogPoint point;
  REQUIRE(reader.point(point));
  CHECK(point == LogPoint{77, 3, {{1, 2, 3}, {}}});
  std::vector<std::vector<SnapshotRow>> chunks;
  for (bool done = false; !done;) {
    std::vector<SnapshotRow> rows;
    REQUIRE_FALSE(reader.next(1024, rows, done));
    chunks.push_back(rows);
  }
  CHECK(chunks.size() > 5);  // 1 KiB chunks of ~6 KiB
  std::size_t rows = 0;
  for (const auto& chunk : chunks)
    rows += chunk.size();
  CHECK(rows == 100);

  // The target holds stale data of the partition, which the install replaces.
  store::MemoryKv target;
  batch.put(store::Column::log, prefix + "stale", "old");
  batch.put(store::Column::accounts, raft_keys::partition_prefix(3) + "neighbour", "kept");
  write(target, batch);
  for (const auto& chunk : chunks)
    stage_rows(2, chunk, batch);
  write(target, batch);

  SECTION("installed in one go") {
    PartitionLog log(target, 2);
    REQUIRE_FALSE(log.load());
    REQUIRE_FALSE(install_staged(target, log, point));
    CHECK(log.snapshot().index == 77);
    CHECK(log.first_index() == 78);
  }
  SECTION("a crash after the marker is finished at the next start") {
    store::WriteBatch marker;
    marker.put(store::Column::raft_state, raft_keys::installing(2), encode_point(point));
    write(target, marker);
    std::vector<PartitionId> finished;
    REQUIRE_FALSE(finish_interrupted_installs(target, finished));
    CHECK(finished == std::vector<PartitionId>{2});
  }
  std::size_t found = 0;
  bool stale = false;
  for (store::Column column : {store::Column::log, store::Column::accounts}) {
    REQUIRE_FALSE(target.scan(column, prefix, {}, false, [&](std::string_view key, auto) {
      ++found;
      stale = stale || key.ends_with("stale");
      return true;
    }));
  }
  CHECK(found == 100);
  CHECK_FALSE(stale);
  std::string value;
  CHECK_FALSE(
      target.get(store::Column::accounts, raft_keys::partition_prefix(3) + "neighbour", value));
  CHECK_FALSE(target.get(store::Column::raft_state, raft_keys::installing(2), value).code ==
              errc::ok);
  std::size_t staged = 0;
  REQUIRE_FALSE(target.scan(store::Column::staging, {}, {}, false, [&](auto, auto) {
    ++staged;
    return true;
  }));
  CHECK(staged == 0);
  PartitionLog reloaded(target, 2);
  REQUIRE_FALSE(reloaded.load());
  CHECK(reloaded.snapshot().index == 77);
}

TEST_CASE("snapshot: chunks with rows outside their partition are refused", "[replica]") {
  SnapshotChunkHeader header;
  header.partition = 1;
  header.last = true;
  proto::PeerFrameBuilder builder;
  std::vector<SnapshotRow> rows{{store::Column::log, raft_keys::partition_prefix(2) + "x", "v"}};
  Error error;
  auto message = proto::PeerMessage::verify(encode_snapshot_chunk(header, rows, builder), error);
  REQUIRE(message.valid());
  SnapshotChunkHeader decoded;
  std::vector<SnapshotRow> decoded_rows;
  std::string why;
  CHECK_FALSE(decode_snapshot_chunk(*message.envelope().body_as_SnapshotChunk(), 4, decoded,
                                    decoded_rows, why));
  rows = {{store::Column::raft_log, raft_keys::partition_prefix(1) + "x", "v"}};
  message = proto::PeerMessage::verify(encode_snapshot_chunk(header, rows, builder), error);
  CHECK_FALSE(decode_snapshot_chunk(*message.envelope().body_as_SnapshotChunk(), 4, decoded,
                                    decoded_rows, why));
  rows = {{store::Column::log, raft_keys::partition_prefix(1) + "x", "v"}};
  message = proto::PeerMessage::verify(encode_snapshot_chunk(header, rows, builder), error);
  CHECK(decode_snapshot_chunk(*message.envelope().body_as_SnapshotChunk(), 4, decoded, decoded_rows,
                              why));
  CHECK_FALSE(decode_snapshot_chunk(*message.envelope().body_as_SnapshotChunk(), 1, decoded,
                                    decoded_rows, why));
}

}  // namespace qim::replica
