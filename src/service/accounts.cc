#include "service/accounts.h"

#include <algorithm>

#include "auth/password.h"
#include "qim/ids.h"
#include "service/keys.h"

namespace qim::service {
namespace {

Error internal(std::string message) {
  return Error{errc::internal, std::move(message)};
}

std::span<const std::uint8_t> bytes_of(const auth::TokenDigest& digest) {
  return {digest.data(), digest.size()};
}

// The index of the token with `digest`, or -1. Compares every entry in constant time.
int find_token(const AccountRecord& account, const auth::TokenDigest& digest) {
  int found = -1;
  for (std::size_t i = 0; i < account.tokens.size(); ++i) {
    if (auth::digest_equal(bytes_of(account.tokens[i].digest), bytes_of(digest))) {
      found = static_cast<int>(i);
    }
  }
  return found;
}

Error validate_new_password(std::string_view password, std::string_view field) {
  if (password.size() < min_password_bytes || password.size() > max_password_bytes) {
    return Error{errc::invalid_argument, std::string(field) + ": must be 8 to 128 bytes"};
  }
  return {};
}

}  // namespace

Accounts::Accounts(store::Kv& kv, const core::Clock& clock, const Options& options)
    : kv_(kv),
      clock_(clock),
      options_(options),
      limiter_(options.login_failures_per_minute_per_user,
               options.login_failures_per_minute_per_address) {}

Error Accounts::validate_registration(std::string_view user, std::string_view password) {
  if (!is_valid_id(user)) {
    return Error{errc::invalid_argument, "user: must be 1-32 characters from [a-z0-9_.-]"};
  }
  return validate_new_password(password, "password");
}

Error Accounts::validate_login(const LoginRequest& request) {
  if (!is_valid_id(request.user)) {
    return Error{errc::invalid_argument, "user: must be 1-32 characters from [a-z0-9_.-]"};
  }
  if (!is_valid_device(request.device)) {
    return Error{errc::invalid_argument,
                 "device: must be 1-64 printable characters without spaces or ':'"};
  }
  if (request.password.empty() == request.token.empty()) {
    return Error{errc::invalid_argument, "password/token: give exactly one"};
  }
  if (request.password.size() > max_password_bytes) {
    return Error{errc::invalid_argument, "password: longer than 128 bytes"};
  }
  if (!request.token.empty() && request.token.size() != auth::token_length) {
    return Error{errc::auth_failed, "token: unknown or revoked"};
  }
  return {};
}

Error Accounts::read(std::string_view user, AccountRecord& record) {
  std::string value;
  Error error = kv_.get(store::Column::accounts, keys::account(user), value);
  if (error.code == errc::not_found) return Error{errc::not_found, "user: no such user"};
  if (error) return internal("reading the account failed: " + error.message);
  if (!decode(value, record)) return internal("the account record is corrupted");
  return {};
}

Error Accounts::exists(std::string_view user) {
  std::string value;
  Error error = kv_.get(store::Column::accounts, keys::account(user), value);
  if (error.code == errc::not_found) return Error{errc::not_found, "user: no such user"};
  if (error) return internal("reading the account failed: " + error.message);
  return {};
}

Error Accounts::write(std::string_view user, const AccountRecord& record) {
  store::WriteBatch batch;
  batch.put(store::Column::accounts, keys::account(user), encode(record));
  Error error = kv_.write(batch, sync_writes());
  if (error) return internal("storing the account failed: " + error.message);
  return {};
}

Error Accounts::register_account(std::string_view user, std::string_view password) {
  if (Error error = validate_registration(user, password)) return error;
  // Checked before hashing so a taken name costs no hash; checked again under the stripe.
  Error found = exists(user);
  if (!found) return Error{errc::already_exists, "user: already taken"};
  if (found.code != errc::not_found) return found;
  auto hash = auth::hash_password(password, options_.password_cost);
  if (!hash) return internal("hashing the password failed (out of memory)");
  std::lock_guard lock(locks_.mutex_for(user));
  found = exists(user);
  if (!found) return Error{errc::already_exists, "user: already taken"};
  if (found.code != errc::not_found) return found;
  AccountRecord record;
  record.password_hash = std::move(*hash);
  record.created_ms = static_cast<std::uint64_t>(clock_.wall_ms());
  record.hlc = record.created_ms;
  return write(user, record);
}

Result<LoginSuccess> Accounts::login(const LoginRequest& request) {
  using R = Result<LoginSuccess>;
  if (Error error = validate_login(request)) return R::failure(std::move(error));
  std::int64_t now_monotonic_ms = clock_.monotonic_ms();
  if (!limiter_.allowed(request.user, request.remote_host, now_monotonic_ms)) {
    return R::failure(errc::rate_limited, "user: too many failed logins; retry later");
  }
  auto fail = [&](std::string message) {
    limiter_.record_failure(request.user, request.remote_host, now_monotonic_ms);
    return R::failure(errc::auth_failed, std::move(message));
  };

  AccountRecord account;
  Error error = read(request.user, account);
  if (error.code == errc::not_found) return fail("user/password: wrong user or password");
  if (error) return R::failure(std::move(error));

  bool password_login = !request.password.empty();
  auth::TokenDigest digest{};
  if (password_login) {
    if (!auth::verify_password(account.password_hash, request.password)) {
      return fail("user/password: wrong user or password");
    }
  } else {
    digest = auth::token_digest(request.token);
    if (find_token(account, digest) < 0) return fail("token: unknown or revoked");
  }
  if (account.disabled) return R::failure(errc::account_disabled, "user: the account is disabled");

  LoginSuccess success;
  success.grant.user.assign(request.user);
  success.grant.device.assign(request.device);
  std::uint64_t now_ms = static_cast<std::uint64_t>(clock_.wall_ms());

  std::lock_guard lock(locks_.mutex_for(request.user));
  // Re-read under the stripe: tokens may have changed since the check above.
  if (Error reread = read(request.user, account)) return R::failure(std::move(reread));
  if (account.disabled) return R::failure(errc::account_disabled, "user: the account is disabled");
  if (password_login) {
    success.grant.token = auth::new_token();
    digest = auth::token_digest(success.grant.token);
    // One token per device: the device's previous token is replaced.
    std::erase_if(account.tokens,
                  [&](const TokenEntry& token) { return token.device == request.device; });
    while (!account.tokens.empty() && account.tokens.size() >= options_.max_tokens_per_user) {
      auto least_recent = std::min_element(
          account.tokens.begin(), account.tokens.end(),
          [](const TokenEntry& a, const TokenEntry& b) { return a.last_used_ms < b.last_used_ms; });
      account.tokens.erase(least_recent);
    }
    TokenEntry& entry = account.tokens.emplace_back();
    entry.digest = digest;
    entry.device.assign(request.device);
    entry.created_ms = now_ms;
    entry.last_used_ms = now_ms;
  } else {
    int index = find_token(account, digest);
    if (index < 0) return fail("token: unknown or revoked");
    account.tokens[static_cast<std::size_t>(index)].last_used_ms = now_ms;
    success.grant.token.assign(request.token);
  }
  account.hlc = std::max(account.hlc + 1, now_ms);
  if (Error write_error = write(request.user, account)) return R::failure(std::move(write_error));
  success.token_digest = digest;
  return R::success(std::move(success));
}

Error Accounts::revoke_token(std::string_view user, const auth::TokenDigest& digest) {
  std::lock_guard lock(locks_.mutex_for(user));
  AccountRecord account;
  if (Error error = read(user, account)) return error;
  int index = find_token(account, digest);
  if (index < 0) return {};
  account.tokens.erase(account.tokens.begin() + index);
  account.hlc = std::max(account.hlc + 1, static_cast<std::uint64_t>(clock_.wall_ms()));
  return write(user, account);
}

Error Accounts::revoke_all_tokens(std::string_view user) {
  std::lock_guard lock(locks_.mutex_for(user));
  AccountRecord account;
  if (Error error = read(user, account)) return error;
  if (account.tokens.empty()) return {};
  account.tokens.clear();
  account.hlc = std::max(account.hlc + 1, static_cast<std::uint64_t>(clock_.wall_ms()));
  return write(user, account);
}

Error Accounts::change_password(std::string_view user, std::string_view old_password,
                                std::string_view new_password, const auth::TokenDigest& keep,
                                std::string_view remote_host) {
  if (old_password.empty() || old_password.size() > max_password_bytes) {
    return Error{errc::invalid_argument, "old_password: must be 1 to 128 bytes"};
  }
  if (Error error = validate_new_password(new_password, "new_password")) return error;
  std::int64_t now_monotonic_ms = clock_.monotonic_ms();
  if (!limiter_.allowed(user, remote_host, now_monotonic_ms)) {
    return Error{errc::rate_limited, "old_password: too many failed attempts; retry later"};
  }
  AccountRecord account;
  if (Error error = read(user, account)) return error;
  if (!auth::verify_password(account.password_hash, old_password)) {
    limiter_.record_failure(user, remote_host, now_monotonic_ms);
    return Error{errc::auth_failed, "old_password: wrong password"};
  }
  auto hash = auth::hash_password(new_password, options_.password_cost);
  if (!hash) return internal("hashing the password failed (out of memory)");

  std::lock_guard lock(locks_.mutex_for(user));
  std::string verified_hash = std::move(account.password_hash);
  if (Error error = read(user, account)) return error;
  if (account.password_hash != verified_hash) {
    return Error{errc::auth_failed, "old_password: the password changed meanwhile"};
  }
  account.password_hash = std::move(*hash);
  std::erase_if(account.tokens, [&](const TokenEntry& token) {
    return !auth::digest_equal(bytes_of(token.digest), bytes_of(keep));
  });
  account.hlc = std::max(account.hlc + 1, static_cast<std::uint64_t>(clock_.wall_ms()));
  return write(user, account);
}

Error Accounts::set_disabled(std::string_view user, bool disabled) {
  std::lock_guard lock(locks_.mutex_for(user));
  AccountRecord account;
  if (Error error = read(user, account)) return error;
  account.disabled = disabled;
  account.hlc = std::max(account.hlc + 1, static_cast<std::uint64_t>(clock_.wall_ms()));
  return write(user, account);
}

}  // namespace qim::service
