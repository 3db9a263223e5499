#include "qim-bench/report.h"

#include <cmath>

#include <fmt/core.h>

namespace qim::bench {
namespace {

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
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
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string format_value(const Report::Value& value, bool json) {
  if (const auto* integer = std::get_if<std::uint64_t>(&value)) return std::to_string(*integer);
  if (const auto* real = std::get_if<double>(&value)) {
    if (!std::isfinite(*real)) return json ? "null" : "n/a";
    return fmt::format("{:.3f}", *real);
  }
  const auto& text = std::get<std::string>(value);
  return json ? json_string(text) : text;
}

}  // namespace

void Report::add_latency(const std::string& prefix, const Histogram& histogram) {
  auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  add(prefix + "_count", histogram.count());
  add(prefix + "_p50_us", us(histogram.value_at(0.50)));
  add(prefix + "_p99_us", us(histogram.value_at(0.99)));
  add(prefix + "_p999_us", us(histogram.value_at(0.999)));
  add(prefix + "_max_us", us(histogram.max()));
  add(prefix + "_mean_us", histogram.mean() / 1000.0);
}

void Report::add_counts(std::string name, const std::map<std::string, std::uint64_t>& counts) {
  std::string text;
  for (const auto& [key, count] : counts)
    text += fmt::format("{}{}={}", text.empty() ? "" : ",", key, count);
  add(std::move(name), text.empty() ? std::string("none") : text);
}

void Report::add_check(std::string name, std::uint64_t value) {
  if (value != 0) checks_passed_ = false;
  add(std::move(name), value);
}

std::string Report::to_json() const {
  std::string out = "{";
  for (std::size_t i = 0; i < figures_.size(); ++i) {
    if (i > 0) out += ",";
    out += json_string(figures_[i].first) + ":" + format_value(figures_[i].second, true);
  }
  out += fmt::format(",\"checks_passed\":{}}}", checks_passed_ ? "true" : "false");
  return out;
}

std::string Report::to_text() const {
  std::size_t width = 0;
  for (const auto& [name, value] : figures_)
    width = std::max(width, name.size());
  std::string out;
  for (const auto& [name, value] : figures_)
    out += fmt::format("  {:<{}}  {}\n", name, width, format_value(value, false));
  out += fmt::format("  {:<{}}  {}\n", "checks", width,
                     checks_passed_ ? "passed (every must-be-zero count is zero)" : "FAILED");
  return out;
}

}  // namespace qim::bench
