// What the built-in server reads: its sshd_config, its command line, authorized_keys, and the
// values clients send. Pure: no I/O here.
#include <arpa/inet.h>
#include <signal.h>
#include <strings.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <map>
#include <optional>

#include "internal.h"

namespace wsinit::ssh_server {
namespace {

// argv_split's separators: a form feed or vertical tab inside a token is part of it.
bool blank(char c) { return c == ' ' || c == '\t'; }

bool valid_name(std::string_view name) {
  auto letter = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  return !name.empty() && letter(name[0]) &&
         std::all_of(name.begin(), name.end(), [&](char c) { return letter(c) || (c >= '0' && c <= '9'); });
}

std::optional<int> whole(std::string_view s, int lo, int hi) {
  int v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi) return std::nullopt;
  return v;
}

// "%%" back to "%": sshd_setup writes a literal '%' of AuthorizedKeysFile that way.
std::string without_escapes(std::string_view path) {
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) {
    out += path[i];
    if (path[i] == '%' && i + 1 < path.size() && path[i + 1] == '%') ++i;
  }
  return out;
}

// The next word of an authorized_keys line, taken off `rest`. As OpenSSH reads the key type and
// the key: ended by a blank, nothing quoted; the comment after them is free text ("Jane's").
std::string_view next_word(std::string_view& rest) {
  size_t start = rest.find_first_not_of(" \t");
  if (start == std::string_view::npos) return rest = {};
  rest.remove_prefix(start);
  std::string_view word = rest.substr(0, rest.find_first_of(" \t"));
  rest.remove_prefix(word.size());
  return word;
}

// Directives sshd_setup writes for OpenSSH that mean nothing here, or what the server does anyway.
bool ignored(std::string_view k) {
  static const char* names[] = {"pidfile", "usepam", "strictmodes", "permitrootlogin", "pubkeyauthentication",
                                "kbdinteractiveauthentication", "subsystem", "printmotd"};
  return std::any_of(std::begin(names), std::end(names), [&](const char* n) { return strcasecmp(n, std::string(k).c_str()) == 0; });
}

struct Reader {
  Options& o;
  std::vector<std::string> problems;
  std::string where;

  void problem(const std::string& what) { problems.push_back(where + ": " + what); }
  void yes_no(const std::vector<std::string>& a, bool& to) {
    if (a.size() == 2 && (a[1] == "yes" || a[1] == "no")) to = a[1] == "yes";
    else problem(a[0] + " takes yes or no");
  }
  void number(const std::vector<std::string>& a, int& to, int lo, int hi) {
    std::optional<int> v = a.size() == 2 ? whole(a[1], lo, hi) : std::nullopt;
    if (v) to = *v;
    else problem(a[0] + " takes a number from " + std::to_string(lo) + " to " + std::to_string(hi));
  }
  void startups(const std::vector<std::string>& a) {
    std::string_view v = a.size() == 2 ? std::string_view(a[1]) : std::string_view();
    size_t c1 = v.find(':'), c2 = c1 == std::string_view::npos ? c1 : v.find(':', c1 + 1);
    auto b = whole(v.substr(0, c1), 1, 10000);
    auto r = c2 == std::string_view::npos ? std::nullopt : whole(v.substr(c1 + 1, c2 - c1 - 1), 0, 100);
    auto f = c2 == std::string_view::npos ? std::nullopt : whole(v.substr(c2 + 1), 1, 10000);
    if (c1 == std::string_view::npos && b) {
      o.startups_begin = o.startups_full = *b;
      o.startups_rate = 100;
    } else if (b && r && f && *f >= *b) {
      o.startups_begin = *b, o.startups_rate = *r, o.startups_full = *f;
    } else {
      problem("MaxStartups takes N or START:RATE:FULL");
    }
  }
  void allow_users(const std::vector<std::string>& a) {
    for (size_t i = 1; i < a.size(); ++i) {
      size_t at = a[i].find('@');
      std::string user = a[i].substr(0, at);
      if (!o.user.empty() && user != o.user) problem("AllowUsers names two users; the built-in server serves one");
      o.user = user;
      if (at == std::string::npos) continue;
      if (auto c = parse_cidr(std::string_view(a[i]).substr(at + 1))) o.allow_from.push_back(*c);
      else problem("AllowUsers: " + c.error().message);
    }
  }
  void directive(const std::vector<std::string>& a) {
    std::string k = a[0];
    std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    auto rest = [&](std::vector<std::string>& to) { to.insert(to.end(), a.begin() + 1, a.end()); };
    if (a.size() < 2) problem(a[0] + " has no value");
    else if (k == "listenaddress") rest(o.listen);
    else if (k == "hostkey") rest(o.host_keys);
    else if (k == "allowusers") allow_users(a);
    else if (k == "authorizedkeysfile") for (size_t i = 1; i < a.size(); ++i) o.authorized_keys_files.push_back(without_escapes(a[i]));
    else if (k == "passwordauthentication") yes_no(a, o.password_authentication);
    else if (k == "permitemptypasswords") yes_no(a, o.permit_empty_passwords);
    else if (k == "setenv") rest(o.setenv);
    else if (k == "acceptenv") rest(o.accept_env);
    else if (k == "logingracetime") number(a, o.login_grace_seconds, 0, 3600);
    else if (k == "maxauthtries") number(a, o.max_auth_tries, 1, 100);
    else if (k == "maxstartups") startups(a);
    else if (!ignored(k)) problem("'" + a[0] + "' is not a directive the built-in SSH server knows");
  }
};

}  // namespace

