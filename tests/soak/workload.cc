#include "workload.h"

#include <algorithm>
#include <chrono>

#include <fmt/core.h>

#include "checker.h"

namespace qim::soak {
namespace {

// Bounds: attempts per message and per operation, seqs kept above a gap, a relation's wait
// for its in-flight messages.
constexpr std::uint32_t max_send_attempts = 2'000;
constexpr std::uint32_t max_refusals_per_message = 3;
constexpr std::uint32_t max_operation_attempts = 200;
constexpr std::size_t max_seqs_above_gap = 10'000;
constexpr std::int64_t quiesce_timeout_ms = 30'000;
// Retry pacing after an unavailable answer: doubling from the first, up to the last.
constexpr std::int64_t retry_backoff_first_ms = 100;
constexpr std::int64_t retry_backoff_max_ms = 1'000;
// How often a user acks what it has and syncs.
constexpr std::int64_t ack_interval_ms = 2'000;
constexpr std::int64_t sync_interval_ms = 10'000;
// How often a user reads a page of one conversation, and logs in from a throwaway client.
constexpr std::int64_t read_interval_ms = 15'000;
constexpr std::int64_t probe_interval_ms = 30'000;
constexpr std::uint32_t run_read_back_seqs = 20;
constexpr std::uint32_t run_read_limit = 100;
constexpr std::int64_t churn_pause_ms = 3'000;  // between removing and restoring a relation
constexpr auto poll_interval = std::chrono::milliseconds(50);

std::int64_t backoff_ms(std::uint32_t failures) {
  std::int64_t delay = retry_backoff_first_ms << std::min<std::uint32_t>(failures, 4);
  return std::min(delay, retry_backoff_max_ms);
}

std::pair<std::string, std::string> sorted_pair(const std::string& a, const std::string& b) {
  return a < b ? std::pair{a, b} : std::pair{b, a};
}

template <typename T>
errc code_of(const Result<T>& result) {
  return result.ok() ? errc::ok : result.error().code;
}
template <typename T>
std::string message_of(const Result<T>& result) {
  return result.ok() ? std::string() : result.error().message;
}

}  // namespace

std::string direct_conversation_id(const std::string& a, const std::string& b) {
  auto [first, second] = sorted_pair(a, b);
  return "d:" + first + ":" + second;
}

void Workload::Tracker::mark(std::uint64_t seq) {
  if (seq <= watermark) return;
  above.insert(seq);
  raise(watermark);
}

void Workload::Tracker::raise(std::uint64_t floor) {
  if (floor > watermark) {
    watermark = floor;
    above.erase(above.begin(), above.upper_bound(floor));
  }
  while (!above.empty() && *above.begin() == watermark + 1) {
    ++watermark;
    above.erase(above.begin());
  }
  // A seq that never comes (a lost push) must not hold memory forever; the gap is the
  // checker's to report, not the tracker's to wait on.
  while (above.size() > max_seqs_above_gap) {
    watermark = *above.begin();
    above.erase(above.begin());
  }
}

Workload::Workload(WorkloadOptions options, HistoryWriter& history, const RunClock& clock)
    : options_(std::move(options)), history_(history), clock_(clock) {
  std::mt19937_64 random(options_.seed);
  for (std::uint32_t i = 0; i < options_.users; ++i) {
    auto user = std::make_unique<User>();
    user->index = i;
    user->name = fmt::format("u{:03}", i + 1);
    user->password = fmt::format("pw-{}-{}", user->name, options_.seed);
    user->device = "dev-1";
    user->session = user->name + "-w";
    user->next_endpoint = i;
    user->random.seed(options_.seed * 1'000'003 + i);
    users_.push_back(std::move(user));
  }
  // Friends: each user asks friends_per_user others (the pair may already exist).
  for (std::uint32_t i = 0; i < options_.users; ++i) {
    for (std::uint32_t k = 0; k < options_.friends_per_user; ++k) {
      std::uint32_t other =
          std::uniform_int_distribution<std::uint32_t>(0, options_.users - 1)(random);
      if (other == i) continue;
      friendships_.try_emplace(sorted_pair(users_[i]->name, users_[other]->name));
    }
  }
  for (std::uint32_t g = 0; g < options_.groups; ++g) {
    GroupSpec group;
    group.id = fmt::format("grp{}", g + 1);
    std::vector<std::uint32_t> indexes(options_.users);
    for (std::uint32_t i = 0; i < options_.users; ++i)
      indexes[i] = i;
    std::shuffle(indexes.begin(), indexes.end(), random);
    std::uint32_t size = std::min(options_.group_size, options_.users);
    for (std::uint32_t i = 0; i < size; ++i)
      group.members.push_back(users_[indexes[i]]->name);
    group.owner = group.members.front();
    for (const auto& member : group.members)
      memberships_.try_emplace({group.id, member});
    groups_.push_back(std::move(group));
  }
  for (const auto& [pair, relation] : friendships_) {
    ever_in_[pair.first].insert(direct_conversation_id(pair.first, pair.second));
    ever_in_[pair.second].insert(direct_conversation_id(pair.first, pair.second));
  }
  for (const auto& [key, relation] : memberships_)
    ever_in_[key.second].insert("g:" + key.first);
}

Workload::~Workload() {
  stopping_ = true;
  relations_changed_.notify_all();
  join();
}

Workload::User& Workload::user_named(const std::string& name) {
  for (auto& user : users_) {
    if (user->name == name) return *user;
  }
  return *users_.front();  // names come from users_ itself
}

void Workload::sleep_until_ms(std::int64_t at_ms) {
  std::this_thread::sleep_until(clock_.at(at_ms));
}

std::unique_ptr<Client> Workload::make_client(User& user) {
  ClientOptions options;
  options.request_timeout = options_.request_timeout;
  options.connect_timeout = options_.request_timeout;
  // A paused node keeps its sockets open: a Ping unanswered for a request timeout drops them.
  options.heartbeat_interval = std::chrono::milliseconds(2'000);
  options.auto_reconnect = true;
  options.max_reconnect_attempts = 30;
  options.reconnect_backoff_initial = std::chrono::milliseconds(100);
  options.reconnect_backoff_max = std::chrono::milliseconds(1'000);
  options.auto_ack = false;  // the user acks what it has in order, itself
  options.client_name = "qim-soak";
  options.on_event = [this, &user](Event event) { on_event(user, std::move(event)); };
  return std::make_unique<Client>(std::move(options));
}

// On the Client's I/O thread: must not call the Client's blocking methods.
void Workload::on_event(User& user, Event event) {
  std::int64_t now = clock_.now_ms();
  if (auto* message = std::get_if<MessageEvent>(&event)) {
    const Message& m = message->message;
    history_.write(Delivery{user.name, user.session, now, m.conversation, m.seq, m.sender,
                            m.client_msg_id, m.body, !message->from_sync});
    last_delivery_ms_ = now;
    std::lock_guard lock(user.mutex);
    user.trackers[m.conversation].mark(m.seq);
  } else if (auto* disconnected = std::get_if<DisconnectedEvent>(&event)) {
    history_.write(ConnectionEvent{user.name, user.session, now,
                                   disconnected->will_reconnect ? "disconnected" : "gave_up",
                                   disconnected->code, disconnected->message});
    if (!disconnected->will_reconnect) user.gave_up = true;
  } else if (auto* reconnected = std::get_if<ReconnectedEvent>(&event)) {
    std::string how = "on " + reconnected->node;
    if (reconnected->attempts > 1) {
      how += fmt::format(" after {} attempts; the one before: {}", reconnected->attempts,
                         reconnected->last_error);
    }
    history_.write(
        ConnectionEvent{user.name, user.session, now, "reconnected", errc::ok, std::move(how)});
  } else if (auto* caught_up = std::get_if<CaughtUpEvent>(&event)) {
    history_.write(ConnectionEvent{
        user.name, user.session, now, caught_up->ok ? "caught_up" : "catch_up_failed",
        caught_up->ok ? errc::ok : errc::unavailable,
        caught_up->ok ? fmt::format("{} missed", caught_up->missed_messages) : caught_up->message});
  }
}

template <typename Call>
errc Workload::run_operation(User& actor, const std::string& op, const std::string& target,
                             const std::vector<std::string>& members, const std::string& phase,
                             std::int64_t deadline_ms, Call call) {
  std::uint64_t op_id = next_op_id_++;
  errc code = errc::unavailable;
  for (std::uint32_t attempt = 1; attempt <= max_operation_attempts; ++attempt) {
    Operation record;
    record.op = op;
    record.user = actor.name;
    record.target = target;
    record.members = members;
    record.op_id = op_id;
    record.attempt = attempt;
    record.phase = phase;
    record.node = actor.client ? actor.client->node() : std::string();
    record.start_ms = clock_.now_ms();
    auto result = call();
    record.end_ms = clock_.now_ms();
    record.code = code = code_of(result);
    record.message = message_of(result);
    history_.write(record);
    if (code == errc::ok || !is_availability_error(code)) return code;
    if (record.end_ms >= deadline_ms || stopping_) return code;
    std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms(attempt - 1)));
  }
  return code;
}

bool Workload::log_in(User& user, const std::string& phase, std::int64_t deadline_ms) {
  if (!user.client) user.client = make_client(user);
  for (std::uint32_t attempt = 0; attempt < max_operation_attempts; ++attempt) {
    const Endpoint& endpoint = options_.endpoints[user.next_endpoint++ % options_.endpoints.size()];
    auto connected = user.client->connect(endpoint.host, endpoint.port);
    if (connected.ok()) {
      user.gave_up = false;
      errc code = run_operation(user, "login", user.name, {}, phase, clock_.now_ms(), [&] {
        return user.client->login(user.name, user.password, user.device);
      });
      if (code == errc::ok) {
        history_.write(ConnectionEvent{user.name, user.session, clock_.now_ms(), "relogin",
                                       errc::ok, "on " + user.client->node()});
        // What came meanwhile, as the library does after its own reconnects.
        if (phase != "setup") (void)user.client->deliver_backlog();
        return true;
      }
      if (!is_availability_error(code)) return false;
    }
    if (clock_.now_ms() >= deadline_ms || stopping_) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms(attempt)));
  }
  return false;
}

