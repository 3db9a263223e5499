// Measures ring lookups: owner() and replicas(3) per key, for several cluster sizes, and the
// load spread. A benchmark, not a test: it prints figures and asserts nothing.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cluster/ring/ring.h"

int main(int argc, char** argv) {
  CLI::App app{"qim-ring-bench: consistent-hash ring lookup cost and balance"};
  std::size_t keys_count = 1'000'000;
  std::uint32_t vnodes = 128;
  std::uint64_t seed = 1;
  app.add_option("--keys", keys_count, "keys to look up")->check(CLI::Range(1, 100'000'000));
  app.add_option("--vnodes", vnodes, "virtual nodes per member")->check(CLI::Range(1, 4096));
  app.add_option("--seed", seed, "key generator seed");
  CLI11_PARSE(app, argc, argv);

  std::mt19937_64 random(seed);
  std::vector<std::string> keys;
  keys.reserve(keys_count);
  for (std::size_t i = 0; i < keys_count; ++i)
    keys.push_back("user-" + std::to_string(random()));

  std::printf("%8s %8s %14s %16s %10s %10s\n", "members", "vnodes", "owner ns/key",
              "replicas3 ns/key", "max/mean", "min/mean");
  for (std::size_t members : {3, 10, 100, 1000}) {
    std::vector<std::string> names;
    for (std::size_t i = 1; i <= members; ++i)
      names.push_back("qim-" + std::to_string(i));
    qim::cluster::RingOptions options;
    options.vnodes_per_member = vnodes;
    qim::cluster::Ring ring(names, options);

    std::vector<std::size_t> counts(members, 0);
    auto start = std::chrono::steady_clock::now();
    for (const auto& key : keys)
      ++counts[ring.owner_index(key)];
    auto owner_ns =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() /
        static_cast<double>(keys.size());

    std::vector<std::size_t> replicas;
    std::size_t checksum = 0;
    start = std::chrono::steady_clock::now();
    for (const auto& key : keys) {
      ring.replicas(key, 3, replicas);
      checksum += replicas.back();
    }
    auto replicas_ns =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() /
        static_cast<double>(keys.size());

    double mean = static_cast<double>(keys.size()) / static_cast<double>(members);
    double most = static_cast<double>(*std::max_element(counts.begin(), counts.end()));
    double least = static_cast<double>(*std::min_element(counts.begin(), counts.end()));
    std::printf("%8zu %8u %14.1f %16.1f %10.3f %10.3f%s\n", members, vnodes, owner_ns, replicas_ns,
                most / mean, least / mean, checksum == 0 ? " " : "");
  }
  return 0;
}
