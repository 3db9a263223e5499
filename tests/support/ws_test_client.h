#pragma once
// A small blocking WebSocket client for tests (RFC 6455, client side): sends the upgrade
// request, masked (or deliberately broken) frames, and reads the server's frames with a
// deadline. Speaks ws:// or, given a CA file, wss:// (OpenSSL). No test framework, so the soak
// and other standalone programs can link it.
#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace qim::test {

// A client frame: FIN as given, the payload masked with `mask` unless `masked` is false.
std::vector<std::uint8_t> ws_client_frame(std::uint8_t opcode,
                                          std::span<const std::uint8_t> payload, bool fin = true,
                                          bool masked = true, std::uint32_t mask = 0x37fa213d);

struct WsConnectOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string ca_file;  // non-empty: TLS, verifying the server against this CA
};

class WsTestClient {
 public:
  WsTestClient() = default;
  ~WsTestClient();
  WsTestClient(const WsTestClient&) = delete;
  WsTestClient& operator=(const WsTestClient&) = delete;

  // TCP (and the TLS handshake). False with `error` set.
  bool connect(const WsConnectOptions& options, std::string& error);

  // Sends `request` as it is and reads the response head and (Content-Length) body.
  // The status code, or 0 when no response came before the deadline / the connection closed.
  int http(const std::string& request);
  // GET `path` with the upgrade headers (and Origin when not empty); the response status.
  int upgrade(const std::string& path = "/ws", const std::string& origin = {});
  const std::string& response_head() const { return head_; }
  const std::string& response_body() const { return body_; }
  // A header of the last response (case-insensitive name).
  std::optional<std::string> response_header(const std::string& name) const;

  bool send_bytes(std::span<const std::uint8_t> bytes);
  // One binary message in one masked frame.
  bool send_message(std::span<const std::uint8_t> payload) {
    return send_bytes(ws_client_frame(0x2, payload));
  }

  struct Frame {
    enum class Status { frame, closed, timeout, bad } status = Status::closed;
    std::uint8_t opcode = 0;
    bool fin = true;
    std::vector<std::uint8_t> payload;
    // A close frame's code (0: none given).
    std::uint16_t close_code() const;
  };
  Frame read_frame(std::chrono::milliseconds timeout);
  // Reads until a binary message (skipping pings, pongs); its payload, or nullopt (closed,
  // timed out, a close frame: then `last_close` says which).
  std::optional<std::vector<std::uint8_t>> read_message(std::chrono::milliseconds timeout);
  // Reads until a close frame; its code, or nullopt.
  std::optional<std::uint16_t> read_close(std::chrono::milliseconds timeout);
  // Reads until the server closes the TCP connection (after any frames).
  bool wait_closed(std::chrono::milliseconds timeout);
  std::optional<std::uint16_t> last_close() const { return last_close_; }

 private:
  // recv through TLS or not: bytes, 0 at the end, -1 on error; polls until the deadline
  // (-2: timed out).
  long receive(std::uint8_t* data, std::size_t size,
               std::chrono::steady_clock::time_point deadline);
  bool read_exact(std::uint8_t* data, std::size_t size,
                  std::chrono::steady_clock::time_point deadline, Frame::Status& status);

  int fd_ = -1;
  SSL_CTX* context_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string host_header_;
  std::string head_;
  std::string body_;
  std::vector<std::uint8_t> buffered_;  // read beyond the response head
  std::optional<std::uint16_t> last_close_;
};

}  // namespace qim::test
