#include "qim-bench/fanout_workload.h"

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "qim-bench/message_body.h"
#include "qim-bench/messaging_shard.h"

namespace qim::bench {
namespace {

// Members per GroupCreate / GroupAdd request, to stay well below the 64 KiB frame limit.
constexpr std::uint32_t members_per_request = 1000;

class FanoutShard final : public MessagingShard {
 public:
  FanoutShard(asio::io_context& io, const Options& options, std::uint32_t shard)
      : MessagingShard(io, options, shard, options.members, 1, options.members - 1),
        group_(names_.group_name()),
        conversation_("g:" + group_) {}

 private:
  static constexpr std::uint32_t sender_index = 0;

  asio::awaitable<Error> prepare() override {
    BenchConnection& owner = *connections_[sender_index];
    std::uint32_t members = names_.size();
    for (std::uint32_t begin = 1; begin < members; begin += members_per_request) {
      std::uint32_t end = std::min(members, begin + members_per_request);
      bool create = begin == 1;
      std::function<std::span<const std::uint8_t>(proto::FrameBuilder&, std::uint32_t)> build =
          [&](proto::FrameBuilder& builder, std::uint32_t req_id) {
            builder.reset();
            auto& fbb = builder.fbb();
            std::vector<flatbuffers::Offset<flatbuffers::String>> users;
            for (std::uint32_t i = begin; i < end; ++i)
              users.push_back(fbb.CreateString(names_[i]));
            auto list = fbb.CreateVector(users);
            auto group = fbb.CreateString(group_);
            if (create) {
              auto name = fbb.CreateString("bench");
              return builder.finish(req_id, wire::CreateGroupCreate(fbb, group, name, list));
            }
            return builder.finish(req_id, wire::CreateGroupAdd(fbb, group, list));
          };
      if (Error error = co_await call_ok(owner, options_, build)) {
        error.message = "creating the group " + group_ + ": " + error.message;
        co_return error;
      }
    }
    co_return Error{};
  }

  void send_one(std::uint64_t send_time_ns) {
    send_message(sender_index, shard_, nullptr, &group_, send_time_ns);
    ++unfinished_;
  }

  void start_window() override {
    std::uint64_t now = now_ns();
    for (std::uint32_t i = 0; i < options_.effective_window(); ++i)
      send_one(now);
  }

  void paced_send(std::uint64_t intended_ns) override {
    if (unfinished_ >= options_.max_in_flight) {
      ++skipped_;
      return;
    }
    send_one(intended_ns);
  }

  void finish_one() {
    if (unfinished_ > 0) --unfinished_;
    if (windowed() && sending()) send_one(now_ns());
  }

  void on_deliver(std::uint32_t receiver, const wire::Message& message,
                  std::uint64_t now) override {
    auto body = decode_body(proto::view(message.body()));
    if (!body || receiver == sender_index || body->sender != sender_index ||
        body->target != shard_ || proto::view(message.conversation()) != conversation_ ||
        proto::view(message.sender()) != names_[sender_index]) {
      ++misrouted_;
      return;
    }
    bool out_of_order = false, finished = false;
    auto outcome = ledger_.on_delivery(receiver, sender_index, body->sequence, message.seq(),
                                       out_of_order, finished);
    if (outcome == DeliveryLedger::Outcome::unknown) {
      ++misrouted_;
      return;
    }
    if (outcome == DeliveryLedger::Outcome::duplicate) {
      ++duplicated_;
      return;
    }
    if (out_of_order) ++out_of_order_;
    count_delivery(body->send_time_ns, now);
    if (finished) finish_one();
  }

  void on_send_failed(std::uint32_t) override { finish_one(); }
  std::uint64_t unfinished() const override { return unfinished_; }

  const std::string group_;
  const std::string conversation_;
  std::uint64_t unfinished_ = 0;
};

}  // namespace

asio::awaitable<void> run_fanout_shard(asio::io_context& io, const Options& options,
                                       std::uint32_t shard, Coordinator& coordinator,
                                       ShardResult& result) {
  FanoutShard workload(io, options, shard);
  co_await workload.run(coordinator, result);
}

}  // namespace qim::bench