bool Workload::setup(std::int64_t deadline_ms, std::string& error) {
  for (auto& user : users_) {
    user->client = make_client(*user);
    const Endpoint& endpoint =
        options_.endpoints[user->next_endpoint++ % options_.endpoints.size()];
    auto connected = user->client->connect(endpoint.host, endpoint.port);
    if (!connected.ok()) {
      error = fmt::format("{}: connect: {}", user->name, connected.error().message);
      return false;
    }
    errc code = run_operation(*user, "register", user->name, {}, "setup", deadline_ms, [&] {
      return user->client->register_user(user->name, user->password);
    });
    if (code != errc::ok) {
      error = fmt::format("{}: register: {}", user->name, errc_name(code));
      return false;
    }
    if (!log_in(*user, "setup", deadline_ms)) {
      error = fmt::format("{}: could not log in", user->name);
      return false;
    }
  }
  for (const auto& [pair, relation] : friendships_) {
    User& a = user_named(pair.first);
    User& b = user_named(pair.second);
    errc requested = run_operation(a, "friend_request", b.name, {}, "setup", deadline_ms,
                                   [&] { return a.client->friend_request(b.name); });
    errc accepted = run_operation(b, "friend_accept", a.name, {}, "setup", deadline_ms,
                                  [&] { return b.client->friend_accept(a.name); });
    if (requested != errc::ok || accepted != errc::ok) {
      error = fmt::format("friendship {}–{}: {} / {}", a.name, b.name, errc_name(requested),
                          errc_name(accepted));
      return false;
    }
  }
  for (const auto& group : groups_) {
    User& owner = user_named(group.owner);
    std::vector<std::string> others(group.members.begin() + 1, group.members.end());
    errc code = run_operation(owner, "group_create", group.id, others, "setup", deadline_ms, [&] {
      return owner.client->group_create(group.id, group.id, others);
    });
    if (code != errc::ok) {
      error = fmt::format("group {}: {}", group.id, errc_name(code));
      return false;
    }
  }
  return true;
}

