// The Prometheus text exposition written by admin::MetricsText, checked line by line and by
// the exposition checker the e2e tests also use (tests/support/exposition.h); and the checker
// itself refuses what promtool would.
#include <array>
#include <string>

#include <catch2/catch.hpp>

#include "admin/metrics_text.h"
#include "exposition.h"
#include "service/request_metrics.h"

namespace qim::admin {
namespace {

using Type = MetricsText::Type;
using test_support::parse_exposition;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_CASE("MetricsText: families, labels with escapes, integers and fractions", "[metrics]") {
  MetricsText out;
  out.single("qim_logins_total", Type::counter, "Successful logins.", 42);
  out.family("qim_members", Type::gauge, "Members by state.\nOne line per state.");
  out.sample("qim_members", {{"state", "alive"}}, 3);
  out.sample("qim_members", {{"state", "we\"ird\\na\nme"}}, 0.25);
  out.single("qim_uptime_seconds", Type::gauge, "Uptime.", 12.5);
  const std::string& text = out.text();
  CHECK(contains(text,
                 "# HELP qim_logins_total Successful logins.\n"
                 "# TYPE qim_logins_total counter\nqim_logins_total 42\n"));
  CHECK(contains(text, "# HELP qim_members Members by state.\\nOne line per state.\n"));
  CHECK(contains(text, "qim_members{state=\"alive\"} 3\n"));
  CHECK(contains(text, R"(qim_members{state="we\"ird\\na\nme"} 0.25)"));
  CHECK(contains(text, "qim_uptime_seconds 12.5\n"));
  auto parsed = parse_exposition(text);
  INFO(parsed.error << "\n" << text);
  REQUIRE(parsed.ok());
  CHECK(parsed.samples.at("qim_logins_total") == 42);
  CHECK(parsed.types.at("qim_members") == "gauge");
}

TEST_CASE("MetricsText: a histogram's buckets are cumulative and end in +Inf", "[metrics]") {
  service::RequestMetrics metrics;
  metrics.observe(3, 200'000);    // 0.2 ms: the first bucket
  metrics.observe(3, 3'000'000);  // 3 ms
  metrics.observe(3, 3'000'000);
  metrics.observe(3, 9'000'000'000);  // 9 s: beyond the last bound
  metrics.observe(99, 1);             // no such operation: not counted
  auto snapshot = metrics.snapshot();
  const auto& histogram = snapshot.latency[3];
  CHECK(histogram.count == 4);
  CHECK(histogram.sum_seconds == Approx(9.0062));

  MetricsText out;
  out.family("qim_request_duration_seconds", Type::histogram, "Latency.");
  out.histogram("qim_request_duration_seconds", {{"operation", "send"}},
                service::RequestMetrics::bucket_bounds_seconds, histogram.counts,
                histogram.sum_seconds);
  const std::string& text = out.text();
  CHECK(
      contains(text, "qim_request_duration_seconds_bucket{operation=\"send\",le=\"0.0005\"} 1\n"));
  CHECK(contains(text, "qim_request_duration_seconds_bucket{operation=\"send\",le=\"0.005\"} 3\n"));
  CHECK(contains(text, "qim_request_duration_seconds_bucket{operation=\"send\",le=\"5\"} 3\n"));
  CHECK(contains(text, "qim_request_duration_seconds_bucket{operation=\"send\",le=\"+Inf\"} 4\n"));
  CHECK(contains(text, "qim_request_duration_seconds_count{operation=\"send\"} 4\n"));
  auto parsed = parse_exposition(text);
  INFO(parsed.error << "\n" << text);
  CHECK(parsed.ok());
}

TEST_CASE("RequestMetrics: errors, logins and registrations are summed over threads", "[metrics]") {
  service::RequestMetrics metrics;
  metrics.count_error(errc::not_found);
  metrics.count_error(errc::not_found);
  metrics.count_login(true);
  metrics.count_login(false);
  metrics.count_registration(false);
  auto snapshot = metrics.snapshot();
  CHECK(snapshot.errors[static_cast<std::size_t>(errc::not_found)] == 2);
  CHECK(snapshot.logins == 1);
  CHECK(snapshot.login_failures == 1);
  CHECK(snapshot.registrations == 0);
  CHECK(snapshot.registration_failures == 1);
}

TEST_CASE("parse_exposition refuses malformed text", "[metrics]") {
  const std::array<const char*, 9> bad = {
      "qim_x 1",                                   // no final newline
      "# TYPE qim_x gauge\nqim_y 1\n",             // outside its family
      "# TYPE qim_x gauge\nqim_x{a=\"1\" 2\n",     // unterminated labels
      "# TYPE qim_x gauge\nqim_x{a=\"\\q\"} 2\n",  // bad escape
      "# TYPE qim_x gauge\nqim_x one\n",           // bad value
      "# TYPE qim_x gauge\n# TYPE qim_x gauge\n",  // family repeated
      "# TYPE qim_x gauge\nqim_x 1\nqim_x 2\n",    // sample repeated
      "# TYPE 9x gauge\n",                         // bad name
      "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
  };
  for (const char* text : bad) {
    INFO(text);
    CHECK_FALSE(parse_exposition(text).ok());
  }
  CHECK(parse_exposition("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
                         "h_sum 3.5\nh_count 2\n")
            .ok());
}

}  // namespace
}  // namespace qim::admin
