#include <catch2/catch.hpp>

#include "session_test_fixture.h"

using namespace qim;
using namespace qim::testing;
using wire::Body;

namespace {

const std::string alice_bob = "d:alice:bob";

struct Pair {
  World world;
  std::unique_ptr<Client> alice = world.login("alice");
  std::unique_ptr<Client> bob = world.login("bob");
  Pair() { world.befriend(*alice, "alice", *bob, "bob"); }
};

std::vector<const wire::Message*> delivered(const std::vector<Frame>& pushes) {
  std::vector<const wire::Message*> messages;
  for (const Frame& frame : pushes) {
    if (frame.type() == Body::Deliver)
      messages.push_back(frame.envelope->body_as_Deliver()->message());
  }
  return messages;
}

}  // namespace

TEST_CASE("messages: send assigns seqs in order, acks after storing, and delivers", "[messages]") {
  Pair pair;
  for (std::uint64_t i = 1; i <= 3; ++i) {
    Frame ack = pair.alice->send_to_user("bob", 100 + i, "hello " + std::to_string(i));
    REQUIRE(ack.type() == Body::SendAck);
    const auto* send_ack = ack.envelope->body_as_SendAck();
    CHECK(proto::view(send_ack->conversation()) == alice_bob);
    CHECK(send_ack->seq() == i);
    CHECK(send_ack->client_msg_id() == 100 + i);
    CHECK_FALSE(send_ack->duplicate());
  }
  auto pushes = pair.bob->take_pushes();
  auto messages = delivered(pushes);
  REQUIRE(messages.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(messages[i]->seq() == i + 1);
    CHECK(proto::view(messages[i]->sender()) == "alice");
    CHECK(proto::view(messages[i]->sender_device()) == "phone");
    CHECK(body_of(*messages[i]) == "hello " + std::to_string(i + 1));
  }
  CHECK(pair.alice->take_pushes().empty());  // the sending session gets the ack, not a push
  auto stats = pair.world.service.stats();
  CHECK(stats.messages_stored == 3);
  CHECK(stats.messages_pushed == 3);
}

TEST_CASE("messages: a retried client_msg_id is deduplicated and not pushed again", "[messages]") {
  Pair pair;
  REQUIRE(pair.alice->send_to_user("bob", 7, "once").envelope->body_as_SendAck()->seq() == 1);
  REQUIRE(pair.alice->send_to_user("bob", 8, "twice").envelope->body_as_SendAck()->seq() == 2);
  pair.bob->take_pushes();
  Frame retry = pair.alice->send_to_user("bob", 7, "once");
  const auto* ack = retry.envelope->body_as_SendAck();
  REQUIRE(ack != nullptr);
  CHECK(ack->seq() == 1);
  CHECK(ack->duplicate());
  CHECK(pair.bob->take_pushes().empty());
  // The same id from the other user is a different message.
  CHECK(pair.bob->send_to_user("alice", 7, "mine").envelope->body_as_SendAck()->seq() == 3);
  CHECK(seqs_of(pair.bob->pull(alice_bob, 0, 0)) == std::vector<std::uint64_t>{1, 2, 3});
}

TEST_CASE("messages: send validation names the field", "[messages]") {
  service::Options options = test_options();
  options.max_body_bytes = 10;
  World world(options);
  auto alice = world.login("alice");
  auto bob = world.login("bob");
  auto carol = world.login("carol");
  world.befriend(*alice, "alice", *bob, "bob");

  CHECK(alice->send_to_user("bob", 0, "x").error_code() == errc::invalid_argument);
  CHECK(alice->send_to_user("bob", 1, "").error_code() == errc::invalid_argument);
  Frame big = alice->send_to_user("bob", 1, std::string(11, 'x'));
  CHECK(big.error_code() == errc::limit_exceeded);
  CHECK_THAT(big.error_message(), Catch::Contains("body"));
  CHECK(alice->send_to_user("alice", 1, "me").error_code() == errc::invalid_argument);
  Frame missing = alice->send_to_user("nobody", 1, "x");
  CHECK(missing.error_code() == errc::not_found);
  CHECK_THAT(missing.error_message(), Catch::Contains("to_user"));
  CHECK(alice->send_to_user("carol", 1, "x").error_code() == errc::not_friends);
  Frame both = alice->request([](auto& fbb) {
    std::vector<std::uint8_t> body{1};
    return wire::CreateSendDirect(fbb, "bob", "g1", 1, &body);
  });
  CHECK(both.error_code() == errc::invalid_argument);
  CHECK(alice->send_to_user("bob", 1, std::string(10, 'x')).type() == Body::SendAck);
}