void Workload::start(std::int64_t send_until_ms, std::int64_t retry_until_ms) {
  for (auto& user : users_) {
    User* raw = user.get();
    raw->thread = std::thread([this, raw, send_until_ms, retry_until_ms] {
      run_user(*raw, send_until_ms, retry_until_ms);
    });
  }
  churn_thread_ = std::thread([this, send_until_ms] { run_churn(send_until_ms); });
}

void Workload::join() {
  for (auto& user : users_) {
    if (user->thread.joinable()) user->thread.join();
  }
  if (churn_thread_.joinable()) churn_thread_.join();
}

bool Workload::pick_target(User& user, Target& target) {
  std::lock_guard lock(relations_mutex_);
  std::vector<Target> candidates;
  for (const auto& [pair, relation] : friendships_) {
    if (!relation.open) continue;
    if (pair.first == user.name) {
      candidates.push_back({direct_conversation_id(pair.first, pair.second), pair.second, {}});
    } else if (pair.second == user.name) {
      candidates.push_back({direct_conversation_id(pair.first, pair.second), pair.first, {}});
    }
  }
  for (const auto& [key, relation] : memberships_) {
    if (relation.open && key.second == user.name)
      candidates.push_back({"g:" + key.first, {}, key.first});
  }
  if (candidates.empty()) return false;
  target =
      candidates[std::uniform_int_distribution<std::size_t>(0, candidates.size() - 1)(user.random)];
  if (!target.user.empty()) {
    ++friendships_[sorted_pair(user.name, target.user)].in_flight;
  } else {
    ++memberships_[{target.group, user.name}].in_flight;
  }
  return true;
}

