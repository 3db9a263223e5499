#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include <rocksdb/db.h>

#include "store/memory_kv.h"
#include "store/rocks_kv.h"

using namespace qim;
using namespace qim::store;

namespace {

// A fresh directory, removed when the test ends.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "qim-rocks-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::unique_ptr<RocksKv> open_or_fail(const std::filesystem::path& path) {
  Error error;
  auto kv = RocksKv::open(path.string(), RocksOptions{.block_cache_bytes = 1 << 20}, error);
  INFO(error.message);
  REQUIRE(kv);
  return kv;
}

std::vector<std::string> keys_of(Kv& kv, std::string_view prefix, std::string_view start,
                                 bool reverse) {
  std::vector<std::string> keys;
  REQUIRE_FALSE(kv.scan(Column::log, prefix, start, reverse, [&](auto key, auto) {
    keys.emplace_back(key);
    return true;
  }));
  return keys;
}

using Rows = std::vector<std::pair<std::string, std::string>>;

Rows rows_of(Kv& kv, Column column, std::string_view prefix, std::string_view start, bool reverse) {
  Rows rows;
  REQUIRE_FALSE(kv.scan(column, prefix, start, reverse, [&](auto key, auto value) {
    rows.emplace_back(key, value);
    return true;
  }));
  return rows;
}

}  // namespace

TEST_CASE("rocks kv: scans honour prefix, start and direction", "[store]") {
  TempDir dir;
  auto kv = open_or_fail(dir.path);
  WriteBatch batch;
  for (const char* key : {"a", "b/1", "b/2", "b/3", "c"})
    batch.put(Column::log, key, "v");
  REQUIRE_FALSE(kv->write(batch, false));

  CHECK(keys_of(*kv, "b/", "", false) == std::vector<std::string>{"b/1", "b/2", "b/3"});
  CHECK(keys_of(*kv, "b/", "b/2", false) == std::vector<std::string>{"b/2", "b/3"});
  CHECK(keys_of(*kv, "b/", "", true) == std::vector<std::string>{"b/3", "b/2", "b/1"});
  CHECK(keys_of(*kv, "b/", "b/3", true) == std::vector<std::string>{"b/2", "b/1"});
  CHECK(keys_of(*kv, "b/", "z", true) == std::vector<std::string>{"b/3", "b/2", "b/1"});
  CHECK(keys_of(*kv, "b/", "a", true).empty());
  CHECK(keys_of(*kv, "d", "", true).empty());
}

TEST_CASE("rocks kv: data survives close and reopen; column families are separate", "[store]") {
  TempDir dir;
  {
    auto kv = open_or_fail(dir.path);
    WriteBatch batch;
    batch.put(Column::accounts, "alice", "1");
    batch.put(Column::friends, "alice", "2");
    REQUIRE_FALSE(kv->write(batch, true));
  }
  auto kv = open_or_fail(dir.path);
  std::string value;
  REQUIRE_FALSE(kv->get(Column::accounts, "alice", value));
  CHECK(value == "1");
  REQUIRE_FALSE(kv->get(Column::friends, "alice", value));
  CHECK(value == "2");
  CHECK(kv->get(Column::groups, "alice", value).code == errc::not_found);
  CHECK(kv->approximate_size_bytes() > 0);
  CHECK_FALSE(kv->flush());
}

namespace {

// What a kill -9 leaves: the database directory as the OS has it, while the process still runs.
void copy_as_crashed(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::filesystem::copy(from, to, std::filesystem::copy_options::recursive);
}

bool has(Kv& kv, std::string_view key) {
  std::string value;
  Error error = kv.get(Column::log, key, value);
  REQUIRE((!error || error.code == errc::not_found));
  return !error;
}

}  // namespace

TEST_CASE("rocks kv: buffered writes are visible at once and survive a crash once made durable",
          "[store]") {
  TempDir dir;
  auto kv = open_or_fail(dir.path / "db");
  WriteBatch batch;
  batch.put(Column::log, "plain", "1");
  REQUIRE_FALSE(kv->write(batch, false));
  batch.clear();
  batch.put(Column::log, "durable", "2");
  REQUIRE_FALSE(kv->write_buffered(batch));
  REQUIRE_FALSE(kv->make_durable(false));
  batch.clear();
  batch.put(Column::log, "buffered", "3");
  REQUIRE_FALSE(kv->write_buffered(batch));
  CHECK(has(*kv, "buffered"));  // readers see it before it is durable

  copy_as_crashed(dir.path / "db", dir.path / "crash1");
  {
    auto recovered = open_or_fail(dir.path / "crash1");
    CHECK(has(*recovered, "plain"));
    CHECK(has(*recovered, "durable"));
    // Still in the process's buffer: this is what makes a burst share one WAL write, and why
    // nothing may reveal it before make_durable().
    CHECK_FALSE(has(*recovered, "buffered"));
  }
  REQUIRE_FALSE(kv->make_durable(true));
  REQUIRE_FALSE(kv->make_durable(true));  // nothing new: no-op
  copy_as_crashed(dir.path / "db", dir.path / "crash2");
  auto recovered = open_or_fail(dir.path / "crash2");
  CHECK(has(*recovered, "buffered"));
}

