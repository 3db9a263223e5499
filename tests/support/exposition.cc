#include "exposition.h"

#include <cmath>
#include <cstdlib>
#include <set>
#include <vector>

namespace qim::test_support {
namespace {

bool name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool name_char(char c) {
  return name_start(c) || (c >= '0' && c <= '9');
}

bool valid_name(std::string_view name, bool label) {
  if (name.empty() || !name_start(name[0])) return false;
  for (char c : name) {
    if (!name_char(c) || (label && c == ':')) return false;
  }
  return true;
}

bool parse_value(std::string_view text, double& value) {
  if (text == "NaN") {
    value = std::nan("");
    return true;
  }
  if (text == "+Inf" || text == "Inf") {
    value = INFINITY;
    return true;
  }
  if (text == "-Inf") {
    value = -INFINITY;
    return true;
  }
  std::string copy(text);
  char* end = nullptr;
  value = std::strtod(copy.c_str(), &end);
  return !copy.empty() && end == copy.c_str() + copy.size();
}

struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};

// Parses "name{a="x",b="y"} value [timestamp]"; an error message, or empty.
std::string parse_sample(std::string_view line, Sample& sample) {
  std::size_t i = 0;
  while (i < line.size() && name_char(line[i]))
    ++i;
  sample.name = std::string(line.substr(0, i));
  if (!valid_name(sample.name, false)) return "bad metric name";
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      std::size_t start = i;
      while (i < line.size() && name_char(line[i]))
        ++i;
      std::string label(line.substr(start, i - start));
      if (!valid_name(label, true)) return "bad label name";
      if (i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') return "expected =\"";
      i += 2;
      std::string value;
      for (;;) {
        if (i >= line.size()) return "unterminated label value";
        char c = line[i++];
        if (c == '"') break;
        if (c == '\\') {
          if (i >= line.size()) return "unterminated escape";
          char escaped = line[i++];
          if (escaped == 'n') {
            value += '\n';
          } else if (escaped == '\\' || escaped == '"') {
            value += escaped;
          } else {
            return "bad escape in label value";
          }
        } else if (c == '\n') {
          return "newline in label value";
        } else {
          value += c;
        }
      }
      for (const auto& [existing, ignored] : sample.labels) {
        if (existing == label) return "label repeated";
      }
      sample.labels.emplace_back(label, value);
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i >= line.size()) return "unterminated label set";
    ++i;  // '}'
  }
  if (i >= line.size() || line[i] != ' ') return "expected a space before the value";
  std::string_view rest = line.substr(i + 1);
  std::size_t space = rest.find(' ');
  std::string_view value_text = rest.substr(0, space);
  if (!parse_value(value_text, sample.value)) return "bad value";
  if (space != std::string_view::npos) {
    double timestamp = 0;
    if (!parse_value(rest.substr(space + 1), timestamp)) return "bad timestamp";
  }
  return {};
}

}  // namespace

Exposition parse_exposition(std::string_view text) {
  Exposition result;
  std::string family;  // the family of the last TYPE line
  std::string family_type;
  std::set<std::string> seen_families;
  std::set<std::string> helped;
  // Histogram checks: per label set (without le), the cumulative counts in order.
  std::map<std::string, std::vector<std::pair<double, double>>> buckets;
  std::map<std::string, double> counts;
  std::size_t line_number = 0;
  auto fail = [&](const std::string& why, std::string_view line) {
    result.error = "line " + std::to_string(line_number) + ": " + why + ": " + std::string(line);
    return result;
  };
  if (!text.empty() && text.back() != '\n') return fail("the text must end with a newline", "");
  while (!text.empty()) {
    ++line_number;
    std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end + 1);
    if (line.empty()) continue;
    if (line.starts_with("# HELP ")) {
      std::string_view rest = line.substr(7);
      std::string name(rest.substr(0, rest.find(' ')));
      if (!valid_name(name, false)) return fail("bad name in HELP", line);
      if (!helped.insert(name).second) return fail("HELP repeated", line);
      continue;
    }
    if (line.starts_with("# TYPE ")) {
      std::string_view rest = line.substr(7);
      std::size_t space = rest.find(' ');
      if (space == std::string_view::npos) return fail("TYPE without a type", line);
      family = std::string(rest.substr(0, space));
      family_type = std::string(rest.substr(space + 1));
      if (!valid_name(family, false)) return fail("bad name in TYPE", line);
      static const std::set<std::string> types = {"counter", "gauge", "histogram", "summary",
                                                  "untyped"};
      if (!types.contains(family_type)) return fail("unknown type", line);
      if (!seen_families.insert(family).second) return fail("family repeated", line);
      result.types[family] = family_type;
      continue;
    }
    if (line.starts_with("#")) continue;
    Sample sample;
    if (std::string why = parse_sample(line, sample); !why.empty()) return fail(why, line);
    bool belongs = sample.name == family;
    std::string key_labels;
    double le = 0;
    bool has_le = false;
    for (const auto& [label, value] : sample.labels) {
      if (label == "le") {
        has_le = parse_value(value, le);
        continue;
      }
      key_labels += label + "=" + value + ",";
    }
    if (family_type == "histogram") {
      if (sample.name == family + "_bucket") {
        if (!has_le) return fail("a bucket without a valid le label", line);
        auto& series = buckets[key_labels];
        if (!series.empty() && (le <= series.back().first || sample.value < series.back().second)) {
          return fail("buckets not increasing", line);
        }
        series.emplace_back(le, sample.value);
        belongs = true;
      } else if (sample.name == family + "_count") {
        counts[key_labels] = sample.value;
        belongs = true;
      } else if (sample.name == family + "_sum") {
        belongs = true;
      }
    }
    if (!belongs) return fail("a sample outside its TYPE's family " + family, line);
    if (!result.samples.emplace(std::string(line.substr(0, line.rfind(' '))), sample.value)
             .second) {
      return fail("sample repeated", line);
    }
  }
  for (const auto& [labels, series] : buckets) {
    if (series.empty() || !std::isinf(series.back().first)) {
      result.error = "a histogram without an le=\"+Inf\" bucket (" + labels + ")";
      return result;
    }
    if (counts[labels] != series.back().second) {
      result.error = "a histogram's _count differs from its +Inf bucket (" + labels + ")";
      return result;
    }
  }
  return result;
}

}  // namespace qim::test_support
