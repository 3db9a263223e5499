#pragma once
// The server side of one TLS connection over a non-blocking socket: the one place where a
// client connection's bytes are sealed and opened. The connection reads and writes through it
// as it would through recv(2)/send(2); the handshake happens inside the first reads and writes.
//
// OpenSSL does the handshake. Once it is done the stream takes the traffic secrets (from the
// context's key log callback), frees the SSL object and protects records itself
// (net/tls_records.h): an established connection then holds ~300 bytes of TLS state instead
// of OpenSSL's ~14 KiB. A connection that cannot switch (another suite, bytes OpenSSL already
// buffered) stays on OpenSSL.
#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/tls_context.h"
#include "net/tls_records.h"

namespace qim::net {

enum class TlsStatus : std::uint8_t {
  done,        // `bytes` were read or written
  want_read,   // retry once the socket is readable
  want_write,  // retry once the socket is writable
  closed,      // the peer closed (close_notify or EOF)
  failed,      // a TLS or socket error: the connection is over
};

struct TlsResult {
  TlsStatus status;
  std::size_t bytes = 0;
};

// Owned by its ClientConnection, used on its I/O thread only. Does not own the socket.
class TlsStream {
 public:
  // Null with `error` set when OpenSSL cannot allocate the connection state.
  static std::unique_ptr<TlsStream> accept(const TlsContext& context, int fd, std::string& error);
  ~TlsStream();

  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // As recv(2). A want_write result of write() means "nothing more taken yet": the caller
  // retries with the same bytes first (as SSL_write requires), which are then reported
  // written once the records holding them have left.
  TlsResult read(std::uint8_t* buffer, std::size_t size);
  TlsResult write(const std::uint8_t* buffer, std::size_t size);
  // Decrypted bytes already held here, which the socket's readiness will not report.
  bool has_buffered_input() const;
  // Sends close_notify once, best effort (the socket is closed right after).
  void close_notify();
  // Why the last operation failed, for the log.
  const std::string& failure() const { return failure_; }
  // True once the records are protected here rather than by OpenSSL.
  bool own_records() const { return ssl_ == nullptr; }

  // The context's key log callback hands each secret line of the handshake here.
  void take_secret(std::string_view line);

 private:
  TlsStream(SSL* ssl, int fd) : ssl_(ssl), fd_(fd) {}
  // Drives OpenSSL's handshake while it is not done; nullopt once it is (the switch to own
  // records then tried).
  std::optional<TlsResult> handshake();
  TlsResult outcome(int result);
  TlsResult fail(std::string why);
  bool switch_to_own_records();
  TlsResult read_records(std::uint8_t* buffer, std::size_t size);
  TlsResult write_records(const std::uint8_t* buffer, std::size_t size);
  // Sends what a blocked write left; done when all of it has left.
  TlsResult flush_pending();
  // Handles a post-handshake message or alert; false when it ends the connection.
  bool control_record(std::uint8_t type, std::span<const std::uint8_t> content);

  struct Secrets {
    std::uint8_t client[48];
    std::uint8_t server[48];
    std::uint8_t client_bytes = 0;
    std::uint8_t server_bytes = 0;
  };

  SSL* ssl_;  // during the handshake (and for a connection that stayed on OpenSSL)
  int fd_;
  std::unique_ptr<Secrets> secrets_;  // between the key log and the switch
  TrafficKeys read_keys_;
  TrafficKeys write_keys_;
  std::vector<std::uint8_t> partial_in_;  // the start of a record not complete yet
  std::vector<std::uint8_t> plain_in_;    // decrypted bytes beyond a read's buffer
  std::size_t plain_offset_ = 0;
  std::vector<std::uint8_t> pending_out_;  // records a blocked write could not send yet
  std::size_t pending_offset_ = 0;
  std::size_t pending_plain_ = 0;  // the caller's bytes they hold
  std::string failed_later_;       // a failure found after data that was delivered first
  int control_streak_ = 0;         // records without data in a row
  bool peer_closed_ = false;
  bool key_update_owed_ = false;  // the peer asked for ours
  std::string failure_;
};

// The key log callback TlsContext installs: forwards to the connection's TlsStream.
void tls_stream_key_log(const SSL* ssl, const char* line);

}  // namespace qim::net
