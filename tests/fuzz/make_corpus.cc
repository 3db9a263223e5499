// Writes a seed corpus of valid client frames for the fuzzers: one frame per file, one file
// per body shape (requests, replies and pushes, so nested tables and vectors are covered), and
// one file that is a whole session's stream of frames.
#include <cstdio>
#include <string>
#include <vector>

#include "proto/frame.h"
#include "proto/peer_frame.h"

namespace {

void write(const std::string& directory, const std::string& name,
           std::span<const std::uint8_t> frame) {
  std::string path = directory + "/" + name;
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (!file) return;
  std::fwrite(frame.data(), 1, frame.size(), file);
  std::fclose(file);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace qim;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIRECTORY\n", argv[0]);
    return 2;
  }
  std::string directory = argv[1];
  proto::FrameBuilder b;
  auto& f = b.fbb();

  write(directory, "ping", b.finish(7, wire::CreatePing(f, 42)));
  b.reset();
  {
    auto to = f.CreateString("bob");
    auto body = f.CreateVector(std::vector<std::uint8_t>{'h', 'i'});
    write(directory, "send-user", b.finish(8, wire::CreateSend(f, to, 0, 1, body)));
  }
  b.reset();
  {
    auto group = f.CreateString("team");
    auto body = f.CreateVector(std::vector<std::uint8_t>{'y', 'o'});
    write(directory, "send-group", b.finish(9, wire::CreateSend(f, 0, group, 2, body)));
  }
  b.reset();
  {
    auto group = f.CreateString("team");
    auto name = f.CreateString("Team");
    auto bob = f.CreateString("bob");
    auto members = f.CreateVector(&bob, 1);
    write(directory, "group-create",
          b.finish(10, wire::CreateGroupCreate(f, group, name, members)));
  }
  b.reset();
  {
    auto conversation = f.CreateString("d:alice:bob");
    write(directory, "pull", b.finish(11, wire::CreatePull(f, conversation, 0, 10)));
  }
  b.reset();
  {
    auto conversation = f.CreateString("d:alice:bob");
    write(directory, "history", b.finish(12, wire::CreateHistory(f, conversation, 0, 10)));
  }
  b.reset();
  {
    auto user = f.CreateString("bob");
    write(directory, "friend-request", b.finish(13, wire::CreateFriendRequest(f, user)));
  }
  b.reset();
  write(directory, "sync", b.finish(14, wire::CreateSync(f)));
  b.reset();
  {
    auto after = f.CreateString("");
    write(directory, "online", b.finish(15, wire::CreateOnlineUsers(f, after, 10)));
  }
  b.reset();
  {
    auto name = f.CreateString("qim 0.1.0");
    write(directory, "hello", b.finish(1, wire::CreateHello(f, proto::protocol_version, name)));
  }
  b.reset();
  {
    auto user = f.CreateString("alice");
    auto password = f.CreateString("password-1");
    write(directory, "register", b.finish(2, wire::CreateRegister(f, user, password)));
  }
  b.reset();
  {
    auto user = f.CreateString("alice");
    auto token = f.CreateString(std::string(43, 'A'));
    auto device = f.CreateString("laptop");
    write(directory, "login-token", b.finish(3, wire::CreateLogin(f, user, 0, token, device)));
  }
  b.reset();
  write(directory, "error", b.error(4, errc::not_found, "no such user: bob"));
  b.reset();
  {
    auto version = f.CreateString("0.1.0");
    auto node = f.CreateString("n1");
    write(directory, "hello-ok",
          b.finish(1, wire::CreateHelloOk(f, 1, version, node, 65536, 16384, 1700000000000)));
  }
  b.reset();
  {
    auto user = f.CreateString("alice");
    auto device = f.CreateString("laptop");
    auto token = f.CreateString(std::string(43, 'A'));
    auto node = f.CreateString("n1");
    write(directory, "login-ok",
          b.finish(3, wire::CreateLoginOk(f, user, device, token, node, 1700000000000)));
  }
  b.reset();
  {
    auto conversation = f.CreateString("d:alice:bob");
    auto sender = f.CreateString("bob");
    auto device = f.CreateString("phone");
    auto body = f.CreateVector(std::vector<std::uint8_t>{'h', 'e', 'y'});
    auto message = wire::CreateMessage(f, conversation, 7, sender, device, 99, 1700000000000, body);
    write(directory, "deliver", b.finish(0, wire::CreateDeliver(f, message)));
  }
  b.reset();
  {
    std::vector<flatbuffers::Offset<wire::Message>> messages;
    for (std::uint64_t seq = 1; seq <= 3; ++seq) {
      auto conversation = f.CreateString("g:team");
      auto sender = f.CreateString("carol");
      auto device = f.CreateString("d");
      auto body = f.CreateVector(std::vector<std::uint8_t>(seq, 'x'));
      messages.push_back(
          wire::CreateMessage(f, conversation, seq, sender, device, seq, 1700000000000, body));
    }
    auto conversation = f.CreateString("g:team");
    auto vector = f.CreateVector(messages);
    write(directory, "message-batch",
          b.finish(11, wire::CreateMessageBatch(f, conversation, vector, true)));
  }
  b.reset();
  {
    auto conversation = f.CreateString("d:alice:bob");
    auto peer = f.CreateString("bob");
    auto state = wire::CreateConversationState(f, conversation, 9, 4, 1, peer);
    auto vector = f.CreateVector(&state, 1);
    write(directory, "sync-result", b.finish(14, wire::CreateSyncResult(f, vector)));
  }
  b.reset();
  {
    auto bob = f.CreateString("bob");
    auto carol = f.CreateString("carol");
    std::vector<flatbuffers::Offset<wire::Friend>> friends{
        wire::CreateFriend(f, bob, wire::FriendState::Accepted, true),
        wire::CreateFriend(f, carol, wire::FriendState::PendingIn, false)};
    auto vector = f.CreateVector(friends);
    write(directory, "friend-list-result", b.finish(16, wire::CreateFriendListResult(f, vector)));
  }
  b.reset();
  {
    auto group = f.CreateString("team");
    auto name = f.CreateString("Team");
    auto owner = f.CreateString("alice");
    auto info = wire::CreateGroupInfo(f, group, name, owner, 2, wire::GroupRole::Owner, 1);
    auto bob = f.CreateString("bob");
    auto member = wire::CreateGroupMember(f, bob, wire::GroupRole::Member, true, 3);
    auto members = f.CreateVector(&member, 1);
    write(directory, "group-members-result",
          b.finish(17, wire::CreateGroupMembersResult(f, info, members)));
  }
  b.reset();
  {
    auto group = f.CreateString("team");
    auto bob = f.CreateString("bob");
    auto carol = f.CreateString("carol");
    std::vector<flatbuffers::Offset<flatbuffers::String>> users{bob, carol};
    auto vector = f.CreateVector(users);
    write(directory, "group-add", b.finish(18, wire::CreateGroupAdd(f, group, vector)));
  }
  b.reset();
  {
    auto group = f.CreateString("team");
    auto bob = f.CreateString("bob");
    write(directory, "group-set-role",
          b.finish(19, wire::CreateGroupSetRole(f, group, bob, wire::GroupRole::Admin)));
  }
  b.reset();
  {
    auto bob = f.CreateString("bob");
    std::vector<flatbuffers::Offset<flatbuffers::String>> users{bob};
    auto vector = f.CreateVector(users);
    write(directory, "online-result",
          b.finish(20, wire::CreateOnlineUsersResult(f, 1, vector, false)));
  }

