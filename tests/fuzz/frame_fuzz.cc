// Fuzzes the client frame decoder: the input is a byte stream cut into length-prefixed frames,
// exactly as a connection reads it. Nothing may crash, read out of bounds or hang.
#include <cstdint>
#include <cstring>
#include <vector>

#include "proto/frame.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint64_t> aligned;  // payloads are read at 8-byte-aligned addresses
  while (size >= qim::proto::frame_header_bytes) {
    std::uint32_t length = qim::proto::decode_frame_length(data);
    data += qim::proto::frame_header_bytes;
    size -= qim::proto::frame_header_bytes;
    if (length > qim::proto::default_client_max_frame_bytes || length > size) return 0;
    aligned.assign((length + 7) / 8, 0);
    std::memcpy(aligned.data(), data, length);
    std::span<const std::uint8_t> payload(reinterpret_cast<const std::uint8_t*>(aligned.data()),
                                          length);
    qim::Error error;
    if (const auto* envelope = qim::proto::verify_envelope(payload, error)) {
      // Touch what every reader touches first.
      volatile auto req_id = envelope->req_id();
      volatile auto type = envelope->body_type();
      (void)req_id;
      (void)type;
    }
    data += length;
    size -= length;
  }
  return 0;
}
