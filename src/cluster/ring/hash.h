#pragma once
// SipHash-2-4: a fast keyed 64-bit hash. Keyed, so a client cannot choose user ids that all
// land on one node unless it knows the cluster's ring seed.
#include <cstdint>
#include <string_view>

namespace qim::cluster {

struct HashKey {
  std::uint64_t k0 = 0x736f6d6570736575ull;
  std::uint64_t k1 = 0x646f72616e646f6dull;
};

std::uint64_t siphash24(const HashKey& key, std::string_view data) noexcept;

}  // namespace qim::cluster
