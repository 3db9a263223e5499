#include "replication/raft/raft.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>

#include "replication/raft/codec.h"
#include "replication/raft/configuration.h"

namespace qim::replication::raft {
namespace {

[[noreturn]] void fatal(const char* what) {
  std::fprintf(stderr, "raft: %s\n", what);
  std::abort();
}

void require(bool condition, const char* what) {
  if (!condition) fatal(what);
}

MessageType response_type(MessageType request) {
  return request == MessageType::vote ? MessageType::vote_response : MessageType::pre_vote_response;
}

bool from_leader(MessageType type) {
  return type == MessageType::append || type == MessageType::heartbeat ||
         type == MessageType::snapshot;
}

Index applied_at_start(const Options& options, const Storage& storage) {
  return std::max(options.applied, storage.snapshot().index);
}

Index committed_at_start(const Storage& storage) {
  return std::max(storage.hard_state().commit, storage.snapshot().index);
}

std::string to_text(std::uint64_t value) {
  return std::to_string(value);
}

// Validates what a message claims about entries and snapshots before anything trusts it.
Error check_message(const Message& message) {
  if (message.type != MessageType::append && !message.entries.empty()) {
    return {errc::malformed, "only append messages carry entries"};
  }
  if (message.type == MessageType::append) {
    Term previous_term = message.log_term;
    for (std::size_t k = 0; k < message.entries.size(); ++k) {
      const Entry& entry = message.entries[k];
      if (entry.index != message.index + 1 + k) {
        return {errc::malformed,
                "append entries not contiguous after index " + to_text(message.index)};
      }
      if (entry.term < previous_term || entry.term > message.term) {
        return {errc::malformed, "append entry " + to_text(entry.index) + " has term " +
                                     to_text(entry.term) + " out of order"};
      }
      if (entry.kind != EntryKind::normal && entry.kind != EntryKind::config_change) {
        return {errc::malformed, "append entry " + to_text(entry.index) + " has unknown kind"};
      }
      previous_term = entry.term;
    }
  }
  if (message.type == MessageType::snapshot) {
    if (message.snapshot.index == 0 || message.snapshot.term > message.term ||
        !well_formed(message.snapshot.config)) {
      return {errc::malformed, "snapshot meta is invalid"};
    }
  }
  return {};
}

}  // namespace

Raft::Raft(const Options& options, const Storage& storage)
    : options_(options),
      id_(options.id),
      storage_(storage),
      random_([&] {
        std::uint64_t mix = options.id;
        return options.random_seed ^ Random::splitmix64(mix);
      }()),
      log_(storage, committed_at_start(storage), applied_at_start(options, storage)) {
  require(id_ != kNoNode, "options.id must not be 0");
  require(options_.heartbeat_ticks >= 1 && options_.heartbeat_ticks < options_.election_ticks,
          "options need 1 <= heartbeat_ticks < election_ticks");
  require(options_.max_message_bytes >= 1 && options_.max_inflight_messages >= 1 &&
              options_.max_uncommitted_bytes >= 1 && options_.max_committed_bytes >= 1,
          "option limits must be positive");
  const SnapshotMeta snapshot = storage.snapshot();
  const HardState hard_state = storage.hard_state();
  require(well_formed(snapshot.config), "the snapshot's configuration is not well formed");
  // A configuration that only lives in a snapshot at index 0 could not be sent to a new
  // replica (it would replay the log from index 1 and miss it): see bootstrap_snapshot().
  require(snapshot.config.voters.empty() || snapshot.index >= 1,
          "a configuration needs a snapshot index >= 1");
  require(hard_state.term >= log_.last_term(), "the hard state's term is behind the log");

  // The configuration in force: the snapshot's, then every change the shell already applied.
  config_ = snapshot.config;
  for (Index next = snapshot.index + 1; next <= log_.applied();) {
    scratch_entries_.clear();
    log_.entries(next, log_.applied() + 1, options_.max_committed_bytes, scratch_entries_);
    for (const Entry& entry : scratch_entries_) {
      ConfigChange change;
      if (entry.kind == EntryKind::config_change && decode(entry.data, change)) {
        apply_change(config_, change);
      }
    }
    next = scratch_entries_.back().index + 1;
  }
  scratch_entries_.clear();

  const std::size_t rounds_kept =
      2 * static_cast<std::size_t>(options_.election_ticks / options_.heartbeat_ticks) + 4;
  round_ticks_.assign(rounds_kept, 0);
  become_follower(hard_state.term, kNoNode);
  vote_ = hard_state.vote;
  if (options_.check_quorum && hard_state.term > kBootstrapTerm) {
    startup_lease_ticks_ = options_.election_ticks;
  }
}

// ---- Inputs ----------------------------------------------------------------------------------

void Raft::tick() {
  ++tick_count_;
  if (startup_lease_ticks_ > 0) --startup_lease_ticks_;
  if (quiesced_) return;
  if (role_ == Role::leader) {
    tick_leader();
  } else {
    tick_election();
  }
}

void Raft::tick_election() {
  if (!promotable()) {
    // Learners and removed replicas never campaign; keep the counter bounded.
    election_elapsed_ = std::min(election_elapsed_ + 1, randomized_election_ticks_);
    return;
  }
  ++election_elapsed_;
  if (election_elapsed_ >= randomized_election_ticks_) {
    election_elapsed_ = 0;
    start_campaign(options_.pre_vote ? CampaignKind::pre_vote : CampaignKind::election, false);
  }
}

void Raft::tick_leader() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (transfer_target_ != kNoNode && ++transfer_elapsed_ >= options_.election_ticks) {
    abort_transfer();
  }
  if (election_elapsed_ >= options_.election_ticks) {
    election_elapsed_ = 0;
    if (options_.check_quorum) {
      std::size_t active = 0;
      for (auto& [node, progress] : progress_) {
        if (is_voter(config_, node) && (node == id_ || progress.recent_active)) ++active;
        if (node != id_) progress.recent_active = false;
      }
      if (active < quorum(config_)) {
        become_follower(term_, kNoNode);
        return;
      }
    }
  }
  if (heartbeat_elapsed_ >= options_.heartbeat_ticks) {
    heartbeat_elapsed_ = 0;
    broadcast_heartbeat(0);
  }
}

