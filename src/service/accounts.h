#pragma once
// Accounts: registration, password and token login, token revocation, password changes.
//
// Thread-safety: all methods may be called from any thread. Read-modify-writes of one account
// hold that user's stripe; password hashing and verification run outside it.
// Methods marked BLOCKING hash or verify a password (tens of milliseconds at the production
// cost): call them off the I/O threads (Connection::run_blocking).
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/token.h"
#include "core/clock.h"
#include "service/login_limiter.h"
#include "service/options.h"
#include "service/records.h"
#include "service/striped_mutex.h"
#include "service/types.h"
#include "store/kv.h"

namespace qim::service {

inline constexpr std::size_t min_password_bytes = 8;
inline constexpr std::size_t max_password_bytes = 128;

// A successful login and the digest of its token (kept by the session to revoke it later).
struct LoginSuccess {
  LoginGrant grant;
  auth::TokenDigest token_digest{};
};

class Accounts {
 public:
  Accounts(store::Kv& kv, const core::Clock& clock, const Options& options);

  // The checks Register needs before hashing (cheap; run them on the I/O thread).
  static Error validate_registration(std::string_view user, std::string_view password);
  // The field checks Login needs (cheap).
  static Error validate_login(const LoginRequest& request);

  // BLOCKING. Creates the account; already_exists when the user id is taken.
  Error register_account(std::string_view user, std::string_view password);

  // BLOCKING. Checks the failed-login budgets, the password or token and the account state;
  // a password login issues a new token (replacing this device's previous one, evicting the
  // least recently used beyond max_tokens_per_user), a token login refreshes its last use.
  Result<LoginSuccess> login(const LoginRequest& request);

  // Revokes one token (Logout). Unknown tokens are ignored.
  Error revoke_token(std::string_view user, const auth::TokenDigest& digest);
  // Revokes every token of the user (Logout all_devices).
  Error revoke_all_tokens(std::string_view user);

  // BLOCKING. Verifies old_password, stores the hash of new_password and revokes every token
  // but `keep`. Failures spend the failed-login budget like a wrong login.
  Error change_password(std::string_view user, std::string_view old_password,
                        std::string_view new_password, const auth::TokenDigest& keep,
                        std::string_view remote_host);

  // Administration (qimctl user disable/enable).
  Error set_disabled(std::string_view user, bool disabled);

  // ok, not_found, or internal.
  Error exists(std::string_view user);
  Error read(std::string_view user, AccountRecord& record);

  LoginLimiter& limiter() { return limiter_; }

 private:
  Error write(std::string_view user, const AccountRecord& record);
  bool sync_writes() const { return options_.durability == Durability::fsync; }

  store::Kv& kv_;
  const core::Clock& clock_;
  const Options& options_;
  LoginLimiter limiter_;
  StripedMutex<1024> locks_;  // by user id
};

}  // namespace qim::service
