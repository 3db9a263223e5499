// Fuzzes a whole client session: after a scripted Hello, Register and Login, the input is cut
// into length-prefixed frames and fed to a Session over an in-memory store, its writes applied
// by the inline proposer. Every handler that reads untrusted fields runs; nothing may crash,
// leak or trip a sanitizer.
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "core/clock.h"
#include "core/log.h"
#include "proto/frame.h"
#include "service/im_service.h"
#include "service/inline_proposer.h"
#include "session/connection.h"
#include "session/session.h"
#include "store/memory_kv.h"

namespace {

class NullConnection final : public qim::session::Connection {
 public:
  bool send(std::span<const std::uint8_t> frame) override {
    sent_bytes += frame.size();
    return true;
  }
  void close_after_flush() override { closed = true; }
  const std::string& remote_host() const override { return host; }
  void run_blocking(std::function<void()> work, std::function<void()> then) override {
    work();
    if (!closed) then();
  }
  Completion begin_async() override {
    return [this](std::function<void()> then) {
      if (!closed) then();
    };
  }
  std::size_t sent_bytes = 0;
  bool closed = false;
  std::string host = "192.0.2.7";
};

// Feeds one frame payload through an aligned buffer, as the I/O shell does.
void feed(qim::session::Session& session, std::span<const std::uint8_t> payload) {
  std::vector<std::uint64_t> aligned((payload.size() + 7) / 8);
  if (!payload.empty()) std::memcpy(aligned.data(), payload.data(), payload.size());
  session.on_frame({reinterpret_cast<const std::uint8_t*>(aligned.data()), payload.size()});
}

template <typename Build>
void feed_built(qim::session::Session& session, Build build) {
  qim::proto::FrameBuilder builder;
  auto frame = build(builder);
  feed(session, frame.subspan(qim::proto::frame_header_bytes));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace qim;
  static const bool sodium_ready = auth::initialize();
  if (!sodium_ready) return 0;

  store::MemoryKv kv;
  core::ManualClock clock;
  core::Logger logger(core::LogLevel::off);
  service::Options options;
  options.password_cost = auth::PasswordCost::minimum();
  options.dm_policy = service::DmPolicy::anyone;
  route::Partitions partitions(8, cluster::HashKey{});
  service::InlineProposer proposer(kv, partitions);
  service::ImService service(kv, clock, logger, options, proposer, partitions);
  proposer.attach(service);

  // A second user to talk to.
  NullConnection bob_connection;
  session::Session bob(service, bob_connection);
  NullConnection connection;
  session::Session session(service, connection);
  for (auto* target : {&bob, &session}) {
    const char* user = target == &bob ? "bob" : "alice";
    feed_built(*target, [](proto::FrameBuilder& b) {
      auto name = b.fbb().CreateString("fuzz");
      return b.finish(1, wire::CreateHello(b.fbb(), proto::protocol_version, name));
    });
    feed_built(*target, [&](proto::FrameBuilder& b) {
      auto u = b.fbb().CreateString(user);
      auto p = b.fbb().CreateString("password-1");
      return b.finish(2, wire::CreateRegister(b.fbb(), u, p));
    });
    feed_built(*target, [&](proto::FrameBuilder& b) {
      auto u = b.fbb().CreateString(user);
      auto p = b.fbb().CreateString("password-1");
      auto d = b.fbb().CreateString("device-1");
      return b.finish(3, wire::CreateLogin(b.fbb(), u, p, 0, d));
    });
  }

  while (size >= proto::frame_header_bytes && !connection.closed) {
    std::uint32_t length = proto::decode_frame_length(data);
    data += proto::frame_header_bytes;
    size -= proto::frame_header_bytes;
    if (length > proto::default_client_max_frame_bytes || length > size) break;
    feed(session, {data, length});
    clock.advance_ms(10);
    data += length;
    size -= length;
  }
  session.on_close();
  bob.on_close();
  return 0;
}
