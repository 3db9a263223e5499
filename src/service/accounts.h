#pragma once
// Accounts: registration, password and token login, token revocation, password changes.
//
// Every change is a command of the user's partition, carrying what the leader decided: the
// time, a new token's digest, a password's Argon2id hash. The password (or token) is checked at
// the leader before proposing; apply re-checks what may have changed in between (the password
// hash, the token, the disabled flag) against the applied state.
//
// Thread-safety: the proposing and reading methods may be called from any thread; apply() only
// by the partition's apply thread. Methods marked BLOCKING hash or verify a password (tens of
// milliseconds at the production cost): call them off the I/O threads
// (Connection::run_blocking).
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/token.h"
#include "core/clock.h"
#include "service/apply_context.h"
#include "service/keys.h"
#include "service/login_limiter.h"
#include "service/options.h"
#include "service/records.h"
#include "service/replication.h"
#include "service/types.h"
#include "store/kv.h"

namespace qim::service {

inline constexpr std::size_t min_password_bytes = 8;
inline constexpr std::size_t max_password_bytes = 128;
// A token login records its use at most this often (a command each time otherwise).
inline constexpr std::uint64_t token_touch_interval_ms = 3600 * 1000;

// A successful login and the digest of its token (kept by the session to revoke it later).
struct LoginSuccess {
  LoginGrant grant;
  auth::TokenDigest token_digest{};
};

class Accounts {
 public:
  Accounts(store::Kv& kv, const Keys& keys, Proposer& proposer, const core::Clock& clock,
           const Options& options);

  // The checks Register needs before hashing (cheap; run them on the I/O thread).
  static Error validate_registration(std::string_view user, std::string_view password);
  // The field checks Login needs (cheap).
  static Error validate_login(const LoginRequest& request);

  // BLOCKING. Creates the account; already_exists when the user id is taken.
  void register_account(std::string_view user, std::string_view password, Done done);

  // BLOCKING. Checks the failed-login budgets, the password or token and the account state;
  // a password login issues a new token (replacing this device's previous one, evicting the
  // least recently used beyond max_tokens_per_user), a token login records its use (at most
  // once per token_touch_interval_ms).
  void login(const LoginRequest& request, ResultDone<LoginSuccess> done);

  // Revokes one token (Logout). Unknown tokens are ignored.
  void revoke_token(std::string_view user, const auth::TokenDigest& digest, Done done);
  // Revokes every token of the user (Logout all_devices).
  void revoke_all_tokens(std::string_view user, Done done);

  // BLOCKING. Verifies old_password, stores the hash of new_password and revokes every token
  // but `keep`. Failures spend the failed-login budget like a wrong login.
  void change_password(std::string_view user, std::string_view old_password,
                       std::string_view new_password, const auth::TokenDigest& keep,
                       std::string_view remote_host, Done done);
  // BLOCKING. Administration: a new password, every token revoked.
  void reset_password(std::string_view user, std::string_view password, Done done);

  // Administration (qimctl user disable/enable).
  void set_disabled(std::string_view user, bool disabled, Done done);

  // ok, not_found, or internal.
  Error exists(std::string_view user);
  Error read(std::string_view user, AccountRecord& record);

  // Applies the account commands.
  Error apply(const ApplyContext& context);

  LoginLimiter& limiter() { return limiter_; }

 private:
  Command command_for(CommandKind kind, std::string_view user) const;
  void propose_for(std::string_view user, const Command& command, Done done);
  Error require_readable_account(std::string_view user) const;

  store::Kv& kv_;
  const Keys& keys_;
  Proposer& proposer_;
  const core::Clock& clock_;
  const Options& options_;
  LoginLimiter limiter_;
};

}  // namespace qim::service
