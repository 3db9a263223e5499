#include "node/backup.h"

#include <filesystem>
#include <system_error>

#include <fmt/core.h>

#include "node/atomic_file.h"
#include "node/identity.h"

namespace qim::node {
namespace {

namespace fs = std::filesystem;

Error refused(std::string message) {
  return Error{errc::invalid_argument, std::move(message)};
}

}  // namespace

Error check_backup_directory(const std::string& directory) {
  if (directory.empty()) return refused("directory: missing");
  fs::path path(directory);
  if (!path.is_absolute()) {
    return refused(fmt::format(
        "directory: '{}' is not an absolute path (it names a directory on the node's host)",
        directory));
  }
  std::error_code error;
  fs::file_status status = fs::status(path, error);
  if (error && error != std::errc::no_such_file_or_directory) {
    return refused(fmt::format("directory: cannot look at {}: {}", directory, error.message()));
  }
  if (!fs::exists(status)) return {};
  if (!fs::is_directory(status)) {
    return refused(fmt::format("directory: {} exists and is not a directory", directory));
  }
  if (!fs::is_empty(path, error) || error) {
    return refused(fmt::format(
        "directory: {} exists and is not empty; give a new or empty directory", directory));
  }
  return {};
}

std::string backup_manifest_json(const admin::BackupView& view) {
  // Node names and the version are plain ASCII without quotes (checked where they are set).
  std::string partitions;
  for (const admin::BackupPartitionView& p : view.partitions) {
    partitions += fmt::format(
        "{}\n    {{\"partition\": {}, \"applied_index\": {}, \"term\": {}, \"leader\": {}}}",
        partitions.empty() ? "" : ",", p.partition, p.applied_index, p.term,
        p.leader ? "true" : "false");
  }
  return fmt::format(
      "{{\n  \"format\": 1,\n  \"node_name\": \"{}\",\n  \"cluster_id\": \"{:016x}\",\n"
      "  \"created_ms\": {},\n  \"version\": \"{}\",\n  \"partitions\": [{}\n  ]\n}}\n",
      view.node_name, view.cluster_id, view.created_ms, view.version, partitions);
}

Error Backups::take(admin::BackupView& view) {
  if (Error invalid = check_backup_directory(view.directory)) return invalid;
  fs::path path(view.directory);
  std::error_code error;
  // RocksDB creates the checkpoint's directory itself: an empty one given goes first, a
  // missing parent is made.
  if (fs::exists(path, error)) fs::remove(path, error);
  if (!error && path.has_parent_path()) fs::create_directories(path.parent_path(), error);
  if (error) {
    return Error{errc::internal,
                 fmt::format("directory: cannot prepare {}: {}", view.directory, error.message())};
  }
  if (Error failed = read_cluster_id(kv_, view.cluster_id)) return failed;
  if (Error failed = kv_.checkpoint(view.directory)) return failed;
  fs::path key = fs::path(data_directory_) / "cluster.key";
  if (fs::exists(key, error)) {
    fs::copy_file(key, path / "cluster.key", error);
    if (!error) {
      fs::permissions(path / "cluster.key", fs::perms::owner_read | fs::perms::owner_write, error);
    }
    if (error) {
      return Error{errc::internal, fmt::format("copying the cluster key into {}: {}",
                                               view.directory, error.message())};
    }
  }
  std::string write_error;
  if (!write_file_atomically((path / backup_manifest_name).string(), backup_manifest_json(view),
                             write_error)) {
    return Error{errc::internal, fmt::format("writing the manifest: {}", write_error)};
  }
  return {};
}

}  // namespace qim::node
