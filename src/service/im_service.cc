#include "service/im_service.h"

#include <algorithm>
#include <unordered_map>

#include "auth/password.h"
#include "proto/frame.h"
#include "qim/ids.h"
#include "route/moves.h"
#include "service/keys.h"
#include "service/push_frames.h"
#include "service/records.h"

namespace qim::service {

inline constexpr std::uint32_t default_online_page = 100;

ImService::ImService(store::Kv& kv, const core::Clock& clock, core::Logger& logger, Options options,
                     Proposer& proposer, const route::Partitions& partitions)
    : kv_(kv),
      clock_(clock),
      logger_(logger),
      options_(std::move(options)),
      proposer_(proposer),
      partitions_(partitions),
      keys_(partitions_),
      registration_limiter_(std::max(options_.registrations_per_minute_per_address, 0.001),
                            std::max(options_.registration_burst_per_address, 1.0)),
      caches_(kv, keys_),
      accounts_(kv, keys_, proposer, clock, options_),
      reach_(registry_, accounts_),
      events_(reach_, counters_, partitions_.count()),
      conversations_(kv, keys_, proposer, caches_, events_, reach_, clock, options_, counters_),
      friends_(kv, keys_, proposer, events_, reach_, clock, options_),
      groups_(kv, keys_, proposer, caches_, events_, reach_, clock, options_),
      purge_(kv, keys_, caches_, events_, conversations_),
      trim_(kv, proposer) {
  if (!auth::initialize()) logger_.error("service", "libsodium failed to initialise");
}

Error ImService::admit_registration(std::string_view address) {
  if (!options_.registration_open) {
    return Error{errc::forbidden,
                 "registration is closed on this server: an administrator creates accounts "
                 "(qimctl user create)"};
  }
  if (!registration_limiter_.try_take(address, clock_.monotonic_ms())) {
    return Error{errc::rate_limited, "too many registrations from this address; try later"};
  }
  return {};
}

ApplyResult ImService::apply(PartitionId partition, std::span<const std::uint8_t> bytes,
                             store::WriteBatch& batch, bool leader) {
  // Views into `bytes`, or into `aligned` when they had to be copied for alignment.
  std::vector<std::uint64_t> aligned;
  Command command;
  if (Error error = decode_command(bytes, aligned, command)) return ApplyResult{error, {}};
  if (partition >= partitions_.count()) {
    return ApplyResult{Error{errc::malformed, "command: no such partition"}, {}};
  }
  ApplyContext context{partition, command, batch, leader};
  ApplyResult result;
  switch (command.kind) {
    case CommandKind::send:
      result = conversations_.apply_send(context);
      break;
    case CommandKind::ack:
      result.error = conversations_.apply_ack(context);
      break;
    case CommandKind::prune_dedup:
      result.error = conversations_.apply_prune(context);
      break;
    case CommandKind::purge_user:
      result.error = purge_.apply(context);
      if (!result.error && keys_.partition_of(command.user) == partition) {
        conversations_.cursors().forget_user(command.user);
      }
      break;
    case CommandKind::trim_history:
      result = trim_.apply(context);
      break;
    case CommandKind::cursors:
      result.error = conversations_.cursors().apply(context);
      break;
    case CommandKind::register_account:
    case CommandKind::add_token:
    case CommandKind::touch_token:
    case CommandKind::revoke_token:
    case CommandKind::revoke_all_tokens:
    case CommandKind::change_password:
    case CommandKind::reset_password:
    case CommandKind::set_disabled:
      result.error = accounts_.apply(context);
      break;
    case CommandKind::friend_request:
    case CommandKind::friend_accept:
    case CommandKind::friend_decline:
    case CommandKind::friend_remove:
      result.error = friends_.apply(context);
      break;
    case CommandKind::group_create:
    case CommandKind::group_add:
    case CommandKind::group_remove:
    case CommandKind::group_set_role:
    case CommandKind::group_leave:
    case CommandKind::group_dissolve:
      result.error = groups_.apply(context);
      break;
  }
  // A refused command writes nothing (the parts refuse before they write; this also covers a
  // store failure met halfway).
  if (result.error) batch.clear();
  return result;
}

void ImService::forget_partition(PartitionId partition) {
  caches_.forget_partition(partition);
  conversations_.forget_partition(partition);
  conversations_.cursors().forget_partition(partition);
}

std::vector<StateMachine::Proposal> ImService::before_handover(PartitionId partition) {
  return conversations_.cursors().handover(partition, static_cast<std::uint64_t>(clock_.wall_ms()));
}

void ImService::leadership_changed(PartitionId partition, bool leading) {
  conversations_.cursors().leadership_changed(partition, leading);
}

std::uint64_t ImService::attach(session::Connection& connection) {
  return registry_.attach(connection);
}

void ImService::detach(std::uint64_t session_id, std::string_view user) {
  if (!user.empty()) {
    take_offline(session_id, user);
    // What the session read is stored soon after it ends, not at the next periodic flush.
    conversations_.cursors().flush_user(user, static_cast<std::uint64_t>(clock_.wall_ms()));
  }
  registry_.detach(session_id);
}

void ImService::bring_online(const Caller& caller, session::Connection& connection) {
  auto kick = proto::make_error_frame(0, errc::kicked, "replaced by a newer login of this device");
  std::lock_guard lock(presence_locks_.mutex_for(caller.user));
  if (registry_.add(caller.user, caller.device, caller.session_id, connection, kick)) {
    announce(caller.user, true);
  }
}

void ImService::take_offline(std::uint64_t session_id, std::string_view user) {
  std::lock_guard lock(presence_locks_.mutex_for(user));
  if (registry_.remove(user, session_id)) announce(user, false);
}

void ImService::announce(std::string_view user, bool online) {
  // In a cluster a user's friends are gathered from every node, which may wait: announcements
  // run one at a time off the I/O threads, in the order they were made (callers hold the
  // user's presence stripe, so one user's come in order).
  if (reach_.cluster_placement()) {
    cluster_->run_serially(
        [this, user = std::string(user), online] { friends_.announce_presence(user, online); });
  } else {
    friends_.announce_presence(user, online);
  }
}

void ImService::close_all_sessions(errc code, std::string_view message) {
  registry_.close_all(proto::make_error_frame(0, code, message));
}

void ImService::use_cluster(ClusterQueries& cluster) {
  cluster_ = &cluster;
  if (placement_source_ != nullptr) reach_.use_cluster(*placement_source_, cluster);
}

std::optional<route::NodeInfo> ImService::home_elsewhere(std::string_view key) const {
  if (placement_source_ == nullptr) return std::nullopt;
  auto placement = placement_source_->placement();
  const route::NodeInfo& home = placement->home_of(key);
  if (home.name == placement->self_name()) return std::nullopt;
  return home;
}

std::vector<std::string> ImService::cluster_addresses(std::size_t limit, Port which) const {
  std::vector<std::string> addresses;
  if (placement_source_ == nullptr) return addresses;
  auto placement = placement_source_->placement();
  auto port_of = [which](const route::NodeInfo& node) {
    return which == Port::client ? node.client_port : node.ws_port;
  };
  auto format = [&](const route::NodeInfo& node) {
    bool v6 = node.client_host.find(':') != std::string::npos;
    return (v6 ? "[" + node.client_host + "]" : node.client_host) + ":" +
           std::to_string(port_of(node));
  };
  if (const route::NodeInfo* self = placement->find(placement->self_name());
      self != nullptr && port_of(*self) != 0 && limit > 0) {
    addresses.push_back(format(*self));
  }
  for (const route::NodeInfo& node : placement->members()) {
    if (addresses.size() >= limit) break;
    if (!node.up || port_of(node) == 0 || node.name == placement->self_name()) continue;
    addresses.push_back(format(node));
  }
  return addresses;
}

bool ImService::ready(std::string_view key) const {
  return placement_source_ == nullptr || placement_source_->ready(key);
}

UserTally ImService::tally_here(std::string_view user) {
  UserTally tally;
  std::string value;
  tally.account_unreadable = !proposer_.readable(keys_.partition_of(user));
  if (!tally.account_unreadable && !kv_.get(store::Column::accounts, keys_.account(user), value)) {
    tally.exists = true;
    AccountRecord account;
    tally.disabled = decode(value, account) && account.disabled;
  }
  auto friends = friends_.count_here(user, options_.max_friends + 1);
  if (friends.ok()) tally.friends = static_cast<std::uint32_t>(friends.value);
  auto groups = groups_.count_here(user, options_.max_groups_per_user + 1);
  if (groups.ok()) tally.groups = static_cast<std::uint32_t>(groups.value);
  return tally;
}

Result<UserParts> ImService::parts_here(std::string_view user, UserPart part) {
  using R = Result<UserParts>;
  UserParts parts;
  // One view of what is led here for the whole part, so it covers exactly what it says.
  parts.partitions = proposer_.readable_partitions();
  switch (part) {
    case UserPart::conversations: {
      auto states = conversations_.sync_here(user, parts.partitions);
      if (!states.ok()) return R::failure(std::move(states.error));
      parts.conversations = std::move(states.value);
      break;
    }
    case UserPart::friends: {
      auto entries = friends_.list_here(user, parts.partitions);
      if (!entries.ok()) return R::failure(std::move(entries.error));
      parts.friends = std::move(entries.value);
      break;
    }
    case UserPart::groups: {
      auto infos = groups_.my_groups_here(user, parts.partitions);
      if (!infos.ok()) return R::failure(std::move(infos.error));
      parts.groups = std::move(infos.value);
      break;
    }
  }
  return R::success(std::move(parts));
}

Result<ConversationState> ImService::conversation_head_here(std::string_view user,
                                                            std::string_view conversation) {
  return conversations_.head_here(user, conversation);
}

std::vector<std::string> ImService::online_among(std::span<const std::string> users) const {
  std::vector<std::string> online;
  for (const std::string& user : users) {
    if (registry_.is_online(user)) online.push_back(user);
  }
  return online;
}

void ImService::forget_cached(std::string_view placement_key) {
  // User keys have nothing cached; conversation ids always contain ':'.
  if (placement_key.find(':') != std::string_view::npos) caches_.forget(placement_key);
}

std::size_t ImService::push_here(std::span<const std::uint8_t> frame, const PushTarget& target) {
  std::size_t pushed = 0;
  // Users with no session here whose home is now another node: the sender routed by a view
  // older than a leadership move, and their sessions have followed the move (or will, and
  // then sync). Sent on once to the new home, or the push would be lost unnoticed.
  std::unordered_map<std::string, PushTarget> moved;
  std::shared_ptr<const route::Placement> placement;
  for (const std::string& user : target.users) {
    std::size_t to_user =
        registry_.push(user, frame, user == target.except_user ? target.except_session : 0);
    pushed += to_user;
    if (to_user > 0 || target.forwarded || cluster_ == nullptr || placement_source_ == nullptr)
      continue;
    if (!placement) placement = placement_source_->placement();
    const route::NodeInfo& home = placement->home_of(user);
    if (home.name == placement->self_name() || home.name.empty() || !home.up) continue;
    PushTarget& onward = moved[home.name];
    onward.users.push_back(user);
    onward.except_user = target.except_user;
    onward.except_session = target.except_session;
    onward.forwarded = true;
  }
  for (auto& [node, onward] : moved)
    cluster_->push_to(node, frame, std::move(onward));
  Counters::bump(counters_.messages_pushed, pushed);
  return pushed;
}

std::size_t ImService::push_to_everyone_here(std::span<const std::uint8_t> frame) {
  std::size_t pushed = 0;
  for (const std::string& user : registry_.online_users())
    pushed += registry_.push(user, frame);
  return pushed;
}

std::size_t ImService::redirect_moved_sessions(
    const std::function<bool(std::string_view user)>& ready) {
  if (placement_source_ == nullptr) return 0;
  auto placement = placement_source_->placement();
  auto moves = route::sessions_to_move(*placement, registry_.online_users());
  // Never toward a node that is down: the client could not log in there.
  std::erase_if(moves, [&ready](const route::SessionMove& move) {
    return !move.new_home->up || !ready(move.user);
  });
  proto::FrameBuilder builder(256);
  for (const route::SessionMove& move : moves) {
    auto redirect = encode_redirect(builder, 0, *move.new_home);
    std::lock_guard lock(presence_locks_.mutex_for(move.user));
    if (registry_.kick_others(move.user, 0, redirect) > 0) {
      announce(move.user, false);
    }
  }
  return moves.size();
}

Error ImService::validate_registration(std::string_view user, std::string_view password) {
  return Accounts::validate_registration(user, password);
}

Error ImService::validate_login(const LoginRequest& request) {
  return Accounts::validate_login(request);
}

void ImService::register_account(std::string_view user, std::string_view password, Done done) {
  accounts_.register_account(user, password, std::move(done));
}

void ImService::login(const LoginRequest& request, ResultDone<LoginSuccess> done) {
  accounts_.login(request, std::move(done));
}

void ImService::kick(std::string_view user, std::string_view why) {
  auto frame = proto::make_error_frame(0, errc::kicked, why);
  std::lock_guard lock(presence_locks_.mutex_for(user));
  if (registry_.kick_others(user, 0, frame) > 0) announce(user, false);
}

void ImService::logout(const Caller& caller, bool all_devices,
                       const auth::TokenDigest& token_digest, Done done) {
  if (!all_devices) return accounts_.revoke_token(caller.user, token_digest, std::move(done));
  accounts_.revoke_all_tokens(
      caller.user, [this, user = std::string(caller.user), session_id = caller.session_id,
                    done = std::move(done)](Error error) {
        if (!error) {
          auto frame = proto::make_error_frame(0, errc::kicked, "logged out on all devices");
          registry_.kick_others(user, session_id, frame);
        }
        done(std::move(error));
      });
}

void ImService::change_password(const Caller& caller, std::string_view old_password,
                                std::string_view new_password, const auth::TokenDigest& keep,
                                std::string_view remote_host, Done done) {
  // The other devices' tokens are revoked with the change; their live sessions end too, or
  // they would go on as if the old password still held.
  accounts_.change_password(
      caller.user, old_password, new_password, keep, remote_host,
      [this, user = std::string(caller.user), session_id = caller.session_id,
       done = std::move(done)](Error error) {
        if (!error) {
          auto frame = proto::make_error_frame(
              0, errc::kicked,
              "the password was changed on another device; log in with the new one");
          registry_.kick_others(user, session_id, frame);
        }
        done(std::move(error));
      });
}

void ImService::reset_password(std::string_view user, std::string_view password, Done done) {
  accounts_.reset_password(user, password,
                           [this, user = std::string(user), done = std::move(done)](Error error) {
                             if (!error) kick(user, "the password was reset");
                             done(std::move(error));
                           });
}

void ImService::set_account_disabled(std::string_view user, bool disabled, Done done) {
  accounts_.set_disabled(
      user, disabled,
      [this, user = std::string(user), disabled, done = std::move(done)](Error error) {
        if (!error && disabled) kick(user, "the account was disabled");
        done(std::move(error));
      });
}

void ImService::send(const Caller& caller, const SendRequest& request,
                     ResultDone<SendResult> done) {
  using R = Result<SendResult>;
  if (request.to_user.empty() == request.to_group.empty()) {
    return done(R::failure(errc::invalid_argument, "to_user/to_group: give exactly one"));
  }
  if (request.client_msg_id == 0) {
    return done(R::failure(errc::invalid_argument, "client_msg_id: must be non-zero"));
  }
  if (request.body.empty()) return done(R::failure(errc::invalid_argument, "body: empty"));
  if (request.body.size() > options_.max_body_bytes) {
    return done(R::failure(errc::limit_exceeded, "body: " + std::to_string(request.body.size()) +
                                                     " bytes, at most " +
                                                     std::to_string(options_.max_body_bytes)));
  }
  if (!request.to_group.empty()) {
    if (!is_valid_id(request.to_group)) {
      return done(R::failure(errc::invalid_argument, "to_group: not a valid group id"));
    }
    return conversations_.append(caller, request, false, std::move(done));
  }
  if (!is_valid_id(request.to_user)) {
    return done(R::failure(errc::invalid_argument, "to_user: not a valid user id"));
  }
  if (request.to_user == caller.user) {
    return done(R::failure(errc::invalid_argument, "to_user: cannot message yourself"));
  }
  bool friends_only = options_.dm_policy == DmPolicy::friends;
  bool accepted_friend = false;
  if (friends_only) {
    auto state = friends_.state(caller.user, request.to_user);
    if (!state.ok()) return done(R::failure(std::move(state.error)));
    accepted_friend = state.value == FriendState::accepted;
  }
  // An accepted friend exists; anyone else is looked up (in another partition: an advisory
  // check, accounts are never deleted). Apply checks the friendship again, exactly.
  if (!accepted_friend) {
    Error error = reach_.exists(request.to_user);
    if (error.code == errc::not_found) {
      return done(R::failure(errc::not_found, "to_user: no such user"));
    }
    if (error) return done(R::failure(std::move(error)));
    if (friends_only) {
      return done(
          R::failure(errc::not_friends, "to_user: not your friend (the dm policy is friends)"));
    }
  }
  conversations_.append(caller, request, friends_only, std::move(done));
}

void ImService::ack(const Caller& caller, std::string_view conversation, std::uint64_t seq,
                    Done done) {
  conversations_.ack(caller, conversation, seq, std::move(done));
}

Result<std::vector<ConversationState>> ImService::sync(const Caller& caller) {
  return conversations_.sync(caller);
}

Result<MessagePage> ImService::pull(const Caller& caller, std::string_view conversation,
                                    std::uint64_t after_seq, std::uint32_t limit) {
  return conversations_.pull(caller, conversation, after_seq, limit);
}

Result<MessagePage> ImService::history(const Caller& caller, std::string_view conversation,
                                       std::uint64_t before_seq, std::uint32_t limit) {
  return conversations_.history(caller, conversation, before_seq, limit);
}

std::size_t ImService::prune_dedup(std::int64_t now_ms) {
  return conversations_.prune_dedup(now_ms);
}

std::size_t ImService::flush_cursors() {
  return conversations_.cursors().flush(static_cast<std::uint64_t>(clock_.wall_ms()));
}

std::size_t ImService::cursor_commands_in_flight() const {
  return conversations_.cursors().in_flight();
}

std::size_t ImService::trim_history(std::int64_t now_ms) {
  return trim_.sweep(options_.history_retention_ms, now_ms);
}

std::uint32_t ImService::online_page_limit(std::uint32_t requested) const {
  std::uint32_t page = requested == 0 ? default_online_page : requested;
  return std::min(page, std::max<std::uint32_t>(1, options_.max_online_page));
}

OnlinePage ImService::online_users(std::string_view after, std::uint32_t limit) const {
  return registry_.online_page(after, online_page_limit(limit));
}

ImService::Stats ImService::stats() const {
  return Stats{registry_.session_count(),
               registry_.users_online(),
               counters_.messages_stored.load(std::memory_order_relaxed),
               counters_.messages_pushed.load(std::memory_order_relaxed),
               counters_.requests.load(std::memory_order_relaxed),
               kv_.approximate_size_bytes()};
}

}  // namespace qim::service
