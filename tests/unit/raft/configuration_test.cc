// Membership: validating and applying single-server changes, and the quorum math.
#include <catch2/catch.hpp>

#include "replication/raft/configuration.h"

using namespace qim::replication::raft;

namespace {

Configuration make(std::vector<NodeId> voters, std::vector<NodeId> learners = {}) {
  return Configuration{std::move(voters), std::move(learners)};
}

}  // namespace

TEST_CASE("config changes apply only when valid", "[raft][configuration]") {
  struct Case {
    Configuration before;
    ConfigChange change;
    bool valid;
    Configuration after;
  };
  using K = ConfigChangeKind;
  const std::vector<Case> cases = {
      {make({1, 2, 3}), {K::add_learner, 4}, true, make({1, 2, 3}, {4})},
      {make({1, 2, 3}), {K::add_learner, 2}, false, make({1, 2, 3})},
      {make({1, 3}, {2}), {K::add_learner, 2}, false, make({1, 3}, {2})},
      {make({1, 3}, {2}), {K::promote, 2}, true, make({1, 2, 3})},
      {make({1, 2, 3}), {K::promote, 2}, false, make({1, 2, 3})},
      {make({1, 2, 3}), {K::promote, 4}, false, make({1, 2, 3})},
      {make({1, 2, 3}), {K::remove, 2}, true, make({1, 3})},
      {make({1, 3}, {2}), {K::remove, 2}, true, make({1, 3})},
      {make({1, 2, 3}), {K::remove, 4}, false, make({1, 2, 3})},
      {make({1}), {K::remove, 1}, false, make({1})},
      {make({1}, {2}), {K::remove, 1}, false, make({1}, {2})},
      {make({1}), {K::add_learner, 0}, false, make({1})},
  };
  for (const Case& c : cases) {
    INFO(to_string(c.before) << " " << to_string(c.change.kind) << " " << c.change.node);
    CHECK(static_cast<bool>(validate_change(c.before, c.change)) == !c.valid);
    if (!c.valid) CHECK(validate_change(c.before, c.change).code == qim::errc::invalid_argument);
    Configuration config = c.before;
    CHECK(apply_change(config, c.change) == c.valid);
    CHECK(config == c.after);
    CHECK(well_formed(config));
  }
}

TEST_CASE("well-formed configurations are sorted, unique and disjoint", "[raft][configuration]") {
  CHECK(well_formed(make({1, 2, 3}, {4, 5})));
  CHECK(well_formed(make({})));
  CHECK_FALSE(well_formed(make({2, 1})));
  CHECK_FALSE(well_formed(make({1, 1})));
  CHECK_FALSE(well_formed(make({1, 2}, {2})));
  CHECK_FALSE(well_formed(make({0, 1})));
}

TEST_CASE("quorums and vote tallies count voters only", "[raft][configuration]") {
  CHECK(quorum(make({1})) == 1);
  CHECK(quorum(make({1, 2})) == 2);
  CHECK(quorum(make({1, 2, 3})) == 2);
  CHECK(quorum(make({1, 2, 3, 4})) == 3);
  CHECK(quorum(make({1, 2, 3, 4, 5}, {6, 7, 8})) == 3);

  const Configuration config = make({1, 2, 3}, {4, 5});
  struct Case {
    std::vector<NodeId> granted;
    std::vector<NodeId> rejected;
    VoteResult result;
  };
  const std::vector<Case> cases = {
      {{1}, {}, VoteResult::pending},       {{1, 2}, {}, VoteResult::won},
      {{1, 4, 5}, {}, VoteResult::pending},  // learners' votes do not count
      {{1}, {2}, VoteResult::pending},      {{1}, {2, 3}, VoteResult::lost},
      {{1}, {4, 5}, VoteResult::pending},   {{1, 9}, {}, VoteResult::pending},  // nor do strangers'
  };
  for (const Case& c : cases) {
    CHECK(tally_votes(config, c.granted, c.rejected) == c.result);
  }
}
