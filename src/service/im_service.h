#pragma once
// The IM service: accounts, friends, groups, conversations and who is online, behind one facade
// that sessions call. Decisions live here and below; the session layer only decodes requests,
// calls these methods and encodes the replies.
//
// It is also the state machine that each partition's replicated log drives (DESIGN §8): every
// write is a command (service/commands.h) proposed through the Proposer to the partition that
// holds its records, and applied by apply() in log order on every replica. Write methods are
// asynchronous: their completion is called exactly once, from any thread (at once with the
// inline proposer). Reads are synchronous and answer Unavailable for a partition this node may
// not read (Proposer::readable).
//
// Ownership and threading: one per node, created by main before any session and destroyed
// after the last one. Every method is thread-safe; apply() is called for one partition at a
// time (StateMachine). Methods marked BLOCKING hash or verify passwords: run them off the I/O
// threads.
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "auth/token.h"
#include "core/clock.h"
#include "core/log.h"
#include "route/partitions.h"
#include "service/accounts.h"
#include "service/address_limiter.h"
#include "service/apply_context.h"
#include "service/cluster_queries.h"
#include "service/commands.h"
#include "service/conversations.h"
#include "service/counters.h"
#include "service/events.h"
#include "service/friends.h"
#include "service/groups.h"
#include "service/history_trim.h"
#include "service/keys.h"
#include "service/options.h"
#include "service/partition_caches.h"
#include "service/placement_source.h"
#include "service/reach.h"
#include "service/replication.h"
#include "service/request_metrics.h"
#include "service/session_registry.h"
#include "service/striped_mutex.h"
#include "service/types.h"
#include "service/user_purge.h"
#include "session/connection.h"
#include "store/kv.h"

namespace qim::service {

class ImService final : public StateMachine {
 public:
  // `proposer` outlives the service.
  ImService(store::Kv& kv, const core::Clock& clock, core::Logger& logger, Options options,
            Proposer& proposer, const route::Partitions& partitions);
  ImService(const ImService&) = delete;
  ImService& operator=(const ImService&) = delete;

  // --- Connections and presence --------------------------------------------------------------
  // Every connection is attached for its whole life (close_all_sessions reaches it).
  std::uint64_t attach(session::Connection& connection);
  // Detaches a connection; if it was logged in, takes that session offline first.
  // REQUIRES: called once per attach, from the connection's on_close.
  void detach(std::uint64_t session_id, std::string_view user);
  // After a successful login: registers the session under its user, kicks an older session of
  // the same device, and announces the user to online friends if this is their first session.
  void bring_online(const Caller& caller, session::Connection& connection);

  // Pushes Error{code, message} to every session and asks each connection to close.
  void close_all_sessions(errc code, std::string_view message);

  // --- Cluster -------------------------------------------------------------------------------
  // REQUIRES: called once, before any session attaches; `source` outlives the service.
  void use_placement(const PlacementSource& source) { placement_source_ = &source; }
  // REQUIRES: as for use_placement, and after it.
  void use_cluster(ClusterQueries& cluster);
  // nullptr on a node without peers to ask.
  ClusterQueries* cluster() { return cluster_; }
  // The placement when other nodes share the keys now (requests may then be forwarded or wait
  // on them), else nullptr. One snapshot serves a whole routing decision.
  std::shared_ptr<const route::Placement> cluster_placement() const {
    return reach_.cluster_placement();
  }
  // The home of `key` (a user id or a placement key: service/placement_keys.h) when that is
  // another node; nullopt when it is this one.
  std::optional<route::NodeInfo> home_elsewhere(std::string_view key) const;
  // The client (or WebSocket) addresses ("host:port") of up to `limit` live members that have
  // such a port, this node first: where clients may reconnect when it is gone.
  enum class Port { client, websocket };
  std::vector<std::string> cluster_addresses(std::size_t limit, Port port) const;
  // Whether this node may serve `key` now (PlacementSource::ready).
  bool ready(std::string_view key) const;

