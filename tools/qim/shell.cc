#include "shell.h"

#include <algorithm>
#include <charconv>
#include <map>

#include <fmt/core.h>

#include "human_format.h"
#include "qim/ids.h"

namespace qim::cli {
namespace {

// Events kept for `wait` beyond which the oldest are forgotten.
constexpr std::size_t max_seen_events = 10'000;
// A `wait` may not ask for more than this many events.
constexpr std::uint64_t max_wait_count = 100'000;

struct CommandHelp {
  const char* usage;
  const char* what;
};

constexpr CommandHelp command_help[] = {
    {"register <user> <password>  |  register -u <user> -p <password>", "create an account"},
    {"login <user> [<password>]  |  login -u <user> [-p <password>]  |  login -u <user> -t "
     "<token>",
     "log in (then shows offline messages); without a password: QIM_PASSWORD, or it asks"},
    {"logout [--all]", "end this session (--all: every device)"},
    {"passwd [<old> <new>]",
     "change the password (asks for both when not given); "
     "signs out your other devices"},
    {"fadd <user>", "send a friend request"},
    {"faccept <user>", "accept a friend request"},
    {"fdecline <user>", "decline a friend request"},
    {"fdel <user>", "remove a friend"},
    {"fls", "list friends and requests"},
    {"gcreate <group> [-n name] [-us u1,u2]", "create a group"},
    {"gls -g <group>", "list a group's members"},
    {"gpush -g <group> -us <u1,u2,...>", "add members to a group"},
    {"gkick -g <group> -u <user>", "remove a member"},
    {"gadmin -g <group> -u <user> [--off]", "make a member admin (or not)"},
    {"gleave -g <group>", "leave a group"},
    {"gdissolve -g <group>", "dissolve a group (owner)"},
    {"groups", "list my groups"},
    {"send -r <user> -m <text>", "send a direct message (the rest of the line is the text)"},
    {"send -g <group> -m <text>", "send to a group"},
    {"<user>;;<text>", "quick direct message"},
    {"history <user|#group|-g group|conversation> [--before seq] [--limit n]", "page back"},
    {"sync", "list conversations with head and read seqs"},
    {"olu | :olu [after] [limit]", "online users: count and a page"},
    {"wait <msg|friend|presence|group|reconnected|disconnected|redirected> [key=value...] "
     "[count=N] [timeout_ms=T]",
     "block until N matching events arrived (keys: from, conv, text, user, group, kind)"},
    {"ping", "round trip to the server"},
    {"help [command] | :all", "this list, or one command's usage"},
    {":q | quit | exit", "leave"},
};

bool parse_number(std::string_view text, std::uint64_t& value) {
  if (text.empty()) return false;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size();
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> items;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    if (comma > start) items.emplace_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return items;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ',';
    out += item;
  }
  return out;
}

// Flags of one command: each known flag takes a value, except the listed switches.
struct Flags {
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;
  std::vector<std::string> switches;
  std::string error;

  bool has(std::string_view name) const {
    return std::find(switches.begin(), switches.end(), name) != switches.end();
  }
  std::string value(const std::string& name) const {
    auto it = values.find(name);
    return it == values.end() ? std::string() : it->second;
  }
};

Flags parse_flags(const std::vector<Token>& args, std::initializer_list<std::string_view> valued,
                  std::initializer_list<std::string_view> switches = {}) {
  Flags flags;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& word = args[i].text;
    if (word.size() < 2 || word[0] != '-') {
      flags.positional.push_back(word);
      continue;
    }
    if (std::find(switches.begin(), switches.end(), word) != switches.end()) {
      flags.switches.push_back(word);
      continue;
    }
    if (std::find(valued.begin(), valued.end(), word) == valued.end()) {
      flags.error = fmt::format("unknown flag '{}'", word);
      return flags;
    }
    if (i + 1 >= args.size()) {
      flags.error = fmt::format("flag '{}' needs a value", word);
      return flags;
    }
    flags.values[word] = args[++i].text;
  }
  return flags;
}

