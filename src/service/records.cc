#include "service/records.h"

#include <cstring>
#include <memory>

#include "qim/schemas/store_generated.h"

namespace qim::service {
namespace {

// Bounds for the verifier: records are small and flat.
constexpr flatbuffers::uoffset_t max_depth = 8;
constexpr flatbuffers::uoffset_t max_tables = 4096;

// The bytes of a record at an 8-byte-aligned address: FlatBuffers reads scalars in place, and
// store values (RocksDB slices, scan views) carry no alignment guarantee.
class AlignedCopy {
 public:
  explicit AlignedCopy(std::string_view bytes) : size_(bytes.size()) {
    if (reinterpret_cast<std::uintptr_t>(bytes.data()) % 8 == 0) {
      data_ = reinterpret_cast<const std::uint8_t*>(bytes.data());
      return;
    }
    heap_ = std::make_unique<std::uint64_t[]>((bytes.size() + 7) / 8);
    std::memcpy(heap_.get(), bytes.data(), bytes.size());
    data_ = reinterpret_cast<const std::uint8_t*>(heap_.get());
  }
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  std::unique_ptr<std::uint64_t[]> heap_;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_;
};

template <typename Table>
const Table* verified_root(const AlignedCopy& copy) {
  if (copy.size() < 8) return nullptr;
  flatbuffers::Verifier verifier(copy.data(), copy.size(), max_depth, max_tables);
  if (!verifier.VerifyBuffer<Table>(nullptr)) return nullptr;
  return flatbuffers::GetRoot<Table>(copy.data());
}

std::string finish(flatbuffers::FlatBufferBuilder& fbb) {
  return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
}

std::string to_string(const flatbuffers::String* s) {
  return s ? std::string(s->data(), s->size()) : std::string();
}

}  // namespace

std::string encode(const AccountRecord& record) {
  flatbuffers::FlatBufferBuilder fbb(256 + record.tokens.size() * 96);
  std::vector<flatbuffers::Offset<store::TokenRecord>> tokens;
  tokens.reserve(record.tokens.size());
  for (const TokenEntry& token : record.tokens) {
    auto digest = fbb.CreateVector(token.digest.data(), token.digest.size());
    auto device = fbb.CreateString(token.device);
    tokens.push_back(
        store::CreateTokenRecord(fbb, digest, device, token.created_ms, token.last_used_ms));
  }
  auto hash = fbb.CreateString(record.password_hash);
  auto token_vector = fbb.CreateVector(tokens);
  fbb.Finish(store::CreateAccount(fbb, hash, record.created_ms, record.disabled, token_vector,
                                  record.hlc));
  return finish(fbb);
}

std::string encode(const FriendRecord& record) {
  flatbuffers::FlatBufferBuilder fbb(64);
  fbb.Finish(store::CreateFriend(fbb, static_cast<store::FriendState>(record.state),
                                 record.since_ms, record.hlc));
  return finish(fbb);
}

std::string encode(const MembershipRecord& record) {
  flatbuffers::FlatBufferBuilder fbb(96);
  auto peer = fbb.CreateString(record.peer);
  fbb.Finish(store::CreateMembership(fbb, peer, record.first_seq, record.joined_ms, record.hlc));
  return finish(fbb);
}

std::string encode(const GroupRecord& record) {
  flatbuffers::FlatBufferBuilder fbb(128);
  auto name = fbb.CreateString(record.name);
  auto owner = fbb.CreateString(record.owner);
  fbb.Finish(
      store::CreateGroup(fbb, name, owner, record.created_ms, record.member_count, record.hlc));
  return finish(fbb);
}

std::string encode(const MemberRecord& record) {
  flatbuffers::FlatBufferBuilder fbb(64);
  fbb.Finish(store::CreateMember(fbb, static_cast<store::GroupRole>(record.role), record.joined_seq,
                                 record.joined_ms, record.hlc));
  return finish(fbb);
}

std::string encode(const DedupRecord& record) {
  flatbuffers::FlatBufferBuilder fbb(48);
  fbb.Finish(store::CreateDedup(fbb, record.seq, record.server_time_ms));
  return finish(fbb);
}

std::string encode_cursor(std::uint64_t seq) {
  flatbuffers::FlatBufferBuilder fbb(32);
  fbb.Finish(store::CreateReadCursor(fbb, seq));
  return finish(fbb);
}

std::string encode_prune_cursor(std::string_view next_key) {
  flatbuffers::FlatBufferBuilder fbb(64 + next_key.size());
  auto bytes =
      fbb.CreateVector(reinterpret_cast<const std::uint8_t*>(next_key.data()), next_key.size());
  fbb.Finish(store::CreatePruneCursor(fbb, bytes));
  return finish(fbb);
}

bool decode_prune_cursor(std::string_view bytes, std::string& next_key) {
  AlignedCopy copy(bytes);
  const auto* root = verified_root<store::PruneCursor>(copy);
  if (!root) return false;
  const auto* key = root->next_key();
  next_key.assign(key ? reinterpret_cast<const char*>(key->data()) : "", key ? key->size() : 0);
  return true;
}

std::string encode_log_floor(std::uint64_t head_seq) {
  flatbuffers::FlatBufferBuilder fbb(32);
  fbb.Finish(store::CreateLogFloor(fbb, head_seq));
  return finish(fbb);
}

bool decode_log_floor(std::string_view bytes, std::uint64_t& head_seq) {
  AlignedCopy copy(bytes);
  const auto* root = verified_root<store::LogFloor>(copy);
  if (!root) return false;
  head_seq = root->head_seq();
  return true;
}

std::string encode_log_entry(const MessageView& message) {
  flatbuffers::FlatBufferBuilder fbb(128 + message.body.size() + message.sender.size() +
                                     message.sender_device.size());
  auto sender = fbb.CreateString(message.sender);
  auto device = fbb.CreateString(message.sender_device);
  auto body = fbb.CreateVector(reinterpret_cast<const std::uint8_t*>(message.body.data()),
                               message.body.size());
  fbb.Finish(store::CreateLogEntry(fbb, message.seq, sender, device, message.client_msg_id,
                                   message.server_time_ms, body));
  return finish(fbb);
}

bool decode(std::string_view bytes, AccountRecord& record) {
  AlignedCopy copy(bytes);
  const auto* root = verified_root<store::Account>(copy);
  if (!root) return false;
  record.password_hash = to_string(root->password_hash());
  record.created_ms = root->created_ms();
  record.disabled = root->disabled();
  record.hlc = root->hlc();
  record.tokens.clear();
  if (const auto* tokens = root->tokens()) {
    record.tokens.reserve(tokens->size());
    for (const store::TokenRecord* token : *tokens) {
      const auto* digest = token->digest();
      // A token with a digest of the wrong size can never match; drop it.
      if (!digest || digest->size() != 32) continue;
      TokenEntry& entry = record.tokens.emplace_back();
      std::memcpy(entry.digest.data(), digest->data(), 32);
      entry.device = to_string(token->device());
      entry.created_ms = token->created_ms();
      entry.last_used_ms = token->last_used_ms();
    }
  }
  return true;
}

bool decode(std::string_view bytes, FriendRecord& record) {
  AlignedCopy copy(bytes);
  const auto* root = verified_root<store::Friend>(copy);
  if (!root) return false;
  auto state = static_cast<std::uint8_t>(root->state());
  if (state > static_cast<std::uint8_t>(FriendState::accepted)) return false;
  record.state = static_cast<FriendState>(state);
  record.since_ms = root->since_ms();
  record.hlc = root->hlc();
  return true;
}

bool decode(std::string_view bytes, MembershipRecord& record) {
  AlignedCopy copy(bytes);
  const auto* root = verified_root<store::Membership>(copy);
  if (!root) return false;
  record.peer = to_string(root->peer());
  record.first_seq = root->first_seq();
  record.joined_ms = root->joined_ms();
  record.hlc = root->hlc();
  return true;
}

bool decode(std::string_view bytes, GroupRecord& record) {
  AlignedCopy copy(bytes);
  const auto* root = verified_root<store::Group>(copy);
  if (!root) return false;
  record.name = to_string(root->name());
  record.owner = to_string(root->owner());
  record.created_ms = root->created_ms();
  record.member_count = root->member_count();
  record.hlc = root->hlc();
  return true;
}

bool decode(std::string_view bytes, MemberRecord& record) {
  AlignedCopy copy(bytes);
  const auto* root = verified_root<store::Member>(copy);
  if (!root) return false;
  auto role = static_cast<std::uint8_t>(root->role());
  if (role > static_cast<std::uint8_t>(GroupRole::owner)) return false;
  record.role = static_cast<GroupRole>(role);
  record.joined_seq = root->joined_seq();
  record.joined_ms = root->joined_ms();
  record.hlc = root->hlc();
  return true;
}

bool decode(std::string_view bytes, DedupRecord& record) {
  AlignedCopy copy(bytes);
  const auto* root = verified_root<store::Dedup>(copy);
  if (!root) return false;
  record.seq = root->seq();
  record.server_time_ms = root->server_time_ms();
  return true;
}

bool decode_cursor(std::string_view bytes, std::uint64_t& seq) {
  AlignedCopy copy(bytes);
  const auto* root = verified_root<store::ReadCursor>(copy);
  if (!root) return false;
  seq = root->seq();
  return true;
}

bool decode_log_entry(std::string_view bytes, Message& message) {
  AlignedCopy copy(bytes);
  const auto* root = verified_root<store::LogEntry>(copy);
  if (!root) return false;
  message.seq = root->seq();
  message.sender = to_string(root->sender());
  message.sender_device = to_string(root->sender_device());
  message.client_msg_id = root->client_msg_id();
  message.server_time_ms = root->server_time_ms();
  const auto* body = root->body();
  if (body) {
    message.body.assign(reinterpret_cast<const char*>(body->data()), body->size());
  } else {
    message.body.clear();
  }
  return true;
}

}  // namespace qim::service
