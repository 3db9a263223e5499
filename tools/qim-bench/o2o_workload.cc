#include "qim-bench/o2o_workload.h"

#include <random>

#include "qim-bench/message_body.h"
#include "qim-bench/messaging_shard.h"

namespace qim::bench {
namespace {

class O2oShard final : public MessagingShard {
 public:
  O2oShard(asio::io_context& io, const Options& options, std::uint32_t shard, std::uint32_t users)
      : MessagingShard(io, options, shard, users, users, 1),
        users_(users),
        in_flight_(users, 0),
        random_(0x5eed0000u + shard) {}

 private:
  void send_from(std::uint32_t sender, std::uint64_t send_time_ns) {
    std::uint32_t target = 0;
    if (options_.contacts != 0) {
      target = (sender + 1 + random_() % options_.contacts) % users_;
    } else {
      target = random_() % (users_ - 1);
      if (target >= sender) ++target;
    }
    send_message(sender, target, &names_[target], nullptr, send_time_ns);
    ++in_flight_[sender];
    ++unfinished_;
  }

  void start_window() override {
    std::uint64_t now = now_ns();
    for (std::uint32_t round = 0; round < options_.effective_window(); ++round)
      for (std::uint32_t sender = 0; sender < users_; ++sender)
        send_from(sender, now);
  }

  void paced_send(std::uint64_t intended_ns) override {
    std::uint32_t sender = next_sender_;
    next_sender_ = (next_sender_ + 1) % users_;
    if (unfinished_ >= options_.max_in_flight) {
      ++skipped_;
      return;
    }
    send_from(sender, intended_ns);
  }

  void finish_one(std::uint32_t sender) {
    if (in_flight_[sender] > 0) --in_flight_[sender];
    if (unfinished_ > 0) --unfinished_;
    if (windowed() && sending()) send_from(sender, now_ns());
  }

  void on_deliver(std::uint32_t receiver, const wire::Message& message,
                  std::uint64_t now) override {
    auto body = decode_body(proto::view(message.body()));
    if (!body || body->sender >= users_ || body->target != receiver ||
        proto::view(message.sender()) != names_[body->sender]) {
      ++misrouted_;
      return;
    }
    bool out_of_order = false, finished = false;
    auto outcome = ledger_.on_delivery(receiver, body->sender, body->sequence, message.seq(),
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
    finish_one(body->sender);
  }

  void on_send_failed(std::uint32_t sender) override { finish_one(sender); }
  std::uint64_t unfinished() const override { return unfinished_; }

  const std::uint32_t users_;
  std::vector<std::uint32_t> in_flight_;  // per sender: sent, not yet received nor failed
  std::uint64_t unfinished_ = 0;
  std::uint32_t next_sender_ = 0;
  std::minstd_rand random_;
};

}  // namespace

asio::awaitable<void> run_o2o_shard(asio::io_context& io, const Options& options,
                                    std::uint32_t shard, std::uint32_t users,
                                    Coordinator& coordinator, ShardResult& result) {
  O2oShard workload(io, options, shard, users);
  co_await workload.run(coordinator, result);
}

}  // namespace qim::bench
