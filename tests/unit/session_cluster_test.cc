// Session routing in a cluster: a direct message to a user homed elsewhere runs on the
// blocking pool until the cluster knows the user exists, and here after that; a message sent
// while an earlier one still waits on the pool waits behind it, so one session's messages keep
// their order.
#include <catch2/catch.hpp>

#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fixed_placement.h"
#include "qim/ids.h"
#include "session_test_fixture.h"

namespace qim::testing {
namespace {

// The other nodes: every user exists; known_user() says what the test sets.
class OtherNodes final : public service::ClusterQueries {
 public:
  void online_elsewhere(std::string, std::uint32_t,
                        std::function<void(std::vector<service::OnlinePage>)> done) override {
    done({});
  }
  void forward(const std::string&, const service::Caller&, std::span<const std::uint8_t>,
               std::function<void(service::Result<std::vector<std::uint8_t>>)> done) override {
    if (hold_forwards) {
      held.push_back(std::move(done));
      return;
    }
    done(service::Result<std::vector<std::uint8_t>>::failure(errc::unavailable, "test"));
  }
  void push_to(const std::string& node, std::span<const std::uint8_t>,
               service::PushTarget target) override {
    pushes.emplace_back(node, std::move(target));
  }
  void run_serially(std::function<void()> work) override { work(); }
  service::Result<service::UserTally> user_tally(const std::string&, std::string_view) override {
    ++tallies;
    service::UserTally tally;
    tally.exists = true;
    return service::Result<service::UserTally>::success(tally);
  }
  std::vector<service::UserParts> user_parts_elsewhere(std::string_view, service::UserPart,
                                                       const service::PartitionCoverage&) override {
    return {};
  }
  service::Result<std::vector<std::string>> online_among(const std::string&,
                                                         std::vector<std::string>) override {
    return service::Result<std::vector<std::string>>::success({});
  }
  service::Result<service::ConversationState> conversation_head(const std::string&,
                                                                std::string_view,
                                                                std::string_view) override {
    return service::Result<service::ConversationState>::failure(errc::unavailable, "test");
  }
  bool known_user(std::string_view user) override { return known.count(std::string(user)) == 1; }

  std::set<std::string> known;
  int tallies = 0;
  // Pushes sent to other nodes, in order.
  std::vector<std::pair<std::string, service::PushTarget>> pushes;
  // Forwards wait in `held` for the test to answer them.
  bool hold_forwards = false;
  std::vector<std::function<void(service::Result<std::vector<std::uint8_t>>)>> held;
};

template <typename Build>
void feed(session::Session& session, std::uint32_t req_id, Build build) {
  proto::FrameBuilder builder;
  auto bytes = builder.finish(req_id, build(builder.fbb())).subspan(proto::frame_header_bytes);
  std::vector<std::uint64_t> aligned((bytes.size() + 7) / 8 + 1);
  std::memcpy(aligned.data(), bytes.data(), bytes.size());
  session.on_frame({reinterpret_cast<const std::uint8_t*>(aligned.data()), bytes.size()});
}

// Node n1 of three, its other nodes played by OtherNodes, and one session on it logged in as
// a user homed here who writes to a user homed elsewhere, in a conversation that
// `conversation_here` says is homed here or not.
struct ClusterSession {
  ClusterSession(service::Options options, bool conversation_here, bool defer_jobs)
      : world(with_node_name(std::move(options))),
        placement(std::make_shared<const route::Placement>(testing::spread_placement(
            "n1", {test_node("n1", 7700), test_node("n2", 7710), test_node("n3", 7720)}))),
        source(placement) {
    world.service.use_placement(source);
    world.service.use_cluster(others);
    for (int i = 0; i < 200 && recipient.empty(); ++i) {
      std::string a = "s" + std::to_string(i);
      if (!placement->is_local(a)) continue;
      for (int j = 0; j < 200; ++j) {
        std::string b = "r" + std::to_string(j);
        if (placement->is_local(b) ||
            placement->is_local(direct_conversation(a, b)) != conversation_here) {
          continue;
        }
        sender = a;
        recipient = b;
        break;
      }
    }
    REQUIRE_FALSE(recipient.empty());

    connection.defer_jobs = defer_jobs;
    session = std::make_unique<session::Session>(world.service, connection);
    feed(*session, req_id++,
         [](auto& fbb) { return wire::CreateHelloDirect(fbb, proto::protocol_version, "test"); });
    feed(*session, req_id++, [&](auto& fbb) {
      return wire::CreateRegisterDirect(fbb, sender.c_str(), world.password.c_str());
    });
    connection.run_jobs();
    feed(*session, req_id++, [&](auto& fbb) {
      return wire::CreateLoginDirect(fbb, sender.c_str(), world.password.c_str(), nullptr, "phone");
    });
    connection.run_jobs();
    REQUIRE(connection.reply(req_id - 1) != nullptr);
    REQUIRE(connection.reply(req_id - 1)->type() == wire::Body::LoginOk);
  }
  ~ClusterSession() { session->on_close(); }

