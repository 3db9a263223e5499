#include "output.h"

#include <cstdio>
#include <ctime>

#include <fmt/core.h>

#include "human_format.h"

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
  std::size_t shown = fields_.size();
  while (shown > 0 && fields_[shown - 1].hidden)
    --shown;
  for (std::size_t i = 0; i < shown; ++i) {
    const auto& field = fields_[i];
    if (field.hidden) continue;
    line += ' ';
    line += field.key;
    line += '=';
    bool last = i + 1 == shown;
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
    if (field.hidden) continue;
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
  HumanContext context;
  {
    std::lock_guard lock(mutex_);
    context.self = self_;
    context.show_token = show_token_;
    if (columns_) context.width = columns_();
  }
  context.now = std::time(nullptr);
  return render_human(record, context);
}

void Printer::set_self(std::string user) {
  std::lock_guard lock(mutex_);
  self_ = std::move(user);
}

void Printer::set_show_token(bool show) {
  std::lock_guard lock(mutex_);
  show_token_ = show;
}

void Printer::set_width_source(std::function<std::size_t()> columns) {
  std::lock_guard lock(mutex_);
  columns_ = std::move(columns);
}

void Printer::raw(const std::string& bytes) {
  std::lock_guard lock(mutex_);
  std::fwrite(bytes.data(), 1, bytes.size(), stdout);
  std::fflush(stdout);
}

void Printer::write_line(const std::string& line) {
  std::lock_guard lock(mutex_);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void Printer::result(const Record& record) {
  std::string line = render(record);
  if (line.empty() && format_ == OutputFormat::human) return;  // nothing to tell a person
  write_line(line);
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
