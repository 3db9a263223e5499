#pragma once
// This node's side of the peer protocol (schemas/peer.fbs beyond the link layer): it answers
// the other nodes' requests from the local service, and asks them on the service's behalf
// (service::ClusterQueries) over the peer links.
//
// Threads: requests and one-way messages arrive on the links' executor (the control thread,
// which also runs gossip). Cheap answers (facts, parts, heads, presence, pushes) are made
// there; forwarded client requests run on the blocking pool, one strand per sending node so
// one session's requests run in the order it sent them, and may themselves wait for other
// nodes' cheap answers (never for another forwarded request, so no cycle can form).
#include <asio.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/log.h"
#include "net/peer_links.h"
#include "node/admin_relay.h"
#include "node/handoff_receiver.h"
#include "service/cluster_queries.h"
#include "service/im_service.h"
#include "service/placement_source.h"
#include "store/kv.h"

namespace qim::node {

// Owned by main; outlives the peer links' stop() and every session. The ClusterQueries
// methods may be called from any thread (the BLOCKING ones from the blocking pool only).
class ClusterPeers final : public net::PeerHandler, public service::ClusterQueries {
 public:
  ClusterPeers(asio::any_io_executor executor, asio::any_io_executor blocking,
               net::PeerLinks& links, const service::PlacementSource& placement,
               service::ImService& service, HandoffReceiver& handoff, AdminRelay& admin,
               core::Logger& logger,
               std::chrono::milliseconds query_timeout = std::chrono::milliseconds(2'000));

  // net::PeerHandler
  asio::awaitable<std::vector<std::uint8_t>> on_request(
      std::string_view from_node, const peer_wire::PeerEnvelope& request) override;
  void on_oneway(std::string_view from_node, const peer_wire::PeerEnvelope& message) override;
  // Group commit: pushes, forwarded replies and handoff acks may reveal buffered writes.
  bool before_write() override;

  // service::ClusterQueries
  void online_elsewhere(std::string after, std::uint32_t limit,
                        std::function<void(std::vector<service::OnlinePage>)> done) override;
  void forward(const std::string& node, const service::Caller& caller,
               std::span<const std::uint8_t> request,
               std::function<void(service::Result<std::vector<std::uint8_t>>)> done) override;
  void push_to(const std::string& node, std::span<const std::uint8_t> frame,
               service::PushTarget target) override;
  void run_serially(std::function<void()> work) override;
  service::Result<service::UserTally> user_tally(const std::string& node,
                                                 std::string_view user) override;
  std::vector<service::UserParts> user_parts_elsewhere(std::string_view user,
                                                       service::UserPart part) override;
  service::Result<std::vector<std::string>> online_among(const std::string& node,
                                                         std::vector<std::string> users) override;
  service::Result<service::ConversationState> conversation_head(
      const std::string& node, std::string_view user, std::string_view conversation) override;

 private:
  // Answers a Forward: runs the client request on the sending node's strand of the pool.
  asio::awaitable<std::vector<std::uint8_t>> serve_forward(std::string_view from_node,
                                                           const peer_wire::Forward& forward);
  std::vector<std::uint8_t> answer_parts(const peer_wire::UserParts& query);
  // BLOCKING: one call over the links, waited for on this (pool) thread.
  net::PeerCallResult call_blocking(const std::string& node, std::vector<std::uint8_t> request);

  asio::any_io_executor executor_;
  asio::any_io_executor blocking_;
  net::PeerLinks& links_;
  const service::PlacementSource& placement_;
  service::ImService& service_;
  HandoffReceiver& handoff_;
  AdminRelay& admin_;
  core::Logger& logger_;
  const std::chrono::milliseconds query_timeout_;
  // By sending node; only touched on the links' executor.
  std::unordered_map<std::string, asio::strand<asio::any_io_executor>> forward_strands_;
  asio::strand<asio::any_io_executor> serial_;  // run_serially's queue, on the pool
};

}  // namespace qim::node
