// Fuzzes qim's display-width code (tools/qim/text_width.h), which decodes message text from
// other users as UTF-8: any bytes, any width. Cut text must fit its columns; wrapped lines must
// fit theirs and keep every non-space byte, in order.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "text_width.h"

namespace {

std::string without_spaces(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c != ' ') out += c;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider input(data, size);
  auto columns = input.ConsumeIntegralInRange<std::size_t>(0, 120);
  auto indent = input.ConsumeIntegralInRange<std::size_t>(0, 40);
  std::string text = input.ConsumeRemainingBytesAsString();

  std::size_t width = qim::cli::display_width(text);
  std::string cut = qim::cli::truncate_to_width(text, columns);
  if (columns > 0 && qim::cli::display_width(cut) > columns) std::abort();
  if ((columns == 0 || width <= columns) && cut != text) std::abort();
  if (qim::cli::pad_to_width(text, columns).size() < text.size()) std::abort();

  auto lines = qim::cli::wrap_to_width(text, columns, indent);
  if (lines.empty()) std::abort();
  std::string joined;
  for (const auto& line : lines) {
    if (columns > indent + 1 && qim::cli::display_width(line) > columns) std::abort();
    joined += line;
  }
  if (without_spaces(joined) != without_spaces(text)) std::abort();
  return 0;
}
