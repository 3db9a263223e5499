#include "output.h"

#include <time.h>

#include <algorithm>
#include <vector>

#include <fmt/core.h>

#include "json_writer.h"
#include "proto/frame.h"

namespace qim::ctl {
namespace {

using proto::view;
namespace wire = admin_wire;

// Columns padded to their widest cell, two spaces apart; the last column is not padded.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string render() const {
    std::vector<std::size_t> widths(rows_.front().size(), 0);
    for (const auto& row : rows_) {
      for (std::size_t column = 0; column < row.size(); ++column)
        widths[column] = std::max(widths[column], row[column].size());
    }
    std::string out;
    for (const auto& row : rows_) {
      for (std::size_t column = 0; column < row.size(); ++column) {
        out += row[column];
        if (column + 1 < row.size()) out.append(widths[column] - row[column].size() + 2, ' ');
      }
      out += '\n';
    }
    return out;
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

const char* state_name(wire::MemberState state) {
  switch (state) {
    case wire::MemberState::Alive:
      return "alive";
    case wire::MemberState::Suspect:
      return "suspect";
    case wire::MemberState::Dead:
      return "dead";
    case wire::MemberState::Left:
      return "left";
  }
  return "unknown";
}

const char* role_name(qim::wire::GroupRole role) {
  switch (role) {
    case qim::wire::GroupRole::Member:
      return "member";
    case qim::wire::GroupRole::Admin:
      return "admin";
    case qim::wire::GroupRole::Owner:
      return "owner";
  }
  return "unknown";
}

std::string format_time_utc(std::uint64_t wall_ms) {
  time_t seconds = static_cast<time_t>(wall_ms / 1000);
  tm parts{};
  if (gmtime_r(&seconds, &parts) == nullptr) return std::to_string(wall_ms);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC", parts.tm_year + 1900,
                     parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec);
}

}  // namespace

std::string format_duration(std::uint64_t milliseconds) {
  if (milliseconds < 1000) return fmt::format("{}ms", milliseconds);
  std::uint64_t seconds = milliseconds / 1000;
  if (seconds < 60) return fmt::format("{}s", seconds);
  if (seconds < 3600) return fmt::format("{}m{}s", seconds / 60, seconds % 60);
  if (seconds < 86400) return fmt::format("{}h{}m", seconds / 3600, seconds % 3600 / 60);
  return fmt::format("{}d{}h", seconds / 86400, seconds % 86400 / 3600);
}

std::string format_bytes(std::uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  if (bytes < 1024 * 1024) return fmt::format("{:.1f} KiB", bytes / 1024.0);
  if (bytes < 1024ull * 1024 * 1024) return fmt::format("{:.1f} MiB", bytes / (1024.0 * 1024));
  return fmt::format("{:.1f} GiB", bytes / (1024.0 * 1024 * 1024));
}

std::string render_members(const wire::MembersResult& result, std::string_view node, bool json) {
  if (json) {
    JsonWriter out;
    out.begin_object().field("node", node).key("members").begin_array();
    if (result.members()) {
      for (const wire::Member* member : *result.members()) {
        out.begin_object()
            .field("name", view(member->name()))
            .field("gossip_address", view(member->gossip_address()))
            .field("client_address", view(member->client_address()))
            .field("state", state_name(member->state()))
            .field("incarnation", member->incarnation())
            .field("time_in_state_ms", member->time_in_state_ms())
            .field("restart_epoch", member->restart_epoch())
            .field("self", member->is_self())
            .end_object();
      }
    }
    out.end_array().end_object();
    return out.text() + "\n";
  }
  Table table({"NAME", "GOSSIP", "CLIENT", "STATE", "INCARNATION", "IN STATE"});
  std::size_t count = 0;
  if (result.members()) {
    for (const wire::Member* member : *result.members()) {
      ++count;
      std::string name(view(member->name()));
      if (member->is_self()) name += " (self)";
      table.add({name, std::string(view(member->gossip_address())),
                 std::string(view(member->client_address())), state_name(member->state()),
                 std::to_string(member->incarnation()),
                 format_duration(member->time_in_state_ms())});
    }
  }
  return table.render() + fmt::format("{} members, as seen by {}\n", count, node);
}

std::string render_ring(const wire::RingResult& result, std::string_view node, bool json) {
  if (json) {
    JsonWriter out;
    out.begin_object()
        .field("node", node)
        .field("version", result.version())
        .field("vnodes_per_member", result.vnodes_per_member())
        .key("members")
        .begin_array();
    if (result.members()) {
      for (const wire::RingMember* member : *result.members()) {
        out.begin_object()
            .field("name", view(member->name()))
            .field("client_address", view(member->client_address()))
            .field("share", member->share())
            .field("self", member->is_self())
            .end_object();
      }
    }
    out.end_array().end_object();
    return out.text() + "\n";
  }
  Table table({"NAME", "CLIENT", "SHARE"});
  std::size_t count = 0;
  if (result.members()) {
    for (const wire::RingMember* member : *result.members()) {
      ++count;
      std::string name(view(member->name()));
      if (member->is_self()) name += " (self)";
      table.add({name, std::string(view(member->client_address())),
                 fmt::format("{:.1f}%", 100.0 * member->share())});
    }
  }
  return table.render() + fmt::format("{} nodes, {} vnodes each, placement {} as routed by {}\n",
                                      count, result.vnodes_per_member(), result.version(), node);
}

