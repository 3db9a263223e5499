#include "replica/raft_records.h"

#include <cstring>
#include <vector>

#include <flatbuffers/flatbuffers.h>

#include "qim/schemas/store_generated.h"

namespace qim::replica {
namespace store_wire = qim::store;

namespace {

void append_be(std::string& out, std::uint64_t value, int bytes) {
  for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>(value >> shift));
}

std::string tagged(PartitionId partition, char tag) {
  std::string key = raft_keys::partition_prefix(partition);
  key.push_back(tag);
  return key;
}

// FlatBuffers reads scalars in place: verify and read from an aligned copy.
template <typename Table>
const Table* aligned_root(std::string_view bytes, std::vector<std::uint64_t>& storage) {
  storage.assign(bytes.size() / 8 + 1, 0);
  if (!bytes.empty()) std::memcpy(storage.data(), bytes.data(), bytes.size());
  const auto* data = reinterpret_cast<const std::uint8_t*>(storage.data());
  flatbuffers::Verifier verifier(data, bytes.size());
  if (!verifier.VerifyBuffer<Table>(nullptr)) return nullptr;
  return flatbuffers::GetRoot<Table>(data);
}

std::vector<raft::NodeId> ids_of(const flatbuffers::Vector<std::uint64_t>* ids) {
  std::vector<raft::NodeId> result;
  if (ids == nullptr) return result;
  result.assign(ids->begin(), ids->end());
  return result;
}

std::string finish(flatbuffers::FlatBufferBuilder& builder) {
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

}  // namespace

namespace raft_keys {

std::string partition_prefix(PartitionId partition) {
  std::string key;
  append_be(key, partition, 2);
  return key;
}

std::string partition_end(PartitionId partition) {
  std::string key;
  append_be(key, static_cast<std::uint64_t>(partition) + 1, 2);
  // Partition 0xffff does not exist (at most route::Partitions::max_count), so this never wraps.
  return key;
}

std::string entry(PartitionId partition, raft::Index index) {
  std::string key = partition_prefix(partition);
  append_be(key, index, 8);
  return key;
}

std::optional<raft::Index> entry_index(std::string_view key) {
  if (key.size() != 10) return std::nullopt;
  raft::Index index = 0;
  for (std::size_t i = 2; i < 10; ++i)
    index = index << 8 | static_cast<std::uint8_t>(key[i]);
  return index;
}

std::string hard_state(PartitionId partition) {
  return tagged(partition, 'h');
}
std::string applied(PartitionId partition) {
  return tagged(partition, 's');
}
std::string compacted(PartitionId partition) {
  return tagged(partition, 't');
}
std::string installing(PartitionId partition) {
  return tagged(partition, 'i');
}
std::string tombstone(PartitionId partition) {
  return tagged(partition, 'x');
}

}  // namespace raft_keys

std::string encode_entry(const raft::Entry& entry) {
  flatbuffers::FlatBufferBuilder builder(entry.data.size() + 64);
  auto data = builder.CreateVector(reinterpret_cast<const std::uint8_t*>(entry.data.data()),
                                   entry.data.size());
  builder.Finish(store_wire::CreateRaftLogEntry(builder, entry.term,
                                                static_cast<std::uint8_t>(entry.kind), data));
  return finish(builder);
}

bool decode_entry(std::string_view bytes, raft::Index index, raft::Entry& entry) {
  std::vector<std::uint64_t> storage;
  const auto* root = aligned_root<store_wire::RaftLogEntry>(bytes, storage);
  if (root == nullptr || root->kind() > 1) return false;
  entry.term = root->term();
  entry.index = index;
  entry.kind = static_cast<raft::EntryKind>(root->kind());
  entry.data.clear();
  if (root->data() != nullptr) {
    entry.data.assign(reinterpret_cast<const char*>(root->data()->data()), root->data()->size());
  }
  return true;
}

std::string encode_hard_state(const raft::HardState& state) {
  flatbuffers::FlatBufferBuilder builder(64);
  builder.Finish(store_wire::CreateRaftHardState(builder, state.term, state.vote, state.commit));
  return finish(builder);
}

bool decode_hard_state(std::string_view bytes, raft::HardState& state) {
  std::vector<std::uint64_t> storage;
  const auto* root = aligned_root<store_wire::RaftHardState>(bytes, storage);
  if (root == nullptr) return false;
  state = {root->term(), root->vote(), root->commit()};
  return true;
}

std::string encode_point(const LogPoint& point) {
  flatbuffers::FlatBufferBuilder builder(128);
  auto voters = builder.CreateVector(point.config.voters);
  auto learners = builder.CreateVector(point.config.learners);
  builder.Finish(store_wire::CreateRaftPoint(builder, point.index, point.term, voters, learners));
  return finish(builder);
}

bool decode_point(std::string_view bytes, LogPoint& point) {
  std::vector<std::uint64_t> storage;
  const auto* root = aligned_root<store_wire::RaftPoint>(bytes, storage);
  if (root == nullptr) return false;
  point.index = root->index();
  point.term = root->term();
  point.config.voters = ids_of(root->voters());
  point.config.learners = ids_of(root->learners());
  return true;
}

}  // namespace qim::replica
