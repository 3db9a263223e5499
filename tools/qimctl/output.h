#pragma once
// qimctl's output: each verified reply as an aligned human table, or as one JSON document
// (--json). Pure formatting: strings out, nothing printed here.
#include <cstdint>
#include <string>
#include <string_view>

#include "admin/admin_frame.h"

namespace qim::ctl {

// "850ms", "12s", "3m12s", "2h5m", "3d4h".
std::string format_duration(std::uint64_t milliseconds);
// "1.5 MiB" style sizes.
std::string format_bytes(std::uint64_t bytes);

// Each returns the whole text to print (ending in a newline). `node` is the answering node.
std::string render_members(const admin_wire::MembersResult& result, std::string_view node,
                           bool json);
// A row per node, or with `detail` (one node asked) that node's counters one per line.
std::string render_stats(const admin_wire::StatsResult& result, std::string_view node, bool detail,
                         bool json);
std::string render_ring(const admin_wire::RingResult& result, std::string_view node, bool json);
// `cluster`: the request asked every live member (the text says how many answered).
std::string render_online(const admin_wire::OnlineResult& result, std::string_view node,
                          bool cluster, bool json);
std::string render_group(const admin_wire::GroupInspectResult& result, bool json);
std::string render_backup(const admin_wire::BackupResult& result, bool json);
std::string render_user(const admin_wire::UserShowResult& result, bool json);
// A page of user or group ids; warns when some partitions did not answer.
std::string render_names(const admin_wire::NameListResult& result, bool json);
// A row per partition (with `problems_only`, only the under-replicated ones) and a summary.
std::string render_partitions(const admin_wire::PartitionsResult& result, std::string_view node,
                              bool problems_only, bool json);
std::string render_where(const admin_wire::WhereResult& result, std::string_view node, bool json);
// A failure: `message` for humans (written to stderr by the caller), or with `json` one JSON
// document {"ok":false,"error":{"code":...,"message":...}} for stdout.
std::string render_error(std::string_view code, std::string_view message, std::string_view node,
                         bool json);
// For requests answered with AdminOk: `summary` for humans ("disabled user alice"), and a JSON
// object {"ok":true,"action":...,"user"/"node":...}.
std::string render_done(std::string_view action, std::string_view subject_key,
                        std::string_view subject, std::string_view summary, bool json);

}  // namespace qim::ctl
