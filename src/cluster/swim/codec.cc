#include "cluster/swim/codec.h"

#include <string_view>

namespace qim::cluster::swim {
namespace {

constexpr std::uint8_t kDatagramMagic = 'S';
constexpr std::uint8_t kStateMagic = 'P';
constexpr std::uint8_t kVersion = 1;

enum class MessageType : std::uint8_t {
  ping = 1,
  indirect_ping = 2,
  ack = 3,
  nack = 4,
  alive = 5,
  suspect = 6,
  dead = 7,
};

class Writer {
 public:
  explicit Writer(std::vector<std::uint8_t>& bytes) : bytes_(bytes) {}
  void u8(std::uint8_t value) { bytes_.push_back(value); }
  void u16(std::uint16_t value) { little_endian(value, 2); }
  void u32(std::uint32_t value) { little_endian(value, 4); }
  void u64(std::uint64_t value) { little_endian(value, 8); }
  void string(std::string_view text, std::size_t max_bytes) {
    if (text.size() > max_bytes) text = text.substr(0, max_bytes);
    u8(static_cast<std::uint8_t>(text.size()));
    bytes_.insert(bytes_.end(), text.begin(), text.end());
  }

 private:
  void little_endian(std::uint64_t value, int width) {
    for (int i = 0; i < width; ++i)
      bytes_.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
  }
  std::vector<std::uint8_t>& bytes_;
};

// Every read checks the remaining length; after the first failure all reads return zero and
// ok() stays false, so decoders can read a whole record and check once.
class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}
  bool ok() const { return ok_; }
  bool at_end() const { return position_ == bytes_.size(); }
  std::size_t remaining() const { return bytes_.size() - position_; }
  std::uint8_t u8() { return static_cast<std::uint8_t>(little_endian(1)); }
  std::uint16_t u16() { return static_cast<std::uint16_t>(little_endian(2)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(little_endian(4)); }
  std::uint64_t u64() { return little_endian(8); }
  std::string string(std::size_t max_bytes) {
    const std::size_t length = u8();
    if (!ok_ || length > max_bytes || length > remaining()) {
      ok_ = false;
      return {};
    }
    std::string text(reinterpret_cast<const char*>(bytes_.data() + position_), length);
    position_ += length;
    return text;
  }
  std::span<const std::uint8_t> take(std::size_t length) {
    if (!ok_ || length > remaining()) {
      ok_ = false;
      return {};
    }
    auto part = bytes_.subspan(position_, length);
    position_ += length;
    return part;
  }
  void fail() { ok_ = false; }

 private:
  std::uint64_t little_endian(std::size_t width) {
    if (!ok_ || width > remaining()) {
      ok_ = false;
      return 0;
    }
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < width; ++i) {
      value |= static_cast<std::uint64_t>(bytes_[position_ + i]) << (8 * i);
    }
    position_ += width;
    return value;
  }
  std::span<const std::uint8_t> bytes_;
  std::size_t position_ = 0;
  bool ok_ = true;
};

void write_meta(Writer& writer, const NodeMeta& meta) {
  writer.string(meta.client_address, kMaxAddressBytes);
  writer.string(meta.peer_address, kMaxAddressBytes);
  writer.u16(meta.protocol_version);
  if (meta.protocol_version >= 2) {
    writer.u64(meta.replica_id);
    writer.u64(meta.cluster_id);
    writer.u32(meta.partitions);
    writer.u8(meta.draining ? 1 : 0);
  }
  if (meta.protocol_version >= 3) writer.u16(meta.ws_port);
}

NodeMeta read_meta(Reader& reader) {
  NodeMeta meta;
  meta.client_address = reader.string(kMaxAddressBytes);
  meta.peer_address = reader.string(kMaxAddressBytes);
  meta.protocol_version = reader.u16();
  if (meta.protocol_version >= 2) {
    meta.replica_id = reader.u64();
    meta.cluster_id = reader.u64();
    meta.partitions = reader.u32();
    meta.draining = reader.u8() != 0;
  }
  if (meta.protocol_version >= 3) meta.ws_port = reader.u16();
  return meta;
}

