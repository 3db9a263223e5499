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

std::string joined(const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>* names) {
  if (names == nullptr || names->size() == 0) return "-";
  std::string text;
  for (const flatbuffers::String* name : *names) {
    if (!text.empty()) text += ",";
    text += view(name);
  }
  return text;
}

void write_names(JsonWriter& out, std::string_view key,
                 const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>* names) {
  out.key(key).begin_array();
  if (names != nullptr) {
    for (const flatbuffers::String* name : *names)
      out.value(view(name));
  }
  out.end_array();
}

void write_partition_row(JsonWriter& out, const wire::PartitionRow& row) {
  out.begin_object()
      .field("partition", row.partition())
      .field("leader", view(row.leader()))
      .field("leader_confirmed", row.leader_confirmed())
      .field("term", row.term())
      .field("commit", row.commit())
      .field("last_index", row.last_index());
  write_names(out, "voters", row.voters());
  write_names(out, "learners", row.learners());
  write_names(out, "down", row.down());
  out.field("lag", row.lag()).field("under_replicated", row.under_replicated()).end_object();
}

// "ok", "no leader", "under-replicated (n3 down)".
std::string partition_state(const wire::PartitionRow& row) {
  if (view(row.leader()).empty()) return "no leader";
  if (!row.under_replicated()) return "ok";
  if (row.down() != nullptr && row.down()->size() > 0) {
    return "under-replicated (" + joined(row.down()) + " down)";
  }
  return "under-replicated";
}

std::string leader_text(const wire::PartitionRow& row) {
  std::string leader(view(row.leader()));
  if (leader.empty()) return "-";
  return row.leader_confirmed() ? leader : leader + "?";
}

// "1 user", "2 users".
std::string counted(std::uint64_t count, std::string_view noun) {
  return fmt::format("{} {}{}", count, noun, count == 1 ? "" : "s");
}

std::string format_time_utc(std::uint64_t wall_ms) {
  time_t seconds = static_cast<time_t>(wall_ms / 1000);
  tm parts{};
  if (gmtime_r(&seconds, &parts) == nullptr) return std::to_string(wall_ms);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC", parts.tm_year + 1900,
                     parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec);
}

// One node's counters as a JSON object (only its name and the reason when it did not answer).
void write_node_stats(JsonWriter& out, const wire::NodeStats& row) {
  out.begin_object()
      .field("node", view(row.node_name()))
      .field("self", row.is_self())
      .field("answered", row.answered());
  if (!row.answered()) {
    out.field("error", view(row.error())).end_object();
    return;
  }
  out.field("uptime_ms", row.uptime_ms())
      .field("connections", row.connections())
      .field("sessions", row.sessions())
      .field("users_online", row.users_online())
      .field("messages_stored", row.messages_stored())
      .field("messages_pushed", row.messages_pushed())
      .field("requests", row.requests())
      .field("store_bytes", row.store_bytes())
      .field("messages_in_per_s", row.messages_in_per_s())
      .field("messages_out_per_s", row.messages_out_per_s())
      .field("peer_queued_frames", row.peer_queued_frames())
      .field("peer_queued_bytes", row.peer_queued_bytes())
      .field("peer_links_connected", row.peer_links_connected())
      .field("peer_frames_dropped", row.peer_frames_dropped())
      .key("gossip");
  if (const wire::GossipCounters* gossip = row.gossip()) {
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
  out.key("replication");
  if (const wire::ReplicationCounters* replication = row.replication()) {
    out.begin_object()
        .field("replicas_hosted", replication->replicas_hosted())
        .field("leaderships", replication->leaderships())
        .field("leader_changes", replication->leader_changes())
        .field("leaderships_won", replication->leaderships_won())
        .field("snapshots_sent", replication->snapshots_sent())
        .field("snapshots_received", replication->snapshots_received())
        .field("proposals", replication->proposals())
        .field("proposals_failed", replication->proposals_failed())
        .end_object();
  } else {
    out.null();
  }
  out.end_object();
}

// One node's counters, one per line.
std::string render_node_detail(const wire::NodeStats& row) {
  Table table({"STAT", "VALUE"});
  std::string name(view(row.node_name()));
  table.add({"node", row.is_self() ? name + " (self)" : name});
  if (!row.answered()) {
    table.add({"answered", "no: " + std::string(view(row.error()))});
    return table.render();
  }
  table.add({"uptime", format_duration(row.uptime_ms())});
  table.add({"connections", std::to_string(row.connections())});
  table.add({"sessions", std::to_string(row.sessions())});
  table.add({"users online", std::to_string(row.users_online())});
  table.add({"messages stored", std::to_string(row.messages_stored())});
  table.add({"messages pushed", std::to_string(row.messages_pushed())});
  table.add({"messages in/s", fmt::format("{:.2f}", row.messages_in_per_s())});
  table.add({"messages out/s", fmt::format("{:.2f}", row.messages_out_per_s())});
  table.add({"requests", std::to_string(row.requests())});
  table.add({"store size", format_bytes(row.store_bytes())});
  table.add({"peer queue", fmt::format("{} frames, {}", row.peer_queued_frames(),
                                       format_bytes(row.peer_queued_bytes()))});
  table.add({"peer links connected", std::to_string(row.peer_links_connected())});
  table.add({"peer frames dropped", std::to_string(row.peer_frames_dropped())});
  if (const wire::GossipCounters* gossip = row.gossip()) {
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
  if (const wire::ReplicationCounters* replication = row.replication()) {
    table.add({"replicas hosted", std::to_string(replication->replicas_hosted())});
    table.add({"leaderships", std::to_string(replication->leaderships())});
    table.add({"leader changes seen", std::to_string(replication->leader_changes())});
    table.add({"leaderships won", std::to_string(replication->leaderships_won())});
    table.add({"snapshots sent", std::to_string(replication->snapshots_sent())});
    table.add({"snapshots received", std::to_string(replication->snapshots_received())});
    table.add({"proposals", std::to_string(replication->proposals())});
    table.add({"proposals failed", std::to_string(replication->proposals_failed())});
  }
  return table.render();
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
            .field("vnodes", member->vnodes())
            .end_object();
      }
    }
    out.end_array().end_object();
    return out.text() + "\n";
  }
  Table table({"NAME", "GOSSIP", "CLIENT", "STATE", "INCARNATION", "VNODES", "IN STATE"});
  std::size_t count = 0;
  if (result.members()) {
    for (const wire::Member* member : *result.members()) {
      ++count;
      std::string name(view(member->name()));
      if (member->is_self()) name += " (self)";
      table.add({name, std::string(view(member->gossip_address())),
                 std::string(view(member->client_address())), state_name(member->state()),
                 std::to_string(member->incarnation()), std::to_string(member->vnodes()),
                 format_duration(member->time_in_state_ms())});
    }
  }
  return table.render() + fmt::format("{}, as seen by {}\n", counted(count, "member"), node);
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

