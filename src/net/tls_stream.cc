#include "net/tls_stream.h"

#include <openssl/err.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

namespace qim::net {

std::unique_ptr<TlsStream> TlsStream::accept(const TlsContext& context, int fd,
                                             std::string& error) {
  ERR_clear_error();
  SSL* ssl = SSL_new(context.native());
  if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1) {
    error = "cannot set up TLS: " + take_openssl_error();
    if (ssl != nullptr) SSL_free(ssl);
    return nullptr;
  }
  SSL_set_accept_state(ssl);
  return std::unique_ptr<TlsStream>(new TlsStream(ssl));
}

TlsStream::~TlsStream() {
  SSL_free(ssl_);
}

TlsResult TlsStream::read(std::uint8_t* buffer, std::size_t size) {
  ERR_clear_error();
  int count = SSL_read(ssl_, buffer, static_cast<int>(std::min<std::size_t>(size, INT_MAX)));
  if (count > 0) return {TlsStatus::done, static_cast<std::size_t>(count)};
  return outcome(count);
}

TlsResult TlsStream::write(const std::uint8_t* buffer, std::size_t size) {
  ERR_clear_error();
  int count = SSL_write(ssl_, buffer, static_cast<int>(std::min<std::size_t>(size, INT_MAX)));
  if (count > 0) return {TlsStatus::done, static_cast<std::size_t>(count)};
  return outcome(count);
}

TlsResult TlsStream::outcome(int result) {
  switch (SSL_get_error(ssl_, result)) {
    case SSL_ERROR_WANT_READ:
      return {TlsStatus::want_read};
    case SSL_ERROR_WANT_WRITE:
      return {TlsStatus::want_write};
    case SSL_ERROR_ZERO_RETURN:
      return {TlsStatus::closed};
    case SSL_ERROR_SYSCALL: {
      int error = errno;
      failure_ = take_openssl_error();
      // An EOF without close_notify: the peer went away, as with a plain socket.
      if (failure_.empty() && (result == 0 || error == 0)) return {TlsStatus::closed};
      if (failure_.empty()) failure_ = std::strerror(error);
      if (error == EAGAIN || error == EINTR) return {TlsStatus::want_read};
      return {TlsStatus::failed};
    }
    default:
      failure_ = take_openssl_error();
      if (failure_.empty()) failure_ = "TLS protocol error";
      return {TlsStatus::failed};
  }
}

void TlsStream::close_notify() {
  if (SSL_is_init_finished(ssl_) != 1) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

}  // namespace qim::net
