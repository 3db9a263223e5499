// qimctl: administers a qimd cluster through one node's admin endpoint (schemas/admin.fbs).
//
//   qimctl [--admin host:port | --port-file FILE] [--token-file FILE | --token TEXT |
//           --cluster-key-file FILE | --data-dir DIR] [--json] [--timeout-ms N] <command>
//   commands: members, ring, partitions [--under-replicated], where KEY,
//             stats [--node NAME | --local], online [--after U] [--limit N] [--local],
//             user create|disable|enable|reset-password <user> [--password P],
//             user show|delete <user>, user kick <user> [--device D],
//             user list [--prefix P] [--after U] [--limit N],
//             group [show] <gid>, group dissolve <gid>,
//             group list [--prefix P] [--after G] [--limit N], backup DIR, leave
//
// stats and online cover every live member (the node asked gathers them); user and group
// commands are carried out at the key's home node, whichever node is asked.
//
// The token comes from --token, else --token-file, else --cluster-key-file (the cluster's admin
// token is derived from the cluster key), else $QIMCTL_TOKEN, else DIR/admin.token for
// --data-dir. Every node of a cluster accepts the same token. Output: aligned tables, or one
// JSON document on stdout with --json (failures too: {"ok":false,"error":{...}}); without
// --json errors go to stderr. Exit status: 0 success, 1 failure (unreachable node, refused
// request), 2 bad usage, 3 the node refused the admin token.
#include <termios.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include "admin/admin_token.h"
#include "admin_client.h"
#include "auth/cluster_key.h"
#include "auth/password.h"
#include "output.h"
#include "proto/frame.h"
#include "qim/ids.h"

namespace {

using qim::ctl::AdminClient;
using qim::ctl::AdminFailure;
using qim::ctl::ReceivedReply;
namespace wire = qim::admin_wire;

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;
constexpr int exit_refused = 3;

struct Flags {
  std::string admin = "127.0.0.1:7702";
  std::string port_file;
  std::string token_file;
  std::string token;
  std::string data_directory;
  std::string cluster_key_file;
  bool json = false;
  std::int64_t timeout_ms = 5000;
  // Subcommand arguments.
  std::string after;
  std::int64_t limit = 0;
  std::string user;
  std::string password;
  bool password_given = false;
  std::string group;
  std::string group_action;  // show (also `group <gid>`), list, dissolve
  std::string device;        // user kick: only this device
  std::string prefix;        // user list, group list
  std::string backup_directory;
  std::string stats_node;
  bool local = false;                  // stats, online: only the node asked
  std::vector<std::string> where_key;  // where: the words of the key
  bool problems_only = false;          // partitions: under-replicated rows only
};

// Where failures go: stderr for humans; with --json one JSON document on stdout, so a script
// reads one document whatever happened.
class Failures {
 public:
  explicit Failures(bool json) : json_(json) {}
  void set_node(std::string node) { node_ = std::move(node); }
  // Reports a failure and returns `exit_code`. `human_suffix` is added for humans only.
  int fail(int exit_code, std::string_view code, const std::string& message,
           std::string_view human_suffix = {}) const {
    if (json_) {
      std::string text = qim::ctl::render_error(code, message, node_, true);
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
    } else {
      std::fprintf(stderr, "qimctl: %s%.*s\n", message.c_str(),
                   static_cast<int>(human_suffix.size()), human_suffix.data());
    }
    return exit_code;
  }

 private:
  bool json_;
  std::string node_;
};

struct Usage {
  std::string message;
};

template <typename... Args>
void complain(fmt::format_string<Args...> format, Args&&... args) {
  std::fprintf(stderr, "qimctl: %s\n", fmt::format(format, std::forward<Args>(args)...).c_str());
}

bool parse_port(std::string_view text, std::uint16_t& port) {
  unsigned value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535) {
    return false;
  }
  port = static_cast<std::uint16_t>(value);
  return true;
}