void Workload::release(const Target& target, const std::string& user) {
  {
    std::lock_guard lock(relations_mutex_);
    Relation& relation = target.user.empty() ? memberships_[{target.group, user}]
                                             : friendships_[sorted_pair(user, target.user)];
    --relation.in_flight;
  }
  relations_changed_.notify_all();
}

void Workload::run_user(User& user, std::int64_t send_until_ms, std::int64_t retry_until_ms) {
  double mean_gap_ms = 1000.0 / options_.rate;
  std::uniform_real_distribution<double> gap(0.5 * mean_gap_ms, 1.5 * mean_gap_ms);
  std::int64_t next_send_ms = clock_.now_ms() + static_cast<std::int64_t>(gap(user.random));
  // Spread over the users, so the reads and logins do not come in waves.
  std::int64_t now = clock_.now_ms();
  std::int64_t share = user.index + 1, shares = options_.users + 1;
  Timers timers{now + ack_interval_ms, now + sync_interval_ms * share / shares,
                now + read_interval_ms * share / shares, now + probe_interval_ms * share / shares};
  while (!stopping_) {
    std::int64_t now = clock_.now_ms();
    if (now >= send_until_ms) break;
    if (now < next_send_ms) {
      sleep_until_ms(std::min(next_send_ms, send_until_ms));
      continue;
    }
    // After a long stall, go on at the normal pace rather than in a burst.
    next_send_ms = std::max(next_send_ms, now) + static_cast<std::int64_t>(gap(user.random));
    if (user.gave_up) log_in(user, "run", retry_until_ms);
    maintain(user, now, timers);
    Target target;
    if (!pick_target(user, target)) continue;
    send_message(user, target, retry_until_ms);
    release(target, user.name);
  }
}