Error Raft::step(Message&& message) {
  if (message.to != id_) {
    return {errc::invalid_argument,
            "message for replica " + to_text(message.to) + " delivered to replica " + to_text(id_)};
  }
  if (message.from == kNoNode || message.from == id_) {
    return {errc::invalid_argument,
            "message from replica " + to_text(message.from) + " to itself or from nobody"};
  }
  if (Error error = check_message(message)) return error;
  if (quiesced_) {
    // Anything but the leader's quiet heartbeat (and its answer) means the group is busy again,
    // or that a replica suspects the leader: wake up.
    const bool quiet_heartbeat = (message.type == MessageType::heartbeat ||
                                  message.type == MessageType::heartbeat_response) &&
                                 (message.context & kQuiesceMark) != 0;
    if (!quiet_heartbeat) wake();
  }

  const bool vote_request =
      message.type == MessageType::vote || message.type == MessageType::pre_vote;
  if (message.term > term_) {
    if (vote_request) {
      const bool forced = message.context == kCampaignTransfer;
      // Within the election timeout of hearing from a leader (or of a restart) a replica
      // neither raises its term nor votes: this is what makes the leader's lease hold.
      if (!forced && in_lease()) return {};
    } else if (role_ == Role::follower && in_lease() && !from_leader(message.type)) {
      // Nor does anything but a leader of that term move it to a higher term: a late answer to
      // its own earlier campaign (or to an old leadership) would make it forget its leader and
      // then vote in the new term while the leader still counts on it.
      return {};
    }
    if (message.type == MessageType::pre_vote) {
      // A pre-vote never changes our term.
    } else if (message.type == MessageType::pre_vote_response && !message.reject) {
      // Granted pre-votes carry the term we would campaign in.
    } else {
      become_follower(message.term, from_leader(message.type) ? message.from : kNoNode);
    }
  } else if (message.term < term_) {
    if ((options_.check_quorum || options_.pre_vote) &&
        (message.type == MessageType::append || message.type == MessageType::heartbeat)) {
      // A leader of an older term: tell it our term so that it steps down. (A replica whose
      // term ran ahead while partitioned cannot otherwise rejoin, since with check_quorum
      // nobody raises its term for its votes.)
      Message answer;
      answer.type = MessageType::append_response;
      answer.to = message.from;
      send(std::move(answer));
    } else if (message.type == MessageType::pre_vote) {
      Message answer;
      answer.type = MessageType::pre_vote_response;
      answer.to = message.from;
      answer.reject = true;
      send(std::move(answer));
    }
    return {};
  }

  if (vote_request) {
    handle_vote_request(message);
    return {};
  }
  if (role_ == Role::leader && message.type == MessageType::append_response && !message.reject &&
      message.index > log_.last_index()) {
    // A follower of this term claims entries (or a commit index) this leader does not have:
    // their committed logs diverged, which Raft rules out. Taking the claim would set a match
    // beyond the log and probe it without end; ignoring it (as a lost message) keeps the group
    // quiet, and the error lets the shell say so loudly.
    return {errc::internal, "replica " + to_text(message.from) + " claims entries up to index " +
                                to_text(message.index) + ", beyond this leader's last index " +
                                to_text(log_.last_index()) + " in term " + to_text(term_) +
                                ": the group's logs diverged"};
  }
  switch (role_) {
    case Role::leader:
      step_leader(message);
      break;
    case Role::pre_candidate:
    case Role::candidate:
      step_candidate(message);
      break;
    case Role::follower:
      step_follower(message);
      break;
  }
  return {};
}

