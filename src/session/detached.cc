#include "session/detached.h"

#include <cstring>
#include <memory>

#include "session/session.h"

namespace qim::session {
namespace {

// Keeps what the handlers send; work they would hand off runs inline (this already is the
// blocking pool).
class CapturingConnection final : public Connection {
 public:
  bool send(std::span<const std::uint8_t> frame) override {
    if (frame_.empty()) frame_.assign(frame.begin(), frame.end());
    return true;
  }
  void close_after_flush() override {}
  const std::string& remote_host() const override { return host_; }
  void run_blocking(std::function<void()> work, std::function<void()> then) override {
    work();
    then();
  }
  Completion begin_async() override { return {}; }

  std::vector<std::uint8_t> take() { return std::move(frame_); }

 private:
  std::string host_ = "peer";
  std::vector<std::uint8_t> frame_;  // the first frame sent: the reply
};

}  // namespace

std::vector<std::uint8_t> serve_detached(service::ImService& service, const service::Caller& caller,
                                         std::span<const std::uint8_t> payload) {
  // Verification needs 8-byte alignment; copied only when the caller's buffer lacks it.
  std::unique_ptr<std::uint64_t[]> aligned;
  std::span<const std::uint8_t> copy = payload;
  if (reinterpret_cast<std::uintptr_t>(payload.data()) % 8 != 0) {
    aligned.reset(new std::uint64_t[(payload.size() + 7) / 8 + 1]);
    std::memcpy(aligned.get(), payload.data(), payload.size());
    copy = {reinterpret_cast<const std::uint8_t*>(aligned.get()), payload.size()};
  }
  CapturingConnection connection;
  {
    Session session(service, connection, caller);
    session.on_detached_frame(copy);
  }
  std::vector<std::uint8_t> frame = connection.take();
  if (frame.empty()) {
    proto::FrameBuilder builder(128);
    auto error = builder.error(0, errc::internal, "the request produced no answer");
    frame.assign(error.begin(), error.end());
  }
  return frame;
}

}  // namespace qim::session