const char* friend_event_type(FriendEventKind kind) {
  switch (kind) {
    case FriendEventKind::requested:
      return "friend-request";
    case FriendEventKind::accepted:
      return "friend-accept";
    case FriendEventKind::declined:
      return "friend-decline";
    case FriendEventKind::removed:
      return "friend-remove";
  }
  return "friend-event";
}

// `wait friend` matches every friend-* event; `wait group` every group-event.
bool type_matches(std::string_view wanted, const std::string& type) {
  if (wanted == type) return true;
  if (wanted == "friend") return type.starts_with("friend-");
  if (wanted == "group") return type == "group-event";
  return false;
}

}  // namespace

bool tokenize(std::string_view line, std::vector<Token>& tokens, std::string& error) {
  tokens.clear();
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
      ++i;
    if (i >= line.size()) break;
    Token token;
    token.offset = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') {
      char c = line[i];
      if (c == '"' || c == '\'') {
        std::size_t close = line.find(c, i + 1);
        if (close == std::string_view::npos) {
          error = fmt::format("unterminated {} quote", c == '"' ? "double" : "single");
          return false;
        }
        token.text.append(line.substr(i + 1, close - i - 1));
        i = close + 1;
      } else {
        token.text += c;
        ++i;
      }
    }
    tokens.push_back(std::move(token));
  }
  return true;
}

Shell::Shell(ShellOptions options, Printer& printer)
    : options_(std::move(options)),
      printer_(printer),
      client_([&] {
        ClientOptions client_options;
        client_options.request_timeout = options_.timeout;
        client_options.connect_timeout = options_.timeout;
        client_options.auto_reconnect = options_.auto_reconnect;
        client_options.tls = options_.tls;
        // The terminal acks what it shows, so another session of this device starts after it.
        client_options.auto_ack = true;
        client_options.client_name = "qim 0.1.0";
        return client_options;
      }()),
      event_thread_([this](std::stop_token stop) { event_loop(stop); }) {}

Shell::~Shell() {
  event_thread_.request_stop();
  if (event_thread_.joinable()) event_thread_.join();
  client_.close();
}

bool Shell::connect() {
  auto connected = client_.connect(options_.host, options_.port);
  if (!connected) return fail("connect", connected.error());
  return true;
}

std::string Shell::prompt() const {
  if (auto status = client_.reconnect_status(); status.active) {
    auto left = std::chrono::ceil<std::chrono::seconds>(status.next_attempt -
                                                        std::chrono::steady_clock::now());
    return reconnecting_prompt(client_.user(), status.node, status.attempt, left.count());
  }
  if (!client_.logged_in()) return "qim> ";
  return fmt::format("{}@{}> ", client_.user(), client_.node());
}

CompletionNames Shell::completion_names() {
  constexpr auto fresh_for = std::chrono::seconds(5);
  auto now = std::chrono::steady_clock::now();
  if (!client_.logged_in() || now - names_fetched_ < fresh_for) return names_;
  names_fetched_ = now;
  if (auto friends = client_.friends()) {
    names_.friends.clear();
    for (const auto& entry : friends.value())
      names_.friends.push_back(entry.user);
  }
  if (auto groups = client_.my_groups()) {
    names_.groups.clear();
    for (const auto& group : groups.value())
      names_.groups.push_back(group.group);
  }
  return names_;
}

bool Shell::fail(std::string_view command, std::string_view code, std::string_view message) {
  ++failures_;
  printer_.result(
      Record("error").add("code", code).add("command", command).add("message", message));
  return false;
}

bool Shell::fail(std::string_view command, const Error& error) {
  return fail(command, errc_name(error.code), error.message);
}

bool Shell::usage(std::string_view command) {
  for (const auto& help : command_help) {
    if (std::string_view(help.usage).starts_with(command)) {
      return fail(command, "usage", fmt::format("usage: {}", help.usage));
    }
  }
  return fail(command, "usage", "bad arguments (try help)");
}