TEST_CASE("rocks kv: writes leave no line in RocksDB's LOG each", "[store]") {
  TempDir dir;
  {
    auto kv = open_or_fail(dir.path / "db");
    WriteBatch batch;
    for (int i = 0; i < 500; ++i) {
      batch.clear();
      batch.put(Column::log, "key" + std::to_string(i), "value");
      REQUIRE_FALSE(kv->write_buffered(batch));
      REQUIRE_FALSE(kv->make_durable(i % 2 == 0));
      REQUIRE_FALSE(kv->write(batch, false));
    }
  }  // closed: the LOG is written out
  std::ifstream log(dir.path / "db" / "LOG");
  REQUIRE(log);
  std::size_t debug_lines = 0;
  std::size_t flush_lines = 0;
  for (std::string line; std::getline(log, line);) {
    if (line.find("[DEBUG]") != std::string::npos) ++debug_lines;
    if (line.find("FlushWAL") != std::string::npos) ++flush_lines;
  }
  CHECK(debug_lines == 0);
  CHECK(flush_lines == 0);
}

TEST_CASE("rocks kv: a plain write also writes out the records buffered before it", "[store]") {
  TempDir dir;
  auto kv = open_or_fail(dir.path / "db");
  WriteBatch batch;
  batch.put(Column::log, "buffered", "1");
  REQUIRE_FALSE(kv->write_buffered(batch));
  batch.clear();
  batch.put(Column::log, "plain", "2");
  REQUIRE_FALSE(kv->write(batch, false));
  copy_as_crashed(dir.path / "db", dir.path / "crash");
  auto recovered = open_or_fail(dir.path / "crash");
  CHECK(has(*recovered, "buffered"));
  CHECK(has(*recovered, "plain"));
}

TEST_CASE("rocks kv: a database of a newer format is refused", "[store]") {
  TempDir dir;
  {
    auto kv = open_or_fail(dir.path);
    WriteBatch batch;
    batch.put(Column::meta, "format", "999");
    REQUIRE_FALSE(kv->write(batch, true));
  }
  Error error;
  auto kv = RocksKv::open(dir.path.string(), RocksOptions{}, error);
  CHECK_FALSE(kv);
  CHECK(error.code == errc::internal);
  CHECK_THAT(error.message, Catch::Contains("format 999"));
}

TEST_CASE("rocks kv: a database of the old format (keys without partitions) is refused",
          "[store]") {
  TempDir dir;
  {
    auto kv = open_or_fail(dir.path);
    WriteBatch batch;
    batch.put(Column::meta, "format", "1");
    REQUIRE_FALSE(kv->write(batch, true));
  }
  Error error;
  auto kv = RocksKv::open(dir.path.string(), RocksOptions{}, error);
  CHECK_FALSE(kv);
  CHECK_THAT(error.message, Catch::Contains("old on-disk format 1"));
  CHECK_THAT(error.message, Catch::Contains("does not migrate"));
}

TEST_CASE("rocks kv: a batch applies puts and erases together", "[store]") {
  TempDir dir;
  auto kv = open_or_fail(dir.path);
  WriteBatch batch;
  batch.put(Column::accounts, "alice", "1");
  batch.put(Column::accounts, "bob", "2");
  REQUIRE_FALSE(kv->write(batch, false));
  batch.clear();
  batch.erase(Column::accounts, "alice");
  batch.put(Column::accounts, "bob", "3");
  batch.erase(Column::accounts, "nobody");  // erasing a missing key is not an error
  REQUIRE_FALSE(kv->write(batch, true));
  std::string value;
  CHECK(kv->get(Column::accounts, "alice", value).code == errc::not_found);
  REQUIRE_FALSE(kv->get(Column::accounts, "bob", value));
  CHECK(value == "3");
  CHECK(kv->get(Column::friends, "bob", value).code == errc::not_found);

  // Later operations in one batch win over earlier ones on the same key.
  batch.clear();
  batch.put(Column::accounts, "carol", "1");
  batch.erase(Column::accounts, "carol");
  batch.put(Column::accounts, "dave", "1");
  batch.put(Column::accounts, "dave", "2");
  REQUIRE_FALSE(kv->write(batch, false));
  CHECK(kv->get(Column::accounts, "carol", value).code == errc::not_found);
  REQUIRE_FALSE(kv->get(Column::accounts, "dave", value));
  CHECK(value == "2");
  CHECK_FALSE(kv->write(WriteBatch(), true));  // an empty batch is fine
}

