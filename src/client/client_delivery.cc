// Client::Impl's delivery: pushes go through the DeliveryOrder (client/delivery_order.h), whose
// pulls and Syncs are sent here and answered back into it; what it hands over becomes
// MessageEvents, acked when auto_ack is on.
#include "client/client_impl.h"

namespace qim {

void Client::Impl::on_push(const Frame& frame) {
  const auto& envelope = *frame.envelope;
  switch (envelope.body_type()) {
    case wire::Body::Deliver:
      on_deliver(*envelope.body_as_Deliver());
      return;
    case wire::Body::Resync: {
      // Pushes for this session were lost between nodes: sync and pull what is missing, after
      // a random wait that spreads the node's sessions out.
      std::uniform_int_distribution<std::uint32_t> spread(0,
                                                          envelope.body_as_Resync()->spread_ms());
      client::DeliveryDirectives out;
      delivery_.request_resync(std::chrono::steady_clock::now(),
                               std::chrono::milliseconds(spread(random_)), out);
      execute(out);
      return;
    }
    case wire::Body::FriendEvent: {
      const auto* event = envelope.body_as_FriendEvent();
      emit(FriendEvent{std::string(proto::view(event->user())),
                       static_cast<FriendEventKind>(event->kind())});
      return;
    }
    case wire::Body::PresenceEvent: {
      const auto* event = envelope.body_as_PresenceEvent();
      emit(PresenceEvent{std::string(proto::view(event->user())), event->online()});
      return;
    }
    case wire::Body::GroupEvent: {
      const auto* event = envelope.body_as_GroupEvent();
      emit(GroupEvent{
          std::string(proto::view(event->group())), static_cast<GroupEventKind>(event->kind()),
          std::string(proto::view(event->user())), std::string(proto::view(event->by()))});
      return;
    }
    case wire::Body::Redirect: {
      // The user's home moved; the node closes this session next. Reconnect there first.
      const auto* redirect = envelope.body_as_Redirect();
      host_ = proto::view(redirect->host());
      port_ = redirect->port();
      addresses_.remember({host_, port_});
      moved_to_ = proto::view(redirect->node());
      if (moved_to_.empty()) moved_to_ = fmt::format("{}:{}", host_, port_);
      emit(RedirectedEvent{host_, port_, std::string(proto::view(redirect->node()))});
      return;
    }
    default:
      return;  // a push this client does not know; newer servers may add some
  }
}

void Client::Impl::on_reply(const Frame& frame) {
  const auto* ack = frame.envelope->body_as_SendAck();
  if (ack == nullptr || !logged_in_) return;
  client::DeliveryDirectives out;
  delivery_.on_sent(std::string(proto::view(ack->conversation())), ack->seq(),
                    std::chrono::steady_clock::now(), out);
  execute(out);
}

void Client::Impl::on_deliver(const wire::Deliver& deliver) {
  if (deliver.message() == nullptr) return;
  client::DeliveryDirectives out;
  delivery_.on_push(client::message_from_wire(*deliver.message()), std::chrono::steady_clock::now(),
                    out);
  execute(out);
}

void Client::Impl::execute(client::DeliveryDirectives& directives) {
  for (auto& delivery : directives.deliveries) {
    if (options_.auto_ack) note_ack(delivery.message.conversation, delivery.message.seq);
    if (delivery.own) continue;  // the application has it: it sent it
    if (delivery.from_sync) ++pulled_delivered_;
    emit(MessageEvent{std::move(delivery.message), delivery.from_sync});
  }
  if (stopping_) return;
  for (auto& pull : directives.pulls)
    asio::co_spawn(io_, run_pull(std::move(pull)), asio::detached);
  if (directives.sync) asio::co_spawn(io_, run_sync(*directives.sync), asio::detached);
  arm_delivery_clock();
}

asio::awaitable<void> Client::Impl::run_pull(client::DeliveryDirectives::Pull pull) {
  FrameWriter writer = client::pull_writer(pull.conversation, pull.after_seq, pull.limit);
  auto reply = co_await call(writer, Retry::connection, deadline_after(options_.request_timeout));
  if (stopping_) co_return;
  ++progress_count_;
  client::DeliveryDirectives out;
  auto now = std::chrono::steady_clock::now();
  if (!reply) {
    delivery_.on_pull_failed(pull.id, reply.error(), now, out);
  } else {
    auto page = client::parse_page(reply.value());
    if (!page) {
      delivery_.on_pull_failed(pull.id, page.error(), now, out);
    } else {
      delivery_.on_pull(pull.id, std::move(page->messages), page->more, now, out);
    }
  }
  execute(out);
  progress_.notify_all();
}

asio::awaitable<void> Client::Impl::run_sync(std::uint64_t id) {
  FrameWriter writer = client::sync_writer();
  auto reply = co_await call(writer, Retry::connection, deadline_after(options_.request_timeout));
  if (stopping_) co_return;
  ++progress_count_;
  client::DeliveryDirectives out;
  auto now = std::chrono::steady_clock::now();
  auto states = reply ? client::parse_sync(reply.value())
                      : Result<std::vector<ConversationState>>(reply.error());
  if (states) {
    delivery_.on_sync(id, states.value(), now, out);
  } else {
    delivery_.on_sync_failed(id, states.error(), now, out);
  }
  execute(out);
  progress_.notify_all();
}

void Client::Impl::arm_delivery_clock() {
  auto deadline = delivery_.next_deadline().value_or(TimePoint::max());
  // Re-arming cancels the wait in progress; delivery_clock() then waits for the new time.
  if (delivery_timer_.expiry() != deadline) delivery_timer_.expires_at(deadline);
}

asio::awaitable<void> Client::Impl::delivery_clock() {
  while (!stopping_) {
    std::error_code ignored;
    co_await delivery_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    if (stopping_) break;
    auto now = std::chrono::steady_clock::now();
    if (now < delivery_timer_.expiry()) continue;  // re-armed meanwhile
    client::DeliveryDirectives out;
    delivery_.tick(now, out);
    delivery_timer_.expires_at(TimePoint::max());
    execute(out);
  }
}

std::uint64_t Client::Impl::begin_session_delivery(const Session& session, bool resync) {
  std::pair<std::string, std::string> owner{session.user, session.device};
  if (delivery_owner_ != owner) {
    // Another user or device: nothing known of this one's conversations.
    delivery_.reset();
    delivery_owner_ = owner;
  }
  client::DeliveryDirectives out;
  auto now = std::chrono::steady_clock::now();
  delivery_.on_session_ready(now, out);
  std::uint64_t number =
      resync ? delivery_.request_resync(now, std::chrono::milliseconds(0), out) : 0;
  execute(out);
  return number;
}

void Client::Impl::end_session_delivery() {
  delivery_.on_session_lost();
  arm_delivery_clock();
  progress_.notify_all();
}

asio::awaitable<Result<void>> Client::Impl::wait_resync(std::uint64_t number) {
  for (;;) {
    switch (delivery_.resync_state(number)) {
      case client::DeliveryOrder::ResyncState::done:
        co_return Result<void>();
      case client::DeliveryOrder::ResyncState::failed:
        co_return delivery_.resync_error();
      case client::DeliveryOrder::ResyncState::pending:
        break;
    }
    if (stopping_) co_return Error{errc::shutting_down, "the client is closing"};
    std::uint64_t progress = progress_count_;
    bool woken = co_await progress_.wait_until(deadline_after(options_.request_timeout));
    if (!woken && progress == progress_count_ &&
        delivery_.resync_state(number) == client::DeliveryOrder::ResyncState::pending) {
      co_return Error{errc::unavailable, fmt::format("the catch-up made no progress for {} ms",
                                                     options_.request_timeout.count())};
    }
  }
}

Result<std::uint64_t> Client::Impl::deliver_backlog() {
  // Bounded by progress (wait_resync); the backstop only guards against a lost wake-up.
  return run<std::uint64_t>(
      [this]() -> asio::awaitable<Result<std::uint64_t>> {
        auto ready = co_await session_connection(deadline_after(options_.request_timeout));
        if (!ready) co_return ready.error();
        std::uint64_t before = pulled_delivered_;
        client::DeliveryDirectives out;
        std::uint64_t number = delivery_.request_resync(std::chrono::steady_clock::now(),
                                                        std::chrono::milliseconds(0), out);
        execute(out);
        auto done = co_await wait_resync(number);
        if (!done) co_return done.error();
        std::uint64_t emitted = pulled_delivered_ - before;
        // The cursor moves before the caller goes on (another session of this device starts
        // after what this one showed).
        if (options_.auto_ack) {
          auto deadline = deadline_after(options_.request_timeout);
          co_await wait_acks(deadline);
        }
        co_return emitted;
      },
      std::chrono::hours(1));
}

// --- Acks -------------------------------------------------------------------------------------

void Client::Impl::note_ack(const std::string& conversation, std::uint64_t seq) {
  auto found = acks_.find(conversation);
  if (found != acks_.end()) {
    found->second.wanted = std::max(found->second.wanted, seq);
    return;
  }
  if (acks_.size() >= max_acks_in_flight) return;  // the next message moves the cursor
  acks_.emplace(conversation, AckState{seq, 0});
  asio::co_spawn(io_, ack_loop(conversation), asio::detached);
}

asio::awaitable<void> Client::Impl::ack_loop(std::string conversation) {
  // One loop per conversation acks the highest seq handed over, so a burst of messages costs
  // one or two Acks, not one each.
  std::uint32_t failures = 0;
  for (;;) {
    auto state = acks_.find(conversation);
    if (state == acks_.end()) co_return;
    std::uint64_t seq = state->second.wanted;
    if (seq <= state->second.done || stopping_) {
      acks_.erase(state);
      acks_changed_.notify_all();
      co_return;
    }
    FrameWriter ack = client::ack_writer(conversation, seq);
    auto reply = co_await call(ack, Retry::idempotent, deadline_after(options_.request_timeout));
    state = acks_.find(conversation);
    if (state == acks_.end()) co_return;
    if (reply) {
      state->second.done = seq;
      failures = 0;
      continue;
    }
    // "seq: beyond the conversation's last message": the reader's home has not caught up with
    // the conversation's home yet. That, and Unavailable, pass: try again a little later.
    errc code = reply.error().code;
    bool passing =
        code == errc::invalid_argument || code == errc::unavailable || code == errc::rate_limited;
    if (!passing || ++failures >= max_ack_attempts || stopping_) {
      acks_.erase(state);
      acks_changed_.notify_all();
      co_return;
    }
    co_await sleep(retry_backoff(failures + 2));
  }
}

asio::awaitable<void> Client::Impl::wait_acks(TimePoint deadline) {
  while (!acks_.empty() && !stopping_) {
    bool woken = co_await acks_changed_.wait_until(deadline);
    if (!woken) break;
  }
  co_return;
}

}  // namespace qim
