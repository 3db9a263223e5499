// RaftLog: stable storage plus the unstable tail, conflicts, and the Ready bookkeeping.
#include <catch2/catch.hpp>

#include "replication/raft/log.h"
#include "replication/raft/memory_storage.h"

using namespace qim::replication::raft;

namespace {

Entry entry(Index index, Term term, std::string data = "x") {
  return Entry{term, index, EntryKind::normal, std::move(data)};
}

// A storage with entries 1..terms.size() at the given terms (snapshot at 0).
MemoryStorage stored(const std::vector<Term>& terms) {
  MemoryStorage storage;
  std::vector<Entry> entries;
  for (std::size_t k = 0; k < terms.size(); ++k)
    entries.push_back(entry(k + 1, terms[k]));
  storage.append(std::move(entries));
  return storage;
}

std::vector<Entry> entries_at(Index first, const std::vector<Term>& terms) {
  std::vector<Entry> out;
  for (std::size_t k = 0; k < terms.size(); ++k)
    out.push_back(entry(first + k, terms[k]));
  return out;
}

std::vector<Term> terms_of(const RaftLog& log) {
  std::vector<Term> terms;
  for (Index i = log.first_index(); i <= log.last_index(); ++i)
    terms.push_back(*log.term(i));
  return terms;
}

}  // namespace

TEST_CASE("appends match, skip what is known, and truncate conflicts", "[raft][log]") {
  struct Case {
    Index index;
    Term log_term;
    std::vector<Term> entries;  // from index + 1
    std::optional<Index> last_new;
    std::vector<Term> after;
  };
  // The stored log is 1:1 2:2 3:3.
  const std::vector<Case> cases = {
      {3, 2, {4}, std::nullopt, {1, 2, 3}},   // previous term mismatch
      {4, 3, {4}, std::nullopt, {1, 2, 3}},   // previous index missing
      {3, 3, {}, 3, {1, 2, 3}},               // heartbeat-like
      {3, 3, {4, 4}, 5, {1, 2, 3, 4, 4}},     // plain append
      {2, 2, {3}, 3, {1, 2, 3}},              // duplicate
      {2, 2, {3, 4}, 4, {1, 2, 3, 4}},        // duplicate then new
      {1, 1, {4}, 2, {1, 4}},                 // conflict truncates
      {1, 1, {2}, 2, {1, 2, 3}},              // shorter, consistent: keep the rest
      {0, 0, {1, 2, 5, 5}, 4, {1, 2, 5, 5}},  // conflict in the middle
  };
  for (const Case& c : cases) {
    INFO("append after " << c.index << "/" << c.log_term);
    MemoryStorage storage = stored({1, 2, 3});
    RaftLog log(storage, 1, 0);
    CHECK(log.maybe_append(c.index, c.log_term, entries_at(c.index + 1, c.entries)) == c.last_new);
    CHECK(terms_of(log) == c.after);
    CHECK(log.check_invariants().empty());
  }
}

TEST_CASE("find_conflict_by_term skips whole terms", "[raft][log]") {
  // Log: 1:1 2:1 3:2 4:2 5:2 6:5 7:5
  MemoryStorage storage = stored({1, 1, 2, 2, 2, 5, 5});
  RaftLog log(storage, 0, 0);
  struct Case {
    Index index;
    Term term;
    Index want_index;
    Term want_term;
  };
  const std::vector<Case> cases = {
      {7, 5, 7, 5}, {7, 4, 5, 2}, {7, 2, 5, 2}, {7, 1, 2, 1}, {7, 0, 0, 0},
      {4, 5, 4, 2}, {4, 1, 2, 1}, {9, 3, 5, 2}, {0, 3, 0, 0},
  };
  for (const Case& c : cases) {
    INFO(c.index << "/" << c.term);
    const auto [index, term] = log.find_conflict_by_term(c.index, c.term);
    CHECK(index == c.want_index);
    CHECK(term == c.want_term);
  }
}

TEST_CASE("find_conflict_by_term stops at the compaction point", "[raft][log]") {
  MemoryStorage storage = stored({1, 1, 2, 2, 2, 5, 5});
  storage.set_snapshot(SnapshotMeta{4, 2, {}});
  storage.compact(5);  // entries 5.. remain; term of 4 is known
  RaftLog log(storage, 4, 4);
  CHECK(log.find_conflict_by_term(7, 3) == std::pair<Index, Term>{5, 2});
  CHECK(log.find_conflict_by_term(7, 1) == std::pair<Index, Term>{4, 0});
}