bool Shell::execute(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n'))
    line.remove_suffix(1);
  std::size_t first = line.find_first_not_of(" \t");
  if (first == std::string_view::npos || line[first] == '#') return true;
  line.remove_prefix(first);

  // CIM's quick direct message: "<user>;;<text>".
  if (std::size_t separator = line.find(";;"); separator != std::string_view::npos) {
    std::string_view user = line.substr(0, separator);
    if (is_valid_id(user)) return cmd_quick_send(line, separator);
  }
  std::vector<Token> tokens;
  std::string error;
  if (!tokenize(line, tokens, error)) return fail("parse", "usage", error);
  std::string name = tokens.front().text;
  tokens.erase(tokens.begin());
  return run(name, tokens, line);
}

bool Shell::run(std::string_view name, const Args& args, std::string_view line) {
  if (name == "help" || name == ":all") return print_help(args);
  if (name == ":q" || name == "quit" || name == "exit") {
    quit_requested_ = true;
    return true;
  }
  if (name == "register") return cmd_register(args);
  if (name == "login") return cmd_login(args);
  if (name == "send") return cmd_send(args, line);
  if (name == "history") return cmd_history(args);
  if (name == "wait") return cmd_wait(args);
  if (name.starts_with('g') && name != "groups") return cmd_group(name, args);
  if (name.starts_with('f')) return cmd_friend(name, args);

  if (name == "logout") {
    auto flags = parse_flags(args, {}, {"--all"});
    if (!flags.error.empty() || !flags.positional.empty()) return usage(name);
    auto done = client_.logout(flags.has("--all"));
    if (!done) return fail(name, done.error());
    printer_.result(Record("ok").add("command", "logout"));
    return true;
  }
  if (name == "passwd") return cmd_passwd(args);
  if (name == "groups") {
    if (!args.empty()) return usage(name);
    auto groups = client_.my_groups();
    if (!groups) return fail(name, groups.error());
    for (const auto& group : groups.value()) {
      printer_.result(Record("group")
                          .add("group", group.group)
                          .add("name", group.name)
                          .add("owner", group.owner)
                          .add("members", std::uint64_t{group.member_count})
                          .add("role", group_role_name(group.role)));
    }
    printer_.result(Record("ok").add("command", "groups").add("count", groups->size()));
    return true;
  }
  if (name == "sync") {
    if (!args.empty()) return usage(name);
    auto states = client_.sync();
    if (!states) return fail(name, states.error());
    for (const auto& state : states.value()) {
      printer_.result(Record("conv")
                          .add("conv", state.conversation)
                          .add("head", state.head_seq)
                          .add("read", state.read_seq)
                          .add("first", state.first_seq)
                          .add("peer", state.peer));
    }
    printer_.result(Record("ok").add("command", "sync").add("count", states->size()));
    return true;
  }
  if (name == "olu" || name == ":olu") {
    if (args.size() > 2) return usage("olu");
    std::uint64_t limit = 0;
    if (args.size() == 2 && (!parse_number(args[1].text, limit) || limit > 1000)) {
      return usage("olu");
    }
    auto page = client_.online_users(args.empty() ? std::string_view() : args[0].text,
                                     static_cast<std::uint32_t>(limit));
    if (!page) return fail("olu", page.error());
    printer_.result(Record("ok")
                        .add("command", "olu")
                        .add("total", page->total)
                        .add("count", page->users.size())
                        .add("more", page->more)
                        .add("users", join(page->users)));
    return true;
  }
  if (name == "ping") {
    if (!args.empty()) return usage(name);
    auto start = std::chrono::steady_clock::now();
    auto pong = client_.ping();
    if (!pong) return fail(name, pong.error());
    auto rtt = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - start);
    printer_.result(Record("ok")
                        .add("command", "ping")
                        .add("rtt_us", static_cast<std::uint64_t>(rtt.count()))
                        .add("server_time_ms", pong.value()));
    return true;
  }
  return fail(name, "usage", fmt::format("unknown command '{}' (try :all)", name));
}

