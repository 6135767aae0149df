// libFuzzer target: what the built-in SSH server takes from outside once a client is in sight:
// an authorized_keys file, and the variables a client sends (env requests) into the session's
// environment. Invariants: the keys and refusals are what OpenSSH's reading gives (restated
// here: a line's CR dropped; blank-ended words; '#' first is a comment; a first word naming no
// key type is options, refused; a type with no key, refused), keys hold no blank or newline,
// a refusal names its line and is bounded; CRLF line ends change nothing. A
// variable taken has a valid name, a bounded value without NUL and a pattern matching it (as
// fnmatch() would, whenever the patterns are names with at most a trailing '*'); the session's
// environment holds each name once, the taken value unless sshd's own variable of that name
// (USER, HOME, MAIL, ...) or a SetEnv overrides it, as OpenSSH's session.c orders them.
#include <fnmatch.h>
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ssh_server/internal.h"

namespace {

using namespace wsinit::ssh_server;

std::vector<std::string> words(std::string_view line) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < line.size()) {
    if (line[i] == ' ' || line[i] == '\t') {
      ++i;
      continue;
    }
    size_t end = line.find_first_of(" \t", i);
    if (end == std::string_view::npos) end = line.size();
    out.emplace_back(line.substr(i, end - i));
    i = end;
  }
  return out;
}

bool key_type(const std::string& w) {
  return w.rfind("ssh-", 0) == 0 || w.rfind("ecdsa-sha2-", 0) == 0 || w.rfind("sk-", 0) == 0;
}

void check_keys(std::string_view text) {
  KeyLines got = parse_authorized_keys(text);
  size_t keys = 0, refused = 0, line_no = 0;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto w = words(line);
    if (w.empty() || w[0][0] == '#') continue;
    if (key_type(w[0]) && w.size() > 1) {
      if (keys >= got.keys.size() || got.keys[keys].type != w[0] || got.keys[keys].base64 != w[1]) abort();
      ++keys;
    } else {
      if (refused >= got.refused.size()) abort();
      const std::string& r = got.refused[refused++];
      if (r.rfind(std::to_string(line_no) + ": ", 0) != 0 || r.size() > 200) abort();
      if ((r.find("has options") != std::string::npos) != !key_type(w[0])) abort();
    }
  }
  if (keys != got.keys.size() || refused != got.refused.size()) abort();
  for (const auto& k : got.keys) {
    if (k.base64.empty()) abort();
    if ((k.type + k.base64).find_first_of(" \t\n") != std::string::npos) abort();
  }
}

// The same text with CRLF line ends reads the same (when it had no CR of its own).
void check_crlf(std::string_view text) {
  if (text.find('\r') != std::string_view::npos) return;
  std::string crlf;
  for (char c : text) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  KeyLines a = parse_authorized_keys(text), b = parse_authorized_keys(crlf);
  if (a.refused != b.refused || a.keys.size() != b.keys.size()) abort();
  for (size_t i = 0; i < a.keys.size(); ++i) {
    if (a.keys[i].type != b.keys[i].type || a.keys[i].base64 != b.keys[i].base64) abort();
  }
}

bool valid_name(const std::string& n) {
  if (n.empty() || (n[0] >= '0' && n[0] <= '9')) return false;
  return n.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == std::string::npos;
}

bool simple_pattern(const std::string& p) {
  std::string body = !p.empty() && p.back() == '*' ? p.substr(0, p.size() - 1) : p;
  return body.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == std::string::npos;
}

void check_env(const std::vector<std::string>& patterns, const std::string& name, const std::string& value,
               const std::vector<std::string>& setenv) {
  bool taken = accepted_env(patterns, name, value);
  bool matched = false, simple = true;
  for (const auto& p : patterns) {
    matched = matched || (p.find('\0') == std::string::npos && fnmatch(p.c_str(), name.c_str(), 0) == 0);
    simple = simple && simple_pattern(p);
  }
  bool fits = valid_name(name) && value.size() <= kMaxEnvValue && value.find('\0') == std::string::npos;
  if (taken && !(fits && matched)) abort();
  if (simple && taken != (fits && matched)) abort();
  if (!taken) return;
  Options o;
  o.setenv = setenv;
  SessionFacts f;
  f.user = "u", f.home = "/h", f.shell = "/bin/sh";
  f.peer_ip = "192.0.2.1", f.peer_port = 50000, f.local_ip = "192.0.2.2", f.local_port = 22;
  f.client_env = {{name, value}};
  // What sshd sets itself for these facts (no TERM and no SSH_TTY: no pty was asked for).
  const std::map<std::string, std::string> own = {
      {"USER", "u"}, {"LOGNAME", "u"}, {"HOME", "/h"}, {"SHELL", "/bin/sh"}, {"MAIL", "/var/mail/u"},
      {"PATH", "/usr/local/bin:/usr/bin:/bin:/usr/games"}, {"SSH_CLIENT", "192.0.2.1 50000 22"},
      {"SSH_CONNECTION", "192.0.2.1 50000 192.0.2.2 22"}};
  std::set<std::string> names;
  auto mine = own.find(name);
  std::string want = "=" + (mine == own.end() ? value : mine->second), got;
  for (const auto& s : setenv) {
    if (s.rfind(name + "=", 0) == 0) want = s.substr(name.size());  // the last SetEnv of it wins
  }
  for (const auto& e : session_environment(o, f)) {
    size_t eq = e.find('=');
    if (eq == 0 || eq == std::string::npos || !names.insert(e.substr(0, eq)).second) abort();
    if (e.substr(0, eq) == name) got = e.substr(eq);
  }
  if (got != want) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  std::vector<std::string> patterns(in.ConsumeIntegralInRange<size_t>(0, 4));
  for (auto& p : patterns) p = in.ConsumeRandomLengthString(12);
  std::string name = in.ConsumeRandomLengthString(24);
  std::string value = in.ConsumeBool() ? std::string(kMaxEnvValue + in.ConsumeIntegralInRange<int>(-1, 1), 'v')
                                       : in.ConsumeRandomLengthString(64);
  std::vector<std::string> setenv(in.ConsumeIntegralInRange<size_t>(0, 2));
  for (auto& s : setenv) s = in.ConsumeRandomLengthString(24);
  check_env(patterns, name, value, setenv);
  std::string text = in.ConsumeRemainingBytesAsString();
  check_keys(text);
  check_crlf(text);
  return 0;
}