TEST_CASE("rocks kv: binary keys and values with NUL and 0xff bytes", "[store]") {
  TempDir dir;
  auto kv = open_or_fail(dir.path);
  using namespace std::string_literals;
  const std::string conversation = "d:alice:bob\0"s;
  auto seq_key = [&](std::uint64_t seq) {
    std::string key = conversation;
    for (int shift = 56; shift >= 0; shift -= 8)
      key.push_back(static_cast<char>(seq >> shift));
    return key;
  };
  WriteBatch batch;
  for (std::uint64_t seq : {1ull, 255ull, 256ull, 0xffffffffffffffffull})
    batch.put(Column::log, seq_key(seq), "\0body\xff"s);
  batch.put(Column::log, "d:alice:bob"s, "no separator");  // sorts before the prefix
  batch.put(Column::log, "d:alice:bob\x01"s, "after the prefix");
  REQUIRE_FALSE(kv->write(batch, false));

  std::string value;
  REQUIRE_FALSE(kv->get(Column::log, seq_key(256), value));
  CHECK(value == "\0body\xff"s);
  CHECK(kv->get(Column::log, seq_key(2), value).code == errc::not_found);

  Rows forward = rows_of(*kv, Column::log, conversation, "", false);
  REQUIRE(forward.size() == 4);
  CHECK(forward[0].first == seq_key(1));
  CHECK(forward[1].first == seq_key(255));
  CHECK(forward[2].first == seq_key(256));
  CHECK(forward[3].first == seq_key(0xffffffffffffffffull));
  CHECK(forward[3].second == "\0body\xff"s);
  Rows reverse = rows_of(*kv, Column::log, conversation, "", true);
  REQUIRE(reverse.size() == 4);
  CHECK(reverse.front().first == seq_key(0xffffffffffffffffull));
  CHECK(reverse.back().first == seq_key(1));
  CHECK(rows_of(*kv, Column::log, conversation, seq_key(256), true).size() == 2);
  CHECK(rows_of(*kv, Column::log, conversation, seq_key(256), false).size() == 2);
}

TEST_CASE("rocks kv: reverse scans stop exactly at the prefix boundaries", "[store]") {
  TempDir dir;
  auto kv = open_or_fail(dir.path);
  using namespace std::string_literals;
  WriteBatch batch;
  // Neighbours on both sides of each prefix, including prefixes that end in 0xff (whose upper
  // bound has to carry) and a prefix that is all 0xff (no upper bound at all).
  for (std::string key : {"a\xfe"s, "a\xff"s, "a\xff\0"s, "a\xff\xff"s, "b"s, "b\0"s, "\xff"s,
                          "\xff\xff"s, "\xff\xff\x01"s})
    batch.put(Column::log, key, key);
  REQUIRE_FALSE(kv->write(batch, false));
  MemoryKv memory;
  REQUIRE_FALSE(memory.write(batch, false));

  using Keys = std::vector<std::string>;
  CHECK(keys_of(*kv, "a\xff"s, "", true) == Keys{"a\xff\xff"s, "a\xff\0"s, "a\xff"s});
  CHECK(keys_of(*kv, "a\xff"s, "a\xff\xff"s, true) == Keys{"a\xff\0"s, "a\xff"s});
  CHECK(keys_of(*kv, "a\xff"s, "a\xff"s, true).empty());
  CHECK(keys_of(*kv, "a\xff"s, "b"s, true) == Keys{"a\xff\xff"s, "a\xff\0"s, "a\xff"s});
  CHECK(keys_of(*kv, "a"s, "", true) == Keys{"a\xff\xff"s, "a\xff\0"s, "a\xff"s, "a\xfe"s});
  CHECK(keys_of(*kv, "b"s, "", true) == Keys{"b\0"s, "b"s});
  CHECK(keys_of(*kv, "\xff\xff"s, "", true) == Keys{"\xff\xff\x01"s, "\xff\xff"s});
  CHECK(keys_of(*kv, "\xff"s, "\xff\xff"s, true) == Keys{"\xff"s});
  CHECK(keys_of(*kv, "", "b"s, true) == Keys{"a\xff\xff"s, "a\xff\0"s, "a\xff"s, "a\xfe"s});
  CHECK(keys_of(*kv, "c"s, "", true).empty());
  for (std::string prefix : {""s, "a"s, "a\xff"s, "b"s, "\xff"s, "\xff\xff"s, "c"s}) {
    for (std::string start :
         {""s, "a"s, "a\xff"s, "a\xff\xff\xff"s, "b\0"s, "c"s, "\xff\xff\xff"s}) {
      INFO("prefix size " << prefix.size() << " start size " << start.size());
      CHECK(keys_of(*kv, prefix, start, true) == keys_of(memory, prefix, start, true));
      CHECK(keys_of(*kv, prefix, start, false) == keys_of(memory, prefix, start, false));
    }
  }
}

