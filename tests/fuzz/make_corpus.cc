// Writes a seed corpus of valid client frames (one file each) for the fuzzers.
#include <cstdio>
#include <string>

#include "proto/frame.h"

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
  return 0;
}