// As OpenSSH's argv_split: quotes (" or ') may open and close anywhere in a token; a backslash
// escapes a quote, a backslash, or (unquoted) a blank; a '#' where a token starts ends the line.
// Blanks, CRs and form feeds at the end go first, as sshd's loader strips them.
Result<std::vector<std::string>> split_line(std::string_view line) {
  std::vector<std::string> out;
  while (!line.empty() && std::string_view(" \t\r\f").find(line.back()) != std::string_view::npos) line.remove_suffix(1);
  size_t i = 0;
  while (true) {
    while (i < line.size() && blank(line[i])) ++i;
    if (i == line.size() || line[i] == '#') return out;
    std::string token;
    char quote = 0;
    for (; i < line.size(); ++i) {
      char c = line[i];
      char next = i + 1 < line.size() ? line[i + 1] : 0;
      if (c == '\\' && (next == '\'' || next == '"' || next == '\\' || (!quote && next == ' '))) token += line[++i];
      else if (!quote && blank(c)) break;
      else if (!quote && (c == '"' || c == '\'')) quote = c;
      else if (quote && c == quote) quote = 0;
      else token += c;
    }
    if (quote) return fail("an unterminated quote");
    out.push_back(std::move(token));
  }
}

namespace {

// Each line of `text` with its number from 1, less its line end (LF, or CR LF).
template <class F>
void for_each_line(std::string_view text, F&& f) {
  size_t line_no = 0;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    f(++line_no, line);
  }
}

}  // namespace

Result<Options> parse_config(std::string_view text, const std::string& file) {
  Options o;
  Reader r{o, {}, {}};
  for_each_line(text, [&](size_t line_no, std::string_view line) {
    r.where = file + ":" + std::to_string(line_no);
    auto tokens = split_line(line);
    if (!tokens) r.problem(tokens.error().message);
    else if (!tokens->empty()) r.directive(*tokens);
  });
  r.where = file;
  if (o.listen.empty()) r.problem("no ListenAddress");
  if (o.host_keys.empty()) r.problem("no HostKey");
  if (o.user.empty()) r.problem("no AllowUsers: the built-in server needs to know its one user");
  if (!r.problems.empty()) {
    std::string all;
    for (const auto& p : r.problems) all += (all.empty() ? "" : "\n") + p;
    return fail(all);
  }
  return o;
}