Result<Index> Raft::propose(std::string&& data) {
  if (quiesced_) wake();
  if (role_ != Role::leader) {
    return Error{errc::wrong_node, "not leader (leader is " + to_text(leader_) + ")"};
  }
  if (transfer_target_ != kNoNode) {
    return Error{errc::unavailable,
                 "leadership transfer to " + to_text(transfer_target_) + " in progress"};
  }
  const std::size_t bytes = data.size() + kEntryOverheadBytes;
  if (uncommitted_bytes_ > 0 && uncommitted_bytes_ + bytes > options_.max_uncommitted_bytes) {
    return Error{errc::rate_limited,
                 "too many uncommitted proposals (" + to_text(uncommitted_bytes_) + " bytes)"};
  }
  uncommitted_bytes_ += bytes;
  append_entry(EntryKind::normal, std::move(data));
  return log_.last_index();
}

Result<Index> Raft::propose_config_change(const ConfigChange& change) {
  if (quiesced_) wake();
  if (role_ != Role::leader) {
    return Error{errc::wrong_node, "not leader (leader is " + to_text(leader_) + ")"};
  }
  if (transfer_target_ != kNoNode) {
    return Error{errc::unavailable,
                 "leadership transfer to " + to_text(transfer_target_) + " in progress"};
  }
  if (pending_config_index_ > log_.applying()) {
    // Either a change is still in the log, or this leader has not committed its no-op yet (a
    // new leader must commit an entry of its term before changing the configuration).
    return Error{errc::unavailable, "configuration change pending (index " +
                                        to_text(pending_config_index_) + " not applied yet)"};
  }
  if (Error invalid = validate_change(config_, change)) return invalid;
  std::string data = encode(change);
  uncommitted_bytes_ += data.size() + kEntryOverheadBytes;
  append_entry(EntryKind::config_change, std::move(data));
  pending_config_index_ = log_.last_index();
  return log_.last_index();
}

void Raft::transfer_leadership(NodeId to) {
  if (quiesced_) wake();
  if (role_ != Role::leader || to == id_ || !is_voter(config_, to)) return;
  if (transfer_target_ == to) return;
  abort_transfer();
  transfer_target_ = to;
  transfer_elapsed_ = 0;
  Progress* progress = find_progress(to);
  if (progress->match == log_.last_index()) {
    send_timeout_now(to);
  } else {
    replicate_to(to, *progress, true);
  }
}

void Raft::campaign() {
  if (quiesced_) wake();
  start_campaign(options_.pre_vote ? CampaignKind::pre_vote : CampaignKind::election, false);
}

bool Raft::can_quiesce() const {
  if (role_ != Role::leader || quiesced_ || transfer_target_ != kNoNode || appends_pending_) {
    return false;
  }
  const Index last_index = log_.last_index();
  // Everything committed and handed out (no configuration change pending either).
  if (log_.committed() != last_index || log_.applying() != last_index) return false;
  for (const auto& [node, progress] : progress_) {
    if (node == id_) continue;
    if (progress.match != last_index || progress.state != ProgressState::replicate) return false;
  }
  return true;
}

void Raft::quiesce() {
  if (!can_quiesce()) return;
  // The last heartbeat carries the commit index and the mark; a follower that matches it stops
  // its election timer. One that misses it times out, and its pre-vote wakes everyone.
  broadcast_heartbeat(kQuiesceMark);
  quiesced_ = true;
}

void Raft::wake() {
  if (!quiesced_) return;
  quiesced_ = false;
  if (role_ == Role::leader) {
    // A fresh CheckQuorum round: the followers have had no reason to speak.
    election_elapsed_ = 0;
    for (auto& [node, progress] : progress_)
      progress.recent_active = true;
    broadcast_heartbeat(0);
  }
}

void Raft::report_unreachable(NodeId node) {
  if (role_ != Role::leader || node == id_) return;
  Progress* progress = find_progress(node);
  // An append to it was probably lost: stop pipelining and find out where it stands.
  if (progress != nullptr && progress->state == ProgressState::replicate) progress->become_probe();
}

void Raft::report_snapshot(NodeId node, bool ok) {
  if (role_ != Role::leader || node == id_) return;
  Progress* progress = find_progress(node);
  if (progress == nullptr || progress->state != ProgressState::snapshot) return;
  if (!ok) progress->pending_snapshot = 0;
  // Either way wait for the follower's answer or the next heartbeat response before probing.
  progress->become_probe();
  progress->probe_sent = true;
}

