#include "store/rocks_kv.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <vector>

#include <fmt/core.h>
#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/statistics.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

namespace qim::store {

struct RocksKv::Impl {
  std::unique_ptr<rocksdb::DB> db;
  std::shared_ptr<rocksdb::Statistics> statistics;  // tickers only (block cache hits)
  std::shared_ptr<rocksdb::Cache> cache;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;  // every open family; owned, closed last
  std::array<rocksdb::ColumnFamilyHandle*, column_count> columns{};  // by store::Column

  rocksdb::ColumnFamilyHandle* handle(Column column) const {
    return columns[static_cast<std::size_t>(column)];
  }

  ~Impl() {
    if (!db) return;
    for (auto* handle : handles)
      db->DestroyColumnFamilyHandle(handle);
    db->Close();
  }
};

namespace {

Error status_error(const rocksdb::Status& status, std::string_view what) {
  return {errc::internal, fmt::format("rocksdb: {}: {}", what, status.ToString())};
}

// The smallest key greater than every key with `prefix`; empty when there is none.
std::string prefix_upper_bound(std::string_view prefix) {
  std::string upper(prefix);
  while (!upper.empty() && static_cast<unsigned char>(upper.back()) == 0xff)
    upper.pop_back();
  if (!upper.empty())
    upper.back() = static_cast<char>(static_cast<unsigned char>(upper.back()) + 1);
  return upper;
}

// Counters that only grow, raised from several threads.
void raise_to(std::atomic<std::uint64_t>& counter, std::uint64_t value) {
  std::uint64_t seen = counter.load(std::memory_order_relaxed);
  while (seen < value && !counter.compare_exchange_weak(seen, value, std::memory_order_release,
                                                        std::memory_order_relaxed)) {
  }
}

// RocksDB compares slices with memcmp and asserts that their data is not null, which an empty
// std::string_view may be: an empty view becomes a slice of "" instead.
rocksdb::Slice slice(std::string_view text) {
  return text.empty() ? rocksdb::Slice("", 0) : rocksdb::Slice(text.data(), text.size());
}

bool compression_supported(rocksdb::CompressionType type) {
  auto supported = rocksdb::GetSupportedCompressions();
  return std::find(supported.begin(), supported.end(), type) != supported.end();
}

// `name` is a column family name; families this build does not know (written by a newer one)
// get the defaults.
rocksdb::ColumnFamilyOptions family_options(std::string_view name, const RocksOptions& options,
                                            const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;  // shared by every family, so the memory bound is global
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  table.format_version = 5;
  rocksdb::ColumnFamilyOptions family;
  family.write_buffer_size = options.write_buffer_bytes;
  family.compaction_style = rocksdb::kCompactionStyleLevel;
  family.level_compaction_dynamic_level_bytes = true;
  family.compression = rocksdb::kNoCompression;  // small records; CPU matters more here

  if (name == column_name(Column::log)) {
    // Appended in key order and read back as range scans: bigger blocks mean fewer seeks per
    // page of history, and message bodies are worth compressing once they settle.
    table.block_size = 16 * 1024;
    if (compression_supported(rocksdb::kLZ4Compression)) {
      family.compression = rocksdb::kLZ4Compression;
    }
    if (compression_supported(rocksdb::kZSTD)) family.bottommost_compression = rocksdb::kZSTD;
  } else if (name == column_name(Column::dedup) || name == column_name(Column::convs)) {
    // Every send looks up its dedup key (or, for a new chat, its membership), and almost all
    // of them miss: a whole-key bloom filter on the memtable answers those misses without
    // touching the skiplist.
    family.memtable_prefix_bloom_size_ratio = 0.05;
    family.memtable_whole_key_filtering = true;
  }
  family.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return family;
}

}  // namespace

RocksKv::RocksKv(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RocksKv::~RocksKv() {
  // Unsynced writes are already in the WAL's OS buffers; syncing them here makes a clean
  // shutdown durable against a power loss too. Memtables are not flushed: the next open
  // replays the WAL, which is cheaper than writing tables on every restart.
  if (impl_ && impl_->db) impl_->db->FlushWAL(true);
}

std::unique_ptr<RocksKv> RocksKv::open(const std::string& path, const RocksOptions& options,
                                       Error& error) {
  std::error_code filesystem_error;
  if (options.create_if_missing) std::filesystem::create_directories(path, filesystem_error);
  if (filesystem_error) {
    error = {errc::internal,
             fmt::format("cannot create data directory {}: {}", path, filesystem_error.message())};
    return nullptr;
  }

  auto cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = options.background_jobs;
  // Flushes and compactions yield to the threads that serve clients: on a busy core they would
  // otherwise take whole time slices from them and show as latency spikes (o2o at 20k/s on one
  // core: p99 9-58 ms before, 4-12 ms after). They use the idle time instead, and RocksDB's
  // write stall still bounds how far they may fall behind. The pools are the process's (one
  // store per qimd); setting them again is harmless.
  rocksdb::Env::Default()->LowerThreadPoolCPUPriority(rocksdb::Env::Priority::LOW,
                                                      rocksdb::CpuPriority::kLow);
  rocksdb::Env::Default()->LowerThreadPoolCPUPriority(rocksdb::Env::Priority::HIGH,
                                                      rocksdb::CpuPriority::kLow);
  db_options.enable_pipelined_write = true;  // concurrent writers overlap WAL and memtable work
  // WAL records wait in RocksDB's buffer until make_durable() (or write() itself) writes them
  // out: the group commit of write_buffered().
  db_options.manual_wal_flush = true;
  // RocksDB's own LOG: INFO, not the DEBUG level some builds default to (a line per WAL flush,
  // that is per write, formatted and written on the writer's thread), and rotated so that it
  // cannot fill the disk.
  db_options.info_log_level = rocksdb::InfoLogLevel::INFO_LEVEL;
  db_options.max_log_file_size = 16 << 20;
  db_options.keep_log_file_num = 4;
  db_options.max_total_wal_size = 256 << 20;
  // Tickers only (no histograms or timers): what /metrics reads, at the least cost.
  auto statistics = rocksdb::CreateDBStatistics();
  statistics->set_stats_level(rocksdb::StatsLevel::kExceptHistogramOrTimers);
  db_options.statistics = statistics;

  // Open every family on disk (a newer build may have added some), plus ours.
  std::vector<std::string> names;
  auto listed = rocksdb::DB::ListColumnFamilies(db_options, path, &names);
  if (!listed.ok()) names.clear();  // a new database
  for (std::size_t i = 0; i < column_count; ++i) {
    std::string name = column_name(static_cast<Column>(i));
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  if (std::find(names.begin(), names.end(), rocksdb::kDefaultColumnFamilyName) == names.end()) {
    names.push_back(rocksdb::kDefaultColumnFamilyName);
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& name : names)
    descriptors.emplace_back(name, family_options(name, options, cache));

  auto impl = std::make_unique<Impl>();
  impl->statistics = statistics;
  impl->cache = cache;
  rocksdb::DB* raw = nullptr;
  auto status = rocksdb::DB::Open(db_options, path, descriptors, &impl->handles, &raw);
  if (!status.ok()) {
    error = {errc::internal, fmt::format("cannot open database {}: {}", path, status.ToString())};
    return nullptr;
  }
  impl->db.reset(raw);
  for (std::size_t i = 0; i < names.size(); ++i) {
    for (std::size_t column = 0; column < column_count; ++column) {
      if (names[i] == column_name(static_cast<Column>(column))) {
        impl->columns[column] = impl->handles[i];
      }
    }
  }

  std::unique_ptr<RocksKv> kv(new RocksKv(std::move(impl)));
  std::string format;
  Error read = kv->get(Column::meta, "format", format);
  if (read.code == errc::not_found) {
    WriteBatch batch;
    batch.put(Column::meta, "format", format_version);
    if (Error written = kv->write(batch, true)) {
      error = written;
      return nullptr;
    }
  } else if (read) {
    error = read;
    return nullptr;
  } else if (format != format_version) {
    // Opening another format could misread records, so refuse rather than guess. Format 1
    // predates partition prefixes on keys, and nothing converts it.
    error = {errc::internal,
             format == "1"
                 ? fmt::format("database {} is in the old on-disk format {} (keys without "
                               "partitions); this build reads only format {} and does not "
                               "migrate: start it with an empty data directory",
                               path, format, format_version)
                 : fmt::format("database {} has format {}, but this build reads only format {}: "
                               "run a newer qimd or point it at another data directory",
                               path, format, format_version)};
    return nullptr;
  }
  return kv;
}

Error RocksKv::get(Column column, std::string_view key, std::string& value) {
  auto status = impl_->db->Get(rocksdb::ReadOptions(), impl_->handle(column), slice(key), &value);
  if (status.IsNotFound()) return {errc::not_found, "no such key"};
  if (!status.ok()) return status_error(status, "get");
  return {};
}

Error RocksKv::apply(const WriteBatch& batch) {
  rocksdb::WriteBatch rocks_batch;
  for (const auto& op : batch.ops()) {
    rocksdb::Status status;
    switch (op.kind) {
      case WriteBatch::Kind::put:
        status = rocks_batch.Put(impl_->handle(op.column), slice(op.key), slice(op.value));
        break;
      case WriteBatch::Kind::erase:
        status = rocks_batch.Delete(impl_->handle(op.column), slice(op.key));
        break;
      case WriteBatch::Kind::erase_range:
        if (op.key < op.value) {
          status =
              rocks_batch.DeleteRange(impl_->handle(op.column), slice(op.key), slice(op.value));
        }
        break;
    }
    if (!status.ok()) return status_error(status, "batch");
  }
  auto status = impl_->db->Write(rocksdb::WriteOptions(), &rocks_batch);
  if (!status.ok()) return status_error(status, "write");
  applied_.fetch_add(1, std::memory_order_release);
  return {};
}

Error RocksKv::write(const WriteBatch& batch, bool sync) {
  if (Error error = apply(batch)) return error;
  return make_durable(sync);
}

Error RocksKv::write_buffered(const WriteBatch& batch) {
  return apply(batch);
}

Error RocksKv::make_durable(bool sync) {
  // Read before flushing: every write counted here already has its record in the buffer, so
  // one FlushWAL covers them all (and possibly more, which is harmless).
  std::uint64_t applied = applied_.load(std::memory_order_acquire);
  auto& done = sync ? synced_ : flushed_;
  if (done.load(std::memory_order_acquire) >= applied) return {};
  auto status = impl_->db->FlushWAL(sync);
  if (!status.ok()) return status_error(status, sync ? "sync wal" : "flush wal");
  raise_to(flushed_, applied);
  if (sync) raise_to(synced_, applied);
  return {};
}

namespace {

// Kv::scan over `db` with `base` read options (a snapshot, or none).
Error scan_column(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* handle,
                  const rocksdb::ReadOptions& base, std::string_view prefix, std::string_view start,
                  bool reverse, const ScanVisitor& visit) {
  std::string upper = prefix_upper_bound(prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::Slice lower_slice = slice(prefix);
  rocksdb::ReadOptions options = base;
  if (!upper.empty()) options.iterate_upper_bound = &upper_slice;
  if (!prefix.empty()) options.iterate_lower_bound = &lower_slice;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(options, handle));

  if (!reverse) {
    it->Seek(slice(start.empty() || start < prefix ? prefix : start));
    for (; it->Valid(); it->Next()) {
      auto key = it->key();
      if (!key.starts_with(slice(prefix))) break;
      auto value = it->value();
      if (!visit({key.data(), key.size()}, {value.data(), value.size()})) break;
    }
  } else {
    // Position on the last key < start (or the last key with the prefix).
    if (start.empty() || (!upper.empty() && start >= upper)) {
      it->SeekToLast();
    } else {
      it->SeekForPrev(slice(start));
      if (it->Valid() && it->key() == slice(start)) it->Prev();
    }
    for (; it->Valid(); it->Prev()) {
      auto key = it->key();
      if (!key.starts_with(slice(prefix))) break;
      auto value = it->value();
      if (!visit({key.data(), key.size()}, {value.data(), value.size()})) break;
    }
  }
  if (!it->status().ok()) return status_error(it->status(), "scan");
  return {};
}

// Reads at one RocksDB snapshot, released with the view.
class RocksSnapshot final : public KvSnapshot {
 public:
  using HandleOf = std::function<rocksdb::ColumnFamilyHandle*(Column)>;
  RocksSnapshot(rocksdb::DB& db, HandleOf handle_of)
      : db_(db), handle_of_(std::move(handle_of)), snapshot_(db.GetSnapshot()) {
    options_.snapshot = snapshot_;
  }
  ~RocksSnapshot() override { db_.ReleaseSnapshot(snapshot_); }

  Error get(Column column, std::string_view key, std::string& value) override {
    auto status = db_.Get(options_, handle_of_(column), slice(key), &value);
    if (status.IsNotFound()) return {errc::not_found, "no such key"};
    if (!status.ok()) return status_error(status, "get");
    return {};
  }
  Error scan(Column column, std::string_view prefix, std::string_view start, bool reverse,
             const ScanVisitor& visit) override {
    return scan_column(db_, handle_of_(column), options_, prefix, start, reverse, visit);
  }

 private:
  rocksdb::DB& db_;
  HandleOf handle_of_;
  const rocksdb::Snapshot* snapshot_;
  rocksdb::ReadOptions options_;
};

}  // namespace

Error RocksKv::scan(Column column, std::string_view prefix, std::string_view start, bool reverse,
                    const ScanVisitor& visit) {
  return scan_column(*impl_->db, impl_->handle(column), rocksdb::ReadOptions(), prefix, start,
                     reverse, visit);
}

std::unique_ptr<KvSnapshot> RocksKv::snapshot() {
  Impl* impl = impl_.get();
  return std::make_unique<RocksSnapshot>(*impl->db,
                                         [impl](Column column) { return impl->handle(column); });
}

std::uint64_t RocksKv::approximate_size_bytes() const {
  std::uint64_t total = 0;
  for (auto* handle : impl_->handles) {
    for (const char* property :
         {"rocksdb.total-sst-files-size", "rocksdb.cur-size-all-mem-tables"}) {
      std::uint64_t value = 0;
      if (impl_->db->GetIntProperty(handle, property, &value)) total += value;
    }
  }
  return total;
}

RocksHealth RocksKv::health() const {
  RocksHealth health;
  rocksdb::DB& db = *impl_->db;
  std::uint64_t value = 0;
  if (db.GetIntProperty("rocksdb.is-write-stopped", &value)) health.write_stopped = value != 0;
  if (db.GetIntProperty("rocksdb.actual-delayed-write-rate", &value)) {
    health.delayed_write_rate = value;
  }
  for (auto* handle : impl_->handles) {
    if (db.GetIntProperty(handle, "rocksdb.compaction-pending", &value) && value != 0) {
      health.compaction_pending = true;
    }
    if (db.GetIntProperty(handle, "rocksdb.estimate-pending-compaction-bytes", &value)) {
      health.pending_compaction_bytes += value;
    }
  }
  rocksdb::VectorLogPtr files;
  if (db.GetSortedWalFiles(files).ok()) {
    for (const auto& file : files)
      health.wal_bytes += file->SizeFileBytes();
  }
  if (impl_->statistics) {
    health.block_cache_hits = impl_->statistics->getTickerCount(rocksdb::BLOCK_CACHE_HIT);
    health.block_cache_misses = impl_->statistics->getTickerCount(rocksdb::BLOCK_CACHE_MISS);
    health.keys_written = impl_->statistics->getTickerCount(rocksdb::NUMBER_KEYS_WRITTEN);
    // A batch is written by its own thread or by a group-commit leader on its behalf.
    health.write_batches = impl_->statistics->getTickerCount(rocksdb::WRITE_DONE_BY_SELF) +
                           impl_->statistics->getTickerCount(rocksdb::WRITE_DONE_BY_OTHER);
  }
  if (impl_->cache) health.block_cache_usage_bytes = impl_->cache->GetUsage();
  return health;
}

Error RocksKv::checkpoint(const std::string& directory) {
  // Buffered WAL records first, so the copy holds every write acknowledged so far.
  if (auto flushed = impl_->db->FlushWAL(false); !flushed.ok()) {
    return {errc::internal, fmt::format("checkpoint: {}", flushed.ToString())};
  }
  rocksdb::Checkpoint* raw = nullptr;
  auto status = rocksdb::Checkpoint::Create(impl_->db.get(), &raw);
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  if (status.ok()) status = checkpoint->CreateCheckpoint(directory, 0);
  if (!status.ok()) {
    return {errc::internal, fmt::format("checkpoint to {}: {}", directory, status.ToString())};
  }
  return {};
}

Error RocksKv::flush() {
  auto status = impl_->db->FlushWAL(true);
  if (!status.ok()) return status_error(status, "flush wal");
  status = impl_->db->Flush(rocksdb::FlushOptions(), impl_->handles);
  if (!status.ok()) return status_error(status, "flush memtables");
  return {};
}

}  // namespace qim::store