std::string render_stats(const wire::StatsResult& result, bool json) {
  const wire::GossipCounters* gossip = result.gossip();
  if (json) {
    JsonWriter out;
    out.begin_object()
        .field("node", view(result.node_name()))
        .field("uptime_ms", result.uptime_ms())
        .field("connections", result.connections())
        .field("sessions", result.sessions())
        .field("users_online", result.users_online())
        .field("messages_stored", result.messages_stored())
        .field("messages_pushed", result.messages_pushed())
        .field("requests", result.requests())
        .field("store_bytes", result.store_bytes())
        .key("gossip");
    if (gossip) {
      out.begin_object()
          .field("datagrams_received", gossip->datagrams_received())
          .field("datagrams_unsealable", gossip->datagrams_unsealable())
          .field("datagrams_sent", gossip->datagrams_sent())
          .field("datagrams_send_failed", gossip->datagrams_send_failed())
          .field("push_pulls_served", gossip->push_pulls_served())
          .field("push_pulls_refused", gossip->push_pulls_refused())
          .field("push_pulls_completed", gossip->push_pulls_completed())
          .field("push_pulls_failed", gossip->push_pulls_failed())
          .end_object();
    } else {
      out.null();
    }
    out.end_object();
    return out.text() + "\n";
  }
  Table table({"STAT", "VALUE"});
  table.add({"node", std::string(view(result.node_name()))});
  table.add({"uptime", format_duration(result.uptime_ms())});
  table.add({"connections", std::to_string(result.connections())});
  table.add({"sessions", std::to_string(result.sessions())});
  table.add({"users online", std::to_string(result.users_online())});
  table.add({"messages stored", std::to_string(result.messages_stored())});
  table.add({"messages pushed", std::to_string(result.messages_pushed())});
  table.add({"requests", std::to_string(result.requests())});
  table.add({"store size", format_bytes(result.store_bytes())});
  if (gossip) {
    table.add({"gossip datagrams received", std::to_string(gossip->datagrams_received())});
    table.add({"gossip datagrams unsealable", std::to_string(gossip->datagrams_unsealable())});
    table.add({"gossip datagrams sent", std::to_string(gossip->datagrams_sent())});
    table.add({"gossip datagrams send failed", std::to_string(gossip->datagrams_send_failed())});
    table.add({"push-pulls served", std::to_string(gossip->push_pulls_served())});
    table.add({"push-pulls refused", std::to_string(gossip->push_pulls_refused())});
    table.add({"push-pulls completed", std::to_string(gossip->push_pulls_completed())});
    table.add({"push-pulls failed", std::to_string(gossip->push_pulls_failed())});
  } else {
    table.add({"gossip counters", "not reported by this node"});
  }
  return table.render();
}

std::string render_online(const wire::OnlineResult& result, bool json) {
  if (json) {
    JsonWriter out;
    out.begin_object().field("count", result.count()).key("users").begin_array();
    if (result.users()) {
      for (const flatbuffers::String* user : *result.users())
        out.value(view(user));
    }
    out.end_array().field("more", result.more()).end_object();
    return out.text() + "\n";
  }
  std::string text = fmt::format("{} users online\n", result.count());
  std::string last;
  if (result.users()) {
    for (const flatbuffers::String* user : *result.users()) {
      last = view(user);
      text += "  " + last + "\n";
    }
  }
  if (result.more()) text += fmt::format("(more: run again with --after {})\n", last);
  return text;
}

std::string render_group(const wire::GroupInspectResult& result, bool json) {
  if (json) {
    JsonWriter out;
    out.begin_object()
        .field("group", view(result.group()))
        .field("name", view(result.name()))
        .field("owner", view(result.owner()))
        .field("created_ms", result.created_ms())
        .key("members")
        .begin_array();
    if (result.members()) {
      for (const wire::GroupMemberInfo* member : *result.members()) {
        out.begin_object()
            .field("user", view(member->user()))
            .field("role", role_name(member->role()))
            .field("online", member->online())
            .field("joined_seq", member->joined_seq())
            .end_object();
      }
    }
    out.end_array().end_object();
    return out.text() + "\n";
  }
  std::size_t count = result.members() ? result.members()->size() : 0;
  std::string text = fmt::format(
      "group    {}\nname     {}\nowner    {}\ncreated  {}\nmembers  {}\n\n", view(result.group()),
      view(result.name()), view(result.owner()), format_time_utc(result.created_ms()), count);
  Table table({"USER", "ROLE", "ONLINE", "JOINED SEQ"});
  if (result.members()) {
    for (const wire::GroupMemberInfo* member : *result.members()) {
      table.add({std::string(view(member->user())), role_name(member->role()),
                 member->online() ? "yes" : "no", std::to_string(member->joined_seq())});
    }
  }
  return text + table.render();
}

std::string render_done(std::string_view action, std::string_view subject_key,
                        std::string_view subject, std::string_view summary, bool json) {
  if (json) {
    JsonWriter out;
    out.begin_object()
        .field("ok", true)
        .field("action", action)
        .field(subject_key, subject)
        .end_object();
    return out.text() + "\n";
  }
  return std::string(summary) + "\n";
}

}  // namespace qim::ctl
