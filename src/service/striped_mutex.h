#pragma once
// A fixed set of mutexes picked by key hash: per-key mutual exclusion without a global lock
// and without a map that grows with the number of keys. Two keys may share a stripe; that
// only costs concurrency, never correctness.
#include <array>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string_view>

namespace qim::service {

template <std::size_t stripe_count>
class StripedMutex {
 public:
  std::size_t index_of(std::string_view key) const {
    return std::hash<std::string_view>{}(key) % stripe_count;
  }
  std::mutex& mutex_for(std::string_view key) { return mutexes_[index_of(key)]; }

  // Holds the stripes of two keys, taken in index order so two holders cannot deadlock.
  class PairLock {
   public:
    PairLock(StripedMutex& striped, std::string_view a, std::string_view b) {
      std::size_t first = striped.index_of(a), second = striped.index_of(b);
      if (second < first) std::swap(first, second);
      first_ = std::unique_lock(striped.mutexes_[first]);
      if (second != first) second_ = std::unique_lock(striped.mutexes_[second]);
    }

   private:
    std::unique_lock<std::mutex> first_;
    std::unique_lock<std::mutex> second_;
  };

 private:
  std::array<std::mutex, stripe_count> mutexes_;
};

}  // namespace qim::service