void Workload::send_message(User& user, const Target& target, std::int64_t retry_until_ms) {
  std::uint64_t counter = user.next_counter++;
  // Unique per (sender, counter) and stable across retries.
  std::uint64_t client_msg_id = (static_cast<std::uint64_t>(user.index + 1) << 40) | counter;
  std::string body = fmt::format("soak {} #{} to {}", user.name, counter, target.conversation);
  std::uint32_t refusals = 0, unavailable = 0;
  for (std::uint32_t attempt = 1; attempt <= max_send_attempts; ++attempt) {
    if (user.gave_up) log_in(user, "run", retry_until_ms);
    SendAttempt record;
    record.user = user.name;
    record.conversation = target.conversation;
    record.to_user = target.user;
    record.to_group = target.group;
    record.counter = counter;
    record.client_msg_id = client_msg_id;
    record.body = body;
    record.attempt = attempt;
    record.node = user.client->node();
    record.start_ms = clock_.now_ms();
    auto result = target.user.empty()
                      ? user.client->send_to_group(target.group, body, client_msg_id)
                      : user.client->send_to_user(target.user, body, client_msg_id);
    record.end_ms = clock_.now_ms();
    record.code = code_of(result);
    record.message = message_of(result);
    if (result.ok()) {
      record.ack_conversation = result->conversation;
      record.seq = result->seq;
      record.server_time_ms = result->server_time_ms;
      record.duplicate = result->duplicate;
    }
    history_.write(record);
    if (result.ok()) {
      std::lock_guard lock(user.mutex);
      user.trackers[result->conversation].mark(result->seq);
      return;
    }
    if (record.end_ms >= retry_until_ms || stopping_) return;
    if (is_availability_error(record.code)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms(unavailable++)));
    } else {
      if (++refusals >= max_refusals_per_message) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(retry_backoff_max_ms));
    }
  }
}

void Workload::record_sync(User& user, const std::vector<ConversationState>& states,
                           const std::string& phase, std::int64_t start_ms) {
  SyncRecord record;
  record.user = user.name;
  record.device = user.device;
  record.session = user.session;
  record.phase = phase;
  record.start_ms = start_ms;
  record.end_ms = clock_.now_ms();
  for (const auto& state : states) {
    record.conversations.push_back(
        {state.conversation, state.head_seq, state.read_seq, state.first_seq});
  }
  history_.write(record);
}

void Workload::maintain(User& user, std::int64_t now_ms, Timers& timers) {
  if (now_ms >= timers.next_read_ms) {
    timers.next_read_ms = now_ms + read_interval_ms;
    read_during_run(user);
  }
  if (now_ms >= timers.next_probe_ms) {
    timers.next_probe_ms = now_ms + probe_interval_ms;
    probe_login(user);
  }
  if (now_ms >= timers.next_ack_ms) {
    timers.next_ack_ms = now_ms + ack_interval_ms;
    std::vector<std::pair<std::string, std::uint64_t>> due;
    {
      std::lock_guard lock(user.mutex);
      for (const auto& [conversation, tracker] : user.trackers) {
        if (tracker.watermark > tracker.acked) due.emplace_back(conversation, tracker.watermark);
      }
    }
    for (const auto& [conversation, seq] : due) {
      Operation record;
      record.op = "ack";
      record.user = user.name;
      record.target = conversation;
      record.seq = seq;
      record.op_id = next_op_id_++;
      record.phase = "run";
      record.node = user.client->node();
      record.start_ms = clock_.now_ms();
      auto result = user.client->ack(conversation, seq);
      record.end_ms = clock_.now_ms();
      record.code = code_of(result);
      record.message = message_of(result);
      history_.write(record);
      if (result.ok()) {
        std::lock_guard lock(user.mutex);
        auto& tracker = user.trackers[conversation];
        tracker.acked = std::max(tracker.acked, seq);
      }
    }
  }
  if (now_ms >= timers.next_sync_ms) {
    timers.next_sync_ms = now_ms + sync_interval_ms;
    std::int64_t start = clock_.now_ms();
    auto states = user.client->sync();
    if (!states.ok()) {
      Operation record;
      record.op = "sync";
      record.user = user.name;
      record.target = user.name;
      record.op_id = next_op_id_++;
      record.phase = "run";
      record.node = user.client->node();
      record.start_ms = start;
      record.end_ms = clock_.now_ms();
      record.code = states.error().code;
      record.message = states.error().message;
      history_.write(record);
      return;
    }
    record_sync(user, states.value(), "run", start);
    std::lock_guard lock(user.mutex);
    for (const auto& state : states.value()) {
      if (state.first_seq > 1) user.trackers[state.conversation].raise(state.first_seq - 1);
    }
  }
}

