// NodeAddresses: the nodes a client knows and where its reconnection goes next
// (client/node_addresses.h).
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "client/node_addresses.h"

namespace {

using namespace std::chrono_literals;
using qim::client::NodeAddress;
using qim::client::NodeAddresses;
using qim::client::parse_node_address;
using TimePoint = NodeAddresses::TimePoint;

const TimePoint start{std::chrono::seconds(100)};

NodeAddress node(std::uint16_t port) {
  return {"127.0.0.1", port};
}

// The entry (port 1) and four learned nodes (ports 2..5).
NodeAddresses five_nodes() {
  NodeAddresses addresses;
  addresses.set_entry(node(1));
  addresses.replace_learned(node(1), {node(2), node(3), node(4), node(5)});
  return addresses;
}

std::vector<std::uint16_t> targets(const NodeAddresses& addresses, const NodeAddress& home,
                                   std::uint32_t attempts, TimePoint now) {
  std::vector<std::uint16_t> ports;
  for (std::uint32_t attempt = 0; attempt < attempts; ++attempt)
    ports.push_back(addresses.target(home, attempt, now).port);
  return ports;
}

}  // namespace

TEST_CASE("node addresses: server lists parse, malformed entries do not", "[client][addresses]") {
  CHECK(parse_node_address("10.0.0.1:7000") == NodeAddress{"10.0.0.1", 7000});
  CHECK(parse_node_address("[::1]:7000") == NodeAddress{"::1", 7000});
  CHECK(parse_node_address("host.example:1") == NodeAddress{"host.example", 1});
  for (const char* bad :
       {"", "host", ":7000", "host:", "host:0", "host:65536", "host:12x", "host:-1", "host: 80"}) {
    INFO(bad);
    CHECK_FALSE(parse_node_address(bad).has_value());
  }
}

TEST_CASE("node addresses: a reconnection alternates the home with the others in turn",
          "[client][addresses]") {
  NodeAddresses addresses = five_nodes();
  CHECK(targets(addresses, node(3), 8, start) ==
        std::vector<std::uint16_t>{3, 1, 3, 2, 3, 4, 3, 5});
  // Without a home, the known nodes in turn.
  CHECK(targets(addresses, NodeAddress{}, 3, start) == std::vector<std::uint16_t>{1, 2, 3});
}

TEST_CASE("node addresses: a silent home is passed over until its silence ends",
          "[client][addresses]") {
  // The redirect-then-pause case: the user's home moved to node 3, which stopped answering.
  NodeAddresses addresses = five_nodes();
  addresses.mark_silent(node(3), start + 3s);
  CHECK(addresses.silent(node(3), start));
  auto during = targets(addresses, node(3), 8, start + 1s);
  CHECK(std::find(during.begin(), during.end(), 3) == during.end());
  // Every other node gets its turn.
  CHECK(std::set<std::uint16_t>(during.begin(), during.end()) ==
        std::set<std::uint16_t>{1, 2, 4, 5});
  // Once the silence is over, the home is tried again.
  CHECK_FALSE(addresses.silent(node(3), start + 3s));
  CHECK(addresses.target(node(3), 0, start + 3s) == node(3));
  // An answer ends a silence early.
  addresses.mark_silent(node(3), start + 10s);
  addresses.mark_answered(node(3));
  CHECK(addresses.target(node(3), 0, start + 1s) == node(3));
}

TEST_CASE("node addresses: silent nodes among the others are skipped; all silent, all tried",
          "[client][addresses]") {
  NodeAddresses addresses = five_nodes();
  addresses.mark_silent(node(1), start + 5s);
  addresses.mark_silent(node(4), start + 5s);
  CHECK(targets(addresses, node(3), 6, start) == std::vector<std::uint16_t>{3, 2, 3, 5, 3, 2});
  // A longer silence is not shortened by a later, shorter one.
  addresses.mark_silent(node(1), start + 1s);
  CHECK(addresses.silent(node(1), start + 2s));
  // Everything silent: the plain rotation rather than nothing.
  for (std::uint16_t port : {2, 3, 5})
    addresses.mark_silent(node(port), start + 5s);
  CHECK(targets(addresses, node(3), 4, start) == std::vector<std::uint16_t>{3, 1, 3, 2});
}

TEST_CASE("node addresses: a server's list replaces nodes learned before", "[client][addresses]") {
  NodeAddresses addresses = five_nodes();
  addresses.remember(node(9));  // a node that joined, was redirected to, then left
  CHECK(addresses.known().size() == 6);
  addresses.replace_learned(node(2), {node(3), node(2), node(3)});
  CHECK(addresses.known() == std::vector<NodeAddress>{node(1), node(2), node(3)});
  // The entry the user gave stays first whatever the servers list.
  addresses.set_entry(node(3));
  CHECK(addresses.known() == std::vector<NodeAddress>{node(3), node(1), node(2)});
}

TEST_CASE("node addresses: the list stays bounded, keeping the entry", "[client][addresses]") {
  NodeAddresses addresses;
  addresses.set_entry(node(1));
  for (std::uint16_t port = 2; port < 100; ++port)
    addresses.remember(node(port));
  REQUIRE(addresses.known().size() == NodeAddresses::max_known);
  CHECK(addresses.known().front() == node(1));
  CHECK(addresses.known().back() == node(99));
  std::vector<NodeAddress> many;
  for (std::uint16_t port = 200; port < 300; ++port)
    many.push_back(node(port));
  addresses.replace_learned(node(2), many);
  CHECK(addresses.known().size() == NodeAddresses::max_known);
  CHECK(addresses.known()[0] == node(1));
  CHECK(addresses.known()[1] == node(2));
}