  // --- Replication (service/replication.h) ----------------------------------------------------
  ApplyResult apply(PartitionId partition, std::span<const std::uint8_t> command,
                    store::WriteBatch& batch, bool leader) override;
  void forget_partition(PartitionId partition) override;
  std::vector<Proposal> before_handover(PartitionId partition) override;
  void leadership_changed(PartitionId partition, bool leading) override;
  // Sends share a write batch: the only command on the hot path, and its apply reads nothing
  // another send writes but what Conversations keeps until written().
  bool can_share_batch(std::span<const std::uint8_t> command) const override {
    return is_send_command(command);
  }
  void after_write(PartitionId partition, bool written) override {
    conversations_.written(partition);
    events_.release(partition, written);
  }
  // Pushes made by apply() wait until after_write(partition, true), called once the command's
  // batch is written (false drops them: the write failed).
  // REQUIRES: before the first command is applied.
  void hold_events_until_released() { events_.hold_until_released(true); }
  const Keys& keys() const { return keys_; }
  Proposer& proposer() { return proposer_; }

  // --- Answers for the other nodes (their gathers and pushes) --------------------------------
  UserTally tally_here(std::string_view user);
  Result<UserParts> parts_here(std::string_view user, UserPart part);
  Result<ConversationState> conversation_head_here(std::string_view user,
                                                   std::string_view conversation);
  std::vector<std::string> online_among(std::span<const std::string> users) const;
  // After a handoff wrote or deleted records of `placement_key` here: drops what the service
  // caches of them (a conversation's head, a group's roster).
  void forget_cached(std::string_view placement_key);
  // Pushes a frame another node produced to the sessions here; returns how many.
  std::size_t push_here(std::span<const std::uint8_t> frame, const PushTarget& target);
  // Pushes `frame` to every logged-in session here (a Resync: pushes meant for them may have
  // been lost between nodes). O(users online), for rare events only; returns how many.
  std::size_t push_to_everyone_here(std::span<const std::uint8_t> frame);
  // After a placement change: every session of a user whose home is now another node, and for
  // whom `ready` holds (the records are there), gets a Redirect to it and is closed (the client
  // logs in again there and syncs from its cursors). Returns how many users were moved.
  std::size_t redirect_moved_sessions(const std::function<bool(std::string_view user)>& ready);

  // --- Accounts ------------------------------------------------------------------------------
  static Error validate_registration(std::string_view user, std::string_view password);
  static Error validate_login(const LoginRequest& request);
  // BLOCKING (the hash).
  void register_account(std::string_view user, std::string_view password, Done done);
  // BLOCKING (the verification).
  void login(const LoginRequest& request, ResultDone<LoginSuccess> done);
  // Revokes this session's token, or every token of the user and closes their other sessions.
  void logout(const Caller& caller, bool all_devices, const auth::TokenDigest& token_digest,
              Done done);
  // BLOCKING (the verification and the new hash).
  void change_password(const Caller& caller, std::string_view old_password,
                       std::string_view new_password, const auth::TokenDigest& keep,
                       std::string_view remote_host, Done done);
  // Administration. BLOCKING: a new password; every token revoked and every session closed.
  void reset_password(std::string_view user, std::string_view password, Done done);
  // Administration: disabling also closes the user's sessions (Kicked).
  void set_account_disabled(std::string_view user, bool disabled, Done done);

  // --- Administration (service/administration.cc) ----------------------------------------------
  // BLOCKING (gathers the user's friends and groups from every node). At the user's home.
  Result<UserSummary> describe_user(std::string_view user);
  // This node's part of a cluster-wide list of user or group ids: those in the partitions it
  // reads that start with `prefix`, after `after`, at most `limit`, sorted.
  NamePage names_here(NameKind kind, std::string_view prefix, std::string_view after,
                      std::uint32_t limit) const;
  // Ends the sessions of `user` on `device` and revokes that device's token; not_found when
  // the device has neither. At the user's home.
  void kick_device(std::string_view user, std::string_view device, Done done);
  // Those of `partitions` (which this node leads), other than the user's own, that hold
  // records of `user`.
  std::vector<PartitionId> purge_targets(std::string_view user,
                                         std::span<const PartitionId> partitions) const;
  // Proposes purge_user (service/user_purge.h) to `partition`; for the user's own partition
  // (the account goes) the user's sessions are then ended.
  void purge_user(std::string_view user, PartitionId partition, Done done);