  // A whole session in one stream: the fuzzers cut their input into frames the same way.
  std::vector<std::uint8_t> stream;
  auto append = [&](std::span<const std::uint8_t> frame) {
    stream.insert(stream.end(), frame.begin(), frame.end());
    b.reset();
  };
  b.reset();
  {
    auto name = f.CreateString("qim");
    append(b.finish(1, wire::CreateHello(f, proto::protocol_version, name)));
  }
  {
    auto user = f.CreateString("carol");
    auto password = f.CreateString("password-2");
    append(b.finish(2, wire::CreateRegister(f, user, password)));
  }
  {
    auto to = f.CreateString("alice");
    auto body = f.CreateVector(std::vector<std::uint8_t>{'o', 'k'});
    append(b.finish(3, wire::CreateSend(f, to, 0, 5, body)));
  }
  append(b.finish(4, wire::CreateSync(f)));
  {
    auto conversation = f.CreateString("d:alice:carol");
    append(b.finish(5, wire::CreateAck(f, conversation, 1)));
  }
  append(b.finish(6, wire::CreateLogout(f, true)));
  write(directory, "stream-session", stream);

  // Peer link seeds for qim_fuzz_peer_frame: a path byte, then length-prefixed plaintexts
  // (see peer_frame_fuzz.cc). 0: a hello from member "a", then session frames; 1: the answer
  // of node "b", then session frames.
  proto::PeerFrameBuilder peer;
  auto& pf = peer.fbb();
  auto peer_stream = [&](std::uint8_t path, std::vector<std::vector<std::uint8_t>> frames) {
    std::vector<std::uint8_t> bytes{path};
    for (const auto& frame : frames) {
      std::uint8_t header[proto::frame_header_bytes];
      proto::encode_frame_length(static_cast<std::uint32_t>(frame.size()), header);
      bytes.insert(bytes.end(), header, header + sizeof header);
      bytes.insert(bytes.end(), frame.begin(), frame.end());
    }
    return bytes;
  };
  std::vector<std::uint8_t> challenge(proto::peer_challenge_bytes, 0xaa);
  peer.reset();
  std::vector<std::uint8_t> hello;
  {
    auto name = pf.CreateString("a");
    auto bytes = pf.CreateVector(challenge);
    auto address = pf.CreateString("127.0.0.1:7703");
    hello = peer.finish_owned(
        0, peer_wire::PeerKind::Request,
        peer_wire::CreatePeerHello(pf, name, 1, proto::peer_protocol_version, bytes, address));
  }
  peer.reset();
  std::vector<std::uint8_t> hello_ok;
  {
    auto name = pf.CreateString("b");
    auto bytes = pf.CreateVector(std::vector<std::uint8_t>(proto::peer_challenge_bytes, 0xbb));
    hello_ok = peer.finish_owned(
        0, peer_wire::PeerKind::Reply,
        peer_wire::CreatePeerHelloOk(pf, name, 2, proto::peer_protocol_version, bytes));
  }
  auto error = peer.error(9, peer_wire::PeerKind::Reply, errc::not_member, "not a member");
  auto ping = peer.ping(1);
  auto pong = peer.pong(1);
  write(directory, "peer-accept", peer_stream(0, {hello, ping, error, pong}));
  write(directory, "peer-dial", peer_stream(1, {hello_ok, pong, error, ping}));
  write(directory, "peer-refused", peer_stream(1, {error}));
  return 0;
}
