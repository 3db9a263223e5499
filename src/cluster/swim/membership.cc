#include "cluster/swim/membership.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "cluster/swim/codec.h"

namespace qim::cluster::swim {
namespace {

[[noreturn]] void invariant_failed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "swim invariant broken: %s (%s:%d)\n", condition, file, line);
  std::abort();
}

#define SWIM_CHECK(condition) \
  ((condition) ? static_cast<void>(0) : invariant_failed(#condition, __FILE__, __LINE__))

// Members beyond this in one push-pull state are ignored (the decoder rejects them anyway).
constexpr std::size_t kMaxSeedAddresses = 64;

}  // namespace

Membership::Membership(const Config& config, LocalNode self, std::uint64_t random_seed,
                       std::int64_t now_ms)
    : config_(config),
      random_(random_seed),
      awareness_(config.awareness_max, config.lifeguard),
      broadcasts_(config.max_broadcasts) {
  SWIM_CHECK(!self.name.empty() && self.name.size() <= kMaxNameBytes);
  SWIM_CHECK(self.address.size() <= kMaxAddressBytes);
  SWIM_CHECK(config_.max_members >= 1 && config_.max_datagram_bytes >= 512);
  SWIM_CHECK(config_.probe_timeout_ms > 0 && config_.probe_timeout_ms < config_.probe_interval_ms);
  Member member;
  member.name = std::move(self.name);
  member.address = std::move(self.address);
  member.meta = std::move(self.meta);
  member.restart_epoch = self.restart_epoch;
  Record* record = add_record(member, now_ms);
  self_slot_ = slot_of(*record);
  broadcast_self_alive();
  // Stagger the timers so that members started together do not act in lockstep.
  next_probe_ms_ = now_ms + random_.between(0, config_.probe_interval_ms - 1);
  next_gossip_ms_ = now_ms + random_.between(0, config_.gossip_interval_ms - 1);
  next_push_pull_ms_ = now_ms + random_.between(0, config_.push_pull_interval_ms - 1);
  finish_call(now_ms);
}

// ---- Public entry points -------------------------------------------------------------------

void Membership::join(std::span<const std::string> seed_addresses, std::int64_t now_ms,
                      Directives& out) {
  std::size_t contacted = 0;
  for (const std::string& address : seed_addresses) {
    if (address == self().address) continue;
    if (contacted++ == kMaxSeedAddresses) break;
    out.push_pulls.push_back(StartPushPull{std::string(), address, true});
    ++counters_.push_pulls_started;
  }
  finish_call(now_ms);
}

void Membership::leave(std::int64_t now_ms, Directives& /*out*/) {
  if (leaving()) return;
  Record& self_entry = self_record();
  set_state(self_entry, MemberState::left, now_ms);
  probe_.reset();
  const Member& member = self_entry.member;
  queue_broadcast(member.name, Dead{member.name, member.restart_epoch, member.incarnation,
                                    member.name, /*left=*/true});
  finish_call(now_ms);
}

void Membership::update_meta(const NodeMeta& meta, std::int64_t now_ms, Directives& /*out*/) {
  if (leaving()) return;
  Member& member = self_record().member;
  member.meta = meta;
  ++member.incarnation;
  broadcast_self_alive();
  finish_call(now_ms);
}

void Membership::tick(std::int64_t now_ms, Directives& out) {
  // Lifeguard (local health): a tick much later than we asked for, with no input in between,
  // means our process was not running. Acks, nacks and refutations may be sitting unread in
  // our socket, so for a grace period we neither blame probe targets nor let suspicions expire.
  const std::int64_t lateness_ms = now_ms - std::max(requested_tick_ms_, last_input_ms_);
  if (config_.lifeguard && lateness_ms > config_.late_tick_threshold_ms) {
    ++counters_.starved_ticks;
    awareness_.apply_delta(1);
    starved_until_ms_ = now_ms + config_.probe_timeout_ms;
  }
  run_probe_timers(now_ms, out);
  run_relay_timers(now_ms, out);
  run_suspicion_timers(now_ms, out);
  if (now_ms >= next_gossip_ms_) {
    gossip(now_ms, out);
    // Never try to catch up missed rounds after a stall: that would burst.
    next_gossip_ms_ = std::max(next_gossip_ms_ + config_.gossip_interval_ms,
                               now_ms + config_.gossip_interval_ms / 2);
  }
  if (now_ms >= next_push_pull_ms_) {
    if (!leaving()) start_push_pulls(now_ms, out);
    next_push_pull_ms_ = now_ms + push_pull_interval_ms();
  }
  finish_call(now_ms);
}

void Membership::finish_call(std::int64_t now_ms) {
  last_input_ms_ = now_ms;
  requested_tick_ms_ = next_tick_ms();
}

std::int64_t Membership::next_tick_ms() const {
  std::int64_t next = std::min(next_gossip_ms_, next_push_pull_ms_);
  if (!leaving()) next = std::min(next, next_probe_ms_);
  if (probe_) {
    next = std::min(next, probe_->indirect_sent ? probe_->deadline_ms : probe_->indirect_at_ms);
  }
  for (const RelayedProbe& relay : relays_)
    next = std::min(next, relay.nack_at_ms);
  for (std::uint32_t slot : suspects_) {
    next = std::min(next, std::max(starved_until_ms_, records_[slot].suspicion->deadline_ms()));
  }
  return next;
}

void Membership::on_packet(std::string_view from_address, std::span<const std::uint8_t> bytes,
                           std::int64_t now_ms, Directives& out) {
  std::vector<Message> messages;
  if (decode_datagram(bytes, messages) != DecodeError::none) {
    ++counters_.malformed_datagrams;
    return;
  }
  for (const Message& message : messages) {
    if (const auto* ping = std::get_if<Ping>(&message)) {
      handle_ping(from_address, *ping, now_ms, out);
    } else if (const auto* request = std::get_if<IndirectPing>(&message)) {
      handle_indirect_ping(from_address, *request, now_ms, out);
    } else if (const auto* ack = std::get_if<Ack>(&message)) {
      handle_ack(*ack, out);
    } else if (const auto* nack = std::get_if<Nack>(&message)) {
      handle_nack(*nack);
    } else if (const auto* alive = std::get_if<Alive>(&message)) {
      apply_alive(*alive, now_ms, out);
    } else if (const auto* suspect = std::get_if<Suspect>(&message)) {
      apply_suspect(*suspect, now_ms, out);
    } else if (const auto* dead = std::get_if<Dead>(&message)) {
      apply_dead(*dead, now_ms, out);
    }
  }
  finish_call(now_ms);
}

PushPullState Membership::local_state(bool join) const {
  PushPullState state;
  state.join = join;
  state.members.reserve(slot_by_name_.size());
  for_each_member([&](const Member& member) { state.members.push_back(member); });
  return state;
}

PushPullState Membership::on_push_pull_request(const PushPullState& remote, std::int64_t now_ms,
                                               Directives& out) {
  merge_remote_state(remote, now_ms, out);
  return local_state(false);  // merge_remote_state() called finish_call().
}

void Membership::merge_remote_state(const PushPullState& remote, std::int64_t now_ms,
                                    Directives& out) {
  std::size_t merged = 0;
  for (const Member& member : remote.members) {
    if (merged++ == config_.max_members) break;
    switch (member.state) {
      case MemberState::alive:
        apply_alive(alive_message(member), now_ms, out);
        break;
      case MemberState::left:
        apply_dead(Dead{member.name, member.restart_epoch, member.incarnation, member.name, true},
                   now_ms, out);
        break;
      case MemberState::dead:
        // About ourselves a remote tombstone is final: only a new epoch gets us back in.
        if (member.name == self().name) {
          apply_dead(
              Dead{member.name, member.restart_epoch, member.incarnation, std::string(), false},
              now_ms, out);
          break;
        }
        // About others, prefer to suspect rather than kill on one peer's word (as memberlist):
        // the member gets a chance to refute.
        [[fallthrough]];
      case MemberState::suspect:
        apply_suspect(Suspect{member.name, member.restart_epoch, member.incarnation, self().name},
                      now_ms, out);
        break;
    }
  }
  finish_call(now_ms);
}

const Member* Membership::find(std::string_view name) const {
  auto found = slot_by_name_.find(std::string(name));
  return found == slot_by_name_.end() ? nullptr : &records_[found->second].member;
}

Membership::Record* Membership::find_record(std::string_view name) {
  auto found = slot_by_name_.find(std::string(name));
  return found == slot_by_name_.end() ? nullptr : &records_[found->second];
}

// ---- Message handlers ----------------------------------------------------------------------

void Membership::handle_ping(std::string_view from_address, const Ping& ping,
                             std::int64_t /*now_ms*/, Directives& out) {
  // A ping for a previous owner of our address: do not vouch for a member we are not.
  if (ping.target_name != self().name) return;
  std::vector<Message> reply;
  // Tell the sender directly if we think it is suspect or dead: it may not know yet, and a
  // direct word lets it refute (or take a new epoch) at once, which also heals partitions.
  if (const Record* sender = find_record(ping.source_name); sender && sender != &self_record()) {
    const Member& member = sender->member;
    if (member.state == MemberState::suspect) {
      reply.push_back(
          Suspect{member.name, member.restart_epoch, member.incarnation, sender->suspected_by});
    } else if (member.state == MemberState::dead) {
      reply.push_back(
          Dead{member.name, member.restart_epoch, member.incarnation, self().name, false});
    }
  }
  reply.push_back(Ack{ping.sequence});
  send(std::string(from_address), reply, out);
}

void Membership::handle_indirect_ping(std::string_view from_address, const IndirectPing& request,
                                      std::int64_t now_ms, Directives& out) {
  if (request.target_name == self().name) {
    // Odd but harmless: answer for ourselves.
    const Message ack[] = {Ack{request.sequence}};
    send(std::string(from_address), ack, out);
    return;
  }
  if (relays_.size() >= config_.max_relayed_probes) relays_.erase(relays_.begin());
  RelayedProbe relay;
  relay.local_sequence = next_sequence_++;
  relay.requester_sequence = request.sequence;
  relay.requester_address = std::string(from_address);
  relay.nack_at_ms =
      now_ms + std::min<std::int64_t>(request.nack_after_ms, config_.probe_interval_ms);
  relay.want_nack = request.want_nack && config_.lifeguard;
  const Message ping[] = {Ping{relay.local_sequence, request.target_name, self().name}};
  relays_.push_back(std::move(relay));
  send(request.target_address, ping, out);
}

void Membership::handle_ack(const Ack& ack, Directives& out) {
  if (probe_ && probe_->sequence == ack.sequence) {
    // Lifeguard: a timely direct ack is evidence that we are healthy.
    if (!probe_->indirect_sent) awareness_.apply_delta(-1);
    ++counters_.probes_acked;
    probe_.reset();
    return;
  }
  for (auto it = relays_.begin(); it != relays_.end(); ++it) {
    if (it->local_sequence != ack.sequence) continue;
    const Message relayed[] = {Ack{it->requester_sequence}};
    const std::string requester = std::move(it->requester_address);
    relays_.erase(it);
    send(requester, relayed, out);
    return;
  }
}

void Membership::handle_nack(const Nack& nack) {
  if (probe_ && probe_->sequence == nack.sequence) ++probe_->nacks_received;
}

void Membership::apply_alive(const Alive& alive, std::int64_t now_ms, Directives& out) {
  if (alive.name.empty()) return;
  if (alive.name == self().name) {
    if (leaving()) return;
    const Member& me = self();
    if (alive.restart_epoch > me.restart_epoch) {
      // Someone advertises a later life of ours: make ours later still.
      refute(alive.restart_epoch + 1, 0, out);
    } else if (alive.restart_epoch == me.restart_epoch &&
               (alive.incarnation > me.incarnation ||
                (alive.incarnation == me.incarnation &&
                 (alive.address != me.address || alive.meta != me.meta)))) {
      refute(me.restart_epoch, alive.incarnation + 1, out);
    }
    return;
  }

  Record* record = find_record(alive.name);
  if (record == nullptr) {
    Member member;
    member.name = alive.name;
    member.address = alive.address;
    member.meta = alive.meta;
    member.restart_epoch = alive.restart_epoch;
    member.incarnation = alive.incarnation;
    member.state = MemberState::alive;
    record = add_record(member, now_ms);
    if (record == nullptr) {
      ++counters_.updates_dropped_table_full;
      return;
    }
    out.events.push_back(MembershipEvent{EventType::joined, record->member, std::string()});
    queue_broadcast(alive.name, alive);
    return;
  }

  const Version update{alive.restart_epoch, alive.incarnation, MemberState::alive};
  if (!supersedes(update, version_of(record->member))) return;
  const Member before = record->member;
  Member& member = record->member;
  member.address = alive.address;
  member.meta = alive.meta;
  member.restart_epoch = alive.restart_epoch;
  member.incarnation = alive.incarnation;
  if (member.state != MemberState::alive) {
    clear_suspicion(slot_of(*record));
    set_state(*record, MemberState::alive, now_ms);
  }
  const bool identity_changed = before.address != member.address || before.meta != member.meta ||
                                before.restart_epoch != member.restart_epoch;
  if (!is_live(before.state)) {
    out.events.push_back(MembershipEvent{EventType::joined, member, std::string()});
  } else {
    if (before.state == MemberState::suspect) {
      out.events.push_back(MembershipEvent{EventType::alive, member, std::string()});
    }
    if (identity_changed) {
      out.events.push_back(MembershipEvent{EventType::metadata_changed, member, std::string()});
    }
  }
  queue_broadcast(alive.name, alive);
}

void Membership::apply_suspect(const Suspect& suspect, std::int64_t now_ms, Directives& out) {
  if (suspect.name == self().name) {
    if (leaving()) return;
    const Member& me = self();
    if (suspect.restart_epoch > me.restart_epoch) {
      refute(suspect.restart_epoch + 1, 0, out);
    } else if (suspect.restart_epoch == me.restart_epoch) {
      if (suspect.incarnation >= me.incarnation) {
        refute(me.restart_epoch, suspect.incarnation + 1, out);
      } else {
        // The accuser missed our last refutation: gossip it again, no new incarnation needed.
        broadcast_self_alive();
      }
    }
    return;
  }
  Record* record = find_record(suspect.name);
  if (record == nullptr) return;
  Member& member = record->member;
  // We cannot suspect a life of the member we have not seen, and older lives are over.
  if (suspect.restart_epoch != member.restart_epoch) return;

  if (member.state == MemberState::suspect && suspect.incarnation == member.incarnation) {
    // Lifeguard: an independent accuser shortens the timer; pass the confirmation on.
    if (record->suspicion->confirm(suspect.from_name)) queue_broadcast(suspect.name, suspect);
    return;
  }
  const Version update{suspect.restart_epoch, suspect.incarnation, MemberState::suspect};
  if (!supersedes(update, version_of(member))) return;

  const bool already_suspect = member.state == MemberState::suspect;
  member.incarnation = suspect.incarnation;
  set_state(*record, MemberState::suspect, now_ms);
  const std::size_t member_count = live_count_;
  int expected_confirmations = config_.lifeguard ? config_.suspicion_multiplier - 2 : 0;
  // Ourselves and the suspect cannot confirm.
  if (static_cast<int>(member_count) - 2 < expected_confirmations) expected_confirmations = 0;
  const std::int64_t min_timeout_ms = suspicion_min_timeout_ms();
  const std::int64_t max_timeout_ms =
      config_.lifeguard ? config_.suspicion_max_timeout_multiplier * min_timeout_ms
                        : min_timeout_ms;
  record->suspicion.emplace(suspect.from_name, expected_confirmations, min_timeout_ms,
                            max_timeout_ms, now_ms);
  record->suspected_by = suspect.from_name;
  if (!already_suspect) suspects_.push_back(slot_of(*record));
  if (suspect.from_name == self().name) ++counters_.suspicions_raised;
  out.events.push_back(MembershipEvent{EventType::suspect, member, suspect.from_name});
  queue_broadcast(suspect.name, suspect);
}

void Membership::apply_dead(const Dead& dead, std::int64_t now_ms, Directives& out) {
  if (dead.name == self().name) {
    if (leaving()) return;
    const Member& me = self();
    if (dead.restart_epoch < me.restart_epoch) return;
    // Dead is final for this life; come back as a new one.
    ++counters_.reincarnations;
    refute(std::max(dead.restart_epoch, me.restart_epoch) + 1, 0, out);
    return;
  }
  Record* record = find_record(dead.name);
  if (record == nullptr) return;
  const MemberState state = dead.left ? MemberState::left : MemberState::dead;
  const Version update{dead.restart_epoch, dead.incarnation, state};
  if (!supersedes(update, version_of(record->member))) return;
  clear_suspicion(slot_of(*record));
  record->member.restart_epoch = dead.restart_epoch;
  record->member.incarnation = dead.incarnation;
  set_state(*record, state, now_ms);
  out.events.push_back(MembershipEvent{dead.left ? EventType::left : EventType::dead,
                                       record->member, dead.from_name});
  queue_broadcast(dead.name, dead);
}

void Membership::refute(std::uint64_t restart_epoch, std::uint32_t incarnation,
                        Directives& /*out*/) {
  Member& me = self_record().member;
  me.restart_epoch = restart_epoch;
  me.incarnation = incarnation;
  ++counters_.refutations;
  // Lifeguard: having to refute means others did not hear from us in time.
  awareness_.apply_delta(1);
  broadcast_self_alive();
}

void Membership::broadcast_self_alive() {
  const Member& me = self();
  queue_broadcast(me.name, alive_message(me));
}

// ---- Timers --------------------------------------------------------------------------------

void Membership::run_probe_timers(std::int64_t now_ms, Directives& out) {
  if (probe_) {
    if (now_ms >= probe_->deadline_ms) {
      if (now_ms < starved_until_ms_) {
        // We were not running when the deadline passed, so the ack may be sitting unread in
        // our socket: the failure is ours (already counted in awareness), not the target's.
        ++counters_.probes_inconclusive;
        probe_.reset();
      } else {
        if (!probe_->indirect_sent) send_indirect_pings(now_ms, out);
        finish_failed_probe(now_ms, out);
      }
    } else if (!probe_->indirect_sent && now_ms >= probe_->indirect_at_ms) {
      send_indirect_pings(now_ms, out);
    }
  }
  if (!probe_ && !leaving() && now_ms >= next_probe_ms_) start_probe(now_ms, out);
}

void Membership::start_probe(std::int64_t now_ms, Directives& out) {
  const std::int64_t interval_ms = awareness_.scale_timeout_ms(config_.probe_interval_ms);
  next_probe_ms_ = now_ms + interval_ms;
  const auto target_slot = next_probe_target(now_ms);
  if (!target_slot) return;
  const Record& target = records_[*target_slot];
  Probe probe;
  probe.sequence = next_sequence_++;
  probe.target_slot = *target_slot;
  probe.target_name = target.member.name;
  probe.target_address = target.member.address;
  probe.indirect_at_ms = now_ms + awareness_.scale_timeout_ms(config_.probe_timeout_ms);
  probe.deadline_ms = now_ms + interval_ms;
  std::vector<Message> messages;
  // Lifeguard's buddy system: tell a suspect first, so it can refute before the timer ends.
  if (config_.lifeguard && target.member.state == MemberState::suspect) {
    messages.push_back(Suspect{target.member.name, target.member.restart_epoch,
                               target.member.incarnation, target.suspected_by});
  }
  messages.push_back(Ping{probe.sequence, probe.target_name, self().name});
  ++counters_.probes_started;
  const std::string address = probe.target_address;
  probe_ = std::move(probe);
  send(address, messages, out);
}

void Membership::send_indirect_pings(std::int64_t now_ms, Directives& out) {
  Probe& probe = *probe_;
  probe.indirect_sent = true;
  const auto relays =
      pick_random_slots(static_cast<std::size_t>(std::max(0, config_.indirect_checks)),
                        [&](std::uint32_t slot, const Record& record) {
                          return slot != self_slot_ && slot != probe.target_slot &&
                                 record.member.state == MemberState::alive;
                        });
  IndirectPing request;
  request.sequence = probe.sequence;
  request.target_name = probe.target_name;
  request.target_address = probe.target_address;
  // Leave the relay's nack a fifth of the remaining window to travel back before our deadline.
  request.nack_after_ms =
      static_cast<std::uint32_t>(std::max<std::int64_t>(1, (probe.deadline_ms - now_ms) * 4 / 5));
  request.want_nack = config_.lifeguard;
  for (std::uint32_t slot : relays) {
    const Message message[] = {request};
    ++counters_.indirect_pings_sent;
    if (config_.lifeguard) ++probe.expected_nacks;
    send(records_[slot].member.address, message, out);
  }
}

void Membership::finish_failed_probe(std::int64_t now_ms, Directives& out) {
  const Probe probe = std::move(*probe_);
  probe_.reset();
  ++counters_.probes_failed;
  // Lifeguard: relays that answer nothing, not even a nack, point at our own network or CPU.
  if (probe.expected_nacks > 0) {
    if (probe.nacks_received < probe.expected_nacks) {
      awareness_.apply_delta(probe.expected_nacks - probe.nacks_received);
    }
  } else {
    awareness_.apply_delta(1);
  }
  const Record& target = records_[probe.target_slot];
  if (!target.in_use || target.member.name != probe.target_name || !is_live(target.member.state)) {
    return;
  }
  apply_suspect(Suspect{target.member.name, target.member.restart_epoch, target.member.incarnation,
                        self().name},
                now_ms, out);
}

void Membership::run_relay_timers(std::int64_t now_ms, Directives& out) {
  for (std::size_t i = 0; i < relays_.size();) {
    if (now_ms < relays_[i].nack_at_ms) {
      ++i;
      continue;
    }
    RelayedProbe relay = std::move(relays_[i]);
    relays_.erase(relays_.begin() + static_cast<std::ptrdiff_t>(i));
    // While starved the target's ack may be unread here: a nack would be a false statement.
    if (relay.want_nack && now_ms >= starved_until_ms_) {
      const Message nack[] = {Nack{relay.requester_sequence}};
      ++counters_.nacks_sent;
      send(relay.requester_address, nack, out);
    }
  }
}

void Membership::run_suspicion_timers(std::int64_t now_ms, Directives& out) {
  // Refutations may be unread in our socket: let the grace period pass first.
  if (now_ms < starved_until_ms_) return;
  for (std::size_t i = 0; i < suspects_.size();) {
    const Record& record = records_[suspects_[i]];
    if (now_ms < record.suspicion->deadline_ms()) {
      ++i;
      continue;
    }
    // apply_dead removes the entry from suspects_, so do not advance i.
    const Member& member = record.member;
    apply_dead(Dead{member.name, member.restart_epoch, member.incarnation, self().name, false},
               now_ms, out);
  }
}

void Membership::gossip(std::int64_t now_ms, Directives& out) {
  if (broadcasts_.empty()) return;
  const auto targets =
      pick_random_slots(static_cast<std::size_t>(std::max(0, config_.gossip_nodes)),
                        [&](std::uint32_t slot, const Record& record) {
                          if (slot == self_slot_) return false;
                          if (is_live(record.member.state)) return true;
                          return record.member.state == MemberState::dead &&
                                 now_ms - record.state_change_ms <= config_.gossip_to_the_dead_ms;
                        });
  for (std::uint32_t slot : targets) {
    if (broadcasts_.empty()) break;
    send(records_[slot].member.address, {}, out);
  }
}

void Membership::start_push_pulls(std::int64_t now_ms, Directives& out) {
  const auto alive = pick_random_slots(1, [&](std::uint32_t slot, const Record& record) {
    return slot != self_slot_ && record.member.state == MemberState::alive;
  });
  for (std::uint32_t slot : alive) {
    const Member& member = records_[slot].member;
    out.push_pulls.push_back(StartPushPull{member.name, member.address, false});
    ++counters_.push_pulls_started;
  }
  if (!config_.reconnect_dead_members) return;
  const auto dead = pick_random_slots(1, [&](std::uint32_t, const Record& record) {
    return record.member.state == MemberState::dead &&
           now_ms - record.state_change_ms <= config_.tombstone_retention_ms;
  });
  for (std::uint32_t slot : dead) {
    const Member& member = records_[slot].member;
    out.push_pulls.push_back(StartPushPull{member.name, member.address, false});
    ++counters_.push_pulls_started;
  }
}

// ---- Member table --------------------------------------------------------------------------

Membership::Record* Membership::add_record(const Member& member, std::int64_t now_ms) {
  if (slot_by_name_.size() >= config_.max_members && !evict_oldest_tombstone()) return nullptr;
  std::uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(records_.size());
    records_.emplace_back();
  }
  Record& record = records_[slot];
  record = Record{};
  record.member = member;
  record.state_change_ms = now_ms;
  record.in_use = true;
  if (is_live(member.state)) ++live_count_;
  slot_by_name_.emplace(member.name, slot);
  // Insert at a random position of the probe order (memberlist does the same), so a new member
  // is probed within this round or the next.
  probe_order_.push_back(slot);
  const std::size_t position = random_.below(probe_order_.size());
  std::swap(probe_order_[position], probe_order_.back());
  return &record;
}