struct BodyEncoder {
  Writer& writer;
  MessageType operator()(const Ping& ping) {
    writer.u32(ping.sequence);
    writer.string(ping.target_name, kMaxNameBytes);
    writer.string(ping.source_name, kMaxNameBytes);
    return MessageType::ping;
  }
  MessageType operator()(const IndirectPing& request) {
    writer.u32(request.sequence);
    writer.string(request.target_name, kMaxNameBytes);
    writer.string(request.target_address, kMaxAddressBytes);
    writer.u32(request.nack_after_ms);
    writer.u8(request.want_nack ? 1 : 0);
    return MessageType::indirect_ping;
  }
  MessageType operator()(const Ack& ack) {
    writer.u32(ack.sequence);
    return MessageType::ack;
  }
  MessageType operator()(const Nack& nack) {
    writer.u32(nack.sequence);
    return MessageType::nack;
  }
  MessageType operator()(const Alive& alive) {
    writer.string(alive.name, kMaxNameBytes);
    writer.string(alive.address, kMaxAddressBytes);
    write_meta(writer, alive.meta);
    writer.u64(alive.restart_epoch);
    writer.u32(alive.incarnation);
    return MessageType::alive;
  }
  MessageType operator()(const Suspect& suspect) {
    writer.string(suspect.name, kMaxNameBytes);
    writer.u64(suspect.restart_epoch);
    writer.u32(suspect.incarnation);
    writer.string(suspect.from_name, kMaxNameBytes);
    return MessageType::suspect;
  }
  MessageType operator()(const Dead& dead) {
    writer.string(dead.name, kMaxNameBytes);
    writer.u64(dead.restart_epoch);
    writer.u32(dead.incarnation);
    writer.string(dead.from_name, kMaxNameBytes);
    writer.u8(dead.left ? 1 : 0);
    return MessageType::dead;
  }
};

bool read_flag(Reader& reader) {
  const std::uint8_t flag = reader.u8();
  if (flag > 1) reader.fail();
  return flag == 1;
}

DecodeError decode_body(MessageType type, Reader& reader, Message& message) {
  switch (type) {
    case MessageType::ping: {
      Ping ping;
      ping.sequence = reader.u32();
      ping.target_name = reader.string(kMaxNameBytes);
      ping.source_name = reader.string(kMaxNameBytes);
      message = std::move(ping);
      break;
    }
    case MessageType::indirect_ping: {
      IndirectPing request;
      request.sequence = reader.u32();
      request.target_name = reader.string(kMaxNameBytes);
      request.target_address = reader.string(kMaxAddressBytes);
      request.nack_after_ms = reader.u32();
      request.want_nack = read_flag(reader);
      message = std::move(request);
      break;
    }
    case MessageType::ack:
      message = Ack{reader.u32()};
      break;
    case MessageType::nack:
      message = Nack{reader.u32()};
      break;
    case MessageType::alive: {
      Alive alive;
      alive.name = reader.string(kMaxNameBytes);
      alive.address = reader.string(kMaxAddressBytes);
      alive.meta = read_meta(reader);
      alive.restart_epoch = reader.u64();
      alive.incarnation = reader.u32();
      message = std::move(alive);
      break;
    }
    case MessageType::suspect: {
      Suspect suspect;
      suspect.name = reader.string(kMaxNameBytes);
      suspect.restart_epoch = reader.u64();
      suspect.incarnation = reader.u32();
      suspect.from_name = reader.string(kMaxNameBytes);
      message = std::move(suspect);
      break;
    }
    case MessageType::dead: {
      Dead dead;
      dead.name = reader.string(kMaxNameBytes);
      dead.restart_epoch = reader.u64();
      dead.incarnation = reader.u32();
      dead.from_name = reader.string(kMaxNameBytes);
      dead.left = read_flag(reader);
      message = std::move(dead);
      break;
    }
    default:
      return DecodeError::unknown_type;
  }
  if (!reader.ok()) return DecodeError::bad_length;
  if (!reader.at_end()) return DecodeError::bad_length;
  return DecodeError::none;
}

}  // namespace

const char* to_string(DecodeError error) {
  switch (error) {
    case DecodeError::none:
      return "none";
    case DecodeError::truncated:
      return "truncated";
    case DecodeError::bad_magic:
      return "bad magic";
    case DecodeError::bad_version:
      return "bad version";
    case DecodeError::unknown_type:
      return "unknown message type";
    case DecodeError::bad_length:
      return "bad length";
    case DecodeError::bad_value:
      return "bad value";
    case DecodeError::too_many:
      return "too many records";
  }
  return "unknown";
}

