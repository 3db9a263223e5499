#pragma once
// The admin protocol's decisions, without I/O: one AdminDispatcher per admin connection turns
// each received frame into a reply frame and a directive for the connection (keep reading,
// close, or start the node's leave once the reply is out). It talks to the node only through
// AdminHooks.
//
// Protocol state: a connection is unauthenticated until an AdminHello carries the right
// token. Until then every other frame, a wrong token and a malformed frame get an AdminError
// and a close.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "admin/admin_frame.h"
#include "admin/admin_hooks.h"

namespace qim::admin {

// Online pages larger than this are clamped.
inline constexpr std::uint32_t max_online_limit = 1000;
inline constexpr std::uint32_t default_online_limit = 100;

// A key for `qimctl where`: a user id, "d:<a>:<b>" (either order), "g:<gid>" or
// "group <gid>". Sets the placement key and its kind (user, direct, group); an error naming the
// key otherwise.
Error parse_where_key(std::string_view key, std::string& placement_key, std::string& kind);

struct AdminReply {
  enum class After : std::uint8_t {
    keep_open,  // wait for the next request
    close,      // close once the reply is written
    leave,      // write the reply, then call AdminHooks::request_leave()
  };
  std::vector<std::uint8_t> frame;  // length prefix included
  After after = After::keep_open;
};

// Owned by one admin connection; not thread-safe. `hooks` and `expected_token` outlive it.
class AdminDispatcher {
 public:
  AdminDispatcher(AdminHooks& hooks, const std::string& expected_token, std::string_view version);

  // Handles one frame payload (the bytes after the length prefix), verifying it first.
  // REQUIRES: payload.data() is 8-byte aligned.
  AdminReply handle(std::span<const std::uint8_t> payload);

  bool authenticated() const { return authenticated_; }

 private:
  AdminReply hello(std::uint32_t req_id, const admin_wire::AdminHello& request);
  AdminReply request(const admin_wire::AdminEnvelope& envelope);
  AdminReply members(std::uint32_t req_id);
  AdminReply ring(std::uint32_t req_id);
  AdminReply stats(std::uint32_t req_id, const admin_wire::StatsRequest& request);
  AdminReply online(std::uint32_t req_id, const admin_wire::OnlineRequest& request);
  AdminReply group(std::uint32_t req_id, const admin_wire::GroupInspectRequest& request);
  AdminReply partitions(std::uint32_t req_id);
  AdminReply backup(std::uint32_t req_id, const admin_wire::BackupRequest& request);
  AdminReply show_user(std::uint32_t req_id, const admin_wire::UserShowRequest& request);
  AdminReply list_names(std::uint32_t req_id, const admin_wire::NameListRequest& request);
  AdminReply where(std::uint32_t req_id, const admin_wire::WhereRequest& request);
  // AdminOk, or AdminError when `error` is set.
  AdminReply outcome(std::uint32_t req_id, const Error& error);
  AdminReply error(std::uint32_t req_id, errc code, std::string_view message,
                   AdminReply::After after = AdminReply::After::keep_open);
  template <typename T>
  AdminReply finish(std::uint32_t req_id, flatbuffers::Offset<T> body,
                    AdminReply::After after = AdminReply::After::keep_open);

  AdminHooks& hooks_;
  const std::string& expected_token_;
  const std::string version_;
  bool authenticated_ = false;
  AdminFrameBuilder builder_;
};

}  // namespace qim::admin
