#pragma once
// A node's replication identity, kept in the store's meta column:
//   replica_id   random, chosen when the data directory is created; never reused, so a node
//                whose data was deleted rejoins as a new replica (Raft must never see one
//                replica id with two different pasts);
//   cluster_id   random, chosen by the node that created the cluster and adopted by every node
//                that joins it; a node refuses members of another cluster;
//   partitions   the cluster's partition count, fixed when the cluster is created.
#include <cstdint>
#include <string>

#include "qim/errc.h"
#include "store/kv.h"

namespace qim::node {

struct Identity {
  std::uint64_t replica_id = 0;
  std::uint64_t cluster_id = 0;  // 0: not part of a cluster yet
  std::uint32_t partitions = 0;
};

// Loads the identity, or creates it in a fresh store with `partitions`. Fails with a message
// for the operator when the store was created with another partition count.
Error load_or_create_identity(store::Kv& kv, std::uint32_t partitions, Identity& identity);
// Records the cluster this node belongs to (it created it, or joined it).
Error store_cluster_id(store::Kv& kv, std::uint64_t cluster_id);
// The stored cluster id (0 when the node has not joined a cluster yet).
Error read_cluster_id(store::Kv& kv, std::uint64_t& cluster_id);
// A random non-zero id.
std::uint64_t random_id();

}  // namespace qim::node
