#pragma once
// The other nodes of a cluster as a unit test sees them when it cares about none of them: every
// call answers Unavailable or nothing. Tests derive from it and override what they exercise.
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "service/cluster_queries.h"

namespace qim::testing {

class UnreachableCluster : public service::ClusterQueries {
 public:
  void online_elsewhere(std::string, std::uint32_t,
                        std::function<void(std::vector<service::OnlinePage>)> done) override {
    done({});
  }
  void forward(const std::string&, const service::Caller&, std::span<const std::uint8_t>,
               std::function<void(service::Result<std::vector<std::uint8_t>>)> done) override {
    done(service::Result<std::vector<std::uint8_t>>::failure(errc::unavailable, "unreachable"));
  }
  void push_to(const std::string&, std::span<const std::uint8_t>, service::PushTarget) override {}
  void run_serially(std::function<void()> work) override { work(); }
  service::Result<service::UserTally> user_tally(const std::string&, std::string_view) override {
    return service::Result<service::UserTally>::failure(errc::unavailable, "unreachable");
  }
  service::Result<std::vector<service::UserTally>> user_tallies(
      const std::string&, std::span<const std::string>) override {
    return service::Result<std::vector<service::UserTally>>::failure(errc::unavailable,
                                                                     "unreachable");
  }
  std::vector<service::UserParts> user_parts_elsewhere(std::string_view, service::UserPart,
                                                       const service::PartitionCoverage&) override {
    return {};
  }
  service::Result<std::vector<std::string>> online_among(const std::string&,
                                                         std::vector<std::string>) override {
    return service::Result<std::vector<std::string>>::failure(errc::unavailable, "unreachable");
  }
  service::Result<service::ConversationState> conversation_head(const std::string&,
                                                                std::string_view,
                                                                std::string_view) override {
    return service::Result<service::ConversationState>::failure(errc::unavailable, "unreachable");
  }
};

}  // namespace qim::testing