  static service::Options with_node_name(service::Options options) {
    options.node_name = "n1";
    options.dm_policy = service::DmPolicy::anyone;
    return options;
  }

  // A direct message to the recipient, with request id `id`.
  void send(std::uint32_t id, std::uint64_t client_msg_id) {
    feed(*session, id, [&](auto& fbb) {
      std::vector<std::uint8_t> body = {'h', 'i'};
      return wire::CreateSendDirect(fbb, recipient.c_str(), nullptr, client_msg_id, &body);
    });
  }

  World world;
  std::shared_ptr<const route::Placement> placement;
  FixedPlacement source;
  OtherNodes others;
  std::string sender, recipient;
  FakeConnection connection;
  std::unique_ptr<session::Session> session;
  std::uint32_t req_id = 1;
};

}  // namespace

TEST_CASE("session: a message waits behind the session's earlier one on the pool",
          "[session][cluster]") {
  // The conversation is homed here; the recipient is not, so the first message may look them
  // up there.
  ClusterSession cluster(test_options(), true, true);
  auto& connection = cluster.connection;
  auto& others = cluster.others;
  auto& recipient = cluster.recipient;
  std::uint32_t& req_id = cluster.req_id;
  auto send = [&](std::uint32_t id, std::uint64_t client_msg_id) {
    cluster.send(id, client_msg_id);
  };
  // Not known yet: the first message looks the recipient up, so it waits for the pool.
  const std::uint32_t first = req_id++;
  send(first, 1);
  CHECK(connection.reply(first) == nullptr);
  REQUIRE(connection.jobs.size() == 1);
  // Now known: on its own the next one would run at once, but the first has not run yet.
  others.known.insert(recipient);
  const std::uint32_t second = req_id++;
  send(second, 2);
  CHECK(connection.reply(second) == nullptr);
  connection.run_jobs();
  const Frame* first_ack = connection.reply(first);
  const Frame* second_ack = connection.reply(second);
  REQUIRE(first_ack != nullptr);
  REQUIRE(second_ack != nullptr);
  REQUIRE(first_ack->type() == wire::Body::SendAck);
  REQUIRE(second_ack->type() == wire::Body::SendAck);
  CHECK(first_ack->envelope->body_as_SendAck()->seq() == 1);
  CHECK(second_ack->envelope->body_as_SendAck()->seq() == 2);

  // Nothing waits any more: a message to a known recipient runs here, at once.
  const std::uint32_t third = req_id++;
  send(third, 3);
  const Frame* third_ack = connection.reply(third);
  REQUIRE(third_ack != nullptr);
  REQUIRE(third_ack->type() == wire::Body::SendAck);
  CHECK(third_ack->envelope->body_as_SendAck()->seq() == 3);
  CHECK(connection.jobs.empty());
}

TEST_CASE("session: requests waiting for other nodes are bounded, beyond that refused, not cut off",
          "[session][cluster]") {
  service::Options options = test_options();
  options.messages_per_second = 1e6;
  options.message_burst = 1e6;
  // The conversation is homed elsewhere: every send is forwarded.
  ClusterSession cluster(options, false, false);
  auto& connection = cluster.connection;
  auto& others = cluster.others;
  others.hold_forwards = true;
  others.known.insert(cluster.recipient);
  std::uint32_t& req_id = cluster.req_id;
  auto send = [&](std::uint32_t id) { cluster.send(id, id); };
  // Far more than a connection's blocking jobs: all forwarded, none answered yet.
  const std::uint32_t first = req_id;
  std::size_t forwarded = 0;
  while (connection.reply(req_id - 1) == nullptr || req_id - 1 < first) {
    send(req_id++);
    if (connection.reply(req_id - 1) == nullptr) ++forwarded;
    REQUIRE(req_id - first < 10'000);
  }
  CHECK(forwarded >= 64);
  CHECK(others.held.size() == forwarded);
  const Frame* refused = connection.reply(req_id - 1);
  REQUIRE(refused->type() == wire::Body::Error);
  CHECK(refused->error_code() == errc::rate_limited);
  CHECK_FALSE(connection.closed);

  // An answer makes room for one more.
  others.held.front()(service::Result<std::vector<std::uint8_t>>::failure(errc::unavailable, "x"));
  others.held.erase(others.held.begin());
  const std::uint32_t after = req_id++;
  send(after);
  CHECK(connection.reply(after) == nullptr);
  CHECK(others.held.size() == forwarded);
  for (auto& done : others.held)
    done(service::Result<std::vector<std::uint8_t>>::failure(errc::unavailable, "x"));
}

TEST_CASE("session: HelloOk lists the live nodes' client and WebSocket addresses, this one first",
          "[session][cluster]") {
  service::Options options = test_options();
  options.node_name = "n2";
  World world(options);
  std::vector<route::NodeInfo> members = {test_node("n1", 7700), test_node("n2", 7710),
                                          test_node("n3", 7720), test_node("n4", 7730)};
  members[0].ws_port = 7702;
  members[1].ws_port = 7712;
  members[2].up = false;  // dead: listed nowhere
  members[2].ws_port = 7722;
  // n4 has no WebSocket port: a native address only.
  auto placement =
      std::make_shared<const route::Placement>(testing::spread_placement("n2", members));
  FixedPlacement source(placement);
  world.service.use_placement(source);

  Client client(world.service);
  Frame reply = client.hello();
  REQUIRE(reply.type() == wire::Body::HelloOk);
  const auto* ok = reply.envelope->body_as_HelloOk();
  auto strings = [](const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>* list) {
    std::vector<std::string> out;
    if (list == nullptr) return out;
    for (const auto* item : *list)
      out.emplace_back(proto::view(item));
    return out;
  };
  CHECK(strings(ok->cluster_nodes()) ==
        std::vector<std::string>{"127.0.0.1:7710", "127.0.0.1:7700", "127.0.0.1:7730"});
  CHECK(strings(ok->cluster_ws_nodes()) ==
        std::vector<std::string>{"127.0.0.1:7712", "127.0.0.1:7702"});
}

TEST_CASE("a push that reaches a node after its users' home moved is sent on once to the new home",
          "[session][cluster]") {
  ClusterSession cluster(test_options(), true, false);
  auto& others = cluster.others;
  auto placement = cluster.placement;
  std::string moved, here;
  for (int i = 0; i < 200 && (moved.empty() || here.empty()); ++i) {
    std::string user = "p" + std::to_string(i);
    (placement->is_local(user) ? here : moved) = user;
  }
  REQUIRE_FALSE(moved.empty());
  REQUIRE_FALSE(here.empty());
  proto::FrameBuilder builder;
  auto bytes = builder.finish(0, wire::CreatePong(builder.fbb()));
  std::vector<std::uint8_t> frame(bytes.begin(), bytes.end());

  service::PushTarget target;
  target.users = {moved, here};
  CHECK(cluster.world.service.push_here(frame, target) == 0);
  REQUIRE(others.pushes.size() == 1);
  CHECK(others.pushes[0].first == placement->home_of(moved).name);
  CHECK(others.pushes[0].second.users == std::vector<std::string>{moved});
  CHECK(others.pushes[0].second.forwarded);

  // Sent on once only: a forwarded push is delivered or dropped where it lands.
  target.forwarded = true;
  CHECK(cluster.world.service.push_here(frame, target) == 0);
  CHECK(others.pushes.size() == 1);

  // A user with a session here gets it here, and nothing is sent on.
  target.forwarded = false;
  target.users = {cluster.sender};
  CHECK(cluster.world.service.push_here(frame, target) == 1);
  CHECK(others.pushes.size() == 1);
}

}  // namespace qim::testing
