#pragma once
// The replica host's way to other nodes (replica::Transport) over the peer links: Raft batches
// as one-way messages, snapshot chunks as requests with a deadline.
#include <asio.hpp>

#include <chrono>

#include "net/peer_links.h"
#include "replica/replica_host.h"

namespace qim::node {

// Owned by main; outlives the replica host. Thread-safe.
class RaftTransport final : public replica::Transport {
 public:
  RaftTransport(asio::any_io_executor links_executor, net::PeerLinks& links,
                std::chrono::milliseconds chunk_timeout = std::chrono::seconds(30))
      : executor_(std::move(links_executor)), links_(links), chunk_timeout_(chunk_timeout) {}

  // A full link queue or a node that is not a member drops the batch: Raft retransmits.
  void send(const std::string& node, std::vector<std::uint8_t> payload) override {
    links_.post(node, std::move(payload));
  }
  void call(const std::string& node, std::vector<std::uint8_t> payload,
            std::function<void(Error)> done) override;

 private:
  asio::any_io_executor executor_;
  net::PeerLinks& links_;
  const std::chrono::milliseconds chunk_timeout_;
};

}  // namespace qim::node
