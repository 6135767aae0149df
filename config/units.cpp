// Parsing of the small value types the config uses: durations, sizes, signal names, listen
// addresses; and the checks of values that end up in a file format.
#include <arpa/inet.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <string>

#include "config/config.h"

namespace wsinit::config {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads a run of digits into `value`; false on no digits or overflow.
bool read_number(std::string_view text, size_t& pos, std::uint64_t& value) {
  size_t start = pos;
  value = 0;
  while (pos < text.size() && is_digit(text[pos])) {
    if (value > (UINT64_MAX - 9) / 10) return false;
    value = value * 10 + static_cast<unsigned>(text[pos] - '0');
    ++pos;
  }
  return pos > start;
}

// A value as messages show it: quoted, and cut when long.
std::string shown(std::string_view text) {
  constexpr size_t kShown = 80;
  return "'" + std::string(text.substr(0, kShown)) + (text.size() > kShown ? "...'" : "'");
}

bool is_ip(int family, const std::string& text) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(family, text.c_str(), buf) == 1;
}

}  // namespace

std::optional<int> parse_port(std::string_view text) {
  size_t pos = 0;
  std::uint64_t n = 0;
  if (!read_number(text, pos, n) || pos != text.size() || n < 1 || n > 65535) return std::nullopt;
  return static_cast<int>(n);
}

std::string ListenAddress::text() const {
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<ListenAddress> parse_listen(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto port = parse_port(text.substr(colon + 1));
  std::string_view host = text.substr(0, colon);
  bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) host = host.substr(1, host.size() - 2);
  ListenAddress address{std::string(host), port.value_or(0), bracketed};
  // Brackets for IPv6 and only for it: "::1:22" would be ambiguous.
  if (!port || !is_ip(bracketed ? AF_INET6 : AF_INET, address.host)) return std::nullopt;
  return address;
}

Status check_user_name(std::string_view name) {
  auto ok_first = [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; };
  auto ok_rest = [&](char c) { return ok_first(c) || is_digit(c) || c == '-'; };
  if (name.empty() || name.size() > 32 || !ok_first(name[0]) || !std::all_of(name.begin(), name.end(), ok_rest))
    return fail(shown(name) + " is not a user name (expected [a-z_][a-z0-9_-]{0,31})");
  return {};
}

Status check_path(std::string_view path, bool in_passwd) {
  if (path.empty() || path[0] != '/')
    return fail(shown(path) + " is not an absolute path (expected it to start with /)");
  if (path.size() > 4096) return fail("a path of " + std::to_string(path.size()) + " bytes (expected at most 4096)");
  if (path.find_first_of(std::string_view("\n\r\0", 3)) != std::string_view::npos)
    return fail(shown(path) + " holds a newline, CR or NUL (expected a path on one line)");
  if (in_passwd && path.find(':') != std::string_view::npos)
    return fail(shown(path) + " holds ':', which an /etc/passwd field cannot (expected a path without ':')");
  return {};
}

Status check_cidr(std::string_view text) {
  size_t slash = text.find('/');
  std::string address(text.substr(0, slash));
  bool v4 = is_ip(AF_INET, address), v6 = !v4 && is_ip(AF_INET6, address);
  if (!v4 && !v6) return fail(shown(text) + " is not an address or CIDR (expected e.g. 10.0.0.0/8)");
  if (slash == std::string_view::npos) return {};
  size_t pos = slash + 1;
  std::uint64_t bits = 0;
  if (!read_number(text, pos, bits) || pos != text.size() || pos - slash > 4 || bits > (v4 ? 32u : 128u))
    return fail(shown(text) + " has a bad prefix length (expected 0 to " + (v4 ? "32" : "128") + ")");
  return {};
}

Status check_key_line(std::string_view text) {
  if (text.find_first_of(std::string_view("\n\r\0", 3)) != std::string_view::npos)
    return fail(shown(text) + " holds a newline, CR or NUL (expected one key per entry; several keys go in a file)");
  return {};
}

std::optional<Duration> parse_duration(std::string_view text) {
  if (text == "0") return Duration(0);
  static constexpr struct {
    std::string_view unit;
    std::uint64_t ms;
  } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}};
  size_t pos = 0;
  std::uint64_t total = 0;
  if (text.empty()) return std::nullopt;
  while (pos < text.size()) {
    std::uint64_t n;
    if (!read_number(text, pos, n)) return std::nullopt;
    size_t unit_start = pos;
    while (pos < text.size() && !is_digit(text[pos])) ++pos;
    std::string_view unit = text.substr(unit_start, pos - unit_start);
    bool known = false;
    for (const auto& u : units) {
      if (u.unit != unit) continue;
      if (n > (1ull << 40) / u.ms) return std::nullopt;  // beyond ~34 years: surely a typo
      total += n * u.ms;
      known = true;
    }
    if (!known) return std::nullopt;
  }
  return Duration(total);
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  static constexpr struct {
    std::string_view unit;
    std::uint64_t bytes;
  } units[] = {{"", 1},          {"B", 1},          {"K", 1000},      {"KB", 1000},
               {"KiB", 1 << 10}, {"M", 1000000},    {"MB", 1000000},  {"MiB", 1 << 20},
               {"G", 1000000000}, {"GB", 1000000000}, {"GiB", 1 << 30}};
  size_t pos = 0;
  std::uint64_t n;
  if (!read_number(text, pos, n)) return std::nullopt;
  std::string_view unit = text.substr(pos);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  for (const auto& u : units) {
    if (u.unit != unit) continue;
    if (n > UINT64_MAX / u.bytes) return std::nullopt;
    return n * u.bytes;
  }
  return std::nullopt;
}

std::string signal_name(int signal) {
  if (signal >= SIGRTMIN && signal <= SIGRTMAX) {
    return signal == SIGRTMIN ? "RTMIN" : "RTMIN+" + std::to_string(signal - SIGRTMIN);
  }
  const char* name = sigabbrev_np(signal);
  return name ? name : std::to_string(signal);
}

std::optional<int> parse_signal(std::string_view text) {
  if (text.starts_with("SIG")) text.remove_prefix(3);
  if (!text.empty() && is_digit(text[0])) {
    size_t pos = 0;
    std::uint64_t n;
    if (!read_number(text, pos, n) || pos != text.size() || n < 1 ||
        n > static_cast<std::uint64_t>(SIGRTMAX))
      return std::nullopt;
    return static_cast<int>(n);
  }
  for (int s = 1; s <= SIGRTMAX; ++s) {
    if (signal_name(s) == text) return s;
  }
  return std::nullopt;
}

std::optional<int> parse_oom_score_adj(std::string_view text) {
  bool negative = !text.empty() && text[0] == '-';
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) text.remove_prefix(1);
  size_t pos = 0;
  std::uint64_t n;
  if (!read_number(text, pos, n) || pos != text.size() || n > static_cast<std::uint64_t>(kMaxOomScoreAdj))
    return std::nullopt;
  return negative ? -static_cast<int>(n) : static_cast<int>(n);
}

std::string format_duration(Duration d) {
  auto ms = d.count();
  if (ms % 1000 != 0) {
    if (ms < 1000) return std::to_string(ms) + "ms";
    char buf[32];
    snprintf(buf, sizeof buf, "%.3gs", static_cast<double>(ms) / 1000);
    return buf;
  }
  return std::to_string(ms / 1000) + "s";
}

}  // namespace wsinit::config
