#include "read_back.h"

#include <algorithm>
#include <set>
#include <thread>

#include "checker.h"
#include "qim/client.h"

namespace qim::soak {
namespace {

// Bounds: attempts per request, pages per conversation.
constexpr std::uint32_t max_attempts = 1'000;
constexpr std::uint32_t max_pages = 100'000;
constexpr auto retry_pause = std::chrono::milliseconds(200);

class Reader {
 public:
  Reader(const UserSpec& user, const ReadBackOptions& options, HistoryWriter& history,
         const RunClock& clock)
      : user_(user), options_(options), history_(history), clock_(clock) {
    ClientOptions client_options;
    client_options.request_timeout = options.request_timeout;
    client_options.connect_timeout = options.request_timeout;
    client_options.auto_reconnect = false;
    client_options.client_name = "qim-soak-read-back";
    client_ = std::make_unique<Client>(client_options);
  }

  // Runs `call` until it answers something other than unavailable or the deadline passes,
  // logging in again when the connection is gone.
  template <typename Call>
  auto retry(Call call) -> decltype(call()) {
    decltype(call()) result = call();
    for (std::uint32_t attempt = 1; attempt < max_attempts; ++attempt) {
      if (result.ok() || !is_availability_error(result.error().code) || past_deadline()) break;
      std::this_thread::sleep_for(retry_pause);
      if (!client_->logged_in() && !log_in()) continue;
      result = call();
    }
    return result;
  }

  bool log_in() {
    for (std::uint32_t attempt = 0; attempt < max_attempts; ++attempt) {
      const Endpoint& endpoint = options_.endpoints[next_endpoint_++ % options_.endpoints.size()];
      Operation record;
      record.op = "login";
      record.user = user_.name;
      record.target = user_.name;
      record.op_id = op_id_;
      record.attempt = attempt + 1;
      record.phase = "final";
      record.start_ms = clock_.now_ms();
      auto connected = client_->connect(endpoint.host, endpoint.port);
      Result<LoginInfo> login = connected.ok()
                                    ? client_->login(user_.name, user_.password, user_.device)
                                    : Result<LoginInfo>(connected.error());
      record.end_ms = clock_.now_ms();
      record.node = client_->node();
      record.code = login.ok() ? errc::ok : login.error().code;
      record.message = login.ok() ? std::string() : login.error().message;
      history_.write(record);
      if (login.ok()) return true;
      if (!is_availability_error(record.code) || past_deadline()) return false;
      std::this_thread::sleep_for(retry_pause);
    }
    return false;
  }

  void set_op_id(std::uint64_t op_id) { op_id_ = op_id; }

  void read_all(const std::vector<GroupSpec>& groups) {
    if (!log_in()) return;
    std::set<std::string> conversations = user_.conversations;
    std::int64_t start = clock_.now_ms();
    auto states = retry([&] { return client_->sync(); });
    if (states.ok()) {
      SyncRecord record{
          user_.name, user_.device, user_.name + "-f", "final", start, clock_.now_ms(), {}};
      for (const auto& state : states.value()) {
        record.conversations.push_back(
            {state.conversation, state.head_seq, state.read_seq, state.first_seq});
        conversations.insert(state.conversation);
      }
      history_.write(record);
    }
    FriendListRecord friends{user_.name, 0, errc::ok, {}, {}};
    auto list = retry([&] { return client_->friends(); });
    friends.at_ms = clock_.now_ms();
    if (list.ok()) {
      for (const auto& entry : list.value())
        friends.friends.push_back({entry.user, friend_state_name(entry.state)});
    } else {
      friends.code = list.error().code;
      friends.message = list.error().message;
    }
    history_.write(friends);
    for (const auto& conversation : conversations)
      read_conversation(conversation);
    // Every member reads the roster (the checker keeps the fullest answer), so one lost
    // account does not hide a group.
    for (const auto& group : groups) {
      if (std::find(group.members.begin(), group.members.end(), user_.name) ==
          group.members.end()) {
        continue;
      }
      RosterRecord roster{group.id, user_.name, 0, errc::ok, {}, {}};
      auto members = retry([&] { return client_->group_members(group.id); });
      roster.at_ms = clock_.now_ms();
      if (members.ok()) {
        for (const auto& member : members->members)
          roster.members.push_back(member.user);
      } else {
        roster.code = members.error().code;
        roster.message = members.error().message;
      }
      history_.write(roster);
    }
  }

 private:
  void read_conversation(const std::string& conversation) {
    ReadBack record;
    record.conversation = conversation;
    record.reader = user_.name;
    record.complete = true;
    std::uint64_t after = 0;
    for (std::uint32_t page = 0; page < max_pages; ++page) {
      auto batch = retry([&] { return client_->pull(conversation, after, options_.page_limit); });
      if (!batch.ok()) {
        record.complete = false;
        record.code = batch.error().code;
        record.message = batch.error().message;
        break;
      }
      std::uint64_t last = after;
      for (const auto& message : batch->messages) {
        record.messages.push_back(
            {message.seq, message.sender, message.client_msg_id, message.body});
        last = std::max(last, message.seq);
      }
      if (!batch->more || last <= after) break;
      after = last;
    }
    record.at_ms = clock_.now_ms();
    history_.write(record);
  }

  bool past_deadline() const { return clock_.now_ms() >= options_.deadline_ms; }

  const UserSpec& user_;
  const ReadBackOptions& options_;
  HistoryWriter& history_;
  const RunClock& clock_;
  std::unique_ptr<Client> client_;
  std::uint32_t next_endpoint_ = 0;
  std::uint64_t op_id_ = 0;
};

}  // namespace

void read_everything_back(const std::vector<UserSpec>& users, const std::vector<GroupSpec>& groups,
                          const ReadBackOptions& options, HistoryWriter& history,
                          const RunClock& clock) {
  // Op ids of the read-back's logins, far from the workload's.
  std::uint64_t op_id = std::uint64_t{1} << 62;
  for (const auto& user : users) {
    Reader reader(user, options, history, clock);
    reader.set_op_id(op_id++);
    reader.read_all(groups);
  }
}

}  // namespace qim::soak