// ---- Roles -----------------------------------------------------------------------------------

void Raft::reset(Term term) {
  if (term_ != term) {
    term_ = term;
    vote_ = kNoNode;
  }
  leader_ = kNoNode;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  randomize_election_timeout();
  granted_.clear();
  rejected_.clear();
  progress_.clear();
  pending_config_index_ = 0;
  term_start_index_ = 0;
  uncommitted_bytes_ = 0;
  appends_pending_ = false;
  abort_transfer();
  transfer_elapsed_ = 0;
  timeout_now_sent_ = false;
  heartbeat_round_ = 0;
  quiesced_ = false;
}

void Raft::become_follower(Term term, NodeId leader) {
  reset(term);
  role_ = Role::follower;
  leader_ = leader;
}

void Raft::become_pre_candidate() {
  // Neither the term nor the vote changes: a pre-vote asks whether we could win.
  role_ = Role::pre_candidate;
  leader_ = kNoNode;
  election_elapsed_ = 0;
  randomize_election_timeout();
  granted_.clear();
  rejected_.clear();
  progress_.clear();
}

void Raft::become_candidate() {
  reset(term_ + 1);
  role_ = Role::candidate;
  vote_ = id_;
}

void Raft::become_leader() {
  require(role_ == Role::candidate && is_voter(config_, id_), "only a voting candidate leads");
  reset(term_);
  role_ = Role::leader;
  leader_ = id_;
  sync_progress_with_config();
  // The no-op commits everything before it; until it is handed out, a configuration change in
  // the log before it may not have taken effect, so none may be proposed.
  append_entry(EntryKind::normal, std::string());
  term_start_index_ = log_.last_index();
  pending_config_index_ = term_start_index_;
}

void Raft::start_campaign(CampaignKind kind, bool transfer) {
  if (role_ == Role::leader || !promotable() || has_unapplied_config_changes()) return;
  Term campaign_term;
  MessageType request;
  if (kind == CampaignKind::pre_vote) {
    become_pre_candidate();
    campaign_term = term_ + 1;
    request = MessageType::pre_vote;
  } else {
    become_candidate();
    campaign_term = term_;
    request = MessageType::vote;
  }
  granted_.push_back(id_);
  if (tally_votes(config_, granted_, rejected_) == VoteResult::won) {
    if (kind == CampaignKind::pre_vote) {
      start_campaign(CampaignKind::election, transfer);
    } else {
      become_leader();
    }
    return;
  }
  const Index last_index = log_.last_index();
  const Term last_term = log_.last_term();
  for (NodeId voter : config_.voters) {
    if (voter == id_) continue;
    Message message;
    message.type = request;
    message.to = voter;
    message.term = campaign_term;
    message.index = last_index;
    message.log_term = last_term;
    message.context = transfer ? kCampaignTransfer : 0;
    send(std::move(message));
  }
}

bool Raft::promotable() const {
  return is_voter(config_, id_);
}

bool Raft::in_lease() const {
  if (!options_.check_quorum) return false;
  if (startup_lease_ticks_ > 0) return true;
  return leader_ != kNoNode && election_elapsed_ < options_.election_ticks;
}

bool Raft::has_unapplied_config_changes() const {
  // Campaigning with a configuration about to change could count the wrong voters.
  return log_.has_config_change_in(log_.applying(), log_.committed());
}

// ---- Message handlers ------------------------------------------------------------------------

void Raft::handle_vote_request(const Message& message) {
  const bool pre_vote = message.type == MessageType::pre_vote;
  const bool can_vote = vote_ == message.from || (vote_ == kNoNode && leader_ == kNoNode) ||
                        (pre_vote && message.term > term_);
  // An empty log holds no configuration: this replica was never given state by a leader. It
  // may have been created for a stale leader's message after being removed from the group and
  // wiped (a tombstone keeps the term and vote, not the log); its vote would let that leader,
  // still counting it in the old configuration, win with a quorum that lacks every newer entry.
  const bool has_state = log_.last_index() > 0;
  Message answer;
  answer.type = response_type(message.type);
  answer.to = message.from;
  if (can_vote && has_state && log_.is_up_to_date(message.index, message.log_term)) {
    // Answer with the term asked about: a pre-vote's is in our future.
    answer.term = message.term;
    if (!pre_vote) {
      election_elapsed_ = 0;
      vote_ = message.from;
    }
  } else {
    answer.term = term_;
    answer.reject = true;
  }
  send(std::move(answer));
}

