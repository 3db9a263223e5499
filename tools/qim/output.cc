#include "output.h"

#include <cstdio>

#include <fmt/core.h>

namespace qim::cli {
namespace {

bool needs_quotes(std::string_view value) {
  if (value.empty()) return true;
  for (char c : value) {
    if (c == ' ' || c == '"' || c == '\\' || c == '=' || static_cast<unsigned char>(c) < 0x20) {
      return true;
    }
  }
  return false;
}

// Escapes for both the quoted text form and JSON strings.
std::string escape(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 2);
  for (char c : value) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out += c;
        }
    }
  }
  return out;
}

// The final free-text field: only line breaks and control characters are escaped.
std::string escape_line(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (static_cast<unsigned char>(c) < 0x20 && c != '\t') {
      out += '?';
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string Record::get(std::string_view key) const {
  for (const auto& field : fields_) {
    if (field.key == key) return field.value;
  }
  return {};
}

std::string Record::to_text() const {
  std::string line = type_;
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    const auto& field = fields_[i];
    line += ' ';
    line += field.key;
    line += '=';
    bool last = i + 1 == fields_.size();
    if (last && field.key == "text") {
      line += escape_line(field.value);
    } else if (!field.number && needs_quotes(field.value)) {
      line += '"';
      line += escape(field.value);
      line += '"';
    } else {
      line += field.value;
    }
  }
  return line;
}

std::string Record::to_json() const {
  std::string line = "{\"type\":\"" + escape(type_) + "\"";
  for (const auto& field : fields_) {
    line += ",\"" + escape(field.key) + "\":";
    if (field.boolean) {
      line += field.value == "1" ? "true" : "false";
    } else if (field.number) {
      line += field.value;
    } else {
      line += "\"" + escape(field.value) + "\"";
    }
  }
  line += "}";
  return line;
}

std::string Printer::render(const Record& record) const {
  switch (format_) {
    case OutputFormat::json:
      return record.to_json();
    case OutputFormat::text:
      return record.to_text();
    case OutputFormat::human:
      break;
  }
  const std::string& type = record.type();
  if (type == "msg") {
    std::string where = record.get("conv");
    return fmt::format("[{} #{}] {}: {}", where, record.get("seq"), record.get("from"),
                       escape_line(record.get("text")));
  }
  if (type == "hist") {
    return fmt::format("  #{} {}: {}", record.get("seq"), record.get("from"),
                       escape_line(record.get("text")));
  }
  if (type == "error") {
    return fmt::format("error ({}): {}", record.get("code"), record.get("message"));
  }
  // An outage reads as two lines: the loss (one, whatever the attempts) and the return.
  if (type == "disconnected") {
    std::string reason = record.get("message");
    constexpr std::string_view resuming = "; reconnecting";
    if (record.get("reconnect") == "1") {
      if (reason.ends_with(resuming)) reason.resize(reason.size() - resuming.size());
      return fmt::format("lost home node {}: {}; reconnecting…", record.get("node"), reason);
    }
    return fmt::format("disconnected from {}: {}", record.get("node"), reason);
  }
  if (type == "reconnected") {
    std::string missed = record.get("missed");
    return fmt::format("reconnected to {}, {} new message{}", record.get("node"), missed,
                       missed == "1" ? "" : "s");
  }
  // Following a redirect is part of logging in; the login line names the node.
  if (type == "redirected") return {};
  return record.to_text();
}

void Printer::write_line(const std::string& line) {
  std::lock_guard lock(mutex_);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void Printer::result(const Record& record) {
  write_line(render(record));
}

void Printer::event(const Record& record) {
  std::string line = render(record);
  if (line.empty()) return;  // not shown in this format
  if (event_sink_) {
    event_sink_(std::move(line));
    return;
  }
  write_line(line);
}

}  // namespace qim::cli
