// The qim terminal client as a person uses it: on a pseudo-terminal, typing keys and reading
// the screen (tests/e2e/pty_process.h).
#include <catch2/catch.hpp>

#include "e2e_support.h"
#include "pty_process.h"

namespace qim::e2e {
namespace {

// A qim on a terminal, as `user` of `server`, in a home directory of its own and with no
// locale in the environment (as on a minimal server or in a container).
class InteractiveQim {
 public:
  InteractiveQim(const TempDir& dir, const ServerProcess& server,
                 std::vector<std::string> extra_args = {}, std::string home = {}) {
    home_ = home.empty() ? dir.file("home") : std::move(home);
    std::vector<std::string> argv = {qim_path(), "--server", server.address(), "--timeout-ms",
                                     "15000"};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    std::string error;
    bool started =
        pty_.start(argv, {{"HOME", home_}, {"TERM", "xterm"}, {"PATH", "/usr/bin:/bin"}}, error);
    INFO(error);
    REQUIRE(started);
    REQUIRE(expect("> "));
  }

  // Waits for `text` on the screen after everything already matched; REQUIREs it.
  bool expect(const std::string& text) {
    auto at = pty_.expect(text, seen_);
    if (!at) {
      UNSCOPED_INFO("expected '" << text << "' after:\n" << pty_.output().substr(seen_));
      return false;
    }
    seen_ = *at;
    return true;
  }
  void type(const std::string& keys) { REQUIRE(pty_.type(keys)); }
  const std::string& screen() const { return pty_.output(); }
  // Logs in through the password prompt (so the password never shows).
  void login(const std::string& user) {
    type("login " + user + "\r");
    REQUIRE(expect("password for " + user + ": "));
    type(std::string(test_password) + "\r");
    REQUIRE(expect("logged in as " + user));
    REQUIRE(expect(user + "@qim-e2e> "));
  }
  std::optional<int> wait_exit() { return pty_.wait(std::chrono::seconds(15)); }