void Raft::step_follower(Message& message) {
  switch (message.type) {
    case MessageType::append:
      election_elapsed_ = 0;
      leader_ = message.from;
      handle_append(message);
      break;
    case MessageType::heartbeat:
      election_elapsed_ = 0;
      leader_ = message.from;
      handle_heartbeat(message);
      break;
    case MessageType::snapshot:
      election_elapsed_ = 0;
      leader_ = message.from;
      handle_snapshot(message);
      break;
    case MessageType::timeout_now:
      // A leadership transfer: campaign at once, without a pre-vote (we know the leader is
      // alive) and overriding the voters' lease.
      start_campaign(CampaignKind::election, true);
      break;
    default:
      break;
  }
}

void Raft::step_candidate(Message& message) {
  const MessageType expected =
      role_ == Role::pre_candidate ? MessageType::pre_vote_response : MessageType::vote_response;
  switch (message.type) {
    case MessageType::append:
    case MessageType::heartbeat:
    case MessageType::snapshot:
      // A leader exists in our term.
      become_follower(term_, message.from);
      step_follower(message);
      return;
    default:
      break;
  }
  if (message.type != expected || !promotable()) return;
  const NodeId from = message.from;
  if (std::find(granted_.begin(), granted_.end(), from) != granted_.end() ||
      std::find(rejected_.begin(), rejected_.end(), from) != rejected_.end()) {
    return;
  }
  (message.reject ? rejected_ : granted_).push_back(from);
  switch (tally_votes(config_, granted_, rejected_)) {
    case VoteResult::won:
      if (role_ == Role::pre_candidate) {
        start_campaign(CampaignKind::election, false);
      } else {
        become_leader();
      }
      break;
    case VoteResult::lost:
      become_follower(term_, kNoNode);
      break;
    case VoteResult::pending:
      break;
  }
}

void Raft::handle_append(Message& message) {
  Message answer;
  answer.type = MessageType::append_response;
  answer.to = message.from;
  if (message.index < log_.committed()) {
    // Everything up to our commit index matches the leader's log already.
    answer.index = log_.committed();
    send(std::move(answer));
    return;
  }
  const Index commit = message.commit;
  const std::optional<Index> last_new =
      log_.maybe_append(message.index, message.log_term, std::move(message.entries));
  if (last_new) {
    log_.commit_to(std::min(commit, *last_new));
    answer.index = *last_new;
  } else {
    // Point the leader at the last entry that may match, skipping whole terms.
    const auto [hint_index, hint_term] =
        log_.find_conflict_by_term(std::min(message.index, log_.last_index()), message.log_term);
    answer.index = message.index;
    answer.reject = true;
    answer.reject_hint = hint_index;
    answer.reject_term = hint_term;
  }
  send(std::move(answer));
}

void Raft::handle_heartbeat(const Message& message) {
  // The leader sends min(our match, its commit), so this is within our log unless our log lost
  // entries it once acknowledged; then committing would be wrong, so leave the commit index.
  if (message.commit <= log_.last_index()) log_.commit_to(message.commit);
  if ((message.context & kQuiesceMark) != 0 && message.commit == log_.last_index() &&
      log_.committed() == message.commit) {
    // Caught up with a leader that goes quiet: stop the election timer (still in lease).
    quiesced_ = true;
  }
  Message answer;
  answer.type = MessageType::heartbeat_response;
  answer.to = message.from;
  answer.context = message.context;
  send(std::move(answer));
}

void Raft::handle_snapshot(const Message& message) {
  Message answer;
  answer.type = MessageType::append_response;
  answer.to = message.from;
  if (restore(message.snapshot)) {
    answer.index = log_.last_index();
  } else {
    answer.index = log_.committed();
  }
  send(std::move(answer));
}

bool Raft::restore(const SnapshotMeta& meta) {
  if (meta.index <= log_.committed()) return false;  // stale: we have all of it already
  // A snapshot whose configuration does not include us is of no use (the shell may have taken it
  // before we were added); the leader retries.
  if (!is_member(meta.config, id_)) return false;
  if (log_.match_term(meta.index, meta.term)) {
    // Our log has the entry: just commit up to it and keep the log.
    log_.commit_to(meta.index);
    return false;
  }
  log_.restore(meta);
  config_ = meta.config;
  return true;
}

// ---- Leader ----------------------------------------------------------------------------------

