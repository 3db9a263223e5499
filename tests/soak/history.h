#pragma once
// The soak's history: everything the workload, the nemesis and the read-back saw, as typed
// records. A run writes them as JSON lines (HistoryWriter) and the checker reads them back
// (parse_history), so a saved history can be checked again. Times are milliseconds since the
// run started (a steady clock), so records from different threads compare.
#include <cstdint>
#include <fstream>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "qim/errc.h"

namespace qim::soak {

// How the run was set up; the first record.
struct RunRecord {
  std::uint64_t seed = 0;
  std::uint32_t nodes = 0;
  std::uint32_t users = 0;
  std::uint32_t groups = 0;
  double rate = 0;
  std::string faults;
  std::int64_t duration_ms = 0;
  std::vector<std::string> qimd_args;
  std::int64_t leave_bound_ms = 0;  // how long a SIGTERM'd node may take to exit
};

// A run phase began: setup, run, drain, settle, readback, done.
struct PhaseRecord {
  std::string name;
  std::int64_t at_ms = 0;
};

// One attempt of one message (a retry is another attempt with the same client_msg_id).
struct SendAttempt {
  std::string user;
  std::string conversation;   // the conversation the workload addressed ("d:a:b", "g:id")
  std::string to_user;        // set for a direct message
  std::string to_group;       // set for a group message
  std::uint64_t counter = 0;  // per sender, increasing with each new message
  std::uint64_t client_msg_id = 0;
  std::string body;
  std::uint32_t attempt = 1;
  std::int64_t start_ms = 0;
  std::int64_t end_ms = 0;
  std::string node;      // the node the client was connected to when the attempt began
  errc code = errc::ok;  // ok: acknowledged
  std::string message;
  // When acknowledged.
  std::string ack_conversation;
  std::uint64_t seq = 0;
  std::uint64_t server_time_ms = 0;
  bool duplicate = false;
};

// Any other request: register, login, friend and group changes, acks, reads.
struct Operation {
  std::string op;  // register, login, friend_request, friend_accept, friend_remove,
                   // group_create, group_add, group_remove, ack, pull, friends, group_members
  std::string user;
  std::string target;                // the other user, the group, or the conversation
  std::vector<std::string> members;  // group_create / group_add
  std::uint64_t op_id = 0;           // attempts of one logical operation share it
  std::uint32_t attempt = 1;
  std::uint64_t seq = 0;  // ack
  std::int64_t start_ms = 0;
  std::int64_t end_ms = 0;
  std::string node;
  std::string phase;  // setup, run, final
  errc code = errc::ok;
  std::string message;
};

// A message the client library handed to the application.
struct Delivery {
  std::string user;
  std::string session;  // the Client it came through (one per user and phase)
  std::int64_t at_ms = 0;
  std::string conversation;
  std::uint64_t seq = 0;
  std::string sender;
  std::uint64_t client_msg_id = 0;
  std::string body;
  bool live = true;  // pushed; false: pulled by a backlog delivery or a resync
};

struct ConversationView {
  std::string conversation;
  std::uint64_t head_seq = 0;
  std::uint64_t read_seq = 0;
  std::uint64_t first_seq = 0;
};

// A successful sync. phase "session_end": the workload's session, logged in and quiet at the
// end of the run (its deliveries are then complete up to these heads); "final": the read-back.
struct SyncRecord {
  std::string user;
  std::string device;
  std::string session;
  std::string phase;
  std::int64_t start_ms = 0;
  std::int64_t end_ms = 0;
  std::vector<ConversationView> conversations;
};

struct StoredMessage {
  std::uint64_t seq = 0;
  std::string sender;
  std::uint64_t client_msg_id = 0;
  std::string body;
};

// A conversation read by one of its participants: at the end from seq 0 in pages (phase
// "final"), or during the run one page after after_seq (phase "run").
struct ReadBack {
  std::string conversation;
  std::string reader;
  std::int64_t at_ms = 0;  // when the read ended
  bool complete = false;   // false: a page failed (code, message)
  errc code = errc::ok;
  std::string message;
  std::vector<StoredMessage> messages;
  std::string phase = "final";
  std::int64_t start_ms = 0;  // when the read began
  std::uint64_t after_seq = 0;
  bool more = false;  // run reads: the server said more follows
};

struct FriendEntry {
  std::string user;
  std::string state;  // none, pending_out, pending_in, accepted
};

// A user's friend list at the end.
struct FriendListRecord {
  std::string user;
  std::int64_t at_ms = 0;
  errc code = errc::ok;
  std::string message;
  std::vector<FriendEntry> friends;
};

// A group's roster at the end, as one member sees it.
struct RosterRecord {
  std::string group;
  std::string reader;
  std::int64_t at_ms = 0;
  errc code = errc::ok;
  std::string message;
  std::vector<std::string> members;
};

// A fault the nemesis injected. end_ms is 0 while it lasts (a fault_start record).
struct FaultRecord {
  std::uint32_t id = 0;
  std::string kind;  // kill, stop, term, join
  std::string node;
  std::int64_t start_ms = 0;
  std::int64_t end_ms = 0;
  // term and join: whether SIGTERM went out (a joined node may still be a member at the end),
  // and how the node exited.
  bool terminated = false;
  bool exited = false;
  int exit_code = -1;
  int signal = 0;
  std::int64_t leave_ms = 0;
  std::string note;
};

// A node process ended. expected: the nemesis or the harness ended it.
struct ProcessExit {
  std::string node;
  std::int64_t at_ms = 0;
  bool expected = false;
  int exit_code = -1;  // -1: died of a signal
  int signal = 0;
};

// A suspicious line of a node's log (assertion, sanitizer, abort).
struct LogProblem {
  std::string node;
  std::string line;
};

// The client library's connection events for a session.
struct ConnectionEvent {
  std::string user;
  std::string session;
  std::int64_t at_ms = 0;
  std::string kind;  // disconnected, reconnected, caught_up, catch_up_failed, gave_up, relogin
  errc code = errc::ok;
  std::string message;
};

struct History {
  RunRecord run;
  std::vector<PhaseRecord> phases;
  std::vector<SendAttempt> sends;
  std::vector<Operation> operations;
  std::vector<Delivery> deliveries;
  std::vector<SyncRecord> syncs;
  std::vector<ReadBack> read_backs;
  std::vector<FriendListRecord> friend_lists;
  std::vector<RosterRecord> rosters;
  std::vector<FaultRecord> faults;  // ended faults (and started ones never ended)
  std::vector<ProcessExit> exits;
  std::vector<LogProblem> log_problems;
  std::vector<ConnectionEvent> connections;
  std::size_t bad_lines = 0;  // lines that were not a known record
};

// One JSON line per record.
std::string to_json_line(const RunRecord& record);
std::string to_json_line(const PhaseRecord& record);
std::string to_json_line(const SendAttempt& record);
std::string to_json_line(const Operation& record);
std::string to_json_line(const Delivery& record);
std::string to_json_line(const SyncRecord& record);
std::string to_json_line(const ReadBack& record);
std::string to_json_line(const FriendListRecord& record);
std::string to_json_line(const RosterRecord& record);
std::string to_json_line(const FaultRecord& record, bool started);
std::string to_json_line(const ProcessExit& record);
std::string to_json_line(const LogProblem& record);
std::string to_json_line(const ConnectionEvent& record);

// Adds the record on `line` to `history`; false (and bad_lines counted) for anything else.
bool parse_history_line(std::string_view line, History& history);
// Reads a whole history file; false when it cannot be opened.
bool read_history(const std::string& path, History& history, std::string& error);

// Appends records to the history file; safe to call from any thread (one mutex, a line is
// written whole). Owned by the run; outlives every thread that records.
class HistoryWriter {
 public:
  // False (with `error`) when the file cannot be created.
  bool open(const std::string& path, std::string& error);
  template <typename Record>
  void write(const Record& record) {
    append(to_json_line(record));
  }
  void write_fault(const FaultRecord& record, bool started) {
    append(to_json_line(record, started));
  }
  void flush();

 private:
  void append(const std::string& line);
  std::mutex mutex_;
  std::ofstream out_;  // GUARDED_BY(mutex_)
};

}  // namespace qim::soak
