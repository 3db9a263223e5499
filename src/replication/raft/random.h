#pragma once
// A small deterministic PRNG (xoshiro256** seeded through splitmix64). Each replica owns one,
// seeded from Options; the core draws no entropy of its own.
#include <cstdint>

namespace qim::replication::raft {

class Random {
 public:
  explicit Random(std::uint64_t seed) {
    for (auto& word : state_)
      word = splitmix64(seed);
  }

  std::uint64_t next() {
    const std::uint64_t result = rotate_left(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotate_left(state_[3], 45);
    return result;
  }

  // REQUIRES: bound > 0. Slightly biased for huge bounds; irrelevant at our sizes.
  std::uint64_t below(std::uint64_t bound) { return next() % bound; }

  static std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  static std::uint64_t rotate_left(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  std::uint64_t state_[4];
};

}  // namespace qim::replication::raft