void Raft::step_leader(Message& message) {
  Progress* progress = find_progress(message.from);
  if (progress == nullptr) return;  // not (or no longer) a member
  const NodeId from = message.from;
  switch (message.type) {
    case MessageType::append_response: {
      progress->recent_active = true;
      if (message.reject) {
        Index next_probe = message.reject_hint;
        if (message.reject_term > 0) {
          next_probe = log_.find_conflict_by_term(message.reject_hint, message.reject_term).first;
        }
        if (progress->maybe_decrease_to(message.index, next_probe)) {
          if (progress->state == ProgressState::replicate) progress->become_probe();
          send_append(from, *progress, true);
        }
        return;
      }
      const bool updated = progress->maybe_update(message.index);
      if (!updated &&
          !(progress->match == message.index && progress->state == ProgressState::probe)) {
        return;
      }
      switch (progress->state) {
        case ProgressState::probe:
          progress->become_replicate();
          break;
        case ProgressState::snapshot:
          if (progress->match + 1 >= log_.first_index()) {
            // Whatever snapshot it installed, the log can take it from here.
            progress->become_probe();
            progress->become_replicate();
          }
          break;
        case ProgressState::replicate:
          progress->inflights.free_through(message.index);
          break;
      }
      if (maybe_commit() && options_.announce_commit) {
        broadcast_appends();
      } else {
        replicate_to(from, *progress,
                     options_.announce_commit && progress->can_bump_commit(log_.committed()));
      }
      if (from == transfer_target_ && progress->match == log_.last_index()) {
        send_timeout_now(from);
      }
      return;
    }
    case MessageType::heartbeat_response: {
      progress->recent_active = true;
      const std::uint64_t round = message.context & ~kQuiesceMark;
      if (round <= heartbeat_round_) progress->acked_round = std::max(progress->acked_round, round);
      if (quiesced_) return;  // the answer to our quiet heartbeat
      const Index last_index = log_.last_index();
      switch (progress->state) {
        case ProgressState::probe:
          progress->probe_sent = false;
          // Also when caught up: the answer moves it back to replicate.
          send_append(from, *progress, true);
          break;
        case ProgressState::replicate:
          if (progress->match < last_index && progress->match == progress->match_at_heartbeat) {
            // No progress for a whole heartbeat interval with entries outstanding: the appends
            // in flight were probably lost. Probe from the last known match.
            progress->become_probe();
            send_append(from, *progress, true);
          } else {
            replicate_to(from, *progress, false);
          }
          progress->match_at_heartbeat = progress->match;
          break;
        case ProgressState::snapshot:
          break;
      }
      return;
    }
    default:
      // Votes for us, stale pre-vote answers, timeout_now: nothing to do as leader. Another
      // leader's append in our own term cannot happen (one vote per term).
      return;
  }
}

Progress* Raft::find_progress(NodeId node) {
  auto found = std::lower_bound(progress_.begin(), progress_.end(), node,
                                [](const auto& entry, NodeId id) { return entry.first < id; });
  if (found == progress_.end() || found->first != node) return nullptr;
  return &found->second;
}

Progress& Raft::self_progress() {
  Progress* progress = find_progress(id_);
  require(progress != nullptr, "the leader tracks itself");
  return *progress;
}

void Raft::append_entry(EntryKind kind, std::string&& data) {
  Entry entry;
  entry.term = term_;
  entry.index = log_.last_index() + 1;
  entry.kind = kind;
  entry.data = std::move(data);
  log_.append(std::move(entry));
  Progress& self = self_progress();
  self.maybe_update(log_.last_index());
  appends_pending_ = true;
  // A group of one commits at once.
  maybe_commit();
}

bool Raft::maybe_commit() {
  scratch_indexes_.clear();
  for (const auto& [node, progress] : progress_) {
    if (is_voter(config_, node)) scratch_indexes_.push_back(progress.match);
  }
  if (scratch_indexes_.empty()) return false;
  std::sort(scratch_indexes_.begin(), scratch_indexes_.end(), std::greater<>());
  const Index quorum_index = scratch_indexes_[quorum(config_) - 1];
  // Only an entry of our own term is committed by counting replicas (figure 8 of the paper);
  // earlier ones follow it.
  if (quorum_index <= log_.committed() || log_.term(quorum_index) != term_) return false;
  log_.commit_to(quorum_index);
  return true;
}

bool Raft::send_append(NodeId to, Progress& progress, bool send_if_empty) {
  if (progress.paused()) return false;
  const Index previous = progress.next - 1;
  const std::optional<Term> previous_term = log_.term(previous);
  if (!previous_term || progress.next < log_.first_index()) return send_snapshot(to, progress);
  Message message;
  message.type = MessageType::append;
  message.to = to;
  message.index = previous;
  message.log_term = *previous_term;
  message.commit = log_.committed();
  const Index last_index = log_.last_index();
  const bool window_full = progress.state == ProgressState::replicate && progress.inflights.full();
  if (progress.next <= last_index && !window_full) {
    log_.entries(progress.next, last_index + 1, options_.max_message_bytes, message.entries);
  }
  if (message.entries.empty() && !send_if_empty) return false;
  const std::size_t count = message.entries.size();
  const Index sent_through = count > 0 ? message.entries.back().index : previous;
  progress.sent_entries(count, sent_through);
  progress.sent_commit(log_.committed());
  send(std::move(message));
  return true;
}

