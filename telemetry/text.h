// Internal to telemetry/: reading the kernel's text formats (/proc/PID/stat, /proc/net/tcp,
// cgroup files): space-separated fields and numbers that must fill the whole field.
#pragma once

#include <charconv>
#include <string_view>
#include <system_error>

namespace wsinit::telemetry {

// The next space-separated field of `rest`, consumed; empty at the end.
inline std::string_view next_field(std::string_view& rest) {
  std::size_t start = rest.find_first_not_of(' ');
  if (start == std::string_view::npos) return rest = {}, std::string_view{};
  std::size_t end = rest.find(' ', start);
  std::string_view field = rest.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
  rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  return field;
}

// `text` as a number of type T in `base`, all of it: no sign T cannot hold, nothing left over,
// nothing out of T's range.
template <typename T>
bool whole_number(std::string_view text, T& out, int base = 10) {
  if (text.empty()) return false;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out, base);
  return error == std::errc() && end == text.data() + text.size();
}

}  // namespace wsinit::telemetry