TEST_CASE("entries come from storage and the tail within a byte budget", "[raft][log]") {
  MemoryStorage storage = stored({1, 1, 2});
  RaftLog log(storage, 3, 3);
  log.append(entry(4, 2));
  log.append(entry(5, 3));
  std::vector<Entry> out;
  log.entries(2, 6, SIZE_MAX, out);
  REQUIRE(out.size() == 4);
  CHECK(out.front().index == 2);
  CHECK(out.back().index == 5);
  out.clear();
  log.entries(2, 6, 2 * entry_bytes(entry(1, 1)), out);
  CHECK(out.size() == 2);
  out.clear();
  log.entries(2, 6, 1, out);  // at least one
  CHECK(out.size() == 1);
  out.clear();
  log.entries(3, 6, 2 * entry_bytes(entry(1, 1)), out);  // crosses into the tail
  REQUIRE(out.size() == 2);
  CHECK(out.back().index == 4);
}

TEST_CASE("entries become stable only when persisted as handed out", "[raft][log]") {
  MemoryStorage storage = stored({1});
  RaftLog log(storage, 1, 1);
  REQUIRE(log.maybe_append(1, 1, entries_at(2, {2, 2, 2})) == Index{4});
  std::vector<Entry> handed;
  log.take_entries_to_persist(handed);
  REQUIRE(handed.size() == 3);
  CHECK_FALSE(log.has_entries_to_persist());
  // While the shell writes them, a new leader's append replaces 3 and 4.
  REQUIRE(log.maybe_append(2, 2, entries_at(3, {3})) == Index{3});
  CHECK(log.has_entries_to_persist());
  storage.append(std::move(handed));
  log.stable_to(4, 2);  // entry 4 (term 2) is gone: nothing becomes stable
  std::vector<Entry> next;
  log.take_entries_to_persist(next);
  REQUIRE(next.size() == 1);
  CHECK(next.front().index == 3);
  CHECK(next.front().term == 3);
  storage.append(std::move(next));
  log.stable_to(3, 3);
  CHECK(log.last_index() == 3);
  CHECK(storage.last_index() == 3);
  CHECK(terms_of(log) == std::vector<Term>{1, 2, 3});
  CHECK(log.check_invariants().empty());
}

TEST_CASE("committed entries are handed out once, in order, within a budget", "[raft][log]") {
  MemoryStorage storage = stored({1, 1, 1, 1});
  RaftLog log(storage, 1, 1);
  CHECK_FALSE(log.has_committed_to_hand_out());
  log.commit_to(4);
  std::vector<Entry> out;
  log.take_committed(entry_bytes(entry(1, 1)) * 2, out);
  REQUIRE(out.size() == 2);
  CHECK(out.front().index == 2);
  CHECK(log.applying() == 3);
  CHECK(log.applied() == 1);
  out.clear();
  log.take_committed(SIZE_MAX, out);
  REQUIRE(out.size() == 1);
  CHECK(out.front().index == 4);
  log.applied_to(4);
  CHECK(log.applied() == 4);
  CHECK_FALSE(log.has_committed_to_hand_out());
}

TEST_CASE("restoring a snapshot hides the old log until it is installed", "[raft][log]") {
  MemoryStorage storage = stored({1, 1, 2});
  RaftLog log(storage, 2, 2);
  log.restore(SnapshotMeta{10, 4, {{1, 2}, {}}});
  CHECK(log.first_index() == 11);
  CHECK(log.last_index() == 10);
  CHECK(log.committed() == 10);
  CHECK(log.term(10) == Term{4});
  CHECK_FALSE(log.term(3));  // the old log is not readable any more
  CHECK(log.has_snapshot_to_persist());
  REQUIRE(log.maybe_append(10, 4, entries_at(11, {4})) == Index{11});
  const SnapshotMeta meta = log.take_snapshot_to_persist();
  std::vector<Entry> handed;
  log.take_entries_to_persist(handed);
  storage.install_snapshot(meta);
  storage.append(std::move(handed));
  log.stable_snapshot_to(10);
  log.stable_to(11, 4);
  CHECK(log.term(10) == Term{4});
  CHECK(log.last_index() == 11);
  CHECK(log.check_invariants().empty());
}

TEST_CASE("up-to-date compares last terms, then lengths", "[raft][log]") {
  MemoryStorage storage = stored({1, 2, 2});
  RaftLog log(storage, 0, 0);
  CHECK(log.is_up_to_date(3, 2));
  CHECK(log.is_up_to_date(4, 2));
  CHECK_FALSE(log.is_up_to_date(2, 2));
  CHECK(log.is_up_to_date(1, 3));
  CHECK_FALSE(log.is_up_to_date(9, 1));
}
