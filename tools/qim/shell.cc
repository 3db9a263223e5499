#include "shell.h"

#include <chrono>

#include <fmt/core.h>

#include "command_help.h"
#include "conversation.h"
#include "human_format.h"
#include "qim/ids.h"

namespace qim::cli {

Shell::Shell(ShellOptions options, Printer& printer)
    : options_(std::move(options)),
      printer_(printer),
      client_([&] {
        ClientOptions client_options;
        client_options.request_timeout = options_.timeout;
        client_options.connect_timeout = options_.timeout;
        client_options.auto_reconnect = options_.auto_reconnect;
        client_options.tls = options_.tls;
        // What was shown is acked, so another session of this device starts after it. Script
        // mode shows every event; the interactive screen acks what it shows in full itself.
        client_options.auto_ack = printer.format() != OutputFormat::human;
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
  std::string conversation = current_conversation();
  if (conversation.empty()) return fmt::format("{}@{}> ", client_.user(), client_.node());
  return fmt::format("{}@{} → {}> ", client_.user(), client_.node(),
                     conversation_name(conversation, client_.user()));
}

std::string Shell::current_conversation() const {
  std::lock_guard lock(current_mutex_);
  return current_;
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
  for (const auto& help : command_help()) {
    if (std::string_view(help.usage).starts_with(command)) {
      return fail(command, "usage", fmt::format("usage: {}", help.usage));
    }
  }
  return fail(command, "usage", "bad arguments (try help)");
}

bool Shell::execute(std::string_view line) {
  ParsedLine parsed = parse_line(line, !current_conversation().empty());
  switch (parsed.kind) {
    case LineKind::blank:
      return true;
    case LineKind::invalid:
      return fail("parse", "usage", parsed.text);
    case LineKind::enter:
      return cmd_enter(parsed.text);
    case LineKind::leave:
      return cmd_leave();
    case LineKind::message:
      return cmd_say(parsed.text);
    case LineKind::command:
      break;
  }
  return run_line(parsed.text);
}

bool Shell::run_line(std::string_view line) {
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
  if (name == "convs") return cmd_convs(args);
  if (name == "whoami") return cmd_whoami(args);
  if (name == "clear") return cmd_clear(args);
  if (name.starts_with('g') && name != "groups") return cmd_group(name, args);
  if (name.starts_with('f')) return cmd_friend(name, args);

  if (name == "logout") {
    auto flags = parse_flags(args, {}, {"--all"});
    if (!flags.error.empty() || !flags.positional.empty()) return usage(name);
    auto done = client_.logout(flags.has("--all"));
    if (!done) return fail(name, done.error());
    {
      std::lock_guard lock(current_mutex_);
      current_.clear();
    }
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
  device_ = info->device;
  {
    std::lock_guard lock(current_mutex_);
    current_.clear();
  }
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

bool Shell::print_help(const Args& args) {
  if (args.size() > 1) return usage("help");
  std::string_view wanted = args.empty() ? std::string_view() : std::string_view(args[0].text);
  auto matches = [&](const CommandHelp& help) { return help_matches(help.usage, wanted); };
  if (printer_.format() == OutputFormat::json) {
    for (const auto& help : command_help()) {
      if (matches(help))
        printer_.result(Record("help").add("usage", help.usage).add("what", help.what));
    }
    return true;
  }
  std::string text = wanted.empty() ? "commands:\n" : std::string();
  for (const auto& help : command_help()) {
    if (matches(help)) text += fmt::format("  {}\n      {}\n", help.usage, help.what);
  }
  if (text.empty()) {
    return fail("help", "usage", fmt::format("no command '{}' (help lists them all)", wanted));
  }
  if (wanted.empty() && printer_.format() == OutputFormat::human) {
    text += "names with spaces go in quotes: gcreate team -n \"Team Rocket\"\n";
    text += "in a conversation (:c bob) plain lines are messages and commands start with /\n";
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

}  // namespace qim::cli