bool Shell::cmd_register(const Args& args) {
  auto flags = parse_flags(args, {"-u", "-p"});
  if (!flags.error.empty()) return fail("register", "usage", flags.error);
  std::string user = flags.value("-u"), password = flags.value("-p");
  std::size_t next = 0;
  if (user.empty() && next < flags.positional.size()) user = flags.positional[next++];
  if (password.empty() && next < flags.positional.size()) password = flags.positional[next++];
  if (user.empty() || password.empty() || next != flags.positional.size()) {
    return usage("register");
  }
  if (!client_.connected() && !connect()) return false;
  auto done = client_.register_user(user, password);
  if (!done) return fail("register", done.error());
  printer_.result(Record("ok").add("command", "register").add("user", user));
  return true;
}

bool Shell::cmd_login(const Args& args) {
  auto flags = parse_flags(args, {"-u", "-p", "-t", "-d"});
  if (!flags.error.empty()) return fail("login", "usage", flags.error);
  std::string user = flags.value("-u"), password = flags.value("-p"), token = flags.value("-t");
  std::size_t next = 0;
  if (user.empty() && next < flags.positional.size()) user = flags.positional[next++];
  if (password.empty() && token.empty() && next < flags.positional.size()) {
    password = flags.positional[next++];
  }
  if (!user.empty() && password.empty() && token.empty() && next == flags.positional.size()) {
    // No secret on the line: QIM_PASSWORD, else ask (interactive), so it is never typed visibly.
    if (!options_.env_password.empty()) {
      password = options_.env_password;
    } else if (options_.read_secret) {
      auto typed = options_.read_secret(fmt::format("password for {}: ", user));
      if (!typed || typed->empty()) return fail("login", "usage", "no password given");
      password = std::move(*typed);
    }
  }
  if (user.empty() || (password.empty() == token.empty()) || next != flags.positional.size()) {
    return usage("login");
  }
  std::string device = flags.value("-d").empty() ? options_.device : flags.value("-d");
  return login(user, password, token, device);
}

bool Shell::login(const std::string& user, const std::string& password, const std::string& token,
                  const std::string& device) {
  if (!client_.connected() && !connect()) return false;
  auto info = token.empty() ? client_.login(user, password, device)
                            : client_.login_with_token(user, token, device);
  if (!info) return fail("login", info.error());
  printer_.set_self(info->user);
  printer_.result(Record("ok")
                      .add("command", "login")
                      .add("user", info->user)
                      .add("node", info->node)
                      .add("device", info->device)
                      .add("token", info->token));
  // Offline messages: everything after this device's read cursor, printed by the event
  // thread as it arrives.
  auto backlog = client_.deliver_backlog();
  if (!backlog) return fail("login", backlog.error());
  printer_.result(Record("ok").add("command", "backlog").add("count", backlog.value()));
  return true;
}

bool Shell::report_send(const Result<SendAck>& ack, std::string_view text) {
  if (!ack) return fail("send", ack.error());
  printer_.result(Record("sent")
                      .add("conv", ack->conversation)
                      .add("seq", ack->seq)
                      .add("id", ack->client_msg_id)
                      .add("duplicate", ack->duplicate)
                      .hide("text", std::string(text))
                      .hide("time_ms", std::to_string(ack->server_time_ms)));
  return true;
}

bool Shell::cmd_quick_send(std::string_view line, std::size_t separator) {
  std::string_view user = line.substr(0, separator);
  std::string_view text = line.substr(separator + 2);
  if (text.empty()) return fail("send", "usage", "usage: <user>;;<text> (the text is empty)");
  return report_send(client_.send_to_user(user, text), text);
}

