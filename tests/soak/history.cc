#include "history.h"

#include <nlohmann/json.hpp>

namespace qim::soak {
namespace {

using json = nlohmann::json;

errc code_from_name(const std::string& name) {
  for (std::uint16_t value = 0; value <= errc_max; ++value) {
    if (name == errc_name(static_cast<errc>(value))) return static_cast<errc>(value);
  }
  return errc::internal;
}

// Bodies and messages are bytes; JSON wants UTF-8, so anything else is replaced rather than
// aborting the dump.
std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

template <typename T>
T get_or(const json& object, const char* key, T fallback) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  return it->get<T>();
}

std::string text(const json& object, const char* key) {
  return get_or<std::string>(object, key, {});
}

}  // namespace

std::string to_json_line(const RunRecord& r) {
  return dump({{"type", "run"},
               {"seed", r.seed},
               {"nodes", r.nodes},
               {"users", r.users},
               {"groups", r.groups},
               {"rate", r.rate},
               {"faults", r.faults},
               {"duration_ms", r.duration_ms},
               {"qimd_args", r.qimd_args},
               {"leave_bound_ms", r.leave_bound_ms}});
}

std::string to_json_line(const PhaseRecord& r) {
  return dump({{"type", "phase"}, {"name", r.name}, {"t", r.at_ms}});
}

std::string to_json_line(const SendAttempt& r) {
  json out = {{"type", "send"},
              {"user", r.user},
              {"conversation", r.conversation},
              {"counter", r.counter},
              {"client_msg_id", r.client_msg_id},
              {"body", r.body},
              {"attempt", r.attempt},
              {"t", r.start_ms},
              {"t_end", r.end_ms},
              {"node", r.node},
              {"code", errc_name(r.code)}};
  if (!r.to_user.empty()) out["to_user"] = r.to_user;
  if (!r.to_group.empty()) out["to_group"] = r.to_group;
  if (r.code == errc::ok) {
    out["ack_conversation"] = r.ack_conversation;
    out["seq"] = r.seq;
    out["server_time_ms"] = r.server_time_ms;
    out["duplicate"] = r.duplicate;
  } else {
    out["message"] = r.message;
  }
  return dump(out);
}

std::string to_json_line(const Operation& r) {
  json out = {
      {"type", "op"},     {"op", r.op},           {"user", r.user},           {"target", r.target},
      {"op_id", r.op_id}, {"attempt", r.attempt}, {"t", r.start_ms},          {"t_end", r.end_ms},
      {"node", r.node},   {"phase", r.phase},     {"code", errc_name(r.code)}};
  if (!r.members.empty()) out["members"] = r.members;
  if (r.seq != 0) out["seq"] = r.seq;
  if (r.code != errc::ok) out["message"] = r.message;
  return dump(out);
}

std::string to_json_line(const Delivery& r) {
  return dump({{"type", "deliver"},
               {"user", r.user},
               {"session", r.session},
               {"t", r.at_ms},
               {"conversation", r.conversation},
               {"seq", r.seq},
               {"sender", r.sender},
               {"client_msg_id", r.client_msg_id},
               {"body", r.body},
               {"live", r.live}});
}

std::string to_json_line(const SyncRecord& r) {
  json conversations = json::array();
  for (const auto& c : r.conversations) {
    conversations.push_back({{"c", c.conversation},
                             {"head", c.head_seq},
                             {"read", c.read_seq},
                             {"first", c.first_seq}});
  }
  return dump({{"type", "sync"},
               {"user", r.user},
               {"device", r.device},
               {"session", r.session},
               {"phase", r.phase},
               {"t", r.start_ms},
               {"t_end", r.end_ms},
               {"conversations", conversations}});
}

std::string to_json_line(const ReadBack& r) {
  json messages = json::array();
  for (const auto& m : r.messages) {
    messages.push_back({{"seq", m.seq},
                        {"sender", m.sender},
                        {"client_msg_id", m.client_msg_id},
                        {"body", m.body}});
  }
  json out = {{"type", "readback"},     {"conversation", r.conversation},
              {"reader", r.reader},     {"t", r.at_ms},
              {"complete", r.complete}, {"code", errc_name(r.code)},
              {"messages", messages},   {"phase", r.phase},
              {"t_start", r.start_ms},  {"after_seq", r.after_seq},
              {"more", r.more}};
  if (r.code != errc::ok) out["message"] = r.message;
  return dump(out);
}

std::string to_json_line(const FriendListRecord& r) {
  json friends = json::array();
  for (const auto& f : r.friends)
    friends.push_back({{"user", f.user}, {"state", f.state}});
  json out = {{"type", "friend_list"},
              {"user", r.user},
              {"t", r.at_ms},
              {"code", errc_name(r.code)},
              {"friends", friends}};
  if (r.code != errc::ok) out["message"] = r.message;
  return dump(out);
}

std::string to_json_line(const RosterRecord& r) {
  json out = {{"type", "roster"}, {"group", r.group},          {"reader", r.reader},
              {"t", r.at_ms},     {"code", errc_name(r.code)}, {"members", r.members}};
  if (r.code != errc::ok) out["message"] = r.message;
  return dump(out);
}

