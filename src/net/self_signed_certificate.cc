#include "net/self_signed_certificate.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>

#include <fmt/core.h>

#include "auth/cluster_key.h"
#include "net/tls_context.h"

namespace qim::net {
namespace {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* pointer) const {
    Free(pointer);
  }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using CertificatePtr = std::unique_ptr<X509, Deleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using ExtensionPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
using OctetsPtr = std::unique_ptr<ASN1_OCTET_STRING, Deleter<ASN1_OCTET_STRING_free>>;

bool is_ip_address(const std::string& host) {
  OctetsPtr address(a2i_IPADDRESS(host.c_str()));
  ERR_clear_error();
  return address != nullptr;
}

// Letters, digits and hyphens in dot-separated labels of 1-63 characters, optionally under
// one leading wildcard label ("*.example.org").
bool is_dns_name(std::string_view host) {
  if (host.starts_with("*.")) host.remove_prefix(2);
  if (host.empty() || host.size() > 253) return false;
  std::size_t label = 0;
  for (std::size_t i = 0; i <= host.size(); ++i) {
    if (i == host.size() || host[i] == '.') {
      if (label == 0 || label > 63) return false;
      if (host[i - 1] == '-' || host[i - label] == '-') return false;
      label = 0;
      continue;
    }
    char c = host[i];
    bool allowed =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!allowed) return false;
    ++label;
  }
  return true;
}

bool add_extension(X509* certificate, X509V3_CTX& context, int nid, const std::string& value) {
  ExtensionPtr extension(X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str()));
  return extension != nullptr && X509_add_ext(certificate, extension.get(), -1) == 1;
}

std::string pem_of(const std::function<int(BIO*)>& write) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || write(bio.get()) != 1) return {};
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

bool file_exists(const std::string& path) {
  struct stat status {};
  return ::lstat(path.c_str(), &status) == 0;
}

// The certificate and key as PEM; false with `error` set.
bool make_pem(const SelfSignedRequest& request, std::string& certificate_pem, std::string& key_pem,
              std::string& error) {
  std::string alt_names;
  for (const std::string& host : request.hosts) {
    std::string entry;
    if (is_ip_address(host)) {
      entry = "IP:" + host;
    } else if (is_dns_name(host)) {
      entry = "DNS:" + host;
    } else {
      error = fmt::format("'{}' is neither a DNS name nor an IP address", host);
      return false;
    }
    alt_names += (alt_names.empty() ? "" : ",") + entry;
  }
  ERR_clear_error();
  KeyPtr key(EVP_EC_gen("P-256"));
  CertificatePtr certificate(X509_new());
  if (key == nullptr || certificate == nullptr) {
    error = fmt::format("cannot create a key: {}", take_openssl_error());
    return false;
  }
  X509* cert = certificate.get();
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) {
    error = fmt::format("no random bytes for the serial number: {}", take_openssl_error());
    return false;
  }
  serial[0] &= 0x7f;  // a positive serial, as RFC 5280 asks
  BignumPtr serial_number(BN_bin2bn(serial, sizeof serial, nullptr));
  X509_NAME* name = X509_get_subject_name(cert);
  const auto* common_name = reinterpret_cast<const unsigned char*>(request.hosts.front().c_str());
  bool built =
      X509_set_version(cert, X509_VERSION_3) == 1 && serial_number != nullptr &&
      BN_to_ASN1_INTEGER(serial_number.get(), X509_get_serialNumber(cert)) != nullptr &&
      // An hour back: clients whose clocks run a little behind accept it at once.
      X509_gmtime_adj(X509_getm_notBefore(cert), -3600) != nullptr &&
      X509_gmtime_adj(X509_getm_notAfter(cert), static_cast<long>(request.days) * 86400) !=
          nullptr &&
      X509_set_pubkey(cert, key.get()) == 1 &&
      X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>("qim"), -1, -1, 0) == 1 &&
      // A common name holds at most 64 characters; the subjectAltName is what clients check.
      (request.hosts.front().size() > 64 ||
       X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, common_name, -1, -1, 0) == 1) &&
      X509_set_issuer_name(cert, name) == 1;
  if (built) {
    X509V3_CTX context;
    X509V3_set_ctx_nodb(&context);
    X509V3_set_ctx(&context, cert, cert, nullptr, nullptr, 0);
    built = add_extension(cert, context, NID_basic_constraints, "critical,CA:FALSE") &&
            add_extension(cert, context, NID_key_usage, "critical,digitalSignature") &&
            add_extension(cert, context, NID_ext_key_usage, "serverAuth") &&
            add_extension(cert, context, NID_subject_key_identifier, "hash") &&
            add_extension(cert, context, NID_subject_alt_name, alt_names) &&
            X509_sign(cert, key.get(), EVP_sha256()) > 0;
  }
  if (!built) {
    error = fmt::format("cannot build the certificate: {}", take_openssl_error());
    return false;
  }
  certificate_pem = pem_of([&](BIO* bio) { return PEM_write_bio_X509(bio, cert); });
  key_pem = pem_of([&](BIO* bio) {
    return PEM_write_bio_PrivateKey(bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  if (certificate_pem.empty() || key_pem.empty()) {
    error = fmt::format("cannot encode the certificate: {}", take_openssl_error());
    return false;
  }
  return true;
}

}  // namespace

bool write_self_signed_certificate(const SelfSignedRequest& request, std::string& error) {
  if (request.hosts.empty()) {
    error = "a certificate needs at least one host name or address";
    return false;
  }
  if (request.days < 1 || request.days > 3650) {
    error = fmt::format("validity must be 1-3650 days, got {}", request.days);
    return false;
  }
  for (const std::string* path : {&request.certificate_file, &request.key_file}) {
    if (file_exists(*path)) {
      error = fmt::format("{} exists; remove it first or choose another name", *path);
      return false;
    }
  }
  std::string certificate_pem, key_pem;
  if (!make_pem(request, certificate_pem, key_pem, error)) return false;
  bool written = auth::write_secret_file(request.key_file, key_pem, error);
  OPENSSL_cleanse(key_pem.data(), key_pem.size());
  if (!written) return false;
  if (!auth::write_secret_file(request.certificate_file, certificate_pem, error)) {
    ::unlink(request.key_file.c_str());
    return false;
  }
  ::chmod(request.certificate_file.c_str(), 0644);  // public: clients are given a copy
  return true;
}

std::vector<std::string> default_certificate_hosts() {
  std::vector<std::string> hosts{"localhost", "127.0.0.1", "::1"};
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) == 0 && is_dns_name(name) &&
      std::string_view(name) != "localhost") {
    hosts.emplace_back(name);
  }
  return hosts;
}

}  // namespace qim::net