bool Shell::cmd_send(const Args& args, std::string_view line) {
  // Everything after -m is the text, verbatim (one quoted word is unquoted).
  auto text_flag =
      std::find_if(args.begin(), args.end(), [](const Token& token) { return token.text == "-m"; });
  if (text_flag == args.end()) return usage("send");
  std::string text;
  std::size_t rest = text_flag->offset + 2;
  if (rest < line.size()) {
    std::string_view raw = line.substr(rest);
    raw.remove_prefix(std::min(raw.find_first_not_of(" \t"), raw.size()));
    bool one_quoted_word = std::next(text_flag) + 1 == args.end() && !raw.empty() &&
                           (raw.front() == '"' || raw.front() == '\'');
    text = one_quoted_word ? std::next(text_flag)->text : std::string(raw);
  }
  Args before(args.begin(), text_flag);
  auto flags = parse_flags(before, {"-r", "-g"});
  if (!flags.error.empty()) return fail("send", "usage", flags.error);
  std::string user = flags.value("-r"), group = flags.value("-g");
  if (user.empty() == group.empty() || !flags.positional.empty()) return usage("send");
  if (text.empty()) return fail("send", "usage", "usage: send -r <user> -m <text> (empty text)");
  return report_send(
      user.empty() ? client_.send_to_group(group, text) : client_.send_to_user(user, text), text);
}

bool Shell::cmd_history(const Args& args) {
  auto flags = parse_flags(args, {"-g", "--before", "--limit"});
  if (!flags.error.empty()) return fail("history", "usage", flags.error);
  std::uint64_t before = 0, limit = 20;
  if (!flags.value("--before").empty() && !parse_number(flags.value("--before"), before)) {
    return usage("history");
  }
  if (!flags.value("--limit").empty() &&
      (!parse_number(flags.value("--limit"), limit) || limit == 0 || limit > 1000)) {
    return usage("history");
  }
  std::vector<std::string> candidates;
  std::string group = flags.value("-g");
  if (!group.empty()) {
    if (!flags.positional.empty()) return usage("history");
    candidates.push_back(group_conversation(group));
  } else {
    if (flags.positional.size() != 1) return usage("history");
    const std::string& target = flags.positional.front();
    if (target.starts_with('#') && is_valid_id(std::string_view(target).substr(1))) {
      candidates.push_back(group_conversation(std::string_view(target).substr(1)));
    } else if (parse_conversation(target)) {
      candidates.push_back(target);
    } else if (is_valid_id(target)) {
      // A bare name: a direct conversation with that user first, else a group of that name.
      if (client_.user().empty()) return fail("history", "not_authenticated", "log in first");
      candidates.push_back(direct_conversation(client_.user(), target));
      candidates.push_back(group_conversation(target));
    } else {
      return fail("history", "usage",
                  fmt::format("'{}' is not a user, group or conversation", target));
    }
  }
  std::optional<Result<MessagePage>> first_answer;
  for (const auto& conversation : candidates) {
    auto page = client_.history(conversation, before, static_cast<std::uint32_t>(limit));
    bool useful = page.ok() && !page->messages.empty();
    if (!first_answer) first_answer.emplace(page);
    if (useful || &conversation == &candidates.back()) {
      if (!page.ok() && first_answer->ok()) page = *first_answer;
      if (!page) return fail("history", page.error());
      for (const auto& message : page->messages) {
        printer_.result(Record("hist")
                            .add("conv", message.conversation)
                            .add("seq", message.seq)
                            .add("from", message.sender)
                            .add("text", message.body)
                            .hide("time_ms", std::to_string(message.server_time_ms)));
      }
      printer_.result(
          Record("ok")
              .add("command", "history")
              .add("conv", page->conversation.empty() ? conversation : page->conversation)
              .add("count", page->messages.size())
              .add("more", page->more)
              .hide("first", page->messages.empty() ? std::string()
                                                    : std::to_string(page->messages.front().seq)));
      return true;
    }
  }
  return true;
}

