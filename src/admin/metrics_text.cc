#include "admin/metrics_text.h"

#include <cmath>

#include <fmt/core.h>

namespace qim::admin {
namespace {

const char* type_name(MetricsText::Type type) {
  switch (type) {
    case MetricsText::Type::counter:
      return "counter";
    case MetricsText::Type::gauge:
      return "gauge";
    case MetricsText::Type::histogram:
      return "histogram";
  }
  return "untyped";
}

// HELP text: backslash and newline escaped.
void append_help(std::string& out, std::string_view help) {
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

}  // namespace

void MetricsText::family(std::string_view name, Type type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  append_help(out_, help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type_name(type);
  out_ += '\n';
}

void MetricsText::write_labels(const MetricLabels& labels, std::string_view extra_name,
                               std::string_view extra_value) {
  if (labels.empty() && extra_name.empty()) return;
  out_ += '{';
  bool first = true;
  auto write = [&](std::string_view name, std::string_view value) {
    if (!first) out_ += ',';
    first = false;
    out_ += name;
    out_ += "=\"";
    for (char c : value) {
      if (c == '\\') {
        out_ += "\\\\";
      } else if (c == '"') {
        out_ += "\\\"";
      } else if (c == '\n') {
        out_ += "\\n";
      } else {
        out_ += c;
      }
    }
    out_ += '"';
  };
  for (const auto& [name, value] : labels)
    write(name, value);
  if (!extra_name.empty()) write(extra_name, extra_value);
  out_ += '}';
}

void MetricsText::write_value(double value) {
  if (std::isnan(value)) {
    out_ += "NaN";
  } else if (std::isinf(value)) {
    out_ += value > 0 ? "+Inf" : "-Inf";
  } else if (value == std::floor(value) && std::fabs(value) < 1e15) {
    out_ += fmt::format("{}", static_cast<std::int64_t>(value));
  } else {
    out_ += fmt::format("{}", value);
  }
}

void MetricsText::sample(std::string_view name, const MetricLabels& labels, double value) {
  out_ += name;
  write_labels(labels);
  out_ += ' ';
  write_value(value);
  out_ += '\n';
}

void MetricsText::histogram(std::string_view name, const MetricLabels& labels,
                            std::span<const double> bounds, std::span<const std::uint64_t> counts,
                            double sum) {
  std::uint64_t cumulative = 0;
  std::string bucket_name = std::string(name) + "_bucket";
  for (std::size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    std::string bound = i < bounds.size() ? fmt::format("{}", bounds[i]) : "+Inf";
    out_ += bucket_name;
    write_labels(labels, "le", bound);
    out_ += ' ';
    write_value(static_cast<double>(cumulative));
    out_ += '\n';
  }
  sample(std::string(name) + "_sum", labels, sum);
  sample(std::string(name) + "_count", labels, static_cast<double>(cumulative));
}

}  // namespace qim::admin
