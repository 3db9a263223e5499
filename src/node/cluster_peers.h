#pragma once
// This node's side of the peer protocol (schemas/peer.fbs beyond the link layer): it answers
// the other nodes' requests from the local service, and asks them on the service's behalf
// (service::ClusterQueries), fanning out over the peer links.
#include <asio.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/log.h"
#include "net/peer_links.h"
#include "node/handoff_receiver.h"
#include "service/cluster_queries.h"
#include "service/im_service.h"
#include "service/placement_source.h"
#include "store/kv.h"

namespace qim::node {

// Owned by main; outlives the peer links' stop() and every session. Requests are answered on
// the links' executor; online_elsewhere() may be called from any thread and runs its fan-out
// on `executor` (the links' executor).
class ClusterPeers final : public net::PeerHandler, public service::ClusterQueries {
 public:
  ClusterPeers(asio::any_io_executor executor, net::PeerLinks& links,
               const service::PlacementSource& placement, service::ImService& service,
               store::Kv& kv, HandoffReceiver& handoff, core::Logger& logger,
               std::chrono::milliseconds query_timeout = std::chrono::milliseconds(2'000));

  // net::PeerHandler
  asio::awaitable<std::vector<std::uint8_t>> on_request(
      std::string_view from_node, const peer_wire::PeerEnvelope& request) override;
  void on_oneway(std::string_view from_node, const peer_wire::PeerEnvelope& message) override;

  // service::ClusterQueries
  void online_elsewhere(std::string after, std::uint32_t limit,
                        std::function<void(std::vector<service::OnlinePage>)> done) override;

 private:
  asio::any_io_executor executor_;
  net::PeerLinks& links_;
  const service::PlacementSource& placement_;
  service::ImService& service_;
  store::Kv& kv_;
  HandoffReceiver& handoff_;
  core::Logger& logger_;
  const std::chrono::milliseconds query_timeout_;
};

}  // namespace qim::node
