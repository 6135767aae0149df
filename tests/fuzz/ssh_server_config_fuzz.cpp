// libFuzzer target: the built-in SSH server's sshd_config reader. Any bytes are a config file.
// Invariants: options xor errors; every error line names the file (and, for a line's problem,
// its number); accepted options have a listen address, a host key and a user, numbers within
// the bounds the reader checks, CIDRs with a prefix their family holds, and MaxStartups that
// never drops below its start and always at its full. And split_line() is the inverse of
// sshd_setup's directive(): any line's tokens, written again by directive(), split back the
// same; directive() refuses them only for a CR or NUL, which no line carries. A token read as
// a CIDR or an address holds no NUL and reads back as itself.
#include <sys/socket.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "ssh_server/internal.h"
#include "sshd_setup/sshd_setup.h"

namespace {

using namespace wsinit::ssh_server;
constexpr const char* kFile = "fuzz.conf";

bool letters(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) return false;
  }
  return true;
}

void check_options(const Options& o) {
  if (o.listen.empty() || o.host_keys.empty() || o.user.empty()) abort();
  if (o.login_grace_seconds < 0 || o.login_grace_seconds > 3600) abort();
  if (o.max_auth_tries < 1 || o.max_auth_tries > 100) abort();
  if (o.startups_begin < 1 || o.startups_full < o.startups_begin || o.startups_rate < 0 || o.startups_rate > 100) abort();
  for (const Cidr& c : o.allow_from) {
    int max_bits = c.family == AF_INET ? 32 : c.family == AF_INET6 ? 128 : -1;
    if (c.bits < 0 || c.bits > max_bits) abort();
  }
  for (int r = 0; r < 100; r += 33) {
    if (drop_startup(o, o.startups_begin - 1, r) || !drop_startup(o, o.startups_full, r)) abort();
  }
}

// "fuzz.conf: what" or "fuzz.conf:N: what", one a line.
void check_errors(const std::string& message) {
  if (message.empty()) abort();
  for (size_t start = 0; start <= message.size();) {
    size_t end = message.find('\n', start);
    if (end == std::string::npos) end = message.size();
    std::string_view line = std::string_view(message).substr(start, end - start);
    std::string_view prefix(kFile);
    if (line.substr(0, prefix.size()) != prefix) abort();
    line.remove_prefix(prefix.size());
    if (line.size() > 1 && line[0] == ':' && line[1] != ' ') {
      line.remove_prefix(1);
      size_t digits = line.find_first_not_of("0123456789");
      if (digits == 0 || digits == std::string_view::npos || line[0] == '0') abort();
      line.remove_prefix(digits);
    }
    if (line.substr(0, 2) != ": " || line.size() < 3) abort();
    start = end + 1;
  }
}

void check_inverse(std::string_view line) {
  auto tokens = split_line(line);
  if (!tokens || tokens->empty()) return;
  std::string keyword = "SetEnv";  // in front of them all, unless the first is a keyword
  std::vector<std::string> args = *tokens;
  if (letters(args[0]) && args.size() > 1) {
    keyword = args[0];
    args.erase(args.begin());
  }
  bool carries = true;
  for (const auto& a : args) carries = carries && a.find_first_of(std::string("\n\r\0", 3)) == std::string::npos;
  auto again = wsinit::sshd_setup::directive(keyword, args);
  if (!again) {
    if (carries || again.error().message.empty()) abort();
    return;
  }
  if (!carries || again->empty() || again->find('\n') != again->size() - 1) abort();
  auto back = split_line(std::string_view(*again).substr(0, again->size() - 1));
  if (!back || back->size() != args.size() + 1 || (*back)[0] != keyword) abort();
  if (!std::equal(args.begin(), args.end(), back->begin() + 1)) abort();
}

void check_addresses(const std::vector<std::string>& tokens) {
  for (const auto& t : tokens) {
    if (auto c = parse_cidr(t)) {
      if (t.find('\0') != std::string::npos) abort();
      if (c->bits < 0 || c->bits > (c->family == AF_INET ? 32 : 128)) abort();
    }
    socklen_t len = 0;
    auto a = parse_address(t, &len);
    if (!a) continue;
    if (t.find('\0') != std::string::npos || address_port(*a) < 1) abort();
    if (len != (a->ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6))) abort();
    std::string ip = address_ip(*a);
    std::string text = (ip.find(':') == std::string::npos ? ip : "[" + ip + "]") + ":" + std::to_string(address_port(*a));
    auto b = parse_address(text, &len);
    if (!b || address_ip(*b) != ip || address_port(*b) != address_port(*a)) abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto o = parse_config(text, kFile);
  if (o) check_options(*o);
  else check_errors(o.error().message);
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    check_inverse(line);
    if (auto tokens = split_line(line)) check_addresses(*tokens);
    start = end + 1;
  }
  return 0;
}
