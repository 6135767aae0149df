// config/: the YAML schema of DESIGN.md loaded into typed structs, with ${VAR} expansion,
// durations, sizes, profile defaults, and errors that name file:line:column.
// Uses common/ (its environment type is config::Environment) and, inside, yaml-cpp.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/environment.h"
#include "common/result.h"

namespace wsinit::config {

using Duration = std::chrono::milliseconds;
using Environment = wsinit::Environment;  // common/environment.h

enum class Profile { gitlab, plain };
enum class Switch { off, on, automatic };  // `auto` in YAML
enum class Restart { always, on_failure, never };
enum class LogFormat { text, json };

struct Readiness {
  enum class Kind { none, tcp, http, exec };
  Kind kind = Kind::none;
  int tcp_port = 0;
  std::string tcp_expect;              // the answer must start with this (sshd: "SSH-2.0-")
  std::string http_url;
  int http_ready_below = 400;  // an answer with a lower status means ready
  std::vector<std::string> exec;
  Duration timeout = std::chrono::seconds(60);
  Duration interval = std::chrono::milliseconds(250);
  bool operator==(const Readiness&) const = default;
};

// The user's processes (configured services, devfile postStart steps, tini mode's CMD) are the
// OOM killer's first choice, ahead of wsinit's own sshd and editor, the user's way in: unless a
// service names its own value, it runs this far above wsinit's (at most 1000), so the order holds
// also where Kubernetes starts the container high (a Burstable pod: 2 to 999).
inline constexpr int kUserOomScoreAdj = 500;
inline constexpr int kMinOomScoreAdj = -1000;
inline constexpr int kMaxOomScoreAdj = 1000;

struct Service {
  std::string name;
  bool enabled = true;
  std::vector<std::string> command;  // `shell: X` becomes [/bin/sh, -c, X]
  std::string cwd;
  Environment env;
  Restart restart = Restart::on_failure;
  Duration backoff_initial = std::chrono::seconds(1);
  Duration backoff_max = std::chrono::seconds(30);
  Readiness ready;
  std::vector<std::string> after;
  bool oneshot = false;
  bool required = false;
  int stop_signal = 15;
  Duration stop_timeout = std::chrono::seconds(10);
  // How long it may take: a oneshot's whole run, another service's time to ready. Past it the
  // service is stopped (stop_signal, SIGKILL after stop_timeout) and counts as failed, last_exit
  // "timeout". nullopt: no limit.
  std::optional<Duration> timeout;
  // A oneshot run once per workspace: skipped while <data>/once/ holds the marker of this
  // command, cwd and env (written after a run that exited 0).
  bool once = false;
  // Written to the process's /proc/self/oom_score_adj before exec (only ever raised above what
  // it inherits from wsinit): the kernel's OOM killer takes the highest first. nullopt: nothing
  // written (wsinit's own sshd and editor keep wsinit's value).
  std::optional<int> oom_score_adj = kUserOomScoreAdj;
  bool oom_score_adj_given = false;  // false: oom_score_adj is relative, above wsinit's own
  // What it asks for when wsinit's own is `inherited` (nullopt: unknown, taken as 0).
  std::optional<int> wanted_oom_score_adj(std::optional<int> inherited) const {
    if (!oom_score_adj || oom_score_adj_given) return oom_score_adj;
    return std::min(kMaxOomScoreAdj, inherited.value_or(0) + *oom_score_adj);
  }
  std::string origin;  // "file:line:column" of its definition, for messages
  bool operator==(const Service&) const = default;
};

// Names wsinit gives its own services; `after` may name them, user services may not take them.
inline constexpr const char* kBuiltinServices[] = {"sshd", "sshd-config", "editor"};
// The name tini mode's CMD runs under (`wsinit -- CMD`); no configured service may take it.
inline constexpr const char* kMainService = "main";
// The prefix of the services made from a devfile's postStart commands (also reserved).
inline constexpr std::string_view kPostStartPrefix = "poststart-";
// `after` may also name a condition: GitLab's reconciled state file saying Running, or the
// project cloned (GitLab's marker file there, or no GitLab cloner at all).
inline constexpr const char* kWorkspaceRunning = "workspace-running";
inline constexpr const char* kProjectCloned = "project-cloned";
inline bool is_condition(std::string_view name) { return name == kWorkspaceRunning || name == kProjectCloned; }

// [a-z0-9][a-z0-9_-]{0,62}
inline bool valid_service_name(std::string_view name) {
  auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (name.empty() || name.size() > 63 || !lower_or_digit(name[0])) return false;
  for (char c : name) {
    if (!lower_or_digit(c) && c != '_' && c != '-') return false;
  }
  return true;
}

struct Config {
  Profile profile = Profile::plain;
  std::string source;  // the file it came from, or "(embedded default)"
  struct User {
    std::string name = "gitlab-workspaces";
    std::string home = "/home/gitlab-workspaces";
    std::string shell = "/bin/bash";
    // Entries of HOME kept under <paths.data>/home, HOME holding a symlink to each; relative,
    // a trailing '/' for a directory (DESIGN.md, "Persistent home"). Plain profile: none.
    std::vector<std::string> persist;
    // Run the user's shell as a login shell once at start (and at each SIGHUP) and hand what its
    // profile exports (PATH from mise, asdf, nvm...) to services and SSH sessions.
    bool login_env = false;  // the gitlab profile: true
    Duration login_env_timeout = std::chrono::seconds(10);
  } user;
  struct Paths {
    std::string data;  // <PROJECTS_ROOT>/.wsinit
    std::string logs;
    std::string variables = "/.workspace-data/variables/file";
    std::string runtime;
    std::string scripts;  // GitLab's postStart scripts: where its cloner and runner are
  } paths;
  struct Sshd {
    Switch enabled = Switch::off;
    // openssh: the image's sshd; builtin: wsinit's own (`wsinit ssh-server`); auto: OpenSSH when found, else builtin.
    enum class Server { automatic, openssh, builtin } server = Server::automatic;
    std::string binary = "auto";
    std::vector<std::string> listen;
    std::vector<std::string> host_key_types = {"ed25519", "ecdsa"};
    bool password_less = true;
    std::vector<std::string> allow_from;
    std::vector<std::string> authorized_keys;
  } sshd;
  struct Editor {
    Switch enabled = Switch::off;
    std::string kind = "gitlab";
    std::vector<std::string> command;
    int port = 60001;
  } editor;
  struct Workspace {
    std::string devfile;
    // Who runs the devfile's postStart commands: wsinit (run), GitLab's own runner while wsinit
    // follows its log (observe), or auto: observe when GitLab's runner is in paths.scripts.
    enum class PostStart { automatic, run, observe } poststart = PostStart::automatic;
    Duration poststart_slow_after = std::chrono::minutes(10);  // a step running longer is flagged
  } workspace;
  std::vector<Service> services;
  struct Health {
    std::string listen;
    std::string report_url;
    Duration report_interval = std::chrono::seconds(15);
    std::string report_secret_file;
    std::string report_ca_file;
  } health;
  struct Log {
    LogFormat format = LogFormat::text;
    std::string level;  // empty: info, or warn in tini mode (as quiet as tini by default)
    std::uint64_t max_size = 10ull << 20;
    int max_files = 3;
  } log;
  struct Shutdown {
    Duration grace = std::chrono::seconds(25);
  } shutdown;
  // Whether anyone uses the workspace: connections to wsinit's own sshd and editor, and to these.
  struct Activity {
    std::vector<int> ports;               // more ports a person works through (at most kMaxActivityPorts)
    std::optional<Duration> idle_after;  // the workspace is `idle` past this long without activity; none: never
  } activity;
};
inline constexpr size_t kMaxActivityPorts = 32;
inline constexpr Duration kMinLoginEnvTimeout = std::chrono::seconds(1);
inline constexpr Duration kMaxLoginEnvTimeout = std::chrono::minutes(5);

// Either a config or every error found, each "file:line:column: what (expected ...)".
struct LoadResult {
  std::optional<Config> config;
  std::vector<std::string> errors;
};

// The embedded defaults of a profile, with ${VAR} already expanded from env. Environment
// values that cannot be used (a GL_VSCODE_PORT that is no port) are added to `errors`.
Config profile_defaults(Profile profile, const Environment& env, std::vector<std::string>* errors = nullptr);

// Parses YAML text; `source` names it in error messages. `fallback` is the profile used when
// the text has no `profile:` key.
LoadResult load_text(std::string_view text, const std::string& source, const Environment& env,
                     Profile fallback);
LoadResult load_file(const std::string& path, const Environment& env, Profile fallback);

// Which file to read: the --config value, else $WSINIT_CONFIG, else /etc/wsinit/wsinit.yaml
// when it exists; nullopt means "no file, use the embedded default".
std::optional<std::string> choose_file(const std::optional<std::string>& flag,
                                       const Environment& env);

// Checks what the schema cannot: names, duplicates, unknown or cyclic `after`.
std::vector<std::string> validate(const Config& config);

// Services sorted so each comes after everything in its `after` (stable for ties).
std::vector<const Service*> start_order(const Config& config);
// The same for any list of services: the indexes of `services` in start order.
std::vector<size_t> start_order(const std::vector<const Service*>& services);

// "${A}" and "${A:-default}" (defaults may nest); "$${" is a literal "${". Malformed input
// is an error.
Result<std::string> expand(std::string_view text, const Environment& env);

std::optional<int> parse_port(std::string_view text);             // 1 to 65535, digits only
std::optional<Duration> parse_duration(std::string_view text);  // 250ms 10s 2m 1h 1m30s 0
std::optional<std::uint64_t> parse_size(std::string_view text);  // 512 10KiB 10MiB 1GiB 10M
std::optional<int> parse_signal(std::string_view text);         // TERM SIGTERM 15
std::optional<int> parse_oom_score_adj(std::string_view text);  // -1000 to 1000, an optional sign and digits
std::string signal_name(int signal);                             // 15 -> "TERM"
std::string format_duration(Duration d);                         // 1500ms -> "1.5s"

// A listen address, the one form sshd.listen and health.listen take: "IPv4:PORT" or
// "[IPv6]:PORT", the host a numeric IP literal (never a name), the port digits only, 1 to 65535.
struct ListenAddress {
  std::string host;  // without brackets
  int port = 0;
  bool ipv6 = false;
  std::string text() const;  // "0.0.0.0:60022" or "[::]:60022"
};
std::optional<ListenAddress> parse_listen(std::string_view text);

// Checks of values that end up in a file format (/etc/passwd, sshd_config, authorized_keys);
// config/ refuses them with file:line:column. Each fails saying what is wrong.
Status check_user_name(std::string_view name);  // [a-z_][a-z0-9_-]{0,31}
// An absolute path on one line (no newline, CR or NUL), at most 4096 bytes; with `in_passwd`
// (it may become a passwd field: user.home, user.shell, paths.data) no ':' either.
Status check_path(std::string_view path, bool in_passwd);
// A user.persist entry: relative to HOME, no empty, '.' or '..' segment, no NUL, CR or newline,
// each segment at most 255 bytes, the whole at most kMaxPersistBytes; a trailing '/' for a directory.
inline constexpr size_t kMaxPersistEntries = 64;
inline constexpr size_t kMaxPersistBytes = 1024;
Status check_persist_path(std::string_view path);
// The entries the gitlab profile persists when the config names none.
std::vector<std::string> default_persist();
Status check_cidr(std::string_view text);      // a.b.c.d/n, v6/n, or an address
Status check_key_line(std::string_view text);  // one authorized_keys line

using wsinit::environment_of;  // common/environment.h

// Where GitLab mounts the projects volume: $PROJECTS_ROOT, else /projects (the one place that
// default is written). GitLab plans to rename the mount; every path under it derives from this.
std::string projects_root(const Environment& env);
// The project GitLab clones: $PROJECT_SOURCE, else projects_root().
std::string project_source(const Environment& env);

}  // namespace wsinit::config
