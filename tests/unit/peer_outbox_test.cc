// PeerOutbox: what one node coalesces for another until a flush. Pushes leave as PushBatches
// messages and forwards as ForwardBatch requests, in the order they were added, within their
// limits; answers are matched to their forwards.
#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "net/peer_outbox.h"
#include "proto/peer_frame.h"

using namespace qim;

namespace {

using Added = net::PeerOutbox::Added;
using ForwardReply = service::Result<std::vector<std::uint8_t>>;

std::vector<std::uint8_t> frame_of(std::uint8_t tag, std::size_t size = 16) {
  std::vector<std::uint8_t> frame(size, tag);
  proto::encode_frame_length(static_cast<std::uint32_t>(size - proto::frame_header_bytes),
                             frame.data());
  return frame;
}

// Verifies `payload` as a peer envelope; REQUIREs that it is one.
proto::PeerMessage open(std::vector<std::uint8_t> payload) {
  Error error;
  auto message = proto::PeerMessage::verify(std::move(payload), error);
  INFO(error.message);
  REQUIRE(message.valid());
  return message;
}

struct Push {
  std::vector<std::uint8_t> frame;
  std::vector<std::string> users;
  std::string except_user;
  std::uint64_t except_session = 0;
};

std::vector<Push> pushes_in(const proto::PeerMessage& message) {
  const auto* batches = message.envelope().body_as_PushBatches();
  REQUIRE(batches != nullptr);
  CHECK(message.envelope().kind() == peer_wire::PeerKind::Oneway);
  std::vector<Push> pushes;
  for (const auto* batch : *batches->batches()) {
    Push push;
    auto frame = proto::view(batch->frame());
    push.frame.assign(frame.begin(), frame.end());
    for (const auto* user : *batch->users())
      push.users.emplace_back(proto::view(user));
    push.except_user = proto::view(batch->except_user());
    push.except_session = batch->except_session();
    pushes.push_back(std::move(push));
  }
  return pushes;
}

service::Caller caller(const std::string& user) {
  return {user, "phone", 7};
}

// A client request of `size` bytes (the outbox treats it as opaque).
std::vector<std::uint8_t> request_of(std::uint8_t tag, std::size_t size = 24) {
  return std::vector<std::uint8_t>(size, tag);
}

}  // namespace

TEST_CASE("peer outbox: pushes added between two flushes leave as one message, in order",
          "[peer][outbox]") {
  net::PeerOutbox outbox;
  std::vector<std::string> alice = {"alice"};
  std::vector<std::string> two = {"bob", "carol"};
  CHECK(outbox.add_push(frame_of(1), alice, "dave", 3) == Added::first);
  CHECK(outbox.add_push(frame_of(2), two, "", 0) == Added::queued);
  CHECK(outbox.add_push(frame_of(3), alice, "alice", 9) == Added::queued);

  auto taken = outbox.take_pushes();
  REQUIRE(taken.messages.size() == 1);
  REQUIRE(taken.pushes_in == std::vector<std::size_t>{3});
  auto pushes = pushes_in(open(std::move(taken.messages[0])));
  REQUIRE(pushes.size() == 3);
  CHECK(pushes[0].frame == frame_of(1));
  CHECK(pushes[0].users == alice);
  CHECK(pushes[0].except_user == "dave");
  CHECK(pushes[0].except_session == 3);
  CHECK(pushes[1].frame == frame_of(2));
  CHECK(pushes[1].users == two);
  CHECK(pushes[1].except_user.empty());
  CHECK(pushes[2].frame == frame_of(3));
  CHECK(pushes[2].except_session == 9);

  // Taken: empty, and the next push is the first again.
  CHECK(outbox.take_pushes().messages.empty());
  CHECK(outbox.add_push(frame_of(4), alice, "", 0) == Added::first);
}

TEST_CASE("peer outbox: a large burst of pushes is split into messages that keep the order",
          "[peer][outbox]") {
  net::PeerOutboxLimits limits;
  limits.batch_bytes = 4 * 1024;
  net::PeerOutbox outbox(limits);
  std::vector<std::string> users = {"u1", "u2"};
  constexpr int count = 100;
  for (int i = 0; i < count; ++i)
    REQUIRE(outbox.add_push(frame_of(static_cast<std::uint8_t>(i), 200), users, "", 0) !=
            Added::refused);
  auto taken = outbox.take_pushes();
  REQUIRE(taken.messages.size() > 1);
  REQUIRE(taken.messages.size() == taken.pushes_in.size());
  int next = 0;
  for (std::size_t m = 0; m < taken.messages.size(); ++m) {
    CHECK(taken.messages[m].size() <= limits.batch_bytes + 1024);
    auto pushes = pushes_in(open(std::move(taken.messages[m])));
    CHECK(pushes.size() == taken.pushes_in[m]);
    for (const Push& push : pushes)
      CHECK(push.frame == frame_of(static_cast<std::uint8_t>(next++), 200));
  }
  CHECK(next == count);
}

