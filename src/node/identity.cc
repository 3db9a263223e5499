#include "node/identity.h"

#include <random>

#include <fmt/core.h>

namespace qim::node {
namespace {

constexpr std::string_view replica_key = "replica_id";
constexpr std::string_view cluster_key = "cluster_id";
constexpr std::string_view partitions_key = "partitions";

Error read_number(store::Kv& kv, std::string_view key, std::uint64_t& value, bool& found) {
  std::string text;
  Error error = kv.get(store::Column::meta, key, text);
  found = !error;
  if (error.code == errc::not_found) return {};
  if (error) return error;
  try {
    std::size_t used = 0;
    value = std::stoull(text, &used, 16);
    if (used != text.size()) throw std::invalid_argument("trailing bytes");
  } catch (const std::exception&) {
    return {errc::internal, fmt::format("the store's {} record is damaged ('{}')", key, text)};
  }
  return {};
}

std::string hex(std::uint64_t value) {
  return fmt::format("{:016x}", value);
}

}  // namespace

std::uint64_t random_id() {
  std::random_device device;
  std::uint64_t id = 0;
  while (id == 0)
    id = static_cast<std::uint64_t>(device()) << 32 | device();
  return id;
}

Error load_or_create_identity(store::Kv& kv, std::uint32_t partitions, Identity& identity) {
  bool found = false;
  std::uint64_t value = 0;
  if (Error error = read_number(kv, replica_key, value, found)) return error;
  store::WriteBatch batch;
  if (found) {
    identity.replica_id = value;
  } else {
    identity.replica_id = random_id();
    batch.put(store::Column::meta, replica_key, hex(identity.replica_id));
  }
  if (Error error = read_number(kv, cluster_key, value, found)) return error;
  identity.cluster_id = found ? value : 0;
  if (Error error = read_number(kv, partitions_key, value, found)) return error;
  if (found && value != partitions) {
    return {errc::invalid_argument,
            fmt::format("this data directory belongs to a cluster of {} partitions, but "
                        "--partitions is {}: the partition count is fixed when a cluster is "
                        "created; start with --partitions {}",
                        value, partitions, value)};
  }
  identity.partitions = partitions;
  if (!found) batch.put(store::Column::meta, partitions_key, hex(partitions));
  if (!batch.empty()) return kv.write(batch, true);
  return {};
}

Error read_cluster_id(store::Kv& kv, std::uint64_t& cluster_id) {
  bool found = false;
  cluster_id = 0;
  return read_number(kv, cluster_key, cluster_id, found);
}

Error store_cluster_id(store::Kv& kv, std::uint64_t cluster_id) {
  store::WriteBatch batch;
  batch.put(store::Column::meta, cluster_key, hex(cluster_id));
  return kv.write(batch, true);
}

}  // namespace qim::node
