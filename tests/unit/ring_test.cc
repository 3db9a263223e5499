#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>

#include "cluster/ring/ring.h"

using namespace qim::cluster;

namespace {

constexpr std::size_t key_count = 1'000'000;

std::vector<std::string> member_names(std::size_t count) {
  std::vector<std::string> names;
  for (std::size_t i = 1; i <= count; ++i)
    names.push_back("qim-" + std::to_string(i));
  return names;
}

std::vector<std::string> random_keys(std::uint64_t seed) {
  std::mt19937_64 random(seed);
  std::vector<std::string> keys;
  keys.reserve(key_count);
  for (std::size_t i = 0; i < key_count; ++i)
    keys.push_back("user-" + std::to_string(random()));
  return keys;
}

std::vector<std::size_t> owners(const Ring& ring, const std::vector<std::string>& keys) {
  std::vector<std::size_t> result;
  result.reserve(keys.size());
  for (const auto& key : keys)
    result.push_back(ring.owner_index(key));
  return result;
}

}  // namespace

TEST_CASE("ring: siphash-2-4 matches the reference vector", "[ring]") {
  HashKey key{0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
  std::string message;
  for (int i = 0; i < 15; ++i)
    message.push_back(static_cast<char>(i));
  CHECK(siphash24(key, message) == 0xa129ca6149be45e5ull);
  CHECK(siphash24(key, "") == 0x726fdb47dd0e0e31ull);
}

TEST_CASE("ring: with 10 members the most loaded holds at most 1.15x the mean", "[ring]") {
  auto names = member_names(10);
  Ring ring(names);
  auto keys = random_keys(1);
  std::vector<std::size_t> counts(names.size(), 0);
  for (std::size_t owner : owners(ring, keys))
    ++counts[owner];
  double mean = static_cast<double>(key_count) / static_cast<double>(names.size());
  double most = static_cast<double>(*std::max_element(counts.begin(), counts.end()));
  double least = static_cast<double>(*std::min_element(counts.begin(), counts.end()));
  WARN("10 members, 128 vnodes: max/mean " << most / mean << ", min/mean " << least / mean);
  CHECK(most / mean <= 1.15);

  // The analytic shares agree with the sampled ones.
  auto shares = ring.shares();
  double total = 0;
  for (std::size_t i = 0; i < shares.size(); ++i) {
    total += shares[i];
    CHECK(std::abs(shares[i] - counts[i] / static_cast<double>(key_count)) < 0.005);
  }
  CHECK(std::abs(total - 1.0) < 1e-9);
}

TEST_CASE("ring: an 11th member takes about 1/11 of the keys, all from the others", "[ring]") {
  auto names = member_names(10);
  Ring before(names);
  names.push_back("qim-11");
  Ring after(names);
  auto keys = random_keys(2);
  auto old_owners = owners(before, keys);
  std::size_t moved = 0;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const std::string& old_owner = before.members()[old_owners[i]];
    const std::string& new_owner = after.owner(keys[i]);
    if (old_owner != new_owner) {
      ++moved;
      REQUIRE(new_owner == "qim-11");
    }
  }
  double ideal = static_cast<double>(key_count) / 11.0;
  WARN("adding an 11th member moved " << moved / ideal << "x the ideal 1/11");
  CHECK(static_cast<double>(moved) <= 1.3 * ideal);
  CHECK(moved > 0);
}

TEST_CASE("ring: removing a member moves only that member's keys", "[ring]") {
  auto names = member_names(10);
  Ring before(names);
  names.erase(names.begin() + 3);  // qim-4
  Ring after(names);
  auto keys = random_keys(3);
  for (const auto& key : keys) {
    const std::string& old_owner = before.owner(key);
    if (old_owner != "qim-4") REQUIRE(after.owner(key) == old_owner);
    REQUIRE(after.owner(key) != "qim-4");
  }
}

TEST_CASE("ring: replicas are distinct and start with the owner", "[ring]") {
  auto names = member_names(5);
  Ring ring(names);
  std::vector<std::size_t> replicas;
  for (int i = 0; i < 1000; ++i) {
    std::string key = "conv-" + std::to_string(i);
    ring.replicas(key, 3, replicas);
    REQUIRE(replicas.size() == 3);
    CHECK(replicas[0] == ring.owner_index(key));
    CHECK(replicas[0] != replicas[1]);
    CHECK(replicas[1] != replicas[2]);
    CHECK(replicas[0] != replicas[2]);
  }
  ring.replicas("x", 9, replicas);
  CHECK(replicas.size() == 5);
  Ring empty;
  empty.replicas("x", 3, replicas);
  CHECK(replicas.empty());
}

TEST_CASE("ring: diff names exactly the ranges whose owner changed", "[ring]") {
  auto names = member_names(6);
  Ring before(names);
  names.push_back("qim-7");
  names.erase(names.begin());  // qim-1 leaves, qim-7 joins
  Ring after(names);
  auto moves = Ring::diff(before, after);
  REQUIRE_FALSE(moves.empty());
  auto in_move = [&](std::uint64_t position) -> const Ring::Move* {
    for (const auto& move : moves) {
      bool inside = move.begin < move.end ? (position > move.begin && position <= move.end)
                                          : (position > move.begin || position <= move.end);
      if (inside) return &move;
    }
    return nullptr;
  };
  std::mt19937_64 random(4);
  for (int i = 0; i < 200'000; ++i) {
    std::string key = "k" + std::to_string(random());
    std::uint64_t position = before.position(key);
    const std::string& from = before.owner(key);
    const std::string& to = after.owner(key);
    const Ring::Move* move = in_move(position);
    if (from == to) {
      REQUIRE(move == nullptr);
    } else {
      REQUIRE(move != nullptr);
      CHECK(move->from == from);
      CHECK(move->to == to);
    }
  }
  CHECK(Ring::diff(before, before).empty());
}