TEST_CASE("messages: the anyone dm policy lets strangers talk", "[messages]") {
  service::Options options = test_options();
  options.dm_policy = service::DmPolicy::anyone;
  World world(options);
  auto alice = world.login("alice");
  auto carol = world.login("carol");
  CHECK(alice->send_to_user("carol", 1, "hi").type() == Body::SendAck);
  CHECK(delivered(carol->take_pushes()).size() == 1);
}

TEST_CASE("messages: every device of both users gets the push except the sending session",
          "[messages]") {
  Pair pair;
  auto alice_laptop = pair.world.login("alice", "laptop");
  auto bob_laptop = pair.world.login("bob", "laptop");
  pair.alice->take_pushes();
  pair.bob->take_pushes();
  REQUIRE(pair.alice->send_to_user("bob", 1, "hi").type() == Body::SendAck);
  CHECK(pair.alice->take_pushes().empty());
  CHECK(delivered(alice_laptop->take_pushes()).size() == 1);
  CHECK(delivered(pair.bob->take_pushes()).size() == 1);
  CHECK(delivered(bob_laptop->take_pushes()).size() == 1);
  CHECK(pair.world.service.stats().messages_pushed == 3);
}

TEST_CASE("messages: offline messages are pulled oldest first in pages", "[messages]") {
  Pair pair;
  pair.bob->close();
  for (std::uint64_t i = 1; i <= 5; ++i) {
    REQUIRE(pair.alice->send_to_user("bob", i, "m" + std::to_string(i)).type() == Body::SendAck);
  }
  auto bob = pair.world.login("bob", "phone");
  Frame sync = bob->sync();
  REQUIRE(sync.type() == Body::SyncResult);
  const auto* states = sync.envelope->body_as_SyncResult()->conversations();
  REQUIRE(states->size() == 1);
  CHECK(proto::view(states->Get(0)->conversation()) == alice_bob);
  CHECK(states->Get(0)->head_seq() == 5);
  CHECK(states->Get(0)->read_seq() == 0);
  CHECK(states->Get(0)->first_seq() == 1);
  CHECK(proto::view(states->Get(0)->peer()) == "alice");

  Frame first = bob->pull(alice_bob, 0, 2);
  CHECK(seqs_of(first) == std::vector<std::uint64_t>{1, 2});
  CHECK(first.envelope->body_as_MessageBatch()->more());
  CHECK(body_of(*first.envelope->body_as_MessageBatch()->messages()->Get(0)) == "m1");
  Frame second = bob->pull(alice_bob, 2, 2);
  CHECK(seqs_of(second) == std::vector<std::uint64_t>{3, 4});
  Frame last = bob->pull(alice_bob, 4, 2);
  CHECK(seqs_of(last) == std::vector<std::uint64_t>{5});
  CHECK_FALSE(last.envelope->body_as_MessageBatch()->more());
  CHECK(seqs_of(bob->pull(alice_bob, 5, 0)).empty());
}

TEST_CASE("messages: page limits are clamped to the maximum", "[messages]") {
  service::Options options = test_options();
  options.max_page_messages = 3;
  options.default_page_messages = 2;
  World world(options);
  auto alice = world.login("alice");
  auto bob = world.login("bob");
  world.befriend(*alice, "alice", *bob, "bob");
  for (std::uint64_t i = 1; i <= 5; ++i)
    alice->send_to_user("bob", i, "x");
  CHECK(seqs_of(bob->pull(alice_bob, 0, 0)).size() == 2);
  CHECK(seqs_of(bob->pull(alice_bob, 0, 1000)).size() == 3);
}

