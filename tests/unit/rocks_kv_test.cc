#include <catch2/catch.hpp>

#include <filesystem>
#include <random>

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

TEST_CASE("rocks kv: agrees with the in-memory store on random operations", "[store]") {
  TempDir dir;
  auto rocks = open_or_fail(dir.path);
  MemoryKv memory;
  const std::uint64_t seed = GENERATE(1, 2, 3);
  INFO("seed " << seed);
  std::mt19937_64 random(seed);
  // Keys over a tiny alphabet with '\0' and 0xff so prefixes and bounds collide often.
  const std::string alphabet("a\0b\xff", 4);
  auto random_key = [&] {
    std::string key;
    for (std::size_t i = 0, n = 1 + random() % 4; i < n; ++i)
      key.push_back(alphabet[random() % 4]);
    return key;
  };
  for (int step = 0; step < 2000; ++step) {
    WriteBatch batch;
    for (std::size_t i = 0, n = 1 + random() % 3; i < n; ++i) {
      if (random() % 4 == 0) {
        batch.erase(Column::log, random_key());
      } else {
        batch.put(Column::log, random_key(), std::to_string(step));
      }
    }
    REQUIRE_FALSE(rocks->write(batch, false));
    REQUIRE_FALSE(memory.write(batch, false));
    std::string prefix = random() % 3 == 0 ? std::string() : random_key().substr(0, 2);
    std::string start = random() % 2 == 0 ? std::string() : random_key();
    bool reverse = random() % 2 == 0;
    INFO("step " << step << " reverse " << reverse);
    REQUIRE(keys_of(*rocks, prefix, start, reverse) == keys_of(memory, prefix, start, reverse));
  }
}