TEST_CASE("peer outbox: a full outbox refuses, an empty one takes anything", "[peer][outbox]") {
  net::PeerOutboxLimits limits;
  limits.max_bytes = 2 * 1024;
  limits.max_forwards = 3;
  net::PeerOutbox outbox(limits);
  std::vector<std::string> users = {"u"};
  // One larger than the bound is still taken when nothing of its kind waits.
  CHECK(outbox.add_push(frame_of(1, 4096), users, "", 0) == Added::first);
  CHECK(outbox.add_push(frame_of(2), users, "", 0) == Added::refused);
  net::PeerOutbox::ForwardDone first = [](ForwardReply) {};
  CHECK(outbox.add_forward(caller("a"), request_of(1), 100, std::move(first)) == Added::first);
  net::PeerOutbox::ForwardDone done = [](ForwardReply) {};
  CHECK(outbox.add_forward(caller("a"), request_of(1), 100, std::move(done)) == Added::refused);
  CHECK(done);  // not moved from when refused
  CHECK(outbox.take_pushes().pushes_in == std::vector<std::size_t>{1});
  CHECK(outbox.take_forwards().size() == 1);

  for (int i = 0; i < 3; ++i) {
    net::PeerOutbox::ForwardDone each = [](ForwardReply) {};
    CHECK(outbox.add_forward(caller("a"), request_of(1), 100, std::move(each)) ==
          (i == 0 ? Added::first : Added::queued));
  }
  net::PeerOutbox::ForwardDone more = [](ForwardReply) {};
  CHECK(outbox.add_forward(caller("a"), request_of(1), 100, std::move(more)) == Added::refused);
  CHECK(outbox.take_forwards().size() == 1);
  net::PeerOutbox::ForwardDone again = [](ForwardReply) {};
  CHECK(outbox.add_forward(caller("a"), request_of(1), 100, std::move(again)) == Added::first);
}

TEST_CASE("peer outbox: push messages are numbered in order, a refused push uses up a number",
          "[peer][outbox]") {
  net::PeerOutboxLimits limits;
  limits.max_bytes = 2 * 1024;
  net::PeerOutbox outbox(limits, 42);
  std::vector<std::string> users = {"u"};
  auto numbers_of = [](net::PeerOutbox::Pushes& taken) {
    std::vector<std::uint64_t> numbers;
    for (auto& message : taken.messages) {
      auto opened = open(std::move(message));
      const auto* batches = opened.envelope().body_as_PushBatches();
      REQUIRE(batches != nullptr);
      CHECK(batches->sender_epoch() == 42);
      numbers.push_back(batches->number());
    }
    return numbers;
  };
  CHECK(outbox.add_push(frame_of(1), users, "", 0) == Added::first);
  auto first = outbox.take_pushes();
  CHECK(numbers_of(first) == std::vector<std::uint64_t>{1});
  CHECK(first.last_number == 1);
  // Nothing queued: a take neither sends nor numbers anything.
  CHECK(outbox.take_pushes().last_number == 1);

  CHECK(outbox.add_push(frame_of(2, 4096), users, "", 0) == Added::first);
  CHECK(outbox.add_push(frame_of(3), users, "", 0) == Added::refused);  // skips number 3
  auto second = outbox.take_pushes();
  CHECK(numbers_of(second) == std::vector<std::uint64_t>{2});
  CHECK(second.last_number == 3);
  CHECK(outbox.add_push(frame_of(4), users, "", 0) == Added::first);
  auto third = outbox.take_pushes();
  CHECK(numbers_of(third) == std::vector<std::uint64_t>{4});
  CHECK(third.last_number == 4);
  // Pushes for a node that is down are not queued, but use up numbers too; the first since a
  // take asks for a flush.
  CHECK(outbox.skip_push());
  CHECK_FALSE(outbox.skip_push());
  auto skipped = outbox.take_pushes();
  CHECK(skipped.messages.empty());
  CHECK(skipped.last_number == 6);
  CHECK(outbox.skip_push());
}

