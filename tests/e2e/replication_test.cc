// Replication with real processes (DESIGN §8): five qimd nodes, every partition a Raft group of
// three, users chatting throughout while nodes are killed, paused, added, drained and rebuilt.
// After each run every acknowledged message is read back: present exactly once, at its seq, in
// order, with gap-free seqs. Availability figures (how long sends failed) are printed, not
// asserted: they are the soak's and the benchmarks' business.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "cluster_support.h"
#include "e2e_support.h"
#include "qim/ids.h"
#include "qimctl_support.h"

namespace qim::e2e {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// qimd flags for a fast replicated test cluster: 16 partitions, 3 replicas, 50 ms ticks
// (elections in 0.5-1 s), dead nodes replaced after 3 s.
std::vector<std::string> replicated_args(const std::string& key_file) {
  auto args = cluster_args(key_file);
  for (const char* arg :
       {"--partitions", "16", "--replicas", "3", "--raft-tick-ms", "50", "--replace-after", "3"})
    args.emplace_back(arg);
  return args;
}

class Cluster {
 public:
  explicit Cluster(std::size_t size) : key_(generated_cluster_key(dir_.file("cluster.key"))) {
    for (std::size_t i = 0; i < size; ++i)
      add();
    REQUIRE(eventually([&] { return all_see(running(), names()); }, convergence_timeout));
    REQUIRE(wait_replicated(*nodes_.front(), size));
  }

  // Starts a node seeded from the first one (the first creates the cluster).
  ServerProcess& add() {
    ServerOptions options;
    options.node_name = "r" + std::to_string(nodes_.size() + 1);
    options.dm_policy = "anyone";
    options.extra_args = replicated_args(key_);
    // Odd nodes run on one event loop (clients, peers and replicas alike), the others with
    // their clients on I/O threads of their own: both ways, side by side, through every fault.
    if (nodes_.size() % 2 == 0) {
      options.extra_args.push_back("--threads");
      options.extra_args.push_back("1");
    }
    if (!nodes_.empty()) {
      options.extra_args.push_back("--seed");
      options.extra_args.push_back(nodes_.front()->gossip_address());
    }
    nodes_.push_back(started_server(std::move(options)));
    return *nodes_.back();
  }

  ServerProcess& node(std::size_t index) { return *nodes_[index]; }
  std::size_t size() const { return nodes_.size(); }
  std::vector<ServerProcess*> running() {
    std::vector<ServerProcess*> result;
    for (auto& node : nodes_) {
      if (node->running()) result.push_back(node.get());
    }
    return result;
  }
  std::set<std::string> names() {
    std::set<std::string> result;
    for (ServerProcess* node : running())
      result.insert(node->node_name());
    return result;
  }
  // A running node other than `except`.
  ServerProcess& entry(const ServerProcess* except = nullptr) {
    for (ServerProcess* node : running()) {
      if (node != except) return *node;
    }
    FAIL("no node is running");
    return *nodes_.front();
  }

 private:
  TempDir dir_;
  std::string key_;
  std::vector<std::unique_ptr<ServerProcess>> nodes_;
};

ClientOptions chat_options() {
  ClientOptions options = reconnecting_options();
  options.request_timeout = 3s;
  options.max_reconnect_attempts = 1000;
  options.reconnect_backoff_max = 300ms;
  options.retry_backoff_max = 200ms;
  return options;
}

// Users in pairs, each sending to its partner about every 50 ms; a message is retried with its
// client_msg_id until acknowledged. Records every acknowledgement and the longest time a
// sender went without one.
class Chat {
 public:
  Chat(Cluster& cluster, std::size_t pairs) {
    for (std::size_t i = 0; i < 2 * pairs; ++i) {
      std::string user = "u" + std::to_string(i);
      users_.push_back(user);
      REQUIRE(eventually(
          [&] {
            auto client = connected_client(cluster.entry(), chat_options());
            auto registered = client->register_user(user, test_password);
            return registered.ok() || registered.error().code == errc::already_exists;
          },
          20s, 100ms));
    }
    for (std::size_t i = 0; i < users_.size(); ++i) {
      auto client = std::make_unique<Client>(chat_options());
      REQUIRE(client->connect(cluster.entry().host(), cluster.entry().port()));
      REQUIRE(eventually([&] { return client->login(users_[i], test_password, "d1").ok(); }, 20s,
                         100ms));
      clients_.push_back(std::move(client));
    }
  }
  ~Chat() { stop(); }