std::string to_json_line(const FaultRecord& r, bool started) {
  json out = {{"type", started ? "fault_start" : "fault_end"},
              {"id", r.id},
              {"kind", r.kind},
              {"node", r.node},
              {"t", r.start_ms}};
  if (!started) {
    out["t_end"] = r.end_ms;
    out["terminated"] = r.terminated;
    out["exited"] = r.exited;
    out["exit_code"] = r.exit_code;
    out["signal"] = r.signal;
    out["leave_ms"] = r.leave_ms;
  }
  if (!r.note.empty()) out["note"] = r.note;
  return dump(out);
}

std::string to_json_line(const ProcessExit& r) {
  return dump({{"type", "exit"},
               {"node", r.node},
               {"t", r.at_ms},
               {"expected", r.expected},
               {"exit_code", r.exit_code},
               {"signal", r.signal}});
}

std::string to_json_line(const LogProblem& r) {
  return dump({{"type", "log_problem"}, {"node", r.node}, {"line", r.line}});
}

std::string to_json_line(const ConnectionEvent& r) {
  json out = {{"type", "connection"}, {"user", r.user}, {"session", r.session},
              {"t", r.at_ms},         {"kind", r.kind}, {"code", errc_name(r.code)}};
  if (!r.message.empty()) out["message"] = r.message;
  return dump(out);
}

