#pragma once
// What o2o and fanout share: one logged-in connection per user, the delivery ledger, SendAck
// and Error accounting, the measured window and the drain. A subclass decides whom to send
// to and how a delivery is checked.
//
// Runs on one io_context (one thread); owned by the coroutine that runs it.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <asio.hpp>

#include "qim-bench/bench_connection.h"
#include "qim-bench/coordinator.h"
#include "qim-bench/delivery_ledger.h"
#include "qim-bench/histogram.h"
#include "qim-bench/options.h"
#include "qim-bench/population.h"
#include "qim-bench/shard_result.h"
#include "qim-bench/wait_group.h"

namespace qim::bench {

class MessagingShard : public FrameSink {
 public:
  MessagingShard(asio::io_context& io, const Options& options, std::uint32_t shard,
                 std::uint32_t users, std::uint32_t senders, std::uint32_t receivers_per_message);
  virtual ~MessagingShard() = default;

  // Set-up, the measured run and the drain; fills `result`. Bounded in time.
  asio::awaitable<void> run(Coordinator& coordinator, ShardResult& result);

  void on_frame(BenchConnection& connection, const wire::Envelope& envelope) final;
  void on_closed(BenchConnection& connection, const Error& reason) final;
  void on_batch_end() final;

 protected:
  // After every user is logged in, before serve(): e.g. create the group.
  virtual asio::awaitable<Error> prepare() { co_return Error{}; }
  // Windowed mode: send the first window. Rate mode: one paced send.
  virtual void start_window() = 0;
  virtual void paced_send(std::uint64_t intended_ns) = 0;
  // A Deliver push to `receiver`.
  virtual void on_deliver(std::uint32_t receiver, const wire::Message& message,
                          std::uint64_t now) = 0;
  // A message of `sender` will never be delivered (its send failed).
  virtual void on_send_failed(std::uint32_t sender) = 0;
  // Messages sent but not finished; the drain waits for zero.
  virtual std::uint64_t unfinished() const = 0;

  // Encodes and queues one Send on `sender`'s connection; returns the message's sequence.
  std::uint64_t send_message(std::uint32_t sender, std::uint32_t target, const std::string* to_user,
                             const std::string* to_group, std::uint64_t send_time_ns);
  // Counts a delivery that passed the routing checks; records its latency when it arrived in
  // the measured window.
  void count_delivery(std::uint64_t send_time_ns, std::uint64_t now);
  bool windowed() const { return options_.rate <= 0; }
  bool sending() const { return sending_; }

  asio::io_context& io_;
  const Options& options_;
  const std::uint32_t shard_;
  UserNames names_;
  Outbox outbox_;
  std::vector<std::unique_ptr<BenchConnection>> connections_;
  DeliveryLedger ledger_;
  std::uint64_t misrouted_ = 0;
  std::uint64_t duplicated_ = 0;
  std::uint64_t out_of_order_ = 0;
  std::uint64_t skipped_ = 0;  // rate mode: not sent because max_in_flight was reached

 private:
  void on_send_ack(BenchConnection& connection, const wire::SendAck& ack);
  void on_request_error(BenchConnection& connection, std::uint32_t req_id,
                        const wire::Error& error);
  void export_result(ShardResult& result) const;
  // --read-acks: the highest seq per conversation read in the current burst.
  void note_read(BenchConnection& connection, const wire::Message& message);

  std::vector<std::uint8_t> body_;
  bool sending_ = false;
  bool stopping_ = false;
  std::uint64_t warm_end_ns_ = 0;
  std::uint64_t measure_end_ns_ = 0;
  std::uint64_t deliveries_total_ = 0;
  std::uint64_t deliveries_measured_ = 0;
  std::uint64_t sent_measured_ = 0;
  Histogram latency_;
  Histogram ack_latency_;
  std::map<std::string, std::uint64_t> ack_errors_;
  std::map<std::string, std::uint64_t> error_frames_;
  std::map<std::string, std::uint64_t> close_reasons_;
  struct ReadMark {
    BenchConnection* connection;
    std::string conversation;
    std::uint64_t seq;
  };
  std::vector<ReadMark> reads_;  // this burst's, acked at its end
  std::uint64_t read_acks_sent_ = 0;
};

}  // namespace qim::bench
