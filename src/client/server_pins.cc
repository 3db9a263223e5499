#include "client/server_pins.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include <fmt/core.h>

namespace qim::client {
namespace {

constexpr std::string_view fingerprint_prefix = "SHA256:";

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r'))
    text.remove_suffix(1);
  return text;
}

// Reads the whole file; an absent file is an empty one.
bool read_file(const std::string& path, std::string& text, std::string& error) {
  std::error_code missing;
  if (!std::filesystem::exists(path, missing) && !missing) return true;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = fmt::format("cannot read the pin file {}: {}", path, std::strerror(errno));
    return false;
  }
  std::ostringstream content;
  content << in.rdbuf();
  text = content.str();
  return true;
}

// One appended line, written with O_APPEND (whole lines from concurrent writers do not mix).
bool append_line(const std::string& path, const std::string& line, std::string& error) {
  std::error_code ignored;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ignored);
  int descriptor = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (descriptor < 0) {
    error = fmt::format("cannot write the pin file {}: {}", path, std::strerror(errno));
    return false;
  }
  ssize_t written = ::write(descriptor, line.data(), line.size());
  int saved = errno;
  ::close(descriptor);
  if (written != static_cast<ssize_t>(line.size())) {
    error = fmt::format("cannot write the pin file {}: {}", path, std::strerror(saved));
    return false;
  }
  return true;
}

}  // namespace

std::string peer_key_fingerprint(SSL* ssl) {
  std::unique_ptr<X509, decltype(&X509_free)> certificate(SSL_get1_peer_certificate(ssl),
                                                          &X509_free);
  if (!certificate) return {};
  int size = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(certificate.get()), nullptr);
  if (size <= 0) return {};
  std::vector<unsigned char> der(static_cast<std::size_t>(size));
  unsigned char* cursor = der.data();
  i2d_X509_PUBKEY(X509_get_X509_PUBKEY(certificate.get()), &cursor);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  if (EVP_Digest(der.data(), der.size(), digest, &digest_size, EVP_sha256(), nullptr) != 1)
    return {};
  std::string encoded(4 * ((digest_size + 2) / 3) + 1, '\0');
  int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()), digest,
                               static_cast<int>(digest_size));
  encoded.resize(static_cast<std::size_t>(length));
  while (!encoded.empty() && encoded.back() == '=')
    encoded.pop_back();
  return std::string(fingerprint_prefix) + encoded;
}

std::string pin_address(const std::string& host, std::uint16_t port) {
  bool v6 = host.find(':') != std::string::npos;
  return v6 ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port);
}

PinLookup find_pin(std::string_view file_text, std::string_view address, std::string_view key) {
  PinLookup lookup;
  std::size_t number = 0;
  while (!file_text.empty()) {
    std::size_t end = file_text.find('\n');
    std::string_view line = trim(file_text.substr(0, end));
    file_text = end == std::string_view::npos ? std::string_view{} : file_text.substr(end + 1);
    ++number;
    if (line.empty() || line.front() == '#') continue;
    std::size_t space = line.find_first_of(" \t");
    std::string_view name = space == std::string_view::npos ? line : line.substr(0, space);
    std::string_view value =
        space == std::string_view::npos ? std::string_view{} : trim(line.substr(space));
    if (!value.starts_with(fingerprint_prefix) || value.size() == fingerprint_prefix.size() ||
        value.find_first_of(" \t") != std::string_view::npos) {
      lookup.malformed = fmt::format("line {} is not 'host:port SHA256:...'", number);
      return lookup;
    }
    if (name == address) lookup.fingerprint = std::string(value);
    if (!key.empty() && value == key) lookup.key_known = true;
  }
  return lookup;
}

std::string pin_line(std::string_view address, std::string_view fingerprint) {
  return fmt::format("{} {}\n", address, fingerprint);
}

ServerPins::ServerPins(std::string file, FirstUseNotice notice)
    : file_(std::move(file)), notice_(std::move(notice)) {}

void ServerPins::allow_first_use(const std::string& address) {
  std::lock_guard lock(mutex_);
  first_use_allowed_.insert(address);
}

Error ServerPins::check(const std::string& address, const std::string& fingerprint) {
  if (fingerprint.empty()) {
    return Error{errc::auth_failed, fmt::format("{} presented no certificate to pin", address)};
  }
  std::lock_guard lock(mutex_);
  std::string text, error;
  if (!read_file(file_, text, error)) return Error{errc::invalid_argument, error};
  PinLookup lookup = find_pin(text, address, fingerprint);
  if (!lookup.malformed.empty()) {
    return Error{errc::invalid_argument,
                 fmt::format("the pin file {}: {}", file_, lookup.malformed)};
  }
  if (lookup.fingerprint) {
    if (*lookup.fingerprint == fingerprint) return Error{};
    return Error{
        errc::auth_failed,
        fmt::format("REFUSED: the key of {} has CHANGED since it was pinned: it was {}, it is "
                    "now {}. Someone may be intercepting this connection. If the server's key "
                    "was replaced on purpose, delete the line for {} from {} and connect again",
                    address, *lookup.fingerprint, fingerprint, address, file_)};
  }
  if (!first_use_allowed_.contains(address) && !lookup.key_known) {
    return Error{errc::auth_failed,
                 fmt::format("REFUSED: {}, a node the cluster sent this client to, presents key "
                             "{}, which is not pinned (pins are kept in {}). To trust it, "
                             "connect to it once yourself: qim --pin --server {}",
                             address, fingerprint, file_, address)};
  }
  if (!append_line(file_, pin_line(address, fingerprint), error))
    return Error{errc::invalid_argument, error};
  if (notice_) notice_(address, fingerprint);
  return Error{};
}

}  // namespace qim::client
