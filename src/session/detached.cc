#include "session/detached.h"

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>

#include "session/connection.h"
#include "session/session.h"

namespace qim::session {
namespace {

// One detached request: the Connection its session sends the answer through, and the session.
// Owned by shared pointers: serve() and each asynchronous completion the session awaits hold
// one, so it lives until the answer is sent and nothing more is pending.
class DetachedRequest final : public Connection,
                              public std::enable_shared_from_this<DetachedRequest> {
 public:
  DetachedRequest(service::ImService& service, const service::Caller& caller,
                  DetachedServer::Reply reply)
      : reply_(std::move(reply)), session_(service, *this, caller) {}

  // The first frame sent is the answer.
  bool send(std::span<const std::uint8_t> frame) override {
    if (!replied_.exchange(true)) reply_(std::vector<std::uint8_t>(frame.begin(), frame.end()));
    return true;
  }
  void close_after_flush() override {}
  const std::string& remote_host() const override { return host_; }
  // A detached request already runs where it may block.
  void run_blocking(std::function<void()> work, std::function<void()> then) override {
    work();
    then();
  }
  Completion begin_async() override {
    ++pending_;
    return [self = shared_from_this()](std::function<void()> then) {
      std::lock_guard lock(self->mutex_);
      then();
      --self->pending_;
      self->answer_if_silent();
    };
  }

  void dispatch(std::span<const std::uint8_t> payload) {
    std::lock_guard lock(mutex_);
    session_.on_detached_frame(payload);
    answer_if_silent();
  }

 private:
  // Nothing pending and nothing sent: the request produced no answer (a handler's bug).
  void answer_if_silent() {
    if (pending_ > 0 || replied_) return;
    proto::FrameBuilder builder(128);
    send(builder.error(0, errc::internal, "the request produced no answer"));
  }

  DetachedServer::Reply reply_;
  std::string host_ = "peer";
  std::atomic<bool> replied_{false};
  // Serialises the session's dispatch and its continuations, which may come from any thread.
  // Recursive: a continuation may run while the dispatch that armed it still holds it.
  std::recursive_mutex mutex_;
  int pending_ = 0;  // GUARDED_BY(mutex_): completions handed out and not yet called
  Session session_;  // last: it refers to this connection
};

}  // namespace

void DetachedServer::serve(const service::Caller& caller, std::span<const std::uint8_t> payload,
                           Reply reply) {
  // Verification needs 8-byte alignment; copied only when the caller's buffer lacks it.
  std::vector<std::uint64_t> aligned;
  std::span<const std::uint8_t> copy = payload;
  if (reinterpret_cast<std::uintptr_t>(payload.data()) % 8 != 0) {
    aligned.resize((payload.size() + 7) / 8 + 1);
    std::memcpy(aligned.data(), payload.data(), payload.size());
    copy = {reinterpret_cast<const std::uint8_t*>(aligned.data()), payload.size()};
  }
  auto request = std::make_shared<DetachedRequest>(service_, caller, std::move(reply));
  request->dispatch(copy);
}

std::vector<std::uint8_t> DetachedServer::serve_and_wait(const service::Caller& caller,
                                                         std::span<const std::uint8_t> payload) {
  struct Answer {
    std::mutex mutex;
    std::condition_variable ready;
    std::optional<std::vector<std::uint8_t>> frame;  // GUARDED_BY(mutex)
  };
  auto answer = std::make_shared<Answer>();
  serve(caller, payload, [answer](std::vector<std::uint8_t> frame) {
    std::lock_guard lock(answer->mutex);
    answer->frame = std::move(frame);
    answer->ready.notify_all();
  });
  std::unique_lock lock(answer->mutex);
  answer->ready.wait(lock, [&] { return answer->frame.has_value(); });
  return std::move(*answer->frame);
}

}  // namespace qim::session
