#include "service/request_metrics.h"

#include <functional>
#include <thread>

namespace qim::service {
namespace {

void add(std::atomic<std::uint64_t>& counter, std::uint64_t amount = 1) {
  counter.fetch_add(amount, std::memory_order_relaxed);
}

std::uint64_t read(const std::atomic<std::uint64_t>& counter) {
  return counter.load(std::memory_order_relaxed);
}

}  // namespace

RequestMetrics::Stripe& RequestMetrics::mine() {
  // Computed once per thread: which stripe a thread uses only spreads the load.
  thread_local const std::size_t hash = std::hash<std::thread::id>{}(std::this_thread::get_id());
  return stripes_[hash % stripes];
}

void RequestMetrics::observe(std::size_t operation, std::int64_t duration_ns) {
  if (operation >= max_operations) return;
  if (duration_ns < 0) duration_ns = 0;
  double seconds = static_cast<double>(duration_ns) / 1e9;
  std::size_t bucket = 0;
  while (bucket < bucket_bounds_seconds.size() && seconds > bucket_bounds_seconds[bucket])
    ++bucket;
  Stripe& stripe = mine();
  add(stripe.counts[operation][bucket]);
  add(stripe.sum_ns[operation], static_cast<std::uint64_t>(duration_ns));
}

void RequestMetrics::count_error(errc code) {
  auto index = static_cast<std::size_t>(code);
  if (index < codes) add(mine().errors[index]);
}

void RequestMetrics::count_login(bool ok) {
  add(ok ? mine().logins : mine().login_failures);
}

void RequestMetrics::count_registration(bool ok) {
  add(ok ? mine().registrations : mine().registration_failures);
}

RequestMetrics::Snapshot RequestMetrics::snapshot() const {
  Snapshot snapshot;
  for (const Stripe& stripe : stripes_) {
    for (std::size_t operation = 0; operation < max_operations; ++operation) {
      Histogram& histogram = snapshot.latency[operation];
      for (std::size_t bucket = 0; bucket < buckets; ++bucket) {
        std::uint64_t count = read(stripe.counts[operation][bucket]);
        histogram.counts[bucket] += count;
        histogram.count += count;
      }
      histogram.sum_seconds += static_cast<double>(read(stripe.sum_ns[operation])) / 1e9;
    }
    for (std::size_t code = 0; code < codes; ++code)
      snapshot.errors[code] += read(stripe.errors[code]);
    snapshot.logins += read(stripe.logins);
    snapshot.login_failures += read(stripe.login_failures);
    snapshot.registrations += read(stripe.registrations);
    snapshot.registration_failures += read(stripe.registration_failures);
  }
  return snapshot;
}

}  // namespace qim::service