TEST_CASE("messages: history pages backwards and returns oldest first", "[messages]") {
  Pair pair;
  for (std::uint64_t i = 1; i <= 5; ++i)
    pair.alice->send_to_user("bob", i, "x");
  Frame newest = pair.bob->history(alice_bob, 0, 2);
  CHECK(seqs_of(newest) == std::vector<std::uint64_t>{4, 5});
  CHECK(newest.envelope->body_as_MessageBatch()->more());
  Frame older = pair.bob->history(alice_bob, 4, 2);
  CHECK(seqs_of(older) == std::vector<std::uint64_t>{2, 3});
  Frame oldest = pair.bob->history(alice_bob, 2, 2);
  CHECK(seqs_of(oldest) == std::vector<std::uint64_t>{1});
  CHECK_FALSE(oldest.envelope->body_as_MessageBatch()->more());
}

TEST_CASE("messages: only participants read a direct conversation", "[messages]") {
  Pair pair;
  pair.alice->send_to_user("bob", 1, "secret");
  auto carol = pair.world.login("carol");
  CHECK(carol->pull(alice_bob, 0, 0).error_code() == errc::forbidden);
  CHECK(carol->history(alice_bob, 0, 0).error_code() == errc::forbidden);
  CHECK(carol->ack(alice_bob, 1).error_code() == errc::forbidden);
  CHECK(carol->pull("nonsense", 0, 0).error_code() == errc::invalid_argument);
}

TEST_CASE("messages: read cursors are per device and never move backwards", "[messages]") {
  Pair pair;
  for (std::uint64_t i = 1; i <= 3; ++i)
    pair.alice->send_to_user("bob", i, "x");
  CHECK(pair.bob->ack(alice_bob, 2).type() == Body::Ok);
  CHECK(pair.bob->ack(alice_bob, 1).type() == Body::Ok);  // ignored, not an error
  CHECK(pair.bob->ack(alice_bob, 4).error_code() == errc::invalid_argument);
  auto read_seq = [](Client& client) {
    Frame sync = client.sync();
    return sync.envelope->body_as_SyncResult()->conversations()->Get(0)->read_seq();
  };
  CHECK(read_seq(*pair.bob) == 2);
  CHECK(pair.bob->ack(alice_bob, 3).type() == Body::Ok);
  CHECK(read_seq(*pair.bob) == 3);
  auto bob_laptop = pair.world.login("bob", "laptop");
  CHECK(read_seq(*bob_laptop) == 0);
  CHECK(read_seq(*pair.alice) == 0);
}