  void start() {
    running_ = true;
    for (std::size_t i = 0; i < clients_.size(); ++i)
      threads_.emplace_back([this, i] { send_loop(i); });
  }
  void stop() {
    running_ = false;
    for (auto& thread : threads_)
      thread.join();
    threads_.clear();
  }
  // The longest stretch any sender went without an acknowledgement since `since`.
  std::chrono::milliseconds longest_stall(Clock::time_point since) {
    std::lock_guard lock(mutex_);
    std::chrono::milliseconds longest{0};
    for (const auto& [user, stalls] : stalls_) {
      for (const auto& [start, length] : stalls) {
        if (start + length >= since) longest = std::max(longest, length);
      }
    }
    return longest;
  }
  std::size_t acknowledged() {
    std::lock_guard lock(mutex_);
    return acked_.size();
  }
  // Waits until every sender has had an acknowledgement after `since`.
  bool all_sent_since(Clock::time_point since, std::chrono::milliseconds timeout) {
    bool done = eventually(
        [&] {
          std::lock_guard lock(mutex_);
          for (const std::string& user : users_) {
            auto it = last_ack_.find(user);
            if (it == last_ack_.end() || it->second < since) return false;
          }
          return true;
        },
        timeout);
    if (!done) {
      auto wall = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
      UNSCOPED_INFO("gave up waiting at " << wall / 1000 << "." << wall % 1000 << " (unix time)");
      std::lock_guard lock(mutex_);
      for (std::size_t i = 0; i < users_.size(); ++i) {
        auto it = last_ack_.find(users_[i]);
        if (it != last_ack_.end() && it->second >= since) continue;
        UNSCOPED_INFO(users_[i] << " (on " << clients_[i]->node()
                                << ") has sent nothing since: " << last_error_[users_[i]]);
        stuck_.push_back(i);
      }
    }
    return done;
  }

  // Where the stuck senders' data lives and how the partitions stand, as `node` sees it.
  void explain(ServerProcess& node) {
    for (std::size_t i : stuck_) {
      std::string conversation = direct_conversation(users_[i], users_[i ^ 1]);
      UNSCOPED_INFO(qimctl(node, {"where", users_[i]}).out);
      UNSCOPED_INFO(qimctl(node, {"where", conversation}).out);
    }
    UNSCOPED_INFO(qimctl(node, {"partitions"}).out);
  }

  // Reads every conversation back from `entry` and checks it against the acknowledgements.
  void verify(Cluster& cluster) {
    std::map<std::string, std::map<std::uint64_t, std::string>> expected;  // conv -> seq -> body
    {
      std::lock_guard lock(mutex_);
      for (const Acked& ack : acked_) {
        auto& at = expected[ack.conversation][ack.seq];
        INFO(ack.conversation << " seq " << ack.seq << " acknowledged twice");
        CHECK((at.empty() || at == ack.body));
        at = ack.body;
      }
    }
    for (std::size_t i = 0; i < users_.size(); i += 2) {
      // A client of its own per user, through any node.
      auto reader = std::make_unique<Client>(chat_options());
      REQUIRE(reader->connect(cluster.entry().host(), cluster.entry().port()));
      REQUIRE(eventually([&] { return reader->login(users_[i], test_password, "reader").ok(); },
                         20s, 100ms));
      std::string conversation = direct_conversation(users_[i], users_[i + 1]);
      std::vector<Message> messages;
      std::uint64_t after = 0;
      for (;;) {
        Result<MessagePage> page = Error{};
        REQUIRE(eventually(
            [&] {
              page = reader->pull(conversation, after, 500);
              return page.ok();
            },
            20s, 100ms));
        for (Message& message : page->messages)
          messages.push_back(std::move(message));
        if (!page->more || page->messages.empty()) break;
        after = messages.back().seq;
      }
      INFO(conversation);
      std::set<std::pair<std::string, std::uint64_t>> ids;
      for (std::size_t k = 0; k < messages.size(); ++k) {
        CHECK(messages[k].seq == k + 1);  // gap-free, in order
        CHECK(ids.insert({messages[k].sender, messages[k].client_msg_id}).second);  // once
      }
      for (const auto& [seq, body] : expected[conversation]) {
        INFO("acknowledged seq " << seq);
        REQUIRE(seq <= messages.size());
        CHECK(messages[seq - 1].body == body);
      }
    }
  }

