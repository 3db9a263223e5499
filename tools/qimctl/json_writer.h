#pragma once
// A minimal JSON writer for qimctl --json: objects, arrays, strings, integers and booleans,
// written in order with commas and escaping handled. Not a general-purpose library.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qim::ctl {

class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  // Inside an object: the next value's key.
  JsonWriter& key(std::string_view name);
  JsonWriter& value(std::string_view text);
  JsonWriter& value(const char* text) { return value(std::string_view(text)); }
  JsonWriter& value(std::uint64_t number);
  JsonWriter& value(std::int64_t number);
  JsonWriter& value(std::uint32_t number) { return value(static_cast<std::uint64_t>(number)); }
  JsonWriter& value(bool flag);
  // Finite numbers only; six decimals are plenty for shares and rates.
  JsonWriter& value(double number);
  JsonWriter& null();

  // key(name).value(v) in one call.
  template <typename T>
  JsonWriter& field(std::string_view name, const T& v) {
    key(name);
    return value(v);
  }

  const std::string& text() const { return out_; }

 private:
  void separate();  // a comma before every element but the first of its container
  void append_string(std::string_view text);

  std::string out_;
  std::vector<bool> first_;  // per open container: nothing written in it yet
  bool after_key_ = false;
};

}  // namespace qim::ctl