  // --- Messages ------------------------------------------------------------------------------
  void send(const Caller& caller, const SendRequest& request, ResultDone<SendResult> done);
  void ack(const Caller& caller, std::string_view conversation, std::uint64_t seq, Done done);
  Result<std::vector<ConversationState>> sync(const Caller& caller);
  Result<MessagePage> pull(const Caller& caller, std::string_view conversation,
                           std::uint64_t after_seq, std::uint32_t limit);
  Result<MessagePage> history(const Caller& caller, std::string_view conversation,
                              std::uint64_t before_seq, std::uint32_t limit);
  // Maintenance, called periodically by the shell: proposes a bounded prune of old dedup
  // entries to every partition this node leads. Returns how many it proposed.
  std::size_t prune_dedup(std::int64_t now_ms);
  // Proposes the read cursors buffered since the last flush (service/read_cursors.h), at the
  // shell's cursor interval and at shutdown. Returns the commands proposed; the second counts
  // those not applied yet.
  std::size_t flush_cursors();
  std::size_t cursor_commands_in_flight() const;
  // Maintenance: with a history retention (Options::history_retention_ms), proposes bounded
  // trims of the older messages to every partition this node leads (service/history_trim.h).
  // BLOCKING: waits for each trim's outcome. Returns how many it proposed.
  std::size_t trim_history(std::int64_t now_ms);

  // --- Friends, groups, presence -------------------------------------------------------------
  Accounts& accounts() { return accounts_; }
  Friends& friends() { return friends_; }
  Groups& groups() { return groups_; }
  // This node's online users. limit 0 means 100; larger than max_online_page is clamped.
  OnlinePage online_users(std::string_view after, std::uint32_t limit) const;
  std::uint32_t online_page_limit(std::uint32_t requested) const;

  // --- Introspection -------------------------------------------------------------------------
  struct Stats {
    std::uint64_t sessions, users_online, messages_stored, messages_pushed, requests;
    std::uint64_t store_bytes;  // the store's estimate of its size on disk
  };
  Stats stats() const;
  void count_request() { Counters::bump(counters_.requests); }
  // The client protocol's request metrics (session layer), read by /metrics.
  RequestMetrics& request_metrics() { return request_metrics_; }
  const RequestMetrics& request_metrics() const { return request_metrics_; }
  // A client's registration (not an administrator's): refused when registration is closed,
  // or when `address` has spent its budget (Forbidden, RateLimited).
  Error admit_registration(std::string_view address);

  // The group commit barrier: call before bytes leave the process that may reveal a store
  // write (a client reply or push, a peer message). Returns when every write made so far is
  // as durable as --durability promises; an error means it is not, and nothing that depends
  // on it may be sent.
  Error make_durable() { return kv_.make_durable(options_.durability == Durability::fsync); }

  const Options& options() const { return options_; }
  const core::Clock& clock() const { return clock_; }
  core::Logger& logger() { return logger_; }

 private:
  void take_offline(std::uint64_t session_id, std::string_view user);
  // Tells user's online friends; REQUIRES: the user's presence stripe is held.
  void announce(std::string_view user, bool online);

  // Closes every session of `user` (Kicked, `why`) and announces them offline.
  void kick(std::string_view user, std::string_view why);

  store::Kv& kv_;
  const core::Clock& clock_;
  core::Logger& logger_;
  const Options options_;
  Proposer& proposer_;
  const route::Partitions partitions_;
  const Keys keys_;
  Counters counters_;
  RequestMetrics request_metrics_;
  AddressLimiter registration_limiter_;
  SessionRegistry registry_;
  PartitionCaches caches_;
  Accounts accounts_;
  Reach reach_;
  Events events_;
  Conversations conversations_;
  Friends friends_;
  Groups groups_;
  UserPurge purge_;
  HistoryTrim trim_;
  // Serialises one user's online/offline transitions with their announcements, so friends
  // see them in order. Lock ordering: presence stripe -> registry shard (leaf).
  StripedMutex<256> presence_locks_;
  const PlacementSource* placement_source_ = nullptr;  // null: every key is local
  ClusterQueries* cluster_ = nullptr;                  // null: no other node to ask
};

}  // namespace qim::service
