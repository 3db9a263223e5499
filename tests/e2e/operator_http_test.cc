// The operators' HTTP port of a real qimd: /metrics in the Prometheus text format (checked by
// the test's exposition checker, and by promtool when installed), /livez and /readyz; closed
// registration and the per-address registration limit, seen by real clients and in the
// metrics.
#include <httplib.h>

#include <memory>
#include <regex>
#include <string>

#include <catch2/catch.hpp>

#include "cluster_process.h"
#include "e2e_support.h"
#include "exposition.h"
#include "qimctl_support.h"

namespace qim::e2e {
namespace {

// The "http <port>" line of the node's port file.
std::uint16_t http_port(const ServerProcess& server) {
  std::string text = read_file(server.port_file());
  std::smatch match;
  static const std::regex line(R"re(\nhttp ([0-9]+)\n)re");
  REQUIRE(std::regex_search(text, match, line));
  return static_cast<std::uint16_t>(std::stoi(match[1]));
}

struct Answer {
  int status = 0;
  std::string body;
};

Answer get(std::uint16_t port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(10, 0);
  auto result = client.Get(path.c_str());
  if (!result) return {};
  return {result->status, result->body};
}

double sample(const test_support::Exposition& metrics, const std::string& key) {
  auto found = metrics.samples.find(key);
  return found == metrics.samples.end() ? -1 : found->second;
}

void check_with_promtool(const std::string& text, const TempDir& dir) {
  std::string promtool = QIM_E2E_PROMTOOL_PATH;
  if (promtool.empty()) return;  // not installed: the exposition checker above suffices
  std::string path = dir.file("metrics.txt");
  write_file(path, text);
  CommandResult checked = run_command({"/bin/sh", "-c", promtool + " check metrics < " + path});
  INFO("promtool: " << checked.out << checked.err);
  CHECK(checked.exit_code == 0);
}

}  // namespace

TEST_CASE("/metrics, /livez and /readyz of a node with closed registration", "[http]") {
  ServerOptions options;
  options.extra_args = {"--registration", "closed"};
  auto server = started_server(options);
  std::uint16_t port = http_port(*server);

  Answer live = get(port, "/livez");
  CHECK(live.status == 200);
  CHECK(live.body == "ok\n");
  Answer ready;
  CHECK(eventually([&] { return (ready = get(port, "/readyz")).status == 200; },
                   std::chrono::seconds(20)));
  CHECK(ready.body == "ok\n");
  CHECK(get(port, "/nothing-here").status == 404);

  // Closed: a client cannot register, an administrator can create the account.
  {
    auto client = connected_client(*server);
    auto registered = client->register_user("walker", test_password);
    REQUIRE_FALSE(registered.ok());
    CHECK(registered.error().code == errc::forbidden);
    CHECK(contains(registered.error().message, "registration is closed"));
  }
  CommandResult created =
      qimctl(*server, {"user", "create", "walker", "--password", test_password});
  INFO(created.out << created.err);
  REQUIRE(created.exit_code == 0);
  auto session = logged_in_client(*server, "walker");
  {
    auto client = connected_client(*server);
    auto wrong = client->login("walker", "not-the-password", "dev-x");
    CHECK_FALSE(wrong.ok());
  }

  // The two closed clients' sessions end on the server shortly after their sockets close.
  Answer scraped;
  auto metrics = test_support::parse_exposition("");
  CHECK(eventually(
      [&] {
        scraped = get(port, "/metrics");
        metrics = test_support::parse_exposition(scraped.body);
        return scraped.status == 200 && metrics.ok() && sample(metrics, "qim_sessions") == 1;
      },
      std::chrono::seconds(10)));
  INFO(metrics.error << "\n" << scraped.body);
  REQUIRE(scraped.status == 200);
  REQUIRE(metrics.ok());
  CHECK(sample(metrics, "qim_registration_failures_total") >= 1);
  CHECK(sample(metrics, "qim_logins_total") >= 1);
  CHECK(sample(metrics, "qim_login_failures_total") >= 1);
  CHECK(sample(metrics, "qim_errors_total{code=\"forbidden\"}") >= 1);
  CHECK(sample(metrics, "qim_sessions") == 1);
  CHECK(sample(metrics, "qim_client_connections{transport=\"tcp\"}") >= 1);
  CHECK(sample(metrics, "qim_members{state=\"alive\"}") == 1);
  CHECK(sample(metrics, "qim_partitions") == 64);
  CHECK(sample(metrics, "qim_replicas_hosted") == 64);
  CHECK(sample(metrics, "qim_partitions_led") == 64);
  CHECK(sample(metrics, "qim_leaderships_won_total") >= 64);
  CHECK(sample(metrics, "qim_proposals_total") >= 1);
  CHECK(sample(metrics, "qim_ready") == 1);
  CHECK(sample(metrics, "qim_client_received_bytes_total") > 0);
  CHECK(sample(metrics, "qim_client_sent_bytes_total") > 0);
  CHECK(sample(metrics, "qim_request_duration_seconds_count{operation=\"login\"}") >= 2);
  CHECK(metrics.types.at("qim_request_duration_seconds") == "histogram");
  CHECK(metrics.types.at("qim_store_block_cache_hits_total") == "counter");
  CHECK(metrics.types.at("qim_store_wal_size_bytes") == "gauge");
  // Registrations, logins and sends went through the store.
  CHECK(sample(metrics, "qim_store_keys_written_total") > 0);
  CHECK(sample(metrics, "qim_store_write_batches_total") > 0);
  CHECK(sample(metrics, "qim_store_write_batches_total") <=
        sample(metrics, "qim_store_keys_written_total"));
  // No user or conversation id is a label.
  CHECK_FALSE(contains(scraped.body, "walker"));
  TempDir dir;
  check_with_promtool(scraped.body, dir);
}

TEST_CASE("Open registration is limited per address; --http-listen off disables the port",
          "[http]") {
  ServerOptions options;
  options.extra_args = {"--registrations-per-minute", "1", "--http-listen", "off"};
  auto server = started_server(options);
  CHECK_FALSE(contains(read_file(server->port_file()), "http "));
  auto client = connected_client(*server);
  // A burst of 5, then one a minute: the sixth in a row is refused.
  for (int i = 0; i < 5; ++i) {
    auto registered = client->register_user("burst" + std::to_string(i), test_password);
    INFO(i << ": " << (registered.ok() ? std::string() : registered.error().message));
    CHECK(registered.ok());
  }
  auto refused = client->register_user("burst5", test_password);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == errc::rate_limited);
}

}  // namespace qim::e2e