Result<Options> parse_args(const std::vector<std::string>& args) {
  Options o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    bool has_value = i + 1 < args.size();
    if (a == "-t") o.test_only = true;
    else if (a == "-D" || a == "-e") continue;
    else if ((a == "-f" || a == "--home" || a == "--shell") && has_value) {
      std::string& to = a == "-f" ? o.config_path : a == "--home" ? o.home : o.shell;
      to = args[++i];
    } else {
      return fail("ssh-server: unexpected '" + a + "' (usage: wsinit ssh-server [--home DIR] [--shell PATH] [-t] -f CONFIG)");
    }
  }
  if (o.config_path.empty()) return fail("ssh-server: -f CONFIG is required");
  if (o.home.empty() || o.home[0] != '/') return fail("ssh-server: --home must be an absolute path");
  if (o.shell.empty() || o.shell[0] != '/') return fail("ssh-server: --shell must be an absolute path");
  return o;
}

KeyLines parse_authorized_keys(std::string_view text) {
  KeyLines out;
  for_each_line(text, [&](size_t line_no, std::string_view line) {
    std::string_view type = next_word(line);
    if (type.empty() || type[0] == '#') return;
    bool is_type = type.rfind("ssh-", 0) == 0 || type.rfind("ecdsa-sha2-", 0) == 0 || type.rfind("sk-", 0) == 0;
    std::string_view key = next_word(line);
    if (!is_type) out.refused.push_back(std::to_string(line_no) + ": has options (" + std::string(type.substr(0, 40)) +
                                        "), which the built-in SSH server does not enforce");
    else if (key.empty()) out.refused.push_back(std::to_string(line_no) + ": a key type with no key");
    else out.keys.push_back({std::string(type), std::string(key)});
  });
  return out;
}

bool accepted_env(const std::vector<std::string>& patterns, std::string_view name, std::string_view value) {
  if (!valid_name(name) || value.size() > kMaxEnvValue || value.find('\0') != std::string_view::npos) return false;
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) {
    if (!p.empty() && p.back() == '*') return name.substr(0, p.size() - 1) == std::string_view(p).substr(0, p.size() - 1);
    return name == p;
  });
}

std::vector<std::string> session_environment(const Options& o, const SessionFacts& f) {
  // OpenSSH's order (session.c, do_setup_env): the client's variables first, then what sshd
  // sets itself over them, then SetEnv over everything.
  std::map<std::string, std::string> env(f.client_env.begin(), f.client_env.end());
  auto set = [&env](const std::string& name, const std::string& value) { env[name] = value; };
  set("USER", f.user);
  set("LOGNAME", f.user);
  set("HOME", f.home);
  set("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/games");
  set("MAIL", "/var/mail/" + f.user);
  set("SHELL", f.shell);
  if (!f.term.empty()) set("TERM", f.term);
  set("SSH_CLIENT", f.peer_ip + " " + std::to_string(f.peer_port) + " " + std::to_string(f.local_port));
  set("SSH_CONNECTION", f.peer_ip + " " + std::to_string(f.peer_port) + " " + f.local_ip + " " + std::to_string(f.local_port));
  if (!f.tty.empty()) set("SSH_TTY", f.tty);
  for (const auto& entry : o.setenv) {
    size_t eq = entry.find('=');
    if (eq != std::string::npos && eq > 0) set(entry.substr(0, eq), entry.substr(eq + 1));
  }
  std::vector<std::string> out;
  for (const auto& [name, value] : env) out.push_back(name + "=" + value);
  return out;
}

namespace {
constexpr std::pair<const char*, int> kSignals[] = {
    {"ABRT", SIGABRT}, {"ALRM", SIGALRM}, {"FPE", SIGFPE}, {"HUP", SIGHUP}, {"ILL", SIGILL},
    {"INT", SIGINT},   {"KILL", SIGKILL}, {"PIPE", SIGPIPE}, {"QUIT", SIGQUIT}, {"SEGV", SIGSEGV},
    {"TERM", SIGTERM}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}};
}

int signal_number(std::string_view name) {
  for (const auto& [n, s] : kSignals) {
    if (name == n) return s;
  }
  return 0;
}