 private:
  PtyProcess pty_;
  std::string home_;
  std::size_t seen_ = 0;
};

}  // namespace

TEST_CASE("qim keeps Chinese, accents and emoji typed on a terminal", "[e2e][cli][pty]") {
  auto server = started_server();
  register_user(*server, "alice");
  register_user(*server, "bob");
  auto bob = logged_in_client(*server, "bob");
  {
    auto alice = logged_in_client(*server, "alice", "setup");
    make_friends(*alice, *bob);
  }
  TempDir dir;
  InteractiveQim alice(dir, *server);
  alice.type("login alice " + std::string(test_password) + "\r");
  INFO(alice.screen());
  REQUIRE(alice.expect("alice@qim-e2e> "));
  const std::string text = "héllo wörld 你好 😀";
  alice.type("bob;;" + text + "\r");
  auto message = next_message(*bob, "d:alice:bob");
  REQUIRE(message);
  CHECK(message->body == text);
  // Ctrl-D once the prompt is back after the sent message's echo, as a person would.
  REQUIRE(alice.expect("alice → bob › " + text));
  REQUIRE(alice.expect("alice@qim-e2e> "));
  alice.type("\x04");
  CHECK(alice.wait_exit() == 0);
}

TEST_CASE("qim's terminal screen is for people: names, times, sentences, no secrets",
          "[e2e][cli][pty]") {
  auto server = started_server();
  register_user(*server, "alice");
  register_user(*server, "bob");
  auto bob = logged_in_client(*server, "bob");
  {
    auto alice = logged_in_client(*server, "alice", "setup");
    make_friends(*alice, *bob);
  }
  TempDir dir;
  InteractiveQim alice(dir, *server);
  // No password on the line: it is asked for with echo off.
  alice.type("login alice\r");
  REQUIRE(alice.expect("password for alice: "));
  alice.type(std::string(test_password) + "\r");
  INFO(alice.screen());
  REQUIRE(alice.expect("logged in as alice on qim-e2e"));
  REQUIRE(alice.expect("alice@qim-e2e> "));

  REQUIRE(bob->send_to_user("alice", "hi alice 😀"));
  REQUIRE(alice.expect("bob › hi alice 😀"));
  alice.type("bob;;hello bob\r");
  REQUIRE(alice.expect("alice → bob › hello bob"));
  REQUIRE(next_message(*bob, "d:alice:bob"));

  // A message arriving while a line is half typed goes above it; the line survives.
  alice.type("bob;;half ");
  REQUIRE(alice.expect("half "));
  REQUIRE(bob->send_to_user("alice", "interrupting"));
  REQUIRE(alice.expect("bob › interrupting"));
  REQUIRE(alice.expect("alice@qim-e2e> bob;;half "));
  alice.type("typed\r");
  auto whole = next_message(*bob, "d:alice:bob");
  REQUIRE(whole);
  CHECK(whole->body == "half typed");

  alice.type("fadd nosuchuser\r");
  REQUIRE(alice.expect("✗ "));
  alice.type("help fadd\r");
  REQUIRE(alice.expect("send a friend request"));
  REQUIRE(alice.expect("alice@qim-e2e> "));

  alice.type("\x04");
  CHECK(alice.wait_exit() == 0);
  const std::string& screen = alice.screen();
  CHECK(screen.find(test_password) == std::string::npos);
  CHECK(screen.find("token") == std::string::npos);
  CHECK(screen.find("d:alice:bob") == std::string::npos);
  CHECK(screen.find("seq=") == std::string::npos);
  // libedit shows the Ctrl-D it takes as the end; qim clears that line before leaving.
  auto shown = screen.rfind("^D");
  INFO(screen.substr(screen.size() > 300 ? screen.size() - 300 : 0));
  CHECK((shown == std::string::npos || screen.find("\r\033[2K", shown) != std::string::npos));
}

TEST_CASE("two people chat in conversation mode in Chinese with emoji, with unread counts",
          "[e2e][cli][pty]") {
  auto server = started_server();
  register_user(*server, "alice");
  register_user(*server, "bob");
  {
    auto alice = logged_in_client(*server, "alice", "setup");
    auto bob = logged_in_client(*server, "bob", "setup");
    make_friends(*alice, *bob);
  }
  TempDir dir;
  InteractiveQim alice(dir, *server, {}, dir.file("home-alice"));
  InteractiveQim bob(dir, *server, {}, dir.file("home-bob"));
  alice.login("alice");
  bob.login("bob");

  // alice enters the conversation: the prompt names it, plain lines go there.
  alice.type(":c bob\r");
  REQUIRE(alice.expect("talking with bob (no messages yet)"));
  REQUIRE(alice.expect("alice@qim-e2e → bob> "));
  const std::string hello = "你好 bob 😀";
  const std::string lunch = "今天一起吃午饭吗？🍜🍜";
  alice.type(hello + "\r");
  REQUIRE(alice.expect("alice › " + hello));
  REQUIRE(alice.expect("alice@qim-e2e → bob> "));
  alice.type(lunch + "\r");
  REQUIRE(alice.expect("alice › " + lunch));

  // bob, outside any conversation, gets one-line notices; they stay unread.
  REQUIRE(bob.expect("✉ "));
  REQUIRE(bob.expect("alice › " + hello));
  REQUIRE(bob.expect("alice › " + lunch));
  bob.type("convs\r");
  REQUIRE(bob.expect("  alice  2 unread"));
  REQUIRE(bob.expect("alice › " + lunch));
  REQUIRE(bob.expect("2 unread — :c NAME opens a conversation"));
  REQUIRE(bob.expect("bob@qim-e2e> "));

  // Entering shows them and reads them; his reply reaches alice in her conversation.
  bob.type(":c alice\r");
  REQUIRE(bob.expect("alice › " + hello));
  REQUIRE(bob.expect("alice › " + lunch));
  REQUIRE(bob.expect("talking with alice"));
  REQUIRE(bob.expect("bob@qim-e2e → alice> "));
  const std::string reply = "好的！👍 十二点见";
  bob.type(reply + "\r");
  REQUIRE(bob.expect("bob › " + reply));
  REQUIRE(alice.expect("bob › " + reply));
  REQUIRE(bob.expect("bob@qim-e2e → alice> "));
  bob.type("/convs\r");
  REQUIRE(bob.expect("  alice  all read"));
  REQUIRE(bob.expect("bob@qim-e2e → alice> "));

  // alice leaves; her list has the reply as the last message and nothing unread.
  alice.type("/part\r");
  REQUIRE(alice.expect("left the conversation with bob"));
  REQUIRE(alice.expect("alice@qim-e2e> "));
  alice.type("convs\r");
  REQUIRE(alice.expect("  bob  all read"));
  REQUIRE(alice.expect("bob › " + reply));
  alice.type("whoami\r");
  REQUIRE(alice.expect("alice on qim-e2e · device "));
  REQUIRE(alice.expect("plain TCP"));
  REQUIRE(alice.expect("alice@qim-e2e> "));

  alice.type("\x04");
  bob.type("\x04");
  CHECK(alice.wait_exit() == 0);
  CHECK(bob.wait_exit() == 0);
  for (const std::string* screen : {&alice.screen(), &bob.screen()}) {
    CHECK(screen->find("d:alice:bob") == std::string::npos);
    CHECK(screen->find("seq=") == std::string::npos);
    CHECK(screen->find("token") == std::string::npos);
    CHECK(screen->find(test_password) == std::string::npos);
  }
}

}  // namespace qim::e2e