 private:
  struct Acked {
    std::string conversation;
    std::uint64_t seq;
    std::string body;
  };

  void send_loop(std::size_t index) {
    Client& client = *clients_[index];
    const std::string& user = users_[index];
    const std::string& partner = users_[index ^ 1];
    std::uint64_t counter = 0;
    auto last = Clock::now();
    while (running_) {
      std::string body = user + "#" + std::to_string(++counter);
      std::uint64_t id = (static_cast<std::uint64_t>(index + 1) << 32) | counter;
      for (;;) {
        auto ack = client.send_to_user(partner, body, id);
        auto now = Clock::now();
        if (ack.ok()) {
          std::lock_guard lock(mutex_);
          acked_.push_back({ack->conversation, ack->seq, body});
          last_ack_[user] = now;
          stalls_[user].emplace_back(
              last, std::chrono::duration_cast<std::chrono::milliseconds>(now - last));
          last = now;
          break;
        }
        {
          std::lock_guard lock(mutex_);
          last_error_[user] = std::string(errc_name(ack.error().code)) + ": " + ack.error().message;
        }
        if (!running_) return;              // never acknowledged: not counted
        std::this_thread::sleep_for(20ms);  // retry pace
      }
      std::this_thread::sleep_for(50ms);  // send pace
    }
  }

  std::vector<std::string> users_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::vector<std::thread> threads_;
  std::atomic<bool> running_{false};
  std::mutex mutex_;
  std::vector<Acked> acked_;                           // GUARDED_BY(mutex_)
  std::map<std::string, Clock::time_point> last_ack_;  // GUARDED_BY(mutex_)
  std::map<std::string, std::string> last_error_;      // GUARDED_BY(mutex_)
  std::vector<std::size_t> stuck_;                     // GUARDED_BY(mutex_)
  std::map<std::string, std::vector<std::pair<Clock::time_point, std::chrono::milliseconds>>>
      stalls_;  // GUARDED_BY(mutex_)
};

double seconds(std::chrono::milliseconds ms) {
  return static_cast<double>(ms.count()) / 1000.0;
}

}  // namespace

TEST_CASE("kill -9 of any node: everyone sends again within seconds and nothing is lost",
          "[cluster][replication]") {
  Cluster cluster(5);
  Chat chat(cluster, 8);
  chat.start();
  REQUIRE(chat.all_sent_since(Clock::now(), 30s));
  for (std::size_t victim : {0, 3}) {
    auto fault = Clock::now();
    cluster.node(victim).kill();
    bool recovered = chat.all_sent_since(Clock::now(), 60s);
    if (!recovered) chat.explain(cluster.entry(&cluster.node(victim)));
    REQUIRE(recovered);
    WARN("kill -9 of " << cluster.node(victim).node_name() << ": longest stall "
                       << seconds(chat.longest_stall(fault)) << " s");
    // It rejoins (the first node, everyone's seed, through the members it knew), catches up
    // and leads again before the next fault.
    REQUIRE(cluster.node(victim).start());
    REQUIRE(wait_replicated(cluster.node(victim), cluster.size()));
    REQUIRE(chat.all_sent_since(Clock::now(), 30s));
  }
  chat.stop();
  CHECK(chat.acknowledged() > 100);
  chat.verify(cluster);
}