TEST_CASE("messages: the per-session write rate is limited", "[messages]") {
  service::Options options = test_options();
  options.messages_per_second = 1;
  options.message_burst = 3;
  World world(options);
  auto alice = world.login("alice");
  auto bob = world.login("bob");
  world.clock.advance_ms(10'000);  // befriending spends budget too
  world.befriend(*alice, "alice", *bob, "bob");
  world.clock.advance_ms(10'000);
  for (std::uint64_t i = 1; i <= 3; ++i) {
    CHECK(alice->send_to_user("bob", i, "x").type() == Body::SendAck);
  }
  CHECK(alice->send_to_user("bob", 4, "x").error_code() == errc::rate_limited);
  world.clock.advance_ms(1'000);
  CHECK(alice->send_to_user("bob", 4, "x").type() == Body::SendAck);
  // Reads are not rate limited.
  CHECK(alice->sync().type() == Body::SyncResult);
}

TEST_CASE("messages: a failed store write gets Internal and does not advance the seq",
          "[messages]") {
  // A Kv that fails writes on demand.
  class FlakyKv final : public store::Kv {
   public:
    Error get(store::Column c, std::string_view k, std::string& v) override {
      return inner.get(c, k, v);
    }
    Error write(const store::WriteBatch& batch, bool sync) override {
      if (fail_writes) return Error{errc::internal, "disk on fire"};
      return inner.write(batch, sync);
    }
    Error scan(store::Column c, std::string_view p, std::string_view s, bool r,
               const store::ScanVisitor& v) override {
      return inner.scan(c, p, s, r, v);
    }
    std::unique_ptr<store::KvSnapshot> snapshot() override { return inner.snapshot(); }
    std::uint64_t approximate_size_bytes() const override { return 0; }
    Error flush() override { return {}; }
    store::MemoryKv inner;
    bool fail_writes = false;
  };
  FlakyKv kv;
  core::ManualClock clock;
  core::Logger logger(core::LogLevel::off);
  service::Options options = test_options();
  options.dm_policy = service::DmPolicy::anyone;
  service::InlineProposer proposer(kv, test_partitions());
  service::ImService service(kv, clock, logger, options, proposer, test_partitions());
  proposer.attach(service);
  Client alice(service), bob(service);
  alice.hello();
  bob.hello();
  alice.register_user("alice", "password1");
  alice.register_user("bob", "password1");
  REQUIRE(alice.login("alice", "password1", "p").type() == Body::LoginOk);
  REQUIRE(bob.login("bob", "password1", "p").type() == Body::LoginOk);
  REQUIRE(alice.send_to_user("bob", 1, "a").envelope->body_as_SendAck()->seq() == 1);
  bob.take_pushes();
  kv.fail_writes = true;
  CHECK(alice.send_to_user("bob", 2, "b").error_code() == errc::internal);
  CHECK(bob.take_pushes().empty());
  kv.fail_writes = false;
  CHECK(alice.send_to_user("bob", 2, "b").envelope->body_as_SendAck()->seq() == 2);
}

TEST_CASE("messages: a push leaves only after its message's write", "[messages]") {
  // A Kv that tells the test when a batch is written.
  class ObservedKv final : public store::Kv {
   public:
    Error get(store::Column c, std::string_view k, std::string& v) override {
      return inner.get(c, k, v);
    }
    Error write(const store::WriteBatch& batch, bool sync) override {
      if (on_write) on_write();
      return inner.write(batch, sync);
    }
    Error scan(store::Column c, std::string_view p, std::string_view s, bool r,
               const store::ScanVisitor& v) override {
      return inner.scan(c, p, s, r, v);
    }
    std::unique_ptr<store::KvSnapshot> snapshot() override { return inner.snapshot(); }
    std::uint64_t approximate_size_bytes() const override { return 0; }
    Error flush() override { return {}; }
    store::MemoryKv inner;
    std::function<void()> on_write;
  };
  ObservedKv kv;
  core::ManualClock clock;
  core::Logger logger(core::LogLevel::off);
  service::Options options = test_options();
  options.dm_policy = service::DmPolicy::anyone;
  service::InlineProposer proposer(kv, test_partitions());
  service::ImService service(kv, clock, logger, options, proposer, test_partitions());
  proposer.attach(service);
  Client alice(service), bob(service);
  alice.hello();
  bob.hello();
  alice.register_user("alice", "password1");
  alice.register_user("bob", "password1");
  REQUIRE(alice.login("alice", "password1", "p").type() == Body::LoginOk);
  REQUIRE(bob.login("bob", "password1", "p").type() == Body::LoginOk);
  bob.take_pushes();
  std::vector<std::size_t> frames_at_write;
  kv.on_write = [&] { frames_at_write.push_back(bob.connection.frames.size()); };
  REQUIRE(alice.send_to_user("bob", 1, "a").type() == Body::SendAck);
  REQUIRE(frames_at_write.size() == 1);
  CHECK(frames_at_write[0] == 0);  // nothing had reached bob when the message was written
  auto pushes = bob.take_pushes();
  REQUIRE(pushes.size() == 1);
  CHECK(pushes[0].type() == Body::Deliver);
}
