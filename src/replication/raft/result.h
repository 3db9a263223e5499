#pragma once
// Result<T>: a value or a qim::Error, for the core's fallible calls (propose). Small on purpose:
// the core depends on nothing but the standard library and the error vocabulary.
#include <cstdlib>
#include <optional>
#include <utility>

#include "qim/errc.h"

namespace qim::replication::raft {

template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  // REQUIRES: error.code != errc::ok.
  Result(Error error) : error_(std::move(error)) {  // NOLINT: implicit by design
    if (error_.code == errc::ok) std::abort();
  }

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }

  // REQUIRES: ok().
  const T& value() const& { return *value_; }
  T& value() & { return *value_; }
  T&& value() && { return std::move(*value_); }
  const T& operator*() const& { return *value_; }
  const T* operator->() const { return &*value_; }

  // errc::ok with an empty message when ok().
  const Error& error() const { return error_; }

 private:
  std::optional<T> value_;
  Error error_;
};

}  // namespace qim::replication::raft
