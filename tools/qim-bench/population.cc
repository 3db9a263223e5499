#include "qim-bench/population.h"

#include <algorithm>
#include <chrono>

#include <fmt/core.h>

#include "qim-bench/wait_group.h"

namespace qim::bench {
namespace {

constexpr const char* device_name = "bench";

Error error_of(const wire::Envelope& reply, const char* expected) {
  if (const auto* error = reply.body_as_Error()) {
    errc code = proto::from_wire(error->code());
    return Error{code == errc::ok ? errc::internal : code,
                 fmt::format("{}: {}", errc_name(code), proto::view(error->message()))};
  }
  return Error{errc::unexpected_message,
               fmt::format("expected {}, got {}", expected, wire::EnumNameBody(reply.body_type()))};
}

// Reopens `connection` at the Redirect's address. False with `error` when it cannot.
asio::awaitable<bool> follow(BenchConnection& connection, const Options& options,
                             const wire::Redirect& redirect, std::uint32_t& redirects,
                             Error& error) {
  if (redirects >= options.max_redirects) {
    error = Error{errc::unavailable, fmt::format("gave up after {} redirects", redirects)};
    co_return false;
  }
  ++redirects;
  Endpoint target{std::string(proto::view(redirect.host())), redirect.port()};
  error = co_await connection.open(target, options);
  co_return !error;
}

}  // namespace

UserNames::UserNames(const std::string& prefix, std::uint32_t shard, std::uint32_t count)
    : group_(fmt::format("{}.g{}", prefix, shard)) {
  names_.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i)
    names_.push_back(fmt::format("{}.{}.{}", prefix, shard, i));
}

const Endpoint& home_guess(const Options& options, std::uint32_t index) {
  return options.servers[index % options.servers.size()];
}

asio::awaitable<Error> for_each_bounded(
    asio::io_context& io, std::uint32_t count, std::uint32_t concurrency,
    const std::function<asio::awaitable<Error>(std::uint32_t index, std::uint32_t worker)>& task) {
  struct State {
    std::uint32_t next = 0;
    std::uint32_t failed = 0;
    Error first_error;
  } state;
  WaitGroup group(io);
  std::uint32_t workers = std::min(count, concurrency);
  group.add(workers);
  for (std::uint32_t worker = 0; worker < workers; ++worker) {
    asio::co_spawn(
        io,
        [&state, &task, &group, count, worker]() -> asio::awaitable<void> {
          while (state.next < count && state.failed == 0) {
            std::uint32_t index = state.next++;
            Error error = co_await task(index, worker);
            if (error) {
              if (state.failed++ == 0) state.first_error = std::move(error);
            }
          }
          group.done();
        },
        asio::detached);
  }
  co_await group.wait();
  if (state.failed > 0) {
    state.first_error.message =
        fmt::format("{} (and {} more failures)", state.first_error.message, state.failed - 1);
  }
  co_return state.first_error;
}

asio::awaitable<Error> call_ok(
    BenchConnection& connection, const Options& options,
    const std::function<std::span<const std::uint8_t>(proto::FrameBuilder&, std::uint32_t)>&
        build) {
  std::uint32_t req_id = connection.next_req_id();
  auto frame = build(connection.builder(), req_id);
  const wire::Envelope* reply = nullptr;
  if (Error error = co_await connection.call(frame, req_id, options.request_timeout, reply))
    co_return error;
  if (reply->body_type() != wire::Body::Ok) co_return error_of(*reply, "Ok");
  co_return Error{};
}

