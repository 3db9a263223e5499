// The admin protocol without I/O: the message-rate meter, and the dispatcher's encoding of the
// cluster-wide answers (members' vnodes, per-node stats, online counts) over fake hooks.
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "admin/admin_dispatch.h"
#include "admin/rate_meter.h"
#include "proto/frame.h"
#include "qim/ids.h"

namespace qim::admin {
namespace {

using namespace std::chrono_literals;
using Clock = RateMeter::Clock;

TEST_CASE("RateMeter: the first sample averages since start", "[admin]") {
  Clock::time_point start{};
  RateMeter meter(start);
  CHECK(meter.sample(start + 4s, 100) == Approx(25.0));
}

TEST_CASE("RateMeter: frequent samples cover about the last window", "[admin]") {
  Clock::time_point start{};
  RateMeter meter(start, 0, 10s, 11);  // samples kept 1 s apart
  std::uint64_t value = 0;
  // 100/s for a minute, sampled every second.
  for (int second = 1; second <= 60; ++second) {
    value += 100;
    CHECK(meter.sample(start + std::chrono::seconds(second), value) == Approx(100.0));
  }
  // Then 10/s: after one second the window still mostly holds the old rate...
  value += 10;
  CHECK(meter.sample(start + 61s, value) == Approx((900.0 + 10.0) / 10.0));
  // ...and ten seconds later only the new one.
  for (int second = 62; second <= 71; ++second) {
    value += 10;
    meter.sample(start + std::chrono::seconds(second), value);
  }
  CHECK(meter.sample(start + 71s, value) == Approx(10.0));
  CHECK(meter.samples() <= 11);
}

TEST_CASE("RateMeter: rare samples cover the time since the previous one", "[admin]") {
  Clock::time_point start{};
  RateMeter meter(start, 0, 10s);
  CHECK(meter.sample(start + 60s, 600) == Approx(10.0));
  CHECK(meter.sample(start + 120s, 600 + 60 * 30) == Approx(30.0));
}

TEST_CASE("RateMeter: bursts of samples are not kept one by one", "[admin]") {
  Clock::time_point start{};
  RateMeter meter(start, 0, 10s, 4);
  std::uint64_t value = 0;
  for (int ms = 1; ms <= 1000; ++ms) {
    value += 1;
    CHECK(meter.sample(start + std::chrono::milliseconds(ms), value) == Approx(1000.0));
  }
  CHECK(meter.samples() <= 4);
}

TEST_CASE("RateMeter: no elapsed time is rate 0, a counter going down starts over", "[admin]") {
  Clock::time_point start{};
  RateMeter meter(start);
  CHECK(meter.sample(start, 0) == 0.0);
  CHECK(meter.sample(start + 2s, 20) == Approx(10.0));
  CHECK(meter.sample(start + 3s, 5) == 0.0);  // reset: history starts again here
  CHECK(meter.sample(start + 4s, 15) == Approx(10.0));
  CHECK(meter.sample(start + 1s, 15) == 0.0);  // time went back: starts again too
  CHECK(meter.samples() == 1);
}

// Hooks that answer canned values and record what they were asked.
class FakeHooks final : public AdminHooks {
 public:
  std::string node_name() const override { return "n2"; }
  std::vector<MemberView> members() override {
    MemberView dead;
    dead.name = "n3";
    dead.state = MemberState::dead;
    MemberView self;
    self.name = "n2";
    self.is_self = true;
    self.vnodes = 64;
    return {dead, self};
  }
  RingView ring() override { return {}; }
  Error stats(const StatsScope& scope, StatsView& view) override {
    asked_scope = scope;
    if (scope.node == "gone") return Error{errc::not_found, "node: gone is not a live member"};
    NodeStatsView self;
    self.node_name = "n2";
    self.is_self = true;
    self.sessions = 7;
    self.messages_in_per_s = 2.5;
    self.peer_queued_frames = 3;
    self.gossip = GossipCountersView{1, 2, 3, 4, 5, 6, 7, 8};
    self.replication = ReplicationCountersView{64, 21, 30, 22, 2, 1, 1000, 3};
    NodeStatsView silent;
    silent.node_name = "n3";
    silent.answered = false;
    silent.error = "no reply";
    NodeStatsView first;
    first.node_name = "n1";
    first.sessions = 4;
    view.self = self;
    view.nodes = {silent, self, first};  // unsorted: the dispatcher sorts
    view.nodes_live = 3;
    return {};
  }
  OnlineView online(std::string_view after, std::uint32_t limit, bool cluster) override {
    asked_after = after;
    asked_limit = limit;
    asked_cluster = cluster;
    return OnlineView{5, {"a", "b"}, true, 2, 3};
  }
  Error create_user(std::string_view, std::string_view) override {
    return Error{errc::already_exists, "user: already taken (at node n1)"};
  }
  Error set_user_disabled(std::string_view, bool) override { return {}; }
  Error kick_user(std::string_view, std::string_view device) override {
    kicked_device = std::string(device);
    return {};
  }
  Error show_user(std::string_view user, UserShowView& view) override {
    if (user != "alice") return Error{errc::not_found, "user: no such user"};
    view.user = "alice";
    view.home_node = "n1";
    view.partition = 7;
    view.created_ms = 1'700'000'000'000;
    view.devices = {{"phone", 2, 1'700'000'000'000, 1'700'000'100'000}};
    view.sessions = 2;
    view.friends = 3;
    view.groups = {"g1", "g2"};
    return {};
  }
  Error delete_user(std::string_view user) override {
    deleted = std::string(user);
    return {};
  }
  Error backup(std::string_view directory, BackupView& view) override {
    if (directory != "/backups/one") return Error{errc::invalid_argument, "directory: not empty"};
    view.directory = std::string(directory);
    view.node_name = "n2";
    view.cluster_id = 0xabc;
    view.partitions = {{3, 17, 2, true}};
    return {};
  }
  Error dissolve_group(std::string_view group) override {
    if (group != "g1") return Error{errc::not_found, "group: no such group"};
    return {};
  }
  NameListView list_names(NameKind kind, std::string_view prefix, std::string_view after,
                          std::uint32_t limit) override {
    last_list = {kind, std::string(prefix), std::string(after), limit};
    return NameListView{{"a1", "a2"}, true, 63, 64};
  }
  struct ListCall {
    NameKind kind = NameKind::users;
    std::string prefix, after;
    std::uint32_t limit = 0;
  };
  ListCall last_list;
  std::string kicked_device;
  std::string deleted;
  Error reset_password(std::string_view, std::string_view) override { return {}; }
  Error inspect_group(std::string_view, GroupView&) override {
    return Error{errc::unavailable, "no reply"};
  }
  PartitionTableView partitions() override {
    PartitionTableView table;
    table.partition_count = 2;
    table.replicas_wanted = 3;
    PartitionRowView row;
    row.partition = 1;
    row.leader = "n1";
    row.leader_confirmed = true;
    row.term = 4;
    row.voters = {"n1", "n2", "n3"};
    row.down = {"n3"};
    row.lag = 9;
    row.under_replicated = true;
    table.rows = {PartitionRowView{}, row};
    table.nodes = {NodeShareView{"n1", 2, 1, true}};
    table.under_replicated = 2;
    table.leaderless = 1;
    table.nodes_answered = 1;
    table.nodes_asked = 2;
    return table;
  }
  WhereView where(std::string_view placement_key) override {
    asked_where = placement_key;
    WhereView view;
    view.placement_key = std::string(placement_key);
    view.partition = 1;
    view.row = partitions().rows[1];
    return view;
  }
  void request_leave() override {}