void Workload::read_during_run(User& user) {
  std::vector<std::string> candidates;
  {
    std::lock_guard lock(relations_mutex_);
    // Only conversations whose relations never changed: a member who left and came back may
    // read only from their new joined seq.
    auto it = ever_in_.find(user.name);
    if (it == ever_in_.end()) return;
    for (const auto& conversation : it->second) {
      if (!churned_.contains(conversation)) candidates.push_back(conversation);
    }
  }
  if (candidates.empty()) return;
  std::string conversation =
      candidates[std::uniform_int_distribution<std::size_t>(0, candidates.size() - 1)(user.random)];
  std::uint64_t after = 0;
  {
    std::lock_guard lock(user.mutex);
    auto it = user.trackers.find(conversation);
    if (it != user.trackers.end() && it->second.watermark > run_read_back_seqs)
      after = it->second.watermark - run_read_back_seqs;
  }
  std::int64_t start = clock_.now_ms();
  std::string node = user.client->node();
  auto page = user.client->pull(conversation, after, run_read_limit);
  if (!page.ok()) {
    Operation record;
    record.op = "pull";
    record.user = user.name;
    record.target = conversation;
    record.seq = after;
    record.op_id = next_op_id_++;
    record.phase = "run";
    record.node = node;
    record.start_ms = start;
    record.end_ms = clock_.now_ms();
    record.code = page.error().code;
    record.message = page.error().message;
    history_.write(record);
    return;
  }
  ReadBack record;
  record.conversation = conversation;
  record.reader = user.name;
  record.phase = "run";
  record.complete = true;
  record.start_ms = start;
  record.at_ms = clock_.now_ms();
  record.after_seq = after;
  record.more = page->more;
  for (const auto& message : page->messages)
    record.messages.push_back({message.seq, message.sender, message.client_msg_id, message.body});
  history_.write(record);
}

void Workload::probe_login(User& user) {
  ClientOptions options;
  options.request_timeout = options_.request_timeout;
  options.connect_timeout = options_.request_timeout;
  options.auto_reconnect = false;
  options.client_name = "qim-soak-probe";
  Client probe(options);
  const Endpoint& endpoint = options_.endpoints[std::uniform_int_distribution<std::size_t>(
      0, options_.endpoints.size() - 1)(user.random)];
  Operation record;
  record.op = "login";
  record.user = user.name;
  record.target = user.name;
  record.op_id = next_op_id_++;
  record.phase = "run";
  record.start_ms = clock_.now_ms();
  auto connected = probe.connect(endpoint.host, endpoint.port);
  Result<LoginInfo> login = connected.ok() ? probe.login(user.name, user.password, "probe")
                                           : Result<LoginInfo>(connected.error());
  record.end_ms = clock_.now_ms();
  record.node = probe.node();
  record.code = code_of(login);
  record.message = message_of(login);
  history_.write(record);
  // Revokes the probe's token, so probes never push the session's own token out of the
  // server's bounded token list.
  if (login.ok()) (void)probe.logout();
}

bool Workload::quiesce(Relation& relation, std::int64_t until_ms) {
  std::unique_lock lock(relations_mutex_);
  relation.open = false;
  bool idle = relations_changed_.wait_until(
      lock, clock_.at(std::min(until_ms, clock_.now_ms() + quiesce_timeout_ms)),
      [&] { return relation.in_flight == 0 || stopping_; });
  if (!idle || stopping_) {
    relation.open = true;
    return false;
  }
  return true;
}

void Workload::run_churn(std::int64_t until_ms) {
  std::mt19937_64 random(options_.seed ^ 0x9e3779b97f4a7c15ULL);
  std::uniform_int_distribution<std::int64_t> gap(options_.churn_interval_ms / 2,
                                                  options_.churn_interval_ms * 3 / 2);
  bool friendship_turn = true;
  for (std::int64_t next = clock_.now_ms() + gap(random); !stopping_;
       next = clock_.now_ms() + gap(random)) {
    // Stop early enough that a change ends before the sending does.
    if (next + churn_pause_ms + quiesce_timeout_ms >= until_ms) break;
    sleep_until_ms(next);
    if (friendship_turn || groups_.empty()) {
      churn_friendship(random, until_ms);
    } else {
      churn_member(random, until_ms);
    }
    friendship_turn = !friendship_turn;
  }
}

