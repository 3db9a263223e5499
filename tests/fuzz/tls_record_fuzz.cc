// Fuzzes the TLS record opener the server uses once OpenSSL's handshake is done: any bytes as
// a stream of records (each must be refused or found incomplete, never read out of bounds),
// and records sealed from the input then altered at a place it picks (an unaltered record opens
// to exactly what was sealed; an altered one never opens). KeyUpdate parsing sees every
// content.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "net/tls_records.h"

using namespace qim::net;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const TlsSuite suite = static_cast<TlsSuite>(data[0] % 3);
  const std::size_t secret_bytes = suite == TlsSuite::aes_256_gcm_sha384 ? 48 : 32;
  std::vector<std::uint8_t> secret(secret_bytes, 0x5a);
  TrafficKeys sender, receiver;
  if (!sender.init(suite, secret) || !receiver.init(suite, secret)) std::abort();
  const bool alter = (data[1] & 1) != 0;
  std::vector<std::uint8_t> input(data + 2, data + size);

  if ((data[1] & 2) == 0) {
    // Raw bytes as records.
    std::span<std::uint8_t> bytes(input);
    while (!bytes.empty()) {
      OpenedRecord record = open_record(receiver, bytes);
      if (record.status != OpenedRecord::Status::opened) break;
      if (record.record_bytes > bytes.size()) std::abort();
      parse_key_update(record.content);
      bytes = bytes.subspan(record.record_bytes);
    }
    return 0;
  }

  // Sealed, perhaps altered, opened.
  std::size_t content = std::min(input.size(), tls_max_plaintext);
  std::vector<std::uint8_t> record(content + tls_record_overhead);
  std::size_t sealed =
      seal_record(sender, tls_application_data, {input.data(), content}, record.data());
  if (sealed != record.size()) std::abort();
  std::size_t where = 0;
  if (alter) {
    where = (content == 0 ? data[1] : input[0] + 256u * input[content / 2]) % record.size();
    record[where] ^= static_cast<std::uint8_t>(1 + (data[1] >> 2) % 255);
  }
  OpenedRecord opened = open_record(receiver, record);
  if (!alter) {
    if (opened.status != OpenedRecord::Status::opened || opened.type != tls_application_data ||
        opened.content.size() != content ||
        (content > 0 && std::memcmp(opened.content.data(), input.data(), content) != 0)) {
      std::abort();
    }
  } else if (opened.status == OpenedRecord::Status::opened) {
    std::abort();  // an altered record must never authenticate
  }
  return 0;
}
