#include "net/tls_stream.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>

namespace qim::net {
namespace {

// Per I/O thread: where records are read into and sealed into.
struct RecordBuffers {
  static constexpr std::size_t chunk = 64 * 1024;
  std::vector<std::uint8_t> in = std::vector<std::uint8_t>(chunk + tls_max_record);
  // A chunk of plaintext in full records, and a KeyUpdate before it.
  std::vector<std::uint8_t> out =
      std::vector<std::uint8_t>(chunk + (chunk / tls_max_plaintext + 2) * tls_record_overhead + 8);
};

RecordBuffers& buffers() {
  thread_local RecordBuffers instance;
  return instance;
}

// Records without application data accepted in a row (OpenSSL allows 32 empty records).
constexpr int max_records_without_data = 32;

// AES-GCM keys are retired well before the 2^24.5 records RFC 8446 §5.5 allows.
constexpr std::uint64_t records_per_key = std::uint64_t{1} << 23;

bool would_block(int error) {
  return error == EAGAIN || error == EWOULDBLOCK || error == EINTR;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes `hex` into `out` (at most 48 bytes); the byte count, 0 when malformed.
std::uint8_t decode_secret(std::string_view hex, std::uint8_t (&out)[48]) {
  if (hex.empty() || hex.size() % 2 != 0 || hex.size() / 2 > sizeof out) return 0;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int high = hex_value(hex[i]), low = hex_value(hex[i + 1]);
    if (high < 0 || low < 0) return 0;
    out[i / 2] = static_cast<std::uint8_t>(high * 16 + low);
  }
  return static_cast<std::uint8_t>(hex.size() / 2);
}

// Releases a buffer's memory once it is empty: idle connections hold none.
void release(std::vector<std::uint8_t>& buffer) {
  std::vector<std::uint8_t>().swap(buffer);
}

}  // namespace

void tls_stream_key_log(const SSL* ssl, const char* line) {
  auto* stream = static_cast<TlsStream*>(SSL_get_app_data(ssl));
  if (stream != nullptr) stream->take_secret(line);
}

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
  std::unique_ptr<TlsStream> stream(new TlsStream(ssl, fd));
  SSL_set_app_data(ssl, stream.get());
  return stream;
}

TlsStream::~TlsStream() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (secrets_) OPENSSL_cleanse(secrets_.get(), sizeof(Secrets));
}

void TlsStream::take_secret(std::string_view line) {
  // "<label> <client random> <secret>", in hex (the NSS key log format).
  std::size_t first = line.find(' ');
  std::size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
  if (second == std::string_view::npos) return;
  std::string_view label = line.substr(0, first);
  std::string_view hex = line.substr(second + 1);
  bool client = label == "CLIENT_TRAFFIC_SECRET_0";
  if (!client && label != "SERVER_TRAFFIC_SECRET_0") return;
  if (!secrets_) secrets_ = std::make_unique<Secrets>();
  if (client) {
    secrets_->client_bytes = decode_secret(hex, secrets_->client);
  } else {
    secrets_->server_bytes = decode_secret(hex, secrets_->server);
  }
}

bool TlsStream::has_buffered_input() const {
  if (ssl_ != nullptr) return SSL_pending(ssl_) > 0;
  return plain_offset_ < plain_in_.size() || peer_closed_ || !failed_later_.empty();
}

// --- OpenSSL: the handshake ------------------------------------------------------------------

bool TlsStream::switch_to_own_records() {
  std::unique_ptr<Secrets> secrets = std::move(secrets_);
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl_);
  auto suite = cipher == nullptr ? std::nullopt : tls_suite_of(SSL_CIPHER_get_protocol_id(cipher));
  // OpenSSL must hold nothing read ahead, and must have sent nothing under the application
  // keys (no tickets: TlsContext sets none), so both sequence numbers start at zero.
  bool ready = secrets && suite && SSL_version(ssl_) == TLS1_3_VERSION &&
               SSL_has_pending(ssl_) == 0 &&
               read_keys_.init(*suite, {secrets->client, secrets->client_bytes}) &&
               write_keys_.init(*suite, {secrets->server, secrets->server_bytes});
  if (secrets) OPENSSL_cleanse(secrets.get(), sizeof(Secrets));
  if (!ready) return false;
  SSL_free(ssl_);  // the socket stays open: SSL_set_fd's BIO does not own it
  ssl_ = nullptr;
  return true;
}

