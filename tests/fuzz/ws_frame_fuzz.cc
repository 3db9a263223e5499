// Fuzzes the WebSocket frame decoder: any bytes, cut into pieces where the input says (as
// reads cut them), under a small message cap. Every event's payload must lie within what was
// fed or the decoder's own bounded buffers; messages never exceed the cap; nothing is held
// once the input ends on a frame boundary; a refusal says why; and after a close or a refusal
// nothing more is decoded.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "net/ws_frame.h"

using namespace qim::net;

namespace {
constexpr std::uint32_t cap = 4096;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  std::size_t step = 1 + data[0] % 64;
  std::vector<std::uint8_t> input(data + 1, data + size);
  WsDecoder decoder(cap);
  std::uint64_t checksum = 0;
  bool ended = false;
  for (std::size_t at = 0; at < input.size(); at += step) {
    std::span<std::uint8_t> piece(input.data() + at, std::min(step, input.size() - at));
    for (;;) {
      std::size_t before = piece.size();
      WsEvent event = decoder.next(piece);
      if (piece.size() > before) std::abort();
      if (event.kind == WsEvent::Kind::need_more) {
        if (!piece.empty()) std::abort();  // need_more only once everything is taken
        break;
      }
      if (ended && !event.payload.empty()) std::abort();
      switch (event.kind) {
        case WsEvent::Kind::message:
          if (event.payload.empty() || event.payload.size() > cap) std::abort();
          break;
        case WsEvent::Kind::ping:
        case WsEvent::Kind::pong:
          if (event.payload.size() > ws_max_control_payload) std::abort();
          break;
        case WsEvent::Kind::close:
        case WsEvent::Kind::fail:
          if (event.kind == WsEvent::Kind::fail && event.reason.empty()) std::abort();
          ended = true;
          break;
        case WsEvent::Kind::need_more:
          break;
      }
      for (std::uint8_t byte : event.payload)
        checksum = checksum * 31 + byte;  // every payload byte is readable
      if (ended) break;
    }
    if (ended) break;
  }
  if (ended) {
    std::span<std::uint8_t> more(input.data(), input.size());
    WsEvent again = decoder.next(more);
    if (again.kind == WsEvent::Kind::message || !again.payload.empty()) std::abort();
  }
  // Keeps the reads above from being optimised away.
  volatile std::uint64_t sink = checksum;
  (void)sink;
  return 0;
}
