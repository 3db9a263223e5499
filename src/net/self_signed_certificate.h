#pragma once
// A self-signed certificate for a node's client port (`qimd --generate-tls-cert`): an ECDSA
// P-256 key and a certificate naming the hosts clients connect to. Enough for a cluster whose
// clients trust the certificate itself (`qim --ca CERT`) or pin its key (`qim --pin`); an
// operator with a real CA uses its certificates instead.
#include <string>
#include <vector>

namespace qim::net {

struct SelfSignedRequest {
  std::string certificate_file;  // written 0644, refused if it exists
  std::string key_file;          // written 0600, refused if it exists
  // DNS names and IP addresses the certificate is valid for (subjectAltName); the first is
  // also its subject's common name. Never empty.
  std::vector<std::string> hosts;
  int days = 365;
};

// False with `error` set (naming the file or the host) when a host is not a DNS name or an
// IP address, a file exists or cannot be written, or OpenSSL fails.
bool write_self_signed_certificate(const SelfSignedRequest& request, std::string& error);

// localhost, 127.0.0.1, ::1 and this machine's host name: the names a local cluster's clients
// use.
std::vector<std::string> default_certificate_hosts();

}  // namespace qim::net
