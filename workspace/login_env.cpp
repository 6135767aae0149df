// The login environment's pure core (login_env.h): the dump, its reader and the merge.
#include "workspace/login_env.h"

#include <algorithm>
#include <map>

namespace wsinit::workspace {
namespace {

std::string_view name_of(std::string_view entry) { return entry.substr(0, entry.find('=')); }

bool valid_name(std::string_view name) {
  auto letter = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  if (name.empty() || !letter(name[0])) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) { return letter(c) || (c >= '0' && c <= '9'); });
}

}  // namespace

// As devcontainers merge a probed PATH: the login shell's, with each entry of the image's PATH it
// dropped put back after the entry that preceded it there (Debian's /etc/profile sets PATH anew).
std::string merge_paths(std::string_view login, std::string_view base) {
  auto split = [](std::string_view text) {
    std::vector<std::string> out;
    size_t start = 0;
    for (size_t colon; (colon = text.find(':', start)) != std::string_view::npos; start = colon + 1)
      out.emplace_back(text.substr(start, colon - start));
    out.emplace_back(text.substr(start));
    std::erase(out, std::string());  // an empty entry means the current directory: never kept
    return out;
  };
  std::vector<std::string> result = split(login);
  size_t insert_at = 0;
  for (const auto& entry : split(base)) {
    auto it = std::find(result.begin(), result.end(), entry);
    if (it == result.end()) result.insert(result.begin() + static_cast<long>(insert_at++), entry);
    else insert_at = static_cast<size_t>(it - result.begin()) + 1;
  }
  std::string out;
  for (size_t i = 0; i < result.size(); ++i) out += (i ? ":" : "") + result[i];
  return out;
}

std::string login_env_dump(char** environ) {
  std::string out(kLoginEnvStart);
  for (char** e = environ; e && *e; ++e) {
    out += *e;
    out += '\0';
  }
  out += kLoginEnvEnd;
  return out;
}

std::vector<std::string> login_env_argv(const std::string& shell, const std::string& self) {
  return {shell, "-l", "-c", "exec \"$0\" " + std::string(kLoginEnvCommand), self};
}

bool login_shell_usable(const std::string& shell) {
  if (shell.empty()) return false;
  std::string_view base = shell;
  if (auto slash = base.rfind('/'); slash != std::string_view::npos) base.remove_prefix(slash + 1);
  return base != "nologin" && base != "false" && !base.empty();
}

std::optional<LoginVariables> parse_login_env_dump(std::string_view output, std::string* why) {
  size_t start = output.rfind(kLoginEnvStart);
  if (start == std::string_view::npos) {
    *why = "the login shell printed no environment (it exited before running wsinit, or could not run it)";
    return std::nullopt;
  }
  std::string_view rest = output.substr(start + kLoginEnvStart.size());
  if (!rest.ends_with(kLoginEnvEnd)) {
    *why = "the login shell's environment was cut short";
    return std::nullopt;
  }
  rest.remove_suffix(kLoginEnvEnd.size());
  LoginVariables vars;
  while (!rest.empty()) {
    size_t end = rest.find('\0');
    if (end == std::string_view::npos) {
      *why = "the login shell's environment was cut short";
      return std::nullopt;
    }
    std::string_view entry = rest.substr(0, end);
    rest.remove_prefix(end + 1);
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    if (vars.size() == kMaxLoginEnvVariables) {
      *why = "the login shell's environment has more than " + std::to_string(kMaxLoginEnvVariables) + " variables";
      return std::nullopt;
    }
    vars.emplace_back(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return vars;
}

bool login_env_name_taken(std::string_view name) {
  // The user's own (wsinit sets them); the control socket's directory and nss_wrapper's hooks (a
  // profile's LD_PRELOAD would drop wsinit's); and what belongs to one terminal or session.
  static constexpr std::string_view kTaken[] = {
      "HOME", "USER", "LOGNAME", "SHELL", "PWD", "OLDPWD", "SHLVL", "_",
      "XDG_RUNTIME_DIR", "LD_PRELOAD",
      "SSH_AUTH_SOCK", "SSH_AGENT_PID", "SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY", "GPG_TTY",
      "TERM", "COLORTERM", "TERM_PROGRAM", "DISPLAY", "WAYLAND_DISPLAY", "WINDOWID",
      "TMUX", "TMUX_PANE", "STY", "XDG_SESSION_ID", "SHELLOPTS", "BASHOPTS"};
  if (!valid_name(name) || name.starts_with("WSINIT_") || name.starts_with("NSS_WRAPPER_")) return true;
  return std::find(std::begin(kTaken), std::end(kTaken), name) != std::end(kTaken);
}

LoginEnvMerge merge_login_env(const std::vector<std::string>& base, const LoginVariables& dump) {
  std::map<std::string_view, std::string_view> before;
  for (const auto& entry : base) {
    std::string_view name = name_of(entry);
    if (name.size() < entry.size()) before.emplace(name, std::string_view(entry).substr(name.size() + 1));
  }
  LoginEnvMerge m;
  std::map<std::string_view, bool> seen;  // the first of a name in the dump counts, as getenv reads it
  for (const auto& [name, value] : dump) {
    if (login_env_name_taken(name) || !seen.emplace(name, true).second) continue;
    auto it = before.find(name);
    std::string merged_value = name == "PATH" && it != before.end() ? merge_paths(value, it->second) : value;
    if (it != before.end() && it->second == merged_value) continue;
    if (m.overrides.size() == kMaxLoginEnvChanges) {
      ++m.left_out;
      continue;
    }
    (it == before.end() ? m.added : m.changed).push_back(name);
    m.overrides.push_back(name + "=" + merged_value);
  }
  return m;
}

std::vector<std::string> with_overrides(std::vector<std::string> base, const std::vector<std::string>& overrides) {
  for (const auto& o : overrides) {
    std::string_view name = name_of(o);
    auto it = std::find_if(base.begin(), base.end(), [&](const std::string& e) { return name_of(e) == name; });
    if (it != base.end()) *it = o;
    else base.push_back(o);
  }
  return base;
}

}  // namespace wsinit::workspace