bool Shell::cmd_group(std::string_view name, const Args& args) {
  if (name == "gcreate") {
    auto flags = parse_flags(args, {"-n", "-us", "-g"});
    if (!flags.error.empty()) return fail(name, "usage", flags.error);
    std::string group = flags.value("-g");
    if (group.empty() && flags.positional.size() == 1) group = flags.positional.front();
    if (group.empty() || flags.positional.size() > (flags.value("-g").empty() ? 1u : 0u)) {
      return usage(name);
    }
    auto members = split_list(flags.value("-us"));
    auto done = client_.group_create(group, flags.value("-n"), members);
    if (!done) return fail(name, done.error());
    printer_.result(Record("ok").add("command", "gcreate").add("group", group));
    return true;
  }
  if (name == "gls") {
    auto flags = parse_flags(args, {"-g"});
    std::string group = flags.value("-g");
    if (group.empty() && flags.positional.size() == 1) group = flags.positional.front();
    if (!flags.error.empty() || group.empty()) return usage(name);
    auto members = client_.group_members(group);
    if (!members) return fail(name, members.error());
    for (const auto& member : members->members) {
      printer_.result(Record("member")
                          .add("group", group)
                          .add("user", member.user)
                          .add("role", group_role_name(member.role))
                          .add("online", member.online)
                          .add("joined_seq", member.joined_seq));
    }
    printer_.result(Record("ok")
                        .add("command", "gls")
                        .add("group", group)
                        .add("name", members->info.name)
                        .add("owner", members->info.owner)
                        .add("count", members->members.size()));
    return true;
  }
  if (name == "gpush") {
    auto flags = parse_flags(args, {"-g", "-us"});
    auto users = split_list(flags.value("-us"));
    if (!flags.error.empty() || flags.value("-g").empty() || users.empty() ||
        !flags.positional.empty()) {
      return usage(name);
    }
    auto done = client_.group_add(flags.value("-g"), users);
    if (!done) return fail(name, done.error());
    printer_.result(Record("ok")
                        .add("command", "gpush")
                        .add("group", flags.value("-g"))
                        .add("users", join(users)));
    return true;
  }
  if (name == "gkick" || name == "gadmin") {
    auto flags = parse_flags(args, {"-g", "-u"}, {"--off"});
    if (!flags.error.empty() || flags.value("-g").empty() || flags.value("-u").empty() ||
        !flags.positional.empty() || (name == "gkick" && flags.has("--off"))) {
      return usage(name);
    }
    auto done = name == "gkick" ? client_.group_remove(flags.value("-g"), flags.value("-u"))
                                : client_.group_set_role(
                                      flags.value("-g"), flags.value("-u"),
                                      flags.has("--off") ? GroupRole::member : GroupRole::admin);
    if (!done) return fail(name, done.error());
    printer_.result(Record("ok")
                        .add("command", name)
                        .add("group", flags.value("-g"))
                        .add("user", flags.value("-u")));
    return true;
  }
  if (name == "gleave" || name == "gdissolve") {
    auto flags = parse_flags(args, {"-g"});
    std::string group = flags.value("-g");
    if (group.empty() && flags.positional.size() == 1) group = flags.positional.front();
    if (!flags.error.empty() || group.empty()) return usage(name);
    auto done = name == "gleave" ? client_.group_leave(group) : client_.group_dissolve(group);
    if (!done) return fail(name, done.error());
    printer_.result(Record("ok").add("command", name).add("group", group));
    return true;
  }
  return fail(name, "usage", fmt::format("unknown command '{}' (try :all)", name));
}

