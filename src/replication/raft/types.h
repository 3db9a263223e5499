#pragma once
// The vocabulary of the Raft core: ids, log entries, messages and the state the shell persists.
// Plain values; the shell serialises Messages itself (FlatBuffers) and stores Entries and the
// HardState in its log.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace qim::replication::raft {

// A replica id: random per data directory, never reused. 0 means "none".
using NodeId = std::uint64_t;
using Term = std::uint64_t;
using Index = std::uint64_t;

inline constexpr NodeId kNoNode = 0;

enum class EntryKind : std::uint8_t { normal = 0, config_change = 1 };

// An empty normal entry (data.empty()) is the leader's no-op at the start of its term; the
// shell's state machine ignores it. A config_change entry's data is encode(ConfigChange).
struct Entry {
  Term term = 0;
  Index index = 0;
  EntryKind kind = EntryKind::normal;
  std::string data;
};

// What an entry counts for against the byte limits (messages, uncommitted proposals, a Ready's
// committed entries): its data plus a fixed allowance for the framing around it.
inline constexpr std::size_t kEntryOverheadBytes = 24;
inline std::size_t entry_bytes(const Entry& entry) {
  return entry.data.size() + kEntryOverheadBytes;
}

// Voters and learners, each sorted ascending, disjoint, without kNoNode.
struct Configuration {
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;

  friend bool operator==(const Configuration&, const Configuration&) = default;
};

enum class ConfigChangeKind : std::uint8_t { add_learner = 0, promote = 1, remove = 2 };

// One membership change. A voter is added in two steps: add_learner, then (once it has caught
// up) promote. remove takes out a voter or a learner, the leader included.
struct ConfigChange {
  ConfigChangeKind kind = ConfigChangeKind::add_learner;
  NodeId node = kNoNode;

  friend bool operator==(const ConfigChange&, const ConfigChange&) = default;
};

// What must be on stable storage before any message of the same Ready is sent.
struct HardState {
  Term term = 0;
  NodeId vote = kNoNode;
  Index commit = 0;

  friend bool operator==(const HardState&, const HardState&) = default;
};

// The point a state-machine snapshot stands for: the last entry it includes, that entry's term,
// and the configuration in force after applying it.
struct SnapshotMeta {
  Index index = 0;
  Term term = 0;
  Configuration config;

  friend bool operator==(const SnapshotMeta&, const SnapshotMeta&) = default;
};

enum class MessageType : std::uint8_t {
  pre_vote,
  pre_vote_response,
  vote,
  vote_response,
  append,
  append_response,
  heartbeat,
  heartbeat_response,
  snapshot,
  timeout_now,
};

// The context a vote carries when a leadership transfer forced the campaign: voters then grant
// it even while they still hear from the current leader.
inline constexpr std::uint64_t kCampaignTransfer = 1;
// Set in a heartbeat's context (next to the round) when the leader goes quiet: a follower that
// is fully caught up stops its election timer until another message (or the shell) wakes it.
inline constexpr std::uint64_t kQuiesceMark = std::uint64_t{1} << 63;

struct Message {
  MessageType type = MessageType::append;
  NodeId from = kNoNode;
  NodeId to = kNoNode;
  Term term = 0;
  // append: the entry before `entries`; (pre)vote: the candidate's last entry;
  // append_response: the index the follower has up to (or the rejected append's index).
  Term log_term = 0;
  Index index = 0;
  Index commit = 0;
  std::vector<Entry> entries;
  // append_response only: a rejection, with a hint for fast log backtracking (the follower's
  // largest index at or below the rejected one whose term is <= the append's log_term).
  bool reject = false;
  Index reject_hint = 0;
  Term reject_term = 0;
  // snapshot: the metadata (the data travels separately, in the shell).
  SnapshotMeta snapshot;
  // heartbeat(_response): the leader's heartbeat round, which dates lease acknowledgements,
  // with kQuiesceMark when the leader goes quiet; (pre)vote: kCampaignTransfer for a leadership
  // transfer's campaign.
  std::uint64_t context = 0;
};

enum class Role : std::uint8_t { follower, pre_candidate, candidate, leader };

// How the leader replicates to one follower.
//   probe:     one append in flight until the follower's log position is known;
//   replicate: appends pipelined up to Options::max_inflight_messages, next optimistic;
//   snapshot:  waiting for a snapshot to arrive (report_snapshot or the follower's answer).
enum class ProgressState : std::uint8_t { probe, replicate, snapshot };

struct FollowerStatus {
  NodeId id = kNoNode;
  bool learner = false;
  Index match = 0;
  Index next = 0;
  ProgressState state = ProgressState::probe;
  bool recently_active = false;
  bool paused = false;
  std::size_t inflight_messages = 0;
};

const char* to_string(MessageType type);
const char* to_string(Role role);
const char* to_string(ProgressState state);
const char* to_string(ConfigChangeKind kind);
std::string to_string(const Configuration& config);
std::string to_string(const Message& message);

}  // namespace qim::replication::raft