// "host:port" or "[v6]:port".
bool parse_address(const std::string& text, std::string& host, std::uint16_t& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return parse_port(std::string_view(text).substr(colon + 1), port);
}

// The "admin <port>" line of a qimd port file; false with `error` set.
bool read_port_file(const std::string& path, std::uint16_t& port, std::string& error) {
  std::FILE* file = std::fopen(path.c_str(), "r");
  if (file == nullptr) {
    error = fmt::format("cannot read the port file {}: {}", path, std::strerror(errno));
    return false;
  }
  char line[256];
  bool found = false;
  while (!found && std::fgets(line, sizeof line, file) != nullptr) {
    std::string_view text(line);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
      text.remove_suffix(1);
    if (text.starts_with("admin ")) found = parse_port(text.substr(6), port);
  }
  std::fclose(file);
  if (!found) {
    error = fmt::format(
        "the port file {} has no 'admin <port>' line with a port (is the node "
        "listening for admin connections?)",
        path);
  }
  return found;
}

// The token to present, or an empty string when none was given (the node then refuses it,
// and the message says how to give one). nullopt with `error` on a bad token source.
std::optional<std::string> resolve_token(const Flags& flags, std::string& error) {
  std::string parse_error;
  if (!flags.token.empty()) {
    auto token = qim::admin::parse_admin_token(flags.token, parse_error);
    if (!token) error = "--token: " + parse_error;
    return token;
  }
  if (flags.token_file.empty() && !flags.cluster_key_file.empty()) {
    std::string warning;
    auto key = qim::auth::ClusterKey::load(flags.cluster_key_file, error, warning);
    if (!key) return std::nullopt;
    if (!warning.empty()) complain("warning: {}", warning);
    return qim::admin::derive_admin_token(*key);
  }
  std::string path = flags.token_file;
  if (path.empty()) {
    if (const char* env = std::getenv("QIMCTL_TOKEN"); env != nullptr && *env != '\0') {
      auto token = qim::admin::parse_admin_token(env, parse_error);
      if (!token) error = "QIMCTL_TOKEN: " + parse_error;
      return token;
    }
    if (flags.data_directory.empty()) return std::string();
    path = flags.data_directory + "/admin.token";
  }
  std::string warning;
  auto token = qim::admin::read_admin_token_file(path, error, warning);
  if (token && !warning.empty()) complain("warning: {}", warning);
  return token;
}

