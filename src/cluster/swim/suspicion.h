#pragma once
// A suspicion timer that shrinks with independent confirmations (Lifeguard, memberlist's
// suspicion.go): it starts at max_timeout_ms and moves logarithmically toward min_timeout_ms as
// up to `expected_confirmations` distinct members also report the suspect.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qim::cluster::swim {

class Suspicion {
 public:
  // REQUIRES: 0 < min_timeout_ms <= max_timeout_ms, expected_confirmations >= 0.
  // `from_name` (the first accuser) never counts as a confirmation.
  Suspicion(std::string_view from_name, int expected_confirmations, std::int64_t min_timeout_ms,
            std::int64_t max_timeout_ms, std::int64_t start_ms);

  // Records an accusation from from_name. Returns true if it is a new independent confirmation
  // (the caller then re-gossips it); false for duplicates or once k confirmations are in.
  bool confirm(std::string_view from_name);

  std::int64_t deadline_ms() const { return deadline_ms_; }
  int confirmations() const { return confirmations_; }

  // Timeout after n of k confirmations, before subtracting elapsed time.
  static std::int64_t timeout_ms(int confirmations, int expected_confirmations,
                                 std::int64_t min_timeout_ms, std::int64_t max_timeout_ms);

  // The minimum timeout for a cluster of member_count members.
  static std::int64_t min_timeout_ms(int suspicion_multiplier, std::size_t member_count,
                                     std::int64_t probe_interval_ms);

 private:
  int expected_confirmations_;
  std::int64_t min_timeout_ms_;
  std::int64_t max_timeout_ms_;
  std::int64_t start_ms_;
  std::int64_t deadline_ms_;
  int confirmations_ = 0;
  // Bounded by expected_confirmations + 1.
  std::vector<std::string> accusers_;
};

}  // namespace qim::cluster::swim