std::string signal_name(int sig) {
  for (const auto& [n, s] : kSignals) {
    if (sig == s) return n;
  }
  // Not one of RFC 4254's: as OpenSSH names it ("BUS@openssh.com").
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string(abbrev) + "@openssh.com" : "";
}

Result<Cidr> parse_cidr(std::string_view text) {
  Cidr c;
  size_t slash = text.find('/');
  std::string ip(text.substr(0, slash));
  c.family = ip.find(':') == std::string::npos ? AF_INET : AF_INET6;
  int max_bits = c.family == AF_INET ? 32 : 128;
  // inet_pton reads a C string: a NUL would cut off what follows it unseen.
  bool numeric = ip.find('\0') == std::string::npos && inet_pton(c.family, ip.c_str(), c.addr) == 1;
  if (!numeric) return fail("'" + std::string(text.substr(0, 80)) + "' is not a CIDR");
  auto bits = slash == std::string_view::npos ? std::optional<int>(max_bits) : whole(text.substr(slash + 1), 0, max_bits);
  if (!bits) return fail("'" + std::string(text.substr(0, 80)) + "' has no valid prefix length");
  c.bits = *bits;
  return c;
}

bool cidr_contains(const Cidr& c, const sockaddr_storage& peer) {
  const unsigned char* a = nullptr;
  if (peer.ss_family == AF_INET && c.family == AF_INET) {
    a = reinterpret_cast<const unsigned char*>(&reinterpret_cast<const sockaddr_in&>(peer).sin_addr);
  } else if (peer.ss_family == AF_INET6) {
    // An IPv4 client on an IPv6 socket is an IPv4 client, as OpenSSH sees it: IPv6 blocks never match it.
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(peer).sin6_addr;
    bool mapped = IN6_IS_ADDR_V4MAPPED(&in6);
    if (c.family == AF_INET6 && !mapped) a = in6.s6_addr;
    else if (c.family == AF_INET && mapped) a = in6.s6_addr + 12;
  }
  if (!a) return false;
  int full = c.bits / 8, rest = c.bits % 8;
  if (std::memcmp(a, c.addr, static_cast<size_t>(full)) != 0) return false;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a[full] & mask) == (c.addr[full] & mask);
}

Result<sockaddr_storage> parse_address(std::string_view text, socklen_t* len) {
  sockaddr_storage a{};
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return fail("'" + std::string(text) + "' is not IP:PORT");
  std::string host(text.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  auto port = whole(text.substr(colon + 1), 1, 65535);
  if (!port) return fail("'" + std::string(text) + "' has no valid port");
  auto* in4 = reinterpret_cast<sockaddr_in*>(&a);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&a);
  if (host.find('\0') != std::string::npos) {  // inet_pton would read only up to it
    return fail("'" + std::string(text) + "' has no numeric IP");
  } else if (inet_pton(AF_INET, host.c_str(), &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons(static_cast<uint16_t>(*port));
    *len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(*port));
    *len = sizeof(sockaddr_in6);
  } else {
    return fail("'" + std::string(text) + "' has no numeric IP");
  }
  return a;
}

std::string address_ip(const sockaddr_storage& a) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (a.ss_family == AF_INET) inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(a).sin_addr, buf, sizeof buf);
  if (a.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(a).sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&in6)) inet_ntop(AF_INET, in6.s6_addr + 12, buf, sizeof buf);
    else inet_ntop(AF_INET6, &in6, buf, sizeof buf);
  }
  return buf;
}

int address_port(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
  if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
  return 0;
}

bool drop_startup(const Options& o, int unauthenticated, int random_percent) {
  if (unauthenticated < o.startups_begin) return false;
  if (unauthenticated >= o.startups_full) return true;
  // OpenSSH's early drop: `rate` percent at begin, rising linearly to 100 at full.
  int span = o.startups_full - o.startups_begin;
  int p = o.startups_rate + (100 - o.startups_rate) * (unauthenticated - o.startups_begin) / (span > 0 ? span : 1);
  return random_percent < p;
}

}  // namespace wsinit::ssh_server
