#include <catch2/catch.hpp>

#include "session_test_fixture.h"

using namespace qim;
using namespace qim::testing;
using wire::Body;

namespace {

std::vector<std::pair<std::string, wire::FriendEventKind>> friend_events(
    const std::vector<Frame>& pushes) {
  std::vector<std::pair<std::string, wire::FriendEventKind>> events;
  for (const Frame& frame : pushes) {
    if (const auto* event = frame.envelope->body_as_FriendEvent()) {
      events.emplace_back(std::string(proto::view(event->user())), event->kind());
    }
  }
  return events;
}

std::vector<std::pair<std::string, bool>> presence(const std::vector<Frame>& pushes) {
  std::vector<std::pair<std::string, bool>> events;
  for (const Frame& frame : pushes) {
    if (const auto* event = frame.envelope->body_as_PresenceEvent()) {
      events.emplace_back(std::string(proto::view(event->user())), event->online());
    }
  }
  return events;
}

std::vector<wire::GroupEventKind> group_events(const std::vector<Frame>& pushes) {
  std::vector<wire::GroupEventKind> kinds;
  for (const Frame& frame : pushes) {
    if (const auto* event = frame.envelope->body_as_GroupEvent()) kinds.push_back(event->kind());
  }
  return kinds;
}

Frame group_create(Client& client, const std::string& group,
                   const std::vector<std::string>& members) {
  return client.request([&](auto& fbb) {
    std::vector<flatbuffers::Offset<flatbuffers::String>> names;
    for (const auto& m : members)
      names.push_back(fbb.CreateString(m));
    return wire::CreateGroupCreateDirect(fbb, group.c_str(), "The Group", &names);
  });
}

Frame group_add(Client& client, const std::string& group, const std::vector<std::string>& users) {
  return client.request([&](auto& fbb) {
    std::vector<flatbuffers::Offset<flatbuffers::String>> names;
    for (const auto& u : users)
      names.push_back(fbb.CreateString(u));
    return wire::CreateGroupAddDirect(fbb, group.c_str(), &names);
  });
}

Frame group_remove(Client& client, const std::string& group, const std::string& user) {
  return client.request(
      [&](auto& fbb) { return wire::CreateGroupRemoveDirect(fbb, group.c_str(), user.c_str()); });
}

Frame group_set_role(Client& client, const std::string& group, const std::string& user,
                     wire::GroupRole role) {
  return client.request([&](auto& fbb) {
    return wire::CreateGroupSetRoleDirect(fbb, group.c_str(), user.c_str(), role);
  });
}

Frame group_members(Client& client, const std::string& group) {
  return client.request(
      [&](auto& fbb) { return wire::CreateGroupMembersDirect(fbb, group.c_str()); });
}

Frame friend_list(Client& client) {
  return client.request([](auto& fbb) { return wire::CreateFriendList(fbb); });
}

}  // namespace

TEST_CASE("friends: request, accept, list with presence; events pushed", "[friends]") {
  World world;
  auto alice = world.login("alice");
  auto bob = world.login("bob");
  CHECK(alice->friend_request("alice").error_code() == errc::invalid_argument);
  CHECK(alice->friend_request("nobody").error_code() == errc::not_found);
  REQUIRE(alice->friend_request("bob").type() == Body::Ok);
  CHECK(alice->friend_request("bob").error_code() == errc::already_exists);
  CHECK(friend_events(bob->take_pushes()) ==
        std::vector<std::pair<std::string, wire::FriendEventKind>>{
            {"alice", wire::FriendEventKind::Requested}});
  CHECK(alice->friend_accept("bob").error_code() == errc::not_found);  // alice asked, not bob

  Frame list = friend_list(*bob);
  const auto* friends = list.envelope->body_as_FriendListResult()->friends();
  REQUIRE(friends->size() == 1);
  CHECK(friends->Get(0)->state() == wire::FriendState::PendingIn);
  CHECK_FALSE(friends->Get(0)->online());

  REQUIRE(bob->friend_accept("alice").type() == Body::Ok);
  auto alice_pushes = alice->take_pushes();
  CHECK(friend_events(alice_pushes) == std::vector<std::pair<std::string, wire::FriendEventKind>>{
                                           {"bob", wire::FriendEventKind::Accepted}});
  CHECK(presence(alice_pushes) == std::vector<std::pair<std::string, bool>>{{"bob", true}});
  CHECK(presence(bob->take_pushes()) == std::vector<std::pair<std::string, bool>>{{"alice", true}});
  CHECK(bob->friend_request("alice").error_code() == errc::already_exists);

  list = friend_list(*alice);
  friends = list.envelope->body_as_FriendListResult()->friends();
  REQUIRE(friends->size() == 1);
  CHECK(proto::view(friends->Get(0)->user()) == "bob");
  CHECK(friends->Get(0)->state() == wire::FriendState::Accepted);
  CHECK(friends->Get(0)->online());
}

