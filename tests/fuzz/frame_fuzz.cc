// Fuzzes the client frame decoder: the input is a byte stream cut into length-prefixed frames,
// exactly as a connection reads it. Every frame that verifies is then read completely: once
// through the generated union accessors, as the session code reads it, and once field by
// field through the schema's reflection data, so that every string, vector and nested table
// the verifier accepted is actually dereferenced. Nothing may crash, read out of bounds or hang.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <flatbuffers/reflection.h>

#include "client_bfbs_generated.h"  // the schema as reflection data, generated at build time
#include "proto/frame.h"

namespace {

using namespace qim;

// Everything read is folded into this, so the reads cannot be optimised away.
struct Sink {
  std::uint64_t value = 0;
  void add(std::uint64_t x) { value = value * 1099511628211ull + x; }
  void add_bytes(const std::uint8_t* data, std::size_t size) {
    for (std::size_t i = 0; i < size; ++i)
      add(data[i]);
  }
};

// Deeper than any table in client.fbs; the verifier's own depth limit is lower still.
constexpr int max_walk_depth = 32;

const reflection::Schema& schema() {
  static const reflection::Schema* parsed =
      reflection::GetSchema(wire::EnvelopeBinarySchema::data());
  return *parsed;
}

void walk_table(const reflection::Object& object, const flatbuffers::Table& table, int depth,
                Sink& sink);

void walk_struct(const reflection::Object& object, const std::uint8_t* data, Sink& sink) {
  sink.add_bytes(data, static_cast<std::size_t>(object.bytesize()));
}

void walk_vector(const reflection::Field& field, const flatbuffers::Table& table, int depth,
                 Sink& sink) {
  const auto* vector = flatbuffers::GetFieldAnyV(table, field);
  if (!vector) return;
  const reflection::Type& type = *field.type();
  const auto element = type.element();
  sink.add(vector->size());
  for (flatbuffers::uoffset_t i = 0; i < vector->size(); ++i) {
    if (element == reflection::String) {
      const auto* text = flatbuffers::GetAnyVectorElemPointer<const flatbuffers::String>(vector, i);
      sink.add_bytes(text->Data(), text->size());
    } else if (element == reflection::Obj) {
      const reflection::Object& object = *schema().objects()->Get(type.index());
      if (object.is_struct()) {
        walk_struct(object, vector->Data() + i * object.bytesize(), sink);
      } else {
        const auto* nested =
            flatbuffers::GetAnyVectorElemPointer<const flatbuffers::Table>(vector, i);
        walk_table(object, *nested, depth + 1, sink);
      }
    } else if (element <= reflection::Double) {  // scalars
      sink.add(static_cast<std::uint64_t>(flatbuffers::GetAnyVectorElemI(vector, element, i)));
    } else {
      std::abort();  // vectors of unions or vectors: client.fbs has none; walk them if added
    }
  }
}

void walk_union(const reflection::Object& object, const reflection::Field& field,
                const flatbuffers::Table& table, int depth, Sink& sink) {
  // The type tag is the sibling field "<name>_type". Tags the schema does not list pass the
  // generated verifier (a newer peer may send them), so they must be skipped, not followed.
  std::string type_name = field.name()->str() + "_type";
  const reflection::Field* type_field = object.fields()->LookupByKey(type_name.c_str());
  if (!type_field) std::abort();
  auto tag = flatbuffers::GetAnyFieldI(table, *type_field);
  const reflection::Enum& union_enum = *schema().enums()->Get(field.type()->index());
  const reflection::EnumVal* member = union_enum.values()->LookupByKey(tag);
  const flatbuffers::Table* nested = flatbuffers::GetFieldT(table, field);
  if (!member || tag == 0 || !nested) return;
  walk_table(*schema().objects()->Get(member->union_type()->index()), *nested, depth + 1, sink);
}

void walk_table(const reflection::Object& object, const flatbuffers::Table& table, int depth,
                Sink& sink) {
  if (depth > max_walk_depth) std::abort();  // the verifier should have refused this frame
  for (const reflection::Field* field : *object.fields()) {
    const reflection::Type& type = *field->type();
    switch (type.base_type()) {
      case reflection::String:
        if (const auto* text = flatbuffers::GetFieldS(table, *field)) {
          sink.add_bytes(text->Data(), text->size());
        }
        break;
      case reflection::Vector:
        walk_vector(*field, table, depth, sink);
        break;
      case reflection::Obj: {
        const reflection::Object& nested_object = *schema().objects()->Get(type.index());
        if (nested_object.is_struct()) {
          if (const auto* nested = flatbuffers::GetFieldStruct(table, *field)) {
            walk_struct(nested_object, reinterpret_cast<const std::uint8_t*>(nested), sink);
          }
        } else if (const auto* nested = flatbuffers::GetFieldT(table, *field)) {
          walk_table(nested_object, *nested, depth, sink);
        }
        break;
      }
      case reflection::Union:
        walk_union(object, *field, table, depth, sink);
        break;
      default:
        if (type.base_type() > reflection::Double) std::abort();  // a kind added to FlatBuffers
        sink.add(static_cast<std::uint64_t>(flatbuffers::GetAnyFieldI(table, *field)));
        break;
    }
  }
}

// Every member of the Body union, in schema order. The static_assert below breaks the build
// when client.fbs gains a member that is missing here.
// clang-format off
#define QIM_BODY_TYPES(X) \
  X(Error) \
  X(Hello) \
  X(HelloOk) \
  X(Register) \
  X(Login) \
  X(LoginOk) \
  X(Logout) \
  X(ChangePassword) \
  X(Redirect) \
  X(Ok) \
  X(Ping) \
  X(Pong) \
  X(Send) \
  X(SendAck) \
  X(Deliver) \
  X(Ack) \
  X(Sync) \
  X(SyncResult) \
  X(Pull) \
  X(History) \
  X(MessageBatch) \
  X(FriendRequest) \
  X(FriendAccept) \
  X(FriendDecline) \
  X(FriendRemove) \
  X(FriendList) \
  X(FriendListResult) \
  X(FriendEvent) \
  X(PresenceEvent) \
  X(GroupCreate) \
  X(GroupAdd) \
  X(GroupRemove) \
  X(GroupSetRole) \
  X(GroupLeave) \
  X(GroupDissolve) \
  X(GroupMembers) \
  X(MyGroups) \
  X(GroupMembersResult) \
  X(MyGroupsResult) \
  X(GroupEvent) \
  X(OnlineUsers) \
  X(OnlineUsersResult) \
  X(Resync)
// clang-format on

#define QIM_COUNT_BODY(type) +1
static_assert(0 QIM_BODY_TYPES(QIM_COUNT_BODY) == static_cast<int>(wire::Body::MAX),
              "QIM_BODY_TYPES must list every member of wire::Body");

// Reads the body through the typed accessor the session code uses, and checks that exactly
// the accessor for the tagged type answers.
void read_typed_body(const wire::Envelope& envelope, Sink& sink) {
  int answered = 0;
#define QIM_READ_BODY(type)                                                  \
  if (const auto* body = envelope.body_as<wire::type>()) {                   \
    ++answered;                                                              \
    if (envelope.body_type() != wire::Body::type) std::abort();              \
    walk_table(*schema().objects()->LookupByKey("qim.wire." #type),          \
               *reinterpret_cast<const flatbuffers::Table*>(body), 1, sink); \
  }
  QIM_BODY_TYPES(QIM_READ_BODY)
#undef QIM_READ_BODY
  bool known = envelope.body_type() <= wire::Body::MAX;
  if (answered != (known ? 1 : 0)) std::abort();
  sink.add(static_cast<std::uint64_t>(envelope.body_type()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint64_t> aligned;  // payloads are read at 8-byte-aligned addresses
  Sink sink;
  while (size >= proto::frame_header_bytes) {
    std::uint32_t length = proto::decode_frame_length(data);
    data += proto::frame_header_bytes;
    size -= proto::frame_header_bytes;
    // A connection drops the stream here (FrameTooLarge) or waits for more bytes.
    if (length > proto::default_client_max_frame_bytes || length > size) break;
    aligned.assign((length + 7) / 8, 0);
    if (length > 0) std::memcpy(aligned.data(), data, length);
    std::span<const std::uint8_t> payload(reinterpret_cast<const std::uint8_t*>(aligned.data()),
                                          length);
    Error error;
    if (const auto* envelope = proto::verify_envelope(payload, error)) {
      sink.add(envelope->req_id());
      read_typed_body(*envelope, sink);
      walk_table(*schema().root_table(), *reinterpret_cast<const flatbuffers::Table*>(envelope), 0,
                 sink);
    } else if (error.code != errc::malformed || error.message.empty()) {
      std::abort();  // a refused frame must say why, as Malformed
    }
    data += length;
    size -= length;
  }
  volatile std::uint64_t keep = sink.value;
  (void)keep;
  return 0;
}