void Workload::churn_friendship(std::mt19937_64& random, std::int64_t until_ms) {
  std::pair<std::string, std::string> pair;
  Relation* relation = nullptr;
  {
    std::lock_guard lock(relations_mutex_);
    if (friendships_.empty()) return;
    auto it = friendships_.begin();
    std::advance(it,
                 std::uniform_int_distribution<std::size_t>(0, friendships_.size() - 1)(random));
    if (!it->second.open) return;
    pair = it->first;
    relation = &it->second;
  }
  if (!quiesce(*relation, until_ms)) return;
  {
    std::lock_guard lock(relations_mutex_);
    churned_.insert(direct_conversation_id(pair.first, pair.second));
  }
  User& a = user_named(pair.first);
  User& b = user_named(pair.second);
  errc removed = run_operation(a, "friend_remove", b.name, {}, "run", until_ms,
                               [&] { return a.client->friend_remove(b.name); });
  if (removed != errc::ok) return;  // stays closed: whether they are friends is unknown
  std::this_thread::sleep_for(std::chrono::milliseconds(churn_pause_ms));
  errc requested = run_operation(b, "friend_request", a.name, {}, "run", until_ms,
                                 [&] { return b.client->friend_request(a.name); });
  if (requested != errc::ok) return;
  errc accepted = run_operation(a, "friend_accept", b.name, {}, "run", until_ms,
                                [&] { return a.client->friend_accept(b.name); });
  if (accepted != errc::ok) return;
  std::lock_guard lock(relations_mutex_);
  relation->open = true;
}

void Workload::churn_member(std::mt19937_64& random, std::int64_t until_ms) {
  const GroupSpec& group =
      groups_[std::uniform_int_distribution<std::size_t>(0, groups_.size() - 1)(random)];
  if (group.members.size() < 2) return;
  const std::string& member =
      group
          .members[std::uniform_int_distribution<std::size_t>(1, group.members.size() - 1)(random)];
  Relation* relation = nullptr;
  {
    std::lock_guard lock(relations_mutex_);
    relation = &memberships_[{group.id, member}];
    if (!relation->open) return;
  }
  if (!quiesce(*relation, until_ms)) return;
  {
    std::lock_guard lock(relations_mutex_);
    churned_.insert("g:" + group.id);
  }
  User& owner = user_named(group.owner);
  errc removed = run_operation(owner, "group_remove", group.id, {member}, "run", until_ms,
                               [&] { return owner.client->group_remove(group.id, member); });
  if (removed != errc::ok) return;
  std::this_thread::sleep_for(std::chrono::milliseconds(churn_pause_ms));
  errc added = run_operation(owner, "group_add", group.id, {member}, "run", until_ms,
                             [&] { return owner.client->group_add(group.id, {member}); });
  if (added != errc::ok) return;
  std::lock_guard lock(relations_mutex_);
  relation->open = true;
}

void Workload::settle(std::chrono::milliseconds quiet, std::int64_t deadline_ms) {
  for (auto& user : users_) {
    if (!user->client->logged_in() || user->gave_up) {
      (void)log_in(*user, "run", deadline_ms);
    }
  }
  auto wait_quiet = [&] {
    while (clock_.now_ms() < deadline_ms &&
           clock_.now_ms() - last_delivery_ms_.load() < quiet.count()) {
      std::this_thread::sleep_for(poll_interval);
    }
  };
  wait_quiet();
  for (auto& user : users_) {
    if (!user->client->logged_in()) continue;
    std::int64_t start = clock_.now_ms();
    auto states = user->client->sync();
    if (states.ok()) record_sync(*user, states.value(), "session_end", start);
  }
  wait_quiet();
  for (auto& user : users_)
    user->client.reset();
}

std::vector<UserSpec> Workload::user_specs() const {
  std::lock_guard lock(relations_mutex_);
  std::vector<UserSpec> specs;
  for (const auto& user : users_) {
    UserSpec spec{user->name, user->password, user->device, {}};
    auto it = ever_in_.find(user->name);
    if (it != ever_in_.end()) spec.conversations = it->second;
    specs.push_back(std::move(spec));
  }
  return specs;
}

std::vector<GroupSpec> Workload::group_specs() const {
  return groups_;
}

}  // namespace qim::soak