bool Shell::cmd_friend(std::string_view name, const Args& args) {
  if (name == "fls") {
    if (!args.empty()) return usage(name);
    auto friends = client_.friends();
    if (!friends) return fail(name, friends.error());
    for (const auto& entry : friends.value()) {
      printer_.result(Record("friend")
                          .add("user", entry.user)
                          .add("state", friend_state_name(entry.state))
                          .add("online", entry.online));
    }
    printer_.result(Record("ok").add("command", "fls").add("count", friends->size()));
    return true;
  }
  bool known = name == "fadd" || name == "faccept" || name == "fdecline" || name == "fdel";
  if (!known) return fail(name, "usage", fmt::format("unknown command '{}' (try :all)", name));
  if (args.size() != 1) return usage(name);
  const std::string& user = args.front().text;
  Result<void> done = name == "fadd"       ? client_.friend_request(user)
                      : name == "faccept"  ? client_.friend_accept(user)
                      : name == "fdecline" ? client_.friend_decline(user)
                                           : client_.friend_remove(user);
  if (!done) return fail(name, done.error());
  printer_.result(Record("ok").add("command", name).add("user", user));
  return true;
}

bool Shell::cmd_wait(const Args& args) {
  if (args.empty()) return usage("wait");
  std::string type = args.front().text;
  static constexpr std::string_view types[] = {
      "msg",           "friend",         "presence",     "group",
      "reconnected",   "disconnected",   "redirected",   "friend-request",
      "friend-accept", "friend-decline", "friend-remove"};
  if (std::find(std::begin(types), std::end(types), type) == std::end(types)) {
    return fail("wait", "usage", fmt::format("cannot wait for '{}'", type));
  }
  std::uint64_t count = 1;
  auto timeout = options_.timeout;
  std::vector<std::pair<std::string, std::string>> wanted;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& word = args[i].text;
    std::size_t equals = word.find('=');
    if (equals == std::string::npos || equals == 0) {
      return fail("wait", "usage", fmt::format("expected key=value, got '{}'", word));
    }
    std::string key = word.substr(0, equals), value = word.substr(equals + 1);
    std::uint64_t number = 0;
    if (key == "count") {
      if (!parse_number(value, number) || number == 0 || number > max_wait_count) {
        return fail("wait", "usage", "count must be 1..100000");
      }
      count = number;
    } else if (key == "timeout_ms") {
      if (!parse_number(value, number) || number > 3'600'000) {
        return fail("wait", "usage", "timeout_ms must be 0..3600000");
      }
      timeout = std::chrono::milliseconds(number);
    } else {
      wanted.emplace_back(std::move(key), std::move(value));
    }
  }
  auto matches = [&](const Record& record) {
    if (!type_matches(type, record.type())) return false;
    for (const auto& [key, value] : wanted) {
      if (record.get(key) != value) return false;
    }
    return true;
  };
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::uint64_t got = 0;
  std::unique_lock lock(seen_mutex_);
  while (got < count) {
    auto it = std::find_if(seen_events_.begin(), seen_events_.end(), matches);
    if (it != seen_events_.end()) {
      seen_events_.erase(it);
      ++got;
      continue;
    }
    if (seen_changed_.wait_until(lock, deadline) == std::cv_status::timeout &&
        std::none_of(seen_events_.begin(), seen_events_.end(), matches)) {
      lock.unlock();
      return fail(
          "wait", "timeout",
          fmt::format("got {} of {} '{}' events within {} ms", got, count, type, timeout.count()));
    }
  }
  lock.unlock();
  printer_.result(Record("ok").add("command", "wait").add("type", type).add("count", got));
  return true;
}

