// Friends, groups and online users.
#include <vector>

#include "session/session.h"

namespace qim::session {
namespace {

// The strings of a wire vector, viewed (valid while the frame is).
std::vector<std::string_view> views(
    const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>* strings) {
  std::vector<std::string_view> result;
  if (!strings) return result;
  result.reserve(strings->size());
  for (const flatbuffers::String* s : *strings)
    result.push_back(proto::view(s));
  return result;
}

flatbuffers::Offset<wire::GroupInfo> build_group_info(flatbuffers::FlatBufferBuilder& fbb,
                                                      const service::GroupInfo& info) {
  auto group = fbb.CreateString(info.group);
  auto name = fbb.CreateString(info.name);
  auto owner = fbb.CreateString(info.owner);
  return wire::CreateGroupInfo(fbb, group, name, owner, info.member_count,
                               static_cast<wire::GroupRole>(info.role), info.created_ms);
}

}  // namespace

void Session::on_friend(std::uint32_t req_id, wire::Body type, const flatbuffers::String* user) {
  if (!take_write_budget(req_id)) return;
  std::string_view other = proto::view(user);
  service::Friends& friends = service_.friends();
  call<Error>(
      req_id,
      [&](auto done) {
        switch (type) {
          case wire::Body::FriendRequest:
            return friends.request(caller(), other, std::move(done));
          case wire::Body::FriendAccept:
            return friends.accept(caller(), other, std::move(done));
          case wire::Body::FriendDecline:
            return friends.decline(caller(), other, std::move(done));
          default:
            return friends.remove(caller(), other, std::move(done));
        }
      },
      [this, req_id](const Error& error) { send_status(req_id, error); });
}

void Session::on_friend_list(std::uint32_t req_id) {
  auto result = service_.friends().list(caller());
  if (!result.ok()) return send_error(req_id, result.error);
  auto& fbb = builder_.fbb();
  builder_.reset();
  std::vector<flatbuffers::Offset<wire::Friend>> friends;
  friends.reserve(result.value.size());
  for (const service::FriendEntry& entry : result.value) {
    auto name = fbb.CreateString(entry.user);
    friends.push_back(
        wire::CreateFriend(fbb, name, static_cast<wire::FriendState>(entry.state), entry.online));
  }
  auto vector = fbb.CreateVector(friends);
  send_frame(builder_.finish(req_id, wire::CreateFriendListResult(fbb, vector)));
}

void Session::on_group_create(std::uint32_t req_id, const wire::GroupCreate& request) {
  if (!take_write_budget(req_id)) return;
  call<Error>(
      req_id,
      [&](auto done) {
        service_.groups().create(caller(), proto::view(request.group()),
                                 proto::view(request.name()), views(request.members()),
                                 std::move(done));
      },
      [this, req_id](const Error& error) { send_status(req_id, error); });
}

void Session::on_group_add(std::uint32_t req_id, const wire::GroupAdd& request) {
  if (!take_write_budget(req_id)) return;
  call<Error>(
      req_id,
      [&](auto done) {
        service_.groups().add(caller(), proto::view(request.group()), views(request.users()),
                              std::move(done));
      },
      [this, req_id](const Error& error) { send_status(req_id, error); });
}

void Session::on_group_remove(std::uint32_t req_id, const wire::GroupRemove& request) {
  if (!take_write_budget(req_id)) return;
  call<Error>(
      req_id,
      [&](auto done) {
        service_.groups().remove(caller(), proto::view(request.group()),
                                 proto::view(request.user()), std::move(done));
      },
      [this, req_id](const Error& error) { send_status(req_id, error); });
}

void Session::on_group_set_role(std::uint32_t req_id, const wire::GroupSetRole& request) {
  if (!take_write_budget(req_id)) return;
  auto role = static_cast<std::uint8_t>(request.role());
  if (role > static_cast<std::uint8_t>(service::GroupRole::owner)) {
    return send_error(req_id, errc::invalid_argument, "role: unknown role");
  }
  call<Error>(
      req_id,
      [&](auto done) {
        service_.groups().set_role(caller(), proto::view(request.group()),
                                   proto::view(request.user()),
                                   static_cast<service::GroupRole>(role), std::move(done));
      },
      [this, req_id](const Error& error) { send_status(req_id, error); });
}

void Session::on_group_leave(std::uint32_t req_id, const wire::GroupLeave& request) {
  if (!take_write_budget(req_id)) return;
  call<Error>(
      req_id,
      [&](auto done) {
        service_.groups().leave(caller(), proto::view(request.group()), std::move(done));
      },
      [this, req_id](const Error& error) { send_status(req_id, error); });
}

void Session::on_group_dissolve(std::uint32_t req_id, const wire::GroupDissolve& request) {
  if (!take_write_budget(req_id)) return;
  call<Error>(
      req_id,
      [&](auto done) {
        service_.groups().dissolve(caller(), proto::view(request.group()), std::move(done));
      },
      [this, req_id](const Error& error) { send_status(req_id, error); });
}

void Session::on_group_members(std::uint32_t req_id, const wire::GroupMembers& request) {
  auto result = service_.groups().members(caller(), proto::view(request.group()));
  if (!result.ok()) return send_error(req_id, result.error);
  auto& fbb = builder_.fbb();
  builder_.reset();
  std::vector<flatbuffers::Offset<wire::GroupMember>> members;
  members.reserve(result.value.members.size());
  for (const service::GroupMemberEntry& member : result.value.members) {
    auto name = fbb.CreateString(member.user);
    members.push_back(wire::CreateGroupMember(fbb, name, static_cast<wire::GroupRole>(member.role),
                                              member.online, member.joined_seq));
  }
  auto info = build_group_info(fbb, result.value.info);
  auto vector = fbb.CreateVector(members);
  send_frame(builder_.finish(req_id, wire::CreateGroupMembersResult(fbb, info, vector)));
}

void Session::on_my_groups(std::uint32_t req_id) {
  auto result = service_.groups().my_groups(caller());
  if (!result.ok()) return send_error(req_id, result.error);
  auto& fbb = builder_.fbb();
  builder_.reset();
  std::vector<flatbuffers::Offset<wire::GroupInfo>> groups;
  groups.reserve(result.value.size());
  for (const service::GroupInfo& info : result.value)
    groups.push_back(build_group_info(fbb, info));
  auto vector = fbb.CreateVector(groups);
  send_frame(builder_.finish(req_id, wire::CreateMyGroupsResult(fbb, vector)));
}

void Session::on_online_users(std::uint32_t req_id, const wire::OnlineUsers& request) {
  std::string after(proto::view(request.after()));
  std::uint32_t limit = service_.online_page_limit(request.limit());
  service::OnlinePage here = service_.online_users(after, limit);
  service::ClusterQueries* cluster = service_.cluster();
  if (cluster == nullptr) return send_online_page(req_id, here);
  auto complete = begin_remote(req_id);
  if (!complete) return;
  // The connection, and so this Session, lives until `complete` has been called.
  cluster->online_elsewhere(
      std::move(after), limit,
      [this, req_id, limit, complete,
       here = std::move(here)](std::vector<service::OnlinePage> pages) mutable {
        pages.push_back(std::move(here));
        complete([this, req_id, merged = service::merge_online_pages(pages, limit)] {
          send_online_page(req_id, merged);
        });
      });
}

void Session::send_online_page(std::uint32_t req_id, const service::OnlinePage& page) {
  auto& fbb = builder_.fbb();
  builder_.reset();
  std::vector<flatbuffers::Offset<flatbuffers::String>> users;
  users.reserve(page.users.size());
  for (const std::string& user : page.users)
    users.push_back(fbb.CreateString(user));
  auto vector = fbb.CreateVector(users);
  send_frame(
      builder_.finish(req_id, wire::CreateOnlineUsersResult(fbb, page.total, vector, page.more)));
}

}  // namespace qim::session
