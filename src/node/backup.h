#pragma once
// Backups (qimctl backup DIR): a consistent copy of this node's store, written on the node's
// host as a RocksDB checkpoint (hard links where DIR shares the data directory's filesystem,
// copies otherwise), with the cluster key when it lives in the data directory, and a manifest
// (qim-backup.json) saying whose copy it is and how far each partition had applied.
// deploy/README.md, "Backups", has the restore procedure.
#include <cstdint>
#include <string>

#include "admin/admin_hooks.h"
#include "store/rocks_kv.h"

namespace qim::node {

// The manifest's file name inside a backup directory.
inline constexpr char backup_manifest_name[] = "qim-backup.json";

// Whether `directory` may receive a backup: an absolute path that does not exist or is an
// empty directory. The error names the problem.
Error check_backup_directory(const std::string& directory);

// The manifest as JSON (the fields of admin.fbs BackupResult but the directory).
std::string backup_manifest_json(const admin::BackupView& view);

// Owned by main; thread-safe (RocksDB checkpoints may run concurrently with writes).
class Backups {
 public:
  // REQUIRES: `kv` outlives this object; it is the store opened in `data_directory`.
  Backups(store::RocksKv& kv, std::string data_directory) noexcept
      : kv_(kv), data_directory_(std::move(data_directory)) {}

  // Writes the checkpoint, the cluster key (if the node's is in its data directory) and the
  // manifest into `view.directory`. `view` comes filled but for cluster_id, which is read
  // from the store here.
  Error take(admin::BackupView& view);

 private:
  store::RocksKv& kv_;
  const std::string data_directory_;
};

}  // namespace qim::node