TEST_CASE("friends: crossing requests accept; decline and remove notify", "[friends]") {
  World world;
  auto alice = world.login("alice");
  auto bob = world.login("bob");
  auto carol = world.login("carol");
  REQUIRE(alice->friend_request("bob").type() == Body::Ok);
  REQUIRE(bob->friend_request("alice").type() == Body::Ok);  // accepts alice's request
  CHECK(friend_events(alice->take_pushes()).back().second == wire::FriendEventKind::Accepted);
  CHECK(bob->send_to_user("alice", 1, "now friends").type() == Body::SendAck);

  REQUIRE(carol->friend_request("alice").type() == Body::Ok);
  alice->take_pushes();
  CHECK(alice->request([](auto& fbb) { return wire::CreateFriendDeclineDirect(fbb, "carol"); })
            .type() == Body::Ok);
  CHECK(friend_events(carol->take_pushes()).back().second == wire::FriendEventKind::Declined);
  CHECK(friend_list(*carol).envelope->body_as_FriendListResult()->friends()->size() == 0);

  CHECK(
      alice->request([](auto& fbb) { return wire::CreateFriendRemoveDirect(fbb, "bob"); }).type() ==
      Body::Ok);
  CHECK(friend_events(bob->take_pushes()).back().second == wire::FriendEventKind::Removed);
  CHECK(bob->send_to_user("alice", 2, "still there?").error_code() == errc::not_friends);
  CHECK(alice->request([](auto& fbb) { return wire::CreateFriendRemoveDirect(fbb, "bob"); })
            .error_code() == errc::not_found);
}

TEST_CASE("friends: the friend limit applies to both sides", "[friends]") {
  service::Options options = test_options();
  options.max_friends = 1;
  World world(options);
  auto alice = world.login("alice");
  auto bob = world.login("bob");
  auto carol = world.login("carol");
  REQUIRE(alice->friend_request("bob").type() == Body::Ok);
  CHECK(alice->friend_request("carol").error_code() == errc::limit_exceeded);
  CHECK(carol->friend_request("bob").error_code() == errc::limit_exceeded);
}

TEST_CASE("presence: first session online and last session offline reach accepted friends",
          "[presence]") {
  World world;
  auto alice = world.login("alice");
  auto bob = world.login("bob");
  auto carol = world.login("carol");
  world.befriend(*alice, "alice", *bob, "bob");
  REQUIRE(carol->friend_request("alice").type() == Body::Ok);  // pending: no presence
  alice->take_pushes();

  bob->close();
  CHECK(presence(alice->take_pushes()) ==
        std::vector<std::pair<std::string, bool>>{{"bob", false}});
  auto bob_phone = world.login("bob", "phone");
  auto bob_laptop = world.login("bob", "laptop");
  CHECK(presence(alice->take_pushes()) == std::vector<std::pair<std::string, bool>>{{"bob", true}});
  bob_phone->close();
  CHECK(presence(alice->take_pushes()).empty());  // bob is still online on the laptop
  bob_laptop->close();
  CHECK(presence(alice->take_pushes()) ==
        std::vector<std::pair<std::string, bool>>{{"bob", false}});
  CHECK(presence(carol->take_pushes()).empty());
}

TEST_CASE("online users: sorted pages with a total", "[presence]") {
  World world;
  std::vector<std::unique_ptr<Client>> clients;
  for (const char* user : {"erin", "bob", "dave", "alice", "carol"}) {
    clients.push_back(world.login(user));
  }
  auto anonymous = world.connect();
  auto page = [&](const std::string& after, std::uint32_t limit) {
    return clients[0]->request(
        [&](auto& fbb) { return wire::CreateOnlineUsersDirect(fbb, after.c_str(), limit); });
  };
  auto names = [](const Frame& frame) {
    std::vector<std::string> users;
    for (const auto* user : *frame.envelope->body_as_OnlineUsersResult()->users()) {
      users.emplace_back(proto::view(user));
    }
    return users;
  };
  Frame first = page("", 2);
  CHECK(first.envelope->body_as_OnlineUsersResult()->total() == 5);
  CHECK(names(first) == std::vector<std::string>{"alice", "bob"});
  CHECK(first.envelope->body_as_OnlineUsersResult()->more());
  Frame second = page("bob", 2);
  CHECK(names(second) == std::vector<std::string>{"carol", "dave"});
  Frame last = page("dave", 0);
  CHECK(names(last) == std::vector<std::string>{"erin"});
  CHECK_FALSE(last.envelope->body_as_OnlineUsersResult()->more());
  CHECK(world.service.stats().sessions == 6);
  CHECK(world.service.stats().users_online == 5);
}

