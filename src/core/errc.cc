#include "qim/errc.h"

namespace qim {
namespace {

class QimCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "qim"; }
  std::string message(int value) const override { return errc_name(static_cast<errc>(value)); }
};

}  // namespace

const std::error_category& qim_category() noexcept {
  static const QimCategory category;
  return category;
}

const char* errc_name(errc e) noexcept {
  switch (e) {
    case errc::ok:
      return "ok";
    case errc::malformed:
      return "malformed";
    case errc::frame_too_large:
      return "frame_too_large";
    case errc::unsupported_version:
      return "unsupported_version";
    case errc::hello_required:
      return "hello_required";
    case errc::unexpected_message:
      return "unexpected_message";
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::not_authenticated:
      return "not_authenticated";
    case errc::already_authenticated:
      return "already_authenticated";
    case errc::auth_failed:
      return "auth_failed";
    case errc::account_disabled:
      return "account_disabled";
    case errc::rate_limited:
      return "rate_limited";
    case errc::not_found:
      return "not_found";
    case errc::already_exists:
      return "already_exists";
    case errc::forbidden:
      return "forbidden";
    case errc::not_friends:
      return "not_friends";
    case errc::not_member:
      return "not_member";
    case errc::limit_exceeded:
      return "limit_exceeded";
    case errc::unavailable:
      return "unavailable";
    case errc::internal:
      return "internal";
    case errc::idle_timeout:
      return "idle_timeout";
    case errc::slow_consumer:
      return "slow_consumer";
    case errc::kicked:
      return "kicked";
    case errc::shutting_down:
      return "shutting_down";
    case errc::too_many_connections:
      return "too_many_connections";
    case errc::wrong_node:
      return "wrong_node";
  }
  return "unknown";
}

}  // namespace qim