TEST_CASE("peer outbox: forwards leave in batches, in order, and get their own answers",
          "[peer][outbox]") {
  net::PeerOutboxLimits limits;
  limits.batch_forwards = 4;
  limits.reply_budget_bytes = 10'000;
  net::PeerOutbox outbox(limits);
  std::vector<std::optional<ForwardReply>> replies(10);
  auto add = [&](std::size_t i, std::size_t estimate) {
    return outbox.add_forward(caller("user" + std::to_string(i)),
                              request_of(static_cast<std::uint8_t>(i), 17 + i), estimate,
                              [&replies, i](ForwardReply reply) { replies[i] = std::move(reply); });
  };
  // Pushes and forwards are flushed apart: a queued push does not make a forward "queued".
  std::vector<std::string> users = {"u"};
  CHECK(outbox.add_push(frame_of(1), users, "", 0) == Added::first);
  CHECK(add(0, 100) == Added::first);
  for (std::size_t i = 1; i < 6; ++i)
    CHECK(add(i, 100) == Added::queued);  // 0..3 fill a batch; 4 starts the next
  // A forward whose answer may be large closes the batch before it when the budget is spent.
  CHECK(add(6, 9'900) == Added::queued);
  CHECK(add(7, 100) == Added::queued);

  auto batches = outbox.take_forwards();
  REQUIRE(batches.size() == 3);
  std::vector<std::size_t> sizes;
  std::size_t next = 0;
  for (auto& batch : batches) {
    sizes.push_back(batch.done.size());
    auto message = open(batch.request);
    CHECK(message.envelope().kind() == peer_wire::PeerKind::Request);
    const auto* forwards = message.envelope().body_as_ForwardBatch();
    REQUIRE(forwards != nullptr);
    REQUIRE(forwards->forwards()->size() == batch.done.size());
    for (const auto* forward : *forwards->forwards()) {
      CHECK(proto::view(forward->user()) == "user" + std::to_string(next));
      CHECK(proto::view(forward->device()) == "phone");
      CHECK(forward->session_id() == 7);
      auto request = proto::view(forward->request());
      CHECK(request.size() == 17 + next);
      CHECK(request[0] == next);
      // Placed so that the receiver can verify the client envelope where it lies.
      CHECK(reinterpret_cast<std::uintptr_t>(request.data()) % 8 == 0);
      ++next;
    }
  }
  CHECK(sizes == std::vector<std::size_t>{4, 2, 2});
  CHECK(next == 8);
  CHECK(outbox.take_pushes().pushes_in == std::vector<std::size_t>{1});

  // The first batch is answered in full, the second not at all, the third only in part.
  auto answers = [](std::initializer_list<std::uint8_t> tags) {
    proto::PeerFrameBuilder builder;
    auto& fbb = builder.fbb();
    std::vector<flatbuffers::Offset<peer_wire::ForwardResult>> results;
    for (std::uint8_t tag : tags) {
      auto frame = frame_of(tag);
      results.push_back(peer_wire::CreateForwardResult(fbb, fbb.CreateVector(frame)));
    }
    auto vector = fbb.CreateVector(results);
    return open(builder.finish_owned(0, peer_wire::PeerKind::Reply,
                                     peer_wire::CreateForwardBatchResult(fbb, vector)));
  };
  auto first = answers({10, 11, 12, 13});
  net::PeerOutbox::answer(batches[0], first.envelope().body_as_ForwardBatchResult(),
                          Error{errc::internal, "none"});
  net::PeerOutbox::answer(batches[1], nullptr, Error{errc::unavailable, "no answer"});
  auto third = answers({16});
  net::PeerOutbox::answer(batches[2], third.envelope().body_as_ForwardBatchResult(),
                          Error{errc::internal, "missing"});
  for (std::size_t i = 0; i < 8; ++i) {
    INFO(i);
    REQUIRE(replies[i].has_value());
  }
  for (std::size_t i = 0; i < 4; ++i) {
    REQUIRE(replies[i]->ok());
    CHECK(replies[i]->value == frame_of(static_cast<std::uint8_t>(10 + i)));
  }
  CHECK(replies[4]->error.code == errc::unavailable);
  CHECK(replies[5]->error.code == errc::unavailable);
  REQUIRE(replies[6]->ok());
  CHECK(replies[6]->value == frame_of(16));
  CHECK(replies[7]->error.code == errc::internal);
  CHECK_FALSE(replies[8].has_value());
}
