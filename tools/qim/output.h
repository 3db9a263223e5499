#pragma once
// What qim prints: one record per result or event, rendered as a greppable `type key=value`
// line, a JSON object, or (interactive use) a friendlier line for chat traffic.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qim::cli {

// One output line: a type ("ok", "msg", "error", ...) and ordered fields.
class Record {
 public:
  explicit Record(std::string type) : type_(std::move(type)) {}

  Record& add(std::string key, std::string value) {
    fields_.push_back({std::move(key), std::move(value), false});
    return *this;
  }
  Record& add(std::string key, std::string_view value) { return add(key, std::string(value)); }
  Record& add(std::string key, const char* value) { return add(key, std::string(value)); }
  Record& add(std::string key, std::uint64_t value) {
    fields_.push_back({std::move(key), std::to_string(value), true});
    return *this;
  }
  Record& add(std::string key, bool value) {
    // 1/0 in text (easy to grep), true/false in JSON.
    fields_.push_back({std::move(key), value ? "1" : "0", true, true});
    return *this;
  }

  // A field for the interactive screen only (a message's time, a sent text): never part of
  // the text or JSON forms, which stay as scripts know them.
  Record& hide(std::string key, std::string value) {
    fields_.push_back({std::move(key), std::move(value), false, false, true});
    return *this;
  }

  const std::string& type() const { return type_; }
  // The value of `key`, or empty.
  std::string get(std::string_view key) const;

  // `type key=value ...`; values with spaces or quotes are quoted, except a final `text`
  // field, which runs to the end of the line (newlines escaped) so chat text stays readable.
  std::string to_text() const;
  std::string to_json() const;

 private:
  struct Field {
    std::string key;
    std::string value;
    bool number = false;
    bool boolean = false;
    bool hidden = false;
  };
  std::string type_;
  std::vector<Field> fields_;
};

enum class OutputFormat { text, json, human };

// Serialises output from the command thread and the event thread. Events may be redirected
// (interactive mode prints them above the prompt from the main thread).
class Printer {
 public:
  explicit Printer(OutputFormat format) : format_(format) {}

  void result(const Record& record);
  void event(const Record& record);
  // Interactive mode: events go to `sink` instead of stdout (called on the event thread).
  void set_event_sink(std::function<void(std::string)> sink) { event_sink_ = std::move(sink); }
  // The line for `record` in this format; empty when the format does not show it.
  std::string render(const Record& record) const;
  OutputFormat format() const { return format_; }
  // The interactive screen: who is logged in (names conversations from their side) and
  // whether the login line shows the token.
  void set_self(std::string user);
  void set_show_token(bool show);
  // The interactive screen: the terminal's width in columns, asked at each line (the window
  // may be resized); unset or 0: lines are not truncated or wrapped.
  void set_width_source(std::function<std::size_t()> columns);
  // A line as it is, in every format (help text).
  void plain(const std::string& text) { write_line(text); }
  // Bytes as they are, no line break (terminal control sequences).
  void raw(const std::string& bytes);

 private:
  void write_line(const std::string& line);

  OutputFormat format_;
  mutable std::mutex mutex_;  // keeps lines whole across the two threads; guards the context
  std::string self_;          // GUARDED_BY(mutex_)
  bool show_token_ = false;   // GUARDED_BY(mutex_)
  std::function<std::size_t()> columns_;  // GUARDED_BY(mutex_)
  std::function<void(std::string)> event_sink_;
};

}  // namespace qim::cli
