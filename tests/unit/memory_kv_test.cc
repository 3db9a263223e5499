#include <catch2/catch.hpp>

#include "store/memory_kv.h"

using namespace qim;
using namespace qim::store;

namespace {
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

TEST_CASE("memory kv: scans honour prefix, start and direction", "[store]") {
  MemoryKv kv;
  WriteBatch batch;
  for (const char* key : {"a", "b/1", "b/2", "b/3", "c"})
    batch.put(Column::log, key, "v");
  REQUIRE_FALSE(kv.write(batch, false));

  CHECK(keys_of(kv, "b/", "", false) == std::vector<std::string>{"b/1", "b/2", "b/3"});
  CHECK(keys_of(kv, "b/", "b/2", false) == std::vector<std::string>{"b/2", "b/3"});
  CHECK(keys_of(kv, "b/", "", true) == std::vector<std::string>{"b/3", "b/2", "b/1"});
  CHECK(keys_of(kv, "b/", "b/3", true) == std::vector<std::string>{"b/2", "b/1"});
  CHECK(keys_of(kv, "d", "", true).empty());
}

TEST_CASE("memory kv: a batch applies puts and erases together", "[store]") {
  MemoryKv kv;
  WriteBatch batch;
  batch.put(Column::accounts, "alice", "1");
  batch.put(Column::accounts, "bob", "2");
  REQUIRE_FALSE(kv.write(batch, false));
  batch.clear();
  batch.erase(Column::accounts, "alice");
  batch.put(Column::accounts, "bob", "3");
  REQUIRE_FALSE(kv.write(batch, true));
  std::string value;
  CHECK(kv.get(Column::accounts, "alice", value).code == errc::not_found);
  REQUIRE_FALSE(kv.get(Column::accounts, "bob", value));
  CHECK(value == "3");
  CHECK(kv.get(Column::friends, "bob", value).code == errc::not_found);
}