// A password from --password, else one line from stdin (without echo on a terminal).
std::optional<std::string> resolve_password(const Flags& flags) {
  if (flags.password_given) return flags.password;
  bool terminal = ::isatty(STDIN_FILENO) != 0;
  termios saved{};
  if (terminal) {
    std::fprintf(stderr, "new password for %s: ", flags.user.c_str());
    std::fflush(stderr);
    ::tcgetattr(STDIN_FILENO, &saved);
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  bool read = static_cast<bool>(std::getline(std::cin, line));
  if (terminal) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    std::fprintf(stderr, "\n");
  }
  if (!read) return std::nullopt;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

int report_failure(const Failures& failures, const AdminFailure& failure,
                   const std::string& where) {
  switch (failure.kind) {
    case AdminFailure::Kind::refused:
      return failures.fail(
          exit_refused, qim::errc_name(failure.code),
          fmt::format("the node at {} refused the admin token ({}: {}); give the cluster's "
                      "token with --token-file, --token, --cluster-key-file, QIMCTL_TOKEN or "
                      "--data-dir",
                      where, qim::errc_name(failure.code), failure.message));
    case AdminFailure::Kind::rejected:
      return failures.fail(exit_failure, qim::errc_name(failure.code), failure.message,
                           fmt::format(" ({})", qim::errc_name(failure.code)));
    case AdminFailure::Kind::unreachable:
      return failures.fail(exit_failure, "unreachable", failure.message);
    case AdminFailure::Kind::protocol:
      return failures.fail(exit_failure, "protocol", failure.message);
  }
  return exit_failure;
}

// Runs the chosen command against the node. Returns the exit status.
int run(const Flags& flags, const std::string& command, const std::string& user_action) {
  Failures failures(flags.json);
  std::string host;
  std::uint16_t port = 0;
  if (!parse_address(flags.admin, host, port)) {
    return failures.fail(
        exit_usage, "usage",
        fmt::format("--admin must be host:port (e.g. 127.0.0.1:7702), got '{}'", flags.admin));
  }
  std::string error;
  if (!flags.port_file.empty() && !read_port_file(flags.port_file, port, error)) {
    return failures.fail(exit_failure, "port_file", error);
  }
  if (!qim::auth::initialize()) {
    return failures.fail(exit_failure, "internal", "libsodium failed to initialise");
  }
  auto token = resolve_token(flags, error);
  if (!token) return failures.fail(exit_usage, "usage", error);
  std::optional<std::string> password;
  if (user_action == "create" || user_action == "reset-password") {
    password = resolve_password(flags);
    if (!password) {
      return failures.fail(exit_usage, "usage",
                           "no password: give --password or one line on standard input");
    }
  }

  std::string where = fmt::format("{}:{}", host, port);
  AdminClient client{std::chrono::milliseconds(flags.timeout_ms)};
  AdminFailure failure;
  std::string node_name, version;
  if (!client.connect(host, port, *token, node_name, version, failure)) {
    if (failure.kind == AdminFailure::Kind::refused && token->empty()) {
      return failures.fail(
          exit_refused, qim::errc_name(failure.code),
          fmt::format("the node at {} refused the admin connection: no admin token given (use "
                      "--token-file, --token, --cluster-key-file, QIMCTL_TOKEN or --data-dir)",
                      where));
    }
    return report_failure(failures, failure, where);
  }
  failures.set_node(node_name);

  qim::admin::AdminFrameBuilder builder;
  auto& fbb = builder.fbb();
  std::uint32_t req_id = client.next_req_id();
  std::span<const std::uint8_t> request;
  if (command == "members") {
    request = builder.finish(req_id, wire::CreateMembersRequest(fbb));
  } else if (command == "stats") {
    // --local names the node asked, so the answer is its row alone.
    std::string only = flags.local ? node_name : flags.stats_node;
    request =
        builder.finish(req_id, wire::CreateStatsRequestDirect(fbb, only.empty(), only.c_str()));
  } else if (command == "ring") {
    request = builder.finish(req_id, wire::CreateRingRequest(fbb));
  } else if (command == "online") {
    request = builder.finish(req_id, wire::CreateOnlineRequestDirect(
                                         fbb, flags.after.c_str(),
                                         static_cast<std::uint32_t>(flags.limit), !flags.local));
  } else if (command == "group" && flags.group_action == "list") {
    request =
        builder.finish(req_id, wire::CreateNameListRequestDirect(
                                   fbb, wire::NameKind::Groups, flags.prefix.c_str(),
                                   flags.after.c_str(), static_cast<std::uint32_t>(flags.limit)));
  } else if (command == "group" && flags.group_action == "dissolve") {
    request =
        builder.finish(req_id, wire::CreateGroupDissolveRequestDirect(fbb, flags.group.c_str()));
  } else if (command == "group") {
    request =
        builder.finish(req_id, wire::CreateGroupInspectRequestDirect(fbb, flags.group.c_str()));
  } else if (command == "leave") {
    request = builder.finish(req_id, wire::CreateLeaveRequest(fbb));
  } else if (command == "backup") {
    request = builder.finish(req_id,
                             wire::CreateBackupRequestDirect(fbb, flags.backup_directory.c_str()));
  } else if (command == "partitions") {
    request = builder.finish(req_id, wire::CreatePartitionsRequest(fbb));
  } else if (command == "where") {
    std::string key;
    for (const std::string& word : flags.where_key)
      key += (key.empty() ? "" : " ") + word;
    request = builder.finish(req_id, wire::CreateWhereRequestDirect(fbb, key.c_str()));
  } else if (user_action == "create") {
    request = builder.finish(
        req_id, wire::CreateUserCreateDirect(fbb, flags.user.c_str(), password->c_str()));
  } else if (user_action == "disable" || user_action == "enable") {
    request = builder.finish(req_id, wire::CreateUserSetDisabledDirect(fbb, flags.user.c_str(),
                                                                       user_action == "disable"));
  } else if (user_action == "kick") {
    request = builder.finish(
        req_id, wire::CreateUserKickDirect(fbb, flags.user.c_str(), flags.device.c_str()));
  } else if (user_action == "show") {
    request = builder.finish(req_id, wire::CreateUserShowRequestDirect(fbb, flags.user.c_str()));
  } else if (user_action == "list") {
    request =
        builder.finish(req_id, wire::CreateNameListRequestDirect(
                                   fbb, wire::NameKind::Users, flags.prefix.c_str(),
                                   flags.after.c_str(), static_cast<std::uint32_t>(flags.limit)));
  } else if (user_action == "delete") {
    request = builder.finish(req_id, wire::CreateUserDeleteDirect(fbb, flags.user.c_str()));
  } else {
    request = builder.finish(
        req_id, wire::CreateUserResetPasswordDirect(fbb, flags.user.c_str(), password->c_str()));
  }

  ReceivedReply reply;
  if (!client.call(request, reply, failure)) return report_failure(failures, failure, where);
  const wire::AdminEnvelope& envelope = *reply.envelope;
  std::string text;
  if (const auto* members = envelope.body_as_MembersResult()) {
    text = qim::ctl::render_members(*members, node_name, flags.json);
  } else if (const auto* ring = envelope.body_as_RingResult()) {
    text = qim::ctl::render_ring(*ring, node_name, flags.json);
  } else if (const auto* stats = envelope.body_as_StatsResult()) {
    bool one_node = flags.local || !flags.stats_node.empty();
    text = qim::ctl::render_stats(*stats, node_name, one_node, flags.json);
  } else if (const auto* online = envelope.body_as_OnlineResult()) {
    text = qim::ctl::render_online(*online, node_name, !flags.local, flags.json);
  } else if (const auto* group = envelope.body_as_GroupInspectResult()) {
    text = qim::ctl::render_group(*group, flags.json);
  } else if (const auto* partitions = envelope.body_as_PartitionsResult()) {
    text = qim::ctl::render_partitions(*partitions, node_name, flags.problems_only, flags.json);
  } else if (const auto* backup = envelope.body_as_BackupResult()) {
    text = qim::ctl::render_backup(*backup, flags.json);
  } else if (const auto* shown = envelope.body_as_UserShowResult()) {
    text = qim::ctl::render_user(*shown, flags.json);
  } else if (const auto* names = envelope.body_as_NameListResult()) {
    text = qim::ctl::render_names(*names, flags.json);
  } else if (envelope.body_as_AdminOk() != nullptr && command == "group") {
    text = qim::ctl::render_done("dissolve", "group", flags.group,
                                 fmt::format("dissolved group {}", flags.group), flags.json);
  } else if (const auto* where_result = envelope.body_as_WhereResult()) {
    text = qim::ctl::render_where(*where_result, node_name, flags.json);
  } else if (envelope.body_as_AdminOk() != nullptr && command == "leave") {
    text = qim::ctl::render_done(
        "leave", "node", node_name,
        fmt::format("node {} is leaving the cluster and shutting down", node_name), flags.json);
  } else if (envelope.body_as_AdminOk() != nullptr && command == "user") {
    static constexpr std::pair<std::string_view, std::string_view> done[] = {
        {"create", "created user"},
        {"disable", "disabled user"},
        {"enable", "enabled user"},
        {"kick", "ended every session of user"},
        {"reset-password", "reset the password of user"},
        {"delete", "deleted user"}};
    std::string summary;
    for (const auto& [action, words] : done) {
      if (action == user_action) summary = fmt::format("{} {}", words, flags.user);
    }
    if (user_action == "kick" && !flags.device.empty()) {
      summary = fmt::format("ended the sessions of user {} on device {} and revoked its token",
                            flags.user, flags.device);
    }
    text = qim::ctl::render_done(user_action, "user", flags.user, summary, flags.json);
  } else {
    return failures.fail(exit_failure, "protocol",
                         fmt::format("the node answered with an unexpected {}",
                                     wire::EnumNameAdminBody(envelope.body_type())));
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
  return std::fflush(stdout) == 0 ? exit_ok : exit_failure;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app{"qimctl: administer a qimd cluster through a node's admin endpoint", "qimctl"};
  app.option_defaults()->always_capture_default();
  app.fallthrough();
  app.require_subcommand(1);
  app.add_option("--admin", flags.admin, "The node's admin address, host:port");
  app.add_option("--port-file", flags.port_file,
                 "Take the admin port from this qimd port file ('admin <port>' line)");
  app.add_option("--token-file", flags.token_file, "File holding the node's admin token");
  app.add_option("--token", flags.token, "The admin token itself (visible in ps: prefer a file)");
  app.add_option("--data-dir", flags.data_directory,
                 "The node's data directory: read DIR/admin.token");
  app.add_option("--cluster-key-file", flags.cluster_key_file,
                 "The cluster key file: use the admin token every node derives from it");
  app.add_flag("--json", flags.json, "Print one JSON document instead of a table");
  app.add_option("--timeout-ms", flags.timeout_ms,
                 "Give up on a connection or an answer after this long")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{3'600'000}));

  app.add_subcommand("members", "Members of the cluster as the node asked sees them");
  app.add_subcommand("ring", "Each node's share of the keys, as this node routes them");
  auto* partitions =
      app.add_subcommand("partitions", "Every partition's leader, term, commit, replicas and lag");
  partitions->add_flag("--under-replicated", flags.problems_only,
                       "Only partitions that are under-replicated or without a leader");
  auto* where = app.add_subcommand(
      "where", "Where a key lives: a user id, d:<a>:<b>, g:<gid> or group <gid>");
  where->add_option("key", flags.where_key, "The key")->required();
  auto* stats = app.add_subcommand("stats", "Each live node's counters, a row per node");
  auto* stats_node =
      stats->add_option("--node", flags.stats_node, "Only this node, its counters one per line");
  stats->add_flag("--local", flags.local, "Only the node asked, its counters one per line")
      ->excludes(stats_node);
  auto* online = app.add_subcommand("online", "Users online in the cluster");
  online->add_flag("--local", flags.local, "Only the users online on the node asked");
  online->add_option("--after", flags.after, "Start after this user id (paging)");
  online->add_option("--limit", flags.limit, "Users per page, 1-1000 (default 100)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1000}));
  auto* user = app.add_subcommand(
      "user", "Show, list, create, disable, enable, kick, delete users; reset a password");
  user->require_subcommand(1);
  auto add_paging = [&flags](CLI::App* sub, std::string_view noun) {
    sub->add_option("--prefix", flags.prefix, fmt::format("Only {} ids starting with this", noun));
    sub->add_option("--after", flags.after, fmt::format("Start after this {} id (paging)", noun));
    sub->add_option("--limit", flags.limit, "Ids per page, 1-1000 (default 100)")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1000}));
  };
  add_paging(user->add_subcommand("list", "Users of the cluster, sorted, a page at a time"),
             "user");
  for (const char* action :
       {"create", "disable", "enable", "kick", "reset-password", "show", "delete"}) {
    auto* sub = user->add_subcommand(action);
    sub->add_option("user", flags.user, "User id")->required();
    if (std::string_view(action) == "create" || std::string_view(action) == "reset-password") {
      sub->add_option("--password", flags.password,
                      "The password (default: one line read from standard input)");
    }
  }
  user->get_subcommand("create")->description("Create a user");
  user->get_subcommand("disable")->description("Disable a user: end their sessions, refuse logins");
  user->get_subcommand("enable")->description("Enable a disabled user");
  user->get_subcommand("kick")->description(
      "End every session of a user and revoke their tokens (--device: only that device's)");
  user->get_subcommand("kick")->add_option("--device", flags.device,
                                           "Only this device's sessions and token");
  user->get_subcommand("show")->description(
      "A user's home, devices and sessions, friends, groups, state and creation time");
  user->get_subcommand("delete")->description(
      "Delete a user: sessions, friendships, group memberships (owned groups pass on), account");
  user->get_subcommand("reset-password")
      ->description("Set a new password; revokes tokens and ends sessions");
  auto* group = app.add_subcommand(
      "group", "Inspect (group [show] GID), list (group list) or dissolve (group dissolve GID)");
  group->add_option("group", flags.group, "Group id (as group show GID)");
  group->require_subcommand(0, 1);
  group->add_subcommand("show", "A group's owner, name, members and roles")
      ->add_option("group", flags.group, "Group id")
      ->required();
  group->add_subcommand("dissolve", "Dissolve a group, as its owner would")
      ->add_option("group", flags.group, "Group id")
      ->required();
  add_paging(group->add_subcommand("list", "Groups of the cluster, sorted, a page at a time"),
             "group");
  app.add_subcommand("leave", "Make the node leave the cluster gracefully and stop");
  app.add_subcommand("backup",
                     "Write a consistent copy of the node's store into DIR on the node's host")
      ->add_option("directory", flags.backup_directory,
                   "A new or empty directory (relative: to this directory, for a local node)")
      ->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    int code = app.exit(error);
    return code == 0 ? exit_ok : exit_usage;
  }

  std::string command = app.get_subcommands().front()->get_name();
  std::string user_action;
  if (command == "user") {
    user_action = user->get_subcommands().front()->get_name();
    if (user_action == "create" || user_action == "reset-password") {
      flags.password_given = user->get_subcommands().front()->count("--password") > 0;
    }
  }
  Failures failures(flags.json);
  if (!flags.user.empty() && !qim::is_valid_id(flags.user)) {
    return failures.fail(
        exit_usage, "invalid_argument",
        fmt::format("user: '{}' is not 1-32 characters of [a-z0-9_.-]", flags.user));
  }
  if (command == "group") {
    flags.group_action =
        group->get_subcommands().empty() ? "show" : group->get_subcommands().front()->get_name();
  }
  if (!flags.prefix.empty() && !qim::is_valid_id(flags.prefix)) {
    return failures.fail(
        exit_usage, "invalid_argument",
        fmt::format("--prefix: '{}' is not 1-32 characters of [a-z0-9_.-]", flags.prefix));
  }
  if (flags.device.size() > qim::max_device_length) {
    return failures.fail(exit_usage, "invalid_argument",
                         fmt::format("--device: at most {} bytes", qim::max_device_length));
  }
  if (command == "group" && flags.group_action != "list" && !qim::is_valid_id(flags.group)) {
    return failures.fail(
        exit_usage, "invalid_argument",
        fmt::format("group: '{}' is not 1-32 characters of [a-z0-9_.-]", flags.group));
  }
  if (command == "backup" && !flags.backup_directory.empty() &&
      flags.backup_directory.front() != '/') {
    std::error_code error;
    auto absolute = std::filesystem::absolute(flags.backup_directory, error);
    if (error) {
      return failures.fail(exit_usage, "usage",
                           fmt::format("directory: cannot make {} absolute: {}",
                                       flags.backup_directory, error.message()));
    }
    flags.backup_directory = absolute.lexically_normal().string();
  }
  return run(flags, command, user_action);
}