void Membership::free_slot(std::uint32_t slot) {
  Record& record = records_[slot];
  clear_suspicion(slot);
  if (is_live(record.member.state)) --live_count_;
  slot_by_name_.erase(record.member.name);
  record = Record{};
  free_slots_.push_back(slot);
  // Keep the probe order free of stale slots so it cannot grow past the table.
  auto found = std::find(probe_order_.begin(), probe_order_.end(), slot);
  if (found != probe_order_.end()) {
    const std::size_t index = static_cast<std::size_t>(found - probe_order_.begin());
    probe_order_.erase(found);
    if (index < probe_cursor_) --probe_cursor_;
  }
}

bool Membership::evict_oldest_tombstone() {
  std::optional<std::uint32_t> oldest;
  for (std::uint32_t slot = 0; slot < records_.size(); ++slot) {
    const Record& record = records_[slot];
    if (!record.in_use || slot == self_slot_ || is_live(record.member.state)) continue;
    if (!oldest || record.state_change_ms < records_[*oldest].state_change_ms) oldest = slot;
  }
  if (!oldest) return false;
  free_slot(*oldest);
  return true;
}

void Membership::reap_tombstones(std::int64_t now_ms) {
  for (std::uint32_t slot = 0; slot < records_.size(); ++slot) {
    const Record& record = records_[slot];
    if (!record.in_use || slot == self_slot_ || is_live(record.member.state)) continue;
    if (now_ms - record.state_change_ms >= config_.tombstone_retention_ms) free_slot(slot);
  }
}

