// Measures what one message costs below the network: `service` runs ImService::send in
// process (dedup, seq, policy and membership checks, the store batch, the Deliver encoding;
// no session is online, so pushes go nowhere), `store` writes only the records a send
// stores (the log entry, and the two memberships of a new direct conversation) after the same
// lookups (membership, then the head seek when the conversation has messages). Both
// group-commit every --commit-every sends, as a busy node's writers do. The gap between these
// figures and qim-bench's says what the sockets and the protocol cost; `store` is the ceiling for
// any send path on this machine and store.
//
//   qim-service-bench --workload o2o --layer store
//   qim-service-bench --workload o2o --layer service
//   qim-service-bench --workload fanout --layer service --members 500
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include "core/clock.h"
#include "core/log.h"
#include "qim/ids.h"
#include "service/im_service.h"
#include "service/inline_proposer.h"
#include "service/keys.h"
#include "service/records.h"
#include "store/rocks_kv.h"

namespace {

using namespace qim;

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

struct Settings {
  std::string workload = "o2o";
  std::string layer = "service";
  std::size_t users = 1000;
  std::size_t members = 500;
  std::size_t messages = 100'000;
  std::size_t body_bytes = 64;
  std::size_t commit_every = 16;
  bool fsync = false;
  std::uint64_t seed = 1;
  std::string data_dir;
  bool json = false;
};

std::string user_name(std::size_t index) {
  return fmt::format("u{:05}", index);
}

// The store layer: what Conversations::append_locked reads and writes, without the service.
bool store_send(store::Kv& kv, const service::Keys& keys, std::string_view sender,
                std::string_view peer, std::uint64_t client_msg_id, std::string_view body,
                std::int64_t now_ms) {
  std::string conversation = qim::direct_conversation(sender, peer);
  std::string value;
  std::uint64_t head = 0;
  // As Conversations does: no membership yet means an empty conversation.
  Error error = kv.get(store::Column::convs, keys.conv(sender, conversation), value);
  if (!error) {
    // The head, where a retry would also be found (service/recent_sends.h; its window is in
    // memory once loaded).
    std::string prefix = keys.log_prefix(conversation);
    error = kv.scan(store::Column::log, prefix, {}, true, [&](std::string_view key, auto) {
      head = service::keys::log_seq(key, prefix).value_or(0);
      return false;
    });
  }
  if (error && error.code != errc::not_found) return false;
  service::Message message;
  message.conversation = conversation;
  message.seq = head + 1;
  message.sender.assign(sender);
  message.sender_device = "bench";
  message.client_msg_id = client_msg_id;
  message.server_time_ms = static_cast<std::uint64_t>(now_ms);
  message.body.assign(body);
  store::WriteBatch batch;
  batch.put(store::Column::log, keys.log(conversation, message.seq),
            service::encode_log_entry(message));
  if (message.seq == 1) {
    service::MembershipRecord membership{std::string(peer), 1, message.server_time_ms,
                                         message.server_time_ms};
    batch.put(store::Column::convs, keys.conv(sender, conversation), service::encode(membership));
    membership.peer.assign(sender);
    batch.put(store::Column::convs, keys.conv(peer, conversation), service::encode(membership));
  }
  return !kv.write_buffered(batch);
}

int run(const Settings& settings) {
  std::filesystem::path dir = settings.data_dir;
  bool temporary = dir.empty();
  if (temporary) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "qim-service-bench-XXXXXX").string();
    if (!mkdtemp(pattern.data())) {
      std::fprintf(stderr, "qim-service-bench: cannot create a temporary directory\n");
      return 1;
    }
    dir = pattern;
  }
  Error error;
  auto kv = store::RocksKv::open((dir / "db").string(), store::RocksOptions{}, error);
  if (!kv) {
    std::fprintf(stderr, "qim-service-bench: %s\n", error.message.c_str());
    return 1;
  }
  core::SystemClock clock;
  core::Logger logger(core::LogLevel::warn);
  service::Options options;
  options.dm_policy = service::DmPolicy::anyone;
  options.durability = settings.fsync ? service::Durability::fsync : service::Durability::local;
  options.password_cost = auth::PasswordCost::minimum();
  options.max_group_members = static_cast<std::uint32_t>(settings.members + 1);
  route::Partitions partitions(route::Partitions::default_count, cluster::HashKey{});
  service::Keys keys(partitions);
  service::InlineProposer proposer(*kv, partitions);
  service::ImService service(*kv, clock, logger, options, proposer, partitions);
  proposer.attach(service);
  // The writes below are applied at once by the inline proposer: their outcome is there when
  // the call returns.
  auto wait = [](auto start) {
    Error outcome{errc::internal, "no outcome"};
    start([&outcome](Error error) { outcome = std::move(error); });
    return outcome;
  };

  bool fanout = settings.workload == "fanout";
  std::size_t users = fanout ? settings.members : settings.users;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < users; ++i) {
    names.push_back(user_name(i));
    if (settings.layer == "service") {
      if (Error registered = wait([&](service::Done done) {
            service.register_account(names.back(), "bench-password", std::move(done));
          })) {
        std::fprintf(stderr, "qim-service-bench: register: %s\n", registered.message.c_str());
        return 1;
      }
    }
  }
  if (fanout) {
    std::vector<std::string_view> others(names.begin() + 1, names.end());
    service::Caller owner{names[0], "bench", 1};
    if (Error created = wait([&](service::Done done) {
          service.groups().create(owner, "bench-group", "bench", others, std::move(done));
        })) {
      std::fprintf(stderr, "qim-service-bench: group: %s\n", created.message.c_str());
      return 1;
    }
  }

  std::mt19937_64 random(settings.seed);
  std::string body(settings.body_bytes, 'x');
  std::size_t failed = 0;
  double cpu_before = cpu_seconds();
  auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < settings.messages; ++i) {
    std::size_t from = fanout ? 0 : random() % users;
    std::size_t to = (from + 1 + random() % (users - 1)) % users;
    bool ok = true;
    if (settings.layer == "store") {
      ok = store_send(*kv, keys, names[from], names[to], i + 1, body, clock.wall_ms());
    } else {
      service::Caller caller{names[from], "bench", 1};
      service::SendRequest request;
      if (fanout) {
        request.to_group = "bench-group";
      } else {
        request.to_user = names[to];
      }
      request.client_msg_id = i + 1;
      request.body = body;
      ok = false;
      service.send(caller, request,
                   [&ok](service::Result<service::SendResult> sent) { ok = sent.ok(); });
    }
    if (!ok) ++failed;
    if ((i + 1) % settings.commit_every == 0 && service.make_durable()) ++failed;
  }
  if (service.make_durable()) ++failed;
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double cpu = cpu_seconds() - cpu_before;

  double per_second = settings.messages / seconds;
  double per_cpu_second = settings.messages / cpu;
  if (settings.json) {
    std::printf(
        "{\"workload\":\"%s\",\"layer\":\"%s\",\"messages\":%zu,\"commit_every\":%zu,"
        "\"fsync\":%s,\"messages_per_second\":%.1f,\"messages_per_cpu_second\":%.1f,"
        "\"cpu_microseconds_per_message\":%.3f,\"failed\":%zu}\n",
        settings.workload.c_str(), settings.layer.c_str(), settings.messages, settings.commit_every,
        settings.fsync ? "true" : "false", per_second, per_cpu_second,
        cpu * 1e6 / settings.messages, failed);
  } else {
    std::printf("workload %s, layer %s, %zu messages, commit every %zu%s\n",
                settings.workload.c_str(), settings.layer.c_str(), settings.messages,
                settings.commit_every, settings.fsync ? " (fsync)" : "");
    std::printf("  messages_per_second            %.0f\n", per_second);
    std::printf("  messages_per_cpu_second        %.0f\n", per_cpu_second);
    std::printf("  cpu_microseconds_per_message   %.2f\n", cpu * 1e6 / settings.messages);
    if (fanout) {
      std::printf("  pushes_per_cpu_second_bound    %.0f  (x %zu members, were pushing free)\n",
                  per_cpu_second * static_cast<double>(users - 1), users - 1);
    }
    std::printf("  failed                         %zu\n", failed);
  }
  kv.reset();
  if (temporary) std::filesystem::remove_all(dir);
  return failed == 0 ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"qim-service-bench: the cost of a send without the network"};
  Settings settings;
  app.add_option("--workload", settings.workload, "o2o or fanout")
      ->check(CLI::IsMember({"o2o", "fanout"}));
  app.add_option("--layer", settings.layer, "service (ImService::send) or store (its records)")
      ->check(CLI::IsMember({"service", "store"}));
  app.add_option("--users", settings.users, "o2o: users sending to random others")
      ->check(CLI::Range(2, 1'000'000));
  app.add_option("--members", settings.members, "fanout: group size")
      ->check(CLI::Range(2, 100'000));
  app.add_option("--messages", settings.messages, "sends to time")
      ->check(CLI::Range(1, 100'000'000));
  app.add_option("--body-bytes", settings.body_bytes, "message body size")
      ->check(CLI::Range(1, 16 * 1024));
  app.add_option("--commit-every", settings.commit_every, "sends per group commit")
      ->check(CLI::Range(1, 1'000'000));
  app.add_flag("--fsync", settings.fsync, "fsync at each group commit (--durability fsync)");
  app.add_option("--seed", settings.seed, "random seed");
  app.add_flag("--json", settings.json, "one JSON object instead of the summary");
  app.add_option("--data-dir", settings.data_dir, "database directory (default: a temporary one)");
  CLI11_PARSE(app, argc, argv);
  if (settings.workload == "fanout" && settings.layer == "store") {
    std::fprintf(stderr, "qim-service-bench: the store layer is o2o only\n");
    return 2;
  }
  return run(settings);
}