std::vector<std::uint8_t> encode_message(const Message& message) {
  std::vector<std::uint8_t> bytes = {0, 0, 0};  // Type and length, patched below.
  Writer writer(bytes);
  const MessageType type = std::visit(BodyEncoder{writer}, message);
  const std::size_t body_bytes = bytes.size() - 3;
  bytes[0] = static_cast<std::uint8_t>(type);
  bytes[1] = static_cast<std::uint8_t>(body_bytes);
  bytes[2] = static_cast<std::uint8_t>(body_bytes >> 8);
  return bytes;
}

DatagramBuilder::DatagramBuilder(std::size_t max_bytes) : max_bytes_(max_bytes) {
  bytes_.reserve(max_bytes < 2048 ? max_bytes : 2048);
  bytes_ = {kDatagramMagic, kVersion, 0};
}

bool DatagramBuilder::append(std::span<const std::uint8_t> encoded_message) {
  if (encoded_message.size() > remaining_bytes()) return false;
  if (bytes_[2] == kMaxMessagesPerDatagram) return false;
  bytes_.insert(bytes_.end(), encoded_message.begin(), encoded_message.end());
  ++bytes_[2];
  return true;
}

DecodeError decode_datagram(std::span<const std::uint8_t> bytes, std::vector<Message>& messages) {
  Reader reader(bytes);
  const std::uint8_t magic = reader.u8();
  const std::uint8_t version = reader.u8();
  const std::uint8_t count = reader.u8();
  if (!reader.ok()) return DecodeError::truncated;
  if (magic != kDatagramMagic) return DecodeError::bad_magic;
  if (version != kVersion) return DecodeError::bad_version;
  for (std::uint8_t i = 0; i < count; ++i) {
    const auto type = static_cast<MessageType>(reader.u8());
    const std::uint16_t length = reader.u16();
    auto body = reader.take(length);
    if (!reader.ok()) return DecodeError::truncated;
    Reader body_reader(body);
    Message message;
    if (auto error = decode_body(type, body_reader, message); error != DecodeError::none) {
      return error;
    }
    messages.push_back(std::move(message));
  }
  if (!reader.at_end()) return DecodeError::bad_length;
  return DecodeError::none;
}

std::vector<std::uint8_t> encode_state(const PushPullState& state) {
  std::vector<std::uint8_t> bytes;
  Writer writer(bytes);
  writer.u8(kStateMagic);
  writer.u8(kVersion);
  writer.u8(state.join ? 1 : 0);
  writer.u32(static_cast<std::uint32_t>(state.members.size()));
  for (const Member& member : state.members) {
    writer.string(member.name, kMaxNameBytes);
    writer.string(member.address, kMaxAddressBytes);
    write_meta(writer, member.meta);
    writer.u64(member.restart_epoch);
    writer.u32(member.incarnation);
    writer.u8(static_cast<std::uint8_t>(member.state));
  }
  return bytes;
}

DecodeError decode_state(std::span<const std::uint8_t> bytes, std::size_t max_members,
                         PushPullState& state) {
  Reader reader(bytes);
  const std::uint8_t magic = reader.u8();
  const std::uint8_t version = reader.u8();
  const bool join = read_flag(reader);
  const std::uint32_t count = reader.u32();
  if (!reader.ok()) return magic == kStateMagic ? DecodeError::truncated : DecodeError::bad_magic;
  if (magic != kStateMagic) return DecodeError::bad_magic;
  if (version != kVersion) return DecodeError::bad_version;
  if (count > max_members) return DecodeError::too_many;
  // Each record takes at least 19 bytes; a count the bytes cannot hold is rejected before any
  // allocation sized by it.
  constexpr std::size_t kMinRecordBytes = 1 + 1 + 1 + 1 + 2 + 8 + 4 + 1;
  if (count > reader.remaining() / kMinRecordBytes) return DecodeError::truncated;
  state.join = join;
  state.members.clear();
  state.members.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    Member member;
    member.name = reader.string(kMaxNameBytes);
    member.address = reader.string(kMaxAddressBytes);
    member.meta = read_meta(reader);
    member.restart_epoch = reader.u64();
    member.incarnation = reader.u32();
    const std::uint8_t member_state = reader.u8();
    if (!reader.ok()) return DecodeError::truncated;
    if (member_state > static_cast<std::uint8_t>(MemberState::left)) return DecodeError::bad_value;
    member.state = static_cast<MemberState>(member_state);
    state.members.push_back(std::move(member));
  }
  if (!reader.at_end()) return DecodeError::bad_length;
  return DecodeError::none;
}

}  // namespace qim::cluster::swim
