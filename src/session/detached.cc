#include "session/detached.h"

#include <cstring>

#include "session/session.h"

namespace qim::session {

namespace {

// Buffers beyond this are released after the request, so a large answer is not held.
constexpr std::size_t retained_bytes = 64 * 1024;

}  // namespace

bool DetachedServer::Capture::send(std::span<const std::uint8_t> frame) {
  if (!captured_) {
    frame_.assign(frame.begin(), frame.end());
    captured_ = true;
  }
  return true;
}

std::span<const std::uint8_t> DetachedServer::serve(const service::Caller& caller,
                                                    std::span<const std::uint8_t> payload) {
  // Verification needs 8-byte alignment; copied only when the caller's buffer lacks it.
  std::span<const std::uint8_t> copy = payload;
  if (reinterpret_cast<std::uintptr_t>(payload.data()) % 8 != 0) {
    aligned_.resize((payload.size() + 7) / 8 + 1);
    std::memcpy(aligned_.data(), payload.data(), payload.size());
    copy = {reinterpret_cast<const std::uint8_t*>(aligned_.data()), payload.size()};
  }
  if (capture_.frame().capacity() > retained_bytes)
    std::vector<std::uint8_t>().swap(capture_.frame());
  if (aligned_.capacity() * 8 > retained_bytes && copy.data() == payload.data()) {
    std::vector<std::uint64_t>().swap(aligned_);
  }
  capture_.start();
  {
    Session session(service_, capture_, caller);
    session.on_detached_frame(copy);
  }
  if (!capture_.captured()) {
    proto::FrameBuilder builder(128);
    auto error = builder.error(0, errc::internal, "the request produced no answer");
    capture_.frame().assign(error.begin(), error.end());
  }
  return capture_.frame();
}

std::vector<std::uint8_t> serve_detached(service::ImService& service, const service::Caller& caller,
                                         std::span<const std::uint8_t> payload) {
  DetachedServer server(service);
  auto frame = server.serve(caller, payload);
  return {frame.begin(), frame.end()};
}

}  // namespace qim::session
