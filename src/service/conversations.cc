#include "service/conversations.h"

#include <algorithm>

#include "qim/ids.h"
#include "service/keys.h"
#include "service/push_frames.h"

namespace qim::service {
namespace {

// Rough wire size of one message inside a MessageBatch, for keeping pages under the frame
// limit.
std::size_t wire_size(const Message& message) {
  return message.body.size() + message.sender.size() + message.sender_device.size() +
         message.conversation.size() + 64;
}

Error internal(std::string message) {
  return Error{errc::internal, std::move(message)};
}

}  // namespace

const RosterEntry* Roster::find(std::string_view user) const {
  auto it =
      std::lower_bound(members.begin(), members.end(), user,
                       [](const RosterEntry& entry, std::string_view u) { return entry.user < u; });
  return it != members.end() && it->user == user ? &*it : nullptr;
}

Conversations::Conversations(store::Kv& kv, const core::Clock& clock, Reach& reach,
                             const Options& options, Counters& counters)
    : kv_(kv), clock_(clock), reach_(reach), options_(options), counters_(counters) {}

std::uint32_t Conversations::page_limit(std::uint32_t requested) const {
  if (requested == 0) return std::max<std::uint32_t>(1, options_.default_page_messages);
  return std::min(requested, std::max<std::uint32_t>(1, options_.max_page_messages));
}

std::size_t Conversations::page_budget_bytes() const {
  std::size_t frame = std::max<std::size_t>(options_.max_frame_bytes, 4 * frame_margin_bytes);
  return frame - frame_margin_bytes;
}

Error Conversations::head(Lock& lock, std::string_view conversation, std::uint64_t& head_seq) {
  Stripe& stripe = lock.stripe();
  std::string key(conversation);
  if (auto it = stripe.heads.find(key); it != stripe.heads.end()) {
    head_seq = it->second;
    return {};
  }
  // The head is the last key of the conversation's log range: one reverse seek.
  std::string prefix = keys::log_prefix(conversation);
  std::uint64_t found = 0;
  bool corrupt = false;
  Error error = kv_.scan(store::Column::log, prefix, {}, true,
                         [&](std::string_view log_key, std::string_view) {
                           auto seq = keys::log_seq(log_key, prefix);
                           if (seq) {
                             found = *seq;
                           } else {
                             corrupt = true;
                           }
                           return false;
                         });
  if (error) return internal("reading the conversation head failed: " + error.message);
  if (corrupt) return internal("a log key of " + key + " is corrupted");
  if (stripe.heads.size() >= max_cached_heads_per_stripe) stripe.heads.erase(stripe.heads.begin());
  stripe.heads.emplace(std::move(key), found);
  head_seq = found;
  return {};
}

Error Conversations::roster(Lock& lock, std::string_view group, const Roster*& roster) {
  Stripe& stripe = lock.stripe();
  std::string group_id(group);
  if (auto it = stripe.rosters.find(group_id); it != stripe.rosters.end()) {
    roster = &it->second;
    return {};
  }
  std::string value;
  Error error = kv_.get(store::Column::groups, keys::group(group), value);
  if (error.code == errc::not_found) return Error{errc::not_found, "group: no such group"};
  if (error) return internal("reading the group failed: " + error.message);
  Roster loaded;
  if (!decode(value, loaded.group)) return internal("the group record is corrupted");
  std::string prefix = keys::members_prefix(group);
  bool corrupt = false;
  error = kv_.scan(
      store::Column::members, prefix, {}, false, [&](std::string_view key, std::string_view bytes) {
        MemberRecord member;
        if (!decode(bytes, member)) {
          corrupt = true;
          return false;
        }
        loaded.members.push_back(
            RosterEntry{std::string(keys::suffix(key, prefix)), member.role, member.joined_seq});
        return true;
      });
  if (error) return internal("reading the group members failed: " + error.message);
  if (corrupt) return internal("a member record of " + group_id + " is corrupted");
  // Keys are ordered, so members already are sorted by user id.
  std::size_t entries = loaded.members.size();
  while (!stripe.rosters.empty() &&
         stripe.roster_entries + entries > max_cached_roster_entries_per_stripe) {
    auto victim = stripe.rosters.begin();
    stripe.roster_entries -= victim->second.members.size();
    stripe.rosters.erase(victim);
  }
  stripe.roster_entries += entries;
  auto inserted = stripe.rosters.emplace(std::move(group_id), std::move(loaded)).first;
  roster = &inserted->second;
  return {};
}

void Conversations::forget_roster(Lock& lock, std::string_view group) {
  Stripe& stripe = lock.stripe();
  auto it = stripe.rosters.find(std::string(group));
  if (it == stripe.rosters.end()) return;
  stripe.roster_entries -= it->second.members.size();
  stripe.rosters.erase(it);
}

void Conversations::forget(std::string_view conversation) {
  Lock lock(*this, conversation);
  lock.stripe().heads.erase(std::string(conversation));
  auto ref = parse_conversation(conversation);
  if (ref && ref->kind == ConversationRef::Kind::group) forget_roster(lock, ref->first);
}

Result<SendResult> Conversations::append_direct(const Caller& caller, std::string_view peer,
                                                std::uint64_t client_msg_id,
                                                std::string_view body) {
  std::string conversation = direct_conversation(caller.user, peer);
  Lock lock(*this, conversation);
  return append_locked(lock, caller, conversation, peer, client_msg_id, body, nullptr);
}

Result<SendResult> Conversations::append_group(const Caller& caller, std::string_view group,
                                               std::uint64_t client_msg_id, std::string_view body) {
  std::string conversation = group_conversation(group);
  Lock lock(*this, conversation);
  const Roster* members = nullptr;
  if (Error error = roster(lock, group, members)) {
    if (error.code == errc::not_found) error.message = "to_group: no such group";
    return Result<SendResult>::failure(std::move(error));
  }
  if (!members->find(caller.user)) {
    return Result<SendResult>::failure(errc::not_member, "to_group: you are not a member");
  }
  return append_locked(lock, caller, conversation, group, client_msg_id, body, members);
}

Result<SendResult> Conversations::append_locked(Lock& lock, const Caller& caller,
                                                std::string_view conversation,
                                                std::string_view peer, std::uint64_t client_msg_id,
                                                std::string_view body, const Roster* roster) {
  using R = Result<SendResult>;
  std::string dedup_key = keys::dedup(conversation, caller.user, client_msg_id);
  std::string value;
  Error error;
  // A direct conversation's memberships are written with its first message, so without them
  // the conversation is empty: no retry can be stored and the head is 0. One point lookup
  // (bloom-filtered) then replaces the dedup lookup and the log seek, an iterator over every
  // level, on the first message of each chat.
  bool empty = false;
  if (roster == nullptr && !lock.stripe().heads.contains(std::string(conversation))) {
    error = kv_.get(store::Column::convs, keys::conv(caller.user, conversation), value);
    if (error && error.code != errc::not_found)
      return R::failure(internal("membership lookup failed: " + error.message));
    empty = error.code == errc::not_found;
  }
  std::uint64_t head_seq = 0;
  if (!empty) {
    // A retry of a message already stored gets the original seq and is not pushed again.
    error = kv_.get(store::Column::dedup, dedup_key, value);
    if (!error) {
      DedupRecord record;
      if (!decode(value, record)) return R::failure(internal("a dedup record is corrupted"));
      return R::success(SendResult{std::string(conversation), record.seq, record.server_time_ms,
                                   client_msg_id, true});
    }
    if (error.code != errc::not_found)
      return R::failure(internal("dedup lookup failed: " + error.message));
    if (Error head_error = head(lock, conversation, head_seq)) return R::failure(head_error);
  }

  Message message;
  message.conversation.assign(conversation);
  message.seq = head_seq + 1;
  message.sender.assign(caller.user);
  message.sender_device.assign(caller.device);
  message.client_msg_id = client_msg_id;
  message.server_time_ms = static_cast<std::uint64_t>(clock_.wall_ms());
  message.body.assign(body);

  store::WriteBatch batch;
  batch.put(store::Column::log, keys::log(conversation, message.seq), encode_log_entry(message));
  batch.put(store::Column::dedup, dedup_key,
            encode(DedupRecord{message.seq, message.server_time_ms}));
  if (roster == nullptr && message.seq == 1) {
    // The first message of a direct conversation makes it appear in both users' Sync.
    MembershipRecord membership{std::string(peer), 1, message.server_time_ms,
                                message.server_time_ms};
    batch.put(store::Column::convs, keys::conv(caller.user, conversation), encode(membership));
    membership.peer.assign(caller.user);
    batch.put(store::Column::convs, keys::conv(peer, conversation), encode(membership));
  }
  // Buffered: the reply and the pushes below leave the process only after the connections'
  // writers have made it durable (ImService::make_durable), so a burst of sends shares one
  // WAL write (and one fsync with --durability fsync).
  error = kv_.write_buffered(batch);
  if (error) return R::failure(internal("storing the message failed: " + error.message));
  lock.stripe().heads[std::string(conversation)] = message.seq;
  Counters::bump(counters_.messages_stored);

  // Pushed under the stripe so every participant receives a conversation's messages in seq
  // order. Encoded once; the same bytes go to every session.
  proto::FrameBuilder builder(256 + body.size() + conversation.size());
  auto frame = encode_deliver(builder, message);
  // Users homed elsewhere get it through one batch per home node, queued in this order too.
  std::size_t pushed = 0;
  if (roster) {
    pushed = reach_.push_each(
        roster->members, [](const RosterEntry& member) { return std::string_view(member.user); },
        frame, caller.user, caller.session_id);
  } else {
    std::string_view participants[] = {peer, caller.user};
    pushed = reach_.push_each(std::span<const std::string_view>(participants), frame, caller.user,
                              caller.session_id);
  }
  Counters::bump(counters_.messages_pushed, pushed);

  return R::success(SendResult{std::move(message.conversation), message.seq, message.server_time_ms,
                               client_msg_id, false});
}

Error Conversations::first_readable_seq(std::string_view user, std::string_view conversation,
                                        std::uint64_t& first_seq) {
  auto ref = parse_conversation(conversation);
  if (!ref) return Error{errc::invalid_argument, "conversation: not a valid conversation id"};
  if (ref->kind == ConversationRef::Kind::direct) {
    if (user != ref->first && user != ref->second) {
      return Error{errc::forbidden, "conversation: you are not a participant"};
    }
    first_seq = 1;
    return {};
  }
  Lock lock(*this, conversation);
  const Roster* members = nullptr;
  if (Error error = roster(lock, ref->first, members)) {
    if (error.code == errc::not_found) error.message = "conversation: no such group";
    return error;
  }
  const RosterEntry* entry = members->find(user);
  if (!entry) return Error{errc::not_member, "conversation: you are not a member of the group"};
  first_seq = std::max<std::uint64_t>(1, entry->joined_seq);
  return {};
}

Result<MessagePage> Conversations::pull(const Caller& caller, std::string_view conversation,
                                        std::uint64_t after_seq, std::uint32_t limit) {
  using R = Result<MessagePage>;
  std::uint64_t first_seq = 1;
  if (Error error = first_readable_seq(caller.user, conversation, first_seq)) {
    return R::failure(std::move(error));
  }
  MessagePage page;
  page.conversation.assign(conversation);
  if (after_seq == UINT64_MAX) return R::success(std::move(page));
  std::uint64_t start_seq = std::max(after_seq + 1, first_seq);
  std::size_t count = page_limit(limit);
  std::size_t budget = page_budget_bytes(), used = 0;
  std::string prefix = keys::log_prefix(conversation);
  bool corrupt = false;
  Error error = kv_.scan(store::Column::log, prefix, keys::log(conversation, start_seq), false,
                         [&](std::string_view, std::string_view bytes) {
                           if (page.messages.size() >= count) {
                             page.more = true;
                             return false;
                           }
                           Message message;
                           if (!decode_log_entry(bytes, message)) {
                             corrupt = true;
                             return false;
                           }
                           message.conversation = page.conversation;
                           std::size_t size = wire_size(message);
                           if (!page.messages.empty() && used + size > budget) {
                             page.more = true;
                             return false;
                           }
                           used += size;
                           page.messages.push_back(std::move(message));
                           return true;
                         });
  if (error) return R::failure(internal("reading the log failed: " + error.message));
  if (corrupt) return R::failure(internal("a log entry of " + page.conversation + " is corrupted"));
  return R::success(std::move(page));
}

Result<MessagePage> Conversations::history(const Caller& caller, std::string_view conversation,
                                           std::uint64_t before_seq, std::uint32_t limit) {
  using R = Result<MessagePage>;
  std::uint64_t first_seq = 1;
  if (Error error = first_readable_seq(caller.user, conversation, first_seq)) {
    return R::failure(std::move(error));
  }
  MessagePage page;
  page.conversation.assign(conversation);
  if (before_seq != 0 && before_seq <= first_seq) return R::success(std::move(page));
  std::size_t count = page_limit(limit);
  std::size_t budget = page_budget_bytes(), used = 0;
  std::string prefix = keys::log_prefix(conversation);
  std::string start = before_seq == 0 ? std::string() : keys::log(conversation, before_seq);
  bool corrupt = false;
  Error error = kv_.scan(store::Column::log, prefix, start, true,
                         [&](std::string_view key, std::string_view bytes) {
                           auto seq = keys::log_seq(key, prefix);
                           if (!seq) {
                             corrupt = true;
                             return false;
                           }
                           if (*seq < first_seq) return false;
                           if (page.messages.size() >= count) {
                             page.more = true;
                             return false;
                           }
                           Message message;
                           if (!decode_log_entry(bytes, message)) {
                             corrupt = true;
                             return false;
                           }
                           message.conversation = page.conversation;
                           std::size_t size = wire_size(message);
                           if (!page.messages.empty() && used + size > budget) {
                             page.more = true;
                             return false;
                           }
                           used += size;
                           page.messages.push_back(std::move(message));
                           return true;
                         });
  if (error) return R::failure(internal("reading the log failed: " + error.message));
  if (corrupt) return R::failure(internal("a log entry of " + page.conversation + " is corrupted"));
  std::reverse(page.messages.begin(), page.messages.end());
  return R::success(std::move(page));
}

Result<ConversationState> Conversations::head_here(std::string_view user,
                                                   std::string_view conversation) {
  using R = Result<ConversationState>;
  ConversationState state;
  state.conversation.assign(conversation);
  if (Error error = first_readable_seq(user, conversation, state.first_seq)) {
    return R::failure(std::move(error));
  }
  Lock lock(*this, conversation);
  if (Error error = head(lock, conversation, state.head_seq)) return R::failure(std::move(error));
  return R::success(std::move(state));
}

Error Conversations::ack(const Caller& caller, std::string_view conversation, std::uint64_t seq) {
  if (!parse_conversation(conversation)) {
    return Error{errc::invalid_argument, "conversation: not a valid conversation id"};
  }
  // The cursor lives at the caller's home (here); the head at the conversation's home.
  auto placement = reach_.cluster_placement();
  auto state = !placement || placement->is_local(conversation)
                   ? head_here(caller.user, conversation)
                   : reach_.cluster()->conversation_head(placement->home_of(conversation).name,
                                                         caller.user, conversation);
  if (!state.ok()) return state.error;
  if (seq > state.value.head_seq) {
    return Error{errc::invalid_argument, "seq: beyond the conversation's last message"};
  }
  std::string key = keys::cursor(caller.user, conversation, caller.device);
  // A device's cursor is written only by its own session (a newer login of the device kicks
  // the older one), so this read-modify-write needs the cursor stripe only against a kicked
  // session's last in-flight Ack.
  std::lock_guard cursor_lock(cursor_mutexes_.mutex_for(key));
  std::string value;
  Error error = kv_.get(store::Column::cursors, key, value);
  if (!error) {
    std::uint64_t current = 0;
    if (!decode_cursor(value, current)) return internal("the read cursor is corrupted");
    if (current >= seq) return {};
  } else if (error.code != errc::not_found) {
    return internal("reading the read cursor failed: " + error.message);
  }
  if (seq == 0) return {};
  store::WriteBatch batch;
  batch.put(store::Column::cursors, key, encode_cursor(seq));
  error = kv_.write_buffered(batch);  // made durable before the reply leaves
  if (error) return internal("storing the read cursor failed: " + error.message);
  return {};
}

Result<std::vector<ConversationState>> Conversations::sync_here(std::string_view user) {
  using R = Result<std::vector<ConversationState>>;
  std::vector<ConversationState> states;
  std::string prefix = keys::convs_prefix(user);
  std::size_t budget = page_budget_bytes(), used = 0;
  bool corrupt = false;
  // Collected first: the store is not re-entered from inside a scan.
  Error error = kv_.scan(store::Column::convs, prefix, {}, false,
                         [&](std::string_view key, std::string_view bytes) {
                           MembershipRecord membership;
                           if (!decode(bytes, membership)) {
                             corrupt = true;
                             return false;
                           }
                           ConversationState state;
                           state.conversation.assign(keys::suffix(key, prefix));
                           state.first_seq = std::max<std::uint64_t>(1, membership.first_seq);
                           state.peer = std::move(membership.peer);
                           used += state.conversation.size() + state.peer.size() + 48;
                           // SyncResult has no paging: stay under the frame limit.
                           if (used > budget) return false;
                           states.push_back(std::move(state));
                           return true;
                         });
  if (error) return R::failure(internal("reading conversations failed: " + error.message));
  if (corrupt) return R::failure(internal("a conversation record is corrupted"));
  for (ConversationState& state : states) {
    Lock lock(*this, state.conversation);
    if (Error head_error = head(lock, state.conversation, state.head_seq)) {
      return R::failure(std::move(head_error));
    }
  }
  return R::success(std::move(states));
}

Result<std::vector<ConversationState>> Conversations::sync(const Caller& caller) {
  using R = Result<std::vector<ConversationState>>;
  auto states = sync_here(caller.user);
  if (!states.ok()) return states;
  if (reach_.cluster_placement()) {
    for (UserParts& part :
         reach_.cluster()->user_parts_elsewhere(caller.user, UserPart::conversations)) {
      for (ConversationState& state : part.conversations)
        states.value.push_back(std::move(state));
    }
    // A conversation being handed between nodes may briefly be on both: keep the newer head.
    std::sort(states.value.begin(), states.value.end(),
              [](const ConversationState& a, const ConversationState& b) {
                return a.conversation != b.conversation ? a.conversation < b.conversation
                                                        : a.head_seq > b.head_seq;
              });
    states.value.erase(std::unique(states.value.begin(), states.value.end(),
                                   [](const ConversationState& a, const ConversationState& b) {
                                     return a.conversation == b.conversation;
                                   }),
                       states.value.end());
  }
  // The device's cursors are here, at the caller's home.
  for (ConversationState& state : states.value) {
    std::string value;
    Error error = kv_.get(store::Column::cursors,
                          keys::cursor(caller.user, state.conversation, caller.device), value);
    if (!error) {
      if (!decode_cursor(value, state.read_seq)) {
        return R::failure(internal("a read cursor is corrupted"));
      }
    } else if (error.code != errc::not_found) {
      return R::failure(internal("reading a read cursor failed: " + error.message));
    }
  }
  return states;
}

std::size_t Conversations::prune_dedup(std::int64_t now_ms) {
  std::lock_guard lock(prune_mutex_);
  std::uint64_t retention = options_.dedup_retention_ms;
  std::uint64_t now = now_ms > 0 ? static_cast<std::uint64_t>(now_ms) : 0;
  std::uint64_t cutoff = now > retention ? now - retention : 0;
  store::WriteBatch batch;
  std::size_t visited = 0;
  std::string last_key;
  bool reached_end = true;
  Error error = kv_.scan(store::Column::dedup, {}, prune_cursor_, false,
                         [&](std::string_view key, std::string_view bytes) {
                           if (visited == max_prune_visits) {
                             reached_end = false;
                             return false;
                           }
                           ++visited;
                           last_key.assign(key);
                           DedupRecord record;
                           // A corrupted entry can never answer a retry; drop it too.
                           if (!decode(bytes, record) || record.server_time_ms < cutoff) {
                             batch.erase(store::Column::dedup, key);
                           }
                           return true;
                         });
  if (error) return 0;
  // The smallest key after the last one examined.
  prune_cursor_ = reached_end ? std::string() : last_key + '\0';
  std::size_t erased = batch.ops().size();
  if (erased > 0 && kv_.write(batch, false)) return 0;
  return erased;
}

}  // namespace qim::service
