#include "service/accounts.h"

#include <algorithm>

#include "auth/password.h"
#include "qim/ids.h"

namespace qim::service {
namespace {

Error internal(std::string message) {
  return Error{errc::internal, std::move(message)};
}

std::span<const std::uint8_t> bytes_of(const auth::TokenDigest& digest) {
  return {digest.data(), digest.size()};
}

// The index of the token with `digest`, or -1. Compares every entry in constant time.
int find_token(const AccountRecord& account, std::span<const std::uint8_t> digest) {
  int found = -1;
  for (std::size_t i = 0; i < account.tokens.size(); ++i) {
    if (auth::digest_equal(bytes_of(account.tokens[i].digest), digest)) {
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

void touch(AccountRecord& account, std::uint64_t now_ms) {
  account.hlc = std::max(account.hlc + 1, now_ms);
}

}  // namespace

Accounts::Accounts(store::Kv& kv, const Keys& keys, Proposer& proposer, const core::Clock& clock,
                   const Options& options)
    : kv_(kv),
      keys_(keys),
      proposer_(proposer),
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
  Error error = kv_.get(store::Column::accounts, keys_.account(user), value);
  if (error.code == errc::not_found) return Error{errc::not_found, "user: no such user"};
  if (error) return internal("reading the account failed: " + error.message);
  if (!decode(value, record)) return internal("the account record is corrupted");
  return {};
}

Error Accounts::exists(std::string_view user) {
  std::string value;
  Error error = kv_.get(store::Column::accounts, keys_.account(user), value);
  if (error.code == errc::not_found) return Error{errc::not_found, "user: no such user"};
  if (error) return internal("reading the account failed: " + error.message);
  return {};
}

Error Accounts::require_readable_account(std::string_view user) const {
  return require_readable(proposer_, keys_.partition_of(user), "this account");
}

Command Accounts::command_for(CommandKind kind, std::string_view user) const {
  Command command;
  command.kind = kind;
  command.time_ms = static_cast<std::uint64_t>(clock_.wall_ms());
  command.user = user;
  return command;
}

void Accounts::propose_for(std::string_view user, const Command& command, Done done) {
  propose(proposer_, keys_.partition_of(user), command, std::move(done));
}

void Accounts::register_account(std::string_view user, std::string_view password, Done done) {
  if (Error error = validate_registration(user, password)) return done(std::move(error));
  if (Error error = require_readable_account(user)) return done(std::move(error));
  // Checked before hashing so a taken name costs no hash; apply checks again.
  Error found = exists(user);
  if (!found) return done(Error{errc::already_exists, "user: already taken"});
  if (found.code != errc::not_found) return done(std::move(found));
  auto hash = auth::hash_password(password, options_.password_cost);
  if (!hash) return done(internal("hashing the password failed (out of memory)"));
  Command command = command_for(CommandKind::register_account, user);
  command.new_hash = *hash;
  propose_for(user, command, std::move(done));
}

void Accounts::login(const LoginRequest& request, ResultDone<LoginSuccess> done) {
  using R = Result<LoginSuccess>;
  if (Error error = validate_login(request)) return done(R::failure(std::move(error)));
  if (Error error = require_readable_account(request.user)) {
    return done(R::failure(std::move(error)));
  }
  std::int64_t now_monotonic_ms = clock_.monotonic_ms();
  if (!limiter_.allowed(request.user, request.remote_host, now_monotonic_ms)) {
    return done(R::failure(errc::rate_limited, "user: too many failed logins; retry later"));
  }
  auto fail = [&](std::string message) {
    limiter_.record_failure(request.user, request.remote_host, now_monotonic_ms);
    done(R::failure(errc::auth_failed, std::move(message)));
  };

  AccountRecord account;
  Error error = read(request.user, account);
  if (error.code == errc::not_found) return fail("user/password: wrong user or password");
  if (error) return done(R::failure(std::move(error)));

  LoginSuccess success;
  success.grant.user.assign(request.user);
  success.grant.device.assign(request.device);
  std::uint64_t now_ms = static_cast<std::uint64_t>(clock_.wall_ms());
  Command command;
  if (!request.password.empty()) {
    if (!auth::verify_password(account.password_hash, request.password)) {
      return fail("user/password: wrong user or password");
    }
    if (account.disabled) {
      return done(R::failure(errc::account_disabled, "user: the account is disabled"));
    }
    // One token per device: apply replaces the device's previous one.
    success.grant.token = auth::new_token();
    success.token_digest = auth::token_digest(success.grant.token);
    command = command_for(CommandKind::add_token, request.user);
    command.device = request.device;
    command.digest = bytes_of(success.token_digest);
    command.verified_hash = account.password_hash;
    command.max_tokens = options_.max_tokens_per_user;
  } else {
    success.token_digest = auth::token_digest(request.token);
    int index = find_token(account, bytes_of(success.token_digest));
    if (index < 0) return fail("token: unknown or revoked");
    if (account.disabled) {
      return done(R::failure(errc::account_disabled, "user: the account is disabled"));
    }
    success.grant.token.assign(request.token);
    std::uint64_t last_used_ms = account.tokens[static_cast<std::size_t>(index)].last_used_ms;
    if (now_ms >= last_used_ms && now_ms - last_used_ms < token_touch_interval_ms) {
      return done(R::success(std::move(success)));
    }
    command = command_for(CommandKind::touch_token, request.user);
    command.device = request.device;
    command.digest = bytes_of(success.token_digest);
  }
  command.time_ms = now_ms;
  propose(proposer_, keys_.partition_of(request.user), command,
          [success = std::move(success), done = std::move(done)](Error applied) mutable {
            if (applied) return done(R::failure(std::move(applied)));
            done(R::success(std::move(success)));
          });
}

void Accounts::revoke_token(std::string_view user, const auth::TokenDigest& digest, Done done) {
  Command command = command_for(CommandKind::revoke_token, user);
  command.digest = bytes_of(digest);
  propose_for(user, command, std::move(done));
}

void Accounts::revoke_all_tokens(std::string_view user, Done done) {
  propose_for(user, command_for(CommandKind::revoke_all_tokens, user), std::move(done));
}

void Accounts::change_password(std::string_view user, std::string_view old_password,
                               std::string_view new_password, const auth::TokenDigest& keep,
                               std::string_view remote_host, Done done) {
  if (old_password.empty() || old_password.size() > max_password_bytes) {
    return done(Error{errc::invalid_argument, "old_password: must be 1 to 128 bytes"});
  }
  if (Error error = validate_new_password(new_password, "new_password")) {
    return done(std::move(error));
  }
  if (Error error = require_readable_account(user)) return done(std::move(error));
  std::int64_t now_monotonic_ms = clock_.monotonic_ms();
  if (!limiter_.allowed(user, remote_host, now_monotonic_ms)) {
    return done(Error{errc::rate_limited, "old_password: too many failed attempts; retry later"});
  }
  AccountRecord account;
  if (Error error = read(user, account)) return done(std::move(error));
  if (!auth::verify_password(account.password_hash, old_password)) {
    limiter_.record_failure(user, remote_host, now_monotonic_ms);
    return done(Error{errc::auth_failed, "old_password: wrong password"});
  }
  auto hash = auth::hash_password(new_password, options_.password_cost);
  if (!hash) return done(internal("hashing the password failed (out of memory)"));
  Command command = command_for(CommandKind::change_password, user);
  command.verified_hash = account.password_hash;
  command.new_hash = *hash;
  command.keep = bytes_of(keep);
  propose_for(user, command, std::move(done));
}

void Accounts::reset_password(std::string_view user, std::string_view password, Done done) {
  if (Error error = validate_registration(user, password)) return done(std::move(error));
  if (Error error = require_readable_account(user)) return done(std::move(error));
  if (Error error = exists(user)) return done(std::move(error));
  auto hash = auth::hash_password(password, options_.password_cost);
  if (!hash) return done(internal("hashing the password failed (out of memory)"));
  Command command = command_for(CommandKind::reset_password, user);
  command.new_hash = *hash;
  propose_for(user, command, std::move(done));
}

void Accounts::set_disabled(std::string_view user, bool disabled, Done done) {
  Command command = command_for(CommandKind::set_disabled, user);
  command.disabled = disabled;
  propose_for(user, command, std::move(done));
}

Error Accounts::apply(const ApplyContext& context) {
  const Command& command = context.command;
  if (keys_.partition_of(command.user) != context.partition) {
    return Error{errc::malformed, "command: the account is not in this partition"};
  }
  std::string key = keys_.account(command.user);
  if (command.kind == CommandKind::register_account) {
    Error found = exists(command.user);
    if (!found) return Error{errc::already_exists, "user: already taken"};
    if (found.code != errc::not_found) return found;
    AccountRecord record;
    record.password_hash.assign(command.new_hash);
    record.created_ms = command.time_ms;
    record.hlc = command.time_ms;
    context.batch.put(store::Column::accounts, key, encode(record));
    return {};
  }
  AccountRecord account;
  if (Error error = read(command.user, account)) return error;
  switch (command.kind) {
    case CommandKind::add_token: {
      if (account.password_hash != command.verified_hash) {
        return Error{errc::auth_failed, "user/password: the password changed meanwhile"};
      }
      if (account.disabled) return Error{errc::account_disabled, "user: the account is disabled"};
      std::erase_if(account.tokens,
                    [&](const TokenEntry& token) { return token.device == command.device; });
      while (!account.tokens.empty() && account.tokens.size() >= command.max_tokens) {
        auto least_recent = std::min_element(account.tokens.begin(), account.tokens.end(),
                                             [](const TokenEntry& a, const TokenEntry& b) {
                                               return a.last_used_ms < b.last_used_ms;
                                             });
        account.tokens.erase(least_recent);
      }
      TokenEntry& entry = account.tokens.emplace_back();
      std::copy(command.digest.begin(), command.digest.end(), entry.digest.begin());
      entry.device.assign(command.device);
      entry.created_ms = command.time_ms;
      entry.last_used_ms = command.time_ms;
      break;
    }
    case CommandKind::touch_token: {
      int index = find_token(account, command.digest);
      if (index < 0) return Error{errc::auth_failed, "token: unknown or revoked"};
      if (account.disabled) return Error{errc::account_disabled, "user: the account is disabled"};
      account.tokens[static_cast<std::size_t>(index)].last_used_ms = command.time_ms;
      break;
    }
    case CommandKind::revoke_token: {
      int index = find_token(account, command.digest);
      if (index < 0) return {};
      account.tokens.erase(account.tokens.begin() + index);
      break;
    }
    case CommandKind::revoke_all_tokens:
      if (account.tokens.empty()) return {};
      account.tokens.clear();
      break;
    case CommandKind::change_password:
      if (account.password_hash != command.verified_hash) {
        return Error{errc::auth_failed, "old_password: the password changed meanwhile"};
      }
      account.password_hash.assign(command.new_hash);
      std::erase_if(account.tokens, [&](const TokenEntry& token) {
        return command.keep.empty() || !auth::digest_equal(bytes_of(token.digest), command.keep);
      });
      break;
    case CommandKind::reset_password:
      account.password_hash.assign(command.new_hash);
      account.tokens.clear();
      break;
    case CommandKind::set_disabled:
      account.disabled = command.disabled;
      break;
    default:
      return Error{errc::malformed, "command: not an account command"};
  }
  touch(account, command.time_ms);
  context.batch.put(store::Column::accounts, key, encode(account));
  return {};
}

}  // namespace qim::service
