#include "qim-bench/messaging_shard.h"

#include "qim-bench/keepalive.h"

#include <fmt/core.h>

#include "qim-bench/clock.h"
#include "qim-bench/message_body.h"
#include "qim-bench/pacer.h"

namespace qim::bench {
namespace {

// Per-sender sequence <-> req_id: requests are numbered by the message they carry.
std::uint32_t req_id_of(std::uint64_t sequence) {
  return static_cast<std::uint32_t>(sequence % 0xffff'fffeu) + 1;
}
std::uint64_t sequence_of(std::uint32_t req_id) {
  return req_id - 1;
}

constexpr std::size_t active_read_buffer_bytes = 16 * 1024;
// Read Acks carry this req_id; Send req_ids stay below it (req_id_of).
constexpr std::uint32_t read_ack_req_id = 0xffff'ffffu;

}  // namespace

MessagingShard::MessagingShard(asio::io_context& io, const Options& options, std::uint32_t shard,
                               std::uint32_t users, std::uint32_t senders,
                               std::uint32_t receivers_per_message)
    : io_(io),
      options_(options),
      shard_(shard),
      names_(options.prefix, shard, users),
      ledger_(senders, users, receivers_per_message),
      body_(options.body_bytes) {
  connections_.reserve(users);
  for (std::uint32_t i = 0; i < users; ++i)
    connections_.push_back(
        std::make_unique<BenchConnection>(io, outbox_, i, active_read_buffer_bytes));
}

std::uint64_t MessagingShard::send_message(std::uint32_t sender, std::uint32_t target,
                                           const std::string* to_user, const std::string* to_group,
                                           std::uint64_t send_time_ns) {
  std::uint64_t sequence = ledger_.on_sent(sender, send_time_ns);
  if (send_time_ns >= warm_end_ns_ && send_time_ns < measure_end_ns_) ++sent_measured_;
  BenchConnection& connection = *connections_[sender];
  proto::FrameBuilder& builder = connection.builder();
  builder.reset();
  auto& fbb = builder.fbb();
  std::uint8_t* body = nullptr;
  auto body_offset = fbb.CreateUninitializedVector(options_.body_bytes, &body);
  encode_body(MessageBody{sender, target, sequence, send_time_ns}, {body, options_.body_bytes});
  auto user_offset =
      to_user ? fbb.CreateString(*to_user) : flatbuffers::Offset<flatbuffers::String>();
  auto group_offset =
      to_group ? fbb.CreateString(*to_group) : flatbuffers::Offset<flatbuffers::String>();
  connection.queue(
      builder.finish(req_id_of(sequence),
                     wire::CreateSend(fbb, user_offset, group_offset, sequence + 1, body_offset)));
  return sequence;
}

void MessagingShard::count_delivery(std::uint64_t send_time_ns, std::uint64_t now) {
  ++deliveries_total_;
  if (now >= warm_end_ns_ && now < measure_end_ns_) {
    ++deliveries_measured_;
    latency_.record(now > send_time_ns ? now - send_time_ns : 0);
  }
}

void MessagingShard::on_frame(BenchConnection& connection, const wire::Envelope& envelope) {
  switch (envelope.body_type()) {
    case wire::Body::Deliver: {
      const auto* message = envelope.body_as_Deliver()->message();
      if (message == nullptr) {
        ++misrouted_;
        return;
      }
      on_deliver(connection.index(), *message, now_ns());
      if (options_.read_acks) note_read(connection, *message);
      return;
    }
    case wire::Body::SendAck:
      on_send_ack(connection, *envelope.body_as_SendAck());
      return;
    case wire::Body::Error:
      if (envelope.req_id() == read_ack_req_id) {
        ++ack_errors_[std::string("read_ack_") +
                      std::string(errc_name(proto::from_wire(envelope.body_as_Error()->code())))];
      } else if (envelope.req_id() != 0) {
        on_request_error(connection, envelope.req_id(), *envelope.body_as_Error());
      } else {
        ++error_frames_[errc_name(proto::from_wire(envelope.body_as_Error()->code()))];
      }
      return;
    default:
      return;  // group and presence events
  }
}

void MessagingShard::note_read(BenchConnection& connection, const wire::Message& message) {
  auto conversation = proto::view(message.conversation());
  // A burst comes from one socket and holds few conversations: a linear search is enough.
  for (ReadMark& mark : reads_) {
    if (mark.connection == &connection && mark.conversation == conversation) {
      mark.seq = std::max(mark.seq, message.seq());
      return;
    }
  }
  reads_.push_back(ReadMark{&connection, std::string(conversation), message.seq()});
}

void MessagingShard::on_batch_end() {
  for (const ReadMark& mark : reads_) {
    proto::FrameBuilder& builder = mark.connection->builder();
    builder.reset();
    auto& fbb = builder.fbb();
    auto conversation = fbb.CreateString(mark.conversation);
    mark.connection->queue(
        builder.finish(read_ack_req_id, wire::CreateAck(fbb, conversation, mark.seq)));
    ++read_acks_sent_;
  }
  reads_.clear();
  outbox_.flush();
}

void MessagingShard::on_send_ack(BenchConnection& connection, const wire::SendAck& ack) {
  if (ack.client_msg_id() == 0) return;
  std::uint64_t sequence = ack.client_msg_id() - 1;
  std::uint64_t sent_ns = ledger_.on_ack(connection.index(), sequence, true);
  std::uint64_t now = now_ns();
  if (sent_ns != 0 && now >= warm_end_ns_ && now < measure_end_ns_)
    ack_latency_.record(now > sent_ns ? now - sent_ns : 0);
}

void MessagingShard::on_request_error(BenchConnection& connection, std::uint32_t req_id,
                                      const wire::Error& error) {
  ++ack_errors_[errc_name(proto::from_wire(error.code()))];
  std::uint64_t sequence = sequence_of(req_id);
  if (ledger_.ack_of(connection.index(), sequence) != DeliveryLedger::Ack::pending) return;
  ledger_.on_ack(connection.index(), sequence, false);
  on_send_failed(connection.index());
}

void MessagingShard::on_closed(BenchConnection&, const Error& reason) {
  if (stopping_) return;
  ++close_reasons_[reason.message];
}

asio::awaitable<void> MessagingShard::run(Coordinator& coordinator, ShardResult& result) {
  auto fail = [&](Error error) {
    result.error = std::move(error);
    coordinator.fail_from(0);
  };
  if (Error error = co_await register_users(io_, options_, names_)) {
    fail(std::move(error));
    co_return;
  }
  // Pings whichever connection is quiet (during the set-up, receivers that never send) so the
  // server's idle timeout does not close it.
  bool stop_pinging = false;
  WaitGroup pinging(io_);
  pinging.add();
  asio::co_spawn(
      io_,
      [this, &stop_pinging, &pinging]() -> asio::awaitable<void> {
        co_await keep_alive(io_, connections_, outbox_, stop_pinging);
        pinging.done();
      },
      asio::detached);
  auto stop_pinger = [&]() -> asio::awaitable<void> {
    stop_pinging = true;
    co_await pinging.wait();
  };
  if (Error error = co_await connect_users(io_, options_, names_, connections_)) {
    co_await stop_pinger();
    fail(std::move(error));
    co_return;
  }
  if (Error error = co_await prepare()) {
    co_await stop_pinger();
    fail(std::move(error));
    co_return;
  }
  WaitGroup serving(io_);
  serving.add(connections_.size());
  for (auto& connection : connections_) {
    asio::co_spawn(
        io_,
        [this, &serving, &connection]() -> asio::awaitable<void> {
          co_await connection->serve(*this);
          serving.done();
        },
        asio::detached);
  }

  coordinator.arrive(0);
  std::uint64_t start_ns = co_await coordinator.released(io_, 0);
  if (start_ns != Coordinator::aborted) {
    warm_end_ns_ =
        start_ns + static_cast<std::uint64_t>(std::chrono::nanoseconds(options_.warmup).count());
    measure_end_ns_ = warm_end_ns_ + static_cast<std::uint64_t>(
                                         std::chrono::nanoseconds(options_.duration).count());
    std::uint64_t drain_end_ns =
        measure_end_ns_ +
        static_cast<std::uint64_t>(std::chrono::nanoseconds(options_.drain).count());
    asio::steady_timer timer(io_);
    timer.expires_at(from_ns(start_ns));
    std::error_code ignored;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));

