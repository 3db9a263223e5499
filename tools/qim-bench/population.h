#pragma once
// Set-up of the simulated users (never measured): registration over a few pooled
// connections, then one logged-in connection per user, following Redirect frames.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <asio.hpp>

#include "qim-bench/bench_connection.h"
#include "qim-bench/options.h"
#include "qim/errc.h"

namespace qim::bench {

// User ids of one shard: "<prefix>.<shard>.<index>" (at most 32 characters).
class UserNames {
 public:
  UserNames(const std::string& prefix, std::uint32_t shard, std::uint32_t count);
  const std::string& operator[](std::uint32_t index) const { return names_[index]; }
  std::uint32_t size() const { return static_cast<std::uint32_t>(names_.size()); }
  std::string group_name() const { return group_; }

 private:
  std::vector<std::string> names_;
  std::string group_;
};

// The server for user `index` (round-robin over --server).
const Endpoint& home_guess(const Options& options, std::uint32_t index);

// Runs task(i) for every i in [0, count), at most `concurrency` at once. Stops starting new
// tasks after the first error, which it returns (with how many tasks failed).
asio::awaitable<Error> for_each_bounded(
    asio::io_context& io, std::uint32_t count, std::uint32_t concurrency,
    const std::function<asio::awaitable<Error>(std::uint32_t index, std::uint32_t worker)>& task);

// Registers every user (AlreadyExists counts as success) over `concurrency` connections.
asio::awaitable<Error> register_users(asio::io_context& io, const Options& options,
                                      const UserNames& names);

// Logs `connection` in as `user` with a password or a token (following up to max_redirects
// Redirects by reopening the connection there). Fills `token` from LoginOk when non-null.
// REQUIRES: `connection` is open (HelloOk received).
asio::awaitable<Error> login(BenchConnection& connection, const Options& options,
                             const std::string& user, const std::string& secret, bool with_token,
                             std::string* token);

// Opens one connection per user (to home_guess) and logs it in with the password.
asio::awaitable<Error> connect_users(asio::io_context& io, const Options& options,
                                     const UserNames& names,
                                     std::vector<std::unique_ptr<BenchConnection>>& connections);

// Sends one request built by `build` and waits for its reply, which must be Ok.
asio::awaitable<Error> call_ok(
    BenchConnection& connection, const Options& options,
    const std::function<std::span<const std::uint8_t>(proto::FrameBuilder&, std::uint32_t)>& build);

}  // namespace qim::bench
