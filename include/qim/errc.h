#pragma once
// Operating errors as values. The numbering is the wire's ErrorCode (schemas/client.fbs), so a
// code crosses the protocol unchanged; proto/ asserts the two stay in step.
#include <cstdint>
#include <string>
#include <system_error>

namespace qim {

enum class errc : std::uint16_t {
  ok = 0,
  malformed = 1,
  frame_too_large = 2,
  unsupported_version = 3,
  hello_required = 4,
  unexpected_message = 5,
  invalid_argument = 6,
  not_authenticated = 7,
  already_authenticated = 8,
  auth_failed = 9,
  account_disabled = 10,
  rate_limited = 11,
  not_found = 12,
  already_exists = 13,
  forbidden = 14,
  not_friends = 15,
  not_member = 16,
  limit_exceeded = 17,
  unavailable = 18,
  internal = 19,
  idle_timeout = 20,
  slow_consumer = 21,
  kicked = 22,
  shutting_down = 23,
  too_many_connections = 24,
  wrong_node = 25,
};

inline constexpr std::uint16_t errc_max = 25;

const std::error_category& qim_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), qim_category()};
}
// Stable snake_case name ("not_friends"), used in logs and in the client's script output.
const char* errc_name(errc e) noexcept;

// An error with the human-readable message that goes to the peer.
struct Error {
  errc code = errc::ok;
  std::string message;
  explicit operator bool() const noexcept { return code != errc::ok; }
};

}  // namespace qim

template <>
struct std::is_error_code_enum<qim::errc> : std::true_type {};