void Membership::set_state(Record& record, MemberState state, std::int64_t now_ms) {
  if (record.member.state == state) return;
  if (is_live(record.member.state)) --live_count_;
  if (is_live(state)) ++live_count_;
  record.member.state = state;
  record.state_change_ms = now_ms;
}

void Membership::clear_suspicion(std::uint32_t slot) {
  Record& record = records_[slot];
  if (!record.suspicion) return;
  record.suspicion.reset();
  record.suspected_by.clear();
  suspects_.erase(std::find(suspects_.begin(), suspects_.end(), slot));
}

std::optional<std::uint32_t> Membership::next_probe_target(std::int64_t now_ms) {
  // Each slot is visited once per round, so every live member is probed within two rounds.
  for (std::size_t visited = 0; visited <= 2 * probe_order_.size(); ++visited) {
    if (probe_cursor_ >= probe_order_.size()) {
      probe_cursor_ = 0;
      reap_tombstones(now_ms);
      for (std::size_t i = probe_order_.size(); i > 1; --i) {
        std::swap(probe_order_[i - 1], probe_order_[random_.below(i)]);
      }
      if (probe_order_.empty()) return std::nullopt;
    }
    const std::uint32_t slot = probe_order_[probe_cursor_++];
    const Record& record = records_[slot];
    if (record.in_use && slot != self_slot_ && is_live(record.member.state)) return slot;
  }
  return std::nullopt;
}

