#pragma once
// Shared pieces of the e2e scenarios: logged-in clients, waits on events with deadlines, and
// a raw TCP connection for feeding the server bad bytes.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cluster_process.h"
#include "proto/frame.h"
#include "qim/client.h"

namespace qim::e2e {

// Generous, so the suite also passes under sanitizers on a loaded machine; waits end as soon
// as the awaited event arrives, so a healthy run never spends them.
inline constexpr auto event_timeout = std::chrono::seconds(15);
inline constexpr char test_password[] = "correct-horse-1";

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

ClientOptions test_client_options();

// A started qimd; REQUIREs success (the failure message carries its log).
std::unique_ptr<ServerProcess> started_server(ServerOptions options = {});

// A connected Client; REQUIREs success.
std::unique_ptr<Client> connected_client(const ServerProcess& server,
                                         ClientOptions options = test_client_options());
// Registers `user` with test_password (REQUIREs success) on a throwaway connection.
void register_user(const ServerProcess& server, const std::string& user,
                   ClientOptions options = test_client_options());
// A Client logged in as `user` on `device`; REQUIREs success.
std::unique_ptr<Client> logged_in_client(const ServerProcess& server, const std::string& user,
                                         const std::string& device = "dev-1",
                                         ClientOptions options = test_client_options());
// Makes a and b friends (a requests, b accepts) and drains the friend events.
void make_friends(Client& a, Client& b);

// The next MessageEvent (optionally in `conversation`), or nullopt after the deadline.
std::optional<Message> next_message(Client& client, const std::string& conversation = {},
                                    std::chrono::milliseconds timeout = event_timeout);
std::optional<FriendEvent> next_friend_event(Client& client);
std::optional<PresenceEvent> next_presence(Client& client, const std::string& user, bool online);
std::optional<GroupEvent> next_group_event(Client& client, const std::string& group);

// A blocking TCP socket speaking raw bytes, for malformed-input tests.
class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool ok() const { return fd_ >= 0; }
  bool send_bytes(std::span<const std::uint8_t> bytes);
  bool send_frame(std::span<const std::uint8_t> frame) { return send_bytes(frame); }
  // Half-closes the write side (the server sees end of input).
  void shutdown_write();

  enum class ReadStatus { frame, closed, timeout, bad_frame };
  struct ReadResult {
    ReadStatus status = ReadStatus::closed;
    std::vector<std::uint64_t> storage;  // 8-byte aligned payload
    const wire::Envelope* envelope = nullptr;
  };
  ReadResult read_frame(std::chrono::milliseconds timeout = event_timeout);
  // Reads until the server closes; true if it did within the deadline.
  bool wait_closed(std::chrono::milliseconds timeout = event_timeout);

  // Hello then HelloOk; REQUIREs success.
  void hello();

 private:
  bool read_exact(std::uint8_t* data, std::size_t size,
                  std::chrono::steady_clock::time_point deadline, ReadStatus& status);
  int fd_ = -1;
};

// Frames built with the real builder, for raw connections.
std::vector<std::uint8_t> hello_frame(std::uint32_t req_id);
std::vector<std::uint8_t> login_frame(std::uint32_t req_id, const std::string& user,
                                      const std::string& password, const std::string& device);
std::vector<std::uint8_t> send_frame(std::uint32_t req_id, const std::string& to_user,
                                     const std::string& body, std::uint64_t client_msg_id);

// The error code of an Error frame, or nullopt when it is not one.
std::optional<errc> error_code(const RawConnection::ReadResult& frame);

}  // namespace qim::e2e