TEST_CASE("rocks kv: a visitor can stop a scan and write while scanning", "[store]") {
  TempDir dir;
  auto kv = open_or_fail(dir.path);
  WriteBatch batch;
  for (const char* key : {"k1", "k2", "k3", "k4"})
    batch.put(Column::log, key, "v");
  REQUIRE_FALSE(kv->write(batch, false));
  std::vector<std::string> seen;
  REQUIRE_FALSE(kv->scan(Column::log, "k", "", false, [&](auto key, auto) {
    seen.emplace_back(key);
    WriteBatch inner;
    inner.put(Column::log, std::string(key) + "x", "added");  // not seen: the scan is a snapshot
    REQUIRE_FALSE(kv->write(inner, false));
    return seen.size() < 2;
  }));
  CHECK(seen == std::vector<std::string>{"k1", "k2"});
  CHECK(keys_of(*kv, "k", "", false) ==
        std::vector<std::string>{"k1", "k1x", "k2", "k2x", "k3", "k4"});
}

TEST_CASE("rocks kv: column families unknown to this build are opened and kept", "[store]") {
  TempDir dir;
  { open_or_fail(dir.path); }
  {
    // A newer build added a family: create it behind RocksKv's back.
    rocksdb::DBOptions options;
    std::vector<std::string> names;
    REQUIRE(rocksdb::DB::ListColumnFamilies(options, dir.path.string(), &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const auto& name : names)
      descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    REQUIRE(rocksdb::DB::Open(options, dir.path.string(), descriptors, &handles, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    rocksdb::ColumnFamilyHandle* future = nullptr;
    REQUIRE(db->CreateColumnFamily(rocksdb::ColumnFamilyOptions(), "future", &future).ok());
    REQUIRE(db->Put(rocksdb::WriteOptions(), future, "key", "value").ok());
    handles.push_back(future);
    for (auto* handle : handles)
      REQUIRE(db->DestroyColumnFamilyHandle(handle).ok());
    REQUIRE(db->Close().ok());
  }
  auto kv = open_or_fail(dir.path);
  WriteBatch batch;
  batch.put(Column::groups, "team", "1");
  REQUIRE_FALSE(kv->write(batch, true));
  kv.reset();
  std::vector<std::string> names;
  REQUIRE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir.path.string(), &names).ok());
  CHECK(std::find(names.begin(), names.end(), "future") != names.end());
  for (std::size_t column = 0; column < column_count; ++column)
    CHECK(std::find(names.begin(), names.end(), column_name(static_cast<Column>(column))) !=
          names.end());
}

TEST_CASE("rocks kv: opening a missing database without create_if_missing fails", "[store]") {
  TempDir dir;
  Error error;
  auto kv = RocksKv::open((dir.path / "absent").string(), RocksOptions{.create_if_missing = false},
                          error);
  CHECK_FALSE(kv);
  CHECK(error.code == errc::internal);
  CHECK_THAT(error.message, Catch::Contains("absent"));
}

TEST_CASE("rocks kv: agrees with the in-memory store on random operations", "[store]") {
  // Fixed seeds always run; QIM_TEST_SEED replays a failing one, and one fresh seed per run
  // widens coverage over time. A failure prints the seed.
  std::uint64_t seed = GENERATE(1, 2, 3, 0);
  if (seed == 0) {
    const char* fixed = std::getenv("QIM_TEST_SEED");
    seed = fixed ? std::strtoull(fixed, nullptr, 10) : std::random_device()();
  }
  INFO("seed " << seed << " (rerun with QIM_TEST_SEED=" << seed << ")");
  TempDir dir;
  auto rocks = open_or_fail(dir.path);
  MemoryKv memory;
  std::mt19937_64 random(seed);
  // Keys over a tiny alphabet with '\0' and 0xff so prefixes and bounds collide often.
  const std::string alphabet("a\0b\xff", 4);
  auto random_key = [&] {
    std::string key;
    for (std::size_t i = 0, n = 1 + random() % 4; i < n; ++i)
      key.push_back(alphabet[random() % 4]);
    return key;
  };
  const Column columns[] = {Column::log, Column::dedup, Column::accounts};
  for (int step = 0; step < 2000; ++step) {
    WriteBatch batch;
    for (std::size_t i = 0, n = 1 + random() % 3; i < n; ++i) {
      Column column = columns[random() % 3];
      if (random() % 8 == 0) {
        std::string begin = random_key(), end = random_key();
        if (end < begin) std::swap(begin, end);
        batch.erase_range(column, begin, end);
      } else if (random() % 4 == 0) {
        batch.erase(column, random_key());
      } else {
        batch.put(column, random_key(), std::to_string(step));
      }
    }
    REQUIRE_FALSE(rocks->write(batch, false));
    REQUIRE_FALSE(memory.write(batch, false));
    if (step % 500 == 499) REQUIRE_FALSE(rocks->flush());  // scans must merge tables too
    Column column = columns[random() % 3];
    std::string prefix = random() % 3 == 0 ? std::string() : random_key().substr(0, 2);
    std::string start = random() % 2 == 0 ? std::string() : random_key();
    bool reverse = random() % 2 == 0;
    INFO("step " << step << " reverse " << reverse);
    REQUIRE(rows_of(*rocks, column, prefix, start, reverse) ==
            rows_of(memory, column, prefix, start, reverse));
    std::string key = random_key(), rocks_value, memory_value;
    Error rocks_error = rocks->get(column, key, rocks_value);
    Error memory_error = memory.get(column, key, memory_value);
    REQUIRE(rocks_error.code == memory_error.code);
    if (!rocks_error) REQUIRE(rocks_value == memory_value);
  }
}

// Regression: an empty prefix or start passed as a default-constructed view (null data) once
// reached RocksDB as a null slice, which it asserts against (the dedup prune, ten minutes after
// every start). Every scan shape, with null and non-null empty views, against both stores.
TEST_CASE("rocks kv: every scan shape accepts empty views, null or not", "[store]") {
  TempDir dir;
  auto rocks = open_or_fail(dir.path);
  MemoryKv memory;
  WriteBatch batch;
  for (const char* key : {"a", "b/1", "b/2", "c"})
    batch.put(Column::dedup, key, "v");
  REQUIRE_FALSE(rocks->write(batch, false));
  REQUIRE_FALSE(memory.write(batch, false));
  const std::string empty_string;
  const std::string_view null_view{}, empty_view(empty_string);
  REQUIRE(null_view.data() == nullptr);
  for (std::string_view prefix : {null_view, empty_view, std::string_view("b/")}) {
    for (std::string_view start : {null_view, empty_view, std::string_view("b/2")}) {
      for (bool reverse : {false, true}) {
        INFO("prefix '" << prefix << "' start '" << start << "' reverse " << reverse);
        Rows expected = rows_of(memory, Column::dedup, prefix, start, reverse);
        CHECK(rows_of(*rocks, Column::dedup, prefix, start, reverse) == expected);
        CHECK_FALSE(expected.empty());
      }
    }
  }
}

TEST_CASE("rocks kv: a snapshot reads the store as it was, whatever is written after", "[store]") {
  TempDir dir;
  auto rocks = open_or_fail(dir.path);
  MemoryKv memory;
  for (Kv* kv : std::initializer_list<Kv*>{rocks.get(), &memory}) {
    WriteBatch batch;
    batch.put(Column::raft_state, "p1/a", "old");
    batch.put(Column::log, "p1/x", "1");
    batch.put(Column::log, "p1/y", "2");
    REQUIRE_FALSE(kv->write(batch, false));
    auto view = kv->snapshot();
    WriteBatch later;
    later.put(Column::raft_state, "p1/a", "new");
    later.erase_range(Column::log, "p1/", "p10");
    later.put(Column::log, "p1/z", "3");
    REQUIRE_FALSE(kv->write(later, false));

    std::string value;
    REQUIRE_FALSE(view->get(Column::raft_state, "p1/a", value));
    CHECK(value == "old");
    Rows seen;
    REQUIRE_FALSE(view->scan(Column::log, "p1/", {}, false, [&](auto key, auto v) {
      seen.emplace_back(key, v);
      return true;
    }));
    CHECK(seen == Rows{{"p1/x", "1"}, {"p1/y", "2"}});
    CHECK(rows_of(*kv, Column::log, "p1/", {}, false) == Rows{{"p1/z", "3"}});
    REQUIRE_FALSE(kv->get(Column::raft_state, "p1/a", value));
    CHECK(value == "new");
  }
}