template <typename Predicate>
std::vector<std::uint32_t> Membership::pick_random_slots(std::size_t count, Predicate eligible) {
  std::vector<std::uint32_t> picked;
  if (count == 0 || records_.empty()) return picked;
  auto take = [&](std::uint32_t slot) {
    const Record& record = records_[slot];
    if (!record.in_use || !eligible(slot, record)) return;
    if (std::find(picked.begin(), picked.end(), slot) != picked.end()) return;
    picked.push_back(slot);
  };
  // Random draws first (cheap when most members qualify), then a scan from a random offset
  // so that sparse eligibility still finds what exists.
  for (std::size_t attempt = 0; attempt < 4 * count && picked.size() < count; ++attempt) {
    take(static_cast<std::uint32_t>(random_.below(records_.size())));
  }
  const std::size_t start = random_.below(records_.size());
  for (std::size_t i = 0; i < records_.size() && picked.size() < count; ++i) {
    take(static_cast<std::uint32_t>((start + i) % records_.size()));
  }
  return picked;
}

// ---- Sending -------------------------------------------------------------------------------

void Membership::send(const std::string& address, std::span<const Message> messages,
                      Directives& out) {
  DatagramBuilder datagram(config_.max_datagram_bytes);
  for (const Message& message : messages) {
    const bool fitted = datagram.append(encode_message(message));
    SWIM_CHECK(fitted);  // Control messages are bounded far below the datagram limit.
  }
  // Piggyback as many queued updates as fit (SWIM's infection-style dissemination).
  broadcasts_.fill(datagram, retransmit_limit());
  if (datagram.message_count() == 0) return;
  SendDatagram directive{address, std::move(datagram).finish()};
  ++counters_.datagrams_sent;
  counters_.bytes_sent += directive.bytes.size();
  out.datagrams.push_back(std::move(directive));
}