    sending_ = true;
    if (windowed()) {
      start_window();
      outbox_.flush();
      timer.expires_at(from_ns(measure_end_ns_));
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    } else {
      bool stop = false;
      std::function<void(std::uint64_t)> send = [this](std::uint64_t intended) {
        paced_send(intended);
      };
      std::function<void()> flush = [this] { outbox_.flush(); };
      co_await pace(io_, options_.rate, start_ns, measure_end_ns_, send, flush, stop);
    }
    sending_ = false;
    // Drain: wait for what is in flight, bounded.
    while (unfinished() > 0 && now_ns() < drain_end_ns) {
      timer.expires_after(std::chrono::milliseconds(5));
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
  }
  stopping_ = true;
  stop_pinging = true;
  for (auto& connection : connections_)
    connection->close();
  co_await serving.wait();
  co_await pinging.wait();
  export_result(result);
}

void MessagingShard::export_result(ShardResult& result) const {
  DeliveryLedger::Totals totals = ledger_.totals();
  auto& counters = result.counters;
  counters["sent"] = totals.sent;
  counters["sent_in_window"] = sent_measured_;
  counters["acked"] = totals.acked;
  counters["ack_failed"] = totals.ack_failed;
  counters["unacked"] = totals.unacked;
  counters["lost"] = totals.lost;
  counters["finished"] = totals.finished;
  counters["deliveries"] = deliveries_total_;
  counters["deliveries_in_window"] = deliveries_measured_;
  counters["duplicated"] = duplicated_;
  counters["out_of_order"] = out_of_order_;
  counters["misrouted"] = misrouted_;
  counters["skipped"] = skipped_;
  counters["read_acks"] = read_acks_sent_;
  result.histograms["latency"] = latency_;
  result.histograms["ack_latency"] = ack_latency_;
  result.ack_errors = ack_errors_;
  result.error_frames = error_frames_;
  result.close_reasons = close_reasons_;
}

}  // namespace qim::bench