bool parse_history_line(std::string_view line, History& history) {
  if (line.empty()) return true;
  json in = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!in.is_object() || !in.contains("type")) {
    ++history.bad_lines;
    return false;
  }
  try {
    std::string type = in["type"].get<std::string>();
    if (type == "run") {
      RunRecord& r = history.run;
      r.seed = get_or<std::uint64_t>(in, "seed", 0);
      r.nodes = get_or<std::uint32_t>(in, "nodes", 0);
      r.users = get_or<std::uint32_t>(in, "users", 0);
      r.groups = get_or<std::uint32_t>(in, "groups", 0);
      r.rate = get_or<double>(in, "rate", 0);
      r.faults = text(in, "faults");
      r.duration_ms = get_or<std::int64_t>(in, "duration_ms", 0);
      r.qimd_args = get_or<std::vector<std::string>>(in, "qimd_args", {});
      r.leave_bound_ms = get_or<std::int64_t>(in, "leave_bound_ms", 0);
    } else if (type == "phase") {
      history.phases.push_back({text(in, "name"), get_or<std::int64_t>(in, "t", 0)});
    } else if (type == "send") {
      SendAttempt r;
      r.user = text(in, "user");
      r.conversation = text(in, "conversation");
      r.to_user = text(in, "to_user");
      r.to_group = text(in, "to_group");
      r.counter = get_or<std::uint64_t>(in, "counter", 0);
      r.client_msg_id = get_or<std::uint64_t>(in, "client_msg_id", 0);
      r.body = text(in, "body");
      r.attempt = get_or<std::uint32_t>(in, "attempt", 1);
      r.start_ms = get_or<std::int64_t>(in, "t", 0);
      r.end_ms = get_or<std::int64_t>(in, "t_end", 0);
      r.node = text(in, "node");
      r.code = code_from_name(text(in, "code"));
      r.message = text(in, "message");
      r.ack_conversation = text(in, "ack_conversation");
      r.seq = get_or<std::uint64_t>(in, "seq", 0);
      r.server_time_ms = get_or<std::uint64_t>(in, "server_time_ms", 0);
      r.duplicate = get_or<bool>(in, "duplicate", false);
      history.sends.push_back(std::move(r));
    } else if (type == "op") {
      Operation r;
      r.op = text(in, "op");
      r.user = text(in, "user");
      r.target = text(in, "target");
      r.members = get_or<std::vector<std::string>>(in, "members", {});
      r.op_id = get_or<std::uint64_t>(in, "op_id", 0);
      r.attempt = get_or<std::uint32_t>(in, "attempt", 1);
      r.seq = get_or<std::uint64_t>(in, "seq", 0);
      r.start_ms = get_or<std::int64_t>(in, "t", 0);
      r.end_ms = get_or<std::int64_t>(in, "t_end", 0);
      r.node = text(in, "node");
      r.phase = text(in, "phase");
      r.code = code_from_name(text(in, "code"));
      r.message = text(in, "message");
      history.operations.push_back(std::move(r));
    } else if (type == "deliver") {
      Delivery r;
      r.user = text(in, "user");
      r.session = text(in, "session");
      r.at_ms = get_or<std::int64_t>(in, "t", 0);
      r.conversation = text(in, "conversation");
      r.seq = get_or<std::uint64_t>(in, "seq", 0);
      r.sender = text(in, "sender");
      r.client_msg_id = get_or<std::uint64_t>(in, "client_msg_id", 0);
      r.body = text(in, "body");
      r.live = get_or<bool>(in, "live", true);
      history.deliveries.push_back(std::move(r));
    } else if (type == "sync") {
      SyncRecord r;
      r.user = text(in, "user");
      r.device = text(in, "device");
      r.session = text(in, "session");
      r.phase = text(in, "phase");
      r.start_ms = get_or<std::int64_t>(in, "t", 0);
      r.end_ms = get_or<std::int64_t>(in, "t_end", 0);
      for (const auto& c : in.value("conversations", json::array())) {
        r.conversations.push_back({text(c, "c"), get_or<std::uint64_t>(c, "head", 0),
                                   get_or<std::uint64_t>(c, "read", 0),
                                   get_or<std::uint64_t>(c, "first", 0)});
      }
      history.syncs.push_back(std::move(r));
    } else if (type == "readback") {
      ReadBack r;
      r.conversation = text(in, "conversation");
      r.reader = text(in, "reader");
      r.at_ms = get_or<std::int64_t>(in, "t", 0);
      r.complete = get_or<bool>(in, "complete", false);
      r.code = code_from_name(text(in, "code"));
      r.message = text(in, "message");
      r.phase = get_or<std::string>(in, "phase", "final");
      r.start_ms = get_or<std::int64_t>(in, "t_start", 0);
      r.after_seq = get_or<std::uint64_t>(in, "after_seq", 0);
      r.more = get_or<bool>(in, "more", false);
      for (const auto& m : in.value("messages", json::array())) {
        r.messages.push_back({get_or<std::uint64_t>(m, "seq", 0), text(m, "sender"),
                              get_or<std::uint64_t>(m, "client_msg_id", 0), text(m, "body")});
      }
      history.read_backs.push_back(std::move(r));
    } else if (type == "friend_list") {
      FriendListRecord r;
      r.user = text(in, "user");
      r.at_ms = get_or<std::int64_t>(in, "t", 0);
      r.code = code_from_name(text(in, "code"));
      r.message = text(in, "message");
      for (const auto& f : in.value("friends", json::array()))
        r.friends.push_back({text(f, "user"), text(f, "state")});
      history.friend_lists.push_back(std::move(r));
    } else if (type == "roster") {
      RosterRecord r;
      r.group = text(in, "group");
      r.reader = text(in, "reader");
      r.at_ms = get_or<std::int64_t>(in, "t", 0);
      r.code = code_from_name(text(in, "code"));
      r.message = text(in, "message");
      r.members = get_or<std::vector<std::string>>(in, "members", {});
      history.rosters.push_back(std::move(r));
    } else if (type == "fault_start" || type == "fault_end") {
      FaultRecord r;
      r.id = get_or<std::uint32_t>(in, "id", 0);
      r.kind = text(in, "kind");
      r.node = text(in, "node");
      r.start_ms = get_or<std::int64_t>(in, "t", 0);
      r.end_ms = get_or<std::int64_t>(in, "t_end", 0);
      r.terminated = get_or<bool>(in, "terminated", false);
      r.exited = get_or<bool>(in, "exited", false);
      r.exit_code = get_or<int>(in, "exit_code", -1);
      r.signal = get_or<int>(in, "signal", 0);
      r.leave_ms = get_or<std::int64_t>(in, "leave_ms", 0);
      r.note = text(in, "note");
      // An end replaces its start; a start never ended stays (the run was cut short).
      bool replaced = false;
      for (auto& known : history.faults) {
        if (known.id == r.id) {
          if (type == "fault_end") known = r;
          replaced = true;
        }
      }
      if (!replaced) history.faults.push_back(std::move(r));
    } else if (type == "exit") {
      history.exits.push_back({text(in, "node"), get_or<std::int64_t>(in, "t", 0),
                               get_or<bool>(in, "expected", false),
                               get_or<int>(in, "exit_code", -1), get_or<int>(in, "signal", 0)});
    } else if (type == "log_problem") {
      history.log_problems.push_back({text(in, "node"), text(in, "line")});
    } else if (type == "connection") {
      history.connections.push_back({text(in, "user"), text(in, "session"),
                                     get_or<std::int64_t>(in, "t", 0), text(in, "kind"),
                                     code_from_name(text(in, "code")), text(in, "message")});
    } else {
      ++history.bad_lines;
      return false;
    }
  } catch (const json::exception&) {
    ++history.bad_lines;
    return false;
  }
  return true;
}

bool read_history(const std::string& path, History& history, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "cannot open " + path;
    return false;
  }
  std::string line;
  while (std::getline(in, line))
    parse_history_line(line, history);
  return true;
}

bool HistoryWriter::open(const std::string& path, std::string& error) {
  std::lock_guard lock(mutex_);
  out_.open(path, std::ios::out | std::ios::trunc);
  if (!out_) {
    error = "cannot create " + path;
    return false;
  }
  return true;
}

void HistoryWriter::append(const std::string& line) {
  std::lock_guard lock(mutex_);
  out_ << line << '\n';
}

void HistoryWriter::flush() {
  std::lock_guard lock(mutex_);
  out_.flush();
}

}  // namespace qim::soak