std::optional<TlsResult> TlsStream::handshake() {
  if (ssl_ == nullptr || SSL_is_init_finished(ssl_) == 1) return std::nullopt;
  ERR_clear_error();
  int result = SSL_do_handshake(ssl_);
  if (result != 1) return outcome(result);
  switch_to_own_records();
  return std::nullopt;
}

TlsResult TlsStream::read(std::uint8_t* buffer, std::size_t size) {
  if (auto handshaking = handshake()) return *handshaking;
  if (ssl_ == nullptr) return read_records(buffer, size);
  ERR_clear_error();
  int count = SSL_read(ssl_, buffer, static_cast<int>(std::min<std::size_t>(size, INT_MAX)));
  if (count > 0) return {TlsStatus::done, static_cast<std::size_t>(count)};
  return outcome(count);
}

TlsResult TlsStream::write(const std::uint8_t* buffer, std::size_t size) {
  if (auto handshaking = handshake()) return *handshaking;
  if (ssl_ == nullptr) return write_records(buffer, size);
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

TlsResult TlsStream::fail(std::string why) {
  failure_ = std::move(why);
  return {TlsStatus::failed};
}

// --- Own records -----------------------------------------------------------------------------

TlsResult TlsStream::read_records(std::uint8_t* buffer, std::size_t size) {
  if (size == 0) return {TlsStatus::done, 0};
  for (;;) {
    if (plain_offset_ < plain_in_.size()) {
      std::size_t count = std::min(size, plain_in_.size() - plain_offset_);
      std::memcpy(buffer, plain_in_.data() + plain_offset_, count);
      plain_offset_ += count;
      if (plain_offset_ == plain_in_.size()) {
        release(plain_in_);
        plain_offset_ = 0;
      }
      return {TlsStatus::done, count};
    }
    if (!failed_later_.empty()) return fail(std::exchange(failed_later_, {}));
    if (peer_closed_) return {TlsStatus::closed};
    RecordBuffers& scratch = buffers();
    std::size_t have = partial_in_.size();
    if (have > 0) std::memcpy(scratch.in.data(), partial_in_.data(), have);
    // A whole chunk whatever the caller's room (plaintext beyond it waits in plain_in_): a
    // small read must not take a record in pieces, one system call each.
    ssize_t count = ::recv(fd_, scratch.in.data() + have, RecordBuffers::chunk, 0);
    if (count < 0) {
      if (would_block(errno)) return {TlsStatus::want_read};
      return fail(std::strerror(errno));
    }
    if (count == 0) {
      // EOF without close_notify: the peer went away, unless it cut a record short.
      if (!partial_in_.empty()) return fail("the connection ended inside a record");
      return {TlsStatus::closed};
    }
    have += static_cast<std::size_t>(count);
    std::span<std::uint8_t> bytes(scratch.in.data(), have);
    std::size_t produced = 0;
    while (!bytes.empty() && !peer_closed_) {
      OpenedRecord record = open_record(read_keys_, bytes);
      if (record.status == OpenedRecord::Status::incomplete) break;
      bool bad = record.status == OpenedRecord::Status::bad;
      if (!bad) bytes = bytes.subspan(record.record_bytes);
      // Records without data (control records, empty data records) are bounded in a row, or
      // a client could keep this thread deriving keys and opening nothing.
      bool data = !bad && record.type == tls_application_data && !record.content.empty();
      control_streak_ = data ? 0 : control_streak_ + 1;
      if (bad || control_streak_ > max_records_without_data ||
          (!data && record.type != tls_application_data &&
           !control_record(record.type, record.content))) {
        std::string why = bad ? record.why
                          : control_streak_ > max_records_without_data
                              ? "too many records without data"
                              : failure_;
        // What was read before the bad record is delivered first.
        if (produced == 0) return fail(why);
        failed_later_ = why;
        release(partial_in_);
        return {TlsStatus::done, produced};
      }
      if (!data) continue;
      std::size_t direct = std::min(size - produced, record.content.size());
      std::memcpy(buffer + produced, record.content.data(), direct);
      produced += direct;
      plain_in_.insert(plain_in_.end(),
                       record.content.begin() + static_cast<std::ptrdiff_t>(direct),
                       record.content.end());
    }
    partial_in_.assign(bytes.begin(), bytes.end());
    if (partial_in_.empty()) release(partial_in_);
    if (produced > 0) return {TlsStatus::done, produced};
    // Only control records, or part of a record: read on.
  }
}

bool TlsStream::control_record(std::uint8_t type, std::span<const std::uint8_t> content) {
  if (type == tls_alert) {
    if (content.size() == 2 && content[1] == 0) {  // close_notify
      peer_closed_ = true;
      return true;
    }
    failure_ = content.size() == 2 ? "the client sent alert " + std::to_string(content[1])
                                   : "malformed alert";
    return false;
  }
  if (type == tls_handshake) {
    KeyUpdate update = parse_key_update(content);
    if (!update.valid) {
      failure_ = "unexpected post-handshake message";
      return false;
    }
    if (!read_keys_.update()) {
      failure_ = "cannot derive the next keys";
      return false;
    }
    key_update_owed_ = key_update_owed_ || update.update_requested;
    return true;
  }
  failure_ = "unexpected record content type " + std::to_string(type);
  return false;
}

TlsResult TlsStream::flush_pending() {
  while (pending_offset_ < pending_out_.size()) {
    ssize_t sent = ::send(fd_, pending_out_.data() + pending_offset_,
                          pending_out_.size() - pending_offset_, MSG_NOSIGNAL);
    if (sent < 0) {
      if (would_block(errno)) return {TlsStatus::want_write};
      return fail(std::strerror(errno));
    }
    pending_offset_ += static_cast<std::size_t>(sent);
  }
  release(pending_out_);
  pending_offset_ = 0;
  std::size_t written = pending_plain_;
  pending_plain_ = 0;
  return {TlsStatus::done, written};
}

TlsResult TlsStream::write_records(const std::uint8_t* buffer, std::size_t size) {
  if (!pending_out_.empty()) {
    // The caller repeats the bytes the blocked write took: report them once they have left.
    if (size < pending_plain_) return fail("a blocked TLS write was retried with fewer bytes");
    return flush_pending();
  }
  if (size == 0) return {TlsStatus::done, 0};
  RecordBuffers& scratch = buffers();
  std::uint8_t* out = scratch.out.data();
  std::size_t length = 0;
  if (key_update_owed_ || write_keys_.sequence() >= records_per_key) {
    // KeyUpdate(update_not_requested) under the old keys, then the new ones.
    const std::uint8_t key_update[] = {24, 0, 0, 1, 0};
    std::size_t sealed = seal_record(write_keys_, tls_handshake, key_update, out);
    if (sealed == 0 || !write_keys_.update()) return fail("cannot update the traffic keys");
    length += sealed;
    key_update_owed_ = false;
  }
  std::size_t taken = std::min(size, RecordBuffers::chunk);
  for (std::size_t offset = 0; offset < taken; offset += tls_max_plaintext) {
    std::size_t piece = std::min(tls_max_plaintext, taken - offset);
    std::size_t sealed =
        seal_record(write_keys_, tls_application_data, {buffer + offset, piece}, out + length);
    if (sealed == 0) return fail("cannot seal a record");
    length += sealed;
  }
  ssize_t sent = ::send(fd_, out, length, MSG_NOSIGNAL);
  if (sent < 0 && !would_block(errno)) return fail(std::strerror(errno));
  std::size_t left = sent < 0 ? 0 : static_cast<std::size_t>(sent);
  if (left == length) return {TlsStatus::done, taken};
  // The records are sealed (their sequence numbers are spent): keep what did not leave.
  pending_out_.assign(out + left, out + length);
  pending_offset_ = 0;
  pending_plain_ = taken;
  return {TlsStatus::want_write};
}

void TlsStream::close_notify() {
  if (ssl_ != nullptr) {
    if (SSL_is_init_finished(ssl_) != 1) return;
    ERR_clear_error();
    SSL_shutdown(ssl_);
    ERR_clear_error();
    return;
  }
  if (!pending_out_.empty()) return;    // the socket is full: it closes without one
  const std::uint8_t alert[] = {1, 0};  // warning, close_notify
  std::uint8_t record[sizeof alert + tls_record_overhead];
  std::size_t sealed = seal_record(write_keys_, tls_alert, alert, record);
  if (sealed > 0) {
    [[maybe_unused]] ssize_t ignored = ::send(fd_, record, sealed, MSG_NOSIGNAL | MSG_DONTWAIT);
  }
}

}  // namespace qim::net