void Membership::queue_broadcast(std::string_view subject, const Message& message) {
  broadcasts_.push(subject, encode_message(message));
}

int Membership::retransmit_limit() const {
  return BroadcastQueue::retransmit_limit(config_.retransmit_multiplier, live_count_);
}

std::int64_t Membership::push_pull_interval_ms() const {
  // memberlist's pushPullScale: above 32 members, multiply by ceil(log2(N) - log2(32)) + 1.
  constexpr double kScaleThreshold = 32;
  const double member_count = static_cast<double>(live_count_);
  if (member_count <= kScaleThreshold) return config_.push_pull_interval_ms;
  const double multiplier = std::ceil(std::log2(member_count) - std::log2(kScaleThreshold)) + 1;
  return static_cast<std::int64_t>(multiplier) * config_.push_pull_interval_ms;
}

std::int64_t Membership::suspicion_min_timeout_ms() const {
  return Suspicion::min_timeout_ms(config_.suspicion_multiplier, live_count_,
                                   config_.probe_interval_ms);
}

Alive Membership::alive_message(const Member& member) {
  return Alive{member.name, member.address, member.meta, member.restart_epoch, member.incarnation};
}

// ---- Invariants ----------------------------------------------------------------------------

void Membership::invariants() const {
  SWIM_CHECK(self_slot_ < records_.size() && records_[self_slot_].in_use);
  SWIM_CHECK(self().state == MemberState::alive || self().state == MemberState::left);
  SWIM_CHECK(slot_by_name_.size() <= config_.max_members);
  SWIM_CHECK(slot_by_name_.size() + free_slots_.size() == records_.size());
  SWIM_CHECK(probe_order_.size() <= records_.size());
  SWIM_CHECK(relays_.size() <= config_.max_relayed_probes);
  SWIM_CHECK(broadcasts_.invariants_hold());
  SWIM_CHECK(awareness_.invariants_hold());
  std::size_t live = 0;
  std::size_t suspects = 0;
  for (std::uint32_t slot = 0; slot < records_.size(); ++slot) {
    const Record& record = records_[slot];
    if (!record.in_use) {
      SWIM_CHECK(!record.suspicion);
      continue;
    }
    auto found = slot_by_name_.find(record.member.name);
    SWIM_CHECK(found != slot_by_name_.end() && found->second == slot);
    if (is_live(record.member.state)) ++live;
    const bool suspect = record.member.state == MemberState::suspect;
    SWIM_CHECK(suspect == record.suspicion.has_value());
    if (suspect) ++suspects;
  }
  SWIM_CHECK(live == live_count_);
  SWIM_CHECK(suspects == suspects_.size());
  if (probe_) {
    SWIM_CHECK(probe_->target_slot != self_slot_);
    SWIM_CHECK(probe_->indirect_at_ms <= probe_->deadline_ms);
  }
}

}  // namespace qim::cluster::swim