void Raft::replicate_to(NodeId to, Progress& progress, bool send_if_empty) {
  bool sent = false;
  // Bounded by the in-flight window (or a single probe) and by the end of the log.
  while (progress.next <= log_.last_index() && send_append(to, progress, false)) {
    sent = true;
    if (progress.state != ProgressState::replicate) break;
  }
  if (!sent && send_if_empty) send_append(to, progress, true);
}

void Raft::broadcast_appends() {
  const Index committed = log_.committed();
  for (auto& [node, progress] : progress_) {
    if (node == id_) continue;
    replicate_to(node, progress, progress.can_bump_commit(committed));
  }
}

void Raft::flush_appends() {
  if (!appends_pending_) return;
  appends_pending_ = false;
  if (role_ == Role::leader) broadcast_appends();
}

void Raft::broadcast_heartbeat(std::uint64_t mark) {
  ++heartbeat_round_;
  round_ticks_[heartbeat_round_ % round_ticks_.size()] = tick_count_;
  const Index committed = log_.committed();
  for (const auto& [node, progress] : progress_) {
    if (node == id_) continue;
    Message message;
    message.type = MessageType::heartbeat;
    message.to = node;
    // Never more than the follower is known to have: it cannot commit what it lacks.
    message.commit = std::min(progress.match, committed);
    message.context = heartbeat_round_ | mark;
    send(std::move(message));
  }
}

bool Raft::send_snapshot(NodeId to, Progress& progress) {
  // Streaming a snapshot is expensive: not to a follower that does not answer.
  if (!progress.recent_active) return false;
  // The shell streams its live state, which may be newer than this meta; the follower answers
  // with the index it installed.
  SnapshotMeta meta = log_.unstable_snapshot() ? *log_.unstable_snapshot() : storage_.snapshot();
  if (meta.index == 0) return false;
  progress.become_snapshot(meta.index);
  Message message;
  message.type = MessageType::snapshot;
  message.to = to;
  message.snapshot = std::move(meta);
  send(std::move(message));
  return true;
}

void Raft::send_timeout_now(NodeId to) {
  timeout_now_sent_ = true;
  Message message;
  message.type = MessageType::timeout_now;
  message.to = to;
  send(std::move(message));
}

std::optional<std::uint64_t> Raft::lease_start_tick() const {
  if (role_ != Role::leader || !options_.check_quorum) return std::nullopt;
  // A transfer's timeout_now may start an election that ignores the voters' lease.
  if (transfer_target_ != kNoNode || timeout_now_sent_) return std::nullopt;
  // Until the no-op commits, this leader may not know every committed entry.
  if (log_.committed() < term_start_index_) return std::nullopt;
  scratch_indexes_.clear();
  for (const auto& [node, progress] : progress_) {
    if (!is_voter(config_, node)) continue;
    if (node == id_) {
      scratch_indexes_.push_back(tick_count_);
      continue;
    }
    const std::uint64_t round = progress.acked_round;
    if (round == 0 || heartbeat_round_ - round >= round_ticks_.size()) continue;
    scratch_indexes_.push_back(round_ticks_[round % round_ticks_.size()]);
  }
  const std::size_t needed = quorum(config_);
  if (scratch_indexes_.size() < needed) return std::nullopt;
  std::sort(scratch_indexes_.begin(), scratch_indexes_.end(), std::greater<>());
  return scratch_indexes_[needed - 1];
}

// ---- Configuration ---------------------------------------------------------------------------

void Raft::on_handed_out(const std::vector<Entry>& committed) {
  for (const Entry& entry : committed) {
    if (role_ == Role::leader && entry.term == term_ && entry.index > term_start_index_) {
      uncommitted_bytes_ -= std::min(uncommitted_bytes_, entry_bytes(entry));
    }
    if (entry.kind != EntryKind::config_change) continue;
    ConfigChange change;
    if (!decode(entry.data, change)) continue;
    Configuration next = config_;
    if (!apply_change(next, change)) continue;
    switch_config(std::move(next));
  }
}

void Raft::switch_config(Configuration next) {
  config_ = std::move(next);
  if (role_ == Role::pre_candidate || role_ == Role::candidate) {
    if (!promotable()) become_follower(term_, kNoNode);
    return;
  }
  if (role_ != Role::leader) return;
  sync_progress_with_config();
  if (!is_voter(config_, id_)) {
    step_down_after_removal();
    return;
  }
  if (transfer_target_ != kNoNode && !is_voter(config_, transfer_target_)) abort_transfer();
  if (maybe_commit() && options_.announce_commit) {
    broadcast_appends();
  } else {
    // Start replicating to new members right away.
    for (auto& [node, progress] : progress_) {
      if (node != id_ && progress.match == 0) replicate_to(node, progress, true);
    }
  }
}