TEST_CASE("kill -9 of two nodes at once: the rest resumes when one returns, nothing is lost",
          "[cluster][replication]") {
  Cluster cluster(5);
  // Eight conversations: each partition loses both replicas with a chance of 3 in 10, so some
  // conversations always go on.
  Chat chat(cluster, 16);
  chat.start();
  REQUIRE(chat.all_sent_since(Clock::now(), 30s));
  cluster.node(1).kill();
  cluster.node(2).kill();
  // Partitions whose group kept two of its three replicas go on; the others wait.
  std::size_t before = chat.acknowledged();
  bool some_go_on = eventually([&] { return chat.acknowledged() > before + 20; }, 30s);
  if (!some_go_on) {
    (void)chat.all_sent_since(Clock::now(), 0s);  // lists who is stuck, and why
    chat.explain(cluster.entry(&cluster.node(1)));
  }
  REQUIRE(some_go_on);
  REQUIRE(cluster.node(1).start());
  REQUIRE(chat.all_sent_since(Clock::now(), 60s));
  REQUIRE(cluster.node(2).start());
  REQUIRE(chat.all_sent_since(Clock::now(), 30s));
  chat.stop();
  chat.verify(cluster);
}

TEST_CASE("a leader paused for 10 s serves nothing stale when it wakes and rejoins",
          "[cluster][replication]") {
  Cluster cluster(5);
  Chat chat(cluster, 8);
  chat.start();
  REQUIRE(chat.all_sent_since(Clock::now(), 30s));
  ServerProcess& paused = cluster.node(2);
  paused.send_signal(SIGSTOP);
  auto resumed_at = Clock::now() + 10s;
  // Meanwhile the others elect new leaders and everyone sends again.
  REQUIRE(chat.all_sent_since(Clock::now(), 30s));
  while (Clock::now() < resumed_at)
    std::this_thread::sleep_for(100ms);  // the pause itself is the scenario, not a wait
  paused.send_signal(SIGCONT);
  REQUIRE(chat.all_sent_since(Clock::now(), 30s));
  chat.stop();
  // No two acknowledged messages share a seq (checked in verify), and the woken node reads back
  // exactly what the others hold.
  chat.verify(cluster);
  CHECK(paused.running());
}

TEST_CASE("a joining node gets replicas and leaderships; a draining node fails no request",
          "[cluster][replication]") {
  Cluster cluster(3);
  Chat chat(cluster, 6);
  chat.start();
  REQUIRE(chat.all_sent_since(Clock::now(), 30s));
  ServerProcess& newcomer = cluster.add();
  // Within a while it leads a share of the partitions (the ring view counts leaderships).
  REQUIRE(eventually(
      [&] {
        CommandResult ring = qimctl(newcomer, {"ring"});
        return ring.exit_code == 0 &&
               ring.out.find(newcomer.node_name() + " (self)") != std::string::npos &&
               ring.out.find(" 0.0%") == std::string::npos;
      },
      60s, 500ms));
  // A graceful leave: replicas and leaderships move first, then the node exits 0.
  auto leave = Clock::now();
  ServerProcess& leaving = cluster.node(0);
  leaving.send_signal(SIGTERM);
  auto exit_code = leaving.wait_exit(60s);
  REQUIRE(exit_code.has_value());
  CHECK(*exit_code == 0);
  REQUIRE(chat.all_sent_since(Clock::now(), 30s));
  WARN("graceful leave: longest stall " << seconds(chat.longest_stall(leave)) << " s");
  chat.stop();
  chat.verify(cluster);
}

TEST_CASE("a node whose data was deleted rejoins empty and is rebuilt from snapshots",
          "[cluster][replication]") {
  Cluster cluster(4);
  Chat chat(cluster, 6);
  chat.start();
  REQUIRE(chat.all_sent_since(Clock::now(), 30s));
  ServerProcess& wiped = cluster.node(1);
  wiped.kill();
  std::filesystem::remove_all(wiped.data_dir());
  REQUIRE(wiped.start());
  // It comes back as a new replica: snapshots install on it and it hosts replicas again.
  REQUIRE(
      eventually([&] { return wiped.log_text().find("installed a snapshot") != std::string::npos; },
                 60s, 200ms));
  REQUIRE(chat.all_sent_since(Clock::now(), 30s));
  chat.stop();
  chat.verify(cluster);
}

}  // namespace qim::e2e
