#pragma once
// The server side of one TLS connection over a non-blocking socket: the one place where a
// client connection's bytes are sealed and opened. The connection reads and writes through it
// as it would through recv(2)/send(2); the handshake happens inside the first reads and writes.
#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "net/tls_context.h"

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

  TlsResult read(std::uint8_t* buffer, std::size_t size);
  TlsResult write(const std::uint8_t* buffer, std::size_t size);
  // Decrypted bytes already held here, which the socket's readiness will not report.
  bool has_buffered_input() const { return SSL_pending(ssl_) > 0; }
  // Sends close_notify once, best effort (the socket is closed right after).
  void close_notify();
  // Why the last operation failed, for the log.
  const std::string& failure() const { return failure_; }

 private:
  explicit TlsStream(SSL* ssl) : ssl_(ssl) {}
  TlsResult outcome(int result);

  SSL* ssl_;
  std::string failure_;
};

}  // namespace qim::net