std::string render_stats(const wire::StatsResult& result, std::string_view node, bool detail,
                         bool json) {
  std::size_t answered = 0, listed = 0;
  if (result.nodes()) {
    for (const wire::NodeStats* row : *result.nodes()) {
      ++listed;
      if (row->answered()) ++answered;
    }
  }
  if (json) {
    JsonWriter out;
    out.begin_object()
        .field("node", node)
        .field("nodes_live", result.nodes_live())
        .field("nodes_asked", static_cast<std::uint64_t>(listed))
        .field("nodes_answered", static_cast<std::uint64_t>(answered))
        .key("nodes")
        .begin_array();
    if (result.nodes()) {
      for (const wire::NodeStats* row : *result.nodes())
        write_node_stats(out, *row);
    }
    out.end_array().end_object();
    return out.text() + "\n";
  }
  if (detail && result.nodes() && result.nodes()->size() == 1) {
    return render_node_detail(*result.nodes()->Get(0));
  }
  Table table({"NODE", "UPTIME", "CONNS", "SESSIONS", "ONLINE", "STORED", "PUSHED", "IN/S", "OUT/S",
               "PEER QUEUE", "STORE", "REPLICAS", "LEADS", "ELECTED"});
  std::string problems;
  if (result.nodes()) {
    for (const wire::NodeStats* row : *result.nodes()) {
      std::string name(view(row->node_name()));
      if (row->is_self()) name += " (self)";
      if (!row->answered()) {
        table.add({name, "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "no answer"});
        problems += fmt::format("{}: no answer: {}\n", view(row->node_name()), view(row->error()));
        continue;
      }
      table.add({name, format_duration(row->uptime_ms()), std::to_string(row->connections()),
                 std::to_string(row->sessions()), std::to_string(row->users_online()),
                 std::to_string(row->messages_stored()), std::to_string(row->messages_pushed()),
                 fmt::format("{:.1f}", row->messages_in_per_s()),
                 fmt::format("{:.1f}", row->messages_out_per_s()),
                 fmt::format("{} / {}", row->peer_queued_frames(),
                             format_bytes(row->peer_queued_bytes())),
                 format_bytes(row->store_bytes()),
                 row->replication() ? std::to_string(row->replication()->replicas_hosted()) : "-",
                 row->replication() ? std::to_string(row->replication()->leaderships()) : "-",
                 row->replication() ? std::to_string(row->replication()->leaderships_won()) : "-"});
    }
  }
  return table.render() + problems +
         fmt::format("{} of {} nodes answered ({} live), as asked of {}\n", answered, listed,
                     result.nodes_live(), node);
}

std::string render_online(const wire::OnlineResult& result, std::string_view node, bool cluster,
                          bool json) {
  if (json) {
    JsonWriter out;
    out.begin_object().field("count", result.count()).key("users").begin_array();
    if (result.users()) {
      for (const flatbuffers::String* user : *result.users())
        out.value(view(user));
    }
    out.end_array()
        .field("more", result.more())
        .field("nodes_answered", result.nodes_answered())
        .field("nodes_live", result.nodes_live())
        .end_object();
    return out.text() + "\n";
  }
  std::string text =
      cluster ? fmt::format("{} online ({} of {} live nodes answered)\n",
                            counted(result.count(), "user"), result.nodes_answered(),
                            result.nodes_live())
              : fmt::format("{} online on node {}\n", counted(result.count(), "user"), node);
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

std::string render_backup(const wire::BackupResult& result, bool json) {
  std::string cluster = fmt::format("{:016x}", result.cluster_id());
  if (json) {
    JsonWriter out;
    out.begin_object()
        .field("ok", true)
        .field("action", "backup")
        .field("directory", view(result.directory()))
        .field("node", view(result.node_name()))
        .field("cluster_id", cluster)
        .field("created_ms", result.created_ms())
        .field("version", view(result.version()))
        .key("partitions")
        .begin_array();
    if (result.partitions()) {
      for (const wire::BackupPartition* p : *result.partitions()) {
        out.begin_object()
            .field("partition", p->partition())
            .field("applied_index", p->applied_index())
            .field("term", p->term())
            .field("leader", p->leader())
            .end_object();
      }
    }
    out.end_array().end_object();
    return out.text() + "\n";
  }
  std::size_t count = result.partitions() ? result.partitions()->size() : 0;
  return fmt::format(
      "node {} wrote a backup to {} on its host: cluster {}, {}, {} ({} with its manifest "
      "qim-backup.json)\n",
      view(result.node_name()), view(result.directory()), cluster,
      counted(count, "partition replica"), format_time_utc(result.created_ms()),
      view(result.version()));
}

std::string render_user(const wire::UserShowResult& result, bool json) {
  if (json) {
    JsonWriter out;
    out.begin_object()
        .field("user", view(result.user()))
        .field("home_node", view(result.home_node()))
        .field("partition", result.partition())
        .field("created_ms", result.created_ms())
        .field("disabled", result.disabled())
        .field("sessions", result.sessions())
        .field("friends", result.friends())
        .key("groups")
        .begin_array();
    if (result.groups()) {
      for (const flatbuffers::String* group : *result.groups())
        out.value(view(group));
    }
    out.end_array().key("devices").begin_array();
    if (result.devices()) {
      for (const wire::UserDevice* device : *result.devices()) {
        out.begin_object()
            .field("device", view(device->device()))
            .field("sessions", device->sessions())
            .field("token_created_ms", device->token_created_ms())
            .field("token_last_used_ms", device->token_last_used_ms())
            .end_object();
      }
    }
    out.end_array().end_object();
    return out.text() + "\n";
  }
  std::string groups;
  if (result.groups()) {
    for (const flatbuffers::String* group : *result.groups())
      groups += (groups.empty() ? "" : ", ") + std::string(view(group));
  }
  std::size_t group_count = result.groups() ? result.groups()->size() : 0;
  std::string text = fmt::format(
      "user      {}\nhome      node {}, partition {}\ncreated   {}\ndisabled  {}\n"
      "sessions  {}\nfriends   {}\ngroups    {}{}\n",
      view(result.user()), view(result.home_node()), result.partition(),
      format_time_utc(result.created_ms()), result.disabled() ? "yes" : "no", result.sessions(),
      result.friends(), group_count, groups.empty() ? "" : " (" + groups + ")");
  if (!result.devices() || result.devices()->size() == 0) return text + "devices   none\n";
  Table table({"DEVICE", "SESSIONS", "TOKEN CREATED", "TOKEN LAST USED"});
  for (const wire::UserDevice* device : *result.devices()) {
    auto when = [](std::uint64_t ms) { return ms == 0 ? std::string("-") : format_time_utc(ms); };
    table.add({std::string(view(device->device())), std::to_string(device->sessions()),
               when(device->token_created_ms()), when(device->token_last_used_ms())});
  }
  return text + "\n" + table.render();
}

std::string render_names(const wire::NameListResult& result, bool json) {
  bool users = result.kind() == wire::NameKind::Users;
  if (json) {
    JsonWriter out;
    out.begin_object().key(users ? "users" : "groups").begin_array();
    if (result.names()) {
      for (const flatbuffers::String* name : *result.names())
        out.value(view(name));
    }
    out.end_array()
        .field("more", result.more())
        .field("partitions_read", result.partitions_read())
        .field("partition_count", result.partition_count())
        .end_object();
    return out.text() + "\n";
  }
  std::size_t count = result.names() ? result.names()->size() : 0;
  std::string text = fmt::format("{}\n", counted(count, users ? "user" : "group"));
  std::string last;
  if (result.names()) {
    for (const flatbuffers::String* name : *result.names()) {
      last = view(name);
      text += "  " + last + "\n";
    }
  }
  if (result.more()) text += fmt::format("(more: run again with --after {})\n", last);
  if (result.partitions_read() < result.partition_count()) {
    text += fmt::format("warning: only {} of {} partitions answered; the list may be incomplete\n",
                        result.partitions_read(), result.partition_count());
  }
  return text;
}

std::string render_partitions(const wire::PartitionsResult& result, std::string_view node,
                              bool problems_only, bool json) {
  if (json) {
    JsonWriter out;
    out.begin_object()
        .field("node", node)
        .field("partition_count", result.partition_count())
        .field("replicas_wanted", result.replicas_wanted())
        .field("under_replicated", result.under_replicated())
        .field("leaderless", result.leaderless())
        .field("nodes_answered", result.nodes_answered())
        .field("nodes_asked", result.nodes_asked())
        .key("nodes")
        .begin_array();
    if (result.nodes()) {
      for (const wire::NodeShare* share : *result.nodes()) {
        out.begin_object()
            .field("node", view(share->node()))
            .field("replicas", share->replicas())
            .field("leaders", share->leaders())
            .field("answered", share->answered())
            .end_object();
      }
    }
    out.end_array().key("partitions").begin_array();
    if (result.rows()) {
      for (const wire::PartitionRow* row : *result.rows()) {
        if (problems_only && !row->under_replicated()) continue;
        write_partition_row(out, *row);
      }
    }
    out.end_array().end_object();
    return out.text() + "\n";
  }
  Table table({"PARTITION", "LEADER", "TERM", "COMMIT", "LAG", "VOTERS", "LEARNERS", "STATE"});
  if (result.rows()) {
    for (const wire::PartitionRow* row : *result.rows()) {
      if (problems_only && !row->under_replicated()) continue;
      table.add({std::to_string(row->partition()), leader_text(*row), std::to_string(row->term()),
                 std::to_string(row->commit()), std::to_string(row->lag()), joined(row->voters()),
                 joined(row->learners()), partition_state(*row)});
    }
  }
  std::string leaders;
  std::string silent;
  if (result.nodes()) {
    for (const wire::NodeShare* share : *result.nodes()) {
      if (!leaders.empty()) leaders += ", ";
      leaders += fmt::format("{} {}", view(share->node()), share->leaders());
      if (!share->answered()) silent += fmt::format("{}: no answer\n", view(share->node()));
    }
  }
  std::string text =
      problems_only && result.under_replicated() == 0 ? std::string() : table.render();
  return text + silent +
         fmt::format(
             "{} partitions, {} replicas wanted; leaders per node: {}; {} "
             "under-replicated, {} without a leader ({} of {} nodes answered, as asked "
             "of {})\n",
             result.partition_count(), result.replicas_wanted(), leaders.empty() ? "none" : leaders,
             result.under_replicated(), result.leaderless(), result.nodes_answered(),
             result.nodes_asked(), node);
}

std::string render_where(const wire::WhereResult& result, std::string_view node, bool json) {
  const wire::PartitionRow* row = result.row();
  if (json) {
    JsonWriter out;
    out.begin_object()
        .field("node", node)
        .field("key", view(result.key()))
        .field("placement_key", view(result.placement_key()))
        .field("kind", view(result.kind()))
        .field("partition", result.partition())
        .key("row");
    if (row != nullptr) {
      write_partition_row(out, *row);
    } else {
      out.null();
    }
    out.end_object();
    return out.text() + "\n";
  }
  Table table({"KEY", std::string(view(result.key()))});
  table.add(
      {"placement key", fmt::format("{} ({})", view(result.placement_key()), view(result.kind()))});
  table.add({"partition", std::to_string(result.partition())});
  if (row != nullptr) {
    table.add({"leader", row->leader()->size() == 0
                             ? std::string("none known")
                             : fmt::format("{} (term {})", leader_text(*row), row->term())});
    table.add({"voters", joined(row->voters())});
    table.add({"learners", joined(row->learners())});
    table.add({"state", partition_state(*row)});
  }
  return table.render() + fmt::format("as asked of {}\n", node);
}

std::string render_error(std::string_view code, std::string_view message, std::string_view node,
                         bool json) {
  if (!json) return std::string(message) + "\n";
  JsonWriter out;
  out.begin_object().field("ok", false);
  if (!node.empty()) out.field("node", node);
  out.key("error")
      .begin_object()
      .field("code", code)
      .field("message", message)
      .end_object()
      .end_object();
  return out.text() + "\n";
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