asio::awaitable<Error> register_users(asio::io_context& io, const Options& options,
                                      const UserNames& names) {
  std::uint32_t pool_size = std::min(options.setup_concurrency, names.size());
  Outbox unused_outbox;
  std::vector<std::unique_ptr<BenchConnection>> pool;
  for (std::uint32_t i = 0; i < pool_size; ++i)
    pool.push_back(std::make_unique<BenchConnection>(io, unused_outbox, i, 4096));
  // Named, not a temporary in the co_await expression (g++ 12 destroys those twice).
  std::function<asio::awaitable<Error>(std::uint32_t, std::uint32_t)> task =
      [&](std::uint32_t index, std::uint32_t worker) -> asio::awaitable<Error> {
    BenchConnection& connection = *pool[worker];
    if (!connection.is_open()) {
      Error open_error = co_await connection.open(home_guess(options, worker), options);
      if (open_error) co_return open_error;
    }
    std::uint32_t redirects = 0;
    // The server's per-address registration limit allows a small burst whatever its rate, and
    // every generated user comes from one address: a refused registration is tried again a
    // little later (as the error asks), within the request timeout.
    const auto retry_until = std::chrono::steady_clock::now() + options.request_timeout;
    auto backoff = std::chrono::milliseconds(2);
    for (;;) {
      std::uint32_t req_id = connection.next_req_id();
      proto::FrameBuilder& builder = connection.builder();
      builder.reset();
      auto& fbb = builder.fbb();
      auto user = fbb.CreateString(names[index]);
      auto password = fbb.CreateString(options.password);
      auto frame = builder.finish(req_id, wire::CreateRegister(fbb, user, password));
      const wire::Envelope* reply = nullptr;
      if (Error call_error =
              co_await connection.call(frame, req_id, options.request_timeout, reply))
        co_return call_error;
      if (reply->body_type() == wire::Body::Ok) co_return Error{};
      if (const auto* error = reply->body_as_Error();
          error != nullptr && error->code() == wire::ErrorCode::AlreadyExists)
        co_return Error{};
      // Unavailable: the account's partition is electing a leader (a cluster just formed
      // moves leaderships while it spreads them); it asks to be retried as well.
      if (const auto* error = reply->body_as_Error();
          error != nullptr &&
          (error->code() == wire::ErrorCode::RateLimited ||
           error->code() == wire::ErrorCode::Unavailable) &&
          std::chrono::steady_clock::now() + backoff < retry_until) {
        asio::steady_timer timer(io, backoff);
        std::error_code ignored;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
        backoff = std::min(backoff * 2, std::chrono::milliseconds(100));
        continue;
      }
      const auto* redirect = reply->body_as_Redirect();
      if (redirect == nullptr) {
        Error failure = error_of(*reply, "Ok");
        failure.message = fmt::format("register {}: {}", names[index], failure.message);
        co_return failure;
      }
      Error follow_error;
      if (!co_await follow(connection, options, *redirect, redirects, follow_error))
        co_return follow_error;
    }
  };
  Error error = co_await for_each_bounded(io, names.size(), pool_size, task);
  for (auto& connection : pool)
    connection->close();
  co_return error;
}

asio::awaitable<Error> login(BenchConnection& connection, const Options& options,
                             const std::string& user, const std::string& secret, bool with_token,
                             std::string* token) {
  std::uint32_t redirects = 0;
  for (;;) {
    std::uint32_t req_id = connection.next_req_id();
    proto::FrameBuilder& builder = connection.builder();
    builder.reset();
    auto& fbb = builder.fbb();
    auto user_offset = fbb.CreateString(user);
    auto secret_offset = fbb.CreateString(secret);
    auto device = fbb.CreateString(device_name);
    auto frame =
        builder.finish(req_id, wire::CreateLogin(fbb, user_offset, with_token ? 0 : secret_offset,
                                                 with_token ? secret_offset : 0, device));
    const wire::Envelope* reply = nullptr;
    if (Error error = co_await connection.call(frame, req_id, options.request_timeout, reply))
      co_return error;
    if (const auto* ok = reply->body_as_LoginOk()) {
      if (token != nullptr) token->assign(proto::view(ok->token()));
      co_return Error{};
    }
    const auto* redirect = reply->body_as_Redirect();
    if (redirect == nullptr) {
      Error failure = error_of(*reply, "LoginOk");
      failure.message = fmt::format("login {}: {}", user, failure.message);
      co_return failure;
    }
    Error follow_error;
    if (!co_await follow(connection, options, *redirect, redirects, follow_error))
      co_return follow_error;
  }
}

asio::awaitable<Error> connect_users(asio::io_context& io, const Options& options,
                                     const UserNames& names,
                                     std::vector<std::unique_ptr<BenchConnection>>& connections) {
  std::function<asio::awaitable<Error>(std::uint32_t, std::uint32_t)> task =
      [&](std::uint32_t index, std::uint32_t) -> asio::awaitable<Error> {
    BenchConnection& connection = *connections[index];
    Error error = co_await connection.open(home_guess(options, index), options);
    if (error) co_return error;
    co_return co_await login(connection, options, names[index], options.password, false, nullptr);
  };
  co_return co_await for_each_bounded(io, names.size(), options.setup_concurrency, task);
}

}  // namespace qim::bench