bool Shell::print_help(const Args& args) {
  if (args.size() > 1) return usage("help");
  std::string_view wanted = args.empty() ? std::string_view() : std::string_view(args[0].text);
  // A command's entries: those whose usage starts with it or names it after a '|'.
  auto matches = [&](const CommandHelp& help) {
    if (wanted.empty()) return true;
    std::string_view usage = help.usage;
    for (std::size_t at = 0; at < usage.size();) {
      std::size_t begin = usage.find_first_not_of(" |", at);
      if (begin == std::string_view::npos) break;
      std::string_view word = usage.substr(begin, usage.find_first_of(" |", begin) - begin);
      if (word == wanted) return true;
      std::size_t bar = usage.find('|', begin);
      if (bar == std::string_view::npos) break;
      at = bar + 1;
    }
    return false;
  };
  if (printer_.format() == OutputFormat::json) {
    for (const auto& help : command_help) {
      if (matches(help))
        printer_.result(Record("help").add("usage", help.usage).add("what", help.what));
    }
    return true;
  }
  std::string text = wanted.empty() ? "commands:\n" : std::string();
  for (const auto& help : command_help) {
    if (matches(help)) text += fmt::format("  {}\n      {}\n", help.usage, help.what);
  }
  if (text.empty()) {
    return fail("help", "usage", fmt::format("no command '{}' (help lists them all)", wanted));
  }
  if (wanted.empty() && printer_.format() == OutputFormat::human) {
    text += "names with spaces go in quotes: gcreate team -n \"Team Rocket\"\n";
  }
  text.pop_back();
  printer_.plain(text);
  return true;
}

bool Shell::cmd_passwd(const Args& args) {
  std::string old_password, new_password;
  if (args.size() == 2) {
    old_password = args[0].text;
    new_password = args[1].text;
  } else if (args.empty() && options_.read_secret) {
    auto old_typed = options_.read_secret("current password: ");
    auto new_typed = old_typed ? options_.read_secret("new password: ") : std::nullopt;
    auto again = new_typed ? options_.read_secret("new password again: ") : std::nullopt;
    if (!again || old_typed->empty() || new_typed->empty()) {
      return fail("passwd", "usage", "no password given");
    }
    if (*again != *new_typed) return fail("passwd", "usage", "the new passwords differ");
    old_password = std::move(*old_typed);
    new_password = std::move(*new_typed);
  } else {
    return usage("passwd");
  }
  auto done = client_.change_password(old_password, new_password);
  if (!done) return fail("passwd", done.error());
  printer_.result(Record("ok").add("command", "passwd"));
  return true;
}

Record Shell::describe(const Event& event) const {
  struct Visitor {
    Record operator()(const MessageEvent& event) const {
      return Record("msg")
          .add("conv", event.message.conversation)
          .add("seq", event.message.seq)
          .add("from", event.message.sender)
          .add("text", event.message.body)
          .hide("time_ms", std::to_string(event.message.server_time_ms));
    }
    Record operator()(const FriendEvent& event) const {
      return Record(friend_event_type(event.kind)).add("from", event.user);
    }
    Record operator()(const PresenceEvent& event) const {
      return Record("presence").add("user", event.user).add("online", event.online);
    }
    Record operator()(const GroupEvent& event) const {
      return Record("group-event")
          .add("group", event.group)
          .add("kind", group_event_kind_name(event.kind))
          .add("user", event.user)
          .add("by", event.by);
    }
    Record operator()(const DisconnectedEvent& event) const {
      return Record("disconnected")
          .add("code", errc_name(event.code))
          .add("reconnect", event.will_reconnect)
          .add("node", event.node)
          .add("message", event.message);
    }
    Record operator()(const ReconnectedEvent& event) const {
      return Record("reconnected").add("node", event.node).add("missed", event.missed_messages);
    }
    Record operator()(const RedirectedEvent& event) const {
      return Record("redirected")
          .add("host", event.host)
          .add("port", std::uint64_t{event.port})
          .add("node", event.node);
    }
  };
  return std::visit(Visitor{}, event);
}

void Shell::event_loop(const std::stop_token& stop) {
  while (!stop.stop_requested()) {
    auto event = client_.next_event(std::chrono::milliseconds(100));
    if (!event) continue;
    Record record = describe(*event);
    // Printed first, so a script sees the event line before the `ok wait` it unblocks.
    printer_.event(record);
    {
      std::lock_guard lock(seen_mutex_);
      if (seen_events_.size() >= max_seen_events) seen_events_.pop_front();
      seen_events_.push_back(std::move(record));
    }
    seen_changed_.notify_all();
  }
}

}  // namespace qim::cli
