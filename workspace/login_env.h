// The login environment (user.login_env): what the user's login shell sets up (PATH from mise,
// asdf, nvm; whatever the profile exports), read once by running `SHELL -l -c` and merged into
// the environment services, postStart steps and SSH sessions start from. This is the pure core:
// the dump the probe prints, how it is read back, and the merge. init/ runs the probe.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wsinit::workspace {

// The hidden subcommand the login shell execs (`wsinit <kLoginEnvCommand>`): it prints the
// start marker, every variable of its environment NUL-terminated, then the end marker.
inline constexpr std::string_view kLoginEnvCommand = "__login-env-dump";
inline constexpr std::string_view kLoginEnvStart = "\x01wsinit-login-env-start\x01";
inline constexpr std::string_view kLoginEnvEnd = "\x01wsinit-login-env-end\x01";
inline constexpr std::size_t kMaxLoginEnvOutput = 1 << 20;  // bytes of the probe's stdout; more: failed
inline constexpr std::size_t kMaxLoginEnvVariables = 4096;  // in the dump; more: failed
inline constexpr std::size_t kMaxLoginEnvChanges = 512;     // names added or changed; the rest left out

// The dump: start marker, "NAME=value\0" each, end marker.
std::string login_env_dump(char** environ);

// argv of the probe: SHELL -l -c 'exec "$0" __login-env-dump' SELF.
std::vector<std::string> login_env_argv(const std::string& shell, const std::string& self);

// Whether the shell can be a login shell: not empty, and not nologin or false (by base name).
bool login_shell_usable(const std::string& shell);

// Reads the probe's stdout: what follows the last start marker (a profile that prints to stdout,
// even the markers, comes before it) up to the end marker, which must close the output. Each
// entry is NAME=value; an entry without '=' is skipped. nullopt and `why` when there is no
// complete dump or it has more than kMaxLoginEnvVariables entries.
using LoginVariables = std::vector<std::pair<std::string, std::string>>;
std::optional<LoginVariables> parse_login_env_dump(std::string_view output, std::string* why);

// Names the login environment never sets: HOME USER LOGNAME SHELL PWD OLDPWD SHLVL _ and WSINIT_*;
// XDG_RUNTIME_DIR, LD_PRELOAD and NSS_WRAPPER_* (wsinit's own); per-terminal or per-session ones
// (SSH_AUTH_SOCK SSH_AGENT_PID SSH_CONNECTION SSH_CLIENT SSH_TTY GPG_TTY TERM COLORTERM
// TERM_PROGRAM DISPLAY WAYLAND_DISPLAY WINDOWID TMUX TMUX_PANE STY XDG_SESSION_ID SHELLOPTS
// BASHOPTS); and names that are not [A-Za-z_][A-Za-z0-9_]*.
bool login_env_name_taken(std::string_view name);

struct LoginEnvMerge {
  std::vector<std::string> overrides;  // NAME=value for each name added or changed, in the dump's order
  std::vector<std::string> added;      // names `base` does not have
  std::vector<std::string> changed;    // names `base` has with another value
  std::size_t left_out = 0;            // added or changed past kMaxLoginEnvChanges
};
// The login shell's PATH with the entries of the image's PATH it dropped put back, each after
// the entry that preceded it in the image's (as devcontainers do). Empty entries (the current
// directory) are dropped.
std::string merge_paths(std::string_view login, std::string_view base);

// What the login shell added to or changed in `base` ("NAME=value", what the probe started
// with). Variables the profile removed stay; taken names are ignored; PATH is merge_paths().
LoginEnvMerge merge_login_env(const std::vector<std::string>& base, const LoginVariables& dump);

// `base` with `overrides` applied: a name already there gets the new value in its place, a new
// one is appended.
std::vector<std::string> with_overrides(std::vector<std::string> base, const std::vector<std::string>& overrides);

}  // namespace wsinit::workspace
