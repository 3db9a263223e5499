// AdminRelay's user and group administration beyond single-user changes: showing a user,
// listing users and groups, purging a deleted user's records, dissolving a group. See
// admin_relay.h for the threading of serving and asking.
#include <asio/use_future.hpp>

#include <fmt/core.h>

#include "node/admin_relay.h"
#include "proto/peer_frame.h"
#include "qim/ids.h"

namespace qim::node {
namespace {

using peer_wire::PeerKind;

std::vector<std::string> strings_of(
    const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>* vector) {
  std::vector<std::string> values;
  if (vector == nullptr) return values;
  values.reserve(vector->size());
  for (const auto* value : *vector)
    values.emplace_back(proto::view(value));
  return values;
}

std::vector<std::uint32_t> numbers_of(const flatbuffers::Vector<std::uint32_t>* vector) {
  return vector == nullptr ? std::vector<std::uint32_t>()
                           : std::vector<std::uint32_t>(vector->begin(), vector->end());
}

}  // namespace

// --- Answering ---------------------------------------------------------------------------------

asio::awaitable<std::vector<std::uint8_t>> AdminRelay::serve(
    const peer_wire::AdminUserShowQuery& query) {
  proto::PeerFrameBuilder builder;
  std::string user(proto::view(query.user()));
  if (!is_valid_id(user)) {
    co_return builder.error(0, PeerKind::Reply, errc::invalid_argument,
                            "user: not 1-32 characters of [a-z0-9_.-]");
  }
  admin::UserShowView view;
  // On the blocking pool: the user's friends and groups are gathered from every node.
  Error outcome = co_await asio::co_spawn(
      blocking_,
      [this, &user, &view]() -> asio::awaitable<Error> { co_return local_.show_user(user, view); },
      asio::use_awaitable);
  if (outcome) co_return builder.error(0, PeerKind::Reply, outcome.code, outcome.message);
  auto& fbb = builder.fbb();
  std::vector<flatbuffers::Offset<peer_wire::AdminUserDevice>> devices;
  devices.reserve(view.devices.size());
  for (const admin::DeviceView& device : view.devices) {
    devices.push_back(
        peer_wire::CreateAdminUserDeviceDirect(fbb, device.device.c_str(), device.sessions,
                                               device.token_created_ms, device.token_last_used_ms));
  }
  auto groups = fbb.CreateVectorOfStrings(view.groups);
  auto name = fbb.CreateString(view.user);
  auto device_vector = fbb.CreateVector(devices);
  co_return builder.finish_owned(0, PeerKind::Reply,
                                 peer_wire::CreateAdminUserShowResult(
                                     fbb, name, view.partition, view.created_ms, view.disabled,
                                     device_vector, view.sessions, view.friends, groups));
}

asio::awaitable<std::vector<std::uint8_t>> AdminRelay::serve(
    const peer_wire::AdminNameListQuery& query) {
  proto::PeerFrameBuilder builder;
  std::string_view prefix = proto::view(query.prefix());
  std::string_view after = proto::view(query.after());
  if ((!prefix.empty() && !is_valid_id(prefix)) || (!after.empty() && !is_valid_id(after)) ||
      query.kind() > static_cast<std::uint8_t>(admin::NameKind::groups) || query.limit() == 0 ||
      query.limit() > 1000) {
    co_return builder.error(0, PeerKind::Reply, errc::invalid_argument,
                            "a name list needs valid ids, a kind and a limit of 1-1000");
  }
  // Cheap (one bounded scan per partition led): answered here.
  service::NamePage page =
      local_.names_here(static_cast<admin::NameKind>(query.kind()), prefix, after, query.limit());
  auto& fbb = builder.fbb();
  auto names = fbb.CreateVectorOfStrings(page.names);
  auto partitions = fbb.CreateVector(page.partitions);
  co_return builder.finish_owned(0, PeerKind::Reply,
                                 peer_wire::CreateAdminNameListResult(fbb, names, partitions));
}

asio::awaitable<std::vector<std::uint8_t>> AdminRelay::serve(
    const peer_wire::AdminUserPurge& purge) {
  proto::PeerFrameBuilder builder;
  std::string user(proto::view(purge.user()));
  if (!is_valid_id(user)) {
    co_return builder.error(0, PeerKind::Reply, errc::invalid_argument,
                            "user: not 1-32 characters of [a-z0-9_.-]");
  }
  std::vector<std::uint32_t> partitions;
  // On the blocking pool: it waits for its proposals to be applied.
  Error outcome = co_await asio::co_spawn(
      blocking_,
      [this, &user, &partitions]() -> asio::awaitable<Error> {
        co_return local_.purge_user(user, partitions);
      },
      asio::use_awaitable);
  if (outcome) co_return builder.error(0, PeerKind::Reply, outcome.code, outcome.message);
  auto& fbb = builder.fbb();
  auto vector = fbb.CreateVector(partitions);
  co_return builder.finish_owned(0, PeerKind::Reply,
                                 peer_wire::CreateAdminUserPurgeResult(fbb, vector));
}

asio::awaitable<std::vector<std::uint8_t>> AdminRelay::serve(
    const peer_wire::AdminGroupDissolve& dissolve) {
  proto::PeerFrameBuilder builder;
  std::string group(proto::view(dissolve.group()));
  if (!is_valid_id(group)) {
    co_return builder.error(0, PeerKind::Reply, errc::invalid_argument,
                            "group: not 1-32 characters of [a-z0-9_.-]");
  }
  Error outcome = co_await asio::co_spawn(
      blocking_,
      [this, &group]() -> asio::awaitable<Error> { co_return local_.dissolve_group(group); },
      asio::use_awaitable);
  if (outcome) co_return builder.error(0, PeerKind::Reply, outcome.code, outcome.message);
  co_return builder.finish_owned(0, PeerKind::Reply,
                                 peer_wire::CreateAdminUserOpDone(builder.fbb()));
}

// --- Asking ------------------------------------------------------------------------------------

Error AdminRelay::show_user(const std::string& node, std::string_view user,
                            admin::UserShowView& view) {
  proto::PeerFrameBuilder builder;
  auto user_offset = builder.fbb().CreateString(user);
  auto request = builder.finish_owned(
      0, PeerKind::Request, peer_wire::CreateAdminUserShowQuery(builder.fbb(), user_offset));
  auto reply = call_blocking(node, std::move(request), options_.relay_timeout);
  std::string subject = fmt::format("user {}", user);
  if (!reply.ok()) return relayed(std::move(reply.error), node, subject);
  const auto* result = reply.value.envelope().body_as_AdminUserShowResult();
  if (result == nullptr) {
    return relayed(Error{errc::internal, "an unexpected reply"}, node, subject);
  }
  view.user = proto::view(result->user());
  view.home_node = node;
  view.partition = result->partition();
  view.created_ms = result->created_ms();
  view.disabled = result->disabled();
  view.sessions = result->sessions();
  view.friends = result->friends();
  view.groups = strings_of(result->groups());
  view.devices.clear();
  if (result->devices() != nullptr) {
    for (const auto* device : *result->devices()) {
      view.devices.push_back(admin::DeviceView{std::string(proto::view(device->device())),
                                               device->sessions(), device->token_created_ms(),
                                               device->token_last_used_ms()});
    }
  }
  return {};
}

Error AdminRelay::dissolve_group(const std::string& node, std::string_view group) {
  proto::PeerFrameBuilder builder;
  auto group_offset = builder.fbb().CreateString(group);
  auto request = builder.finish_owned(
      0, PeerKind::Request, peer_wire::CreateAdminGroupDissolve(builder.fbb(), group_offset));
  auto reply = call_blocking(node, std::move(request), options_.relay_timeout);
  std::string subject = fmt::format("group {}", group);
  if (!reply.ok()) return relayed(std::move(reply.error), node, subject);
  if (reply.value.envelope().body_as_AdminUserOpDone() == nullptr) {
    return relayed(Error{errc::internal, "an unexpected reply"}, node, subject);
  }
  return {};
}

std::vector<service::NamePage> AdminRelay::name_pages(const std::vector<std::string>& nodes,
                                                      admin::NameKind kind, std::string_view prefix,
                                                      std::string_view after, std::uint32_t limit) {
  proto::PeerFrameBuilder builder;
  auto& fbb = builder.fbb();
  auto prefix_offset = fbb.CreateString(prefix);
  auto after_offset = fbb.CreateString(after);
  auto request =
      builder.finish_owned(0, PeerKind::Request,
                           peer_wire::CreateAdminNameListQuery(fbb, static_cast<std::uint8_t>(kind),
                                                               prefix_offset, after_offset, limit));
  std::vector<service::NamePage> pages;
  std::vector<net::PeerCallResult> replies = call_each(nodes, request, options_.stats_timeout);
  for (std::size_t i = 0; i < replies.size(); ++i) {
    const auto* result =
        replies[i].ok() ? replies[i].value.envelope().body_as_AdminNameListResult() : nullptr;
    if (result == nullptr) {
      logger_.debug("admin", "name list: no answer from {}", nodes[i]);
      continue;
    }
    pages.push_back(
        service::NamePage{strings_of(result->names()), numbers_of(result->partitions())});
  }
  return pages;
}

std::vector<PurgeReport> AdminRelay::purge_user(const std::vector<std::string>& nodes,
                                                std::string_view user) {
  proto::PeerFrameBuilder builder;
  auto user_offset = builder.fbb().CreateString(user);
  auto request = builder.finish_owned(0, PeerKind::Request,
                                      peer_wire::CreateAdminUserPurge(builder.fbb(), user_offset));
  std::vector<PurgeReport> reports;
  std::vector<net::PeerCallResult> replies = call_each(nodes, request, options_.relay_timeout);
  for (std::size_t i = 0; i < replies.size(); ++i) {
    PurgeReport& report = reports.emplace_back();
    report.node = nodes[i];
    if (!replies[i].ok()) {
      report.error = std::move(replies[i].error);
      continue;
    }
    const auto* result = replies[i].value.envelope().body_as_AdminUserPurgeResult();
    if (result == nullptr) {
      report.error = Error{errc::internal, "an unexpected reply"};
      continue;
    }
    report.partitions = numbers_of(result->partitions());
  }
  return reports;
}

}  // namespace qim::node
