#pragma once
// The chatting users: each logs in from its own qim::Client (auto-reconnect on, short request
// timeout), befriends a few others and joins groups, then sends about `rate` messages a second
// to random friends and groups. Every message carries (sender, counter) in its body and is
// retried with the same client_msg_id until acknowledged or the retry deadline passes. Users
// ack what they received in order (their read cursors) and sync now and then; a churn thread
// removes and restores a friendship or a group member from time to time, never while a message
// on that relation is in flight. Everything goes to the history.
//
// Threads: one per user while running, one for the churn, and each Client's own I/O thread,
// which records deliveries and connection events. A user's tracker is shared between its
// thread and its Client's I/O thread under the user's mutex; the relations under one mutex.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cluster.h"
#include "history.h"
#include "qim/client.h"
#include "run_clock.h"

namespace qim::soak {

struct WorkloadOptions {
  std::uint64_t seed = 1;
  std::uint32_t users = 30;
  std::uint32_t groups = 4;
  double rate = 2.0;
  std::chrono::milliseconds request_timeout{3'000};
  std::vector<Endpoint> endpoints;  // users enter through them round-robin
  std::uint32_t friends_per_user = 3;
  std::uint32_t group_size = 8;
  std::int64_t churn_interval_ms = 20'000;
};

// What the read-back needs to know.
struct UserSpec {
  std::string name;
  std::string password;
  std::string device;
  std::set<std::string> conversations;  // every conversation the user ever took part in
};
struct GroupSpec {
  std::string id;
  std::string owner;
  std::vector<std::string> members;  // the owner included
};

class Workload {
 public:
  Workload(WorkloadOptions options, HistoryWriter& history, const RunClock& clock);
  ~Workload();
  Workload(const Workload&) = delete;
  Workload& operator=(const Workload&) = delete;

  // Registers and logs in every user, makes the friendships and creates the groups; retries
  // what is unavailable until `deadline_ms` (run time). False (with `error`) if it could not.
  bool setup(std::int64_t deadline_ms, std::string& error);
  // Users send new messages until `send_until_ms` and retry unacknowledged ones until
  // `retry_until_ms` (run times); the threads then end by themselves.
  void start(std::int64_t send_until_ms, std::int64_t retry_until_ms);
  // Waits for the user and churn threads.
  void join();
  // Logs back in any session that gave up, waits until no delivery came for `quiet`, records
  // each logged-in session's sync ("session_end"), waits for quiet again and closes the
  // clients. Bounded by `deadline_ms`.
  void settle(std::chrono::milliseconds quiet, std::int64_t deadline_ms);

  std::vector<UserSpec> user_specs() const;
  std::vector<GroupSpec> group_specs() const;

 private:
  // Which seqs of one conversation this user has (handed or its own acknowledged ones):
  // everything up to `watermark`, plus a bounded set above it.
  struct Tracker {
    std::uint64_t watermark = 0;
    std::uint64_t acked = 0;  // the last cursor acknowledged by the server
    std::set<std::uint64_t> above;
    void mark(std::uint64_t seq);
    void raise(std::uint64_t floor);
  };
  struct User {
    std::uint32_t index = 0;
    std::string name, password, device, session;
    std::unique_ptr<Client> client;
    std::atomic<bool> gave_up{false};
    std::mutex mutex;
    std::map<std::string, Tracker> trackers;  // GUARDED_BY(mutex)
    std::uint64_t next_counter = 1;           // the user's thread only
    std::uint32_t next_endpoint = 0;          // the user's thread only
    std::mt19937_64 random;
    std::thread thread;
  };
  struct Relation {
    bool open = true;             // new messages may use it
    std::uint32_t in_flight = 0;  // messages on it not finished
  };
  struct Target {
    std::string conversation;
    std::string user;   // direct
    std::string group;  // group
  };

  void on_event(User& user, Event event);
  std::unique_ptr<Client> make_client(User& user);
  bool log_in(User& user, const std::string& phase, std::int64_t deadline_ms);
  // One logical request, retried while it is unavailable; the final code.
  template <typename Call>
  errc run_operation(User& actor, const std::string& op, const std::string& target,
                     const std::vector<std::string>& members, const std::string& phase,
                     std::int64_t deadline_ms, Call call);
  void run_user(User& user, std::int64_t send_until_ms, std::int64_t retry_until_ms);
  void send_message(User& user, const Target& target, std::int64_t retry_until_ms);
  struct Timers {
    std::int64_t next_ack_ms = 0, next_sync_ms = 0, next_read_ms = 0, next_probe_ms = 0;
  };
  void maintain(User& user, std::int64_t now_ms, Timers& timers);
  // Reads one page of a conversation the user is in after a seq it has, to see that what was
  // acknowledged is there while the faults go on.
  void read_during_run(User& user);
  // Logs in with the password from a throwaway client and device, then logs out: accounts
  // must answer while the faults go on.
  void probe_login(User& user);
  void record_sync(User& user, const std::vector<ConversationState>& states,
                   const std::string& phase, std::int64_t start_ms);
  bool pick_target(User& user, Target& target);
  void release(const Target& target, const std::string& user);
  void run_churn(std::int64_t until_ms);
  void churn_friendship(std::mt19937_64& random, std::int64_t until_ms);
  void churn_member(std::mt19937_64& random, std::int64_t until_ms);
  // Closes a relation to new messages and waits until none is in flight; false (reopened)
  // when that does not happen by `until_ms`.
  bool quiesce(Relation& relation, std::int64_t until_ms);
  User& user_named(const std::string& name);
  void sleep_until_ms(std::int64_t at_ms);

  WorkloadOptions options_;
  HistoryWriter& history_;
  const RunClock& clock_;
  std::vector<std::unique_ptr<User>> users_;
  std::vector<GroupSpec> groups_;
  std::atomic<std::uint64_t> next_op_id_{1};
  std::atomic<std::int64_t> last_delivery_ms_{0};
  std::atomic<bool> stopping_{false};

  mutable std::mutex relations_mutex_;
  std::condition_variable relations_changed_;
  std::map<std::pair<std::string, std::string>, Relation>
      friendships_;  // GUARDED_BY(relations_mutex_)
  std::map<std::pair<std::string, std::string>, Relation> memberships_;  // (group, user); same
  std::map<std::string, std::set<std::string>> ever_in_;  // user -> conversations; same
  std::set<std::string> churned_;  // conversations whose relations changed; same

  std::thread churn_thread_;
};

std::string direct_conversation_id(const std::string& a, const std::string& b);

}  // namespace qim::soak