  std::string asked_where;
  StatsScope asked_scope;
  std::string asked_after;
  std::uint32_t asked_limit = 0;
  bool asked_cluster = false;
};

constexpr char token[] = "unit-test-admin-token-0123";

// A reply frame's payload, 8-byte aligned, and its verified envelope.
struct Decoded {
  std::vector<std::uint64_t> storage;
  const admin_wire::AdminEnvelope* envelope = nullptr;
};

Decoded decode(const AdminReply& reply) {
  Decoded decoded;
  REQUIRE(reply.frame.size() > proto::frame_header_bytes);
  std::size_t length = reply.frame.size() - proto::frame_header_bytes;
  decoded.storage.assign((length + 7) / 8, 0);
  std::memcpy(decoded.storage.data(), reply.frame.data() + proto::frame_header_bytes, length);
  Error error;
  decoded.envelope = verify_admin_envelope(
      {reinterpret_cast<const std::uint8_t*>(decoded.storage.data()), length}, error);
  REQUIRE(decoded.envelope != nullptr);
  return decoded;
}

// Sends one request frame (built by `build`) to the dispatcher.
template <typename Build>
Decoded exchange(AdminDispatcher& dispatcher, Build build) {
  AdminFrameBuilder builder;
  std::span<const std::uint8_t> frame = build(builder);
  std::size_t length = frame.size() - proto::frame_header_bytes;
  std::vector<std::uint64_t> aligned((length + 7) / 8, 0);
  std::memcpy(aligned.data(), frame.data() + proto::frame_header_bytes, length);
  return decode(dispatcher.handle({reinterpret_cast<const std::uint8_t*>(aligned.data()), length}));
}

struct Connected {
  FakeHooks hooks;
  std::string expected = token;
  AdminDispatcher dispatcher{hooks, expected, "qimd test"};
  Connected() {
    auto hello = exchange(dispatcher, [](AdminFrameBuilder& builder) {
      return builder.finish(1, admin_wire::CreateAdminHelloDirect(builder.fbb(), token));
    });
    REQUIRE(hello.envelope->body_as_AdminHelloOk() != nullptr);
  }
};

TEST_CASE("AdminDispatcher: members carry their vnodes", "[admin]") {
  Connected c;
  auto reply = exchange(c.dispatcher, [](AdminFrameBuilder& builder) {
    return builder.finish(2, admin_wire::CreateMembersRequest(builder.fbb()));
  });
  const auto* result = reply.envelope->body_as_MembersResult();
  REQUIRE(result != nullptr);
  REQUIRE(result->members()->size() == 2);
  CHECK(proto::view(result->members()->Get(0)->name()) == "n2");
  CHECK(result->members()->Get(0)->vnodes() == 64);
  CHECK(result->members()->Get(1)->vnodes() == 0);
}

TEST_CASE("AdminDispatcher: stats rows are sorted, failures kept with their reason", "[admin]") {
  Connected c;
  auto reply = exchange(c.dispatcher, [](AdminFrameBuilder& builder) {
    return builder.finish(
        3, admin_wire::CreateStatsRequestDirect(builder.fbb(), /*cluster=*/true, ""));
  });
  CHECK(c.hooks.asked_scope.cluster);
  CHECK(c.hooks.asked_scope.node.empty());
  const auto* result = reply.envelope->body_as_StatsResult();
  REQUIRE(result != nullptr);
  CHECK(reply.envelope->req_id() == 3);
  // The top-level fields are the answering node's, as before.
  CHECK(proto::view(result->node_name()) == "n2");
  CHECK(result->sessions() == 7);
  REQUIRE(result->gossip() != nullptr);
  CHECK(result->gossip()->push_pulls_failed() == 8);
  CHECK(result->nodes_live() == 3);
  REQUIRE(result->nodes()->size() == 3);
  const auto* n1 = result->nodes()->Get(0);
  const auto* n2 = result->nodes()->Get(1);
  const auto* n3 = result->nodes()->Get(2);
  CHECK(proto::view(n1->node_name()) == "n1");
  CHECK(n1->answered());
  CHECK(n1->sessions() == 4);
  CHECK(n1->gossip() == nullptr);
  CHECK(n2->is_self());
  CHECK(n2->messages_in_per_s() == 2.5);
  CHECK(n2->peer_queued_frames() == 3);
  REQUIRE(n2->gossip() != nullptr);
  CHECK(n2->gossip()->datagrams_sent() == 3);
  REQUIRE(n2->replication() != nullptr);
  CHECK(n2->replication()->replicas_hosted() == 64);
  CHECK(n2->replication()->leaderships_won() == 22);
  CHECK(n2->replication()->proposals_failed() == 3);
  CHECK(n1->replication() == nullptr);
  CHECK_FALSE(n3->answered());
  CHECK(proto::view(n3->error()) == "no reply");
}

TEST_CASE("AdminDispatcher: stats for one node, checked before the hooks", "[admin]") {
  Connected c;
  auto bad = exchange(c.dispatcher, [](AdminFrameBuilder& builder) {
    return builder.finish(4, admin_wire::CreateStatsRequestDirect(builder.fbb(), false, "no way!"));
  });
  REQUIRE(bad.envelope->body_as_AdminError() != nullptr);
  CHECK(bad.envelope->body_as_AdminError()->code() == qim::wire::ErrorCode::InvalidArgument);
  CHECK(c.hooks.asked_scope.node.empty());  // not asked

  auto gone = exchange(c.dispatcher, [](AdminFrameBuilder& builder) {
    return builder.finish(5, admin_wire::CreateStatsRequestDirect(builder.fbb(), false, "gone"));
  });
  REQUIRE(gone.envelope->body_as_AdminError() != nullptr);
  CHECK(gone.envelope->body_as_AdminError()->code() == qim::wire::ErrorCode::NotFound);
  CHECK(c.hooks.asked_scope.node == "gone");
}

TEST_CASE("AdminDispatcher: online asks the cluster when told, and says who answered", "[admin]") {
  Connected c;
  auto reply = exchange(c.dispatcher, [](AdminFrameBuilder& builder) {
    return builder.finish(6, admin_wire::CreateOnlineRequestDirect(builder.fbb(), "", 0, true));
  });
  CHECK(c.hooks.asked_cluster);
  CHECK(c.hooks.asked_limit == default_online_limit);
  const auto* result = reply.envelope->body_as_OnlineResult();
  REQUIRE(result != nullptr);
  CHECK(result->count() == 5);
  CHECK(result->more());
  CHECK(result->nodes_answered() == 2);
  CHECK(result->nodes_live() == 3);

  exchange(c.dispatcher, [](AdminFrameBuilder& builder) {
    return builder.finish(7, admin_wire::CreateOnlineRequestDirect(builder.fbb(), "a", 5000));
  });
  CHECK_FALSE(c.hooks.asked_cluster);  // an older qimctl: this node only
  CHECK(c.hooks.asked_after == "a");
  CHECK(c.hooks.asked_limit == max_online_limit);
}

TEST_CASE("AdminDispatcher: a relayed failure keeps its code and message", "[admin]") {
  Connected c;
  auto create = exchange(c.dispatcher, [](AdminFrameBuilder& builder) {
    return builder.finish(
        8, admin_wire::CreateUserCreateDirect(builder.fbb(), "carol", "long-enough-pass"));
  });
  const auto* error = create.envelope->body_as_AdminError();
  REQUIRE(error != nullptr);
  CHECK(error->code() == qim::wire::ErrorCode::AlreadyExists);
  CHECK(proto::view(error->message()) == "user: already taken (at node n1)");

  auto group = exchange(c.dispatcher, [](AdminFrameBuilder& builder) {
    return builder.finish(9, admin_wire::CreateGroupInspectRequestDirect(builder.fbb(), "crew"));
  });
  REQUIRE(group.envelope->body_as_AdminError() != nullptr);
  CHECK(group.envelope->body_as_AdminError()->code() == qim::wire::ErrorCode::Unavailable);
}

TEST_CASE("AdminDispatcher: partitions carry every row and the summary", "[admin]") {
  Connected c;
  auto reply = exchange(c.dispatcher, [](AdminFrameBuilder& builder) {
    return builder.finish(10, admin_wire::CreatePartitionsRequest(builder.fbb()));
  });
  const auto* result = reply.envelope->body_as_PartitionsResult();
  REQUIRE(result != nullptr);
  CHECK(result->partition_count() == 2);
  CHECK(result->under_replicated() == 2);
  CHECK(result->leaderless() == 1);
  CHECK(result->nodes_asked() == 2);
  REQUIRE(result->rows()->size() == 2);
  const auto* row = result->rows()->Get(1);
  CHECK(proto::view(row->leader()) == "n1");
  CHECK(row->term() == 4);
  CHECK(row->lag() == 9);
  REQUIRE(row->voters()->size() == 3);
  REQUIRE(row->down()->size() == 1);
  CHECK(proto::view(row->down()->Get(0)) == "n3");
  REQUIRE(result->nodes()->size() == 1);
  CHECK(result->nodes()->Get(0)->leaders() == 1);
}

TEST_CASE("AdminDispatcher: where parses the key before asking the node", "[admin]") {
  Connected c;
  auto where = [&c](const char* key) {
    return exchange(c.dispatcher, [key](AdminFrameBuilder& builder) {
      return builder.finish(11, admin_wire::CreateWhereRequestDirect(builder.fbb(), key));
    });
  };
  auto group = where("group crew");
  const auto* result = group.envelope->body_as_WhereResult();
  REQUIRE(result != nullptr);
  CHECK(c.hooks.asked_where == "g:crew");
  CHECK(proto::view(result->kind()) == "group");
  CHECK(proto::view(result->key()) == "group crew");
  CHECK(result->partition() == 1);
  REQUIRE(result->row() != nullptr);
  CHECK(proto::view(result->row()->leader()) == "n1");

  where("d:zoe:adam");
  CHECK(c.hooks.asked_where == "d:adam:zoe");  // either order names the one conversation
  c.hooks.asked_where.clear();
  for (const char* bad : {"", "Alice", "d:adam", "d:adam:adam", "x:y", "group ", "g:no way"}) {
    INFO(bad);
    auto refused = where(bad);
    REQUIRE(refused.envelope->body_as_AdminError() != nullptr);
    CHECK(refused.envelope->body_as_AdminError()->code() == qim::wire::ErrorCode::InvalidArgument);
    CHECK(c.hooks.asked_where.empty());
  }
}

TEST_CASE("parse_where_key: users, direct conversations and groups", "[admin]") {
  std::string key, kind;
  REQUIRE_FALSE(parse_where_key("alice", key, kind));
  CHECK(key == "alice");
  CHECK(kind == "user");
  REQUIRE_FALSE(parse_where_key("g:team", key, kind));
  CHECK(key == "g:team");
  CHECK(kind == "group");
  REQUIRE_FALSE(parse_where_key("group team", key, kind));
  CHECK(key == "g:team");
  REQUIRE_FALSE(parse_where_key("d:bob:alice", key, kind));
  CHECK(key == "d:alice:bob");
  CHECK(kind == "direct");
  Error refused = parse_where_key("d:bob", key, kind);
  CHECK(refused.code == errc::invalid_argument);
  CHECK(refused.message.find("d:<user>:<user>") != std::string::npos);
}

TEST_CASE("AdminDispatcher: user show encodes the home's view; unknown users are errors",
          "[admin]") {
  Connected c;
  auto reply = exchange(c.dispatcher, [](AdminFrameBuilder& builder) {
    return builder.finish(2, admin_wire::CreateUserShowRequestDirect(builder.fbb(), "alice"));
  });
  const auto* shown = reply.envelope->body_as_UserShowResult();
  REQUIRE(shown != nullptr);
  CHECK(proto::view(shown->home_node()) == "n1");
  CHECK(shown->partition() == 7);
  CHECK(shown->sessions() == 2);
  CHECK(shown->friends() == 3);
  REQUIRE(shown->devices()->size() == 1);
  CHECK(proto::view(shown->devices()->Get(0)->device()) == "phone");
  CHECK(shown->groups()->size() == 2);

  auto missing = exchange(c.dispatcher, [](AdminFrameBuilder& builder) {
    return builder.finish(3, admin_wire::CreateUserShowRequestDirect(builder.fbb(), "bob"));
  });
  REQUIRE(missing.envelope->body_as_AdminError() != nullptr);
  CHECK(missing.envelope->body_as_AdminError()->code() == qim::wire::ErrorCode::NotFound);

  auto invalid = exchange(c.dispatcher, [](AdminFrameBuilder& builder) {
    return builder.finish(4, admin_wire::CreateUserShowRequestDirect(builder.fbb(), "Bad Name"));
  });
  REQUIRE(invalid.envelope->body_as_AdminError() != nullptr);
  CHECK(proto::view(invalid.envelope->body_as_AdminError()->message()).starts_with("user:"));
}

TEST_CASE("AdminDispatcher: name lists clamp the limit and check prefix and after", "[admin]") {
  Connected c;
  auto reply = exchange(c.dispatcher, [](AdminFrameBuilder& builder) {
    return builder.finish(2, admin_wire::CreateNameListRequestDirect(
                                 builder.fbb(), admin_wire::NameKind::Groups, "a", "a0", 5000));
  });
  const auto* names = reply.envelope->body_as_NameListResult();
  REQUIRE(names != nullptr);
  CHECK(names->kind() == admin_wire::NameKind::Groups);
  CHECK(names->names()->size() == 2);
  CHECK(names->more());
  CHECK(names->partitions_read() == 63);
  CHECK(c.hooks.last_list.kind == NameKind::groups);
  CHECK(c.hooks.last_list.prefix == "a");
  CHECK(c.hooks.last_list.after == "a0");
  CHECK(c.hooks.last_list.limit == max_online_limit);

  auto defaulted = exchange(c.dispatcher, [](AdminFrameBuilder& builder) {
    return builder.finish(3, admin_wire::CreateNameListRequestDirect(builder.fbb()));
  });
  REQUIRE(defaulted.envelope->body_as_NameListResult() != nullptr);
  CHECK(c.hooks.last_list.limit == default_online_limit);
  CHECK(c.hooks.last_list.kind == NameKind::users);

  auto bad_prefix = exchange(c.dispatcher, [](AdminFrameBuilder& builder) {
    return builder.finish(4, admin_wire::CreateNameListRequestDirect(
                                 builder.fbb(), admin_wire::NameKind::Users, "A B"));
  });
  REQUIRE(bad_prefix.envelope->body_as_AdminError() != nullptr);
  CHECK(proto::view(bad_prefix.envelope->body_as_AdminError()->message()).starts_with("prefix:"));

  auto bad_kind = exchange(c.dispatcher, [](AdminFrameBuilder& builder) {
    return builder.finish(5, admin_wire::CreateNameListRequestDirect(
                                 builder.fbb(), static_cast<admin_wire::NameKind>(9)));
  });
  REQUIRE(bad_kind.envelope->body_as_AdminError() != nullptr);
}

TEST_CASE("AdminDispatcher: delete, dissolve and kick of one device reach the hooks", "[admin]") {
  Connected c;
  auto deleted = exchange(c.dispatcher, [](AdminFrameBuilder& builder) {
    return builder.finish(2, admin_wire::CreateUserDeleteDirect(builder.fbb(), "alice"));
  });
  CHECK(deleted.envelope->body_as_AdminOk() != nullptr);
  CHECK(c.hooks.deleted == "alice");

  auto dissolved = exchange(c.dispatcher, [](AdminFrameBuilder& builder) {
    return builder.finish(3, admin_wire::CreateGroupDissolveRequestDirect(builder.fbb(), "g1"));
  });
  CHECK(dissolved.envelope->body_as_AdminOk() != nullptr);
  auto unknown = exchange(c.dispatcher, [](AdminFrameBuilder& builder) {
    return builder.finish(4, admin_wire::CreateGroupDissolveRequestDirect(builder.fbb(), "g9"));
  });
  REQUIRE(unknown.envelope->body_as_AdminError() != nullptr);

  auto kicked = exchange(c.dispatcher, [](AdminFrameBuilder& builder) {
    return builder.finish(5, admin_wire::CreateUserKickDirect(builder.fbb(), "alice", "phone"));
  });
  CHECK(kicked.envelope->body_as_AdminOk() != nullptr);
  CHECK(c.hooks.kicked_device == "phone");

  std::string long_device(qim::max_device_length + 1, 'd');
  auto too_long = exchange(c.dispatcher, [&](AdminFrameBuilder& builder) {
    return builder.finish(
        6, admin_wire::CreateUserKickDirect(builder.fbb(), "alice", long_device.c_str()));
  });
  REQUIRE(too_long.envelope->body_as_AdminError() != nullptr);
}

TEST_CASE("AdminDispatcher: a backup reports its manifest; refusals keep their message",
          "[admin]") {
  Connected c;
  auto made = exchange(c.dispatcher, [](AdminFrameBuilder& builder) {
    return builder.finish(2, admin_wire::CreateBackupRequestDirect(builder.fbb(), "/backups/one"));
  });
  const auto* result = made.envelope->body_as_BackupResult();
  REQUIRE(result != nullptr);
  CHECK(proto::view(result->directory()) == "/backups/one");
  CHECK(result->cluster_id() == 0xabc);
  REQUIRE(result->partitions()->size() == 1);
  CHECK(result->partitions()->Get(0)->applied_index() == 17);
  CHECK(result->partitions()->Get(0)->leader());

  auto refused = exchange(c.dispatcher, [](AdminFrameBuilder& builder) {
    return builder.finish(3, admin_wire::CreateBackupRequestDirect(builder.fbb(), "/full"));
  });
  REQUIRE(refused.envelope->body_as_AdminError() != nullptr);
  CHECK(proto::view(refused.envelope->body_as_AdminError()->message()) == "directory: not empty");
  auto missing = exchange(c.dispatcher, [](AdminFrameBuilder& builder) {
    return builder.finish(4, admin_wire::CreateBackupRequest(builder.fbb()));
  });
  REQUIRE(missing.envelope->body_as_AdminError() != nullptr);
}

}  // namespace
}  // namespace qim::admin
