#pragma once
// The simulation's checker: everything any replica reported, checked as it happens, and the
// final checks after the cluster healed and settled.
//   - a committed entry never changes: every (group, index) ever handed out as committed has
//     one (term, data);
//   - at most one leader per (group, term);
//   - every replica assigns the same seq to the same message (seqs are never reused);
//   - every acknowledged send is in its conversation exactly once, at the acknowledged seq;
//   - seqs are gap-free (the state machine stores them densely; checked at the end).
// The first violation is kept with the simulated time; the run stops there.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "replication/raft/types.h"
#include "tests/sim/raft/messaging.h"

namespace qim::sim::raft {

namespace consensus = qim::replication::raft;
using GroupId = std::uint32_t;

class Checker {
 public:
  void on_committed(GroupId group, consensus::NodeId replica, const consensus::Entry& entry,
                    std::int64_t now_ms);
  void on_applied_send(GroupId group, consensus::NodeId replica, const SendCommand& command,
                       std::uint64_t seq, std::int64_t now_ms);
  void on_leader(GroupId group, consensus::Term term, consensus::NodeId replica,
                 std::int64_t now_ms);
  // A client got SendAck{seq} for this command.
  void on_ack(const SendCommand& command, std::uint64_t seq, std::int64_t now_ms);

  // Every acknowledged send of `conversation` is in `state` exactly once at its seq.
  void check_acknowledged(std::uint32_t conversation, const MessagingState& state,
                          std::int64_t now_ms);

  void fail(const std::string& what, std::int64_t now_ms);
  bool failed() const { return failure_.has_value(); }
  const std::string& failure() const { return *failure_; }

  std::size_t committed_entries() const { return committed_count_; }
  std::size_t acknowledged() const { return acks_.size(); }
  std::size_t leaders() const { return leaders_.size(); }

 private:
  struct Committed {
    consensus::Term term = 0;
    std::string data;
    bool known = false;
  };
  struct Ack {
    std::uint64_t seq = 0;
    std::string body;
  };

  std::map<GroupId, std::vector<Committed>> committed_;
  std::size_t committed_count_ = 0;
  std::map<std::pair<GroupId, consensus::Term>, consensus::NodeId> leaders_;
  // conversation -> (sender, client_msg_id) by seq - 1, as first applied anywhere.
  std::map<std::uint32_t, std::vector<std::pair<std::uint32_t, std::uint64_t>>> seqs_;
  // (conversation, sender, client_msg_id) -> acknowledgement.
  std::map<std::tuple<std::uint32_t, std::uint32_t, std::uint64_t>, Ack> acks_;
  std::optional<std::string> failure_;
};

}  // namespace qim::sim::raft