TEST_CASE("groups: create, members, send to members, non-members refused", "[groups]") {
  World world;
  auto alice = world.login("alice");
  auto bob = world.login("bob");
  auto carol = world.login("carol");
  CHECK(group_create(*alice, "Bad Id", {}).error_code() == errc::invalid_argument);
  Frame missing = group_create(*alice, "team", {"bob", "nobody"});
  CHECK(missing.error_code() == errc::not_found);
  CHECK_THAT(missing.error_message(), Catch::Contains("nobody"));
  REQUIRE(group_create(*alice, "team", {"bob"}).type() == Body::Ok);
  CHECK(group_create(*carol, "team", {}).error_code() == errc::already_exists);
  CHECK(group_events(bob->take_pushes()) ==
        std::vector<wire::GroupEventKind>{wire::GroupEventKind::Added});

  Frame members = group_members(*bob, "team");
  const auto* result = members.envelope->body_as_GroupMembersResult();
  REQUIRE(result != nullptr);
  CHECK(proto::view(result->info()->owner()) == "alice");
  CHECK(result->info()->member_count() == 2);
  CHECK(result->info()->role() == wire::GroupRole::Member);
  REQUIRE(result->members()->size() == 2);
  CHECK(proto::view(result->members()->Get(0)->user()) == "alice");
  CHECK(result->members()->Get(0)->role() == wire::GroupRole::Owner);
  CHECK(result->members()->Get(1)->online());
  CHECK(group_members(*carol, "team").error_code() == errc::not_member);
  CHECK(group_members(*carol, "nogroup").error_code() == errc::not_found);

  Frame ack = bob->send_to_group("team", 1, "hello team");
  REQUIRE(ack.type() == Body::SendAck);
  CHECK(proto::view(ack.envelope->body_as_SendAck()->conversation()) == "g:team");
  CHECK(alice->take_pushes().size() == 1);
  CHECK(bob->take_pushes().empty());
  CHECK(carol->send_to_group("team", 1, "let me in").error_code() == errc::not_member);
  CHECK(carol->pull("g:team", 0, 0).error_code() == errc::not_member);
  CHECK(carol->send_to_group("nogroup", 1, "x").error_code() == errc::not_found);

  Frame mine = alice->request([](auto& fbb) { return wire::CreateMyGroups(fbb); });
  const auto* groups = mine.envelope->body_as_MyGroupsResult()->groups();
  REQUIRE(groups->size() == 1);
  CHECK(proto::view(groups->Get(0)->group()) == "team");
  CHECK(groups->Get(0)->role() == wire::GroupRole::Owner);
}

TEST_CASE("groups: a late member reads from the seq at which it joined", "[groups]") {
  World world;
  auto alice = world.login("alice");
  auto bob = world.login("bob");
  auto carol = world.login("carol");
  REQUIRE(group_create(*alice, "team", {"bob"}).type() == Body::Ok);
  for (std::uint64_t i = 1; i <= 3; ++i)
    alice->send_to_group("team", i, "early");
  REQUIRE(group_add(*alice, "team", {"carol", "bob"}).type() == Body::Ok);  // bob skipped
  alice->send_to_group("team", 4, "late");
  auto carol_pushes = carol->take_pushes();
  CHECK(group_events(carol_pushes) ==
        std::vector<wire::GroupEventKind>{wire::GroupEventKind::Added});
  CHECK(carol_pushes.back().type() == Body::Deliver);

  CHECK(seqs_of(carol->pull("g:team", 0, 0)) == std::vector<std::uint64_t>{4});
  CHECK(seqs_of(carol->history("g:team", 0, 10)) == std::vector<std::uint64_t>{4});
  CHECK_FALSE(carol->history("g:team", 0, 10).envelope->body_as_MessageBatch()->more());
  CHECK(seqs_of(bob->pull("g:team", 0, 0)) == std::vector<std::uint64_t>{1, 2, 3, 4});
  Frame sync = carol->sync();
  const auto* state = sync.envelope->body_as_SyncResult()->conversations()->Get(0);
  CHECK(proto::view(state->conversation()) == "g:team");
  CHECK(state->first_seq() == 4);
  CHECK(state->head_seq() == 4);
  CHECK(proto::view(state->peer()) == "team");
  Frame members = group_members(*alice, "team");
  CHECK(members.envelope->body_as_GroupMembersResult()->members()->Get(1)->joined_seq() == 1);
  CHECK(members.envelope->body_as_GroupMembersResult()->members()->Get(2)->joined_seq() == 4);
}

