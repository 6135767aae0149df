// The sshd_config text, the authorized_keys lines and the session environment: every line
// sshd reads from wsinit is made by one of the encoders here.
#include <algorithm>

#include "sshd_setup/sshd_setup.h"

namespace wsinit::sshd_setup {
namespace {

constexpr std::string_view kCannotCarry("\n\r\0", 3);  // ends or cuts a line, whatever the quoting

// What sshd's tokenizer (argv_split) treats specially: blanks split, quotes and backslashes
// quote, '#' at a token's start begins a comment; a control character is safer quoted (a
// trailing form feed is stripped with the line's blanks). A leading '=' right after the keyword
// is taken for "Keyword=value".
bool needs_quotes(std::string_view arg) {
  if (arg.empty() || arg.front() == '=') return true;
  return std::any_of(arg.begin(), arg.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u <= ' ' || u == 0x7f || c == '"' || c == '\'' || c == '\\' || c == '#';
  });
}

std::string quoted(std::string_view arg) {
  std::string out = "\"";
  for (char c : arg) {
    if (c == '"' || c == '\\') out += '\\';  // argv_split takes \" and \\ as escapes
    out += c;
  }
  return out + "\"";
}

bool valid_variable_name(std::string_view name) {
  auto letter = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  return !name.empty() && letter(name[0]) &&
         std::all_of(name.begin(), name.end(), [&](char c) { return letter(c) || (c >= '0' && c <= '9'); });
}

// AuthorizedKeysFile expands %h, %u, %U and %%: a literal '%' is written "%%".
std::string without_tokens(std::string_view path) {
  std::string out;
  for (char c : path) out += c == '%' ? "%%" : std::string(1, c);
  return out;
}

}  // namespace

Result<std::string> directive(std::string_view keyword, const std::vector<std::string>& args) {
  bool letters = !keyword.empty() && std::all_of(keyword.begin(), keyword.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
  });
  if (!letters || args.empty())
    return fail("sshd_config: '" + std::string(keyword) + "' with " + std::to_string(args.size()) +
                " arguments is not a directive wsinit writes");
  std::string line(keyword);
  for (const auto& arg : args) {
    if (arg.find_first_of(kCannotCarry) != std::string::npos)
      return fail("sshd_config: an argument of " + std::string(keyword) + " holds a newline, CR or NUL: '" +
                  arg.substr(0, 80) + "'");
    line += " " + (needs_quotes(arg) ? quoted(arg) : arg);
  }
  return line + "\n";
}

Result<std::string> authorized_keys_line(std::string_view key) {
  if (key.find_first_of(kCannotCarry) != std::string_view::npos)
    return fail("authorized_keys: a key holds a newline, CR or NUL: '" + std::string(key.substr(0, 80)) + "'");
  return std::string(key) + "\n";
}

bool excluded_from_sessions(const std::string& name) {
  static const char* exact[] = {"HOSTNAME", "HOME", "PWD", "OLDPWD", "SHLVL", "_"};
  for (const char* e : exact) {
    if (name == e) return true;
  }
  return name.rfind("KUBERNETES_", 0) == 0 || name.rfind("WSINIT_", 0) == 0;
}

std::vector<std::string> session_variables(const std::vector<std::string>& env, std::vector<std::string>* left_out) {
  std::vector<std::string> out;
  for (const auto& entry : env) {
    size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    std::string name = entry.substr(0, eq);
    if (excluded_from_sessions(name)) continue;
    if (!valid_variable_name(name) || entry.find_first_of(kCannotCarry, eq) != std::string::npos) {
      left_out->push_back(name);
      continue;
    }
    out.push_back(entry);
  }
  return out;
}

Result<std::string> render_config(const ConfigText& c) {
  std::string out = "# Written by wsinit at each start from its sshd settings; changes here are lost.\n";
  std::optional<Error> failed;  // the first directive that could not be written
  auto add = [&](std::string_view keyword, const std::vector<std::string>& args) {
    if (failed) return;
    auto line = directive(keyword, args);
    if (line) out += *line;
    else failed = line.error();
  };
  for (const auto& l : c.listen) add("ListenAddress", {l});
  for (const auto& k : c.host_key_paths) add("HostKey", {k});
  add("PidFile", {c.runtime_dir + "/sshd.pid"});
  // Unprivileged: no PAM (it needs root), no strict modes (a g=u home fails them).
  add("UsePAM", {"no"});
  add("StrictModes", {"no"});
  add("PermitRootLogin", {"no"});
  std::vector<std::string> users;  // USER@CIDR: logins only from these networks
  for (const auto& cidr : c.allow_from) users.push_back(c.user + "@" + cidr);
  add("AllowUsers", c.allow_from.empty() ? std::vector<std::string>{c.user} : users);
  add("PubkeyAuthentication", {"yes"});
  add("AuthorizedKeysFile", {".ssh/authorized_keys", without_tokens(c.runtime_dir + "/authorized_keys")});
  add("PasswordAuthentication", {c.password_less ? "yes" : "no"});
  add("PermitEmptyPasswords", {c.password_less ? "yes" : "no"});
  add("KbdInteractiveAuthentication", {"no"});
  // The same pre-auth limits for both servers (the built-in one reads them from here too).
  add("LoginGraceTime", {"30"});
  add("MaxAuthTries", {"6"});
  add("MaxStartups", {"10:30:60"});
  add("AcceptEnv", {"LANG", "LC_*"});
  add("Subsystem", {"sftp", "internal-sftp"});
  add("PrintMotd", {"no"});
  if (!c.setenv.empty()) add("SetEnv", c.setenv);
  if (failed) return *failed;
  return out;
}

}  // namespace wsinit::sshd_setup