void Raft::sync_progress_with_config() {
  std::vector<std::pair<NodeId, Progress>> synced;
  synced.reserve(config_.voters.size() + config_.learners.size());
  const Index next = log_.last_index() + 1;
  auto add = [&](NodeId node, bool learner) {
    Progress* existing = find_progress(node);
    if (existing != nullptr) {
      existing->learner = learner;
      synced.emplace_back(node, std::move(*existing));
      return;
    }
    Progress progress(next, options_.max_inflight_messages, learner);
    // Do not count a new member against CheckQuorum before it had a chance to answer.
    progress.recent_active = true;
    if (node == id_) {
      progress.match = log_.last_index();
      progress.become_replicate();
    }
    synced.emplace_back(node, std::move(progress));
  };
  for (NodeId voter : config_.voters)
    add(voter, false);
  for (NodeId learner : config_.learners)
    add(learner, true);
  std::sort(synced.begin(), synced.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  progress_ = std::move(synced);
}

void Raft::step_down_after_removal() {
  // Hand the final commit index (which includes our removal) to everyone still tracked, and
  // let the most up-to-date voter campaign at once instead of waiting for a timeout.
  broadcast_heartbeat(0);
  const Index last_index = log_.last_index();
  for (const auto& [node, progress] : progress_) {
    if (node != id_ && is_voter(config_, node) && progress.match == last_index) {
      send_timeout_now(node);
      break;
    }
  }
  become_follower(term_, kNoNode);
}

void Raft::send(Message&& message) {
  message.from = id_;
  if (message.term == 0) message.term = term_;
  messages_.push_back(std::move(message));
}

void Raft::randomize_election_timeout() {
  randomized_election_ticks_ =
      options_.election_ticks +
      static_cast<int>(random_.below(static_cast<std::uint64_t>(options_.election_ticks)));
}

// ---- Invariants ------------------------------------------------------------------------------

std::string Raft::check_invariants() const {
  if (std::string log_problem = log_.check_invariants(); !log_problem.empty()) {
    return "log: " + log_problem;
  }
  if (!well_formed(config_)) return "configuration not well formed";
  if (term_ < log_.last_term()) return "term behind the last entry's term";
  switch (role_) {
    case Role::leader: {
      if (leader_ != id_ || vote_ != id_) return "leader has not voted for itself";
      if (!is_voter(config_, id_)) return "leader is not a voter";
      std::size_t members = config_.voters.size() + config_.learners.size();
      if (progress_.size() != members) return "leader tracks other than its members";
      for (std::size_t i = 0; i < progress_.size(); ++i) {
        const auto& [node, progress] = progress_[i];
        if (i > 0 && progress_[i - 1].first >= node) return "progress not sorted";
        if (!is_member(config_, node)) return "progress for a non-member";
        if (progress.learner != is_learner(config_, node)) return "progress learner flag";
        if (!progress.invariants_hold()) return "progress invariants";
        if (progress.match > log_.last_index()) return "match beyond the last entry";
        if (progress.next > log_.last_index() + 1 && progress.state != ProgressState::snapshot) {
          return "next beyond the end of the log";
        }
        if (progress.acked_round > heartbeat_round_) return "acked a future heartbeat round";
        if (node == id_ && progress.match != log_.last_index()) return "leader's own match";
      }
      const std::optional<Term> start_term = log_.term(term_start_index_);
      if (term_start_index_ == 0 || (start_term && *start_term != term_)) {
        return "leader's term start is not an entry of its term";
      }
      break;
    }
    case Role::candidate:
      if (vote_ != id_ || leader_ != kNoNode) return "candidate has not voted for itself";
      if (!progress_.empty()) return "candidate tracks progress";
      break;
    case Role::pre_candidate:
    case Role::follower:
      if (!progress_.empty()) return "non-leader tracks progress";
      if (role_ == Role::pre_candidate && leader_ != kNoNode) return "pre-candidate has a leader";
      break;
  }
  if (transfer_target_ != kNoNode &&
      (role_ != Role::leader || transfer_target_ == id_ || !is_voter(config_, transfer_target_))) {
    return "transfer target is not another voter";
  }
  if (quiesced_ && role_ != Role::leader && role_ != Role::follower) {
    return "a candidate is quiesced";
  }
  if (role_ != Role::leader && (uncommitted_bytes_ != 0 || appends_pending_)) {
    return "non-leader holds proposals";
  }
  return {};
}

}  // namespace qim::replication::raft