TEST_CASE("groups: roles decide who may add, remove, promote and dissolve", "[groups]") {
  World world;
  auto owner = world.login("owner");
  auto admin = world.login("admin");
  auto admin2 = world.login("admin2");
  auto member = world.login("member");
  auto extra = world.login("extra");
  REQUIRE(group_create(*owner, "club", {"admin", "admin2", "member"}).type() == Body::Ok);
  CHECK(group_set_role(*admin, "club", "member", wire::GroupRole::Admin).error_code() ==
        errc::forbidden);
  REQUIRE(group_set_role(*owner, "club", "admin", wire::GroupRole::Admin).type() == Body::Ok);
  REQUIRE(group_set_role(*owner, "club", "admin2", wire::GroupRole::Admin).type() == Body::Ok);
  CHECK(group_set_role(*owner, "club", "owner", wire::GroupRole::Member).error_code() ==
        errc::invalid_argument);
  CHECK(group_set_role(*owner, "club", "member", wire::GroupRole::Owner).error_code() ==
        errc::invalid_argument);

  CHECK(group_add(*member, "club", {"extra"}).error_code() == errc::forbidden);
  CHECK(group_add(*extra, "club", {"extra"}).error_code() == errc::not_member);
  REQUIRE(group_add(*admin, "club", {"extra"}).type() == Body::Ok);
  CHECK(group_remove(*member, "club", "extra").error_code() == errc::forbidden);
  CHECK(group_remove(*admin, "club", "owner").error_code() == errc::forbidden);
  CHECK(group_remove(*admin, "club", "admin2").error_code() == errc::forbidden);
  member->take_pushes();
  extra->take_pushes();
  REQUIRE(group_remove(*admin, "club", "extra").type() == Body::Ok);
  CHECK(group_events(extra->take_pushes()) ==
        std::vector<wire::GroupEventKind>{wire::GroupEventKind::Removed});
  CHECK(group_events(member->take_pushes()) ==
        std::vector<wire::GroupEventKind>{wire::GroupEventKind::Removed});
  CHECK(extra->pull("g:club", 0, 0).error_code() == errc::not_member);

  CHECK(owner->request([](auto& fbb) { return wire::CreateGroupLeaveDirect(fbb, "club"); })
            .error_code() == errc::forbidden);
  REQUIRE(
      member->request([](auto& fbb) { return wire::CreateGroupLeaveDirect(fbb, "club"); }).type() ==
      Body::Ok);
  CHECK(group_events(admin->take_pushes()).back() == wire::GroupEventKind::Left);
  CHECK(admin->request([](auto& fbb) { return wire::CreateGroupDissolveDirect(fbb, "club"); })
            .error_code() == errc::forbidden);
  REQUIRE(owner->request([](auto& fbb) { return wire::CreateGroupDissolveDirect(fbb, "club"); })
              .type() == Body::Ok);
  CHECK(group_events(admin2->take_pushes()).back() == wire::GroupEventKind::Dissolved);
  CHECK(group_members(*owner, "club").error_code() == errc::not_found);
  CHECK(admin->sync().envelope->body_as_SyncResult()->conversations()->size() == 0);
  Frame mine = admin->request([](auto& fbb) { return wire::CreateMyGroups(fbb); });
  CHECK(mine.envelope->body_as_MyGroupsResult()->groups()->size() == 0);
}

TEST_CASE("groups: size and per-user group limits", "[groups]") {
  service::Options options = test_options();
  options.max_group_members = 3;
  options.max_groups_per_user = 1;
  World world(options);
  auto alice = world.login("alice");
  auto bob = world.login("bob");
  auto carol = world.login("carol");
  auto dave = world.login("dave");
  CHECK(group_create(*alice, "big", {"bob", "carol", "dave"}).error_code() == errc::limit_exceeded);
  REQUIRE(group_create(*alice, "g1", {"bob"}).type() == Body::Ok);
  CHECK(group_create(*alice, "g2", {}).error_code() == errc::limit_exceeded);
  CHECK(group_create(*carol, "g3", {"bob"}).error_code() == errc::limit_exceeded);
}
