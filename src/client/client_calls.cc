// Client::Impl's requests: one call under its retry rule, waiting for a session while one is
// being resumed, and backing off after Unavailable answers, all within the call's deadline.
#include "client/client_impl.h"

namespace qim {

using client::AsyncConnection;

namespace {

std::int64_t milliseconds_until(std::chrono::steady_clock::time_point deadline) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                               std::chrono::steady_clock::now())
      .count();
}

}  // namespace

asio::awaitable<void> Client::Impl::sleep(std::chrono::milliseconds delay) {
  if (stopping_) co_return;
  (void)co_await shutdown_.wait_until(deadline_after(delay));
}

std::chrono::milliseconds Client::Impl::jittered(std::chrono::milliseconds delay) {
  // Over the upper half, so that clients dropped at once spread out.
  std::uniform_int_distribution<std::int64_t> jitter(delay.count() / 2, delay.count());
  return std::chrono::milliseconds(jitter(random_));
}

std::chrono::milliseconds Client::Impl::retry_backoff(std::uint32_t attempt) {
  auto delay = options_.retry_backoff_initial;
  for (std::uint32_t i = 0; i < attempt && delay < options_.retry_backoff_max; ++i)
    delay *= 2;
  return jittered(std::min(delay, options_.retry_backoff_max));
}

asio::awaitable<Result<std::shared_ptr<AsyncConnection>>> Client::Impl::session_connection(
    TimePoint deadline) {
  for (;;) {
    if (stopping_) co_return Error{errc::shutting_down, "the client is closing"};
    if (logged_in_ && connection_ && connection_->is_open()) co_return connection_;
    bool resuming = reconnecting_ || logins_in_progress_ > 0;
    if (!resuming) {
      if (!connection_ || !connection_->is_open()) {
        co_return Error{errc::unavailable, "not connected: connect and log in first"};
      }
      co_return Error{errc::not_authenticated, "not logged in: log in first"};
    }
    bool woken = co_await session_changed_.wait_until(deadline);
    if (!woken) {
      co_return Error{errc::unavailable,
                      fmt::format("timed out after {} ms waiting for the session "
                                  "to the server to come back",
                                  options_.request_timeout.count())};
    }
  }
}

asio::awaitable<Result<Client::Impl::Frame>> Client::Impl::call(const FrameWriter& writer,
                                                                Retry retry, TimePoint deadline,
                                                                bool* answered) {
  std::uint32_t answers_to_retry = 0;
  for (;;) {
    std::shared_ptr<AsyncConnection> connection;
    if (retry == Retry::connection) {
      connection = connection_;
      if (!connection || !connection->is_open()) {
        co_return Error{errc::unavailable, "not connected"};
      }
    } else {
      auto ready = co_await session_connection(deadline);
      if (!ready) co_return ready.error();
      connection = std::move(ready).value();
    }
    std::int64_t remaining_ms = milliseconds_until(deadline);
    if (remaining_ms <= 0) {
      co_return Error{errc::unavailable,
                      fmt::format("timed out after {} ms", options_.request_timeout.count())};
    }
    auto reply = co_await connection->request(writer, std::chrono::milliseconds(remaining_ms));
    if (!reply) {
      if (connection->is_open() || retry == Retry::connection) co_return reply.error();
      // The connection was lost with the request in flight.
      if (retry == Retry::idempotent && (reconnecting_ || logins_in_progress_ > 0)) continue;
      Error error = reply.error();
      if (retry == Retry::once) {
        error.message += "; the request may or may not have been carried out";
      }
      co_return error;
    }
    if (answered != nullptr) *answered = true;
    if (reply->envelope->body_type() != wire::Body::Error) co_return std::move(reply).value();
    Error error = client::error_from_frame(reply.value());
    bool retryable = error.code == errc::unavailable || error.code == errc::rate_limited;
    if (retry == Retry::idempotent && retryable) {
      auto delay = retry_backoff(answers_to_retry++);
      if (milliseconds_until(deadline) > delay.count()) {
        co_await sleep(delay);
        if (stopping_) co_return error;
        continue;
      }
    }
    co_return error;
  }
}

}  // namespace qim
