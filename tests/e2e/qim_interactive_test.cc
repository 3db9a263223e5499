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
    if (!at) return false;
    seen_ = *at;
    return true;
  }
  void type(const std::string& keys) { REQUIRE(pty_.type(keys)); }
  const std::string& screen() const { return pty_.output(); }
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

}  // namespace qim::e2e
